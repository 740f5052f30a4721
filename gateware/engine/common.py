"""Helpers the engine's blocks share: parameter checks, bit-vector widening, the depth of
a balanced binary tree and the selectors' latencies (plain arithmetic, so that the benchmark's
cycle bounds use the numbers the selectors are built with)."""

from __future__ import annotations

from amaranth.hdl import Cat, Const

__all__ = ["check_int", "widen", "tree_depth", "sequential_latency", "tree_latency",
           "walk_latency", "chunk_and_lane"]


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


def chunk_and_lane(value, lanes: int, count: int):
    """(value // lanes, value % lanes) for an unsigned ``value`` below ``count``, read from a
    constant table (a mux tree of LUTs). The reciprocal multiply of
    ``binary_engine.divmod_const`` maps onto two chained DSP multipliers (about 8 ns of logic
    and 4 of routing on the ECP5), which sat on the column engine's critical path."""
    check_int("lanes", lanes, 1, 1 << 16)
    check_int("count", count, 1, 1 << 16)
    if lanes & (lanes - 1) == 0:
        shift = lanes.bit_length() - 1
        return value >> shift, value[:shift]
    chunk_bits = max(1, ((count - 1) // lanes).bit_length())
    lane_bits = (lanes - 1).bit_length()
    entry_bits = chunk_bits + lane_bits
    table = 0
    for v in range(count):
        table |= ((v // lanes) << lane_bits | v % lanes) << (v * entry_bits)
    entry = Const(table, count * entry_bits).word_select(value, entry_bits)
    return entry[lane_bits:], entry[:lane_bits]
