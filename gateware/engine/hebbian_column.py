"""The on-chip Hebbian store's column update (``docs/numerics.md`` §9), for the weight store's
write path.

Storing pattern p adds p_i p_j to every W_ij with i != j, saturating at W_MIN and W_MAX
(``golden.store_hebbian``). The engine reads column j (the whole column in one cycle) and
writes back ``column_out``: every lane i computes W_ij + 1 if p_i = p_j, else W_ij - 1, held at
the limit it would cross, and lane j keeps W_jj. Per lane that is one W_BITS-bit
increment-or-decrement and a compare with the limit, no adder tree. j comes one-hot
(``select``): the store visits the columns in order, so the engine shifts a one-hot register
instead of decoding j in every lane (a 10-bit compare per lane at N = 1024). p_j comes as an
input of its own, from a register: computed here as the N-wide OR of pattern & select, the
LUT mapping copied parts of that OR into every lane (measured in the engine, synth_ecp5:
29.7 LUT4s a neuron between N = 32 and 64, superlinear, against 12.0 with p_j an input;
docs/engine.md, "Where the LUT4s a neuron go"). Lanes beyond N
(the last chunk's padding) stay 0. Combinational.

Members
-------
column: In(C * K * W_BITS), column j as the weight store reads it (lane i at [i W, (i+1) W)).
pattern: In(N), p (bit 1 = +1).
pattern_j: In(1), p_j (bit 1 = +1), the pattern's bit at the column's index.
select: In(N), the column's index j one-hot (bit j set).
column_out: Out(C * K * W_BITS), the updated column.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import NetworkConfig

__all__ = ["HebbianColumn"]


class HebbianColumn(wiring.Component):
    def __init__(self, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        self.config = config
        n, width = config.neurons, config.chunks * config.lanes * config.weight_bits
        super().__init__({
            "column": In(width), "pattern": In(n), "pattern_j": In(1), "select": In(n),
            "column_out": Out(width),
        })

    def elaborate(self, platform):
        cfg = self.config
        n, wb = cfg.neurons, cfg.weight_bits
        lo, hi = cfg.weight_min, cfg.weight_max
        m = Module()
        lanes = []
        for i in range(n):
            w = self.column[i * wb:(i + 1) * wb].as_signed()
            up = Signal(name=f"up{i}")            # p_i p_j = +1
            m.d.comb += up.eq(self.pattern[i] == self.pattern_j)
            new = Signal.like(w, name=f"w{i}")
            m.d.comb += new.eq(Mux(up, Mux(w == hi, w, w + 1), Mux(w == lo, w, w - 1)))
            lanes.append(Mux(self.select[i], w, new))
        pad = len(self.column_out) - n * wb
        m.d.comb += self.column_out.eq(Cat(*lanes, Const(0, pad)) if pad else Cat(*lanes))
        return m
