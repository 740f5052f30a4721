"""The column-parallel binary engine, deterministic single-replica version (in progress).

`ColumnEngine(config)` has the signature of
:class:`~hopfield_fpga.gateware.binary_engine.BinaryEngine`
(:func:`~hopfield_fpga.gateware.engine_ports.engine_signature`: access, reply, run, stop,
status, trace) and runs the deterministic dynamics of ``docs/numerics.md`` §3-§7 bit for bit
like :func:`hopfield_fpga.sim.golden.run_binary`, in all three orders, with the exact 2E and
the trace. It is built from the blocks of this package:

- :class:`~.weight_store.WeightStore`: a flip reads the whole column j in one cycle;
- :class:`~.field_array.FieldArray`: every h_i and s_i, all updated by the flip at once;
- :class:`~.column_sum.ColumnSum`: c_j for the flip's delta(2E) (and the refresh's 2E);
- :class:`~.select_sequential.SelectSequential`, :class:`~.select_rejection_free.SelectRank`
  with :class:`~.select_random.DrawWords`, :class:`~.select_random.SelectRandom`: the next
  flip in one cycle, the stable visits and rejected words in between counted exactly.

A flip costs 2 cycles (choose, then the column arrives and every lane adds it); the energy
follows ``ColumnSum.latency`` cycles later in a pipeline of its own, so untraced flips do not
wait for it. docs/engine.md, "Column-parallel engine (in progress)", has the cycle
accounting. The selectors are combinational from the lanes' flags to the weight address:
right for the simulator and for small N; at N = 1024 they need the pipelining the docs
describe before the clock target holds.

Limits (this version): no Feature.STOCHASTIC and no Feature.HEBBIAN (the constructor refuses
them); WRITE_BETA and STORE_PATTERN are accepted and ignored as in ``BinaryEngine`` without
those features. The board still builds ``BinaryEngine``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from hopfield_fpga.config import COUNTER_BITS, Feature, NetworkConfig
from ..binary_engine import divmod_const
from ..engine_ports import AccessOp, EnginePorts, RunOrder, StopReason, engine_signature
from ..xorshift import load_state
from .column_sum import ColumnSum
from .common import check_int
from .field_array import FieldArray, FieldOp
from .run_status import StatusRegisters
from .select_random import DrawWords, SelectRandom
from .select_rejection_free import SelectRank
from .select_sequential import SelectSequential
from .weight_store import WeightStore

__all__ = ["ColumnEngine", "DEFAULT_WORDS"]

#: Generator words tested per cycle in random and rejection_free order.
DEFAULT_WORDS = 4


class ColumnEngine(wiring.Component):
    """Deterministic binary Hopfield neurons, column-parallel (see the module docstring).

    Members: see :func:`~hopfield_fpga.gateware.engine_ports.engine_signature`.
    """

    def __init__(self, config: NetworkConfig, *, words: int = DEFAULT_WORDS):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        if not config.has_binary:
            raise ValueError(f"This configuration builds no binary engine (no update orders): "
                             f"{config!r}")
        missing = config.features & (Feature.STOCHASTIC | Feature.HEBBIAN)
        if missing:
            raise ValueError(f"ColumnEngine does not build {missing!r} yet (deterministic "
                             f"runs only); use BinaryEngine, or a configuration without it")
        check_int("words", words, 1, 64)
        self.config, self.words = config, words
        self.ports = EnginePorts(config)
        self.column_sum = ColumnSum(config)
        super().__init__(engine_signature(config))

    def elaborate(self, platform):
        cfg, P = self.config, self.ports
        N, K, C = cfg.neurons, cfg.lanes, cfg.chunks
        WB, BB, A = cfg.weight_bits, cfg.bias_bits, cfg.acc_bits
        m = Module()

        # -- blocks ---------------------------------------------------------------------------
        m.submodules.weights = ws = WeightStore(cfg)
        m.submodules.fields = fa = FieldArray(cfg)
        m.submodules.column_sum = cs = self.column_sum
        m.submodules.biases = bmem = Memory(shape=K * BB, depth=C, init=[])
        b_rd, b_wr = bmem.read_port(), bmem.write_port()
        m.submodules.sel_seq = sel_seq = SelectSequential(N)
        m.submodules.sel_rank = sel_rank = SelectRank(N)
        m.submodules.draw_rank = draw_rank = DrawWords(N, self.words)
        m.submodules.sel_rand = sel_rand = SelectRandom(N, self.words)
        column = ws.column[:N * WB]
        m.d.comb += [fa.column.eq(column), cs.column.eq(column), cs.states.eq(fa.states)]
        for sel in (sel_seq, sel_rank, sel_rand):
            m.d.comb += sel.flags.eq(fa.flags)
        n_unst = sel_rank.count
        m.d.comb += [draw_rank.n.eq(n_unst), sel_rank.rank.eq(draw_rank.index)]
        padded_states = Cat(fa.states, Const(0, C * K - N))

        # -- status -----------------------------------------------------------------------------
        regs = StatusRegisters(cfg)
        regs.drive(m, self.status, n_unst)
        visits, flips, energy2, stop_reason = regs.visits, regs.flips, regs.energy2, regs.stop_reason
        cycles, refresh_cycles = regs.cycles, regs.refresh_cycles
        busy, running, refreshing, dirty = regs.busy, regs.running, regs.refreshing, regs.dirty

        # -- run parameters and the flip registers ----------------------------------------------
        order = Signal(RunOrder)
        trace_en = Signal()
        max_visits = Signal(COUNTER_BITS)
        rng = Signal(32)
        pos = Signal(range(N))                 # visits mod N (sequential order)
        m.d.comb += [sel_seq.pos.eq(pos), draw_rank.state.eq(rng), sel_rand.state.eq(rng)]
        j = Signal(range(N))
        snew = Signal()
        counting = Signal()                    # a run's flip (not a state write's)
        jdiv_bits = max(1, (N - 1).bit_length())

        # -- energy pipeline: (h_j + b_j + 2 W_jj s_j', s_j') travel beside the column sum ------
        e_term = Signal(signed(A + 2))
        e_push = Signal()                      # this cycle's column enters the column sum
        e_refresh = Signal()                   # ... as a refresh column (sign s_j in e_sign)
        e_sign = Signal()
        m.d.comb += cs.valid_in.eq(e_push)
        stages = [(Signal.like(e_term, name=f"e_term{d}"), Signal(name=f"e_sign{d}"),
                   Signal(name=f"e_ref{d}"), Signal(name=f"e_valid{d}"))
                  for d in range(cs.latency)]
        prev = (e_term, e_sign, e_refresh, e_push)
        for stage in stages:
            m.d.sync += [dst.eq(src) for dst, src in zip(stage, prev)]
            prev = stage
        out_term, out_sign, out_ref, out_valid = stages[-1]
        c_j = cs.total
        delta = Signal(signed(P.delta_bits))
        m.d.comb += delta.eq(Mux(out_sign, -((out_term + c_j) << 1), (out_term + c_j) << 1))
        r_acc = Signal(signed(cfg.energy_bits + 2))       # refresh: sum_j s_j c_j ...
        r_bias = Signal(signed(cfg.energy_bits + 2))      # ... and sum_i s_i b_i
        with m.If(out_valid & ~out_ref):
            m.d.sync += energy2.eq(energy2 + delta)
        with m.If(out_valid & out_ref):
            m.d.sync += r_acc.eq(r_acc + Mux(out_sign, c_j, -c_j))
        e_busy = Signal()
        m.d.comb += e_busy.eq(Cat(*(s[3] for s in stages)).any())

        # -- the flip: j is chosen (weight and bias reads issued); the next cycle adds ----------
        w_addr = Signal(range(N))
        w_en = Signal()
        b_addr = Signal(range(C))
        m.d.comb += [ws.read_addr.eq(w_addr), ws.read_en.eq(w_en),
                     b_rd.addr.eq(b_addr), b_rd.en.eq(1)]
        j_lane = Signal(range(K))

        def choose(index, new, count):
            """Issue the flip of ``index`` to ``new``: its column and bias chunk are read now."""
            jdiv, jmod = divmod_const(index, K, jdiv_bits)
            m.d.comb += [w_addr.eq(index), w_en.eq(1), b_addr.eq(jdiv)]
            m.d.sync += [j.eq(index), snew.eq(new), counting.eq(count), j_lane.eq(jmod)]
            m.next = "FLIP"

        # -- access registers ---------------------------------------------------------------------
        cmd = Signal(P.access)
        reply_data = Signal(P.data_bits)
        m.d.comb += self.reply.payload.data.eq(reply_data)
        full_mask, last_mask = (1 << K) - 1, (1 << (N - (C - 1) * K)) - 1
        chunk_mask = Mux(cmd.chunk == C - 1, last_mask, full_mask)
        pend = Signal(K)
        ws_new = Signal(K)
        m.d.comb += ws_new.eq(cmd.data[:K] & chunk_mask)
        loop = Signal(range(N + 2))
        after_refresh = Signal()

        trace_p = self.trace.payload
        tr_delta = Signal(signed(P.delta_bits))
        m.d.comb += [trace_p.visit.eq(visits), trace_p.index.eq(j), trace_p.value.eq(snew),
                     trace_p.delta_energy2.eq(tr_delta)]
        order_ok = Signal()
        for o in cfg.orders:
            with m.If(self.run.payload.order == RunOrder(int(o))):
                m.d.comb += order_ok.eq(1)

        def advance(count):
            """``count`` more visits (a constant or a signal), pos following them mod N."""
            m.d.sync += visits.eq(visits + count)
            total = pos + count
            m.d.sync += pos.eq(Mux(total >= N, total - N, total))

        def finish(reason):
            with m.If(~e_busy):
                m.d.sync += [stop_reason.eq(reason), running.eq(0), busy.eq(0)]
                m.next = "IDLE"

        with m.FSM(name="engine"):
            with m.State("IDLE"):
                m.d.comb += [self.access.ready.eq(1), self.run.ready.eq(~self.access.valid)]
                with m.If(self.access.valid):
                    m.d.sync += [cmd.eq(self.access.payload), busy.eq(1)]
                    m.next = "EXEC"
                with m.Elif(self.run.valid):
                    rp = self.run.payload
                    m.d.sync += [
                        order.eq(rp.order),
                        trace_en.eq(rp.trace if cfg.has(Feature.TRACE) else 0),
                        max_visits.eq(rp.max_visits), rng.eq(load_state(rp.seed)),
                        visits.eq(0), flips.eq(0), cycles.eq(0), pos.eq(0), busy.eq(1),
                        stop_reason.eq(StopReason.NONE), refresh_cycles.eq(0),
                    ]
                    with m.If(~order_ok | rp.stochastic):
                        m.d.sync += [stop_reason.eq(StopReason.STOP), busy.eq(0)]
                    with m.Elif(dirty):
                        m.d.sync += [after_refresh.eq(1), refreshing.eq(1), loop.eq(0),
                                     r_bias.eq(0), r_acc.eq(0)]
                        m.next = "R_BIAS"
                    with m.Else():
                        m.d.sync += running.eq(1)
                        m.next = "CHOOSE"

            with m.State("EXEC"):
                with m.Switch(cmd.op):
                    with m.Case(AccessOp.WRITE_WEIGHTS):
                        m.d.comb += [ws.write_addr.eq(cmd.index), ws.write_chunk.eq(cmd.chunk),
                                     ws.write_data.eq(cmd.data), ws.write_en.eq(1)]
                        m.d.sync += [dirty.eq(1), busy.eq(0)]
                        m.next = "IDLE"
                    with m.Case(AccessOp.READ_WEIGHTS):
                        m.d.comb += [w_addr.eq(cmd.index), w_en.eq(1)]
                        m.next = "READ_W"
                    with m.Case(AccessOp.WRITE_BIAS):
                        lanes = Cat(*(Mux(chunk_mask[l], cmd.data[l * BB:(l + 1) * BB], 0)
                                      for l in range(K)))
                        m.d.comb += [b_wr.addr.eq(cmd.chunk), b_wr.data.eq(lanes),
                                     b_wr.en.eq(1)]
                        m.d.sync += [dirty.eq(1), busy.eq(0)]
                        m.next = "IDLE"
                    with m.Case(AccessOp.READ_BIAS):
                        m.d.comb += b_addr.eq(cmd.chunk)
                        m.next = "READ_B"
                    with m.Case(AccessOp.WRITE_STATE):
                        with m.If(dirty):
                            m.d.comb += [fa.op.eq(FieldOp.LOAD_STATES), fa.chunk.eq(cmd.chunk),
                                         fa.states_in.eq(ws_new)]
                            m.d.sync += busy.eq(0)
                            m.next = "IDLE"
                        with m.Else():
                            m.d.sync += pend.eq(
                                ws_new ^ padded_states.word_select(cmd.chunk, K) & chunk_mask)
                            m.next = "WS_NEXT"
                    with m.Case(AccessOp.READ_STATE):
                        m.d.sync += reply_data.eq(padded_states.word_select(cmd.chunk, K))
                        m.next = "REPLY"
                    with m.Case(AccessOp.CLEAR):
                        m.d.sync += loop.eq(0)
                        m.next = "CLEAR"
                    with m.Default():       # WRITE_BETA, STORE_PATTERN: not built, ignored
                        m.d.sync += busy.eq(0)
                        m.next = "IDLE"

            with m.State("READ_W"):
                m.d.comb += ws.chunk.eq(cmd.chunk)
                m.d.sync += reply_data.eq(ws.chunk_data)
                m.next = "REPLY"
            with m.State("READ_B"):
                m.d.sync += reply_data.eq(b_rd.data)
                m.next = "REPLY"
            with m.State("REPLY"):
                m.d.comb += self.reply.valid.eq(1)
                with m.If(self.reply.ready):
                    m.d.sync += busy.eq(0)
                    m.next = "IDLE"

            with m.State("CLEAR"):
                # One zero column per cycle (every chunk of it at once), the biases alongside.
                m.d.comb += [ws.write_addr.eq(loop), ws.clear_column.eq(1),
                             b_wr.addr.eq(loop), b_wr.data.eq(0), b_wr.en.eq(loop < C)]
                m.d.sync += loop.eq(loop + 1)
                with m.If(loop == N - 1):
                    m.d.comb += fa.op.eq(FieldOp.CLEAR)
                    m.d.sync += [dirty.eq(0), energy2.eq(0), busy.eq(0)]
                    m.next = "IDLE"

            # A state write with valid fields: every changed bit is applied as a flip.
            with m.State("WS_NEXT"):
                low = Signal(range(K))
                for l in reversed(range(K)):
                    with m.If(pend[l]):
                        m.d.comb += low.eq(l)
                with m.If(pend == 0):
                    with m.If(~e_busy):
                        m.d.sync += busy.eq(0)
                        m.next = "IDLE"
                with m.Else():
                    m.d.sync += pend.eq(pend & ~(1 << low)[:K])
                    choose(cmd.chunk * K + low, ws_new.bit_select(low, 1), 0)

            self._refresh(m, ws, fa, cs, b_rd, b_addr, w_addr, w_en, loop, padded_states,
                          r_bias, r_acc, e_push, e_refresh, e_sign, e_busy, energy2, dirty,
                          refreshing, after_refresh, running, busy)

            # -- the run ---------------------------------------------------------------------------
            with m.State("CHOOSE"):
                cap_left = Signal(COUNTER_BITS)
                m.d.comb += cap_left.eq(max_visits - visits)
                with m.If(n_unst == 0):
                    finish(StopReason.CONVERGED)
                with m.Elif(cap_left == 0):
                    finish(StopReason.CAP)
                with m.Elif(self.stop):
                    finish(StopReason.STOP)
                with m.Else():
                    with m.Switch(order):
                        with m.Case(RunOrder.SEQUENTIAL):
                            # Stable visits before the next unstable neuron cost no cycle.
                            with m.If(sel_seq.skip >= cap_left):
                                m.d.sync += visits.eq(max_visits)
                            with m.Else():
                                advance(sel_seq.skip)
                                choose(sel_seq.index, ~fa.states.bit_select(sel_seq.index, 1),
                                       1)
                        with m.Case(RunOrder.RANDOM):
                            m.d.sync += rng.eq(sel_rand.next_state)
                            with m.If(sel_rand.stable >= cap_left):
                                m.d.sync += visits.eq(max_visits)
                            with m.Else():
                                advance(sel_rand.stable)
                                with m.If(sel_rand.found):
                                    choose(sel_rand.index,
                                           ~fa.states.bit_select(sel_rand.index, 1), 1)
                        with m.Case(RunOrder.REJECTION_FREE):
                            m.d.sync += rng.eq(draw_rank.next_state)
                            with m.If(draw_rank.accept):
                                choose(sel_rank.index, ~fa.states.bit_select(sel_rank.index, 1),
                                       1)

            with m.State("FLIP"):
                # The column j and the bias chunk of j arrive: every lane adds 2 s_j' W_ij, the
                # column sum starts, and h_j + b_j + 2 W_jj s_j' joins the energy pipeline.
                h_j = fa.fields.word_select(j, A).as_signed()
                b_j = b_rd.data.word_select(j_lane, BB).as_signed()
                w_jj = column.word_select(j, WB).as_signed()
                m.d.comb += [fa.op.eq(FieldOp.FLIP), fa.sign.eq(snew), fa.index.eq(j),
                             e_push.eq(1), e_sign.eq(snew),
                             e_term.eq(h_j + b_j + Mux(snew, w_jj << 1, -(w_jj << 1)))]
                with m.If(~counting):
                    m.next = "WS_NEXT"
                with m.Elif(trace_en):
                    m.d.sync += flips.eq(flips + 1)
                    m.next = "TRACE_WAIT"
                with m.Else():
                    m.d.sync += flips.eq(flips + 1)
                    advance(1)
                    m.next = "CHOOSE"
            with m.State("TRACE_WAIT"):
                with m.If(out_valid):
                    m.d.sync += tr_delta.eq(delta)
                    m.next = "TRACE"
            with m.State("TRACE"):
                m.d.comb += self.trace.valid.eq(1)
                with m.If(self.trace.ready):
                    advance(1)
                    m.next = "CHOOSE"
        return m

    def _refresh(self, m, ws, fa, cs, b_rd, b_addr, w_addr, w_en, loop, padded_states,
                 r_bias, r_acc, e_push, e_refresh, e_sign, e_busy, energy2, dirty, refreshing,
                 after_refresh, running, busy):
        """The refresh's states: h = b chunk by chunk (and sum_i s_i b_i), then every column
        added with its sign (the column sums giving sum_j s_j c_j), then 2E."""
        cfg = self.config
        N, K, C, BB = cfg.neurons, cfg.lanes, cfg.chunks, cfg.bias_bits
        A = cfg.acc_bits
        prev = Signal.like(loop)               # the chunk or column issued the cycle before
        m.d.comb += prev.eq(loop - 1)
        with m.State("R_BIAS"):
            # Cycle t reads bias chunk t; cycle t + 1 loads it into the lanes.
            m.d.comb += b_addr.eq(loop)
            m.d.sync += loop.eq(loop + 1)
            with m.If(loop != 0):
                chunk = prev
                s_chunk = padded_states.word_select(chunk, K)
                lanes = [b_rd.data[l * BB:(l + 1) * BB].as_signed() for l in range(K)]
                wide = [Signal(signed(A), name=f"rb{l}") for l in range(K)]
                m.d.comb += [w.eq(lane) for w, lane in zip(wide, lanes)]   # sign-extended
                m.d.comb += [fa.op.eq(FieldOp.LOAD_FIELDS), fa.chunk.eq(chunk),
                             fa.fields_in.eq(Cat(*wide))]
                total = 0
                for l, lane in enumerate(lanes):
                    total = total + Mux(s_chunk[l], lane, -lane)
                m.d.sync += r_bias.eq(r_bias + total)
            with m.If(loop == C):
                m.d.sync += loop.eq(0)
                m.next = "R_COLS"
        with m.State("R_COLS"):
            # Cycle t reads column t; cycle t + 1 adds it with the sign s_t.
            m.d.comb += [w_addr.eq(loop), w_en.eq(1)]
            m.d.sync += loop.eq(loop + 1)
            with m.If(loop != 0):
                sign = padded_states.bit_select(prev, 1)
                m.d.comb += [fa.op.eq(FieldOp.ADD), fa.sign.eq(sign),
                             e_push.eq(1), e_refresh.eq(1), e_sign.eq(sign)]
            with m.If(loop == N):
                m.next = "R_DRAIN"
        with m.State("R_DRAIN"):
            with m.If(~e_busy):
                m.d.sync += [energy2.eq(-r_acc - (r_bias << 1)), dirty.eq(0),
                             refreshing.eq(0)]
                with m.If(after_refresh):
                    m.d.sync += [after_refresh.eq(0), running.eq(1)]
                    m.next = "CHOOSE"
                with m.Else():
                    m.d.sync += busy.eq(0)
                    m.next = "IDLE"
