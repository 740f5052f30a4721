"""The next unstable neuron of the sequential order, found in a fixed number of cycles.

Visit v of the sequential order examines neuron v mod N (``docs/numerics.md`` §4). A stable
neuron's visit changes nothing, so the engine jumps from position ``pos`` straight to the
first unstable neuron at or after it, cyclically, and counts the visits in between
(``skip``): the golden model's visit numbers stay exact while a stable visit costs no cycle.

One priority encoder over all the flags (the first flag at all, for the wrap-around),
a balanced tree of ceil(log2 N) levels of 2:1 choices, whose nodes at level lo =
floor(ceil(log2 N) / 2) are the blocks of 2^lo lanes that pos's high half names. Pos splits
the lanes three ways: blocks after pos's block (all at or after pos), blocks before it, and
pos's own block, the one partial block. So the first flag at or after pos needs no encoder
of its own over N masked flags: it is the partial block's first flag at or after pos's low
half (that block's flags picked by an AND-OR over pos's high-half decode, then one
2^lo-lane encoder), or else the first of the later blocks (a second tree over the blocks'
nodes only, each masked by "block after pos's"). Against a second N-lane encoder over
flags masked per lane, that leaves one AND-OR pick (about 2/3 of a LUT4 a lane) and trees
over sqrt(N) leaves.

With ``span`` > 0 every tree's nodes are registered every ``span`` levels (the levels
counted from the lanes, the partial block's and the blocks' trees at the levels of the
whole tree they stand for) and the outputs are registered: the outputs follow inputs held
for ``latency`` cycles (``latency = ceil(log2 N) // span + 1``). The engine holds ``flags``
and ``pos`` while it waits, so the stages need no copies of the inputs (pos's decode is
applied wherever a tree needs it). ``span`` = 0 is the combinational select (latency 0).

Members
-------
flags: In(N), the unstable flags.
pos: In(range(N)), the neuron the next visit examines (visits mod N).
found: Out(1), some flag is set (otherwise the state is a fixed point).
index: Out(range(N)), the first unstable neuron at or after pos, cyclically.
skip: Out(range(N)), (index - pos) mod N: the stable visits before the one to ``index``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .common import check_int, sequential_latency, widen
from .field_array import one_hot_pick

__all__ = ["SelectSequential", "first_set"]


def first_set(bits, index_bits: int, m: Module | None = None, span: int = 0,
              name: str = "first"):
    """(any, index) of the lowest set bit of ``bits`` as a balanced tree of 2:1 choices;
    index is 0 when no bit is set. With ``m`` and ``span`` > 0 the nodes of every level
    whose number is a multiple of ``span`` are registered in ``m``'s sync domain."""
    nodes = _tree(_leaves(bits), 0, None, m, span, name)
    any_all, index = nodes[0]
    return any_all, widen(index, index_bits)


def _leaves(bits):
    """The tree nodes (any, index) of single bits (an index of 0 bits)."""
    return [(bits[i], Const(0, 0)) for i in range(len(bits))]


def _tree(nodes, level: int, stop: int | None, m: Module | None, span: int, name: str):
    """Combine ``nodes`` of ``level`` (node k covers leaves [k 2^level, (k + 1) 2^level),
    its index ``level`` bits) level by level, the lower half first, up to level ``stop``
    (None: to the root); the nodes of every level whose number is a multiple of ``span``
    registered."""
    while len(nodes) > 1 and (stop is None or level < stop):
        nxt = []
        for i in range(0, len(nodes), 2):
            any_l, idx_l = nodes[i]
            if i + 1 == len(nodes):          # an odd node out is a lower half
                nxt.append((any_l, _with_bit(idx_l, 0, level)))
                continue
            any_r, idx_r = nodes[i + 1]
            nxt.append((any_l | any_r,
                        Mux(any_l, _with_bit(idx_l, 0, level), _with_bit(idx_r, 1, level))))
        nodes, level = nxt, level + 1
        if span and level % span == 0:
            nodes = [_registered(m, node, f"{name}_l{level}_{i}") for i, node in enumerate(nodes)]
    return nodes


def _pos_lines(m: Module, pos):
    """pos's halves decoded: per block v (the value of pos's high half) the lines
    ``after[v]`` (block v is after pos's) and ``at[v]`` (block v is pos's), per lane u of a
    block ``from_lo[u]`` (u >= pos's low half)."""
    bits = len(pos)
    lo_bits = bits // 2
    hi, lo = pos[lo_bits:], pos[:lo_bits]
    after = [Signal(name=f"after_hi{v}") for v in range(1 << (bits - lo_bits))]
    at = [Signal(name=f"at_hi{v}") for v in range(1 << (bits - lo_bits))]
    from_lo = [Signal(name=f"from_lo{u}") for u in range(1 << lo_bits)]
    m.d.comb += [*(g.eq(hi < v) for v, g in enumerate(after)),
                 *(e.eq(hi == v) for v, e in enumerate(at)),
                 *(g.eq(lo <= u) for u, g in enumerate(from_lo))]
    return after, at, from_lo


def _registered(m: Module, node, name: str):
    """A tree node (any, index) through a register."""
    any_v, idx_v = node
    any_r, idx_r = Signal(name=f"{name}_any"), Signal(len(idx_v), name=f"{name}_idx")
    m.d.sync += [any_r.eq(any_v), idx_r.eq(idx_v)]
    return any_r, idx_r


def _with_bit(index, bit: int, level: int):
    """``index`` (``level`` bits) with ``bit`` above it."""
    return Cat(widen(index, level), Const(bit, 1))


class SelectSequential(wiring.Component):
    def __init__(self, neurons: int, span: int = 0):
        check_int("neurons", neurons, 1, 1 << 16)
        check_int("span", span, 0, 16)
        self.neurons, self.span = neurons, span
        #: Cycles from inputs held to valid outputs.
        self.latency = sequential_latency(neurons, span)
        super().__init__({
            "flags": In(neurons),
            "pos": In(range(neurons)),
            "found": Out(1),
            "index": Out(range(neurons)),
            "skip": Out(range(neurons)),
        })

    def elaborate(self, platform):
        n, span = self.neurons, self.span
        m = Module()
        bits = len(self.index)
        lo_bits = bits // 2
        after, at, from_lo = _pos_lines(m, self.pos)
        # The whole encoder up to the blocks (level lo_bits), then on to the root: the first
        # flag at all.
        blocks = _tree(_leaves(self.flags), 0, lo_bits, m, span, "all")
        ((any_all, first_all),) = _tree(blocks, lo_bits, None, m, span, "all")
        first_all = widen(first_all, bits)
        # Pos's block: its lanes at or after pos's low half.
        width = 1 << lo_bits
        words = [Cat(self.flags[v * width:(v + 1) * width], Const(0, width))[:width]
                 for v in range(len(blocks))]
        own = Signal(width)
        m.d.comb += own.eq(one_hot_pick(words, at, [Const(1, 1)]) & Cat(*from_lo))
        ((any_own, first_own),) = _tree(_leaves(own), 0, None, m, span, "own")
        # The blocks after pos's.
        later = [(any_b & after[v], idx) for v, (any_b, idx) in enumerate(blocks)]
        ((any_later, first_later),) = _tree(later, lo_bits, None, m, span, "later")
        first_later = widen(first_later, bits)
        any_ahead = any_own | any_later
        index = Signal(range(n))
        m.d.comb += index.eq(Mux(any_own, Cat(widen(first_own, lo_bits), self.pos[lo_bits:]),
                                 Mux(any_later, first_later, first_all)))
        # With stages the outputs are registered too: the engine's decision (the visit
        # count, pos and the weight address) then starts from registers.
        m.d["sync" if span else "comb"] += [
            self.found.eq(any_all), self.index.eq(index),
            self.skip.eq(Mux(any_ahead, index - self.pos, index + n - self.pos))]
        return m
