"""The k-th unstable neuron of the rejection_free order, by a parallel count tree.

Rejection_free order visits the k-th element (increasing index) of the unstable set U, k
drawn uniformly in [0, |U|) (``docs/numerics.md`` §4). :class:`SelectRank` counts the flags
in a balanced tree (node = number of set flags below it; the root is |U|) and walks down from
the root: at each level, k below the left child's count goes left, else k minus that count
goes right. That is log2 N levels of adders to count and log2 N levels of compare, subtract
and choose to descend, with no N-wide prefix sum: the tree has N - 1 small adders.

Pipelined by two parameters (0: combinational):

- ``tree_span``: the tree's levels whose number is a multiple of it are registered, so
  ``count`` follows flags held for ``tree_latency = depth // tree_span`` cycles;
- ``walk_span``: the walk's remainder and path are registered after every ``walk_span``
  levels, and ``index`` too, so ``index`` follows a rank held (on a settled tree) for
  ``walk_latency = (depth - 1) // walk_span + 1`` cycles (1 for N = 1).

The engine holds ``flags`` while it draws k and walks. Each walk stage registers, besides
k's remainder and the path, the nodes under the node chosen so far (for N = 1024 and a
span of 2: about 1000 bits after the first stage, a quarter after each further one), so
every choice is among 2**walk_span nodes instead of a 2**level:1 multiplexer.

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

from .common import check_int, tree_depth, tree_latency, walk_latency, widen

__all__ = ["SelectRank", "count_tree"]


def count_tree(m: Module, bits, name: str, span: int = 0):
    """Node counts of a balanced tree over ``bits`` padded to a power of two: a list of levels,
    level 0 the bits themselves, each level's node i = the sum of nodes 2i and 2i+1 below; the
    last level is the single root (the total). With ``span`` > 0 the levels whose number is
    a multiple of ``span`` are registered."""
    size = 1 << tree_depth(len(bits))
    levels = [[bits[i] if i < len(bits) else Const(0, 1) for i in range(size)]]
    while len(levels[-1]) > 1:
        below = levels[-1]
        number = len(levels)
        width = number + 1                 # a node over 2**L leaves counts up to 2**L
        domain = "sync" if span and number % span == 0 else "comb"
        level = []
        for i in range(0, len(below), 2):
            node = Signal(width, name=f"{name}_l{number}_{i // 2}")
            m.d[domain] += node.eq(below[i] + below[i + 1])
            level.append(node)
        levels.append(level)
    return levels


def _narrow(m: Module, view, level: int, local, rest, path):
    """A walk stage's registers: the remainder, the path, and of every level below ``level``
    only the nodes under the node just chosen (``local`` indexes it in ``view``), so that the
    next stage's choices are among 2**walk_span nodes whatever N is."""
    below = []
    for lv in range(level):
        nodes = view[lv]
        width = max(len(v) for v in nodes)
        per = len(nodes) >> len(local)                 # nodes of this level under one node
        flat = Cat(*(widen(v, width) for v in nodes))
        held = [Signal(width, name=f"walk_l{level}_{lv}_{i}") for i in range(per)]
        m.d.sync += Cat(*held).eq(flat.word_select(local, per * width))
        below.append(held)
    rest_r = Signal(len(rest), name=f"rest{level}_r")
    path_r = Signal(len(path), name=f"path{level}_r")
    m.d.sync += [rest_r.eq(rest), path_r.eq(path)]
    return below + [None], rest_r, path_r


class SelectRank(wiring.Component):
    def __init__(self, neurons: int, tree_span: int = 0, walk_span: int = 0, *,
                 walk: bool = True):
        check_int("neurons", neurons, 1, 1 << 16)
        check_int("tree_span", tree_span, 0, 16)
        check_int("walk_span", walk_span, 0, 16)
        if not isinstance(walk, bool):
            raise TypeError(f"walk must be a bool, not {walk!r}")
        self.neurons, self.tree_span, self.walk_span = neurons, tree_span, walk_span
        #: Whether the walk is built (rejection_free order); without it only ``count`` is
        #: (the engine's status.unstable) and ``index`` is 0.
        self.walk = walk
        #: Cycles from flags held to a valid ``count``.
        self.tree_latency = tree_latency(neurons, tree_span)
        #: Cycles from a rank held (the tree settled) to a valid ``index``.
        self.walk_latency = walk_latency(neurons, walk_span)
        super().__init__({
            "flags": In(neurons),
            "rank": In(range(neurons)),
            "count": Out(range(neurons + 1)),
            "index": Out(range(neurons)),
        })

    def elaborate(self, platform):
        m = Module()
        levels = count_tree(m, self.flags, "cnt", self.tree_span)
        m.d.comb += self.count.eq(levels[-1][0])
        if not self.walk:
            return m
        depth = len(levels) - 1
        # Walk down. ``view`` holds, per level, the nodes under the node chosen at the last
        # register (first: the whole tree), ``local`` the bits chosen since then and ``path``
        # all bits chosen (the node's index at its level).
        view, rest = levels, self.rank
        local = path = Const(0, 0)
        for step, level in enumerate(reversed(range(depth)), start=1):
            lefts = view[level][0::2]                   # left children of this level's parents
            width = max(len(v) for v in lefts)
            left = Signal(width, name=f"left{level}")
            if len(lefts) == 1:
                m.d.comb += left.eq(lefts[0])
            else:
                m.d.comb += left.eq(Cat(*(widen(v, width) for v in lefts)).word_select(local, width))
            # One subtraction gives both the choice (no borrow: k >= left) and the
            # remainder: a single carry chain a level.
            diff = Signal(len(self.rank) + 1, name=f"diff{level}")
            m.d.comb += diff.eq(rest - left)
            go_right = Signal(name=f"right{level}")
            m.d.comb += go_right.eq(~diff[-1])
            nxt = Signal(len(self.rank), name=f"rest{level}")
            m.d.comb += nxt.eq(Mux(go_right, diff[:len(self.rank)], rest))
            rest = nxt
            local, path = Cat(go_right, local), Cat(go_right, path)
            if self.walk_span and step % self.walk_span == 0 and step < depth:
                view, rest, path = _narrow(m, view, level, local, rest, path)
                local = Const(0, 0)
        m.d["sync" if self.walk_span else "comb"] += self.index.eq(path if depth else 0)
        return m
