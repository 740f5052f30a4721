"""The exact 2E of the column-parallel engine (``docs/numerics.md`` §6).

A flip of j changes 2E by delta(2E) = -2 s_j' (h_j + c_j + b_j + 2 W_jj s_j'). The engine
gives ``term`` = h_j + b_j and s_j' in the cycle the column j arrives, and W_jj (``diag``)
one cycle later, picked from the column that the weight store's read port still holds: the
block RAM's output (5.6 ns clock-to-out on the ECP5 -6), the chunk pick and two adders in one
cycle were the routed critical path. :class:`~.column_sum.ColumnSum` sums the column against
the old states; ``term``, the sign and then W_jj travel beside it in a delay line, so flips
follow each other without waiting for their energy. The delay line has
``latency`` = max(L, 3) stages (L the column sum's): W_jj is registered in the cycle after
the push and added to the term in the next, and a column sum faster than that is delayed to
match. The refresh computes 2E from scratch as
-sum_j s_j c_j - 2 sum_i s_i b_i: its columns go through the same sum (``refresh`` set,
``sign`` = s_j), the engine adds the bias part chunk by chunk (``bias_add``), and
``finish_refresh`` sets 2E once the unit is idle.

With Feature.SYMMETRIC (W = W^T, the host's promise) no column is summed: c_j = h_j - b_j, so
the engine gives ``term`` = 2 h_j and the unit adds no c_j (delta(2E) = -4 s_j' (h_j + W_jj s_j')).
Its refresh gives, for column t, ``term`` = 2 h_t from before the column's add (the lanes
hold b_t + sum_{k<t} W_tk s_k then) and W_tt in the next cycle as for a flip; each column adds
2 s_t h_t + W_tt, which sums to s^T W s + 2 b^T s for symmetric W (the strict lower triangle
twice, the diagonal once), and ``finish_refresh`` sets 2E to minus that sum.

Members
-------
column: In(N * W_BITS), states: In(N): the column read this cycle and the states before it.
push: In(1), the column enters the sum; refresh: In(1), as a refresh column; sign: In(1),
    s_j' (flip) or s_j (refresh); term: In(signed(ACC_BITS + 2)), the flip's h_j + b_j
    (SYMMETRIC: 2 h_j, and a refresh column's 2 h_t).
diag: In(signed(W_BITS)), the flip's W_jj (SYMMETRIC: also a refresh column's W_tt), in the
    cycle after its push.
bias_add: In(1), bias_sum: In(signed): a refresh chunk's sum_i s_i b_i (registered, then
    accumulated in the next cycle: ``busy`` in between).
clear: In(1), 2E and the refresh sums <- 0 (a refresh's start, or the CLEAR access).
finish_refresh: In(1), 2E <- -sum_j s_j c_j - 2 sum_i s_i b_i (SYMMETRIC: minus the refresh
    columns' sum; only when not busy).
energy2: Out(signed(ENERGY_BITS)), 2E.
delta: Out(signed(ACC_BITS + 3)), delta_valid: Out(1): a flip's delta(2E), ``latency``
    cycles after its push (added to 2E at the end of that cycle).
busy: Out(1), a column is still in the sum.
latency: max(L, DIAG_STAGES) (attribute; :func:`energy_latency`).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import Feature, NetworkConfig
from .column_sum import ColumnSum, column_sum_latency

__all__ = ["EnergyUnit", "energy_latency", "DIAG_STAGES"]

#: Delay-line stages up to the one that has added W_jj: the pick is registered in the cycle
#: after the push (stage 1), and added into stage 2.
DIAG_STAGES = 3


def energy_latency(config: NetworkConfig) -> int:
    """Cycles from a flip's push to its delta(2E): the column sum's L, at least DIAG_STAGES
    (DIAG_STAGES with Feature.SYMMETRIC, which has no column sum)."""
    if config.has(Feature.SYMMETRIC):
        return DIAG_STAGES
    return max(column_sum_latency(config), DIAG_STAGES)


class EnergyUnit(wiring.Component):
    def __init__(self, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        self.config = config
        self._sum = None if config.has(Feature.SYMMETRIC) else ColumnSum(config)
        self.latency = energy_latency(config)
        a, wide = config.acc_bits, config.energy_bits + 2
        super().__init__({
            "column": In(config.neurons * config.weight_bits),
            "states": In(config.neurons),
            "push": In(1), "refresh": In(1), "sign": In(1),
            "term": In(signed(a + 2)), "diag": In(signed(config.weight_bits)),
            "bias_add": In(1), "bias_sum": In(signed(wide)),
            "clear": In(1), "finish_refresh": In(1),
            "energy2": Out(signed(config.energy_bits)),
            "delta": Out(signed(a + 3)), "delta_valid": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        symmetric = self._sum is None
        stages = [(Signal.like(self.term, name=f"term{d}"), Signal(name=f"sign{d}"),
                   Signal(name=f"refresh{d}"), Signal(name=f"valid{d}"))
                  for d in range(self.latency)]
        prev = (self.term, self.sign, self.refresh, self.push)
        diag = Signal(signed(cfg.weight_bits + 2))        # 2 W_jj s_j', stage 1
        for k, stage in enumerate(stages):
            src = prev
            if k == 2:                                      # the term takes W_jj
                src = (prev[0] + diag,) + prev[1:]
            m.d.sync += [dst.eq(v) for dst, v in zip(stage, src)]
            prev = stage
        # 2 W_jj s_j' for a flip; a SYMMETRIC refresh column's W_tt s_t (the diagonal once)
        w2 = Mux(stages[0][2], self.diag, self.diag << 1) if symmetric else self.diag << 1
        m.d.sync += diag.eq(Mux(stages[0][1], w2, -w2))
        term, sign, refresh, valid = stages[-1]
        if symmetric:
            c_j = 0                                         # in the term: 2 h_j
        else:
            m.submodules.sum = cs = self._sum
            m.d.comb += [cs.column.eq(self.column), cs.states.eq(self.states),
                         cs.valid_in.eq(self.push)]
            # the column sum, delayed to the delay line's length when it is shorter
            c_j = cs.total
            for k in range(self.latency - self._sum.latency):
                c_d = Signal.like(cs.total, name=f"c_j{k}")
                m.d.sync += c_d.eq(c_j)
                c_j = c_d
        # A chunk's bias sum is registered before it is accumulated (its chunk pick and lane
        # sum in the engine, then this add, were the routed critical path); busy covers it.
        bias_add = Signal()
        bias_sum = Signal.like(self.bias_sum)
        m.d.sync += [bias_add.eq(self.bias_add), bias_sum.eq(self.bias_sum)]
        m.d.comb += [self.delta.eq(Mux(sign, -((term + c_j) << 1), (term + c_j) << 1)),
                     self.delta_valid.eq(valid & ~refresh),
                     self.busy.eq(Cat(bias_add, *(s[3] for s in stages)).any())]
        energy2 = Signal(signed(cfg.energy_bits))
        # sum_j s_j c_j; SYMMETRIC: the refresh columns' sum, which holds the biases' part
        col_acc = Signal(signed(cfg.energy_bits + 2))
        bias_acc = Signal(signed(cfg.energy_bits + 2))     # sum_i s_i b_i (not SYMMETRIC)
        m.d.comb += self.energy2.eq(energy2)
        with m.If(self.delta_valid):
            m.d.sync += energy2.eq(energy2 + self.delta)
        with m.If(valid & refresh):
            column = term if symmetric else c_j            # 2 h_t + W_tt s_t, or c_j
            m.d.sync += col_acc.eq(col_acc + Mux(sign, column, -column))
        if not symmetric:
            with m.If(bias_add):
                m.d.sync += bias_acc.eq(bias_acc + bias_sum)
        with m.If(self.finish_refresh):
            m.d.sync += energy2.eq(-col_acc if symmetric else -col_acc - (bias_acc << 1))
        with m.If(self.clear):
            m.d.sync += [energy2.eq(0), col_acc.eq(0), bias_acc.eq(0)]
        return m
