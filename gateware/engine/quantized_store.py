"""The quantized Hebbian store on chip (``docs/numerics.md`` §14) in the column engine.

The sum S_ij = sum_mu p_i^mu p_j^mu must be complete before any weight is quantized, so the
patterns are kept on chip: a buffer of P_MAX = ``config.store_patterns`` patterns
(``AccessOp.WRITE_PATTERN``, one chunk of K neurons a write) and a table of the thresholds t_k
(``AccessOp.WRITE_THRESHOLD``, computed on the host by ``numerics.hebbian_thresholds``). The
commit (``AccessOp.STORE_QUANTIZED``, data = P) then builds W column by column:

1. the field array's lanes are zeroed and add one pattern a cycle, lane i the column
   p_i (+1 or -1) with the sign p_j (:func:`pattern_column`): after P cycles lane i holds S_ij,
   the adders of the dynamics doing the sum (no adder of its own);
2. :class:`QuantizeColumn` counts, one threshold a cycle, the levels k with |S_ij| >= t_k,
   so that W_ij = sign(S_ij) #{k : |S_ij| >= t_k} = clamp(round_shift(m S_ij, e), +-W_MAX)
   with no multiplier per lane; lane j gives 0 (S_jj = 0);
3. the column is written to the weight store in one cycle.

A column costs P + D + 1 cycles (P sums, D counts, the write, which also starts the next
column), N (P + D + 1) + 1 in all with the commit's own, with D = ``config.store_thresholds``
(min(W_MAX, P_MAX)): the
host always writes all D entries, the unused ones P + 1, which no |S| reaches. D is enough
whenever the scale is at most 1 (then t_k >= k, so at most P <= P_MAX levels are reached); a
larger scale that reaches more levels than D is refused by the host. The biases are untouched
and the fields are stale afterwards (a run refreshes them, as after any weight write).

:class:`QuantizedStoreRun` is the column engine's part (a mixin like
:class:`~.glauber_run.GlauberRun`): the memories and the FSM states Q_SUM and Q_COUNT.

Members of :class:`QuantizeColumn`
----------------------------------
fields: In(N * ACC_BITS), S_ij of lane i (the field array's h after the sum).
threshold: In(THRESHOLD_BITS), t_k of this cycle.
count: In(1), count this cycle's level: lane i adds 1 where |S_ij| >= threshold.
clear: In(1), every lane's count <- 0.
select: In(N), the column j one-hot (lane j writes 0).
column_out: Out(C * K * W_BITS), the quantized column (lanes beyond N 0).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import NetworkConfig
from ..engine_ports import AccessOp
from .field_array import FieldOp

__all__ = ["QuantizeColumn", "QuantizedStoreRun", "pattern_column", "threshold_bits"]


def threshold_bits(config: NetworkConfig) -> int:
    """Width of a threshold entry: holds P_MAX + 1 (the padding of an unused level)."""
    return (config.store_patterns + 1).bit_length()


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
        n = config.neurons
        super().__init__({
            "fields": In(n * config.acc_bits),
            "threshold": In(threshold_bits(config)),
            "count": In(1), "clear": In(1), "select": In(n),
            "column_out": Out(config.chunks * config.lanes * config.weight_bits),
        })

    def elaborate(self, platform):
        cfg = self.config
        n, a, wb = cfg.neurons, cfg.acc_bits, cfg.weight_bits
        # |S| <= P_MAX: the comparison needs the low bits of S only (one more for its sign)
        sb = min(a, cfg.store_patterns.bit_length() + 1)
        m = Module()
        lanes = []
        for i in range(n):
            s = self.fields[i * a:i * a + sb].as_signed()
            neg = s[-1]
            mag = Signal(sb, name=f"mag{i}")
            m.d.comb += mag.eq(Mux(neg, -s, s))
            level = Signal(wb - 1, name=f"level{i}")      # counts up to W_MAX
            with m.If(self.clear):
                m.d.sync += level.eq(0)
            with m.Elif(self.count & (mag >= self.threshold)):
                m.d.sync += level.eq(level + 1)
            w = Signal(signed(wb), name=f"q{i}")
            m.d.comb += w.eq(Mux(self.select[i], 0, Mux(neg, -level, level)))
            lanes.append(w)
        pad = len(self.column_out) - n * wb
        m.d.comb += self.column_out.eq(Cat(*lanes, Const(0, pad)) if pad else Cat(*lanes))
        return m


class QuantizedStoreRun:
    """The column engine's quantized store (mixin of ``ColumnEngine``; see the module
    docstring). ``d`` is the engine's namespace of shared signals."""

    def _qstore_build(self, m, d):
        """The pattern buffer, the threshold table and the quantizer."""
        cfg = self.config
        C, K = cfg.chunks, cfg.lanes
        m.submodules.q_patterns = pats = Memory(shape=C * K, depth=cfg.store_patterns, init=[])
        m.submodules.q_thresholds = thr = Memory(shape=threshold_bits(cfg),
                                                 depth=cfg.store_thresholds, init=[])
        m.submodules.quantize = d.quant = QuantizeColumn(cfg)
        d.q_pat_rd, d.q_pat_wr = pats.read_port(), pats.write_port(granularity=K)
        d.q_thr_rd, d.q_thr_wr = thr.read_port(), thr.write_port()
        d.q_count = Signal(range(cfg.store_patterns + 1))     # P of the commit
        d.q_mu = Signal(range(cfg.store_patterns + 1))        # the pattern added now
        d.q_k = Signal(range(cfg.store_thresholds + 1))     # the level counted now
        m.d.comb += [d.quant.fields.eq(d.fa.fields), d.quant.select.eq(d.hebb_select),
                     d.quant.threshold.eq(d.q_thr_rd.data)]

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
            # beyond P_MAX + 1 no |S| reaches it either: held there rather than wrapped
            top = cfg.store_patterns + 1
            m.d.comb += [d.q_thr_wr.addr.eq(cmd.index),
                         d.q_thr_wr.data.eq(Mux(cmd.data > top, top, cmd.data)),
                         d.q_thr_wr.en.eq(cmd.index < cfg.store_thresholds)]
            m.d.sync += regs.busy.eq(0)
            m.next = "IDLE"
        with m.Case(AccessOp.STORE_QUANTIZED):
            # more patterns than the buffer holds: the command engine refuses it before
            count = Mux(cmd.data > cfg.store_patterns, cfg.store_patterns, cmd.data)
            m.d.sync += [d.q_count.eq(count), d.loop.eq(0), d.hebb_select.eq(1),
                         regs.dirty.eq(1)]
            self._qstore_column_start(m, d, count)

    def _qstore_column_start(self, m, d, count):
        """Start a column: zero the lanes and the counts, read pattern 0 (and threshold 0)."""
        m.d.comb += [d.fa.op.eq(FieldOp.ZERO_FIELDS), d.quant.clear.eq(1),
                     d.q_pat_rd.addr.eq(0)]
        m.d.sync += [d.q_mu.eq(0), d.q_k.eq(0)]
        with m.If(count == 0):
            m.next = "Q_COUNT"
        with m.Else():
            m.next = "Q_SUM"

    def _qstore_states(self, m, d):
        """Q_SUM: one pattern a cycle into the lanes; Q_COUNT: one level a cycle, then the
        column is written and the next one starts (or the store ends)."""
        cfg, fa, ws, regs = self.config, d.fa, d.ws, d.regs
        N, WB, D = cfg.neurons, cfg.weight_bits, cfg.store_thresholds
        pattern = d.q_pat_rd.data[:N]
        with m.State("Q_SUM"):
            # pattern mu arrives (read the cycle before); the next one is read now
            m.d.comb += [fa.op.eq(FieldOp.ADD), fa.column.eq(pattern_column(pattern, WB)),
                         fa.sign.eq((pattern & d.hebb_select).any()),
                         d.q_pat_rd.addr.eq(d.q_mu + 1)]
            m.d.sync += d.q_mu.eq(d.q_mu + 1)
            with m.If(d.q_mu == d.q_count - 1):
                m.next = "Q_COUNT"                 # threshold 0 is read now (address 0)
        with m.State("Q_COUNT"):
            with m.If(d.q_k == D):
                m.d.comb += [ws.write_addr.eq(d.loop), ws.write_column.eq(1),
                             ws.column_in.eq(d.quant.column_out)]
                with m.If(d.loop == N - 1):
                    m.d.sync += regs.busy.eq(0)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [d.loop.eq(d.loop + 1), d.hebb_select.eq(d.hebb_select << 1)]
                    self._qstore_column_start(m, d, d.q_count)
            with m.Else():
                m.d.comb += [d.quant.count.eq(1), d.q_thr_rd.addr.eq(d.q_k + 1)]
                m.d.sync += d.q_k.eq(d.q_k + 1)
