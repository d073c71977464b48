"""Exporting stored runs elsewhere. Exports read the run folder and never modify its results."""

from bench.export.wandb_run import ExportOutcome, export_wandb, metric_key

__all__ = ["ExportOutcome", "export_wandb", "metric_key"]
