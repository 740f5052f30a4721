"""The next unstable neuron of the sequential order, found in a fixed number of cycles.

Visit v of the sequential order examines neuron v mod N (``docs/numerics.md`` §4). A stable
neuron's visit changes nothing, so the engine jumps from position ``pos`` straight to the
first unstable neuron at or after it, cyclically, and counts the visits in between
(``skip``): the golden model's visit numbers stay exact while a stable visit costs no cycle.

A per-lane test i >= pos (:func:`at_or_after`), then two priority encoders (the first flag at or after pos; the
first flag at all, for the wrap-around), each a balanced tree of ceil(log2 N) levels of 2:1
choices. With ``span`` > 0 the trees' nodes are registered every ``span`` levels and the
outputs are registered: the outputs follow inputs held for ``latency`` cycles
(``latency = ceil(log2 N) // span + 1``). The engine holds ``flags`` and ``pos`` while it
waits, so the stages need no copies of the inputs. ``span`` = 0 is the combinational select
(latency 0).

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

from .common import check_int, sequential_latency, tree_depth, widen

__all__ = ["SelectSequential", "first_set", "at_or_after"]


def first_set(bits, index_bits: int, m: Module | None = None, span: int = 0,
              name: str = "first"):
    """(any, index) of the lowest set bit of ``bits`` as a balanced tree of 2:1 choices;
    index is 0 when no bit is set. With ``m`` and ``span`` > 0 the nodes of every level
    whose number is a multiple of ``span`` are registered in ``m``'s sync domain."""
    nodes = [(bits[i], Const(0, 0)) for i in range(len(bits))]
    level = 0
    while len(nodes) > 1:
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
    any_all, index = nodes[0]
    return any_all, widen(index, index_bits)


def at_or_after(m: Module, pos, n: int):
    """The N bits i >= pos. Split pos into high and low halves: lane i is after pos when its
    high half is greater, or equal with a low half at or after pos's, so each lane is one
    3-input function of small decoders, not a comparator of its own."""
    bits = len(pos)
    lo_bits = bits // 2
    hi, lo = pos[lo_bits:], pos[:lo_bits]
    gt_hi = [Signal(name=f"gt_hi{v}") for v in range(1 << (bits - lo_bits))]
    eq_hi = [Signal(name=f"eq_hi{v}") for v in range(1 << (bits - lo_bits))]
    ge_lo = [Signal(name=f"ge_lo{u}") for u in range(1 << lo_bits)]
    m.d.comb += [*(g.eq(hi < v) for v, g in enumerate(gt_hi)),
                 *(e.eq(hi == v) for v, e in enumerate(eq_hi)),
                 *(g.eq(lo <= u) for u, g in enumerate(ge_lo))]
    ahead = Signal(n)
    for i in range(n):
        v, u = i >> lo_bits, i & ((1 << lo_bits) - 1)
        m.d.comb += ahead[i].eq(gt_hi[v] | (eq_hi[v] & ge_lo[u]))
    return ahead


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
        ahead = Signal(n)
        m.d.comb += ahead.eq(self.flags & at_or_after(m, self.pos, n))
        any_ahead, first_ahead = first_set(ahead, bits, m, span, "ahead")
        any_all, first_all = first_set(self.flags, bits, m, span, "all")
        index = Signal(range(n))
        m.d.comb += index.eq(Mux(any_ahead, first_ahead, first_all))
        # With stages the outputs are registered too: the engine's decision (the visit
        # count, pos and the weight address) then starts from registers.
        m.d["sync" if span else "comb"] += [
            self.found.eq(any_all), self.index.eq(index),
            self.skip.eq(Mux(any_ahead, index - self.pos, index + n - self.pos))]
        return m
