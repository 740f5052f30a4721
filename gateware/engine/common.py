"""Helpers the engine's blocks share: parameter checks, bit-vector widening and the depth of
a balanced binary tree."""

from __future__ import annotations

from amaranth.hdl import Cat, Const

__all__ = ["check_int", "widen", "tree_depth"]


def check_int(name: str, value, lo: int, hi: int) -> None:
    """Raise ValueError naming ``value`` unless it is an integer in [lo, hi]."""
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer from {lo} to {hi}, not {value!r}")


def widen(value, width: int):
    """``value`` zero-extended to at least ``width`` bits."""
    have = len(value)
    return value if have >= width else Cat(value, Const(0, width - have))


def tree_depth(leaves: int) -> int:
    """Levels of a balanced binary tree over ``leaves`` leaves: ceil(log2 leaves)."""
    return (leaves - 1).bit_length()
