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
a run goes on.

The blocks (each a component of its own file): `FrameReceiver` (the request buffer and the
frame's end), `RequestCheck` (every decision on a request, combinational: a
:data:`~hopfield_fpga.gateware.request_check.Verdict` and the access sequence's setup),
`StoreChain` (STORE's seq chain), `RunControl` (a run going on, STOP), `ProbeSeeds`
(RECALL_MANY's per-probe seeds), `BitsToChunks` / `ChunksToBits` (packed states) and
`ReplySender` (the reply's CRC). The command engine's own FSM sequences them: receive, check,
read the header, decide; then the words in (writes, probes), the runs, the reply header and the
words out (reads, status, trace), and the CRC.
"""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect

from hopfield_fpga import protocol as P
from hopfield_fpga.protocol import LinkGeometry
from hopfield_fpga.config import Feature, NetworkConfig
from .cobs import BodyByte
from .engine_ports import AccessOp, EnginePorts, engine_signature
from .frame_receiver import FrameReceiver
from .graded_ports import GradedAccessOp, GradedPorts, graded_signature
from .probe_seeds import ProbeSeeds
from .reply_sender import ReplySender
from .request_check import (NextStep, RequestCheck, Verdict, flag_bit, header_fields,
                            max_word_bytes)
from .run_control import RunControl
from .rx_queue import QueuedByte
from .state_bits import BitsToChunks, ChunksToBits
from .store_chain import StoreChain

__all__ = ["CommandEngine", "NextStep", "Verdict"]


def status_bytes(st) -> tuple[Value, list]:
    """A binary engine's status as ``protocol.STATUS`` bytes, and the statements they need."""
    energy64 = Signal(signed(64))
    assert len(st.stop_reason.as_value()) == P.STOP_REASON_BITS
    assert P.StatusFlags.FIELDS_VALID == 1 << (P.STOP_REASON_SHIFT + P.STOP_REASON_BITS)
    value = Cat(st.busy, st.converged, st.stop_reason.as_value(), st.fields_valid,
                Const(0, 2), st.unstable, Const(0, 16 - len(st.unstable)),
                st.visits, st.flips, st.cycles, st.refresh_cycles, energy64)
    assert len(value) == 8 * P.STATUS.size
    return value, [energy64.eq(st.energy2)]


def trace_bytes(tp) -> tuple[Value, list]:
    """A binary trace event as ``protocol.TRACE_EVENT`` bytes."""
    delta32 = Signal(signed(32))
    value = Cat(tp.visit, tp.index, Const(0, 16 - len(tp.index)), tp.value, Const(0, 7), delta32)
    assert len(value) == 8 * P.TRACE_EVENT.size
    return value, [delta32.eq(tp.delta_energy2)]


def graded_status_bytes(gst) -> Value:
    """The graded engine's status as ``protocol.GRADED_STATUS`` bytes."""
    assert len(gst.max_du) <= 64
    value = Cat(gst.busy, gst.converged, gst.stop_reason.as_value(),
                Const(0, 6 - P.STOP_REASON_BITS),
                gst.steps, gst.max_du, Const(0, 64 - len(gst.max_du)), gst.cycles)
    assert len(value) == 8 * P.GRADED_STATUS.size
    return value


def graded_trace_bytes(gtp) -> tuple[Value, list]:
    """A graded trace event as ``protocol.GRADED_TRACE_EVENT`` bytes."""
    u64 = Signal(signed(64))
    value = Cat(gtp.step, gtp.index, Const(0, 16 - len(gtp.index)), u64, gtp.v)
    assert len(value) == 8 * P.GRADED_TRACE_EVENT.size
    return value, [u64.eq(gtp.u)]


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
        r = self._blocks(m)
        with m.FSM(name="cmd") as fsm:
            self._request_states(m, r)
            self._write_states(m, r)
            self._run_states(m, r)
            self._reply_states(m, r)
            self._read_states(m, r)
        m.d.comb += self.active.eq(~fsm.ongoing("RECV") | r.ctl.running)
        if self.config.replicas > 1:
            loading = fsm.ongoing("WORD_IN") | fsm.ongoing("WORD_ISSUE") \
                | fsm.ongoing("RECALL_RUN")
            m.d.comb += self.replica.eq(Mux(loading, r.load_sel, r.reply_sel))
        return m

    def _blocks(self, m: Module) -> SimpleNamespace:
        """The blocks and the registers the FSM's states share, wired to the engines."""
        cfg, geo = self.config, self.geometry
        graded, binary, R = cfg.has(Feature.GRADED), cfg.has_binary, cfg.replicas
        if binary:
            eng = self.engine
        else:
            # Graded-only: a stand-in for the binary engine's port, connected to nothing. Its
            # inputs read 0 and no command that drives it is decoded, so synthesis removes it.
            eng = engine_signature(cfg).flip().create(path=("no_binary",))
        r = SimpleNamespace(eng=eng, gre=self.graded if graded else None)
        m.submodules.receiver = r.rcv = rcv = FrameReceiver()
        connect(m, wiring.flipped(self.rx), rcv.rx)
        m.submodules.check = r.chk = chk = RequestCheck(cfg)
        m.submodules.run_control = r.ctl = ctl = RunControl()
        m.submodules.sender = r.snd = snd = ReplySender()
        connect(m, snd.tx, wiring.flipped(self.tx))
        r.dedupe = chk.dedupe
        r.hdr = hdr = Signal(chk.header_bits)
        r.hdr_i = Signal(range(chk.header_bits // 8 + 1))
        r.err = Signal(8)
        r.reply_cmd = Signal(8)
        m.d.comb += [chk.cmd.eq(rcv.cmd), chk.length.eq(rcv.length), chk.header.eq(hdr),
                     chk.running.eq(ctl.running), ctl.stop_now.eq(self.stop_now)]
        if r.dedupe:
            m.submodules.store_chain = r.chain = chain = StoreChain()
            store = header_fields(hdr, P.Command.STORE)
            m.d.comb += [chain.seq.eq(rcv.seq),
                         chain.first.eq(flag_bit(store.flags, P.StoreFlags.FIRST)),
                         chk.chain_repeat.eq(chain.repeat), chk.chain_refuse.eq(chain.refuse)]

        # the access sequence's registers (set up by the check) and the word on the wire
        r.op, r.a_index, r.a_chunk = Signal(AccessOp), Signal(16), Signal(16)
        r.words_left = Signal(16)
        wmax = max_word_bytes(cfg)
        r.wb = Signal(range(wmax + 1))
        r.word = Signal(8 * wmax)
        r.byte_i = Signal(range(wmax + 1))
        r.packed = Signal()        # the words of this request are state chunks
        r.probes_left = Signal(16)   # RECALL_MANY's results not sent yet
        r.first_probe = Signal()
        r.in_trace = Signal()
        if R > 1:
            # RECALL_MANY keeps R probes running: probe k on replica k mod R, loaded while
            # the others run, its result sent in probe order (docs/engine.md, "Replicas")
            r.loads_left = Signal(16)           # probes not loaded yet
            r.load_sel = Signal(range(R))       # the replica of the next probe loaded
            r.reply_sel = Signal(range(R))      # the replica of the next result sent
        self._engine_ports(m, r)
        self._reply_values(m, r)
        return r

    def _engine_ports(self, m: Module, r: SimpleNamespace) -> None:
        """The engines' access and run payloads, run control, statuses and traces."""
        cfg, eng, gre, ctl = self.config, r.eng, r.gre, r.ctl
        binary, graded = cfg.has_binary, cfg.has(Feature.GRADED)
        run = header_fields(r.hdr, P.Command.RUN)
        if binary:
            m.submodules.probe_seeds = r.seeds = seeds = ProbeSeeds()
            m.d.comb += [seeds.flags.eq(run.flags), seeds.header_seed.eq(run.seed),
                         seeds.many.eq(r.rcv.cmd == P.Command.RECALL_MANY),
                         seeds.byte.eq(r.rcv.byte), r.chk.probe_seeds.eq(seeds.flag)]
            # states are packed bits on the wire and K-bit chunks at the engine (state_bits.py)
            m.submodules.bits_in = r.bits_in = BitsToChunks(cfg)
            m.submodules.bits_out = r.bits_out = ChunksToBits(cfg)
        m.d.comb += [
            eng.access.payload.op.eq(r.op),
            eng.access.payload.index.eq(r.a_index),
            eng.access.payload.chunk.eq(r.a_chunk),
            eng.access.payload.data.eq(r.word),
            eng.run.payload.order.as_value().eq(run.order),
            eng.run.payload.stochastic.eq(flag_bit(run.flags, P.RunFlags.STOCHASTIC)),
            eng.run.payload.trace.eq(flag_bit(run.flags, P.RunFlags.TRACE)),
            eng.run.payload.seed.eq(r.seeds.seed if binary else run.seed),
            eng.run.payload.max_visits.eq(run.max_visits),
            eng.run.payload.beta_len.eq(run.beta_len),
            eng.stop.eq(ctl.halt),
        ]
        # with replicas, `eng` is the chosen one (its status too): a run goes on while any is busy
        started = eng.run.valid & eng.run.ready
        busy = eng.status.busy if cfg.replicas == 1 else self.replicas_busy
        if graded:
            # one run at a time on either engine: `running` covers both, STOP reaches both
            started = started | (gre.run.valid & gre.run.ready)
            busy = busy | gre.status.busy
            m.d.comb += gre.stop.eq(ctl.halt)
            r.gop = Signal(GradedAccessOp)
            r.tgt = Signal(2)        # engines an access goes to: bit 0 binary, bit 1 graded
            r.tgt_done = Signal(2)   # engines that took the current write access
            r.g_index = Signal()     # graded index-addressed words (u, v, table): index steps
            graded_run = header_fields(r.hdr, P.Command.RUN_GRADED)
            r.g_wait = flag_bit(graded_run.flags, P.GradedRunFlags.WAIT)
            gr = gre.run.payload
            m.d.comb += [
                gre.access.payload.op.eq(r.gop),
                gre.access.payload.index.eq(r.a_index),
                gre.access.payload.chunk.eq(r.a_chunk),
                gre.access.payload.data.eq(r.word),
                gr.gain_m.eq(graded_run.gain_m), gr.gain_e.eq(graded_run.gain_e),
                gr.dt_m.eq(graded_run.dt_m), gr.dt_e.eq(graded_run.dt_e),
                gr.leak_shift.eq(graded_run.leak_shift), gr.eps.eq(graded_run.eps),
                gr.max_steps.eq(graded_run.max_steps),
                gr.trace.eq(flag_bit(graded_run.flags, P.GradedRunFlags.TRACE)),
            ]
        m.d.comb += [ctl.started.eq(started), ctl.busy.eq(busy)]

    def _load_probe(self, m: Module, r: SimpleNamespace) -> list:
        """Begin loading a recall's next probe (its seed first, with RunFlags.PROBE_SEEDS; then
        its state chunks): the sync statements to add where it begins."""
        m.d.comb += r.seeds.start.eq(1)
        return [r.op.eq(AccessOp.WRITE_STATE), r.a_chunk.eq(0), r.words_left.eq(self.config.chunks)]

    def _next_address(self, m: Module, r: SimpleNamespace) -> None:
        """Step to the next word's address: weights go chunk by chunk, then column by column;
        the others chunk by chunk (graded u, v and table words, and beta and threshold entries:
        index by index)."""
        C, op, a_index, a_chunk = self.config.chunks, r.op, r.a_index, r.a_chunk
        first = m.If
        if self.config.has(Feature.GRADED):
            with m.If(r.g_index):
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

    @staticmethod
    def _send(m: Module, r: SimpleNamespace, value: Value, then: str | None = None) -> None:
        """Offer the reply byte ``value``; when taken, go to state ``then`` (if given)."""
        snd = r.snd
        m.d.comb += [snd.i.valid.eq(1), snd.i.payload.eq(value)]
        if then is not None:
            with m.If(snd.i.ready):
                m.next = then

    def _by_engine(self, m: Module, is_graded: Value, graded_state: str, binary_state: str):
        """Go to ``graded_state`` where ``is_graded`` holds, else to ``binary_state``; with one
        engine built, to that engine's state."""
        graded, binary = self.config.has(Feature.GRADED), self.config.has_binary
        if graded and binary:
            with m.If(is_graded):
                m.next = graded_state
            with m.Else():
                m.next = binary_state
        else:
            m.next = graded_state if graded else binary_state

    @staticmethod
    def _offer(m: Module, state: str, to, then: str) -> None:
        """State ``state`` offers one transfer on stream ``to``, then goes to ``then``."""
        with m.State(state):
            m.d.comb += to.valid.eq(1)
            with m.If(to.ready):
                m.next = then

    def _request_states(self, m: Module, r: SimpleNamespace) -> None:
        """RECV, CHECK, HDR_READ and VALIDATE: a frame in, checked, its header read, decided."""
        Cmd = P.Command
        cfg, rcv, chk, s = self.config, r.rcv, r.chk, r.chk.setup
        binary, graded, R = cfg.has_binary, cfg.has(Feature.GRADED), cfg.replicas
        with m.State("RECV"):
            m.d.comb += rcv.enable.eq(1)
            with m.If(rcv.ended):
                m.d.sync += [r.hdr_i.eq(0), r.in_trace.eq(0), r.first_probe.eq(1)]
                with m.If(rcv.answer):
                    m.d.sync += [r.err.eq(rcv.error), r.reply_cmd.eq(rcv.reply_cmd)]
                    with m.If(rcv.whole):
                        m.next = "CHECK"
                    with m.Else():
                        m.next = "HDR_SEQ"
        with m.State("CHECK"):
            if r.dedupe:
                # any other well-formed request closes the chain
                m.d.comb += r.chain.close.eq(rcv.cmd != Cmd.STORE)
            with m.If(chk.check_reply):
                m.d.sync += r.err.eq(chk.check_error)
                m.next = "HDR_SEQ"
            with m.Else():
                m.next = "HDR_READ"
        with m.State("HDR_READ"):
            with m.If(r.hdr_i == chk.header_size):
                m.next = "VALIDATE"
            with m.Else():
                m.d.comb += rcv.advance.eq(1)
                m.d.sync += [r.hdr.word_select(r.hdr_i, 8).eq(rcv.byte), r.hdr_i.eq(r.hdr_i + 1)]
        with m.State("VALIDATE"):
            # Everything is decided here, before the first access: a bad frame changes nothing.
            m.d.sync += [r.err.eq(chk.error), r.byte_i.eq(0), r.op.eq(s.op),
                         r.a_index.eq(s.index), r.a_chunk.eq(s.chunk), r.words_left.eq(s.words),
                         r.wb.eq(s.word_bytes), r.packed.eq(s.packed),
                         r.probes_left.eq(s.probes)]
            with m.If(s.load_word):
                m.d.sync += r.word.eq(s.word)
            if R > 1:      # every request but RECALL_MANY's later probes: replica 0
                m.d.sync += [r.load_sel.eq(0), r.reply_sel.eq(0), r.loads_left.eq(s.probes)]
            if binary:
                # no seed bytes left from a refused request (a recall's load starts again)
                m.d.comb += r.seeds.start.eq(1)
                for block in (r.bits_in, r.bits_out):
                    m.d.comb += [block.start.eq(1), block.first.eq(s.first_chunk)]
            if graded:
                m.d.sync += [r.gop.eq(s.graded_op), r.tgt.eq(s.targets),
                             r.g_index.eq(s.by_index)]
            with m.If(chk.refused):
                m.next = "HDR_SEQ"
            with m.Else():
                if r.dedupe:
                    m.d.comb += r.chain.apply.eq(rcv.cmd == Cmd.STORE)  # the chain's last
                with m.Switch(chk.verdict.next):
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
                        m.d.comb += r.ctl.stop.eq(1)
                        m.next = "HDR_SEQ"
                    if graded:
                        with m.Case(NextStep.GRADED_RUN):
                            m.next = "G_RUN"
                        with m.Case(NextStep.GRADED_RUN_WAIT):
                            m.next = "G_RUN_WAIT"

    def _write_states(self, m: Module, r: SimpleNamespace) -> None:
        """WORD_IN and WORD_ISSUE: payload bytes -> words -> accesses."""
        Cmd = P.Command
        binary, graded = self.config.has_binary, self.config.has(Feature.GRADED)
        rcv, eng, gre = r.rcv, r.eng, r.gre
        recall = (rcv.cmd == Cmd.RECALL) | (rcv.cmd == Cmd.RECALL_MANY)
        with m.State("WORD_IN"):
            first_in = m.If
            if binary:
                with m.If(r.seeds.loading):     # a probe's seed comes before its state
                    m.d.comb += [rcv.advance.eq(1), r.seeds.take.eq(1)]
                first_in = m.Elif
            with first_in(r.words_left == 0):
                m.next = "HDR_SEQ"
                if binary:
                    with m.If(recall):
                        m.next = "RECALL_RUN"
            with m.Elif(r.packed):
                # bytes into the unpacker until it has the chunk's bits (binary only)
                if binary:
                    bits_in = r.bits_in
                    m.d.comb += [bits_in.i.payload.eq(rcv.byte), bits_in.i.valid.eq(1),
                                 rcv.advance.eq(bits_in.i.ready), bits_in.o.ready.eq(1)]
                    with m.If(bits_in.o.valid):
                        m.d.sync += r.word.eq(bits_in.o.payload)
                        m.next = "WORD_ISSUE"
            with m.Elif(r.byte_i == r.wb):
                m.d.sync += r.byte_i.eq(0)
                m.next = "WORD_ISSUE"
            with m.Else():
                m.d.comb += rcv.advance.eq(1)
                m.d.sync += r.byte_i.eq(r.byte_i + 1)
                with m.If(r.byte_i == 0):
                    m.d.sync += r.word.eq(rcv.byte)
                with m.Else():
                    m.d.sync += r.word.word_select(r.byte_i, 8).eq(rcv.byte)
        with m.State("WORD_ISSUE"):
            if graded:
                # weight and bias writes go to both engines, each takes the word once
                pend = r.tgt & ~r.tgt_done
                took = Cat(pend[0] & eng.access.ready, pend[1] & gre.access.ready)
                m.d.comb += [eng.access.valid.eq(pend[0]), gre.access.valid.eq(pend[1])]
                with m.If((pend & ~took) == 0):
                    self._next_address(m, r)
                    m.d.sync += [r.words_left.eq(r.words_left - 1), r.tgt_done.eq(0)]
                    m.next = "WORD_IN"
                with m.Else():
                    m.d.sync += r.tgt_done.eq(r.tgt_done | took)
            else:
                m.d.comb += eng.access.valid.eq(1)
                with m.If(eng.access.ready):
                    self._next_address(m, r)
                    m.d.sync += r.words_left.eq(r.words_left - 1)
                    m.next = "WORD_IN"

    def _run_states(self, m: Module, r: SimpleNamespace) -> None:
        """The single transfers (CLEAR, RUN, RUN_GRADED) and the recalls' runs: run, forward
        the trace, then the results."""
        Cmd = P.Command
        binary, graded, R = self.config.has_binary, self.config.has(Feature.GRADED), \
            self.config.replicas
        eng, gre, ctl = r.eng, r.gre, r.ctl
        if binary:
            self._offer(m, "ISSUE_ONE", eng.access, "HDR_SEQ")
            self._offer(m, "RUN", eng.run, "HDR_SEQ")
        if graded:
            self._offer(m, "G_RUN", gre.run, "HDR_SEQ")
            self._offer(m, "G_RUN_WAIT", gre.run, "G_WAIT")
            with m.State("G_WAIT"):
                with m.If(gre.trace.valid):
                    m.d.sync += [r.in_trace.eq(1), r.reply_cmd.eq(Cmd.GRADED_TRACE)]
                    m.next = "HDR_SEQ"
                with m.Elif(~ctl.running & ~ctl.just_started):
                    m.d.sync += [r.out_i.eq(0), r.reply_cmd.eq(r.rcv.cmd)]
                    m.next = "HDR_SEQ"
        if not binary:
            return
        if R == 1:
            self._offer(m, "RECALL_RUN", eng.run, "RECALL_WAIT")
        else:
            with m.State("RECALL_RUN"):
                m.d.comb += eng.run.valid.eq(1)
                with m.If(eng.run.ready):
                    m.d.sync += [r.loads_left.eq(r.loads_left - 1),
                                 r.load_sel.eq(_next_replica(r.load_sel, R))]
                    m.next = "RECALL_WAIT"
                    # while fewer than R probes run, load the next one at once
                    with m.If((r.loads_left + (R - 1) > r.probes_left) & (r.loads_left != 1)
                              & ~ctl.halt):
                        m.d.sync += self._load_probe(m, r)
                        m.next = "WORD_IN"
        # the run of this result's replica ended (`running` is any replica's)
        run_ended = (~ctl.running if R == 1 else ~eng.status.busy) & ~ctl.just_started
        with m.State("RECALL_WAIT"):
            with m.If(eng.trace.valid):
                m.d.sync += [r.in_trace.eq(1), r.reply_cmd.eq(Cmd.TRACE),
                             r.trace_ev.eq(r.trace_now)]
                m.d.comb += eng.trace.ready.eq(1)
                m.next = "HDR_SEQ"
            with m.Elif(run_ended):
                m.d.sync += [r.out_i.eq(0), r.reply_cmd.eq(r.rcv.cmd)]
                with m.If(r.first_probe):
                    m.next = "HDR_SEQ"
                with m.Else():
                    m.next = "STATUS_OUT"

    def _reply_values(self, m: Module, r: SimpleNamespace) -> None:
        """The bytes the replies send from the engines (statuses, traces) and the
        identification, and the byte counter that sends them."""
        cfg = self.config
        sizes = [P.STATUS.size, P.TRACE_EVENT.size, len(self.identify_reply())]
        if cfg.has_binary:
            r.status, stmts = status_bytes(r.eng.status)
            m.d.comb += stmts
            # a binary trace event is copied, so that the engine goes on while it is sent
            r.trace_now, stmts = trace_bytes(r.eng.trace.payload)
            m.d.comb += stmts
            r.trace_ev = Signal(8 * P.TRACE_EVENT.size)
        if cfg.has(Feature.GRADED):
            # a graded trace event is sent straight from the engine's stream (held until its
            # last byte is out), which saves its 16 bytes of flip-flops: the graded engine
            # stalls meanwhile anyway
            r.g_status = graded_status_bytes(r.gre.status)
            r.g_trace, stmts = graded_trace_bytes(r.gre.trace.payload)
            m.d.comb += stmts
            sizes += [P.GRADED_STATUS.size, P.GRADED_TRACE_EVENT.size]
        r.out_i = Signal(range(max(sizes) + 1))

    @contextmanager
    def _bytes_out(self, m: Module, r: SimpleNamespace, state: str, value: Value, size: int):
        """State ``state`` sends ``size`` bytes of ``value``, least significant first (``out_i``
        counts them); the with-block runs in the cycle the last one is taken."""
        with m.State(state):
            self._send(m, r, value.word_select(r.out_i, 8))
            with m.If(r.snd.i.ready):
                m.d.sync += r.out_i.eq(r.out_i + 1)
                with m.If(r.out_i == size - 1):
                    yield

    def _reply_states(self, m: Module, r: SimpleNamespace) -> None:
        """The reply: seq, command, error, payload (identification, status, trace), CRC."""
        Cmd = P.Command
        binary, graded = self.config.has_binary, self.config.has(Feature.GRADED)
        rcv, cmd, snd = r.rcv, r.rcv.cmd, r.snd
        with m.State("HDR_SEQ"):
            m.d.sync += r.out_i.eq(0)
            self._send(m, r, rcv.seq, "HDR_CMD")
        with m.State("HDR_CMD"):
            self._send(m, r, r.reply_cmd, "HDR_ERR")
        with m.State("HDR_ERR"):
            self._send(m, r, r.err)
            with m.If(snd.i.ready):
                with m.If(r.err != 0):
                    m.next = "CRC"
                with m.Elif(r.in_trace):
                    self._by_engine(m, r.reply_cmd == Cmd.GRADED_TRACE, "G_TRACE_OUT",
                                    "TRACE_OUT")
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
                                with m.If(r.g_wait):     # the status at the end
                                    m.next = "G_STATUS_OUT"
                                with m.Else():
                                    m.next = "CRC"
                        with m.Default():
                            m.next = "CRC"
        ident = self.identify_reply()
        with self._bytes_out(m, r, "IDENT_OUT", Const(int.from_bytes(ident, "little"),
                                                      8 * len(ident)), len(ident)):
            m.next = "CRC"
        if binary:
            with self._bytes_out(m, r, "TRACE_OUT", r.trace_ev, P.TRACE_EVENT.size):
                m.next = "CRC"
        if graded:
            with self._bytes_out(m, r, "G_TRACE_OUT", r.g_trace, P.GRADED_TRACE_EVENT.size):
                m.d.comb += r.gre.trace.ready.eq(1)
                m.next = "CRC"
            with self._bytes_out(m, r, "G_STATUS_OUT", r.g_status, P.GRADED_STATUS.size):
                m.next = "CRC"
        if binary:
            with self._bytes_out(m, r, "STATUS_OUT", r.status, P.STATUS.size):
                with m.If((cmd == Cmd.RECALL) | (cmd == Cmd.RECALL_MANY)):
                    m.d.sync += [r.op.eq(AccessOp.READ_STATE), r.a_chunk.eq(0),
                                 r.words_left.eq(self.config.chunks), r.first_probe.eq(0)]
                    m.next = "READ_ISSUE"
                with m.Else():
                    m.next = "CRC"
        with m.State("CRC"):
            m.d.comb += snd.seal.eq(1)
            with m.If(snd.sealed):
                with m.If(r.in_trace):
                    m.d.sync += [r.in_trace.eq(0), r.reply_cmd.eq(cmd)]
                    self._by_engine(m, cmd == Cmd.RUN_GRADED, "G_WAIT", "RECALL_WAIT")
                with m.Else():
                    m.d.comb += rcv.restart.eq(1)
                    m.next = "RECV"

    def _read_states(self, m: Module, r: SimpleNamespace) -> None:
        """READ_ISSUE, READ_WAIT and READ_OUT: accesses -> words -> bytes; after a recall's
        result, the next probe."""
        Cmd = P.Command
        binary, graded, R = self.config.has_binary, self.config.has(Feature.GRADED), \
            self.config.replicas
        eng, gre, cmd = r.eng, r.gre, r.rcv.cmd
        with m.State("READ_ISSUE"):
            with m.If(r.words_left == 0):
                m.next = "CRC"
                if binary:
                    with m.If((cmd == Cmd.RECALL) | (cmd == Cmd.RECALL_MANY)):
                        m.d.sync += r.probes_left.eq(r.probes_left - 1)
                        # a STOP ends a RECALL_MANY after the probes in progress
                        more = (r.probes_left != 1) if R == 1 else (r.loads_left != 0)
                        if R > 1:
                            m.d.sync += r.reply_sel.eq(_next_replica(r.reply_sel, R))
                        with m.If(more & ~r.ctl.halt):
                            m.d.sync += self._load_probe(m, r)
                            m.next = "WORD_IN"
                        if R > 1:
                            with m.Elif(r.probes_left != r.loads_left + 1):   # still running
                                m.next = "RECALL_WAIT"
            with m.Else():
                if graded:
                    # a read goes to one engine (tgt is 0b01 or 0b10)
                    m.d.comb += [eng.access.valid.eq(r.tgt[0]), gre.access.valid.eq(r.tgt[1])]
                    with m.If(Mux(r.tgt[1], gre.access.ready, eng.access.ready)):
                        m.next = "READ_WAIT"
                else:
                    m.d.comb += eng.access.valid.eq(1)
                    with m.If(eng.access.ready):
                        m.next = "READ_WAIT"
        with m.State("READ_WAIT"):
            if graded:
                m.d.comb += [eng.reply.ready.eq(r.tgt[0]), gre.reply.ready.eq(r.tgt[1])]
                reply_valid = Mux(r.tgt[1], gre.reply.valid, eng.reply.valid)
                reply_data = Mux(r.tgt[1], gre.reply.payload.data, eng.reply.payload.data)
            else:
                m.d.comb += eng.reply.ready.eq(1)
                reply_valid, reply_data = eng.reply.valid, eng.reply.payload.data
            if binary:
                # a state chunk goes to the packer (empty here: READ_OUT drained it)
                bits_out = r.bits_out
                m.d.comb += [bits_out.i.valid.eq(reply_valid & r.packed),
                             bits_out.i.payload.chunk.eq(reply_data),
                             bits_out.i.payload.last.eq(r.words_left == 1)]
            with m.If(reply_valid):
                m.d.sync += [r.word.eq(reply_data), r.byte_i.eq(0)]
                self._next_address(m, r)
                m.d.sync += r.words_left.eq(r.words_left - 1)
                m.next = "READ_OUT"
        with m.State("READ_OUT"):
            with m.If(r.packed):
                if binary:   # the packer's whole bytes (all of them at a range's end)
                    bits_out = r.bits_out
                    m.d.comb += bits_out.o.ready.eq(r.snd.i.ready)
                    with m.If(bits_out.o.valid):
                        self._send(m, r, bits_out.o.payload)
                    with m.Else():
                        m.next = "READ_ISSUE"
            with m.Else():
                self._send(m, r, r.word.word_select(r.byte_i, 8))
                with m.If(r.snd.i.ready):
                    m.d.sync += r.byte_i.eq(r.byte_i + 1)
                    with m.If(r.byte_i == r.wb - 1):
                        m.d.sync += r.byte_i.eq(0)
                        m.next = "READ_ISSUE"


def _next_replica(sel: Value, replicas: int) -> Value:
    return Mux(sel == replicas - 1, 0, sel + 1)
