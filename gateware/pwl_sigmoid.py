"""The piecewise-linear sigmoid unit of the graded engine (``docs/numerics.md`` s. 11.3).

:class:`PWLSigmoid` holds the GRADED_SEGMENTS-entry table in registers (so that the segment of
an argument is found by comparing it with every breakpoint at once) and maps a saturated
argument x to v = clamp(y_k + round_shift(m_k (x - x_k), GRADED_SLOPE_FRAC), -1, 1) in a fixed
five-cycle pipeline (compare; select; offset; multiply; round and clamp), one stage per carry
chain or multiply so that it keeps up with the MAC clock. The gain is applied before it, in
the engine.
"""


from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..numerics import (
    GRADED_PRESETS, GRADED_SEGMENTS, GRADED_SLOPE_BITS, GRADED_SLOPE_FRAC, GRADED_V_BITS,
    GRADED_V_ONE, GRADED_X_BITS,
)
from .fixed_point import round_shift

__all__ = ["SigmoidEntry", "SigmoidTable", "PWLSigmoid", "TABLE_ADDR_BITS"]

#: One table entry: breakpoint x_k (units 2**-14), value y_k (V units), slope m_k (2**-12).
SigmoidEntry = data.StructLayout({
    "x": signed(GRADED_X_BITS),
    "y": signed(GRADED_V_BITS),
    "m": signed(GRADED_SLOPE_BITS),
})
SigmoidTable = data.ArrayLayout(SigmoidEntry, GRADED_SEGMENTS)
TABLE_ADDR_BITS = (GRADED_SEGMENTS - 1).bit_length()


class PWLSigmoid(wiring.Component):
    """Loadable piecewise-linear sigmoid, :attr:`LATENCY` cycles from ``x`` to ``v``.

    The table resets to the ``"atan"`` preset (or ``init`` if given).

    Members
    -------
    table_addr, table_data, table_we : In
        Write entry ``table_addr`` with ``table_data`` on a cycle with ``table_we``.
    read_addr : In
    read_data : Out(SigmoidEntry)
        Combinational read of an entry (for readback).
    x : In(signed(GRADED_X_BITS))
        The saturated argument lambda u.
    v : Out(signed(GRADED_V_BITS))
        g(x), valid :attr:`LATENCY` enabled cycles after ``x`` was presented.
    en : In(1)
        Advances the pipeline (all stages hold while it is low); 1 by default.
    """

    LATENCY = 5

    table_addr: In(TABLE_ADDR_BITS)
    table_data: In(SigmoidEntry)
    table_we: In(1)
    read_addr: In(TABLE_ADDR_BITS)
    read_data: Out(SigmoidEntry)
    x: In(signed(GRADED_X_BITS))
    v: Out(signed(GRADED_V_BITS))
    en: In(1, init=1)

    def __init__(self, init="atan"):
        table = GRADED_PRESETS[init] if isinstance(init, str) else tuple(init)
        if len(table) != GRADED_SEGMENTS:
            raise ValueError(f"A sigmoid table has {GRADED_SEGMENTS} entries, not {len(table)}")
        self._init = [{"x": x, "y": y, "m": m} for x, y, m in table]
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        table = Signal(SigmoidTable, init=self._init)
        with m.If(self.table_we):
            m.d.sync += table[self.table_addr].eq(self.table_data)
        m.d.comb += self.read_data.eq(table[self.read_addr])

        # Stage 1: the segment is the last breakpoint x_k (k >= 1) that x reaches, else 0.
        k_comb = Signal(TABLE_ADDR_BITS)
        for j in range(1, GRADED_SEGMENTS):
            with m.If(self.x >= table[j].x):
                m.d.comb += k_comb.eq(j)
        k = Signal(TABLE_ADDR_BITS)
        x1, x2 = Signal.like(self.x), Signal.like(self.x)
        entry = Signal(SigmoidEntry)
        d = Signal(signed(GRADED_X_BITS + 1))
        y3, m3 = Signal(signed(GRADED_V_BITS)), Signal(signed(GRADED_SLOPE_BITS))
        q = Signal(signed(GRADED_X_BITS + 1 + GRADED_SLOPE_BITS))
        y4 = Signal(signed(GRADED_V_BITS))
        v = y4 + round_shift(q, GRADED_SLOPE_FRAC)
        with m.If(self.en):
            m.d.sync += [x1.eq(self.x), k.eq(k_comb)]
            # Stage 2: fetch the entry (a 16-way multiplexer, kept apart from the comparators).
            m.d.sync += [x2.eq(x1), entry.eq(table[k])]
            # Stages 3-5: offset in the segment; product (a registered DSP multiply); round,
            # add, clamp to [-1, 1]. Each stage is one carry chain or one multiply.
            m.d.sync += [d.eq(x2 - entry.x), y3.eq(entry.y), m3.eq(entry.m)]
            m.d.sync += [q.eq(m3 * d), y4.eq(y3)]
            m.d.sync += self.v.eq(Mux(v > GRADED_V_ONE, GRADED_V_ONE,
                                      Mux(v < -GRADED_V_ONE, -GRADED_V_ONE, v)))
        return m
