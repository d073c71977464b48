"""Validation helpers for frozen config dataclasses: each names the bad value and what is valid.

Configs call these from ``__post_init__`` so a mistake fails where it is written, not deep
inside a compiled step or a background thread.
"""

from __future__ import annotations

from typing import Any, Sequence


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(name: str, value: Any, *, minimum: int | None = None) -> None:
    """``value`` is a Python int (not a bool) and at least ``minimum``."""
    if not _is_int(value) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{name} must be an int{bound}, got {value!r}")


def check_optional_int(name: str, value: Any, *, minimum: int) -> None:
    if value is not None:
        check_int(name, value, minimum=minimum)


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")


def check_number(
    name: str, value: Any, *, low: float | None = None, high: float | None = None
) -> None:
    """``value`` is a real number inside ``[low, high]`` (either bound optional)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and low is not None and value < low:
        ok = False
    if ok and high is not None and value > high:
        ok = False
    if not ok:
        bounds = f" in [{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        raise ValueError(f"{name} must be a number{bounds}, got {value!r}")


def check_range(name: str, value: Any, *, low: float | None = None) -> None:
    """``value`` is a ``(min, max)`` pair of numbers with ``min <= max`` (and ``min >= low``)."""
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        or value[0] > value[1]
        or (low is not None and value[0] < low)
    ):
        floor = f" with min >= {low}" if low is not None else ""
        raise ValueError(f"{name} must be a (min, max) pair of numbers{floor}, got {value!r}")


def check_size(name: str, value: Any) -> None:
    """``value`` is a ``(height, width)`` pair of positive ints."""
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(
        _is_int(v) and v > 0 for v in value
    ):
        raise ValueError(f"{name} must be a (height, width) pair of positive ints, got {value!r}")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def check_field(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty field name, got {value!r}")
