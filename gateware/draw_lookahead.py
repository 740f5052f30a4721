"""The next rejection_free flip, worked out before the last chunk's flags are known.

The rejection_free order (``docs/numerics.md`` §4) flips the k-th unstable neuron, k drawn
from [0, |U|) by the index draw of §5, with U the unstable set after the previous flip. A
column pass learns U a chunk at a time, and the last chunk arrives last; waiting for it before
drawing, locating and selecting costs about four cycles per flip (``docs/engine.md``).

:class:`DrawLookahead` splits that work over two cycles around the last chunk:

- the *latch* cycle takes P, the unstable count of chunks 0 .. C-2, and the next few
  generator words, and registers the draw for every possible unstable count x of the last
  chunk (0 .. its lanes): k and whether (and after how many words) it was accepted with
  |U| = P + x. Nothing else is needed, so this cycle is short.
- the *select* cycle gets the last chunk's flags: their popcount picks x, and k is located
  among the prefix counts, its rank within its chunk read from per-chunk tables of "lane of
  the r-th set flag" (built from registers, off the path of k); the outputs are
  combinational, so the engine issues the chosen column in that cycle.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .index_draw import draw_candidate
from .unstable_set import popcount

__all__ = ["DrawLookahead"]


def _one_hot_or(choices, width):
    """OR of (select, value) pairs whose selects are one-hot: the selected value, or 0."""
    result = Const(0, width)
    for sel, value in choices:
        result = result | Mux(sel, value, 0)
    return result


class DrawLookahead(wiring.Component):
    """Draw, locate and select of the next rejection_free flip, for ``neurons`` neurons in
    chunks of ``lanes`` (at least 2 chunks), trying ``words`` generator words.

    Members
    -------
    Latch cycle (registered every cycle; the select cycle uses what the previous cycle saw):

    partial: In(range(neurons + 1)), P: unstable neurons in chunks 0 .. C-2.
    words: In(32) x words, the next generator words in draw order.

    Select cycle:

    flags, states: In(lanes) x (chunks - 1), unstable flags and states of chunks 0 .. C-2
        (lanes past N zero).
    prefix: In(range(neurons + 1)) x (chunks - 1), exclusive prefix counts of chunks
        0 .. C-2 (prefix[0] is 0).
    last_flags, last_states: In(lanes), chunk C-1; last_count: In(range(lanes + 1)), the
        number of its flags (given, so that it can come from a register).

    count: Out(range(neurons + 1)), |U| = P + popcount(last_flags).
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
            "partial": In(range(N + 1)),
            "words": In(32).array(words),
            "flags": In(K).array(C - 1),
            "states": In(K).array(C - 1),
            "prefix": In(range(N + 1)).array(C - 1),
            "last_flags": In(K),
            "last_count": In(range(K + 1)),
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
        mbits = (N - 1).bit_length()
        last_lanes = N - (C - 1) * K
        m = Module()

        # -- latch cycle: the draw for every count x of the last chunk -----------------------
        hyps = []
        for x in range(last_lanes + 1):
            n = Signal(range(N + 1), name=f"h{x}_n")
            nm1 = Signal(range(N + 1), name=f"h{x}_nm1")
            m.d.comb += [n.eq(self.partial + x), nm1.eq(self.partial + (x - 1))]
            accepts, cands = [], []
            for i in range(W):
                # §5, as IndexDraw, from n - 1 (P + x - 1: no subtraction after the add)
                cand = draw_candidate(m, self.words[i], nm1, mbits, f"h{x}_c{i}")
                cands.append(cand)
                accepts.append((n != 0) & (cand <= nm1))
            k = Signal(max(1, mbits), name=f"h{x}_k")
            used = Signal(range(max(2, W)), name=f"h{x}_used")
            m.d.comb += [k.eq(cands[-1]), used.eq(W - 1)]
            for i in reversed(range(W - 1)):      # the first accepted word decides
                with m.If(accepts[i]):
                    m.d.comb += [k.eq(cands[i]), used.eq(i)]
            reg = {"k": Signal.like(k, name=f"h{x}_k_r"),
                   "used": Signal.like(used, name=f"h{x}_used_r"),
                   "accept": Signal(name=f"h{x}_accept_r")}
            m.d.sync += [reg["k"].eq(k), reg["used"].eq(used),
                         reg["accept"].eq(Cat(*accepts).any())]
            hyps.append(reg)
        p_reg = Signal(range(N + 1))
        m.d.sync += p_reg.eq(self.partial)

        # -- select cycle --------------------------------------------------------------------
        x_now = self.last_count
        k = Signal(max(1, mbits))
        used = Signal(range(max(2, W)))
        accept = Signal()
        with m.Switch(x_now):
            for x, reg in enumerate(hyps):
                with m.Case(x):
                    m.d.comb += [k.eq(reg["k"]), used.eq(reg["used"]),
                                 accept.eq(reg["accept"])]
        m.d.comb += [self.count.eq(p_reg + x_now), self.accept.eq(accept),
                     self.used.eq(used)]

        # Per chunk (the last one included, with prefix P): the rank of k in it (mod 2^b is
        # exact for the chunk that holds k) and the lane, index, address and new state of the
        # flag of that rank, from tables of the chunk's flags that do not depend on k.
        rbits = max(1, (K - 1).bit_length())
        chunk_flags = list(self.flags) + [self.last_flags]
        chunk_states = list(self.states) + [self.last_states]
        chunk_prefix = list(self.prefix) + [p_reg]
        index_w, base_w = max(1, (N - 1).bit_length()), max(1, (N * C - 1).bit_length())
        picks = []
        for c in range(C):
            rank = Signal(rbits, name=f"c{c}_rank")
            m.d.comb += rank.eq(k - chunk_prefix[c])
            lane = Signal(range(max(2, K)), name=f"c{c}_lane")
            new = Signal(name=f"c{c}_new")
            index = Signal(index_w, name=f"c{c}_index")
            base = Signal(base_w, name=f"c{c}_base")
            table = _rank_table(m, chunk_flags[c], K, f"c{c}")
            with m.Switch(rank):
                for r in range(K):
                    with m.Case(r):
                        m.d.comb += lane.eq(table[r])
            with m.Switch(lane):
                for ln in range(K):
                    with m.Case(ln):
                        m.d.comb += [index.eq(min(c * K + ln, (1 << index_w) - 1)),
                                     base.eq(min((c * K + ln) * C, (1 << base_w) - 1)),
                                     new.eq(~chunk_states[c][ln])]
            picks.append((lane, new, index, base))
        # The chunk is the last c whose prefix count is <= k (a thermometer code, one edge).
        le = [Const(1)] + [chunk_prefix[c] <= k for c in range(1, C)] + [Const(0)]
        edge = [le[c] & ~le[c + 1] for c in range(C)]
        m.d.comb += [
            self.chunk.eq(_one_hot_or([(edge[c], c) for c in range(C)], len(self.chunk))),
            self.lane.eq(_one_hot_or([(edge[c], p[0]) for c, p in enumerate(picks)],
                                     len(self.lane))),
            self.new.eq(_one_hot_or([(edge[c], p[1]) for c, p in enumerate(picks)], 1)),
            self.index.eq(_one_hot_or([(edge[c], p[2]) for c, p in enumerate(picks)],
                                      len(self.index))),
            self.base.eq(_one_hot_or([(edge[c], p[3]) for c, p in enumerate(picks)],
                                     len(self.base))),
        ]
        return m


def _rank_table(m, bits, width: int, name: str):
    """[lane of the r-th set bit of ``bits`` for r in range(width)] (0 where there is none):
    every lane's rank is its own small popcount, so the table is two short levels deep."""
    table = [Signal(range(max(2, width)), name=f"{name}_t{r}") for r in range(width)]
    for i in range(width):
        rank_i = popcount(m, bits[:i], f"{name}_r{i}") if i else Const(0)
        for r in range(i + 1):      # lane i can only hold ranks 0 .. i
            with m.If(bits[i] & (rank_i == r)):
                m.d.comb += table[r].eq(i)
    return table
