"""The graded-response engine (Hopfield 1984): fixed-point Euler integration of Eq. 5.

:class:`GradedEngine` runs ``docs/numerics.md`` section 11 and matches
``hopfield_fpga.sim.graded.run_graded_fixed`` bit for bit. It owns its memories:

- weights, in the binary engine's layout: word ``j * C + c`` holds column j, rows c*K .. c*K+K-1,
  lane l (row c*K + l) in bits [l*W_BITS, (l+1)*W_BITS) (C = ceil(N/K));
- biases by chunk: word c holds b_{c*K+l} in lane l (B_BITS each);
- potentials u, one per word (graded_u_bits, signed);
- outputs v in two banks (read-only to the host): a step reads one bank and writes the other,
  which is what makes the update synchronous;
- the sigmoid table (:class:`~.pwl_sigmoid.PWLSigmoid`, reset to the ``atan`` preset).

A step visits the chunks of K neurons in turn. For chunk c the K lanes multiply-accumulate
column words against v_j for j = 0..N-1 (N cycles, one W_BITS x 16 multiply per lane, which
maps onto one DSP per lane), then the K neurons of the chunk are updated one after another by
a single shared datapath (Euler step, gain, sigmoid; 8 cycles each). A step therefore takes
about C (N + 2) + 8 N cycles.

Interface (the binary engine's style, so that the command engine can attach both):

- ``access`` (stream of :func:`access_layout`): write or read one word of a memory; reads
  answer on ``read`` (stream of ``data_bits`` raw bits). Writes to V are ignored and addresses
  beyond a memory are ignored on write and read as 0. Only accepted while idle.
- ``run`` (stream of :data:`RunParams`): starts a run; accepted while idle.
- ``stop``: ends the run at the end of the current step (reported like a cap).
- ``status`` (:func:`status_layout`): busy, converged, capped, steps, max_du, cycles.
- ``trace`` (stream of :func:`trace_layout`): when the run asked for it, one record (step,
  index, u, v) per neuron per step in index order; the engine waits for the consumer.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import COUNTER_BITS, Feature, NetworkConfig
from ..numerics import (
    GRADED_EPS_BITS, GRADED_EXP_BITS, GRADED_FACTOR_BITS, GRADED_LEAK_SHIFT_BITS, GRADED_V_BITS,
    GRADED_V_FRAC, GRADED_X_BITS,
)
from .fixed_point import round_shift, saturate
from .pwl_sigmoid import PWLSigmoid, SigmoidEntry, TABLE_ADDR_BITS

__all__ = ["GradedTarget", "RunParams", "access_layout", "status_layout", "trace_layout",
           "data_bits", "ADDR_BITS", "GradedEngine", "weight_words", "bias_words",
           "table_words", "run_params"]

#: Width of the access address (the protocol's 16-bit addresses).
ADDR_BITS = 16


class GradedTarget(enum.Enum, shape=3):
    """Which memory an access addresses."""
    WEIGHT = 0   # addr = j * C + c
    BIAS = 1     # addr = chunk c
    U = 2        # addr = neuron i
    V = 3        # addr = neuron i (read only: the bank of the last completed pass)
    TABLE = 4    # addr = entry k; data = SigmoidEntry bits


#: The run parameters of docs/numerics.md 11.1 and 11.5.
RunParams = data.StructLayout({
    "gain_m": unsigned(GRADED_FACTOR_BITS),
    "gain_e": unsigned(GRADED_EXP_BITS),
    "dt_m": unsigned(GRADED_FACTOR_BITS),
    "dt_e": unsigned(GRADED_EXP_BITS),
    "leak_shift": unsigned(GRADED_LEAK_SHIFT_BITS),
    "eps": unsigned(GRADED_EPS_BITS),
    "max_steps": unsigned(COUNTER_BITS),
    "trace": unsigned(1),
})


def data_bits(config: NetworkConfig) -> int:
    """Width of an access word: the widest of a weight word, a bias word, u, v, a table entry."""
    return max(config.lanes * config.weight_bits, config.lanes * config.bias_bits,
               config.graded_u_bits, GRADED_V_BITS, SigmoidEntry.size)


def access_layout(config: NetworkConfig) -> data.StructLayout:
    return data.StructLayout({
        "target": GradedTarget,
        "write": unsigned(1),
        "addr": unsigned(ADDR_BITS),
        "data": unsigned(data_bits(config)),
    })


def status_layout(config: NetworkConfig) -> data.StructLayout:
    return data.StructLayout({
        "busy": unsigned(1),
        "converged": unsigned(1),
        "capped": unsigned(1),
        "steps": unsigned(COUNTER_BITS),
        "max_du": unsigned(config.graded_u_bits + 1),
        "cycles": unsigned(COUNTER_BITS),
    })


def trace_layout(config: NetworkConfig) -> data.StructLayout:
    return data.StructLayout({
        "step": unsigned(COUNTER_BITS),
        "index": unsigned(ADDR_BITS),
        "u": signed(config.graded_u_bits),
        "v": signed(GRADED_V_BITS),
    })


def _lanes(values, bits: int) -> int:
    mask = (1 << bits) - 1
    return sum((int(v) & mask) << (l * bits) for l, v in enumerate(values))


def weight_words(weights, config: NetworkConfig) -> list[int]:
    """The weight memory image: word j * C + c holds W[c*K + l][j] in lane l (0 past row N)."""
    n, k = config.neurons, config.lanes
    return [_lanes([weights[i][j] if i < n else 0 for i in range(c * k, c * k + k)],
                   config.weight_bits)
            for j in range(n) for c in range(config.chunks)]


def bias_words(bias, config: NetworkConfig) -> list[int]:
    """The bias memory image: word c holds b[c*K + l] in lane l."""
    n, k = config.neurons, config.lanes
    return [_lanes([bias[i] if i < n else 0 for i in range(c * k, c * k + k)], config.bias_bits)
            for c in range(config.chunks)]


def table_words(table) -> list[int]:
    """The access words of a sigmoid table ((x, y, m) entries) in SigmoidEntry bit order."""
    fields = [SigmoidEntry.members[name] for name in ("x", "y", "m")]
    words = []
    for entry in table:
        word, offset = 0, 0
        for value, shape in zip(entry, fields):
            word |= (int(value) & ((1 << shape.width) - 1)) << offset
            offset += shape.width
        words.append(word)
    return words


def run_params(params, *, trace: bool = False) -> dict:
    """A RunParams value (as a dict for ``RunParams.const``) from ``sim.graded.GradedParams``."""
    return {"gain_m": params.gain_m, "gain_e": params.gain_e, "dt_m": params.dt_m,
            "dt_e": params.dt_e, "leak_shift": params.leak_shift, "eps": params.eps,
            "max_steps": params.max_steps, "trace": int(trace)}


class GradedEngine(wiring.Component):
    """Graded-response network engine for one :class:`NetworkConfig` (see the module docs).

    Members
    -------
    access : In(stream.Signature(access_layout(config)))
    read : Out(stream.Signature(data_bits(config)))
    run : In(stream.Signature(RunParams))
    stop : In(1)
    status : Out(status_layout(config))
    trace : Out(stream.Signature(trace_layout(config)))
    """

    def __init__(self, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        if not config.has(Feature.GRADED):
            raise ValueError(f"This configuration does not build the graded engine "
                             f"(features {config.features!r} lack Feature.GRADED)")
        self.config = config
        super().__init__({
            "access": In(stream.Signature(access_layout(config))),
            "read": Out(stream.Signature(data_bits(config))),
            "run": In(stream.Signature(RunParams)),
            "stop": In(1),
            "status": Out(status_layout(config)),
            "trace": Out(stream.Signature(trace_layout(config))),
        })

    def elaborate(self, platform):
        cfg = self.config
        n, k_lanes, chunks = cfg.neurons, cfg.lanes, cfg.chunks
        wb, bb = cfg.weight_bits, cfg.bias_bits
        a_bits, u_bits = cfg.graded_acc_bits, cfg.graded_u_bits
        m = Module()

        m.submodules.sigmoid = sig = PWLSigmoid()
        m.submodules.wmem = wmem = Memory(shape=unsigned(k_lanes * wb), depth=n * chunks, init=[])
        m.submodules.bmem = bmem = Memory(shape=unsigned(k_lanes * bb), depth=chunks, init=[])
        m.submodules.umem = umem = Memory(shape=signed(u_bits), depth=n, init=[])
        m.submodules.vmem0 = vmem0 = Memory(shape=signed(GRADED_V_BITS), depth=n, init=[])
        m.submodules.vmem1 = vmem1 = Memory(shape=signed(GRADED_V_BITS), depth=n, init=[])
        w_rd, w_wr = wmem.read_port(), wmem.write_port()
        b_rd, b_wr = bmem.read_port(), bmem.write_port()
        u_rd, u_wr = umem.read_port(), umem.write_port()
        v0_rd, v0_wr = vmem0.read_port(), vmem0.write_port()
        v1_rd, v1_wr = vmem1.read_port(), vmem1.write_port()

        params = Signal(RunParams)
        bank = Signal()          # the bank holding the current v (read by the MAC)
        c = Signal(range(chunks))
        j = Signal(range(n + 1))
        lane = Signal(range(k_lanes))
        i = Signal(range(n + 1))
        waddr = Signal(range(n * chunks + chunks))
        acc = [Signal(signed(a_bits), name=f"acc{l}") for l in range(k_lanes)]
        mac_valid = Signal()
        init_pass = Signal()
        stop_req = Signal()

        steps = Signal(COUNTER_BITS)
        max_du = Signal(u_bits + 1)
        cycles = Signal(COUNTER_BITS)
        converged = Signal()
        capped = Signal()
        busy = Signal()
        m.d.comb += [
            self.status.busy.eq(busy), self.status.converged.eq(converged),
            self.status.capped.eq(capped), self.status.steps.eq(steps),
            self.status.max_du.eq(max_du), self.status.cycles.eq(cycles),
        ]
        with m.If(busy):
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(self.stop):
                m.d.sync += stop_req.eq(1)

        # -- the neuron datapath registers ------------------------------------------------------
        u_old = Signal(signed(u_bits))
        r = Signal(signed(a_bits + 8))
        q = Signal(signed(a_bits + 8 + GRADED_FACTOR_BITS + 1))
        u_new = Signal(signed(u_bits))
        p = Signal(signed(u_bits + GRADED_FACTOR_BITS + 1))
        ls = params.leak_shift
        m.d.comb += sig.x.eq(saturate(round_shift(p, params.gain_e), GRADED_X_BITS))

        acc_sel = Signal(signed(a_bits))
        bias_sel = Signal(signed(bb))
        with m.Switch(lane):
            for l in range(k_lanes):
                with m.Case(l):
                    m.d.comb += [acc_sel.eq(acc[l]),
                                 bias_sel.eq(b_rd.data[l * bb:(l + 1) * bb].as_signed())]
        field = acc_sel + bias_sel.shift_left(GRADED_V_FRAC)

        v_mac = Mux(bank, v1_rd.data, v0_rd.data)
        delta = u_new - u_old
        abs_delta = Mux(delta < 0, -delta, delta)

        # -- access decoding ----------------------------------------------------------------------
        acc_p = self.access.payload
        target_ok = Signal()
        with m.Switch(acc_p.target):
            with m.Case(GradedTarget.WEIGHT):
                m.d.comb += target_ok.eq(acc_p.addr < n * chunks)
            with m.Case(GradedTarget.BIAS):
                m.d.comb += target_ok.eq(acc_p.addr < chunks)
            with m.Case(GradedTarget.U, GradedTarget.V):
                m.d.comb += target_ok.eq(acc_p.addr < n)
            with m.Case(GradedTarget.TABLE):
                m.d.comb += target_ok.eq(acc_p.addr < (1 << TABLE_ADDR_BITS))
        read_target = Signal(GradedTarget)
        read_ok = Signal()
        read_data = Signal(self.read.payload.shape())

        # default read addresses: the engine's; the access path overrides them while idle
        m.d.comb += [
            w_rd.addr.eq(waddr), b_rd.addr.eq(c), u_rd.addr.eq(i),
            v0_rd.addr.eq(j), v1_rd.addr.eq(j),
            sig.read_addr.eq(acc_p.addr[:TABLE_ADDR_BITS]),
        ]

        trace_on = params.trace & ~init_pass
        m.d.comb += [
            self.trace.payload.step.eq(steps + 1),
            self.trace.payload.index.eq(i),
            self.trace.payload.u.eq(u_new),
            self.trace.payload.v.eq(sig.v),
        ]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.access.ready.eq(1), self.run.ready.eq(~self.access.valid)]
                m.d.comb += [w_rd.addr.eq(acc_p.addr), b_rd.addr.eq(acc_p.addr),
                             u_rd.addr.eq(acc_p.addr), v0_rd.addr.eq(acc_p.addr),
                             v1_rd.addr.eq(acc_p.addr)]
                with m.If(self.access.valid):
                    with m.If(acc_p.write):
                        with m.If(target_ok):
                            with m.Switch(acc_p.target):
                                with m.Case(GradedTarget.WEIGHT):
                                    m.d.comb += [w_wr.addr.eq(acc_p.addr), w_wr.en.eq(1),
                                                 w_wr.data.eq(acc_p.data)]
                                with m.Case(GradedTarget.BIAS):
                                    m.d.comb += [b_wr.addr.eq(acc_p.addr), b_wr.en.eq(1),
                                                 b_wr.data.eq(acc_p.data)]
                                with m.Case(GradedTarget.U):
                                    m.d.comb += [u_wr.addr.eq(acc_p.addr), u_wr.en.eq(1),
                                                 u_wr.data.eq(acc_p.data[:u_bits])]
                                with m.Case(GradedTarget.TABLE):
                                    m.d.comb += [sig.table_addr.eq(acc_p.addr), sig.table_we.eq(1),
                                                 sig.table_data.eq(acc_p.data[:SigmoidEntry.size])]
                    with m.Else():
                        m.d.sync += [read_target.eq(acc_p.target), read_ok.eq(target_ok)]
                        with m.If(acc_p.target == GradedTarget.TABLE):
                            m.d.sync += read_data.eq(sig.read_data.as_value())
                        m.next = "ACCESS_READ"
                with m.Elif(self.run.valid):
                    m.d.sync += [
                        params.eq(self.run.payload), busy.eq(1), converged.eq(0),
                        capped.eq(0), steps.eq(0), max_du.eq(0), cycles.eq(0), stop_req.eq(0),
                        bank.eq(1), init_pass.eq(1), i.eq(0), lane.eq(0), c.eq(0),
                    ]
                    m.next = "INIT_READ"

            with m.State("ACCESS_READ"):
                # the memories answer one cycle after the address
                with m.Switch(read_target):
                    with m.Case(GradedTarget.WEIGHT):
                        m.d.sync += read_data.eq(w_rd.data)
                    with m.Case(GradedTarget.BIAS):
                        m.d.sync += read_data.eq(b_rd.data)
                    with m.Case(GradedTarget.U):
                        m.d.sync += read_data.eq(u_rd.data.as_unsigned())
                    with m.Case(GradedTarget.V):
                        m.d.sync += read_data.eq(Mux(bank, v1_rd.data, v0_rd.data).as_unsigned())
                m.next = "ACCESS_REPLY"

            with m.State("ACCESS_REPLY"):
                m.d.comb += [self.read.valid.eq(1),
                             self.read.payload.eq(Mux(read_ok, read_data, 0))]
                with m.If(self.read.ready):
                    m.next = "IDLE"

            # -- initial pass: v0 = g(lambda u0) ---------------------------------------------------
            with m.State("INIT_READ"):
                m.next = "INIT_LOAD"
            with m.State("INIT_LOAD"):
                m.d.sync += [u_old.eq(u_rd.data), u_new.eq(u_rd.data)]
                m.next = "GAIN"

            # -- multiply-accumulate of one chunk ---------------------------------------------------
            with m.State("MAC"):
                with m.If(j < n):
                    m.d.sync += [j.eq(j + 1), waddr.eq(waddr + chunks), mac_valid.eq(1)]
                with m.Else():
                    m.d.sync += mac_valid.eq(0)
                    m.next = "MAC_DRAIN"
            with m.State("MAC_DRAIN"):
                # the last product was accumulated on the cycle that entered this state
                m.d.sync += [lane.eq(0), i.eq(c * k_lanes)]
                m.next = "READ_U"

            # -- the Euler step of one neuron ------------------------------------------------------
            with m.State("READ_U"):
                m.next = "FIELD"
            with m.State("FIELD"):
                m.d.sync += [u_old.eq(u_rd.data), r.eq((field << ls) - u_rd.data)]
                m.next = "SCALE"
            with m.State("SCALE"):
                m.d.sync += q.eq(params.dt_m * r)
                m.next = "INTEGRATE"
            with m.State("INTEGRATE"):
                m.d.sync += u_new.eq(saturate(u_old + round_shift(q, params.dt_e + ls), u_bits))
                m.next = "GAIN"
            with m.State("GAIN"):
                m.d.sync += p.eq(params.gain_m * u_new)
                m.next = "LOOKUP0"
            with m.State("LOOKUP0"):
                m.next = "LOOKUP1"
            with m.State("LOOKUP1"):
                m.next = "WRITE"
            with m.State("WRITE"):
                m.d.comb += self.trace.valid.eq(trace_on)
                with m.If(~trace_on | self.trace.ready):
                    m.d.comb += [u_wr.addr.eq(i), u_wr.data.eq(u_new), u_wr.en.eq(~init_pass),
                                 v0_wr.addr.eq(i), v0_wr.data.eq(sig.v), v0_wr.en.eq(bank),
                                 v1_wr.addr.eq(i), v1_wr.data.eq(sig.v), v1_wr.en.eq(~bank)]
                    with m.If(~init_pass & (abs_delta > max_du)):
                        m.d.sync += max_du.eq(abs_delta)
                    m.d.sync += [i.eq(i + 1), lane.eq(lane + 1)]
                    with m.If(init_pass):
                        with m.If(i == n - 1):
                            m.next = "PASS_END"
                        with m.Else():
                            m.next = "INIT_READ"
                    with m.Elif((i == n - 1) | (lane == k_lanes - 1)):
                        with m.If(c == chunks - 1):
                            m.next = "PASS_END"
                        with m.Else():
                            m.d.sync += c.eq(c + 1)
                            m.next = "MAC_START"
                    with m.Else():
                        m.next = "READ_U"

            with m.State("MAC_START"):
                m.d.sync += [j.eq(0), waddr.eq(c), mac_valid.eq(0)]
                m.d.sync += [a.eq(0) for a in acc]
                m.next = "MAC"

            with m.State("PASS_END"):
                m.d.sync += [bank.eq(~bank), init_pass.eq(0), c.eq(0), i.eq(0), lane.eq(0)]
                done_steps = Mux(init_pass, steps, steps + 1)
                m.d.sync += steps.eq(done_steps)
                with m.If(~init_pass & (max_du <= params.eps)):
                    m.d.sync += [converged.eq(1), busy.eq(0)]
                    m.next = "IDLE"
                with m.Elif((done_steps == params.max_steps) | stop_req):
                    m.d.sync += [capped.eq(1), busy.eq(0)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += max_du.eq(0)
                    m.next = "MAC_START"

        # the lanes accumulate one cycle after the MAC issued the addresses
        with m.If(mac_valid):
            for l in range(k_lanes):
                w_l = w_rd.data[l * wb:(l + 1) * wb].as_signed()
                m.d.sync += acc[l].eq(acc[l] + w_l * v_mac)
        return m
