"""Sharding batches over a device mesh and the index space over processes."""

from datarax.distributed.sharding import batch_sharding, process_shard, to_global

__all__ = ["batch_sharding", "process_shard", "to_global"]
