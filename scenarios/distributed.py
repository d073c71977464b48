"""Multi-device scenarios (DIST-*): batches as global arrays sharded over forced CPU devices.

Each variant asks for ``--xla_force_host_platform_device_count`` in its cell's environment
(``child_env``), so the cell's JAX sees that many CPU devices; they share this machine's cores.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time

import numpy as np

from scenarios.base import FieldSpec, NonConformant, Scenario, Transform, Variant
from scenarios.checks import first_mismatch, stored_rows
from scenarios.reference import apply_transforms

_TIMED_BATCHES, _WARMUP = 20, 3
_FORCE = "--xla_force_host_platform_device_count"


def _force_devices(count: int) -> dict[str, str]:
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(_FORCE)]
    return {"XLA_FLAGS": " ".join([*flags, f"{_FORCE}={count}"])}


def _sharding_of(batch, field: str):
    """The yielded array's sharding, or raises NonConformant: it must be a global jax.Array."""
    sharding = getattr(batch[field], "sharding", None)
    if sharding is None or not hasattr(batch[field], "addressable_shards"):
        raise NonConformant(f"field {field!r} is a {type(batch[field]).__name__}, not a global jax.Array")
    return sharding


def _throughput(adapter, job) -> tuple[float, object]:
    """Elements/s over ``_TIMED_BATCHES`` batches (after ``_WARMUP``) and the first batch."""
    iterator = adapter.open(job)
    try:
        first = next(iterator)
        for _ in itertools.islice(iterator, _WARMUP):
            pass
        started = time.perf_counter()
        for batch in itertools.islice(iterator, _TIMED_BATCHES):
            for leaf in batch.values():
                leaf.block_until_ready()
        return _TIMED_BATCHES * job.variant.batch_size / (time.perf_counter() - started), first
    finally:
        close = getattr(iterator, "close", None)
        if close:
            close()


class _Sharded(Scenario):
    """Float32 rows → x·2 − 1, each batch a global array sharded over a device mesh."""

    category = "distributed"
    capabilities = frozenset({"exact_reference", "device_sharding", "outcomes"})

    def input_fields(self, variant):
        return (FieldSpec("x", (variant.param("width"),), "float32"), FieldSpec("index", (), "int32"))

    def output_fields(self, variant):
        return self.input_fields(variant)

    def transforms(self, variant):
        return (Transform.of("multiply", field="x", factor=2.0), Transform.of("add", field="x", value=-1.0))

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 71])
        n = variant.num_records
        return {"x": rng.standard_normal((n, variant.param("width")), dtype=np.float32),
                "index": np.arange(n, dtype=np.int32)}

    def child_env(self, variant):
        return _force_devices(int(np.prod(variant.param("mesh"))))

    def check_rows(self, variant, batch, inputs):
        rows, problem = stored_rows(batch, inputs)
        if problem:
            return problem
        want = apply_transforms({"x": np.asarray(inputs["x"][rows])}, self.transforms(variant), None)["x"]
        return first_mismatch("x", batch["x"], want, atol=1e-6)

    def expected(self, variant) -> tuple[dict[str, int], tuple]:
        """The mesh ``{axis: size}`` and the batch axis's partition (mesh axes it is split over)."""
        axes = variant.param("axes")
        return dict(zip(axes, variant.param("mesh"))), tuple(variant.param("batch_axes"))

    def sharding_outcomes(self, variant, batch) -> dict:
        """Checks the batch's sharding against ``expected``; raises NonConformant if it differs.
        Outcome values are scalars: shapes read ``32x256``, the mesh ``data=4,model=2``."""
        from jax.sharding import NamedSharding, PartitionSpec

        mesh, split = self.expected(variant)
        sharding = _sharding_of(batch, "x")
        got_mesh = dict(sharding.mesh.shape) if isinstance(sharding, NamedSharding) else None
        shard = tuple(batch["x"].addressable_shards[0].data.shape)
        ways = int(np.prod([mesh[a] for a in split]))
        want_shard = (variant.batch_size // ways, variant.param("width"))
        equivalent = got_mesh == mesh and sharding.is_equivalent_to(NamedSharding(sharding.mesh, PartitionSpec(split)), 2)
        if not equivalent or shard != want_shard:
            raise NonConformant(
                f"field 'x': sharding {sharding} with per-device shard {shard}; expected mesh {mesh} "
                f"with the batch axis split over {split} (shard {want_shard})"
            )
        return {"devices": len(sharding.device_set), "mesh": ",".join(f"{a}={n}" for a, n in mesh.items()),
                "batch_split_over": ",".join(split), "per_device_shard_shape": "x".join(map(str, shard)),
                "partition_spec": str(sharding.spec)}


def _dp(name, records, batch, width, devices):
    return Variant(name, records, batch, (("width", width), ("mesh", (devices,)), ("axes", ("data",)),
                                          ("batch_axes", ("data",)), ("size", name.split("-")[0])))


class DataParallel(_Sharded):
    """DIST-1: each batch sharded over 1, 2, 4 or 8 forced CPU devices along its batch axis.

    Outcomes: device count, per-device shard shape, and, measured in the same cell, the
    throughput on all the variant's devices and on one device (the ``<size>-1dev`` variant's
    mesh), their ratio and the scaling efficiency (ratio / devices). The devices are forced
    host devices sharing the machine's cores, so this measures sharding overhead, not speed-up.
    """

    id = "DIST-1"
    name = "multi-device data parallel"
    variants = {
        "small": _dp("small", 16384, 256, 256, 8),
        "small-1dev": _dp("small-1dev", 16384, 256, 256, 1),
        "small-2dev": _dp("small-2dev", 16384, 256, 256, 2),
        "small-4dev": _dp("small-4dev", 16384, 256, 256, 4),
        "medium": _dp("medium", 131072, 1024, 1024, 8),
        "medium-1dev": _dp("medium-1dev", 131072, 1024, 1024, 1),
        "large": _dp("large", 524288, 2048, 1024, 8),
        "large-1dev": _dp("large-1dev", 524288, 2048, 1024, 1),
    }

    def outcomes(self, adapter, job):
        rate, first = _throughput(adapter, job)
        out = {**self.sharding_outcomes(job.variant, first), "elements_per_s": rate,
               "per_device_elements_per_s": rate / int(np.prod(job.variant.param("mesh")))}
        one = f"{job.variant.param('size')}-1dev"
        if one != job.variant_name:
            base, _ = _throughput(adapter, dataclasses.replace(job, variant_name=one))
            out.update(one_device_elements_per_s=base, speedup_vs_one_device=rate / base,
                       scaling_efficiency=rate / base / out["devices"])
        return out


def _mesh(name, records, batch, width, mesh, split):
    return Variant(name, records, batch, (("width", width), ("mesh", mesh), ("axes", ("data", "model")),
                                          ("batch_axes", split)))


class DeviceMesh(_Sharded):
    """DIST-2: a 2-D ``data × model`` mesh of forced CPU devices; the batch axis is split over
    ``data`` and replicated over ``model`` (``small-flat``: split over both). Conformance runs
    in the outcomes: the yielded array must carry exactly that sharding."""

    id = "DIST-2"
    name = "device mesh"
    variants = {
        "small": _mesh("small", 16384, 256, 256, (4, 2), ("data",)),
        "small-flat": _mesh("small-flat", 16384, 256, 256, (4, 2), ("data", "model")),
        "medium": _mesh("medium", 131072, 1024, 1024, (4, 2), ("data",)),
        "large": _mesh("large", 524288, 2048, 1024, (2, 4), ("data",)),
    }

    def outcomes(self, adapter, job):
        rate, first = _throughput(adapter, job)
        return {**self.sharding_outcomes(job.variant, first), "elements_per_s": rate}
