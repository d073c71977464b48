"""Benchmark profiles: TOML files naming the cells to run and how to measure them."""

from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from adapters.base import DELIVERIES
from bench.store import LEGACY_DELIVERY

PROFILE_PACKAGE = "bench.profiles"


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class CellSelection:
    scenario: str
    variants: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class GateConfig:
    """The regression gate's defaults for a profile (the optional ``[gate]`` table).

    A confirmed regression needs a two-sided Mann-Whitney p below ``p_threshold`` *and* time
    per element grown by more than ``min_effect`` (0.10 = 10 %). The exact test's smallest
    p with n repetitions per side is 2 / C(2n, n): 0.0079 at n=5, 0.0022 at n=6, 0.00058 at
    n=7, so p < 0.002 (asv's default) needs at least 7 repetitions on both sides.
    ``mode`` "relative" divides each ``targets`` cell by the ``reference`` adapter's cell of
    the same run; "absolute" compares raw throughput and needs the same machine. A suspected
    regression is re-measured ``confirm_runs`` times (fresh runs of just those cells) and
    fails the gate only if every re-run flags it too: load from other processes shifts a
    whole cell at once, which samples from within one run cannot show.
    """

    mode: str = "relative"
    reference: str = "numpy"
    targets: tuple[str, ...] = ("datarax",)
    p_threshold: float = 0.002
    min_effect: float = 0.10
    confirm_runs: int = 2
    replicates: int = 7  # processes per side in an A/B run and its confirmations


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    description: str
    backend: str
    cpu_budget: int
    warmup_batches: int
    batches: int
    repetitions: int
    timeout_s: float
    seed: int
    adapters: tuple[str, ...]
    cells: tuple[CellSelection, ...]
    gate: GateConfig = GateConfig()
    memory_limit_mb: int | None = None  # a cell whose process tree passes this RSS is killed
    consumer_step_ms: float | None = None  # also run each cell against a simulated training step
    # A timed window runs ``batches`` batches and on until it has lasted this long: a window of
    # a fast loader's 20 batches lasts milliseconds, where one scheduler hiccup moves it 50 %.
    min_window_s: float | None = None
    # Where a batch counts as delivered: "device", jax.Arrays on the backend's first device (or
    # the cell's mesh), ready; "host", NumPy arrays in host memory (every loader converted the
    # same way, datarax included).
    delivery: str = "device"
    # Independent processes per cell, the regression gate's unit of replication: the windows
    # of one process share its layout, JIT and thread placement, so they are not independent.
    replicates: int = 1

    def with_overrides(self, **overrides: Any) -> "Profile":
        kept = {k: v for k, v in overrides.items() if v is not None}
        return _validated(dataclasses.replace(self, **kept), source=f"profile {self.name!r}")

    def to_dict(self) -> dict[str, Any]:
        """The profile as its TOML file holds it, plus ``name``; see :func:`profile_from_dict`."""
        raw = dataclasses.asdict(self)
        raw["adapters"] = list(self.adapters)
        raw["cells"] = [{"scenario": c.scenario, "variants": list(c.variants)} for c in self.cells]
        raw["gate"]["targets"] = list(self.gate.targets)
        for optional in _OPTIONAL:
            if raw[optional] is None:
                del raw[optional]
        return raw


def profile_from_dict(raw: dict[str, Any], source: str) -> Profile:
    """Rebuilds a profile stored with a run (``Profile.to_dict``), validated like a file."""
    raw = dict(raw)
    name = raw.pop("name", None)
    if not isinstance(name, str):
        raise ProfileError(f"{source}: key 'name' must be str, got {name!r}")
    raw.setdefault("delivery", LEGACY_DELIVERY)  # stored before the key existed: timed to host arrays
    return _parse(raw, name, source)



_BACKENDS = ("cpu", "gpu", "tpu")
_SCALARS: dict[str, tuple[type, ...]] = {
    "description": (str,),
    "backend": (str,),
    "cpu_budget": (int,),
    "warmup_batches": (int,),
    "batches": (int,),
    "repetitions": (int,),
    "timeout_s": (int, float),
    "seed": (int,),
}
_OPTIONAL: dict[str, tuple[type, ...]] = {
    "memory_limit_mb": (int,), "consumer_step_ms": (int, float), "min_window_s": (int, float),
}
_DEFAULTED: dict[str, tuple[type, ...]] = {"delivery": (str,), "replicates": (int,)}  # optional, with the dataclass's default


def shipped_profiles() -> list[str]:
    return sorted(
        p.name.removesuffix(".toml")
        for p in resources.files(PROFILE_PACKAGE).iterdir()
        if p.name.endswith(".toml")
    )


def load_profile(name_or_path: str) -> Profile:
    """Loads a shipped profile by name, or a user profile from a ``.toml`` path."""
    path = Path(name_or_path)
    if name_or_path.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise ProfileError(f"profile file {name_or_path!r} does not exist")
        text, source, name = path.read_text(), str(path), path.stem
    else:
        if name_or_path not in shipped_profiles():
            raise ProfileError(
                f"unknown profile {name_or_path!r}; valid: {', '.join(shipped_profiles())} "
                "(or a path to a .toml file)"
            )
        text = resources.files(PROFILE_PACKAGE).joinpath(f"{name_or_path}.toml").read_text()
        source, name = f"{name_or_path}.toml", name_or_path
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"{source}: not valid TOML: {e}") from None
    return _parse(raw, name, source)


def _parse(raw: dict[str, Any], name: str, source: str) -> Profile:
    known = set(_SCALARS) | {"adapters", "cells"}
    optional = set(_OPTIONAL) | set(_DEFAULTED) | {"gate"}
    unknown = sorted(set(raw) - known - optional)
    if unknown:
        raise ProfileError(f"{source}: unknown key(s) {unknown}; valid: {sorted(known | optional)}")
    raw = dict(raw)
    gate = _parse_gate(raw.pop("gate", {}), source)
    missing = sorted(known - set(raw))
    if missing:
        raise ProfileError(f"{source}: missing key(s) {missing}")
    for key, types in {**_SCALARS, **_OPTIONAL, **_DEFAULTED}.items():
        if key in raw and (not isinstance(raw[key], types) or isinstance(raw[key], bool)):
            raise ProfileError(
                f"{source}: key {key!r} must be {'/'.join(t.__name__ for t in types)}, "
                f"got {raw[key]!r}"
            )
    adapters = raw["adapters"]
    if not isinstance(adapters, list) or not all(isinstance(a, str) for a in adapters):
        raise ProfileError(f"{source}: key 'adapters' must be a list of names, got {adapters!r}")
    cells = []
    for i, cell in enumerate(raw["cells"] if isinstance(raw["cells"], list) else [None]):
        if not isinstance(cell, dict) or set(cell) != {"scenario", "variants"}:
            keys = sorted(cell) if isinstance(cell, dict) else cell
            raise ProfileError(
                f"{source}: cells[{i}] must be a table with exactly the keys "
                f"['scenario', 'variants'], got {keys!r}"
            )
        if not isinstance(cell["variants"], list) or not cell["variants"]:
            raise ProfileError(f"{source}: cells[{i}].variants must be a non-empty list")
        cells.append(CellSelection(cell["scenario"], tuple(cell["variants"])))
    profile = Profile(
        name=name,
        adapters=tuple(adapters),
        cells=tuple(cells),
        gate=gate,
        timeout_s=float(raw["timeout_s"]),
        memory_limit_mb=raw.get("memory_limit_mb"),
        consumer_step_ms=float(raw["consumer_step_ms"]) if "consumer_step_ms" in raw else None,
        min_window_s=float(raw["min_window_s"]) if "min_window_s" in raw else None,
        **{k: raw[k] for k in _DEFAULTED if k in raw},
        **{k: raw[k] for k in _SCALARS if k != "timeout_s"},
    )
    return _validated(profile, source)


_GATE_MODES = ("relative", "absolute")


def _parse_gate(raw: Any, source: str) -> GateConfig:
    fields = {f.name: f for f in dataclasses.fields(GateConfig)}
    if not isinstance(raw, dict) or set(raw) - set(fields):
        keys = sorted(set(raw) - set(fields)) if isinstance(raw, dict) else raw
        raise ProfileError(f"{source}: [gate] has unknown key(s) {keys!r}; valid: {sorted(fields)}")
    if "targets" in raw:
        targets = raw["targets"]
        if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
            raise ProfileError(f"{source}: gate.targets must be a non-empty list of adapter names, got {targets!r}")
        raw = {**raw, "targets": tuple(targets)}
    gate = GateConfig(**raw)
    if gate.mode not in _GATE_MODES:
        raise ProfileError(f"{source}: gate.mode {gate.mode!r}; valid: {', '.join(_GATE_MODES)}")
    if not isinstance(gate.reference, str) or gate.reference in gate.targets:
        raise ProfileError(f"{source}: gate.reference must be an adapter name not in gate.targets, got {gate.reference!r}")
    for key, low, high in (("p_threshold", 0.0, 1.0), ("min_effect", 0.0, 10.0)):
        value = getattr(gate, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < high:
            raise ProfileError(f"{source}: gate.{key} must be a number in ({low:g}, {high:g}), got {value!r}")
    if isinstance(gate.replicates, bool) or not isinstance(gate.replicates, int) or gate.replicates < 2:
        raise ProfileError(f"{source}: gate.replicates must be an integer >= 2, got {gate.replicates!r}")
    if isinstance(gate.confirm_runs, bool) or not isinstance(gate.confirm_runs, int) or gate.confirm_runs < 0:
        raise ProfileError(f"{source}: gate.confirm_runs must be an integer >= 0, got {gate.confirm_runs!r}")
    return gate


def _validated(profile: Profile, source: str) -> Profile:
    if profile.backend not in _BACKENDS:
        raise ProfileError(f"{source}: backend {profile.backend!r}; valid: {', '.join(_BACKENDS)}")
    if profile.delivery not in DELIVERIES:
        raise ProfileError(f"{source}: delivery {profile.delivery!r}; valid: {', '.join(DELIVERIES)}")
    for key in ("cpu_budget", "batches", "repetitions", "replicates"):
        if getattr(profile, key) < 1:
            raise ProfileError(f"{source}: {key} must be >= 1, got {getattr(profile, key)}")
    if profile.batches < 2:
        raise ProfileError(f"{source}: batches must be >= 2 (the first is time to first batch)")
    if profile.warmup_batches < 1:
        raise ProfileError(f"{source}: warmup_batches must be >= 1, got {profile.warmup_batches}")
    if profile.timeout_s <= 0:
        raise ProfileError(f"{source}: timeout_s must be > 0, got {profile.timeout_s}")
    if profile.memory_limit_mb is not None and profile.memory_limit_mb < 1:
        raise ProfileError(f"{source}: memory_limit_mb must be >= 1, got {profile.memory_limit_mb}")
    if profile.min_window_s is not None and not 0 <= profile.min_window_s <= 60:
        raise ProfileError(f"{source}: min_window_s must be in [0, 60] seconds, got {profile.min_window_s}")
    if profile.consumer_step_ms is not None and not 0 < profile.consumer_step_ms <= 60_000:
        raise ProfileError(f"{source}: consumer_step_ms must be in (0, 60000], got {profile.consumer_step_ms}")
    if not profile.adapters:
        raise ProfileError(f"{source}: adapters must name at least one adapter")
    return profile
