"""The command engine: serves link-protocol frames (``hopfield_fpga.protocol``) on a binary engine.

It sits between the COBS decoder (frame bodies in, one ``end`` beat per delimiter) and the COBS
encoder (reply bodies out), and drives the binary engine through its ports
(``gateware/engine_ports.py``). A frame is buffered whole and checked (CRC, command, length,
address ranges, arguments, busy) BEFORE anything is done, so a bad frame gets an error reply
and changes nothing; frames shorter than a header and a CRC (noise between delimiters) are
dropped without a reply; a frame longer than the buffer gets ``Error.TOO_LONG``. The decoder's
``end`` beat always returns the receiver to the start of a frame, so garbage or a truncated
frame costs at most that frame.

Payload bytes become engine access words as they are read from the buffer (``word_bytes``
bytes per word, least significant first; states go through ``gateware/state_bits.py``, packed
bits <-> K-bit chunks); read replies are turned back into bytes as they stream to the
encoder, the CRC being computed on the fly. One request is served at a time, in order of
arrival; the frames that arrive meanwhile wait in the receive queue (``gateware/rx_queue.py``),
which also reports a STOP frame as it arrives (``stop_now``). A RUN returns at once; while it
runs, only the commands of ``protocol.READ_COMMANDS`` are served and every other one gets
``Error.BUSY``. RECALL and RECALL_MANY wait for their runs (forwarding trace events as TRACE
frames) and reply at the end. From the moment a STOP frame is queued until it is served, every
run is stopped (the one going on, and those that the frames queued before the STOP start): a
RECALL_MANY then replies with the probes done so far, the last one stopped (with
``config.replicas`` = 2, the last two were in progress and at least one of them stopped).
With ``protocol.RunFlags.PROBE_SEEDS`` each RECALL_MANY probe brings its own seed before its
state (``gateware/probe_seeds.py``), and its run gets that seed.

STORE (the only ``protocol.Repeat.DEDUPED`` command) is applied once per seq of its chain: the
engine keeps the seq of the last STORE applied and whether its chain is open, answers a repeat
of it with OK without applying it again, and refuses a STORE out of its chain's order with
``Error.SEQUENCE`` (``protocol.chain_verdict``); any other well-formed request closes the chain.

With ``Feature.GRADED`` the graded engine (``gateware/graded_ports.py``) is attached too: weight
and bias writes go to both engines (reads come from the binary engine), the graded commands
(``protocol.GRADED_COMMANDS``) drive it, and RUN_GRADED either replies at once or, with the WAIT
flag, forwards its trace as GRADED_TRACE frames and replies with GRADED_STATUS at the end.
Without the feature none of this is elaborated: the graded commands are unknown commands.
A graded-only configuration (no update orders, so no binary engine) is the mirror image: the
``engine`` port is left out, ``protocol.BINARY_COMMANDS`` are unknown commands, and weight and
bias reads and writes go to the graded engine alone.

Requests are decoded from the command table ``protocol.COMMANDS``: which commands this board
knows (by the engines built), each header's length and fields by name, which are served while
a run goes on. VALIDATE's decision is a :data:`Verdict` whose next step is a :class:`NextStep`.
"""

from __future__ import annotations

import dataclasses
import enum as enum_std
from contextlib import contextmanager
from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hopfield_fpga import protocol as P
from hopfield_fpga.protocol import LinkGeometry
from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.numerics import GRADED_SEGMENTS
from .block_ram import NO_RW_CHECK, collision_free_read
from .cobs import BodyByte
from .crc import crc16_next
from .engine_ports import AccessOp, EnginePorts, RunOrder, engine_signature
from .fixed_point import times
from .graded_ports import GradedAccessOp, GradedPorts, RunParams, graded_signature
from .probe_seeds import ProbeSeeds
from .rx_queue import QueuedByte
from .state_bits import BitsToChunks, ChunksToBits

__all__ = ["CommandEngine", "NextStep", "Verdict"]


class NextStep(enum.Enum, shape=4):
    """What the command engine does once VALIDATE accepted a request."""
    REPLY = 0            # send the reply header (then a status or the identification)
    WRITE_WORDS = 1      # payload bytes -> words -> accesses, then the reply
    CLEAR = 2            # one access (CLEAR, STORE_QUANTIZED), then the reply
    RUN = 3              # start a binary run, reply at once
    STOP = 4             # ask the running engine to stop, reply at once
    READ_WORDS = 5       # send the reply header, then the words read
    RECALL = 6           # write a probe, run, send status and state; per probe
    GRADED_RUN = 7       # start a graded run, reply at once
    GRADED_RUN_WAIT = 8  # start a graded run, forward its trace, reply at the end


#: VALIDATE's decision on a request: an error, or the next step.
Verdict = data.StructLayout({
    "length_bad": 1,      # -> Error.LENGTH
    "range_bad": 1,       # -> Error.ADDRESS
    "unsupported": 1,     # -> Error.UNSUPPORTED
    "arg_bad": 1,         # -> Error.ARGUMENT
    "order_bad": 1,       # -> Error.SEQUENCE (a STORE out of its chain's order)
    "next": NextStep,
})


@dataclasses.dataclass
class _Access:
    """The registers of the current access sequence, set up by VALIDATE."""
    op: Signal           # binary engine's AccessOp
    index: Signal        # column, neuron or entry
    chunk: Signal
    words_left: Signal
    word_bytes: Signal   # bytes per word on the wire
    graded_op: Signal | None = None    # graded engine's GradedAccessOp (Feature.GRADED)
    targets: Signal | None = None      # engines an access goes to: bit 0 binary, bit 1 graded
    by_index: Signal | None = None     # graded u, v, table words: the index steps


def _header_fields(hdr: Signal, command: P.Command) -> SimpleNamespace:
    """The fields of ``command``'s request header (``protocol.COMMANDS``) as slices of the
    header register, by name."""
    return SimpleNamespace(**{name: hdr[8 * offset:8 * (offset + size)] for name, (offset, size)
                              in P.COMMANDS[command].field_slices().items()})


class CommandEngine(wiring.Component):
    """Serves link-protocol requests on the engines of ``config`` (see the module docstring).

    ``clk_freq`` and ``baud`` are only reported by IDENTIFY (the UART is outside); both must be
    positive 32-bit integers.

    Members
    -------
    rx: In(stream of ``rx_queue.QueuedByte``)
        Frame bodies from the receive queue, one ``end`` beat per delimiter (``lost``: the
        frame found the queue full, answered with ``Error.OVERFLOW``; ``crc_bad``: the queue's
        CRC verdict, answered with ``Error.CRC``).
    stop_now: In(1)
        A STOP frame was just queued (the receive queue's ``stop``): until it is served, every
        run is stopped (the one going on and those the requests queued before it start) and a
        RECALL_MANY ends after its probe in progress.
    tx: Out(stream of ``cobs.BodyByte``)
        Reply bodies (CRC included) to the COBS encoder, ``last`` on the final byte.
    engine: In(engine_signature(config))
        The binary engine's ports, flipped (absent on a graded-only board).
    graded: In(graded_signature(config))
        The graded engine's ports, flipped (only with Feature.GRADED).
    active: Out(1)
        High while a request is served or a run goes on (not while a frame is received: the
        board top adds the frames waiting in the receive queue).
    replica: Out(range(R)), replicas_busy: In(1)
        Only with ``config.replicas`` = R > 1: the replica that ``engine`` reaches (a
        :class:`~hopfield_fpga.gateware.replica_dispatch.ReplicaDispatch` in between), and
        whether any replica is busy. RECALL_MANY keeps R probes running (probe k on replica
        k mod R, loaded while the others run, the results in probe order; docs/engine.md,
        "Replicas (part 2)"); every other request uses replica 0 (the dispatch broadcasts
        the writes every replica needs).
    """

    def __init__(self, config: NetworkConfig, clk_freq: int, baud: int):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        for name, v in (("clk_freq", clk_freq), ("baud", baud)):
            if not isinstance(v, int) or not 0 < v < 2**32:
                raise ValueError(f"{name} must be a positive 32-bit integer, not {v!r}")
        self.config = config
        self.clk_freq = clk_freq
        self.baud = baud
        self.geometry = LinkGeometry(config)
        self.ports = EnginePorts(config)
        members = {
            "rx": In(stream.Signature(QueuedByte)),
            "stop_now": In(1),
            "tx": Out(stream.Signature(BodyByte)),
            "active": Out(1),
        }
        if config.has_binary:
            members["engine"] = In(engine_signature(config))
        if config.replicas > 1:
            members.update({"replica": Out(range(config.replicas)), "replicas_busy": In(1)})
        if config.has(Feature.GRADED):
            self.graded_ports = GradedPorts(config)
            members["graded"] = In(graded_signature(config))
        super().__init__(members)

    def identify_reply(self) -> bytes:
        return P.IDENTIFY_REPLY.pack(P.PROTOCOL_VERSION, self.config.encode(), self.clk_freq,
                                     self.baud, P.MAX_PAYLOAD)

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        geo = self.geometry
        C = cfg.chunks
        Cmd = P.Command
        graded = cfg.has(Feature.GRADED)
        binary = cfg.has_binary
        # the commands this board decodes: protocol.COMMANDS less the engines not built
        built = {P.Target.LINK, P.Target.ANY}
        if binary:
            built.add(P.Target.BINARY)
            eng = self.engine
        else:
            # Graded-only: a stand-in for the binary engine's port, connected to nothing. Its
            # inputs read 0 and no command that drives it is decoded, so synthesis removes it.
            eng = engine_signature(cfg).flip().create(path=("no_binary",))
        if graded:
            built.add(P.Target.GRADED)
            gre = self.graded
        specs = {c: spec for c, spec in P.COMMANDS.items() if spec.target in built}
        hdr_bits = 8 * max(spec.header_size for spec in specs.values())

        # what is read while a frame is written into the buffer (RECV) is never used (HDR_READ
        # reads after CHECK): a collision-free read port
        m.submodules.buf = buf = Memory(shape=8, depth=P.MAX_BODY, init=[], attrs=NO_RW_CHECK)
        wr = buf.write_port()
        rd, byte = collision_free_read(m, buf, name="byte")
        rp = Signal(range(P.MAX_BODY + 1), init=P.REQUEST_HEADER)  # next body byte to read
        advance = Signal()                                          # byte consumed now
        m.d.comb += rd.addr.eq(Mux(advance, rp + 1, rp))
        with m.If(advance):
            m.d.sync += rp.eq(rp + 1)

        # -- reception -----------------------------------------------------------------------
        flen = Signal(range(P.MAX_BODY + 1))
        overflow = Signal()
        seq = Signal(8)
        cmd = Signal(8)
        err = Signal(8)
        reply_cmd = Signal(8)
        # STORE chains (protocol.Repeat): the seq of the last STORE applied and whether its
        # chain is still open; only a board that serves STORE keeps them
        dedupe = binary and cfg.has(Feature.HEBBIAN)
        if dedupe:
            last_store = Signal(8)
            chained = Signal()
            ahead = Signal(8)      # seq - last_store, mod 256
            m.d.comb += ahead.eq(seq - last_store)

        # -- header fields -------------------------------------------------------------------
        hdr = Signal(hdr_bits)
        hdr_len = Signal(range(hdr_bits // 8 + 1))
        with m.Switch(cmd):
            for c, spec in specs.items():
                with m.Case(int(c)):
                    m.d.comb += hdr_len.eq(spec.header_size)
        hdr_i = Signal(range(hdr_bits // 8 + 1))

        # the header fields by name, where protocol.COMMANDS puts them; commands that share a
        # layout share the slices (bias and state ranges; RUN, RECALL and RECALL_MANY begin alike)
        weights = _header_fields(hdr, Cmd.READ_WEIGHTS)
        chunks = _header_fields(hdr, Cmd.READ_STATE)
        store = _header_fields(hdr, Cmd.STORE)
        beta = _header_fields(hdr, Cmd.WRITE_BETA)
        run = _header_fields(hdr, Cmd.RUN)
        recall_many = _header_fields(hdr, Cmd.RECALL_MANY)
        index_range = _header_fields(hdr, Cmd.READ_U)
        graded_run = _header_fields(hdr, Cmd.RUN_GRADED)
        for a, b in ((Cmd.WRITE_BIAS, Cmd.READ_STATE), (Cmd.RECALL, Cmd.RUN),
                     (Cmd.READ_TABLE, Cmd.READ_U)):
            assert P.COMMANDS[a].field_slices() == P.COMMANDS[b].field_slices(), (a, b)
        assert P.COMMANDS[Cmd.RUN].field_slices().items() <= \
            P.COMMANDS[Cmd.RECALL_MANY].field_slices().items()
        run_stochastic = _flag(run.flags, P.RunFlags.STOCHASTIC)
        run_trace = _flag(run.flags, P.RunFlags.TRACE)
        if binary:
            m.submodules.probe_seeds = probe_seeds = ProbeSeeds()
            m.d.comb += [probe_seeds.flags.eq(run.flags), probe_seeds.header_seed.eq(run.seed),
                         probe_seeds.many.eq(cmd == Cmd.RECALL_MANY),
                         probe_seeds.byte.eq(byte)]
        g_trace = _flag(graded_run.flags, P.GradedRunFlags.TRACE)
        g_wait = _flag(graded_run.flags, P.GradedRunFlags.WAIT)
        payload_len = Signal(range(P.MAX_BODY + 1))
        m.d.comb += payload_len.eq(flen - P.REQUEST_HEADER - P.CRC_BYTES - hdr_len)

        # -- engine side ---------------------------------------------------------------------
        running = Signal()
        run_started = Signal()    # the cycle after a run transfer (busy not yet high)
        stop_req = Signal()
        # a STOP frame arrived (the receive queue's stop_now) and is not served yet: every run
        # started meanwhile is stopped, as if the STOP were served at once
        # (one flag: a STOP that arrives while another waits acts in its turn only)
        stops_pending = Signal()
        halt = Signal()
        m.d.comb += halt.eq(stop_req | stops_pending)
        started = eng.run.valid & eng.run.ready
        # with replicas, `eng` is the chosen one (its status too): a run goes on while any is busy
        R = cfg.replicas
        engine_busy = eng.status.busy if R == 1 else self.replicas_busy
        if graded:
            # one run at a time on either engine: `running` covers both, STOP reaches both
            started = started | (gre.run.valid & gre.run.ready)
            engine_busy = engine_busy | gre.status.busy
            m.d.comb += gre.stop.eq(halt)
        m.d.sync += run_started.eq(started)
        with m.If(started):
            m.d.sync += running.eq(1)
        with m.Elif(running & ~run_started & ~engine_busy):
            m.d.sync += [running.eq(0), stop_req.eq(0)]
        m.d.comb += eng.stop.eq(halt)

        op = Signal(AccessOp)
        a_index = Signal(16)
        a_chunk = Signal(16)
        words_left = Signal(16)
        graded_words = (geo.u_word, geo.v_word, geo.table_word) if graded else ()
        wb = Signal(range(max(geo.weight_word, geo.bias_word, 2, *graded_words) + 1))
        wmax = max(geo.weight_word, geo.bias_word, 2, *graded_words)
        word = Signal(8 * wmax)
        byte_i = Signal(range(wmax + 1))
        probes_left = Signal(16)      # RECALL_MANY's results not sent yet
        first_probe = Signal()
        if R > 1:
            # RECALL_MANY keeps R probes running: probe k on replica k mod R, loaded while
            # the others run, its result sent in probe order (docs/engine.md, "Replicas")
            loads_left = Signal(16)           # probes not loaded yet
            load_sel = Signal(range(R))       # the replica of the next probe loaded
            reply_sel = Signal(range(R))      # the replica of the next result sent

            def next_replica(sel):
                return Mux(sel == R - 1, 0, sel + 1)
        # states are packed bits on the wire and K-bit chunks at the engine (state_bits.py)
        packed = Signal()      # the words of this request are state chunks
        if binary:
            m.submodules.bits_in = bits_in = BitsToChunks(cfg)
            m.submodules.bits_out = bits_out = ChunksToBits(cfg)

        m.d.comb += [
            eng.access.payload.op.eq(op),
            eng.access.payload.index.eq(a_index),
            eng.access.payload.chunk.eq(a_chunk),
            eng.access.payload.data.eq(word),
            eng.run.payload.order.as_value().eq(run.order),
            eng.run.payload.stochastic.eq(run_stochastic),
            eng.run.payload.trace.eq(run_trace),
            eng.run.payload.seed.eq(probe_seeds.seed if binary else run.seed),
            eng.run.payload.max_visits.eq(run.max_visits),
            eng.run.payload.beta_len.eq(run.beta_len),
        ]
        if graded:
            gop = Signal(GradedAccessOp)
            tgt = Signal(2)        # engines an access goes to: bit 0 binary, bit 1 graded
            tgt_done = Signal(2)   # engines that took the current write access
            g_index = Signal()     # graded index-addressed words (u, v, table): index steps
            gr = gre.run.payload
            m.d.comb += [
                gre.access.payload.op.eq(gop),
                gre.access.payload.index.eq(a_index),
                gre.access.payload.chunk.eq(a_chunk),
                gre.access.payload.data.eq(word),
                gr.gain_m.eq(graded_run.gain_m), gr.gain_e.eq(graded_run.gain_e),
                gr.dt_m.eq(graded_run.dt_m), gr.dt_e.eq(graded_run.dt_e),
                gr.leak_shift.eq(graded_run.leak_shift), gr.eps.eq(graded_run.eps),
                gr.max_steps.eq(graded_run.max_steps), gr.trace.eq(g_trace),
            ]

        def load_probe():
            """Begin loading a recall's next probe (its seed first, with RunFlags.PROBE_SEEDS;
            then its state chunks): the sync statements to add where it begins."""
            if binary:
                m.d.comb += probe_seeds.start.eq(1)
            return [op.eq(AccessOp.WRITE_STATE), a_chunk.eq(0), words_left.eq(C)]

        def next_address():
            # Weights go chunk by chunk, then column by column; the others chunk by chunk.
            first = m.If
            if graded:
                with m.If(g_index):
                    m.d.sync += a_index.eq(a_index + 1)
                first = m.Elif
            with first((op == AccessOp.WRITE_WEIGHTS) | (op == AccessOp.READ_WEIGHTS)):
                with m.If(a_chunk == C - 1):
                    m.d.sync += [a_chunk.eq(0), a_index.eq(a_index + 1)]
                with m.Else():
                    m.d.sync += a_chunk.eq(a_chunk + 1)
            with m.Elif((op == AccessOp.WRITE_BETA) | (op == AccessOp.WRITE_THRESHOLD)):
                m.d.sync += a_index.eq(a_index + 1)
            with m.Elif((op == AccessOp.STORE_PATTERN) | (op == AccessOp.WRITE_PATTERN)):
                m.d.sync += a_chunk.eq(Mux(a_chunk == C - 1, 0, a_chunk + 1))
                with m.If((op == AccessOp.WRITE_PATTERN) & (a_chunk == C - 1)):
                    m.d.sync += a_index.eq(a_index + 1)      # the buffer's next entry
            with m.Else():
                m.d.sync += a_chunk.eq(a_chunk + 1)

        # -- status bytes (protocol.STATUS) ------------------------------------------------
        st = eng.status
        energy64 = Signal(signed(64))
        m.d.comb += energy64.eq(st.energy2)
        assert len(st.stop_reason.as_value()) == P.STOP_REASON_BITS
        assert P.StatusFlags.FIELDS_VALID == 1 << (P.STOP_REASON_SHIFT + P.STOP_REASON_BITS)
        status_bytes = Cat(st.busy, st.converged, st.stop_reason.as_value(), st.fields_valid,
                           Const(0, 2), st.unstable, Const(0, 16 - len(st.unstable)),
                           st.visits, st.flips, st.cycles, st.refresh_cycles, energy64)
        assert len(status_bytes) == 8 * P.STATUS.size

        # a binary trace event is copied, so that the engine goes on while it is sent; a graded
        # one is sent straight from the engine's stream (held until its last byte is out),
        # which saves its 16 bytes of flip-flops: the graded engine stalls meanwhile anyway
        trace_ev = Signal(8 * P.TRACE_EVENT.size)
        tp = eng.trace.payload
        delta32 = Signal(signed(32))
        m.d.comb += delta32.eq(tp.delta_energy2)
        trace_bytes = Cat(tp.visit, tp.index, Const(0, 16 - len(tp.index)), tp.value,
                          Const(0, 7), delta32)
        assert len(trace_bytes) == 8 * P.TRACE_EVENT.size
        in_trace = Signal()

        if graded:
            # protocol.GRADED_STATUS and GRADED_TRACE_EVENT
            gst = gre.status
            assert len(gst.max_du) <= 64
            g_status_bytes = Cat(gst.busy, gst.converged, gst.stop_reason.as_value(),
                                 Const(0, 6 - P.STOP_REASON_BITS),
                                 gst.steps, gst.max_du, Const(0, 64 - len(gst.max_du)),
                                 gst.cycles)
            assert len(g_status_bytes) == 8 * P.GRADED_STATUS.size
            gtp = gre.trace.payload
            u64 = Signal(signed(64))
            m.d.comb += u64.eq(gtp.u)
            g_trace_bytes = Cat(gtp.step, gtp.index, Const(0, 16 - len(gtp.index)), u64, gtp.v)
            assert len(g_trace_bytes) == 8 * P.GRADED_TRACE_EVENT.size

        ident = self.identify_reply()
        ident_const = Const(int.from_bytes(ident, "little"), 8 * len(ident))

        # -- transmission: every byte sent updates the CRC ----------------------------------
        crc_tx = Signal(16, init=P.CRC_INIT)
        out_sizes = (P.GRADED_STATUS.size, P.GRADED_TRACE_EVENT.size) if graded else ()
        out_i = Signal(range(max(P.STATUS.size, P.TRACE_EVENT.size, len(ident), *out_sizes) + 1))
        sending_crc = Signal()
        with m.If(self.tx.valid & self.tx.ready & ~sending_crc):
            m.d.sync += crc_tx.eq(crc16_next(crc_tx, self.tx.payload.data))

        def send(value, then=None):
            """Offer ``value``; when taken, go to state ``then`` (if given)."""
            m.d.comb += [self.tx.valid.eq(1), self.tx.payload.data.eq(value)]
            if then is not None:
                with m.If(self.tx.ready):
                    m.next = then

        @contextmanager
        def bytes_out(state, value, size):
            """State ``state`` sends ``size`` bytes of ``value``, least significant first
            (``out_i`` counts them); the with-block runs in the cycle the last one is taken."""
            with m.State(state):
                send(value.word_select(out_i, 8))
                with m.If(self.tx.ready):
                    m.d.sync += out_i.eq(out_i + 1)
                    with m.If(out_i == size - 1):
                        yield

        def by_engine(is_graded, graded_state, binary_state):
            """Go to ``graded_state`` where ``is_graded`` holds, else to ``binary_state``; with
            one engine built, to that engine's state."""
            if graded and binary:
                with m.If(is_graded):
                    m.next = graded_state
                with m.Else():
                    m.next = binary_state
            else:
                m.next = graded_state if graded else binary_state

        def offer(state, to, then):
            """State ``state`` offers one transfer on stream ``to``, then goes to ``then``."""
            with m.State(state):
                m.d.comb += to.valid.eq(1)
                with m.If(to.ready):
                    m.next = then

        def valid_order():
            ok = Const(0, 1)
            for o in cfg.orders:
                ok = ok | (run.order == int(o))
            known_flags = int(P.RunFlags.STOCHASTIC | P.RunFlags.TRACE | P.RunFlags.PROBE_SEEDS)
            bad = (~ok | ((run.flags & (0xFF ^ known_flags)) != 0)
                   | (run.beta_len > cfg.beta_depth)
                   | (run_stochastic & (run.order == RunOrder.REJECTION_FREE.value))
                   | (run_stochastic & (run.order == RunOrder.SYNCHRONOUS.value)))
            unsupported = Const(0, 1)
            if not cfg.has(Feature.STOCHASTIC):
                unsupported = unsupported | run_stochastic
            if not cfg.has(Feature.TRACE):
                unsupported = unsupported | run_trace
            return bad, unsupported


        stop_served = Signal()
        with m.FSM(name="cmd") as fsm:
            with m.State("RECV"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(self.rx.valid):
                    with m.If(self.rx.payload.end):
                        m.d.sync += [flen.eq(0), overflow.eq(0), hdr_i.eq(0), in_trace.eq(0),
                                     first_probe.eq(1)]
                        with m.If(self.rx.payload.lost):
                            # not executed; the queue kept the frame's seq in the end beat
                            # its cmd byte came if flen >= REQUEST_HEADER (2): a bit test
                            assert P.REQUEST_HEADER == 2
                            m.d.sync += [seq.eq(self.rx.payload.data), err.eq(P.Error.OVERFLOW),
                                         reply_cmd.eq(Mux(flen[1:].any(), cmd, 0))]
                            m.next = "HDR_SEQ"
                        with m.Elif(self.rx.payload.error
                                    | (flen < P.REQUEST_HEADER + P.CRC_BYTES)):
                            pass    # noise or a cut frame: nothing to answer
                        with m.Elif(overflow):
                            m.d.sync += [err.eq(P.Error.TOO_LONG), reply_cmd.eq(cmd)]
                            m.next = "HDR_SEQ"
                        with m.Elif(self.rx.payload.crc_bad):    # the queue's verdict
                            m.d.sync += [err.eq(P.Error.CRC), reply_cmd.eq(cmd)]
                            m.next = "HDR_SEQ"
                        with m.Else():
                            m.d.sync += [flen.eq(flen), reply_cmd.eq(cmd)]
                            m.next = "CHECK"
                    with m.Else():
                        with m.If(flen == P.MAX_BODY):
                            m.d.sync += overflow.eq(1)
                        with m.Else():
                            m.d.comb += [wr.addr.eq(flen), wr.data.eq(self.rx.payload.data),
                                         wr.en.eq(1)]
                            m.d.sync += flen.eq(flen + 1)
                            with m.If(flen == 0):
                                m.d.sync += seq.eq(self.rx.payload.data)
                            with m.If(flen == 1):
                                m.d.sync += cmd.eq(self.rx.payload.data)

            with m.State("CHECK"):
                known = Const(0, 1)
                reads = Const(0, 1)
                for c, spec in specs.items():
                    known = known | (cmd == int(c))
                    if spec.while_busy:
                        reads = reads | (cmd == int(c))
                if dedupe:
                    # any other well-formed request closes the chain
                    with m.If(cmd != Cmd.STORE):
                        m.d.sync += chained.eq(0)
                with m.If(~known):
                    m.d.sync += err.eq(P.Error.UNKNOWN_COMMAND)
                    m.next = "HDR_SEQ"
                if dedupe:
                    with m.Elif((cmd == Cmd.STORE) & chained & (ahead == 0)):
                        # a repeat of the STORE applied last: answered as then, not applied
                        m.d.sync += err.eq(P.Error.OK)
                        m.next = "HDR_SEQ"
                with m.Elif(running & ~reads):
                    m.d.sync += err.eq(P.Error.BUSY)
                    m.next = "HDR_SEQ"
                with m.Elif(flen < P.REQUEST_HEADER + P.CRC_BYTES + hdr_len):
                    m.d.sync += err.eq(P.Error.LENGTH)
                    m.next = "HDR_SEQ"
                with m.Else():
                    m.next = "HDR_READ"

            with m.State("HDR_READ"):
                with m.If(hdr_i == hdr_len):
                    m.next = "VALIDATE"
                with m.Else():
                    m.d.comb += advance.eq(1)
                    m.d.sync += [hdr.word_select(hdr_i, 8).eq(byte), hdr_i.eq(hdr_i + 1)]

            with m.State("VALIDATE"):
                # Everything is decided here, before the first access: a bad frame changes nothing.
                m.d.sync += [err.eq(P.Error.OK), byte_i.eq(0), a_index.eq(0), a_chunk.eq(0),
                             packed.eq(0)]
                if R > 1:      # every request but RECALL_MANY's later probes: replica 0
                    m.d.sync += [load_sel.eq(0), reply_sel.eq(0)]
                if binary:
                    # no seed bytes left from a refused request (a recall's load starts again)
                    m.d.comb += probe_seeds.start.eq(1)
                    # a state range begins at its chunk, STORE and recalls at chunk 0
                    ranged = ((cmd == Cmd.WRITE_STATE) | (cmd == Cmd.READ_STATE)
                              | (cmd == Cmd.WRITE_CLAMP) | (cmd == Cmd.READ_CYCLE_STATE))
                    for block in (bits_in, bits_out):
                        m.d.comb += [block.start.eq(1),
                                     block.first.eq(Mux(ranged, chunks.chunk, 0))]
                if graded:
                    m.d.sync += [tgt.eq(0b01), g_index.eq(0)]
                verdict = Signal(Verdict)
                length_bad, range_bad = verdict.length_bad, verdict.range_bad
                arg_bad, unsupported, nxt = verdict.arg_bad, verdict.unsupported, verdict.next
                order_bad = verdict.order_bad
                with m.Switch(cmd):
                    with m.Case(Cmd.WRITE_WEIGHTS, Cmd.READ_WEIGHTS):
                        write = cmd == Cmd.WRITE_WEIGHTS
                        start = times(weights.column, C) + weights.chunk
                        m.d.comb += [
                            length_bad.eq(Mux(write,
                                              payload_len != times(weights.count, geo.weight_word),
                                              payload_len != 0)),
                            range_bad.eq((weights.column >= cfg.neurons) | (weights.chunk >= C)
                                         | (start + weights.count > geo.weight_words)
                                         | (~write & (weights.count > geo.max_read["weights"]))),
                            nxt.eq(Mux(write, NextStep.WRITE_WORDS, NextStep.READ_WORDS)),
                        ]
                        with m.If(write):
                            m.d.sync += op.eq(AccessOp.WRITE_WEIGHTS)
                            if graded:
                                m.d.sync += [gop.eq(GradedAccessOp.WRITE_WEIGHTS),
                                             tgt.eq(0b11 if binary else 0b10)]
                        with m.Else():
                            m.d.sync += op.eq(AccessOp.READ_WEIGHTS)
                            if not binary:
                                m.d.sync += [gop.eq(GradedAccessOp.READ_WEIGHTS), tgt.eq(0b10)]
                        m.d.sync += [a_index.eq(weights.column), a_chunk.eq(weights.chunk),
                                     words_left.eq(weights.count), wb.eq(geo.weight_word)]
                    with m.Case(Cmd.WRITE_BIAS, Cmd.READ_BIAS, Cmd.WRITE_STATE, Cmd.READ_STATE,
                                Cmd.WRITE_CLAMP, Cmd.READ_CYCLE_STATE):
                        write = ((cmd == Cmd.WRITE_BIAS) | (cmd == Cmd.WRITE_STATE)
                                 | (cmd == Cmd.WRITE_CLAMP))
                        bias = (cmd == Cmd.WRITE_BIAS) | (cmd == Cmd.READ_BIAS)
                        maxr = Mux(bias, geo.max_read["bias"], geo.max_read["state"])
                        # products by constants (see `times`); a state range is packed bits,
                        # K a chunk and fewer in the last (LinkGeometry.state_range_bytes)
                        to_end = chunks.chunk + chunks.count == C
                        state_bits = Mux(chunks.count == 0, 0,
                                         Mux(to_end, cfg.neurons - times(chunks.chunk, cfg.lanes),
                                             times(chunks.count, cfg.lanes)))
                        expect = Mux(bias, times(chunks.count, geo.bias_word),
                                     (state_bits + 7) >> 3)
                        m.d.comb += [
                            length_bad.eq(Mux(write, payload_len != expect,
                                              payload_len != 0)),
                            range_bad.eq((chunks.chunk + chunks.count > C)
                                         | (~write & (chunks.count > maxr))),
                            nxt.eq(Mux(write, NextStep.WRITE_WORDS, NextStep.READ_WORDS)),
                            # only the column engine has a clamp mask (§12) and the
                            # synchronous order's cycle state (§13)
                            unsupported.eq(((cmd == Cmd.WRITE_CLAMP)
                                            | (cmd == Cmd.READ_CYCLE_STATE))
                                           if cfg.engine != "column" else 0),
                        ]
                        with m.Switch(cmd):
                            for c, o in ((Cmd.WRITE_CLAMP, AccessOp.WRITE_CLAMP),
                                         (Cmd.READ_CYCLE_STATE, AccessOp.READ_CYCLE),
                                         (Cmd.WRITE_BIAS, AccessOp.WRITE_BIAS),
                                         (Cmd.READ_BIAS, AccessOp.READ_BIAS),
                                         (Cmd.WRITE_STATE, AccessOp.WRITE_STATE),
                                         (Cmd.READ_STATE, AccessOp.READ_STATE)):
                                with m.Case(c):
                                    m.d.sync += op.eq(o)
                        m.d.sync += [a_chunk.eq(chunks.chunk), words_left.eq(chunks.count),
                                     wb.eq(geo.bias_word), packed.eq(~bias)]
                        if graded:
                            with m.If(cmd == Cmd.WRITE_BIAS):
                                m.d.sync += [gop.eq(GradedAccessOp.WRITE_BIAS),
                                             tgt.eq(0b11 if binary else 0b10)]
                            if not binary:
                                with m.If(cmd == Cmd.READ_BIAS):
                                    m.d.sync += [gop.eq(GradedAccessOp.READ_BIAS), tgt.eq(0b10)]
                    with m.Case(Cmd.STOP):
                        m.d.comb += [length_bad.eq(payload_len != 0), nxt.eq(NextStep.STOP)]
                    with m.Case(Cmd.IDENTIFY, Cmd.READ_STATUS):
                        m.d.comb += [length_bad.eq(payload_len != 0), nxt.eq(NextStep.REPLY)]
                    if graded:
                        access = _Access(op=op, index=a_index, chunk=a_chunk,
                                         words_left=words_left, word_bytes=wb, graded_op=gop,
                                         targets=tgt, by_index=g_index)
                        self._graded_validate(m, cmd, index_range, graded_run, access, verdict,
                                              payload_len)
                    if binary:
                        with m.Case(Cmd.STORE):
                            m.d.comb += [length_bad.eq(
                                             payload_len != times(store.count, geo.state_bytes)),
                                         unsupported.eq(0 if dedupe else 1),
                                         nxt.eq(NextStep.WRITE_WORDS)]
                            if dedupe:
                                # protocol.chain_verdict (the repeat was answered in CHECK)
                                begins = _flag(store.flags, P.StoreFlags.FIRST)
                                in_window = (ahead != 0) & ~ahead[-1]
                                assert P.CHAIN_WINDOW == 1 << 7
                                known_flags = int(P.StoreFlags.FIRST)
                                m.d.comb += [
                                    arg_bad.eq((store.flags & (0xFF ^ known_flags)) != 0),
                                    order_bad.eq(Mux(begins, chained & ~in_window,
                                                     ~chained | (ahead != 1)))]
                            m.d.sync += [op.eq(AccessOp.STORE_PATTERN),
                                         words_left.eq(times(store.count, C)), packed.eq(1)]
                        with m.Case(Cmd.WRITE_BETA):
                            m.d.comb += [length_bad.eq(
                                             payload_len != times(beta.count, geo.beta_word)),
                                         range_bad.eq(
                                             beta.first + beta.count > cfg.beta_depth),
                                         unsupported.eq(0 if cfg.has(Feature.STOCHASTIC) else 1),
                                         nxt.eq(NextStep.WRITE_WORDS)]
                            m.d.sync += [op.eq(AccessOp.WRITE_BETA), a_index.eq(beta.first),
                                         words_left.eq(beta.count), wb.eq(geo.beta_word)]
                        with m.Case(Cmd.CLEAR):
                            m.d.comb += [length_bad.eq(payload_len != 0), nxt.eq(NextStep.CLEAR)]
                            m.d.sync += op.eq(AccessOp.CLEAR)
                        self._qstore_validate(
                            m, index_range, store, verdict, payload_len,
                            _Access(op=op, index=a_index, chunk=a_chunk,
                                    words_left=words_left, word_bytes=wb), packed, word)
                        with m.Case(Cmd.RUN):
                            bad, unsup = valid_order()
                            m.d.comb += [length_bad.eq(payload_len != 0),
                                         arg_bad.eq(bad | probe_seeds.flag),
                                         unsupported.eq(unsup), nxt.eq(NextStep.RUN)]
                        with m.Case(Cmd.RECALL, Cmd.RECALL_MANY):
                            bad, unsup = valid_order()
                            many = cmd == Cmd.RECALL_MANY
                            count = Mux(many, recall_many.count, 1)
                            # RunFlags.PROBE_SEEDS (RECALL_MANY only): a seed before each probe
                            seeded = probe_seeds.flag & many
                            m.d.comb += [
                                length_bad.eq(payload_len != Mux(
                                    seeded, times(count, geo.state_bytes + P.PROBE_SEED.size),
                                    times(count, geo.state_bytes))),
                                range_bad.eq(many & (recall_many.count > Mux(
                                    seeded, geo.max_recall_many_seeded, geo.max_recall_many))),
                                arg_bad.eq(bad | (many & run_trace)
                                           | (~many & probe_seeds.flag)),
                                unsupported.eq(unsup), nxt.eq(NextStep.RECALL)]
                            m.d.sync += [*load_probe(), packed.eq(1), probes_left.eq(count)]
                            if R > 1:
                                m.d.sync += loads_left.eq(count)
                with m.If(length_bad):
                    m.d.sync += err.eq(P.Error.LENGTH)
                    m.next = "HDR_SEQ"
                with m.Elif(range_bad):
                    m.d.sync += err.eq(P.Error.ADDRESS)
                    m.next = "HDR_SEQ"
                with m.Elif(unsupported):
                    m.d.sync += err.eq(P.Error.UNSUPPORTED)
                    m.next = "HDR_SEQ"
                with m.Elif(arg_bad):
                    m.d.sync += err.eq(P.Error.ARGUMENT)
                    m.next = "HDR_SEQ"
                with m.Elif(order_bad):
                    m.d.sync += err.eq(P.Error.SEQUENCE)
                    m.next = "HDR_SEQ"
                with m.Else():
                    if dedupe:
                        with m.If(cmd == Cmd.STORE):    # applied: the chain's last
                            m.d.sync += [last_store.eq(seq), chained.eq(1)]
                    with m.Switch(nxt):
                        with m.Case(NextStep.REPLY, NextStep.READ_WORDS):
                            m.next = "HDR_SEQ"
                        with m.Case(NextStep.WRITE_WORDS, NextStep.RECALL):
                            m.next = "WORD_IN"
                        if binary:
                            with m.Case(NextStep.CLEAR):
                                m.next = "ISSUE_ONE"
                            with m.Case(NextStep.RUN):
                                m.next = "RUN"
                        with m.Case(NextStep.STOP):
                            m.d.sync += stop_req.eq(running)
                            m.d.comb += stop_served.eq(1)
                            m.next = "HDR_SEQ"
                        if graded:
                            with m.Case(NextStep.GRADED_RUN):
                                m.next = "G_RUN"
                            with m.Case(NextStep.GRADED_RUN_WAIT):
                                m.next = "G_RUN_WAIT"

            # -- writes: bytes -> words -> accesses ----------------------------------------
            with m.State("WORD_IN"):
                first_in = m.If
                if binary:
                    with m.If(probe_seeds.loading):     # a probe's seed comes before its state
                        m.d.comb += [advance.eq(1), probe_seeds.take.eq(1)]
                    first_in = m.Elif
                with first_in(words_left == 0):
                    m.next = "HDR_SEQ"
                    if binary:
                        with m.If((cmd == Cmd.RECALL) | (cmd == Cmd.RECALL_MANY)):
                            m.next = "RECALL_RUN"
                with m.Elif(packed):
                    # bytes into the unpacker until it has the chunk's bits (binary only)
                    if binary:
                        m.d.comb += [bits_in.i.payload.eq(byte), bits_in.i.valid.eq(1),
                                     advance.eq(bits_in.i.ready), bits_in.o.ready.eq(1)]
                        with m.If(bits_in.o.valid):
                            m.d.sync += word.eq(bits_in.o.payload)
                            m.next = "WORD_ISSUE"
                with m.Elif(byte_i == wb):
                    m.d.sync += byte_i.eq(0)
                    m.next = "WORD_ISSUE"
                with m.Else():
                    m.d.comb += advance.eq(1)
                    m.d.sync += byte_i.eq(byte_i + 1)
                    with m.If(byte_i == 0):
                        m.d.sync += word.eq(byte)
                    with m.Else():
                        m.d.sync += word.word_select(byte_i, 8).eq(byte)
            with m.State("WORD_ISSUE"):
                if graded:
                    # weight and bias writes go to both engines, each takes the word once
                    pend = tgt & ~tgt_done
                    took = Cat(pend[0] & eng.access.ready, pend[1] & gre.access.ready)
                    m.d.comb += [eng.access.valid.eq(pend[0]), gre.access.valid.eq(pend[1])]
                    with m.If((pend & ~took) == 0):
                        next_address()
                        m.d.sync += [words_left.eq(words_left - 1), tgt_done.eq(0)]
                        m.next = "WORD_IN"
                    with m.Else():
                        m.d.sync += tgt_done.eq(tgt_done | took)
                else:
                    m.d.comb += eng.access.valid.eq(1)
                    with m.If(eng.access.ready):
                        next_address()
                        m.d.sync += words_left.eq(words_left - 1)
                        m.next = "WORD_IN"
            if binary:
                offer("ISSUE_ONE", eng.access, "HDR_SEQ")
                offer("RUN", eng.run, "HDR_SEQ")
            if graded:
                offer("G_RUN", gre.run, "HDR_SEQ")
                offer("G_RUN_WAIT", gre.run, "G_WAIT")
                with m.State("G_WAIT"):
                    with m.If(gre.trace.valid):
                        m.d.sync += [in_trace.eq(1), reply_cmd.eq(Cmd.GRADED_TRACE)]
                        m.next = "HDR_SEQ"
                    with m.Elif(~running & ~run_started):
                        m.d.sync += [out_i.eq(0), reply_cmd.eq(cmd)]
                        m.next = "HDR_SEQ"

            # -- recall: run, forward the trace, then the results --------------------------
            if binary and R == 1:
                offer("RECALL_RUN", eng.run, "RECALL_WAIT")
            elif binary:
                with m.State("RECALL_RUN"):
                    m.d.comb += eng.run.valid.eq(1)
                    with m.If(eng.run.ready):
                        m.d.sync += [loads_left.eq(loads_left - 1),
                                     load_sel.eq(next_replica(load_sel))]
                        m.next = "RECALL_WAIT"
                        # while fewer than R probes run, load the next one at once
                        with m.If((loads_left + (R - 1) > probes_left) & (loads_left != 1)
                                  & ~halt):
                            m.d.sync += load_probe()
                            m.next = "WORD_IN"
            if binary:
                # the run of this result's replica ended (`running` is any replica's)
                run_ended = (~running if R == 1 else ~eng.status.busy) & ~run_started
                with m.State("RECALL_WAIT"):
                    with m.If(eng.trace.valid):
                        m.d.sync += [in_trace.eq(1), reply_cmd.eq(Cmd.TRACE),
                                     trace_ev.eq(trace_bytes)]
                        m.d.comb += eng.trace.ready.eq(1)
                        m.next = "HDR_SEQ"
                    with m.Elif(run_ended):
                        m.d.sync += [out_i.eq(0), reply_cmd.eq(cmd)]
                        with m.If(first_probe):
                            m.next = "HDR_SEQ"
                        with m.Else():
                            m.next = "STATUS_OUT"

            # -- reply: seq, cmd, error, payload, crc --------------------------------------
            with m.State("HDR_SEQ"):
                m.d.sync += [crc_tx.eq(P.CRC_INIT), out_i.eq(0)]
                # crc_tx is reset here and updated by this byte in the same edge: do it by hand
                send(seq)
                with m.If(self.tx.ready):
                    m.d.sync += crc_tx.eq(crc16_next(Const(P.CRC_INIT, 16), seq))
                    m.next = "HDR_CMD"
            with m.State("HDR_CMD"):
                send(reply_cmd, "HDR_ERR")
            with m.State("HDR_ERR"):
                send(err)
                with m.If(self.tx.ready):
                    with m.If(err != 0):
                        m.next = "CRC_HI"
                    with m.Elif(in_trace):
                        by_engine(reply_cmd == Cmd.GRADED_TRACE, "G_TRACE_OUT", "TRACE_OUT")
                    with m.Else():
                        with m.Switch(cmd):
                            with m.Case(Cmd.IDENTIFY):
                                m.next = "IDENT_OUT"
                            if binary:
                                with m.Case(Cmd.READ_STATUS, Cmd.RECALL, Cmd.RECALL_MANY):
                                    m.next = "STATUS_OUT"
                            with m.Case(Cmd.READ_WEIGHTS, Cmd.READ_BIAS, Cmd.READ_STATE,
                                        Cmd.READ_CYCLE_STATE):
                                m.next = "READ_ISSUE"
                            if graded:
                                with m.Case(Cmd.READ_U, Cmd.READ_V, Cmd.READ_TABLE):
                                    m.next = "READ_ISSUE"
                                with m.Case(Cmd.READ_GRADED_STATUS):
                                    m.next = "G_STATUS_OUT"
                                with m.Case(Cmd.RUN_GRADED):
                                    with m.If(g_wait):     # the status at the end
                                        m.next = "G_STATUS_OUT"
                                    with m.Else():
                                        m.next = "CRC_HI"
                            with m.Default():
                                m.next = "CRC_HI"
            with bytes_out("IDENT_OUT", ident_const, len(ident)):
                m.next = "CRC_HI"
            if binary:
                with bytes_out("TRACE_OUT", trace_ev, P.TRACE_EVENT.size):
                    m.next = "CRC_HI"
            if graded:
                with bytes_out("G_TRACE_OUT", g_trace_bytes, P.GRADED_TRACE_EVENT.size):
                    m.d.comb += gre.trace.ready.eq(1)
                    m.next = "CRC_HI"
                with bytes_out("G_STATUS_OUT", g_status_bytes, P.GRADED_STATUS.size):
                    m.next = "CRC_HI"
            if binary:
                with bytes_out("STATUS_OUT", status_bytes, P.STATUS.size):
                    with m.If((cmd == Cmd.RECALL) | (cmd == Cmd.RECALL_MANY)):
                        m.d.sync += [op.eq(AccessOp.READ_STATE), a_chunk.eq(0),
                                     words_left.eq(C), first_probe.eq(0)]
                        m.next = "READ_ISSUE"
                    with m.Else():
                        m.next = "CRC_HI"

            # -- reads: accesses -> words -> bytes -----------------------------------------
            with m.State("READ_ISSUE"):
                with m.If(words_left == 0):
                    m.next = "CRC_HI"
                    if binary:
                        with m.If((cmd == Cmd.RECALL) | (cmd == Cmd.RECALL_MANY)):
                            m.d.sync += probes_left.eq(probes_left - 1)
                            # a STOP ends a RECALL_MANY after the probes in progress
                            more = (probes_left != 1) if R == 1 else (loads_left != 0)
                            if R > 1:
                                m.d.sync += reply_sel.eq(next_replica(reply_sel))
                            with m.If(more & ~halt):
                                m.d.sync += load_probe()
                                m.next = "WORD_IN"
                            if R > 1:
                                with m.Elif(probes_left != loads_left + 1):   # still running
                                    m.next = "RECALL_WAIT"
                with m.Else():
                    if graded:
                        # a read goes to one engine (tgt is 0b01 or 0b10)
                        m.d.comb += [eng.access.valid.eq(tgt[0]), gre.access.valid.eq(tgt[1])]
                        with m.If(Mux(tgt[1], gre.access.ready, eng.access.ready)):
                            m.next = "READ_WAIT"
                    else:
                        m.d.comb += eng.access.valid.eq(1)
                        with m.If(eng.access.ready):
                            m.next = "READ_WAIT"
            with m.State("READ_WAIT"):
                if graded:
                    m.d.comb += [eng.reply.ready.eq(tgt[0]), gre.reply.ready.eq(tgt[1])]
                    reply_valid = Mux(tgt[1], gre.reply.valid, eng.reply.valid)
                    reply_data = Mux(tgt[1], gre.reply.payload.data, eng.reply.payload.data)
                else:
                    m.d.comb += eng.reply.ready.eq(1)
                    reply_valid, reply_data = eng.reply.valid, eng.reply.payload.data
                if binary:
                    # a state chunk goes to the packer (empty here: READ_OUT drained it)
                    m.d.comb += [bits_out.i.valid.eq(reply_valid & packed),
                                 bits_out.i.payload.chunk.eq(reply_data),
                                 bits_out.i.payload.last.eq(words_left == 1)]
                with m.If(reply_valid):
                    m.d.sync += [word.eq(reply_data), byte_i.eq(0)]
                    next_address()
                    m.d.sync += words_left.eq(words_left - 1)
                    m.next = "READ_OUT"
            with m.State("READ_OUT"):
                with m.If(packed):
                    if binary:   # the packer's whole bytes (all of them at a range's end)
                        m.d.comb += bits_out.o.ready.eq(self.tx.ready)
                        with m.If(bits_out.o.valid):
                            send(bits_out.o.payload)
                        with m.Else():
                            m.next = "READ_ISSUE"
                with m.Else():
                    send(word.word_select(byte_i, 8))
                    with m.If(self.tx.ready):
                        m.d.sync += byte_i.eq(byte_i + 1)
                        with m.If(byte_i == wb - 1):
                            m.d.sync += byte_i.eq(0)
                            m.next = "READ_ISSUE"

            with m.State("CRC_HI"):
                m.d.comb += sending_crc.eq(1)
                send(crc_tx[8:], "CRC_LO")
            with m.State("CRC_LO"):
                m.d.comb += [sending_crc.eq(1), self.tx.payload.last.eq(1)]
                send(crc_tx[:8])
                with m.If(self.tx.ready):
                    with m.If(in_trace):
                        m.d.sync += [in_trace.eq(0), reply_cmd.eq(cmd)]
                        by_engine(cmd == Cmd.RUN_GRADED, "G_WAIT", "RECALL_WAIT")
                    with m.Else():
                        m.d.sync += [rp.eq(P.REQUEST_HEADER), flen.eq(0)]
                        m.next = "RECV"

        with m.If(self.stop_now):
            m.d.sync += stops_pending.eq(1)
        with m.Elif(stop_served):
            m.d.sync += stops_pending.eq(0)
        m.d.comb += self.active.eq(~fsm.ongoing("RECV") | running)
        if R > 1:
            loading = fsm.ongoing("WORD_IN") | fsm.ongoing("WORD_ISSUE") \
                | fsm.ongoing("RECALL_RUN")
            m.d.comb += self.replica.eq(Mux(loading, load_sel, reply_sel))
        return m

    def _graded_validate(self, m: Module, cmd: Signal, index_range: SimpleNamespace,
                         graded_run: SimpleNamespace, access: _Access, verdict: data.View,
                         payload_len: Signal) -> None:
        """The VALIDATE cases of the graded commands (inside the ``Switch(cmd)``): decide the
        ``verdict`` from the header fields (``index_range``, ``graded_run``) and set up the
        ``access`` registers."""
        Cmd = P.Command
        cfg, geo = self.config, self.geometry
        wb = access.word_bytes
        with m.Case(Cmd.WRITE_U, Cmd.READ_U, Cmd.READ_V, Cmd.WRITE_TABLE, Cmd.READ_TABLE):
            write = (cmd == Cmd.WRITE_U) | (cmd == Cmd.WRITE_TABLE)
            table = (cmd == Cmd.WRITE_TABLE) | (cmd == Cmd.READ_TABLE)
            w = Signal.like(wb, name="g_word_bytes")
            maxr = Signal(16, name="g_max_read")
            expect = Signal(16 + len(wb), name="g_payload_len")
            words = {P.WordKind.U: geo.u_word, P.WordKind.V: geo.v_word,
                     P.WordKind.TABLE: geo.table_word}
            with m.Switch(cmd):
                for c, o in ((Cmd.WRITE_U, GradedAccessOp.WRITE_U),
                             (Cmd.READ_U, GradedAccessOp.READ_U),
                             (Cmd.READ_V, GradedAccessOp.READ_V),
                             (Cmd.WRITE_TABLE, GradedAccessOp.WRITE_TABLE),
                             (Cmd.READ_TABLE, GradedAccessOp.READ_TABLE)):
                    kind = P.COMMANDS[c].words
                    with m.Case(c):
                        m.d.comb += [w.eq(words[kind]), maxr.eq(geo.max_read[kind.value]),
                                     expect.eq(times(index_range.count, words[kind]))]
                        m.d.sync += access.graded_op.eq(o)
            m.d.comb += [
                verdict.length_bad.eq(Mux(write, payload_len != expect, payload_len != 0)),
                verdict.range_bad.eq(
                    (index_range.first + index_range.count
                     > Mux(table, GRADED_SEGMENTS, cfg.neurons))
                    | (~write & (index_range.count > maxr))),
                verdict.next.eq(Mux(write, NextStep.WRITE_WORDS, NextStep.READ_WORDS)),
            ]
            m.d.sync += [access.targets.eq(0b10), access.by_index.eq(1),
                         access.index.eq(index_range.first),
                         access.words_left.eq(index_range.count), wb.eq(w)]
        with m.Case(Cmd.RUN_GRADED):
            # byte fields wider than RunParams' fields, unknown flags, trace without WAIT
            g_trace = _flag(graded_run.flags, P.GradedRunFlags.TRACE)
            g_wait = _flag(graded_run.flags, P.GradedRunFlags.WAIT)
            known_flags = int(P.GradedRunFlags.TRACE | P.GradedRunFlags.WAIT)
            too_wide = Const(0, 1)
            for name in ("gain_e", "dt_e", "leak_shift"):
                too_wide = too_wide | (getattr(graded_run, name)
                                       >> RunParams[name].shape.width != 0)
            m.d.comb += [
                verdict.length_bad.eq(payload_len != 0),
                verdict.arg_bad.eq(too_wide | ((graded_run.flags & (0xFF ^ known_flags)) != 0)
                                   | (g_trace & ~g_wait)),
                verdict.unsupported.eq(g_trace if not cfg.has(Feature.TRACE) else 0),
                verdict.next.eq(Mux(g_wait, NextStep.GRADED_RUN_WAIT, NextStep.GRADED_RUN)),
            ]
        with m.Case(Cmd.READ_GRADED_STATUS):
            m.d.comb += [verdict.length_bad.eq(payload_len != 0),
                         verdict.next.eq(NextStep.REPLY)]


    def _qstore_validate(self, m: Module, index_range: SimpleNamespace, store: SimpleNamespace,
                         verdict: data.View, payload_len: Signal, access: _Access,
                         packed: Signal, word: Signal) -> None:
        """The VALIDATE cases of the quantized store's commands (§14; inside the
        ``Switch(cmd)``): WRITE_PATTERNS and WRITE_THRESHOLDS are range writes into the column
        engine's buffer and table, STORE_QUANTIZED one access with the pattern count. A board
        built without the store (store_patterns = 0) answers Error.UNSUPPORTED (not ADDRESS:
        its buffer of 0 entries is not the reason)."""
        Cmd = P.Command
        cfg, geo, C = self.config, self.geometry, self.config.chunks
        for c in (Cmd.WRITE_PATTERNS, Cmd.WRITE_THRESHOLDS):
            assert P.COMMANDS[c].field_slices() == P.COMMANDS[Cmd.READ_U].field_slices(), c
        assert P.COMMANDS[Cmd.STORE_QUANTIZED].field_slices().items() <= \
            P.COMMANDS[Cmd.STORE].field_slices().items()
        unsupported = 0 if cfg.store_patterns else 1
        first, count = index_range.first, index_range.count
        # (command, access, bytes of an item, words an item, entries); patterns are states
        for c, op, item_bytes, words, entries in (
                (Cmd.WRITE_PATTERNS, AccessOp.WRITE_PATTERN, geo.state_bytes, C,
                 cfg.store_patterns),
                (Cmd.WRITE_THRESHOLDS, AccessOp.WRITE_THRESHOLD, geo.threshold_word, 1,
                 cfg.store_thresholds)):
            with m.Case(c):
                m.d.comb += [
                    verdict.length_bad.eq(payload_len != times(count, item_bytes)),
                    verdict.range_bad.eq((first + count > entries) if entries else 0),
                    verdict.unsupported.eq(unsupported), verdict.next.eq(NextStep.WRITE_WORDS)]
                m.d.sync += [access.op.eq(op), access.index.eq(first),
                             access.words_left.eq(times(count, words) if words > 1 else count)]
                if c == Cmd.WRITE_PATTERNS:
                    m.d.sync += packed.eq(1)
                else:
                    m.d.sync += access.word_bytes.eq(item_bytes)
        with m.Case(Cmd.STORE_QUANTIZED):
            m.d.comb += [verdict.length_bad.eq(payload_len != 0),
                         verdict.range_bad.eq((store.count > cfg.store_patterns)
                                              if cfg.store_patterns else 0),
                         verdict.unsupported.eq(unsupported), verdict.next.eq(NextStep.CLEAR)]
            m.d.sync += [access.op.eq(AccessOp.STORE_QUANTIZED), word.eq(store.count)]


def _flag(flags: Value, flag: enum_std.Flag) -> Value:
    """The bit of ``flags`` (a header byte) that holds the one-bit ``flag``."""
    return flags[int(flag).bit_length() - 1]
