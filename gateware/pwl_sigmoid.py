"""The piecewise-linear sigmoid unit of the graded engine (``docs/numerics.md`` s. 11.3).

:class:`PWLSigmoid` maps a saturated argument x to
v = clamp(y_k + round_shift(m_k (x - x_k), GRADED_SLOPE_FRAC), -1, 1), k the last breakpoint
x_k (k >= 1) that x reaches, else 0. The GRADED_SEGMENTS-entry table lives in memories, so
the segment is found by a pipelined binary search, which is exact because the breakpoints
x_1..x_15 do not decrease: k = 0, then for bit = 8, 4, 2, 1: if x >= x_(k|bit): k |= bit.
Level l of the search reads x_(k|bit) from its own memory, which holds just the breakpoints
that level can ask for (the 2**l indices whose lowest set bit is that level's bit; x_8 for
level 0, x_4 and x_12 for level 1, ...), so each breakpoint is stored once. The pipeline,
one memory read plus one compare, or one carry chain, or one multiply per stage:

    1-4  level l: compare x with the read breakpoint; the address of the next level's read
         (or of the entry's) is formed from the result in the same cycle
    5    offset d = x - x_k, with the entry (x_k, y_k, m_k) read from the entry memory
    6    q = m_k d (a registered DSP multiply)
    7    round, add y_k, clamp to [-1, 1]

so :attr:`LATENCY` is 7. The gain is applied before the unit, in the engine. The memories start
with the preset and keep what was written across a reset; the readback borrows the entry
memory's one read port (the engine reads back only while the pipeline is empty).
"""


from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hopfield_fpga import protocol as P
from hopfield_fpga.numerics import (
    GRADED_PRESETS, GRADED_SEGMENTS, GRADED_SLOPE_BITS, GRADED_SLOPE_FRAC, GRADED_V_BITS,
    GRADED_V_ONE, GRADED_X_BITS,
)
from .fixed_point import round_shift

__all__ = ["SigmoidEntry", "SigmoidTable", "PWLSigmoid", "TABLE_ADDR_BITS"]

#: One table entry: breakpoint x_k (units 2**-14), value y_k (V units), slope m_k (2**-12);
#: the fields and their order are the wire packing of protocol.SIGMOID_ENTRY_FIELDS.
SigmoidEntry = data.StructLayout({name: signed(bits) for name, bits in P.SIGMOID_ENTRY_FIELDS})
SigmoidTable = data.ArrayLayout(SigmoidEntry, GRADED_SEGMENTS)
TABLE_ADDR_BITS = (GRADED_SEGMENTS - 1).bit_length()
# the binary search halves the index range at every level
assert GRADED_SEGMENTS == 1 << TABLE_ADDR_BITS, GRADED_SEGMENTS


def _level_indices(level):
    """The breakpoint indices level ``level`` of the search reads, in address order."""
    bit = 1 << (TABLE_ADDR_BITS - 1 - level)
    return [(2 * a + 1) * bit for a in range(1 << level)]


class PWLSigmoid(wiring.Component):
    """Loadable piecewise-linear sigmoid, :attr:`LATENCY` cycles from ``x`` to ``v``.

    The memories are initialized with the ``"atan"`` preset (or ``init`` if given) at
    configuration; a reset does not restore them.

    Members
    -------
    table_addr, table_data, table_we : In
        Write entry ``table_addr`` with ``table_data`` on a cycle with ``table_we``. The
        pipeline sees the new entry from the second cycle after the write on.
    read_addr, read_en : In
    read_data : Out(SigmoidEntry)
        Synchronous readback: ``read_data`` is entry ``read_addr`` of the cycle before that had
        ``read_en``. The read shares the pipeline's entry read port: a value in stage 5 on a
        cycle with ``read_en`` is wrong, so read only while the pipeline is empty.
    x : In(signed(GRADED_X_BITS))
        The saturated argument lambda u.
    v : Out(signed(GRADED_V_BITS))
        g(x), valid :attr:`LATENCY` enabled cycles after ``x`` was presented.
    en : In(1)
        Advances the pipeline (all stages and read ports hold while it is low); 1 by default.
    """

    LATENCY = TABLE_ADDR_BITS + 3

    table_addr: In(TABLE_ADDR_BITS)
    table_data: In(SigmoidEntry)
    table_we: In(1)
    read_addr: In(TABLE_ADDR_BITS)
    read_en: In(1)
    read_data: Out(SigmoidEntry)
    x: In(signed(GRADED_X_BITS))
    v: Out(signed(GRADED_V_BITS))
    en: In(1, init=1)

    def __init__(self, init="atan"):
        if isinstance(init, str) and init not in GRADED_PRESETS:
            raise ValueError(f"Unknown sigmoid preset {init!r}; valid: {sorted(GRADED_PRESETS)}")
        table = GRADED_PRESETS[init] if isinstance(init, str) else tuple(init)
        if len(table) != GRADED_SEGMENTS:
            raise ValueError(f"A sigmoid table has {GRADED_SEGMENTS} entries, not {len(table)}")
        self._init = [{"x": x, "y": y, "m": m} for x, y, m in table]
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        levels = TABLE_ADDR_BITS

        m.submodules.entries = entries = Memory(shape=SigmoidEntry, depth=GRADED_SEGMENTS,
                                                init=self._init)
        e_wr, e_rd = entries.write_port(), entries.read_port()
        m.d.comb += [e_wr.addr.eq(self.table_addr), e_wr.data.eq(self.table_data),
                     e_wr.en.eq(self.table_we)]

        # Stages 1-4: level l compares the x of its stage with x_(k|bit) and forms the address
        # of the next read from the result, so that the read lands with the next stage.
        reads = []
        for level in range(levels):
            mem = Memory(shape=signed(GRADED_X_BITS), depth=1 << level,
                         init=[self._init[j]["x"] for j in _level_indices(level)])
            m.submodules[f"breakpoints{level}"] = mem
            wr, rd = mem.write_port(), mem.read_port()
            # entry j belongs to this level if its lowest set bit is the level's; the address
            # is the bits above that bit
            mine = self.table_addr[:levels - level] == 1 << (levels - 1 - level)
            m.d.comb += [wr.addr.eq(self.table_addr[levels - level:]),
                         wr.data.eq(self.table_data.x), wr.en.eq(self.table_we & mine),
                         rd.en.eq(self.en)]
            reads.append(rd)
        x_l, k_l = self.x, Const(0, levels)     # level 0 reads its only entry, x_8
        for level, rd in enumerate(reads):
            bit = 1 << (levels - 1 - level)
            k_next = Signal(levels, name=f"k{level}_next")
            m.d.comb += k_next.eq(k_l | Mux(x_l >= rd.data, bit, 0))
            if level + 1 < levels:
                m.d.comb += reads[level + 1].addr.eq(k_next[levels - level - 1:])
                x_reg = Signal.like(self.x, name=f"x{level + 1}")
                k_reg = Signal(levels, name=f"k{level + 1}")
                with m.If(self.en):
                    m.d.sync += [x_reg.eq(x_l), k_reg.eq(k_next)]
                x_l, k_l = x_reg, k_reg
        # the final k addresses the entry memory, unless the port serves a readback
        m.d.comb += [e_rd.addr.eq(Mux(self.read_en, self.read_addr, k_next)),
                     e_rd.en.eq(self.en | self.read_en),
                     self.read_data.eq(e_rd.data)]
        x4 = Signal.like(self.x, name=f"x{levels}")

        d = Signal(signed(GRADED_X_BITS + 1))
        y5 = Signal(signed(GRADED_V_BITS), name="y5")
        m5 = Signal(signed(GRADED_SLOPE_BITS), name="m5")
        q = Signal(signed(GRADED_X_BITS + 1 + GRADED_SLOPE_BITS))
        y6 = Signal(signed(GRADED_V_BITS))
        v = y6 + round_shift(q, GRADED_SLOPE_FRAC)
        with m.If(self.en):
            m.d.sync += x4.eq(x_l)
            # Stages 5-7: offset in the segment; product (a registered DSP multiply); round,
            # add, clamp to [-1, 1]. Each stage is one carry chain or one multiply.
            m.d.sync += [d.eq(x4 - e_rd.data.x), y5.eq(e_rd.data.y), m5.eq(e_rd.data.m)]
            m.d.sync += [q.eq(m5 * d), y6.eq(y5)]
            m.d.sync += self.v.eq(Mux(v > GRADED_V_ONE, GRADED_V_ONE,
                                      Mux(v < -GRADED_V_ONE, -GRADED_V_ONE, v)))
        return m
