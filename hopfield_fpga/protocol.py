"""The board link protocol: the one definition shared by the gateware and the host.

Every message is a *frame*: ``seq, cmd, payload..., crc_hi, crc_lo`` (the *body*), COBS-encoded
and followed by one 0x00 delimiter. COBS removes every zero from the body, so a receiver that
lost bytes or saw garbage resynchronizes at the next 0x00; the CRC-16 (:data:`CRC_POLY`,
init :data:`CRC_INIT`, not reflected, no final xor, appended big-endian) over
``seq, cmd, payload`` makes the CRC over the whole body 0, which is what the gateware checks.

A reply body is ``seq, cmd, error, payload..., crc``: it echoes the request's ``seq`` and
``cmd`` so that a host that timed out can send the request again (with a new ``seq``) and
ignore a late reply. ``error`` is an :class:`Error`; when it is not ``OK`` the payload is
empty and the board changed nothing. During a traced run the board also sends
:attr:`Command.TRACE` frames (one flip event each) carrying the run request's ``seq``.

Payloads are little-endian; their layouts are the ``struct`` formats below. Weight and bias
*words* are the binary engine's access words (``gateware/engine_ports.py``: chunk c holds
neurons c*K .. c*K+K-1) in :func:`word_bytes` bytes each, least significant byte first.
States (WRITE_STATE / READ_STATE ranges, STORE patterns, RECALL probes and results) are *packed
bits* whatever K is: neuron i of the range at bit i % 8 of byte i // 8, N bits of a whole state
in ceil(N/8) bytes (:func:`pack_bits`, :meth:`LinkGeometry.state_range_bytes`).
Codes 0x40-0x5F belong to the graded engine (:data:`GRADED_COMMANDS`, decoded only by a board
built with ``Feature.GRADED``): u, v and sigmoid-table words addressed by :data:`INDEX_RANGE`,
RUN_GRADED with :data:`GRADED_RUN_PARAMS`, :data:`GRADED_STATUS` and :data:`GRADED_TRACE_EVENT`.
A graded-only board (built without update orders) does not decode :data:`BINARY_COMMANDS`.
``docs/protocol.md`` is the prose form of this module.
"""

from __future__ import annotations

import dataclasses
import enum
import struct

from .config import NetworkConfig
from .numerics import GRADED_SLOPE_BITS, GRADED_V_BITS, GRADED_X_BITS

__all__ = [
    "PROTOCOL_VERSION", "DELIMITER", "CRC_POLY", "CRC_INIT", "MAX_PAYLOAD", "MAX_BODY",
    "RX_QUEUE_DEPTH", "MAX_QUEUED_PAYLOAD", "STORE_PARAMS", "StoreFlags", "Repeat",
    "DEDUPED_COMMANDS", "CHAIN_WINDOW", "chain_verdict",
    "REQUEST_HEADER", "REPLY_HEADER", "CRC_BYTES", "Command", "Error", "IDENTIFY_REPLY",
    "WEIGHT_RANGE", "CHUNK_RANGE", "COUNT", "BETA_RANGE", "RUN_PARAMS",
    "STATUS", "TRACE_EVENT", "RunFlags", "StatusFlags", "crc16", "cobs_encode", "cobs_decode",
    "encode_frame", "decode_frame", "word_bytes", "FrameError", "READ_COMMANDS",
    "STOP_REASON_SHIFT", "STOP_REASON_BITS", "INDEX_RANGE", "GRADED_RUN_PARAMS", "GradedRunFlags",
    "GRADED_STATUS",
    "GRADED_TRACE_EVENT", "GRADED_COMMANDS", "BINARY_COMMANDS", "V_WORD_BYTES", "field_layout",
    "RECALL_MANY_PARAMS", "PROBE_SEED", "pack_probes", "Target", "WordKind", "CommandSpec", "COMMANDS",
    # link geometry, stop reasons and word packing (the section at the end of this module)
    "StopReason", "STOP_REASON_NAMES", "sign_extend", "pack_lanes", "unpack_lanes",
    "pack_words", "unpack_words", "SIGMOID_ENTRY_FIELDS", "SIGMOID_ENTRY_BITS",
    "sigmoid_entry_word", "sigmoid_entry_from_word", "LinkGeometry", "pack_bits", "unpack_bits",
    "THRESHOLD_STEP_COUNTS", "pack_threshold_step",
]

#: 2: states, patterns and probes are packed bits (1 sent them in K-lane words); a host
#: refuses a board of another version at IDENTIFY. 3: the configuration names the engine design.
#: 4: the stop reason takes 3 bits of STATUS's flags (cycle2), fields valid moves to bit 5.
#: 5: the configuration carries store_patterns (the quantized store's commands, §14); a
#: receive queue: STOP reaches held runs (a stopped RECALL_MANY replies with the probes done),
#: Error.OVERFLOW. 6: STORE carries StoreFlags and is applied once per seq (a chain of STOREs
#: in flight, Error.SEQUENCE; "Requests in flight" in docs/protocol.md). 7: the configuration
#: carries replicas (a board with R = 2 runs RECALL_MANY's probes two at a time). 8: RECALL_MANY
#: with RunFlags.PROBE_SEEDS takes a generator state per probe (PROBE_SEED before its state);
#: the configuration carries beta_depth, and BETA_RANGE and RUN_PARAMS' beta_len are u16.
#: 9: the configuration's feature mask may carry Feature.SYMMETRIC (bit 4: the board's energy
#: assumes W = W^T, so the host must refuse asymmetric weights; docs/numerics.md §6).
PROTOCOL_VERSION = 9
DELIMITER = 0x00
#: CRC-16/CCITT-FALSE (x^16 + x^12 + x^5 + 1).
CRC_POLY = 0x1021
CRC_INIT = 0xFFFF
CRC_BYTES = 2
#: Largest payload of a request or a reply, in bytes.
MAX_PAYLOAD = 1024
REQUEST_HEADER = 2   # seq, cmd
REPLY_HEADER = 3     # seq, cmd, error
#: Largest body (header, payload, CRC) the board buffers; longer frames get Error.TOO_LONG.
MAX_BODY = REPLY_HEADER + MAX_PAYLOAD + CRC_BYTES
#: Entries of the board's receive queue (``gateware/rx_queue.py``), where the next frames wait
#: while one is served; the host keeps the bytes it has in flight (bodies plus one per frame)
#: within it. A power of two of block RAM (the largest below a longest body: 1024 x 12 bits is
#: three iCE40 EBRs, no read multiplexer, pointers that wrap for free) and the output register
#: of ``lib.fifo.SyncFIFOBuffered``. A longest body does not fit: such a frame is sent only when
#: nothing waits ahead of it (the board takes it straight into its frame buffer).
RX_QUEUE_DEPTH = (1 << (MAX_BODY.bit_length() - 1)) + 1
#: The longest request payload that waits whole in the receive queue (its body, end beat and a
#: resync delimiter's end beat): the payload limit of requests streamed back to back.
MAX_QUEUED_PAYLOAD = RX_QUEUE_DEPTH - REQUEST_HEADER - CRC_BYTES - 2


class Command(enum.IntEnum):
    """Command codes (the ``cmd`` byte). 0x40-0x5F are reserved for the graded engine."""
    IDENTIFY = 0x01       # -> IDENTIFY_REPLY
    WRITE_WEIGHTS = 0x02  # WEIGHT_RANGE + count weight words
    READ_WEIGHTS = 0x03   # WEIGHT_RANGE -> count weight words
    WRITE_BIAS = 0x04     # CHUNK_RANGE + count bias words
    READ_BIAS = 0x05      # CHUNK_RANGE -> count bias words
    WRITE_STATE = 0x06    # CHUNK_RANGE + count state words
    READ_STATE = 0x07     # CHUNK_RANGE -> count state words
    STORE = 0x08          # COUNT + count patterns of C state words (on-chip Hebbian, §9)
    CLEAR = 0x09          # zero weights and biases, state -1
    WRITE_BETA = 0x0A     # BETA_RANGE + count u16 Q8.8 entries
    RUN = 0x0B            # RUN_PARAMS; replies at once (poll READ_STATUS)
    STOP = 0x0C           # ends a run before its next visit
    READ_STATUS = 0x0D    # -> STATUS
    RECALL = 0x0E         # RUN_PARAMS + C state words -> STATUS + C state words (at the end)
    RECALL_MANY = 0x0F    # RUN_PARAMS + COUNT + M * ([PROBE_SEED] + C state words)
                          # -> M * (STATUS + C words)
    WRITE_CLAMP = 0x10    # CHUNK_RANGE + count clamp words (engine=column only, §12)
    READ_CYCLE_STATE = 0x11  # CHUNK_RANGE -> count state words (engine=column only, §13)
    WRITE_PATTERNS = 0x12    # INDEX_RANGE + count patterns of C state words (quantized store, §14)
    WRITE_THRESHOLDS = 0x13  # INDEX_RANGE + count u16 threshold steps (quantized store, §14)
    STORE_QUANTIZED = 0x14   # COUNT: the quantized store of patterns 0 .. count-1 (§14)
    # -- graded engine (Feature.GRADED; a board without it answers UNKNOWN_COMMAND) --------
    # WRITE_WEIGHTS / WRITE_BIAS write both engines; reads come from the binary engine (from
    # the graded one on a graded-only board, built without update orders).
    WRITE_U = 0x40        # INDEX_RANGE + count u words (graded_u_bits, two's complement)
    READ_U = 0x41         # INDEX_RANGE -> count u words
    READ_V = 0x42         # INDEX_RANGE -> count v words (V_WORD_BYTES, two's complement)
    WRITE_TABLE = 0x43    # INDEX_RANGE + count sigmoid entries (SigmoidEntry packing)
    READ_TABLE = 0x44     # INDEX_RANGE -> count sigmoid entries
    RUN_GRADED = 0x45     # GRADED_RUN_PARAMS; -> nothing at once, or GRADED_STATUS at the end
    READ_GRADED_STATUS = 0x46  # -> GRADED_STATUS
    GRADED_TRACE = 0x5F   # board -> host only: GRADED_TRACE_EVENT, during a traced RUN_GRADED
    TRACE = 0x7F          # board -> host only: TRACE_EVENT, during a traced RUN or RECALL


class Error(enum.IntEnum):
    """The ``error`` byte of a reply."""
    OK = 0
    CRC = 1              # the CRC of the request is wrong
    UNKNOWN_COMMAND = 2
    LENGTH = 3           # the payload length does not fit the command
    ADDRESS = 4          # an address or count beyond the memories
    BUSY = 5             # a run is going on
    ARGUMENT = 6         # a field value is not valid (order not built in, beta_len, ...)
    TOO_LONG = 7         # the frame is longer than MAX_BODY
    UNSUPPORTED = 8      # the feature is not built into this board
    OVERFLOW = 9         # the frame arrived while the receive queue was full: not executed
    SEQUENCE = 10        # a STORE that does not follow the last one applied: not executed


#: version, NetworkConfig.encode(), clock Hz, baud, MAX_PAYLOAD of the board.
IDENTIFY_REPLY = struct.Struct(f"<B{NetworkConfig.WIRE_SIZE}sIIH")
#: first weight word (column j, chunk c) and number of words; words then go c+1, ..., C-1,
#: then column j+1, chunk 0 (word address j*C + c increasing).
WEIGHT_RANGE = struct.Struct("<HHH")
#: first chunk and number of bias or state words.
CHUNK_RANGE = struct.Struct("<HH")
#: a number of patterns (STORE_QUANTIZED) or probes (RECALL_MANY).
COUNT = struct.Struct("<H")
#: STORE's header: the number of patterns and StoreFlags.
STORE_PARAMS = struct.Struct("<HB")
#: first beta schedule entry and number of entries (below NetworkConfig.beta_depth).
BETA_RANGE = struct.Struct("<HH")
#: order, RunFlags, seed (the generator state numerics.seed_state(seed)), max_visits, beta_len.
RUN_PARAMS = struct.Struct("<BBIIH")
#: A probe's own generator state (numerics.seed_state of its seed) before its state in a
#: RECALL_MANY with RunFlags.PROBE_SEEDS (the header's seed is then not used).
PROBE_SEED = struct.Struct("<I")
#: StatusFlags, |U|, visits, flips, cycles, refresh_cycles, 2E.
STATUS = struct.Struct("<BHIIIIq")
#: visit, neuron index, new value (1 = +1), delta 2E.
TRACE_EVENT = struct.Struct("<IHBi")


#: first neuron (u, v) or table entry, and number of words (graded commands).
INDEX_RANGE = struct.Struct("<HH")
#: gain_m, gain_e, dt_m, dt_e, leak_shift, GradedRunFlags, eps, max_steps: the fixed-point run
#: parameters of docs/numerics.md §11 (sim.graded.GradedParams, gateware graded_ports.RunParams).
GRADED_RUN_PARAMS = struct.Struct("<HBHBBBII")
#: StatusFlags (BUSY, CONVERGED, stop reason at STOP_REASON_SHIFT), steps, max |du| of the
#: last step (u units), cycles of the run.
GRADED_STATUS = struct.Struct("<BIQI")
#: step (1 = after the first step), neuron index, u (sign-extended), v.
GRADED_TRACE_EVENT = struct.Struct("<IHqh")
#: Bytes of a v word (GRADED_V_BITS wide).
V_WORD_BYTES = (GRADED_V_BITS + 7) // 8


class GradedRunFlags(enum.IntFlag):
    TRACE = 1 << 0    # send a GRADED_TRACE frame per neuron and step (needs WAIT)
    WAIT = 1 << 1     # reply at the end of the run with GRADED_STATUS (else at once)


class StoreFlags(enum.IntFlag):
    """STORE's flags: FIRST begins a chain of STOREs (see :class:`Repeat`)."""
    FIRST = 1 << 0


class RunFlags(enum.IntFlag):
    STOCHASTIC = 1 << 0
    TRACE = 1 << 1
    #: RECALL_MANY only (Error.ARGUMENT on RUN and RECALL): each probe carries its own seed
    #: (PROBE_SEED before its state, :func:`pack_probes`)
    PROBE_SEEDS = 1 << 2


class StatusFlags(enum.IntFlag):
    """Bits of STATUS's first byte; bits 2-4 hold the StopReason (engine_ports)."""
    BUSY = 1 << 0
    CONVERGED = 1 << 1
    FIELDS_VALID = 1 << 5


STOP_REASON_SHIFT = 2
#: Bits of the stop reason in the flags byte (at STOP_REASON_SHIFT).
STOP_REASON_BITS = 3


def field_layout(layout: struct.Struct) -> list[tuple[int, int]]:
    """(byte offset, size) of every field of a little-endian payload layout (no padding), so
    that the gateware slices a payload where the struct format says."""
    fmt = layout.format
    if fmt[0] != "<" or any(ch.isdigit() for ch in fmt):
        raise ValueError(f"field_layout needs a '<' format of single fields, not {fmt!r}")
    out, offset = [], 0
    for ch in fmt[1:]:
        size = struct.calcsize("<" + ch)
        out.append((offset, size))
        offset += size
    return out


# -- the command table ------------------------------------------------------------------------
# Everything a board needs to decode a request: the gateware's command engine derives its header
# decoding and validation from it, and the host builds its requests from it.


class Target(enum.Enum):
    """What serves a command on the board."""
    LINK = "link"       # the command engine itself (IDENTIFY, STOP): any board
    ANY = "any"         # the weights and biases: writes reach every engine built, reads come
                        # from the binary engine (from the graded one on a graded-only board)
    BINARY = "binary"   # the binary engine: unknown on a graded-only board
    GRADED = "graded"   # the graded engine: unknown on a board without Feature.GRADED


class WordKind(enum.Enum):
    """The words that follow a request's header (writes) or make up its reply (reads)."""
    NONE = "none"
    WEIGHT = "weight"   # K lanes of weight_bits (word_bytes(K * weight_bits))
    BIAS = "bias"       # K lanes of bias_bits
    STATE = "state"     # packed neuron bits, 8 a byte (STORE: patterns, RECALL: probes)
    BETA = "beta"       # u16 Q8.8 schedule entries
    U = "u"             # graded_u_bits, two's complement
    V = "v"             # V_WORD_BYTES, two's complement
    TABLE = "table"     # sigmoid entries (SigmoidEntry packing)
    THRESHOLD = "threshold"  # u16 thresholds of the quantized store (§14)


class Repeat(enum.Enum):
    """What the driver may do when a request's reply is lost (``host/link.py``).

    DEDUPED requests (STORE: it adds to the weights, and the saturating sums depend on the
    order) form *chains*: the board keeps the seq of the last one it applied (``last``) and
    whether a chain is open (``chained``; any other well-formed request closes it). A request
    whose seq is ``last`` (chain open) is a repeat: answered OK, not applied again. A request
    that begins a chain (StoreFlags.FIRST) is applied when no chain is open or its seq is ahead
    of ``last`` (1 to 127 after it, mod 256); any other is applied only with seq ``last`` + 1.
    The rest are refused with Error.SEQUENCE (not applied). So a chain is applied in seq
    order, each request once; the driver numbers a chain's requests consecutively, sends a
    lost one again with its own seq, and keeps fewer than :data:`CHAIN_WINDOW` in flight."""
    SAFE = "safe"          # idempotent: sent again with a new seq
    DEDUPED = "deduped"    # sent again with the same seq: the board applies it once
    ONCE = "once"          # sent once (runs: RUN, RUN_GRADED)


#: Seqs of a chain ahead of ``last`` that a chain's first request may take (Repeat); more
#: than the requests of a chain that can be in flight (the receive queue's entries by the
#: shortest STORE frame), so a repeat is never taken for a new request.
CHAIN_WINDOW = 128


def chain_verdict(chained: bool, last: int, seq: int, first: bool) -> str:
    """The board's decision on a DEDUPED request (:class:`Repeat`): "repeat", "apply" or
    "refuse" (Error.SEQUENCE); the gateware's and the tests' reference."""
    ahead = (seq - last) % 256
    if chained and ahead == 0:
        return "repeat"
    if first:
        return "apply" if not chained or 0 < ahead < CHAIN_WINDOW else "refuse"
    return "apply" if chained and ahead == 1 else "refuse"


@dataclasses.dataclass(frozen=True)
class CommandSpec:
    """One request: its header (a ``struct`` layout and the names of its fields), the words
    after it or in its reply, what serves it, whether it is served while a run goes on
    (every other command then gets Error.BUSY) and whether it may be sent again
    (:class:`Repeat`)."""
    command: Command
    header: struct.Struct | None
    fields: tuple[str, ...]
    words: WordKind
    target: Target
    while_busy: bool = False
    repeat: Repeat = Repeat.SAFE

    def __post_init__(self):
        n = 0 if self.header is None else len(field_layout(self.header))
        if n != len(self.fields):
            raise ValueError(f"{self.command.name}: {len(self.fields)} field names "
                             f"{self.fields} for a header of {n} fields")

    @property
    def header_size(self) -> int:
        return 0 if self.header is None else self.header.size

    def field_slices(self) -> dict[str, tuple[int, int]]:
        """(byte offset, size) of each header field by name."""
        if self.header is None:
            return {}
        return dict(zip(self.fields, field_layout(self.header)))

    def pack(self, **fields: int) -> bytes:
        """The request header from its fields by name; a missing or unknown name raises."""
        if set(fields) != set(self.fields):
            raise ValueError(f"{self.command.name} takes the header fields {self.fields}, "
                             f"not {tuple(fields)}")
        return b"" if self.header is None else self.header.pack(*(fields[f] for f in
                                                                     self.fields))


_RUN_FIELDS = ("order", "flags", "seed", "max_visits", "beta_len")
#: RECALL_MANY's header: RUN_PARAMS, then the number of probes.
RECALL_MANY_PARAMS = struct.Struct(RUN_PARAMS.format + COUNT.format[1:])


def _spec(command, header, fields, words, target, while_busy=False, repeat=Repeat.SAFE):
    return command, CommandSpec(command, header, fields, words, target, while_busy, repeat)


#: The requests a board decodes (TRACE and GRADED_TRACE only go from the board to the host).
COMMANDS: dict[Command, CommandSpec] = dict([
    _spec(Command.IDENTIFY, None, (), WordKind.NONE, Target.LINK, while_busy=True),
    _spec(Command.WRITE_WEIGHTS, WEIGHT_RANGE, ("column", "chunk", "count"), WordKind.WEIGHT,
          Target.ANY),
    _spec(Command.READ_WEIGHTS, WEIGHT_RANGE, ("column", "chunk", "count"), WordKind.WEIGHT,
          Target.ANY),
    _spec(Command.WRITE_BIAS, CHUNK_RANGE, ("chunk", "count"), WordKind.BIAS, Target.ANY),
    _spec(Command.READ_BIAS, CHUNK_RANGE, ("chunk", "count"), WordKind.BIAS, Target.ANY),
    _spec(Command.WRITE_STATE, CHUNK_RANGE, ("chunk", "count"), WordKind.STATE, Target.BINARY),
    _spec(Command.READ_STATE, CHUNK_RANGE, ("chunk", "count"), WordKind.STATE, Target.BINARY),
    # adds to the weights (saturating: the order matters): applied once per chain seq
    _spec(Command.STORE, STORE_PARAMS, ("count", "flags"), WordKind.STATE, Target.BINARY,
          repeat=Repeat.DEDUPED),
    _spec(Command.CLEAR, None, (), WordKind.NONE, Target.BINARY),
    _spec(Command.WRITE_BETA, BETA_RANGE, ("first", "count"), WordKind.BETA, Target.BINARY),
    _spec(Command.RUN, RUN_PARAMS, _RUN_FIELDS, WordKind.NONE, Target.BINARY,
          repeat=Repeat.ONCE),
    _spec(Command.STOP, None, (), WordKind.NONE, Target.LINK, while_busy=True),
    _spec(Command.READ_STATUS, None, (), WordKind.NONE, Target.BINARY, while_busy=True),
    _spec(Command.RECALL, RUN_PARAMS, _RUN_FIELDS, WordKind.STATE, Target.BINARY),
    _spec(Command.RECALL_MANY, RECALL_MANY_PARAMS, (*_RUN_FIELDS, "count"), WordKind.STATE,
          Target.BINARY),
    # The clamp mask (docs/numerics.md §12, bit 1 = held), packed like a state range: it stays
    # until written again. Only the column engine has one (Error.UNSUPPORTED elsewhere).
    _spec(Command.WRITE_CLAMP, CHUNK_RANGE, ("chunk", "count"), WordKind.STATE, Target.BINARY),
    # The state before the last synchronous step's flips (§13; after stop reason CYCLE2, the
    # other state of the 2-cycle), packed like READ_STATE. Column engine only.
    _spec(Command.READ_CYCLE_STATE, CHUNK_RANGE, ("chunk", "count"), WordKind.STATE,
          Target.BINARY),
    # The quantized Hebbian store (§14), on a board built with store_patterns (P_MAX) > 0:
    # patterns into the buffer (entries first .. first+count-1 < P_MAX), the threshold steps
    # (NetworkConfig.store_thresholds of them; golden.quantized_store_table, packed by
    # pack_threshold_step), then the store of buffer entries 0 .. count-1 (count <= P_MAX),
    # which replaces the weights.
    _spec(Command.WRITE_PATTERNS, INDEX_RANGE, ("first", "count"), WordKind.STATE,
          Target.BINARY),
    _spec(Command.WRITE_THRESHOLDS, INDEX_RANGE, ("first", "count"), WordKind.THRESHOLD,
          Target.BINARY),
    _spec(Command.STORE_QUANTIZED, COUNT, ("count",), WordKind.NONE, Target.BINARY),
    _spec(Command.WRITE_U, INDEX_RANGE, ("first", "count"), WordKind.U, Target.GRADED),
    _spec(Command.READ_U, INDEX_RANGE, ("first", "count"), WordKind.U, Target.GRADED),
    _spec(Command.READ_V, INDEX_RANGE, ("first", "count"), WordKind.V, Target.GRADED),
    _spec(Command.WRITE_TABLE, INDEX_RANGE, ("first", "count"), WordKind.TABLE, Target.GRADED),
    _spec(Command.READ_TABLE, INDEX_RANGE, ("first", "count"), WordKind.TABLE, Target.GRADED),
    _spec(Command.RUN_GRADED, GRADED_RUN_PARAMS,
          ("gain_m", "gain_e", "dt_m", "dt_e", "leak_shift", "flags", "eps", "max_steps"),
          WordKind.NONE, Target.GRADED, repeat=Repeat.ONCE),
    _spec(Command.READ_GRADED_STATUS, None, (), WordKind.NONE, Target.GRADED, while_busy=True),
])

#: The commands of the graded engine (decoded only by a board built with Feature.GRADED).
GRADED_COMMANDS = frozenset(c for c, s in COMMANDS.items() if s.target is Target.GRADED)
#: The commands of the binary engine: a graded-only board (no update orders) answers them with
#: UNKNOWN_COMMAND. IDENTIFY, STOP and the weight and bias commands serve either engine.
BINARY_COMMANDS = frozenset(c for c, s in COMMANDS.items() if s.target is Target.BINARY)
#: Commands a board answers while a run is going on; every other one gets Error.BUSY.
READ_COMMANDS = frozenset(c for c, s in COMMANDS.items() if s.while_busy)
#: Commands the board applies once per chain seq (Repeat.DEDUPED).
DEDUPED_COMMANDS = frozenset(c for c, s in COMMANDS.items() if s.repeat is Repeat.DEDUPED)
# A chain's requests in flight (each a header, a CRC, its own header and a state byte at least,
# and a queue entry for its end) stay below the window of ``chain_verdict``.
assert all(RX_QUEUE_DEPTH // (REQUEST_HEADER + COMMANDS[c].header_size + 1 + CRC_BYTES + 1)
           < CHAIN_WINDOW for c in DEDUPED_COMMANDS)


def word_bytes(bits: int) -> int:
    """Bytes of one access word of ``bits`` bits on the wire."""
    return (bits + 7) // 8


class FrameError(ValueError):
    """A received frame is malformed (bad COBS, too short, bad CRC)."""


def crc16(data: bytes, crc: int = CRC_INIT) -> int:
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def cobs_encode(data: bytes) -> bytes:
    """COBS encoding of ``data`` (no delimiter): no output byte is 0."""
    out = bytearray()
    block = bytearray()
    for byte in data:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of :func:`cobs_encode`; raises FrameError on a zero or a truncated block."""
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:
            raise FrameError(f"COBS: zero byte at offset {i}")
        end = i + code
        if end > len(data):
            raise FrameError(f"COBS: block at offset {i} claims {code - 1} bytes, "
                             f"{len(data) - i - 1} left")
        block = data[i + 1:end]
        if 0 in block:
            raise FrameError(f"COBS: zero byte inside the block at offset {i}")
        out += block
        i = end
        if code != 255 and i < len(data):
            out.append(0)
    return bytes(out)


def encode_frame(body: bytes) -> bytes:
    """Append the CRC to ``body`` (header + payload), COBS-encode, add the delimiter."""
    crc = crc16(body)
    return cobs_encode(body + bytes([crc >> 8, crc & 0xFF])) + bytes([DELIMITER])


def decode_frame(encoded: bytes) -> bytes:
    """Inverse of :func:`encode_frame` without the delimiter: checks and strips the CRC."""
    body = cobs_decode(encoded)
    if len(body) < REQUEST_HEADER + CRC_BYTES:
        raise FrameError(f"frame of {len(body)} bytes is shorter than a header and a CRC")
    if crc16(body) != 0:
        raise FrameError("CRC mismatch")
    return body[:-CRC_BYTES]


# -- link geometry, stop reasons and word packing ------------------------------------------------
# Shared by the gateware (engine ports, command engine), the host driver and the testbenches,
# so that none of them writes a lane layout, a sign extension or a word size again. Plain
# Python: importing this module never imports Amaranth.


class StopReason(enum.IntEnum):
    """Why the last run ended (docs/numerics.md §7, §13), bits 2-4 of StatusFlags (at
    :data:`STOP_REASON_SHIFT`); NONE before the first run. The gateware's ``lib.enum`` of the
    same name (``gateware/engine_ports.py``) is built from this one."""
    NONE = 0
    CONVERGED = 1
    CAP = 2
    STOP = 3
    CYCLE2 = 4       # a synchronous run reached a 2-cycle (§13)


#: The ``stopped`` string of a RunResult for each stop reason (NONE: nothing ran, a fixed point).
STOP_REASON_NAMES = {StopReason.NONE: "converged", StopReason.CONVERGED: "converged",
                     StopReason.CAP: "cap", StopReason.STOP: "stop",
                     StopReason.CYCLE2: "cycle2"}


def sign_extend(value: int, bits: int) -> int:
    """The two's complement value of the low ``bits`` bits of ``value``."""
    value = int(value) & ((1 << bits) - 1)
    return value - (1 << bits) if value >> (bits - 1) else value


def pack_lanes(values, width: int) -> int:
    """One access word from lane values (lane i at bits i*width, two's complement)."""
    word = 0
    mask = (1 << width) - 1
    for lane, v in enumerate(values):
        word |= (int(v) & mask) << (lane * width)
    return word


def unpack_lanes(word: int, width: int, count: int, *, signed: bool = True) -> list[int]:
    """Inverse of :func:`pack_lanes`: ``count`` lanes of ``width`` bits."""
    mask = (1 << width) - 1
    lanes = [(int(word) >> (lane * width)) & mask for lane in range(count)]
    return [sign_extend(v, width) for v in lanes] if signed else lanes


def pack_words(values, width: int, lanes: int, nbytes: int) -> bytes:
    """Words of ``lanes`` lanes from a vector (zero-padded to whole words), ``nbytes`` bytes
    each, least significant byte first: chunk c holds values c*K .. c*K+K-1."""
    values = [int(v) for v in values]
    values += [0] * (-len(values) % lanes)
    return b"".join(pack_lanes(values[c:c + lanes], width).to_bytes(nbytes, "little")
                    for c in range(0, len(values), lanes))


def unpack_words(data: bytes, width: int, lanes: int, nbytes: int, *,
                 signed: bool = True) -> list[int]:
    """Inverse of :func:`pack_words` (every lane of every word, padding included)."""
    out = []
    for off in range(0, len(data), nbytes):
        out += unpack_lanes(int.from_bytes(data[off:off + nbytes], "little"), width, lanes,
                            signed=signed)
    return out


#: Bit of a WRITE_THRESHOLDS word that makes its step count a level (§14); delta is below it.
THRESHOLD_STEP_COUNTS = 1 << 15


def pack_threshold_step(delta: int, counts: bool) -> int:
    """A WRITE_THRESHOLDS word (u16): a step of ``numerics.hebbian_threshold_steps``."""
    if not 0 <= delta < THRESHOLD_STEP_COUNTS:
        raise ValueError(f"a threshold step's delta must be from 0 to "
                         f"{THRESHOLD_STEP_COUNTS - 1}, not {delta!r}")
    return delta | (THRESHOLD_STEP_COUNTS if counts else 0)


def pack_probes(states, seeds=None) -> bytes:
    """RECALL_MANY's probes after its header: each probe's packed state (bytes), preceded by
    its PROBE_SEED (a generator state, :func:`numerics.seed_state`) when ``seeds`` is given
    (RunFlags.PROBE_SEEDS)."""
    if seeds is None:
        return b"".join(states)
    if len(seeds) != len(states):
        raise ValueError(f"{len(seeds)} probe seeds for {len(states)} probes")
    return b"".join(PROBE_SEED.pack(s) + st for s, st in zip(seeds, states))


def pack_bits(bits) -> bytes:
    """Packed bits on the wire: bit i at bit i % 8 of byte i // 8, ceil(len/8) bytes, the
    last byte's unused high bits 0. ``bits`` are 0/1 values (a state's neurons, +1 as 1)."""
    bits = [int(b) for b in bits]
    for i, b in enumerate(bits):
        if b not in (0, 1):
            raise ValueError(f"pack_bits takes 0/1 values, not {b!r} at index {i}")
    return bytes(sum(b << j for j, b in enumerate(bits[off:off + 8]))
                 for off in range(0, len(bits), 8))


def unpack_bits(data: bytes, count: int) -> list[int]:
    """Inverse of :func:`pack_bits`: the first ``count`` bits of ``data``."""
    if len(data) != word_bytes(count):
        raise ValueError(f"{count} packed bits take {word_bytes(count)} bytes, not {len(data)}")
    return [(data[i // 8] >> (i % 8)) & 1 for i in range(count)]


#: A sigmoid table entry (docs/graded.md): breakpoint x (units 2**-14), value y (V units),
#: slope m (2**-12), each signed, packed from bit 0 in this order.
SIGMOID_ENTRY_FIELDS = (("x", GRADED_X_BITS), ("y", GRADED_V_BITS), ("m", GRADED_SLOPE_BITS))
SIGMOID_ENTRY_BITS = sum(bits for _, bits in SIGMOID_ENTRY_FIELDS)


def sigmoid_entry_word(entry) -> int:
    """The word of one (x, y, m) sigmoid table entry."""
    word, offset = 0, 0
    for value, (_, bits) in zip(entry, SIGMOID_ENTRY_FIELDS, strict=True):
        word |= (int(value) & ((1 << bits) - 1)) << offset
        offset += bits
    return word


def sigmoid_entry_from_word(word: int) -> tuple[int, int, int]:
    """Inverse of :func:`sigmoid_entry_word`."""
    out, offset = [], 0
    for _, bits in SIGMOID_ENTRY_FIELDS:
        out.append(sign_extend(int(word) >> offset, bits))
        offset += bits
    return tuple(out)


class LinkGeometry:
    """Sizes of the words and batches on the wire for one configuration (gateware and host)."""

    def __init__(self, config: NetworkConfig):
        self.config = config
        k = config.lanes
        self.weight_word = word_bytes(k * config.weight_bits)
        self.bias_word = word_bytes(k * config.bias_bits)
        self.beta_word = 2
        self.threshold_word = 2      # pack_threshold_step
        #: Bytes of a whole state (packed bits) and the real lanes of the last chunk (the
        #: others of the last word are padding, 0 on the wire side).
        self.state_bytes = word_bytes(config.neurons)
        self.last_chunk_bits = config.neurons - (config.chunks - 1) * k
        self.weight_words = config.neurons * config.chunks
        #: Words per read reply / write request (the payload limit).
        self.max_read = {
            "weights": MAX_PAYLOAD // self.weight_word,
            "bias": MAX_PAYLOAD // self.bias_word,
            "state": 8 * MAX_PAYLOAD // k,      # chunks (packed bits)
        }
        self.max_write = {
            # weights stream back to back (Link.stream): each frame waits whole in the queue
            "weights": (MAX_QUEUED_PAYLOAD - WEIGHT_RANGE.size) // self.weight_word,
            "bias": (MAX_PAYLOAD - CHUNK_RANGE.size) // self.bias_word,
            "state": 8 * (MAX_PAYLOAD - CHUNK_RANGE.size) // k,
            "beta": (MAX_PAYLOAD - BETA_RANGE.size) // self.beta_word,
        }
        # STOREs go in flight (Link.stream): each frame waits whole in the receive queue
        self.max_store = (MAX_QUEUED_PAYLOAD - STORE_PARAMS.size) // self.state_bytes
        self.max_write["patterns"] = (MAX_PAYLOAD - INDEX_RANGE.size) // self.state_bytes
        self.max_write["thresholds"] = (MAX_PAYLOAD - INDEX_RANGE.size) // self.threshold_word
        self.recall_result = STATUS.size + self.state_bytes
        # graded engine words (used only with Feature.GRADED)
        self.u_word = word_bytes(config.graded_u_bits)
        self.v_word = V_WORD_BYTES
        self.table_word = word_bytes(SIGMOID_ENTRY_BITS)
        for kind, w in (("u", self.u_word), ("v", self.v_word), ("table", self.table_word)):
            self.max_read[kind] = MAX_PAYLOAD // w
            self.max_write[kind] = (MAX_PAYLOAD - INDEX_RANGE.size) // w
        #: Probes of a RECALL_MANY: its results fit a reply and its probes (with their
        #: PROBE_SEEDs: max_recall_many_seeded) a request.
        self.max_recall_many, self.max_recall_many_seeded = (min(
            MAX_PAYLOAD // self.recall_result,
            (MAX_PAYLOAD - RECALL_MANY_PARAMS.size) // (self.state_bytes + extra))
            for extra in (0, PROBE_SEED.size))
        if self.max_recall_many_seeded < 1 or self.max_store < 1:
            raise ValueError(f"N={config.neurons} does not fit a {MAX_PAYLOAD}-byte payload "
                             f"for RECALL_MANY / STORE (a state is {self.state_bytes} bytes)")

    def state_range_bits(self, chunk: int, count: int) -> int:
        """Neurons of the state chunks ``chunk`` .. ``chunk + count - 1`` (a WRITE_STATE /
        READ_STATE range): K a chunk, fewer in the last one."""
        if not (0 <= chunk and 0 <= count and chunk + count <= self.config.chunks):
            raise ValueError(f"chunks {chunk} + {count} are not a range of the "
                             f"{self.config.chunks} chunks")
        if count == 0:
            return 0
        return min((chunk + count) * self.config.lanes, self.config.neurons) \
            - chunk * self.config.lanes

    def state_range_bytes(self, chunk: int, count: int) -> int:
        """Bytes of a state range on the wire (its bits packed, :func:`pack_bits`)."""
        return word_bytes(self.state_range_bits(chunk, count))
