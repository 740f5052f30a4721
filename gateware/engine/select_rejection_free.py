"""The k-th unstable neuron of the rejection_free order, by a parallel count tree.

Rejection_free order visits the k-th element (increasing index) of the unstable set U, k
drawn uniformly in [0, |U|) (``docs/numerics.md`` §4). :class:`SelectRank` counts the flags
in a balanced tree (node = number of set flags below it; the root is |U|) and walks down from
the root: at each level, k below the left child's count goes left, else k minus that count
goes right. That is log2 N levels of adders to count and log2 N levels of compare, subtract
and choose to descend, with no N-wide prefix sum: the tree has N - 1 small adders.

Combinational; the engine registers the tree's levels as its clock needs (docs/engine.md
gives the measured depth).

Members
-------
flags: In(N), the unstable flags.
rank: In(range(N)), k.
count: Out(range(N + 1)), |U|.
index: Out(range(N)), the neuron of rank k in U (meaningless when k >= |U|).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .common import check_int, widen

__all__ = ["SelectRank", "count_tree"]


def count_tree(m: Module, bits, name: str):
    """Node counts of a balanced tree over ``bits`` padded to a power of two: a list of levels,
    level 0 the bits themselves, each level's node i = the sum of nodes 2i and 2i+1 below; the
    last level is the single root (the total)."""
    size = 1 << max(0, (len(bits) - 1).bit_length())
    levels = [[bits[i] if i < len(bits) else Const(0, 1) for i in range(size)]]
    while len(levels[-1]) > 1:
        below = levels[-1]
        width = len(levels) + 1            # a node over 2**L leaves counts up to 2**L
        level = []
        for i in range(0, len(below), 2):
            node = Signal(width, name=f"{name}_l{len(levels)}_{i // 2}")
            m.d.comb += node.eq(below[i] + below[i + 1])
            level.append(node)
        levels.append(level)
    return levels


class SelectRank(wiring.Component):
    def __init__(self, neurons: int):
        check_int("neurons", neurons, 1, 1 << 16)
        self.neurons = neurons
        super().__init__({
            "flags": In(neurons),
            "rank": In(range(neurons)),
            "count": Out(range(neurons + 1)),
            "index": Out(range(neurons)),
        })

    def elaborate(self, platform):
        m = Module()
        levels = count_tree(m, self.flags, "cnt")
        m.d.comb += self.count.eq(levels[-1][0])
        depth = len(levels) - 1
        # Walk down: ``path`` holds the bits chosen so far (the node's index at its level).
        rest = self.rank
        path = Const(0, 0)
        for level in reversed(range(depth)):
            lefts = levels[level][0::2]                 # left children of this level's parents
            width = max(len(v) for v in lefts)
            left = Signal(width, name=f"left{level}")
            if len(lefts) == 1:
                m.d.comb += left.eq(lefts[0])
            else:
                m.d.comb += left.eq(Cat(*(widen(v, width) for v in lefts)).word_select(path, width))
            go_right = Signal(name=f"right{level}")
            m.d.comb += go_right.eq(rest >= left)
            nxt = Signal(len(self.rank), name=f"rest{level}")
            m.d.comb += nxt.eq(Mux(go_right, rest - left, rest))
            rest = nxt
            path = Cat(go_right, path) if len(path) else go_right
        m.d.comb += self.index.eq(path if depth else 0)
        return m
