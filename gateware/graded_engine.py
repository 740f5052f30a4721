"""The graded-response engine (Hopfield 1984): fixed-point Euler integration of Eq. 5.

:class:`GradedEngine` runs ``docs/numerics.md`` §11 and matches
:func:`hopfield_fpga.sim.graded.run_graded_fixed` bit for bit. Its interface is
:func:`~hopfield_fpga.gateware.graded_ports.graded_signature` (the binary engine's streams and
conventions; read ``gateware/graded_ports.py`` for the contract). It owns its memories:

- weights: K*W_BITS bits by N*C words (C = ceil(N/K)), word j*C + c = column j, chunk c, as in
  the binary engine;
- biases: K*B_BITS bits by C words;
- potentials u: graded_u_bits by N, read at issue, again at stage 3 and, for the trace, at the
  output (a read port each: on the iCE40 copies of a small memory cost less than carrying u
  through the stages in registers);
- outputs v: two banks of 16 bits by N. A step reads v from one bank and writes the new v to the
  other, which is what makes the update synchronous (all u from the previous v);
- the sigmoid table, in memories (:class:`~.pwl_sigmoid.PWLSigmoid`; ``atan`` at configuration,
  not restored by a reset).

A run first computes v = g(lambda u) for every neuron (the initial pass), then steps. A step
visits the chunks of K neurons in turn: the K lanes multiply-accumulate the column words of the
chunk against v_j for j = 0..N-1 (N cycles; one W_BITS x 16 signed multiply per lane, one DSP
each; :class:`~.graded_mac.GradedMac`). The K fields of a finished chunk move to holding
registers, and while the lanes work on the next chunk an issuer
(:class:`~.graded_issue.GradedIssuer`) feeds the held neurons, one per cycle, into the update
pipeline: field and leak; times dt; round; add and saturate u (and its
change into max |du|); times gain and write u; round and saturate x (these six stages are
:class:`~.graded_update.GradedUpdate`); seven stages of sigmoid; write v (``PIPELINE_DEPTH`` =
14 stages). Neurons leave the pipeline in index order. The trace's back-pressure stalls the
pipeline, never the result. Cycles (``tests/test_graded_engine.py::test_cycle_count``
holds the engine to them; T = the size of the last chunk, N - (C-1) K):

    initial pass   N + PIPELINE_DEPTH + 1
    each step      C (N + 3) + T + PIPELINE_DEPTH + 1, plus trace stalls
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from hopfield_fpga.config import COUNTER_BITS, Feature, NetworkConfig
from hopfield_fpga.numerics import (
    GRADED_EXP_BITS, GRADED_LEAK_SHIFT_BITS, GRADED_SEGMENTS, GRADED_V_BITS,
)
from .block_ram import NO_RW_CHECK, CollisionFreeReadPort
from .fixed_point import times
from .graded_issue import GradedIssuer
from .graded_mac import GradedMac
from .graded_update import GradedUpdate
from .graded_ports import (
    GradedAccessOp, GradedPorts, RunParams, StopReason, graded_signature,
)
from .pwl_sigmoid import PWLSigmoid, SigmoidEntry, TABLE_ADDR_BITS

__all__ = ["GradedEngine"]


class GradedEngine(wiring.Component):
    """Graded-response network engine for one :class:`NetworkConfig` (see the module docs).

    Members: see :func:`~hopfield_fpga.gateware.graded_ports.graded_signature`.

    Limits: the configuration must include Feature.GRADED. ``stop`` is honoured at the end of
    a step. Without Feature.TRACE no trace record is sent.
    """

    #: Stages of the update pipeline, from issue to write (see the module docs).
    PIPELINE_DEPTH = 7 + PWLSigmoid.LATENCY

    @classmethod
    def pass_cycles(cls, config: NetworkConfig, *, initial: bool = False) -> int:
        """Cycles of the initial pass or of one step without trace stalls."""
        n, k, c = config.neurons, config.lanes, config.chunks
        if initial:
            return n + cls.PIPELINE_DEPTH + 1
        return c * (n + 3) + (n - (c - 1) * k) + cls.PIPELINE_DEPTH + 1

    def __init__(self, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        if not config.has(Feature.GRADED):
            raise ValueError(f"This configuration does not build the graded engine "
                             f"(features {config.features!r} lack Feature.GRADED)")
        self.config = config
        self.ports = GradedPorts(config)
        super().__init__(graded_signature(config))

    def elaborate(self, platform):
        m = Module()
        mem = self._memories(m)
        run = self._run_registers(m)
        unit = self._datapath(m, mem, run)
        self._control(m, mem, run, unit)
        return m

    def _memories(self, m) -> SimpleNamespace:
        """The sigmoid's table and W, b, u and the two v banks, with their ports."""
        cfg = self.config
        n, k_lanes, chunks = cfg.neurons, cfg.lanes, cfg.chunks
        wb, bb = cfg.weight_bits, cfg.bias_bits
        m.submodules.sigmoid = sig = PWLSigmoid()
        # W, b and the two v banks are never read where they are being written (the host writes
        # W and b between runs; a step reads one v bank and writes the other), so their read
        # ports need no read-first emulation (gateware/block_ram.py); u can be: N below the
        # pipeline's depth reads u_i while u_i is written back
        m.submodules.wmem = wmem = Memory(shape=unsigned(k_lanes * wb), depth=n * chunks, init=[],
                                          attrs=NO_RW_CHECK)
        m.submodules.bmem = bmem = Memory(shape=unsigned(k_lanes * bb), depth=chunks, init=[],
                                          attrs=NO_RW_CHECK)
        m.submodules.umem = umem = Memory(shape=signed(cfg.graded_u_bits), depth=n, init=[])
        m.submodules.vmem0 = vmem0 = Memory(shape=signed(GRADED_V_BITS), depth=n, init=[],
                                            attrs=NO_RW_CHECK)
        m.submodules.vmem1 = vmem1 = Memory(shape=signed(GRADED_V_BITS), depth=n, init=[],
                                            attrs=NO_RW_CHECK)
        w_rd, w_wr = CollisionFreeReadPort(m, wmem, name="w_rd"), wmem.write_port()
        b_rd, b_wr = CollisionFreeReadPort(m, bmem, name="b_rd"), bmem.write_port()
        # u is read twice: at issue (for the field minus leak) and again at stage 3 (for
        # u + du), which is cheaper than carrying u through the stages in registers
        u_rd, u3_rd, u_wr = umem.read_port(), umem.read_port(), umem.write_port()
        v0_rd, v0_wr = CollisionFreeReadPort(m, vmem0, name="v0_rd"), vmem0.write_port()
        v1_rd, v1_wr = CollisionFreeReadPort(m, vmem1, name="v1_rd"), vmem1.write_port()
        return SimpleNamespace(sig=sig, umem=umem, w_rd=w_rd, w_wr=w_wr, b_rd=b_rd, b_wr=b_wr,
                               u_rd=u_rd, u3_rd=u3_rd, u_wr=u_wr, v0_rd=v0_rd, v0_wr=v0_wr,
                               v1_rd=v1_rd, v1_wr=v1_wr)

    def _run_registers(self, m) -> SimpleNamespace:
        """A run's parameters, counters and outcome, driving ``status``."""
        params = Signal(RunParams)
        du_shift = Signal(range(2 * (1 << GRADED_EXP_BITS) + (1 << GRADED_LEAK_SHIFT_BITS)))
        bank = Signal()          # the bank holding the current v (read by the MAC)
        init_pass = Signal()
        stop_req = Signal()
        steps = Signal(COUNTER_BITS)
        max_du = Signal(self.config.graded_u_bits + 1)
        cycles = Signal(COUNTER_BITS)
        converged = Signal()
        stop_reason = Signal(StopReason)
        busy = Signal()
        m.d.comb += [
            self.status.busy.eq(busy), self.status.converged.eq(converged),
            self.status.stop_reason.eq(stop_reason), self.status.steps.eq(steps),
            self.status.max_du.eq(max_du), self.status.cycles.eq(cycles),
        ]
        with m.If(busy):
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(self.stop):
                m.d.sync += stop_req.eq(1)
        return SimpleNamespace(params=params, du_shift=du_shift, bank=bank, init_pass=init_pass,
                               stop_req=stop_req, steps=steps, max_du=max_du, cycles=cycles,
                               converged=converged, stop_reason=stop_reason, busy=busy)

    def _datapath(self, m, mem: SimpleNamespace, run: SimpleNamespace) -> SimpleNamespace:
        """The MAC, the issuer, the update pipeline and the sigmoid, the v write and the trace."""
        cfg = self.config
        n, k_lanes = cfg.neurons, cfg.lanes
        sig, u_rd, u3_rd, u_wr = mem.sig, mem.u_rd, mem.u3_rd, mem.u_wr
        params, init_pass, bank, max_du = run.params, run.init_pass, run.bank, run.max_du

        # -- MAC: the K lanes accumulate the fields of one chunk --------------------------------
        m.submodules.mac = mac = GradedMac(cfg)
        m.d.comb += [mac.w_data.eq(mem.w_rd.data),
                     mac.v.eq(Mux(bank, mem.v1_rd.data, mem.v0_rd.data))]

        # -- issue: the fields of a summed chunk, held while its neurons enter the pipeline ------
        m.submodules.issuer = iss = GradedIssuer(cfg)
        written = Signal(range(n + 1))
        init_go = Signal()       # pulse: issue every neuron for the initial pass
        m.d.comb += [iss.hand_over.eq(mac.hand_over), iss.chunk.eq(mac.chunk),
                     iss.bias.eq(mem.b_rd.data), iss.init_go.eq(init_go),
                     mac.issuer_idle.eq(~iss.active)]
        m.d.comb += [iss.fields[l].eq(mac.fields[l]) for l in range(k_lanes)]

        # -- the update pipeline (§11.4, §11.3): one neuron per cycle while it advances ----------
        out_valid = Signal()
        trace_on = params.trace & ~init_pass
        if not cfg.has(Feature.TRACE):
            trace_on = Const(0)
        advance = ~(out_valid & trace_on & ~self.trace.ready)
        m.d.comb += [sig.en.eq(advance), u_rd.en.eq(advance), iss.advance.eq(advance)]

        m.submodules.update = upd = GradedUpdate(cfg)
        # the second read of u: addressed by the neuron in stage 3, its data arrives in stage 4
        m.d.comb += [
            upd.advance.eq(advance), upd.params.eq(params), upd.du_shift.eq(run.du_shift),
            upd.init_pass.eq(init_pass), upd.issue.eq(iss.issue), upd.issue_i.eq(iss.i),
            upd.field.eq(iss.field), upd.u_issue.eq(u_rd.data),
            u3_rd.addr.eq(upd.s3_i), u3_rd.en.eq(advance), upd.u_again.eq(u3_rd.data),
            sig.x.eq(upd.x),
        ]
        # u is final at s5: its change goes into max_du there, and it is written at s6. Only
        # valid bits wait beside the sigmoid for v (1 cycle for x, LATENCY for v): every delay
        # bit is a logic cell of its own on the iCE40. Neurons leave the pipeline in index
        # order, so the output index is `written`.
        delta = upd.s5_un - upd.s5_u
        abs_delta = Mux(delta < 0, -delta, delta)
        with m.If(upd.s5_valid & advance & ~init_pass & (abs_delta > max_du)):
            m.d.sync += max_du.eq(abs_delta)
        with m.If(upd.s6_valid & advance):
            m.d.comb += [u_wr.addr.eq(upd.s6_i), u_wr.data.eq(upd.s6_un), u_wr.en.eq(~init_pass)]
        o_valid = upd.s6_valid
        for d in range(1 + PWLSigmoid.LATENCY):
            v_d = Signal(name=f"d{d}_valid")
            with m.If(advance):
                m.d.sync += v_d.eq(o_valid)
            o_valid = v_d
        o_i = written
        m.d.comb += out_valid.eq(o_valid)

        if cfg.has(Feature.TRACE):
            # The trace's u is read back from umem (written at s6, long before) rather than
            # delayed beside the sigmoid; the read is addressed by the neuron that reaches the
            # output next: the one after the neuron leaving now, or the one waiting.
            u_out = mem.umem.read_port()
            m.d.comb += [u_out.addr.eq(written + (o_valid & advance)), u_out.en.eq(advance),
                         self.trace.valid.eq(o_valid & trace_on),
                         self.trace.payload.step.eq(run.steps + 1),
                         self.trace.payload.index.eq(o_i),
                         self.trace.payload.u.eq(u_out.data),
                         self.trace.payload.v.eq(sig.v)]
        pass_done = Signal()
        with m.If(o_valid & advance):
            m.d.comb += [mem.v0_wr.addr.eq(o_i), mem.v0_wr.data.eq(sig.v), mem.v0_wr.en.eq(bank),
                         mem.v1_wr.addr.eq(o_i), mem.v1_wr.data.eq(sig.v),
                         mem.v1_wr.en.eq(~bank)]
            m.d.sync += written.eq(written + 1)
            m.d.comb += pass_done.eq(written == n - 1)
        return SimpleNamespace(mac=mac, iss=iss, written=written, init_go=init_go,
                               pass_done=pass_done)

    def _control(self, m, mem: SimpleNamespace, run: SimpleNamespace,
                 unit: SimpleNamespace) -> None:
        """Access decoding and the control FSM: the host's reads and writes while idle, a run's
        initial pass and steps, and its end (§11.5)."""
        cfg, ports = self.config, self.ports
        n, k_lanes, chunks = cfg.neurons, cfg.lanes, cfg.chunks
        wb, bb, u_bits = cfg.weight_bits, cfg.bias_bits, cfg.graded_u_bits
        sig, mac = mem.sig, unit.mac
        w_rd, w_wr, b_rd, b_wr = mem.w_rd, mem.w_wr, mem.b_rd, mem.b_wr
        u_rd, u_wr, v0_rd, v1_rd = mem.u_rd, mem.u_wr, mem.v0_rd, mem.v1_rd
        params, bank, init_pass, steps = run.params, run.bank, run.init_pass, run.steps
        max_du, converged, stop_reason = run.max_du, run.converged, run.stop_reason
        busy, cycles, stop_req, du_shift = run.busy, run.cycles, run.stop_req, run.du_shift
        iss, written, init_go, pass_done = unit.iss, unit.written, unit.init_go, unit.pass_done

        # -- access decoding ----------------------------------------------------------------------
        acc_p = self.access.payload
        op = acc_p.op
        in_range = Signal()
        with m.Switch(op):
            with m.Case(GradedAccessOp.WRITE_WEIGHTS, GradedAccessOp.READ_WEIGHTS):
                m.d.comb += in_range.eq((acc_p.index < n) & (acc_p.chunk < chunks))
            with m.Case(GradedAccessOp.WRITE_BIAS, GradedAccessOp.READ_BIAS):
                m.d.comb += in_range.eq(acc_p.chunk < chunks)
            with m.Case(GradedAccessOp.WRITE_U, GradedAccessOp.READ_U, GradedAccessOp.READ_V):
                m.d.comb += in_range.eq(acc_p.index < n)
            with m.Case(GradedAccessOp.WRITE_TABLE, GradedAccessOp.READ_TABLE):
                m.d.comb += in_range.eq(acc_p.index < GRADED_SEGMENTS)
        access_waddr = times(acc_p.index, chunks) + acc_p.chunk
        read_op = Signal(GradedAccessOp)
        read_ok = Signal()
        read_last_chunk = Signal()
        read_data = Signal(ports.data_bits)     # combinational: the memories hold their data

        # Lanes beyond N in the last chunk read as 0 (as in the binary engine).
        tail = n - (chunks - 1) * k_lanes

        def lane_mask(width):
            full = (1 << (k_lanes * width)) - 1
            return Mux(read_last_chunk, (1 << (tail * width)) - 1, full)

        # default read addresses: the engine's; the access path overrides them while idle
        m.d.comb += [
            w_rd.addr.eq(mac.w_addr), b_rd.addr.eq(mac.chunk), u_rd.addr.eq(iss.i),
            v0_rd.addr.eq(mac.v_addr), v1_rd.addr.eq(mac.v_addr),
            sig.read_addr.eq(acc_p.index[:TABLE_ADDR_BITS]),
        ]

        with m.FSM(name="control"):
            with m.State("IDLE"):
                m.d.comb += [self.access.ready.eq(1), self.run.ready.eq(~self.access.valid),
                             u_rd.en.eq(1), sig.read_en.eq(1)]
                m.d.comb += [w_rd.addr.eq(access_waddr), b_rd.addr.eq(acc_p.chunk),
                             u_rd.addr.eq(acc_p.index), v0_rd.addr.eq(acc_p.index),
                             v1_rd.addr.eq(acc_p.index)]
                with m.If(self.access.valid):
                    with m.Switch(op):
                        with m.Case(GradedAccessOp.WRITE_WEIGHTS):
                            m.d.comb += [w_wr.addr.eq(access_waddr), w_wr.en.eq(in_range),
                                         w_wr.data.eq(acc_p.data)]
                        with m.Case(GradedAccessOp.WRITE_BIAS):
                            m.d.comb += [b_wr.addr.eq(acc_p.chunk), b_wr.en.eq(in_range),
                                         b_wr.data.eq(acc_p.data)]
                        with m.Case(GradedAccessOp.WRITE_U):
                            m.d.comb += [u_wr.addr.eq(acc_p.index), u_wr.en.eq(in_range),
                                         u_wr.data.eq(acc_p.data[:u_bits])]
                        with m.Case(GradedAccessOp.WRITE_TABLE):
                            m.d.comb += [sig.table_addr.eq(acc_p.index), sig.table_we.eq(in_range),
                                         sig.table_data.eq(acc_p.data[:SigmoidEntry.size])]
                        with m.Default():
                            m.d.sync += [read_op.eq(op), read_ok.eq(in_range),
                                         read_last_chunk.eq(acc_p.chunk == chunks - 1)]
                            m.next = "ACCESS_REPLY"
                with m.Elif(self.run.valid):
                    m.d.sync += [
                        params.eq(self.run.payload), busy.eq(1), converged.eq(0),
                        du_shift.eq(self.run.payload.dt_e + self.run.payload.leak_shift),
                        stop_reason.eq(StopReason.NONE), steps.eq(0), max_du.eq(0),
                        cycles.eq(0), stop_req.eq(0), bank.eq(1), init_pass.eq(1),
                        written.eq(0),
                    ]
                    m.d.comb += init_go.eq(1)
                    m.next = "PASS"

            with m.State("ACCESS_REPLY"):
                # The memories (and the table: its pipeline is empty while idle, so IDLE lends
                # its entry read port to the readback) answer one cycle after the address, and
                # hold their data while their read ports are disabled: no copy is needed.
                m.d.comb += [w_rd.en.eq(0), b_rd.en.eq(0), u_rd.en.eq(0), v0_rd.en.eq(0),
                             v1_rd.en.eq(0), sig.en.eq(0), sig.read_en.eq(0)]
                with m.Switch(read_op):
                    with m.Case(GradedAccessOp.READ_WEIGHTS):
                        m.d.comb += read_data.eq(w_rd.data & lane_mask(wb))
                    with m.Case(GradedAccessOp.READ_BIAS):
                        m.d.comb += read_data.eq(b_rd.data & lane_mask(bb))
                    with m.Case(GradedAccessOp.READ_U):
                        m.d.comb += read_data.eq(u_rd.data.as_unsigned())
                    with m.Case(GradedAccessOp.READ_V):
                        m.d.comb += read_data.eq(Mux(bank, v1_rd.data, v0_rd.data).as_unsigned())
                    with m.Case(GradedAccessOp.READ_TABLE):
                        m.d.comb += read_data.eq(sig.read_data.as_value())
                    # an unknown op still gets its one reply (of 0)
                m.d.comb += [self.reply.valid.eq(1),
                             self.reply.payload.data.eq(Mux(read_ok, read_data, 0))]
                with m.If(self.reply.ready):
                    m.next = "IDLE"

            with m.State("PASS"):
                # the initial pass or a step runs until its last neuron is written
                with m.If(pass_done):
                    m.next = "PASS_END"

            # -- end of the initial pass or of a step (§11.5) ------------------------------------
            with m.State("PASS_END"):
                m.d.sync += [bank.eq(~bank), init_pass.eq(0), written.eq(0)]
                done_steps = Mux(init_pass, steps, steps + 1)
                m.d.sync += steps.eq(done_steps)
                with m.If(~init_pass & (max_du <= params.eps)):
                    m.d.sync += [converged.eq(1), stop_reason.eq(StopReason.CONVERGED),
                                 busy.eq(0)]
                    m.next = "IDLE"
                with m.Elif(done_steps == params.max_steps):
                    m.d.sync += [stop_reason.eq(StopReason.CAP), busy.eq(0)]
                    m.next = "IDLE"
                with m.Elif(stop_req):
                    m.d.sync += [stop_reason.eq(StopReason.STOP), busy.eq(0)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += max_du.eq(0)
                    m.d.comb += mac.go.eq(1)
                    m.next = "PASS"
