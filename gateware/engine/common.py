"""Helpers the engine's blocks share: parameter checks, bit-vector widening, the depth of
a balanced binary tree and the selectors' latencies (plain arithmetic, so that the benchmark's
cycle bounds use the numbers the selectors are built with)."""

from __future__ import annotations

from amaranth.hdl import Cat, Const

__all__ = ["check_int", "widen", "tree_depth", "sequential_latency", "tree_latency",
           "walk_latency"]


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


def sequential_latency(neurons: int, span: int) -> int:
    """Cycles from inputs held to valid outputs of ``SelectSequential(neurons, span)``: the
    encoder trees registered every ``span`` levels and at the output (0: combinational)."""
    return tree_depth(neurons) // span + 1 if span else 0


def tree_latency(neurons: int, span: int) -> int:
    """Cycles from flags held to a valid count of ``SelectRank``'s tree (``span`` levels a
    register stage; 0: combinational)."""
    return tree_depth(neurons) // span if span else 0


def walk_latency(neurons: int, span: int) -> int:
    """Cycles from a rank held (the tree settled) to a valid index of ``SelectRank``'s walk."""
    return (max(tree_depth(neurons) - 1, 0) // span + 1) if span else 0
