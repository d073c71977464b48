"""Showing a run as it goes: a rich progress bar on a terminal, plain lines anywhere else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from bench.runner import Cell


def outcome_text(record: dict[str, Any]) -> str:
    m = record.get("metrics") or {}
    if record["status"] == "ok":
        detail = f"{m['elements_per_s']:,.0f} elements/s, p50 {m['latency_p50_s'] * 1e3:.2f} ms"
    else:
        detail = str(record.get("reason") or "")
    return f"{record['status']:<14} {detail}  ({record['wall_s']:.1f} s)"


class PlainProgress:
    """One line per finished cell, numbered over the whole matrix (logs, CI, pipes)."""

    def __init__(self, console: Console):
        self.console = console
        self.total = self.done = 0
        self.run_dir: Path | None = None

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def start(self, run_dir: Path, total: int, done: int) -> None:
        self.total, self.done, self.run_dir = total, done, run_dir
        resumed = f", {done} already finished" if done else ""
        cells = f"{total} cell" + ("" if total == 1 else "s")
        self.console.print(f"run [bold]{run_dir.name}[/bold]: {cells}{resumed} → {run_dir / 'results.jsonl'}")

    def status(self, text: str) -> None:
        self.console.print(f"  {text} …")

    def cell_started(self, cell: Cell) -> None:
        pass

    def cell_done(self, cell: Cell, record: dict[str, Any]) -> None:
        self.done += 1
        self.console.print(f"[{self.done}/{self.total}] {cell.cell_id:<36} {outcome_text(record)}", highlight=False)


class BarProgress(PlainProgress):
    """A bar over the matrix showing the current cell, its elapsed time and the run's ETA."""

    def __init__(self, console: Console):
        super().__init__(console)
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task = None

    def __enter__(self) -> "BarProgress":
        self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.stop()

    def start(self, run_dir: Path, total: int, done: int) -> None:
        super().start(run_dir, total, done)
        self._task = self._bar.add_task("starting", total=total, completed=done)

    def status(self, text: str) -> None:
        self._bar.update(self._task, description=text)

    def cell_started(self, cell: Cell) -> None:
        self._bar.update(self._task, description=cell.cell_id)

    def cell_done(self, cell: Cell, record: dict[str, Any]) -> None:
        self.done += 1
        self._bar.console.print(f"[{self.done}/{self.total}] {cell.cell_id:<36} {outcome_text(record)}", highlight=False)
        self._bar.advance(self._task)


def progress_for(console: Console) -> PlainProgress:
    return BarProgress(console) if console.is_terminal else PlainProgress(console)
