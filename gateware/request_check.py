"""The command engine's checks of a request, decoded from the command table ``protocol.COMMANDS``.

Combinational. Two decisions, in the order the command engine takes them:

- as the frame is received whole (``check_*``): the command is known to this board (by the
  engines built), is served now (``protocol.READ_COMMANDS`` while a run goes on, else
  ``Error.BUSY``), is not a repeat of the STORE applied last (answered OK, not applied) and
  the frame holds its header;
- once its header is read (``verdict``, ``error``, ``setup``): the payload length, address
  ranges, arguments and features; ``error`` is the first of them that fails, in the order of
  :data:`Verdict`'s fields, and ``setup`` the registers of the access sequence that serves it.

Everything is decided before the first access, so that a bad frame changes nothing.
"""

from __future__ import annotations

import enum as enum_std
from types import SimpleNamespace

from amaranth.hdl import Const, Module, Mux, Signal, Value
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga import protocol as P
from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.numerics import GRADED_SEGMENTS
from hopfield_fpga.protocol import LinkGeometry
from .engine_ports import AccessOp, RunOrder
from .fixed_point import times
from .graded_ports import GradedAccessOp, RunParams

__all__ = ["RequestCheck", "NextStep", "Verdict", "setup_layout", "header_fields", "flag_bit",
           "commands_built", "max_word_bytes"]


class NextStep(enum.Enum, shape=4):
    """What the command engine does once a request is accepted."""
    REPLY = 0            # send the reply header (then a status or the identification)
    WRITE_WORDS = 1      # payload bytes -> words -> accesses, then the reply
    CLEAR = 2            # one access (CLEAR, STORE_QUANTIZED), then the reply
    RUN = 3              # start a binary run, reply at once
    STOP = 4             # ask the running engine to stop, reply at once
    READ_WORDS = 5       # send the reply header, then the words read
    RECALL = 6           # write a probe, run, send status and state; per probe
    GRADED_RUN = 7       # start a graded run, reply at once
    GRADED_RUN_WAIT = 8  # start a graded run, forward its trace, reply at the end


#: The decision on a request's header: an error, or the next step.
Verdict = data.StructLayout({
    "length_bad": 1,      # -> Error.LENGTH
    "range_bad": 1,       # -> Error.ADDRESS
    "unsupported": 1,     # -> Error.UNSUPPORTED
    "arg_bad": 1,         # -> Error.ARGUMENT
    "order_bad": 1,       # -> Error.SEQUENCE (a STORE out of its chain's order)
    "next": NextStep,
})
_VERDICT_ERRORS = (("length_bad", P.Error.LENGTH), ("range_bad", P.Error.ADDRESS),
                   ("unsupported", P.Error.UNSUPPORTED), ("arg_bad", P.Error.ARGUMENT),
                   ("order_bad", P.Error.SEQUENCE))


def commands_built(config: NetworkConfig) -> dict[P.Command, P.CommandSpec]:
    """The commands a board of ``config`` decodes: ``protocol.COMMANDS`` less the engines not
    built."""
    built = {P.Target.LINK, P.Target.ANY}
    if config.has_binary:
        built.add(P.Target.BINARY)
    if config.has(Feature.GRADED):
        built.add(P.Target.GRADED)
    return {c: spec for c, spec in P.COMMANDS.items() if spec.target in built}


def max_word_bytes(config: NetworkConfig) -> int:
    """The widest access word on the wire, in bytes."""
    geo = LinkGeometry(config)
    graded = (geo.u_word, geo.v_word, geo.table_word) if config.has(Feature.GRADED) else ()
    return max(geo.weight_word, geo.bias_word, 2, *graded)


def setup_layout(config: NetworkConfig) -> data.StructLayout:
    """The registers of an access sequence, as the request check sets them up."""
    fields = {
        "op": AccessOp,            # binary engine's access
        "index": 16,               # column, neuron or entry
        "chunk": 16,
        "words": 16,               # accesses to make
        "word_bytes": range(max_word_bytes(config) + 1),   # bytes a word on the wire
        "packed": 1,               # the words are state chunks (packed bits on the wire)
        "first_chunk": 16,         # a state range's first chunk (the bit packers')
        "probes": 16,              # a recall's probes
        "load_word": 1,            # the access word is `word` (STORE_QUANTIZED's count)
        "word": 16,
    }
    if config.has(Feature.GRADED):
        fields.update({
            "graded_op": GradedAccessOp,
            "targets": 2,          # engines an access goes to: bit 0 binary, bit 1 graded
            "by_index": 1,         # graded u, v and table words: the index steps
        })
    return data.StructLayout(fields)


def header_fields(header: Value, command: P.Command) -> SimpleNamespace:
    """The fields of ``command``'s request header (``protocol.COMMANDS``) as slices of the
    header register, by name."""
    return SimpleNamespace(**{name: header[8 * offset:8 * (offset + size)] for name, (offset, size)
                              in P.COMMANDS[command].field_slices().items()})


def flag_bit(flags: Value, flag: enum_std.Flag) -> Value:
    """The bit of ``flags`` (a header byte) that holds the one-bit ``flag``."""
    return flags[int(flag).bit_length() - 1]


class RequestCheck(wiring.Component):
    """Checks requests for a board of ``config`` (see the module docstring).

    Members
    -------
    cmd: In(8), length: In(range(MAX_BODY + 1))
        The frame's command byte and length (CRC included).
    running: In(1)
        A run goes on.
    chain_repeat: In(1), chain_refuse: In(1)
        Only with a STORE (``Feature.HEBBIAN``): ``store_chain.StoreChain``'s decision.
    check_reply: Out(1), check_error: Out(8)
        The first decision: reply at once with ``check_error`` (else read the header).
    header_size: Out(range)
        The command's header bytes.
    header: In(header_bits), probe_seeds: In(1)
        The request header (valid once read) and whether it asks for per-probe seeds.
    verdict: Out(Verdict), error: Out(8), refused: Out(1), setup: Out(setup_layout(config))
        The second decision, its error (0: accepted), whether that is an error, and the access
        sequence's registers.
    """

    def __init__(self, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        self.config = config
        self.geometry = LinkGeometry(config)
        self.specs = commands_built(config)
        self.header_bits = 8 * max(spec.header_size for spec in self.specs.values())
        self.dedupe = config.has_binary and config.has(Feature.HEBBIAN)
        members = {
            "cmd": In(8),
            "length": In(range(P.MAX_BODY + 1)),
            "running": In(1),
            "check_reply": Out(1),
            "check_error": Out(8),
            "header_size": Out(range(self.header_bits // 8 + 1)),
            "header": In(self.header_bits),
            "probe_seeds": In(1),
            "verdict": Out(Verdict),
            "error": Out(8),
            "refused": Out(1),
            "setup": Out(setup_layout(config)),
        }
        if self.dedupe:
            members.update({"chain_repeat": In(1), "chain_refuse": In(1)})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cmd = self.cmd
        with m.Switch(cmd):
            for c, spec in self.specs.items():
                with m.Case(int(c)):
                    m.d.comb += self.header_size.eq(spec.header_size)
        self._check(m)

        # the frame holds its header (the first decision), so this does not wrap
        payload_len = Signal.like(self.length, name="payload_len")
        m.d.comb += payload_len.eq(self.length - P.REQUEST_HEADER - P.CRC_BYTES - self.header_size)
        hdr = self.header
        s = self.setup
        # the default setup: a range begins at 0; an access goes to the binary engine
        if self.config.has(Feature.GRADED):
            m.d.comb += s.targets.eq(0b01)
        with m.Switch(cmd):
            self._range_cases(m, hdr, payload_len)
            with m.Case(P.Command.STOP):
                m.d.comb += [self.verdict.length_bad.eq(payload_len != 0),
                             self.verdict.next.eq(NextStep.STOP)]
            with m.Case(P.Command.IDENTIFY, P.Command.READ_STATUS):
                m.d.comb += [self.verdict.length_bad.eq(payload_len != 0),
                             self.verdict.next.eq(NextStep.REPLY)]
            if self.config.has(Feature.GRADED):
                self._graded_cases(m, hdr, payload_len)
            if self.config.has_binary:
                self._binary_cases(m, hdr, payload_len)
                self._qstore_cases(m, hdr, payload_len)
                self._run_cases(m, hdr, payload_len)
        error = Const(P.Error.OK, 8)
        refused = Const(0, 1)
        for name, code in reversed(_VERDICT_ERRORS):
            error = Mux(self.verdict[name], code, error)
            refused = refused | self.verdict[name]
        m.d.comb += [self.error.eq(error), self.refused.eq(refused)]
        return m

    def _check(self, m: Module) -> None:
        """The first decision, on the command byte and the frame length."""
        known = Const(0, 1)
        reads = Const(0, 1)
        for c, spec in self.specs.items():
            known = known | (self.cmd == int(c))
            if spec.while_busy:
                reads = reads | (self.cmd == int(c))
        with m.If(~known):
            m.d.comb += [self.check_reply.eq(1), self.check_error.eq(P.Error.UNKNOWN_COMMAND)]
        if self.dedupe:
            with m.Elif((self.cmd == P.Command.STORE) & self.chain_repeat):
                # a repeat of the STORE applied last: answered as then, not applied
                m.d.comb += [self.check_reply.eq(1), self.check_error.eq(P.Error.OK)]
        with m.Elif(self.running & ~reads):
            m.d.comb += [self.check_reply.eq(1), self.check_error.eq(P.Error.BUSY)]
        with m.Elif(self.length < P.REQUEST_HEADER + P.CRC_BYTES + self.header_size):
            m.d.comb += [self.check_reply.eq(1), self.check_error.eq(P.Error.LENGTH)]

    def _range_cases(self, m: Module, hdr: Value, payload_len: Value) -> None:
        """Weight, bias and state ranges (inside the ``Switch(cmd)``)."""
        Cmd = P.Command
        cfg, geo, C = self.config, self.geometry, self.config.chunks
        cmd, v, s = self.cmd, self.verdict, self.setup
        binary, graded = cfg.has_binary, cfg.has(Feature.GRADED)
        weights = header_fields(hdr, Cmd.READ_WEIGHTS)
        chunks = header_fields(hdr, Cmd.READ_STATE)
        assert P.COMMANDS[Cmd.WRITE_BIAS].field_slices() == \
            P.COMMANDS[Cmd.READ_STATE].field_slices()
        with m.Case(Cmd.WRITE_WEIGHTS, Cmd.READ_WEIGHTS):
            write = cmd == Cmd.WRITE_WEIGHTS
            start = times(weights.column, C) + weights.chunk
            m.d.comb += [
                v.length_bad.eq(Mux(write, payload_len != times(weights.count, geo.weight_word),
                                    payload_len != 0)),
                v.range_bad.eq((weights.column >= cfg.neurons) | (weights.chunk >= C)
                               | (start + weights.count > geo.weight_words)
                               | (~write & (weights.count > geo.max_read["weights"]))),
                v.next.eq(Mux(write, NextStep.WRITE_WORDS, NextStep.READ_WORDS)),
                s.op.eq(Mux(write, AccessOp.WRITE_WEIGHTS, AccessOp.READ_WEIGHTS)),
                s.index.eq(weights.column), s.chunk.eq(weights.chunk),
                s.words.eq(weights.count), s.word_bytes.eq(geo.weight_word),
            ]
            if graded:
                with m.If(write):
                    m.d.comb += [s.graded_op.eq(GradedAccessOp.WRITE_WEIGHTS),
                                 s.targets.eq(0b11 if binary else 0b10)]
                if not binary:
                    with m.Else():
                        m.d.comb += [s.graded_op.eq(GradedAccessOp.READ_WEIGHTS),
                                     s.targets.eq(0b10)]
        with m.Case(Cmd.WRITE_BIAS, Cmd.READ_BIAS, Cmd.WRITE_STATE, Cmd.READ_STATE,
                    Cmd.WRITE_CLAMP, Cmd.READ_CYCLE_STATE):
            write = (cmd == Cmd.WRITE_BIAS) | (cmd == Cmd.WRITE_STATE) | (cmd == Cmd.WRITE_CLAMP)
            bias = (cmd == Cmd.WRITE_BIAS) | (cmd == Cmd.READ_BIAS)
            maxr = Mux(bias, geo.max_read["bias"], geo.max_read["state"])
            # products by constants (see `times`); a state range is packed bits, K a chunk
            # and fewer in the last (LinkGeometry.state_range_bytes)
            to_end = chunks.chunk + chunks.count == C
            state_bits = Mux(chunks.count == 0, 0,
                             Mux(to_end, cfg.neurons - times(chunks.chunk, cfg.lanes),
                                 times(chunks.count, cfg.lanes)))
            expect = Mux(bias, times(chunks.count, geo.bias_word), (state_bits + 7) >> 3)
            m.d.comb += [
                v.length_bad.eq(Mux(write, payload_len != expect, payload_len != 0)),
                v.range_bad.eq((chunks.chunk + chunks.count > C)
                               | (~write & (chunks.count > maxr))),
                v.next.eq(Mux(write, NextStep.WRITE_WORDS, NextStep.READ_WORDS)),
                # only the column engine has a clamp mask (§12) and the synchronous order's
                # cycle state (§13)
                v.unsupported.eq(((cmd == Cmd.WRITE_CLAMP) | (cmd == Cmd.READ_CYCLE_STATE))
                                 if cfg.engine != "column" else 0),
                s.chunk.eq(chunks.chunk), s.words.eq(chunks.count),
                s.word_bytes.eq(geo.bias_word), s.packed.eq(~bias),
            ]
            if binary:   # a state range begins at its chunk (the bit packers)
                m.d.comb += s.first_chunk.eq(Mux(bias, 0, chunks.chunk))
            with m.Switch(cmd):
                for c, o in ((Cmd.WRITE_CLAMP, AccessOp.WRITE_CLAMP),
                             (Cmd.READ_CYCLE_STATE, AccessOp.READ_CYCLE),
                             (Cmd.WRITE_BIAS, AccessOp.WRITE_BIAS),
                             (Cmd.READ_BIAS, AccessOp.READ_BIAS),
                             (Cmd.WRITE_STATE, AccessOp.WRITE_STATE),
                             (Cmd.READ_STATE, AccessOp.READ_STATE)):
                    with m.Case(c):
                        m.d.comb += s.op.eq(o)
            if graded:
                with m.If(cmd == Cmd.WRITE_BIAS):
                    m.d.comb += [s.graded_op.eq(GradedAccessOp.WRITE_BIAS),
                                 s.targets.eq(0b11 if binary else 0b10)]
                if not binary:
                    with m.If(cmd == Cmd.READ_BIAS):
                        m.d.comb += [s.graded_op.eq(GradedAccessOp.READ_BIAS),
                                     s.targets.eq(0b10)]

    def _binary_cases(self, m: Module, hdr: Value, payload_len: Value) -> None:
        """STORE, WRITE_BETA and CLEAR (inside the ``Switch(cmd)``)."""
        Cmd = P.Command
        cfg, geo, C = self.config, self.geometry, self.config.chunks
        v, s = self.verdict, self.setup
        store = header_fields(hdr, Cmd.STORE)
        beta = header_fields(hdr, Cmd.WRITE_BETA)
        with m.Case(Cmd.STORE):
            m.d.comb += [v.length_bad.eq(payload_len != times(store.count, geo.state_bytes)),
                         v.unsupported.eq(0 if self.dedupe else 1),
                         v.next.eq(NextStep.WRITE_WORDS),
                         s.op.eq(AccessOp.STORE_PATTERN), s.words.eq(times(store.count, C)),
                         s.packed.eq(1)]
            if self.dedupe:
                # protocol.chain_verdict (the repeat was answered at the first decision)
                known_flags = int(P.StoreFlags.FIRST)
                m.d.comb += [v.arg_bad.eq((store.flags & (0xFF ^ known_flags)) != 0),
                             v.order_bad.eq(self.chain_refuse)]
        with m.Case(Cmd.WRITE_BETA):
            m.d.comb += [v.length_bad.eq(payload_len != times(beta.count, geo.beta_word)),
                         v.range_bad.eq(beta.first + beta.count > cfg.beta_depth),
                         v.unsupported.eq(0 if cfg.has(Feature.STOCHASTIC) else 1),
                         v.next.eq(NextStep.WRITE_WORDS),
                         s.op.eq(AccessOp.WRITE_BETA), s.index.eq(beta.first),
                         s.words.eq(beta.count), s.word_bytes.eq(geo.beta_word)]
        with m.Case(Cmd.CLEAR):
            m.d.comb += [v.length_bad.eq(payload_len != 0), v.next.eq(NextStep.CLEAR),
                         s.op.eq(AccessOp.CLEAR)]

    def _run_cases(self, m: Module, hdr: Value, payload_len: Value) -> None:
        """RUN, RECALL and RECALL_MANY (inside the ``Switch(cmd)``)."""
        Cmd = P.Command
        cfg, geo = self.config, self.geometry
        v, s = self.verdict, self.setup
        run = header_fields(hdr, Cmd.RUN)
        recall_many = header_fields(hdr, Cmd.RECALL_MANY)
        assert P.COMMANDS[Cmd.RECALL].field_slices() == P.COMMANDS[Cmd.RUN].field_slices()
        assert P.COMMANDS[Cmd.RUN].field_slices().items() <= \
            P.COMMANDS[Cmd.RECALL_MANY].field_slices().items()
        stochastic = flag_bit(run.flags, P.RunFlags.STOCHASTIC)
        trace = flag_bit(run.flags, P.RunFlags.TRACE)
        ok = Const(0, 1)
        for o in cfg.orders:
            ok = ok | (run.order == int(o))
        known_flags = int(P.RunFlags.STOCHASTIC | P.RunFlags.TRACE | P.RunFlags.PROBE_SEEDS)
        bad = (~ok | ((run.flags & (0xFF ^ known_flags)) != 0)
               | (run.beta_len > cfg.beta_depth)
               | (stochastic & (run.order == RunOrder.REJECTION_FREE.value))
               | (stochastic & (run.order == RunOrder.SYNCHRONOUS.value)))
        unsupported = Const(0, 1)
        if not cfg.has(Feature.STOCHASTIC):
            unsupported = unsupported | stochastic
        if not cfg.has(Feature.TRACE):
            unsupported = unsupported | trace
        with m.Case(Cmd.RUN):
            m.d.comb += [v.length_bad.eq(payload_len != 0),
                         v.arg_bad.eq(bad | self.probe_seeds),
                         v.unsupported.eq(unsupported), v.next.eq(NextStep.RUN)]
        with m.Case(Cmd.RECALL, Cmd.RECALL_MANY):
            many = self.cmd == Cmd.RECALL_MANY
            count = Mux(many, recall_many.count, 1)
            # RunFlags.PROBE_SEEDS (RECALL_MANY only): a seed before each probe
            seeded = self.probe_seeds & many
            m.d.comb += [
                v.length_bad.eq(payload_len != Mux(
                    seeded, times(count, geo.state_bytes + P.PROBE_SEED.size),
                    times(count, geo.state_bytes))),
                v.range_bad.eq(many & (recall_many.count > Mux(
                    seeded, geo.max_recall_many_seeded, geo.max_recall_many))),
                v.arg_bad.eq(bad | (many & trace) | (~many & self.probe_seeds)),
                v.unsupported.eq(unsupported), v.next.eq(NextStep.RECALL),
                # the first probe's load (the command engine loads the others alike)
                s.op.eq(AccessOp.WRITE_STATE), s.words.eq(cfg.chunks), s.packed.eq(1),
                s.probes.eq(count),
            ]

    def _graded_cases(self, m: Module, hdr: Value, payload_len: Value) -> None:
        """The graded commands (inside the ``Switch(cmd)``)."""
        Cmd = P.Command
        cfg, geo = self.config, self.geometry
        cmd, v, s = self.cmd, self.verdict, self.setup
        index_range = header_fields(hdr, Cmd.READ_U)
        graded_run = header_fields(hdr, Cmd.RUN_GRADED)
        assert P.COMMANDS[Cmd.READ_TABLE].field_slices() == P.COMMANDS[Cmd.READ_U].field_slices()
        with m.Case(Cmd.WRITE_U, Cmd.READ_U, Cmd.READ_V, Cmd.WRITE_TABLE, Cmd.READ_TABLE):
            write = (cmd == Cmd.WRITE_U) | (cmd == Cmd.WRITE_TABLE)
            table = (cmd == Cmd.WRITE_TABLE) | (cmd == Cmd.READ_TABLE)
            maxr = Signal(16, name="g_max_read")
            expect = Signal(16 + len(s.word_bytes), name="g_payload_len")
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
                        m.d.comb += [s.word_bytes.eq(words[kind]), s.graded_op.eq(o),
                                     maxr.eq(geo.max_read[kind.value]),
                                     expect.eq(times(index_range.count, words[kind]))]
            m.d.comb += [
                v.length_bad.eq(Mux(write, payload_len != expect, payload_len != 0)),
                v.range_bad.eq((index_range.first + index_range.count
                                > Mux(table, GRADED_SEGMENTS, cfg.neurons))
                               | (~write & (index_range.count > maxr))),
                v.next.eq(Mux(write, NextStep.WRITE_WORDS, NextStep.READ_WORDS)),
                s.targets.eq(0b10), s.by_index.eq(1), s.index.eq(index_range.first),
                s.words.eq(index_range.count),
            ]
        with m.Case(Cmd.RUN_GRADED):
            # byte fields wider than RunParams' fields, unknown flags, trace without WAIT
            g_trace = flag_bit(graded_run.flags, P.GradedRunFlags.TRACE)
            g_wait = flag_bit(graded_run.flags, P.GradedRunFlags.WAIT)
            known_flags = int(P.GradedRunFlags.TRACE | P.GradedRunFlags.WAIT)
            too_wide = Const(0, 1)
            for name in ("gain_e", "dt_e", "leak_shift"):
                too_wide = too_wide | (getattr(graded_run, name)
                                       >> RunParams[name].shape.width != 0)
            m.d.comb += [
                v.length_bad.eq(payload_len != 0),
                v.arg_bad.eq(too_wide | ((graded_run.flags & (0xFF ^ known_flags)) != 0)
                             | (g_trace & ~g_wait)),
                v.unsupported.eq(g_trace if not cfg.has(Feature.TRACE) else 0),
                v.next.eq(Mux(g_wait, NextStep.GRADED_RUN_WAIT, NextStep.GRADED_RUN)),
            ]
        with m.Case(Cmd.READ_GRADED_STATUS):
            m.d.comb += [v.length_bad.eq(payload_len != 0), v.next.eq(NextStep.REPLY)]

    def _qstore_cases(self, m: Module, hdr: Value, payload_len: Value) -> None:
        """The quantized store's commands (§14; inside the ``Switch(cmd)``): WRITE_PATTERNS and
        WRITE_THRESHOLDS are range writes into the column engine's buffer and table,
        STORE_QUANTIZED one access with the pattern count. A board built without the store
        (store_patterns = 0) answers Error.UNSUPPORTED (not ADDRESS: its buffer of 0 entries is
        not the reason)."""
        Cmd = P.Command
        cfg, geo, C = self.config, self.geometry, self.config.chunks
        v, s = self.verdict, self.setup
        index_range = header_fields(hdr, Cmd.READ_U)
        store = header_fields(hdr, Cmd.STORE)
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
                    v.length_bad.eq(payload_len != times(count, item_bytes)),
                    v.range_bad.eq((first + count > entries) if entries else 0),
                    v.unsupported.eq(unsupported), v.next.eq(NextStep.WRITE_WORDS),
                    s.op.eq(op), s.index.eq(first),
                    s.words.eq(times(count, words) if words > 1 else count)]
                if c == Cmd.WRITE_PATTERNS:
                    m.d.comb += s.packed.eq(1)
                else:
                    m.d.comb += s.word_bytes.eq(item_bytes)
        with m.Case(Cmd.STORE_QUANTIZED):
            m.d.comb += [v.length_bad.eq(payload_len != 0),
                         v.range_bad.eq((store.count > cfg.store_patterns)
                                        if cfg.store_patterns else 0),
                         v.unsupported.eq(unsupported), v.next.eq(NextStep.CLEAR),
                         s.op.eq(AccessOp.STORE_QUANTIZED), s.load_word.eq(1),
                         s.word.eq(store.count)]
