"""Helpers the engine's blocks share: parameter checks and bit-vector widening."""

from __future__ import annotations

from amaranth.hdl import Cat, Const

__all__ = ["check_int", "widen"]


def check_int(name: str, value, lo: int, hi: int) -> None:
    """Raise ValueError naming ``value`` unless it is an integer in [lo, hi]."""
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer from {lo} to {hi}, not {value!r}")


def widen(value, width: int):
    """``value`` zero-extended to at least ``width`` bits."""
    have = len(value)
    return value if have >= width else Cat(value, Const(0, width - have))
