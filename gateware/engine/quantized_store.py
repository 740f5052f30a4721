"""The quantized Hebbian store on chip (``docs/numerics.md`` §14) in the column engine.

The sum S_ij = sum_mu p_i^mu p_j^mu must be complete before any weight is quantized, so the
patterns are kept on chip: a buffer of P_MAX = ``config.store_patterns`` patterns
(``AccessOp.WRITE_PATTERN``, one chunk of K neurons a write) and a table of threshold steps
(``AccessOp.WRITE_THRESHOLD``, E = ``config.store_thresholds`` entries computed on the host:
``numerics.hebbian_thresholds`` t_k, as ``numerics.hebbian_threshold_steps``). The commit
(``AccessOp.STORE_QUANTIZED``, data = P) then builds W column by column, every step done by
the field array's own adders:

1. **sum** (P cycles): the lanes are zeroed and add one pattern a cycle, lane i the column
   p_i (+1 or -1) with the sign p_j (:func:`pattern_column`): lane i then holds S_ij;
2. **sign** (1 cycle): :class:`QuantizeColumn` keeps sign(S_ij) in a flip-flop per lane;
3. **steps** (one a cycle, to the table's end): each step subtracts delta from |S_ij| (the
   lane adds -delta or +delta by the kept sign: a weight-sized operand through the column
   input), and a counting step adds a level to the lanes where what is left is still >= 0,
   judged the next cycle from the lane's sign bit and zero test. The thresholds being
   non-decreasing, a lane that fell below one stays below, so the count is
   #{k : |S_ij| >= t_k} and W_ij = sign(S_ij) times it = clamp(round_shift(m S_ij, e),
   +-W_MAX): no comparator, no multiplier, no adder of its own per lane;
4. **write** (1 cycle): the column (lane j 0: S_jj = 0) goes to the weight store; the same
   cycle zeroes the lanes for the next column.

A column costs P + L + 3 cycles for a table of L steps before its end, N (P + L + 3) + 1 in
all. The host refuses a scale that reaches more than min(W_MAX, P_MAX) levels (only a scale
above 1 can); E then holds every step. The biases and states are untouched and the fields are
stale afterwards (a run refreshes them, as after any weight write).

:class:`QuantizedStoreRun` is the column engine's part (a mixin like
:class:`~.glauber_run.GlauberRun`): the memories and the FSM states Q_SUM .. Q_STEP.

Members of :class:`QuantizeColumn`
----------------------------------
negative, nonzero: In(N), the lanes' h < 0 and h != 0 (the field array's sign bits and zero
    tests; h is S_ij after the sum, what is left during the steps).
capture: In(1), keep sign(h_i) of every lane (after the sum).
delta: In(W_BITS - 1), the step's delta (0 .. W_MAX).
step_column: Out(N * W_BITS), the operand of every lane: -delta where S_ij >= 0, else +delta.
count: In(1), the step applied the cycle before counts: lanes where it left >= 0 add a level.
clear: In(1), every lane's level <- 0.
select: In(N), the column j one-hot (lane j writes 0).
column_out: Out(C * K * W_BITS), the quantized column (lanes beyond N 0).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hopfield_fpga import protocol as P
from hopfield_fpga.config import NetworkConfig
from ..engine_ports import AccessOp
from .field_array import FieldOp

__all__ = ["QuantizeColumn", "QuantizedStoreRun", "pattern_column"]


def pattern_column(pattern, weight_bits: int):
    """The column whose lane i is p_i as a W_BITS-bit weight (+1 for bit 1, -1 for bit 0):
    the field array's ADD with the sign p_j then adds p_i p_j to every lane."""
    return Cat(*(Cat(Const(1, 1), (~bit).replicate(weight_bits - 1)) for bit in pattern))


class QuantizeColumn(wiring.Component):
    def __init__(self, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        if not config.store_patterns:
            raise ValueError(f"QuantizeColumn needs a configuration with store_patterns > 0, "
                             f"not {config.describe()}")
        self.config = config
        n, wb = config.neurons, config.weight_bits
        super().__init__({
            "negative": In(n), "nonzero": In(n),
            "capture": In(1), "delta": In(wb - 1), "step_column": Out(n * wb),
            "count": In(1), "clear": In(1), "select": In(n),
            "column_out": Out(config.chunks * config.lanes * wb),
        })

    def elaborate(self, platform):
        cfg = self.config
        n, wb = cfg.neurons, cfg.weight_bits
        m = Module()
        delta = Signal(signed(wb))
        m.d.comb += delta.eq(self.delta)
        lanes, steps = [], []
        for i in range(n):
            h_neg, h_nonzero = self.negative[i], self.nonzero[i]
            neg = Signal(name=f"neg{i}")                  # S_ij < 0
            with m.If(self.capture):
                m.d.sync += neg.eq(h_neg)
            # what is left of |S| (h for S >= 0, -h else) is still >= 0
            left = Signal(name=f"left{i}")
            m.d.comb += left.eq(Mux(neg, h_neg | ~h_nonzero, ~h_neg))
            level = Signal(wb - 1, name=f"level{i}")      # counts up to W_MAX
            with m.If(self.clear):
                m.d.sync += level.eq(0)
            with m.Elif(self.count & left):
                m.d.sync += level.eq(level + 1)
            step = Signal(signed(wb), name=f"step{i}")
            m.d.comb += step.eq(Mux(neg, delta, -delta))
            steps.append(step)
            w = Signal(signed(wb), name=f"q{i}")
            m.d.comb += w.eq(Mux(self.select[i], 0, Mux(neg, -level, level)))
            lanes.append(w)
        m.d.comb += self.step_column.eq(Cat(*steps))
        pad = len(self.column_out) - n * wb
        m.d.comb += self.column_out.eq(Cat(*lanes, Const(0, pad)) if pad else Cat(*lanes))
        return m


class QuantizedStoreRun:
    """The column engine's quantized store (mixin of ``ColumnEngine``; see the module
    docstring). ``d`` is the engine's namespace of shared signals."""

    def _qstore_build(self, m, d):
        """The pattern buffer, the threshold steps and the quantizer."""
        cfg = self.config
        C, K, WB = cfg.chunks, cfg.lanes, cfg.weight_bits
        m.submodules.q_patterns = pats = Memory(shape=C * K, depth=cfg.store_patterns, init=[])
        # a step: delta (W_BITS - 1 bits) and whether it counts (the top bit)
        m.submodules.q_steps = steps = Memory(shape=WB, depth=cfg.store_thresholds, init=[])
        m.submodules.quantize = d.quant = QuantizeColumn(cfg)
        d.q_pat_rd, d.q_pat_wr = pats.read_port(), pats.write_port(granularity=K)
        d.q_step_rd, d.q_step_wr = steps.read_port(), steps.write_port()
        d.q_count = Signal(range(cfg.store_patterns + 1))     # P of the commit
        d.q_mu = Signal(range(cfg.store_patterns + 1))        # the pattern added now
        d.q_k = Signal(range(cfg.store_thresholds + 1))       # the step read now
        d.q_counts = Signal()                                 # the step applied last counts
        F = d.fa.field_bits                  # the lanes hold g = 2 S: S's sign is g's
        m.d.comb += [d.quant.negative.eq(Cat(*(d.fa.fields[(i + 1) * F - 1]
                                               for i in range(cfg.neurons)))),
                     d.quant.nonzero.eq(d.fa.nonzero), d.quant.select.eq(d.hebb_select),
                     d.quant.delta.eq(d.q_step_rd.data[:WB - 1])]

    def _qstore_access(self, m, d, cmd):
        """EXEC's cases of the quantized store's three access operations."""
        cfg, regs = self.config, d.regs
        with m.Case(AccessOp.WRITE_PATTERN):
            m.d.comb += [d.q_pat_wr.addr.eq(cmd.index), d.q_pat_wr.data.eq(d.ws_new.replicate(
                cfg.chunks)), d.q_pat_wr.en.eq(Mux(cmd.index < cfg.store_patterns,
                                                   1 << cmd.chunk, 0))]
            m.d.sync += regs.busy.eq(0)
            m.next = "IDLE"
        with m.Case(AccessOp.WRITE_THRESHOLD):
            # protocol.pack_threshold_step: delta low, the counting flag at bit 15
            counts = cmd.data[P.THRESHOLD_STEP_COUNTS.bit_length() - 1]
            m.d.comb += [d.q_step_wr.addr.eq(cmd.index),
                         d.q_step_wr.data.eq(Cat(cmd.data[:cfg.weight_bits - 1], counts)),
                         d.q_step_wr.en.eq(cmd.index < cfg.store_thresholds)]
            m.d.sync += regs.busy.eq(0)
            m.next = "IDLE"
        with m.Case(AccessOp.STORE_QUANTIZED):
            # more patterns than the buffer holds: the command engine refuses it before
            count = Mux(cmd.data > cfg.store_patterns, cfg.store_patterns, cmd.data)
            m.d.sync += [d.q_count.eq(count), d.loop.eq(0), d.hebb_select.eq(1),
                         regs.dirty.eq(1)]
            self._qstore_column_start(m, d, count)

    def _qstore_column_start(self, m, d, count):
        """Start a column: zero the lanes and the levels, read pattern 0."""
        m.d.comb += [d.fa.op.eq(FieldOp.ZERO_FIELDS), d.quant.clear.eq(1),
                     d.q_pat_rd.addr.eq(0)]
        m.d.sync += d.q_mu.eq(0)
        with m.If(count == 0):
            m.next = "Q_SIGN"
        with m.Else():
            m.next = "Q_SUM"

    def _qstore_states(self, m, d):
        """Q_SUM: one pattern a cycle into the lanes; Q_SIGN: sign(S) kept; Q_STEP: one step
        a cycle to the table's end, then the column is written and the next one starts (or
        the store ends)."""
        cfg, fa, ws, regs = self.config, d.fa, d.ws, d.regs
        N, WB, E = cfg.neurons, cfg.weight_bits, cfg.store_thresholds
        pattern = d.q_pat_rd.data[:N]
        step = d.q_step_rd.data
        m.d.comb += d.quant.count.eq(d.q_counts)
        with m.State("Q_SUM"):
            # pattern mu arrives (read the cycle before); the next one is read now
            m.d.comb += [fa.op.eq(FieldOp.ADD), fa.column.eq(pattern_column(pattern, WB)),
                         fa.sign.eq((pattern & d.hebb_select).any()),
                         d.q_pat_rd.addr.eq(d.q_mu + 1)]
            m.d.sync += d.q_mu.eq(d.q_mu + 1)
            with m.If(d.q_mu == d.q_count - 1):
                m.next = "Q_SIGN"
        with m.State("Q_SIGN"):
            # h = S now; step 0 is read (address 0)
            m.d.comb += d.quant.capture.eq(1)
            m.d.sync += [d.q_k.eq(0), d.q_counts.eq(0)]
            m.next = "Q_STEP"
        with m.State("Q_STEP"):
            # the step read the cycle before; the last one's count is judged now
            with m.If((d.q_k == E) | (step == 0)):         # the end: (0, no count)
                m.d.sync += d.q_counts.eq(0)
                m.next = "Q_WRITE"
            with m.Else():
                m.d.comb += [fa.op.eq(FieldOp.ADD), fa.sign.eq(1),
                             fa.column.eq(d.quant.step_column),
                             d.q_step_rd.addr.eq(d.q_k + 1)]
                m.d.sync += [d.q_k.eq(d.q_k + 1), d.q_counts.eq(step[WB - 1])]
        with m.State("Q_WRITE"):
            m.d.comb += [ws.write_addr.eq(d.loop), ws.write_column.eq(1),
                         ws.column_in.eq(d.quant.column_out)]
            with m.If(d.loop == N - 1):
                m.d.sync += regs.busy.eq(0)
                m.next = "IDLE"
            with m.Else():
                m.d.sync += [d.loop.eq(d.loop + 1), d.hebb_select.eq(d.hebb_select << 1)]
                self._qstore_column_start(m, d, d.q_count)
