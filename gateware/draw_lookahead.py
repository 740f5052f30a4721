"""The next rejection_free flip, worked out before the last chunk's flags are known.

The rejection_free order (``docs/numerics.md`` §4) flips the k-th unstable neuron, k drawn
from [0, |U|) by the index draw of §5, with U the unstable set after the previous flip. A
column pass learns U a chunk at a time, and the last chunk arrives last; waiting for it before
drawing, locating and selecting costs about four cycles per flip (``docs/engine.md``).

:class:`DrawLookahead` splits that work around the last chunk. In the cycle its ``latch`` is
high it takes the flags, states and prefix counts of chunks 0 .. C-2 and the next few
generator words, and registers, for every possible unstable count x of the last chunk
(0 .. lanes of that chunk), the outcome of the draw with |U| = P + x: the first accepted word,
the chunk and lane of the k-th unstable neuron when it is not in the last chunk, its rank
within the last chunk otherwise. One cycle later the last chunk's flags pick the hypothesis
(their popcount is x) and, if needed, the lane; the outputs are combinational from there, so
the engine issues the chosen column in that same cycle.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .index_draw import IndexDraw
from .unstable_set import RankSelect

__all__ = ["DrawLookahead"]


def _one_hot_or(choices):
    """OR of (select, value) pairs whose selects are one-hot: the selected value, or 0."""
    result = Const(0)
    for sel, value in choices:
        result = result | Mux(sel, value, 0)
    return result


class DrawLookahead(wiring.Component):
    """Draw, locate and select of the next rejection_free flip, for ``neurons`` neurons in
    chunks of ``lanes``, trying ``words`` generator words (3 <= chunks is not required here;
    the engine uses it from 3 chunks on).

    Members
    -------
    latch: In(1), register the hypotheses from the inputs below (the cycle after the pass's
        last issue).
    flags, states: In(lanes) x (chunks - 1), unstable flags and states of chunks 0 .. C-2
        (lanes past N zero).
    prefix: In(range(neurons + 1)) x chunks, exclusive prefix counts: unstable neurons in
        the chunks before chunk c (prefix[C-1] is the count of chunks 0 .. C-2).
    words: In(32) x words, the next generator words in draw order.
    last_flags, last_states: In(lanes), chunk C-1, valid in the cycle after ``latch``.

    In that cycle (combinational from the registered hypotheses and the two inputs above):
    count: Out(range(neurons + 1)), |U|.
    accept: Out(1), one of the words was accepted (false when count = 0).
    used: Out(range(words)), how many words past the first the draw took (words - 1 when
        none was accepted: all were consumed).
    index, chunk, lane: the neuron to flip; base: index * chunks, the weight address of
        its column's chunk 0; new: its new state (the opposite of its state).
    """

    def __init__(self, neurons: int, lanes: int, words: int = 3):
        for name, v in (("neurons", neurons), ("lanes", lanes), ("words", words)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        chunks = -(-neurons // lanes)
        if chunks < 2:
            raise ValueError(f"DrawLookahead needs at least 2 chunks, not {chunks} "
                             f"(neurons={neurons}, lanes={lanes})")
        self.neurons, self.lanes, self.chunks, self.word_count = neurons, lanes, chunks, words
        N, K, C = neurons, lanes, chunks
        super().__init__({
            "latch": In(1),
            "flags": In(K).array(C - 1),
            "states": In(K).array(C - 1),
            "prefix": In(range(N + 1)).array(C),
            "words": In(32).array(words),
            "last_flags": In(K),
            "last_states": In(K),
            "count": Out(range(N + 1)),
            "accept": Out(1),
            "used": Out(range(max(2, words))),
            "index": Out(range(max(2, N))),
            "chunk": Out(range(max(2, C))),
            "lane": Out(range(max(2, K))),
            "base": Out(range(max(2, N * C))),
            "new": Out(1),
        })

    def elaborate(self, platform):
        N, K, C, W = self.neurons, self.lanes, self.chunks, self.word_count
        last_lanes = N - (C - 1) * K
        m = Module()
        P = self.prefix[C - 1]

        fields = {"accept": 1, "used": range(max(2, W)), "last": 1, "rank": range(max(2, K)),
                  "index": range(max(2, N)), "chunk": range(max(2, C)),
                  "lane": range(max(2, K)), "base": range(max(2, N * C)), "new": 1}
        hyps = []
        for x in range(last_lanes + 1):
            n = Signal(range(N + 1), name=f"h{x}_n")
            m.d.comb += n.eq(P + x)
            draws = []
            for i in range(W):
                d = IndexDraw(N)
                m.submodules[f"h{x}_draw{i}"] = d
                m.d.comb += [d.word.eq(self.words[i]), d.n.eq(n)]
                draws.append(d)
            # The first accepted word decides (§5: rejected words are consumed).
            k = Signal(range(max(2, N)), name=f"h{x}_k")
            used = Signal(range(max(2, W)), name=f"h{x}_used")
            m.d.comb += [k.eq(draws[-1].index), used.eq(W - 1)]
            for i in reversed(range(W - 1)):
                with m.If(draws[i].accept):
                    m.d.comb += [k.eq(draws[i].index), used.eq(i)]
            # The chunk is the last c with prefix[c] <= k (a thermometer code, one edge).
            le = ([Const(1)] + [self.prefix[c] <= k for c in range(1, C)] + [Const(0)])
            edge = [le[c] & ~le[c + 1] for c in range(C)]
            early = [(edge[c], c) for c in range(C - 1)]
            rank = RankSelect(K)
            m.submodules[f"h{x}_rank"] = rank
            flags = _one_hot_or([(e, self.flags[c]) for e, c in early])
            states = _one_hot_or([(e, self.states[c]) for e, c in early])
            pre = _one_hot_or([(e, self.prefix[c]) for e, c in early])
            m.d.comb += [rank.bits.eq(flags), rank.rank.eq(k - pre)]
            lane = rank.index
            reg = {name: Signal(shape, name=f"h{x}_{name}") for name, shape in fields.items()}
            with m.If(self.latch):
                m.d.sync += [
                    reg["accept"].eq(Cat(*(d.accept for d in draws)).any()),
                    reg["used"].eq(used),
                    reg["last"].eq(le[C - 1]),
                    reg["rank"].eq(k - P),
                    reg["chunk"].eq(_one_hot_or([(e, c) for e, c in early])),
                    reg["lane"].eq(lane),
                    reg["index"].eq(_one_hot_or([(e, c * K) for e, c in early]) + lane),
                    # index * C with no multiplier: a constant per chunk plus one per lane
                    reg["base"].eq(_one_hot_or([(e, c * K * C) for e, c in early]) +
                                   _lane_times(m, lane, K, C, f"h{x}_lane_c")),
                    reg["new"].eq(~states.bit_select(lane, 1)),
                ]
            hyps.append(reg)

        # The cycle after the latch: the last chunk's popcount picks the hypothesis.
        x_now = Signal(range(K + 1))
        m.d.comb += x_now.eq(sum(self.last_flags[l] for l in range(K)))
        pick = {name: Signal(shape, name=f"pick_{name}") for name, shape in fields.items()}
        with m.Switch(x_now):
            for x, reg in enumerate(hyps):
                with m.Case(x):
                    m.d.comb += [pick[name].eq(reg[name]) for name in fields]
        p_reg = Signal(range(N + 1))
        with m.If(self.latch):
            m.d.sync += p_reg.eq(P)
        m.submodules.last_rank = last_rank = RankSelect(K)
        m.d.comb += [last_rank.bits.eq(self.last_flags), last_rank.rank.eq(pick["rank"])]
        last_lane = last_rank.index
        with m.If(pick["last"]):
            m.d.comb += [
                self.chunk.eq(C - 1), self.lane.eq(last_lane),
                self.index.eq((C - 1) * K + last_lane),
                self.base.eq((C - 1) * K * C + _lane_times(m, last_lane, K, C, "last_lane_c")),
                self.new.eq(~self.last_states.bit_select(last_lane, 1)),
            ]
        with m.Else():
            m.d.comb += [self.chunk.eq(pick["chunk"]), self.lane.eq(pick["lane"]),
                         self.index.eq(pick["index"]), self.base.eq(pick["base"]),
                         self.new.eq(pick["new"])]
        m.d.comb += [self.count.eq(p_reg + x_now), self.accept.eq(pick["accept"]),
                     self.used.eq(pick["used"])]
        return m


def _lane_times(m, lane, lanes: int, chunks: int, name: str):
    """lane * chunks for a lane index, as a choice of constants."""
    out = Signal(range(max(2, lanes * chunks)), name=name)
    with m.Switch(lane):
        for ln in range(lanes):
            with m.Case(ln):
                m.d.comb += out.eq(ln * chunks)
    return out
