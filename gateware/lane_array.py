"""The K-lane engine's per-lane datapath: the add stage of the column pass and the Hebbian update.

:class:`LaneArray` is stage 1 -> 2 of :class:`~.binary_engine.BinaryEngine`'s column pass
(``docs/engine.md``, "The column pass"): per lane i of the chunk read in stage 1 it computes
the new local field (``docs/numerics.md`` §6: h_i + 2 W_ij s_j' for a flip, h_i + W_ij s_j for a
refresh column, b_i for the refresh's INIT pass, h_i unchanged for FINAL), the term of the
adder tree (s_i W_ij for the column field c_j; -s_i (h_i + b_i) for 2E) and the new state, and
registers them; from the registered values it derives the unstable flags (s_i h_i < 0, §4)
masked to the chunk's real neurons, and their count.

:class:`HebbianLanes` is the on-chip Hebbian store's update of one weight word (§9): every
lane W_ij + 1 if p_i = p_j, else W_ij - 1, held at the limit it would cross; a lane of
``keep`` (i = j, or padding beyond N) is written back unchanged. Combinational.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import NetworkConfig
from .unstable_set import popcount

__all__ = ["PassMode", "LaneArray", "HebbianLanes"]


class PassMode(enum.Enum, shape=2):
    """What a column pass does with the chunks it streams (FLIP and ADDCOL read weights: the
    two lowest codes, so "reads weights" is one bit)."""
    FLIP = 0        # a flip of j: h_i += 2 W_ij s_j', term s_i W_ij
    ADDCOL = 1      # refresh column j: h_i += W_ij s_j
    INIT = 2        # refresh start: h_i = b_i
    FINAL = 3       # refresh end: h unchanged, term -s_i (h_i + b_i)


class LaneArray(wiring.Component):
    """Stage 1 -> 2 of the column pass over the K lanes of one chunk. (No member shares a name
    with the engine's memories: hw/build.py finds the weights memory by its name.)

    Members
    -------
    mode: In(PassMode), sign: In(1), the pass's mode and s_j' (1 = +1), with stage 1's chunk.
    flip: In(1), flip_lane: In(range(K)), stage 1 holds chunk c_j of a FLIP pass: lane l_j's
        state becomes ``sign``.
    w_word, h_word, b_word: In(K * W_BITS), In(K * ACC_BITS), In(K * B_BITS), the weight,
        field and bias words read for stage 1 (lane l at [l w, (l + 1) w)).
    s_word: In(K), the chunk's states as read with them.
    h_next: Out(K * ACC_BITS), s_next: Out(K), terms: Out(K x signed(ACC_BITS + 2)),
        stage 2's registers: the new fields, the new states and the adder tree's inputs.
    mask: In(K), the real neurons of stage 2's chunk; unstable: Out(K), count: Out(range(K+1)),
        stage 2's unstable flags (masked) and their number (combinational from the registers).
    With ``early_flags`` (the chained select): early_mask: In(K), stage 1's chunk mask;
        early_unstable: Out(K), early_count: Out(range(K+1)), the same flags of a FLIP pass
        computed from stage 1's sum and registered with stage 2, so that they start from a
        register (their count does not: after the memories' slow output that made stage 2
        the longest path).
    """

    def __init__(self, config: NetworkConfig, *, early_flags: bool = False):
        self.config = config
        self.early_flags = early_flags
        K, A = config.lanes, config.acc_bits
        self.term_bits = A + 2
        members = {
            "mode": In(PassMode), "sign": In(1), "flip": In(1), "flip_lane": In(range(max(2, K))),
            "w_word": In(K * config.weight_bits), "h_word": In(K * A),
            "b_word": In(K * config.bias_bits), "s_word": In(K),
            "h_next": Out(K * A), "s_next": Out(K),
            "terms": Out(data.ArrayLayout(signed(self.term_bits), K)),
            "mask": In(K), "unstable": Out(K), "count": Out(range(K + 1)),
        }
        if early_flags:
            members |= {"early_mask": In(K), "early_unstable": Out(K),
                        "early_count": Out(range(K + 1))}
        super().__init__(members)

    def elaborate(self, platform):
        cfg = self.config
        K, WB, BB, A = cfg.lanes, cfg.weight_bits, cfg.bias_bits, cfg.acc_bits
        m = Module()
        w_l = [self.w_word[l * WB:(l + 1) * WB].as_signed() for l in range(K)]
        h_l = [self.h_word[l * A:(l + 1) * A].as_signed() for l in range(K)]
        b_l = [self.b_word[l * BB:(l + 1) * BB].as_signed() for l in range(K)]
        h_out = [Signal(signed(A), name=f"h{l}") for l in range(K)]
        m.d.comb += self.h_next.eq(Cat(*h_out))
        early = []
        for l in range(K):
            two_w = Mux(self.mode == PassMode.FLIP, w_l[l] << 1, w_l[l])
            added = h_l[l] + Mux(self.sign, two_w, -two_w)
            hb = h_l[l] + b_l[l]
            # The two terms share one negation: s_i W_ij (FLIP) or -s_i (h_i + b_i) (FINAL).
            is_final = self.mode == PassMode.FINAL
            t_abs = Mux(is_final, hb, w_l[l])
            t_sgn = Mux(Mux(is_final, self.s_word[l], ~self.s_word[l]), -t_abs, t_abs)
            term = self.terms[l]
            with m.Switch(self.mode):
                with m.Case(PassMode.FLIP):
                    m.d.sync += [h_out[l].eq(added), term.eq(t_sgn)]
                with m.Case(PassMode.ADDCOL):
                    m.d.sync += [h_out[l].eq(added), term.eq(0)]
                with m.Case(PassMode.INIT):
                    m.d.sync += [h_out[l].eq(b_l[l]), term.eq(0)]
                with m.Case(PassMode.FINAL):
                    m.d.sync += [h_out[l].eq(h_l[l]), term.eq(t_sgn)]
            flip_here = self.flip & (self.flip_lane == l) & (self.mode == PassMode.FLIP)
            s_new = Mux(flip_here, self.sign, self.s_word[l])
            m.d.sync += self.s_next[l].eq(s_new)
            if self.early_flags:
                negative = added[-1]
                early.append(Mux(s_new, negative, ~negative & added.any()))

        unstable = Signal(K)
        for l in range(K):
            # sign and non-zero, spelled out: "> 0" would be a subtraction's carry chain
            negative = h_out[l][-1]
            m.d.comb += unstable[l].eq(Mux(self.s_next[l], negative,
                                           ~negative & h_out[l].any()))
        m.d.comb += [self.unstable.eq(unstable & self.mask),
                     self.count.eq(popcount(m, self.unstable, "count"))]
        if self.early_flags:
            m.d.sync += self.early_unstable.eq(Cat(*early) & self.early_mask)
            m.d.comb += self.early_count.eq(popcount(m, self.early_unstable, "early_count"))
        return m


class HebbianLanes(wiring.Component):
    """The Hebbian update of one weight word of K lanes (§9); combinational.

    Members
    -------
    w_word: In(K * W_BITS), the word read (lane i at [i W, (i + 1) W)).
    p_word: In(K), p_i of the word's lanes; pattern_j: In(1), p_j.
    keep: In(K), lanes written back unchanged (i = j, and lanes beyond N).
    w_next: Out(K * W_BITS), the updated word.
    """

    def __init__(self, config: NetworkConfig):
        self.config = config
        K, WB = config.lanes, config.weight_bits
        super().__init__({"w_word": In(K * WB), "p_word": In(K), "pattern_j": In(1),
                          "keep": In(K), "w_next": Out(K * WB)})

    def elaborate(self, platform):
        cfg = self.config
        K, WB = cfg.lanes, cfg.weight_bits
        m = Module()
        lanes = []
        for l in range(K):
            w = self.w_word[l * WB:(l + 1) * WB].as_signed()
            up = Mux(w == cfg.weight_max, w, w + 1)
            down = Mux(w == cfg.weight_min, w, w - 1)
            same = self.p_word[l] == self.pattern_j
            lanes.append(Mux(self.keep[l], w, Mux(same, up, down))[:WB])
        m.d.comb += self.w_next.eq(Cat(*lanes))
        return m
