"""A measured slowdown injected where a loader's own work happens, for the gate's calibration.

``DATARAX_BENCH_SLOWDOWN=0.25`` makes each call of the wrapped function busy-wait for a quarter
of the time since the previous call's wait ended (its period: the loader's own time per call,
with whatever the call overlaps), so a producer-bound loader slows by about that much.
A busy-wait, not ``time.sleep``, whose timer slack distorts small delays. The effective
slowdown is whatever the harness then measures; the calibration reports it.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Callable, TypeVar

SLOWDOWN_ENV = "DATARAX_BENCH_SLOWDOWN"
F = TypeVar("F", bound=Callable)


def injected_fraction() -> float:
    """The fraction from the environment; 0 when unset. Bad values raise, naming the variable."""
    raw = os.environ.get(SLOWDOWN_ENV, "")
    if not raw:
        return 0.0
    try:
        fraction = float(raw)
    except ValueError:
        raise ValueError(f"{SLOWDOWN_ENV}={raw!r}: expected a fraction in [0, 10], e.g. 0.25") from None
    if not 0.0 <= fraction <= 10.0:
        raise ValueError(f"{SLOWDOWN_ENV}={raw!r}: expected a fraction in [0, 10], e.g. 0.25")
    return fraction


def slowed(fn: F, fraction: float) -> F:
    """``fn``, each call followed by a busy-wait of ``fraction`` × its period."""
    if fraction == 0.0:
        return fn
    last = [None]

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        now = time.perf_counter()
        period = now - (last[0] if last[0] is not None else start)
        last[0] = now + fraction * period
        while time.perf_counter() < last[0]:
            pass
        return result

    return wrapper  # type: ignore[return-value]
