"""What a delivered batch must be, and the checks the harness runs on batches outside the clock.

The delivery point (:class:`DeliveryPoint`) is where a batch's clock stops: with
``delivery = "device"`` every leaf must be a ``jax.Array`` on the cell's device (or sharded over
its mesh), waited on until ready; with ``"host"`` every leaf is converted to a host NumPy array
inside the clock, whatever the loader yields (a ``jax.Array`` is copied to the host). Checking
a batch against the scenario is the harness's work and never timed: the first batch, a sample
of timed batches (:class:`TimedSamples`, one per window at a position drawn from a seeded RNG),
and a sampling pass over a fresh iterator's first batches (:func:`sampling_pass`).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np

from scenarios.base import NonConformant  # noqa: F401 - a scenario check raises it; the harness catches it here

Check = Callable[[Mapping[str, np.ndarray]], "str | None"]


@dataclasses.dataclass(frozen=True)
class DeliveryPoint:
    """Host NumPy arrays (``devices`` None), or ``jax.Array``s on exactly ``devices``."""

    devices: frozenset | None = None
    label: str = "host"  # what the record's ``device`` says

    @classmethod
    def on(cls, sharding) -> "DeliveryPoint":
        """Device delivery with ``sharding``'s devices (one, or a mesh's)."""
        devices = frozenset(sharding.device_set)
        return cls(devices, _names(devices))

    @property
    def mode(self) -> str:
        return "host" if self.devices is None else "device"

    def wait(self, batch: Any) -> Mapping[str, Any]:
        """The timed end of a ``next()``: device values waited on until ready, or (host mode)
        every leaf converted to a NumPy array. Returns the batch as delivered."""
        if not isinstance(batch, Mapping):
            raise NonConformant(f"a batch is a {type(batch).__name__}, expected a dict of arrays")
        if self.devices is None:
            return {name: np.asarray(leaf) for name, leaf in batch.items()}
        for leaf in batch.values():
            ready = getattr(leaf, "block_until_ready", None)
            if ready is not None:
                ready()
        return batch

    def problem(self, batch: Mapping[str, Any]) -> str | None:
        """Untimed: the first field that is not where this delivery point needs it, or None."""
        if self.devices is None:
            return None
        import jax

        for name, leaf in batch.items():
            if not isinstance(leaf, jax.Array):
                kind = f"{type(leaf).__module__}.{type(leaf).__qualname__}"
                return f'field {name!r} is a {kind}, not a jax.Array: delivery = "device" needs it on {self.label}'
            devices = leaf.sharding.device_set
            if devices != self.devices:
                return f'field {name!r} is a jax.Array on {_names(devices)}: delivery = "device" needs it on {self.label}'
        return None


HOST = DeliveryPoint()


def _names(devices) -> str:
    return ", ".join(str(d) for d in sorted(devices, key=lambda d: d.id))


def host_copy(batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A host copy of every leaf, safe to keep whatever the loader does with its buffers."""
    return {name: np.array(leaf, copy=True) for name, leaf in batch.items()}


def signature(batch: Mapping[str, Any]) -> tuple:
    """Field names, shapes and dtypes: every timed batch must match the checked first one.

    Read on every timed batch, so kept cheap: dtype objects compare directly (``str(dtype)``
    alone costs ~8 µs, a tenth of a fast loader's whole batch).
    """
    return tuple((name, tuple(batch[name].shape), batch[name].dtype) for name in sorted(batch))


def same_layout(a: tuple, b: tuple) -> bool:
    """Signatures that differ at most in non-leading sizes (a variable-width field, e.g. NLP-2's
    bucketed token width): such a batch is conformant only if it passes the full check too."""
    return len(a) == len(b) and all(
        (na, len(sa), sa[:1], da) == (nb, len(sb), sb[:1], db) for (na, sa, da), (nb, sb, db) in zip(a, b)
    )


class TimedSamples:
    """Host copies of sampled timed batches, checked after the windows.

    Each copy is written to a temporary file as it is taken (the page cache holds it, not this
    process's RSS, which the runner reports: ten CV-1 large batches would add 1.5 GB), and read
    back one at a time to be checked. ``seconds`` adds up the copying and checking.
    """

    def __init__(self, seed: int):
        self._rng = np.random.default_rng([seed, 0x73616D70])
        self._dir = tempfile.TemporaryDirectory(prefix="datarax-bench-samples-")
        self._taken: list[tuple[str, dict[str, tuple[Path, np.dtype, tuple]]]] = []
        self.seconds = 0.0

    def position(self, batches: int) -> int:
        """Where in the next window (0-based, among its first ``batches``) the sample is taken."""
        return int(self._rng.integers(batches))

    def keep(self, batch: Mapping[str, Any], where: str) -> None:
        start = time.perf_counter()
        files = {}
        for i, (name, leaf) in enumerate(batch.items()):
            array = np.asarray(leaf)
            path = Path(self._dir.name) / f"{len(self._taken)}-{i}"
            np.ascontiguousarray(array).tofile(path)
            files[name] = (path, array.dtype, array.shape)
        self._taken.append((where, files))
        self.seconds += time.perf_counter() - start

    def check(self, check: Check) -> None:
        """Raises :class:`NonConformant` naming the first sampled batch ``check`` rejects."""
        start = time.perf_counter()
        try:
            for where, files in self._taken:
                batch = {name: np.fromfile(path, dtype).reshape(shape) for name, (path, dtype, shape) in files.items()}
                problem = check(batch)
                if problem:
                    raise NonConformant(f"{where} (sampled, checked after the windows): {problem}")
        finally:
            self.seconds += time.perf_counter() - start
            self.close()

    def close(self) -> None:
        self._dir.cleanup()


def sampling_pass(
    open_iterator: Callable[[], Iterator[Mapping[str, Any]]],
    count: int,
    check_sampling: Callable[[Iterable[Mapping[str, np.ndarray]]], "str | None"],
    delivery: DeliveryPoint = HOST,
) -> float:
    """Feeds ``check_sampling`` host copies of a fresh iterator's first ``count`` batches, one at
    a time as it asks for them; raises :class:`NonConformant` on a problem. Returns its seconds."""
    start = time.perf_counter()
    iterator = open_iterator()

    def host_batches() -> Iterator[dict[str, np.ndarray]]:
        for number in range(1, count + 1):
            try:
                batch = delivery.wait(next(iterator))
            except StopIteration:
                raise NonConformant(f"the sampling pass's iterator ended after {number - 1} of {count} batches") from None
            problem = delivery.problem(batch)
            if problem:
                raise NonConformant(f"sampling pass, batch {number}: {problem}")
            yield host_copy(batch)

    try:
        problem = check_sampling(host_batches())
    finally:
        close = getattr(iterator, "close", None)
        if callable(close):
            close()
    if problem:
        raise NonConformant(f"sampling check over the first {count} batches of a fresh iterator: {problem}")
    return time.perf_counter() - start
