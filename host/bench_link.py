"""``hopfield bench link``: link efficiency of the board protocol, from the driver's own frames.

The frames are not modelled: a :class:`~hopfield_fpga.host.board.Board` is opened on a
:class:`RecordingPort`, a stand-in serial port that records every byte the driver writes and
answers each request with an OK reply of the size the protocol prescribes (built with
``protocol.encode_frame``). ``load_weights``, ``store`` and ``recall_many`` then run unchanged,
so the bytes counted are exactly those the driver would put on a real port (the identify
exchange of ``Board.open`` is left out). Reply *contents* are stand-ins (probes echoed, a zero
status); COBS adds one byte per 254 non-zero bytes, so a real reply can differ by a byte or two.

Times are computed, not measured: each request is sent, buffered whole by the command engine
(``gateware/command_engine.py``), executed, and answered before the driver sends the next one,
so an operation takes the sum over its requests of (request bytes + reply bytes) * 10 bit times
(8N1: a start and a stop bit per byte) / baud plus the engine's cycles / clock. Engine cycles
are those of the board's engine design (``gateware/engine_cycles.py``, the cycle tables of
``docs/engine.md``): access writes, the Hebbian store of each pattern, and the refresh that the
first run after a weight or bias write pays (reported, not in the time). Not counted: the
command engine's own cycles (CRC check, buffer reads), the host's and the USB bridge's
turnaround per request (about 1 ms per round trip on common USB-UART bridges), so the times
are lower bounds.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from hopfield_fpga import protocol as P
from hopfield_fpga.baud import CHARACTER_BITS, LEGACY_BAUD, uart_timing
from hopfield_fpga.config import Feature, NetworkConfig, Order
from hopfield_fpga.gateware.engine_cycles import access_write_cycles, refresh_cycles, store_cycles
from hopfield_fpga.protocol import LinkGeometry
from hopfield_fpga.text_table import right_aligned
from hopfield_fpga.hw.boards import BOARDS, get_board

__all__ = ["RecordingPort", "LinkRow", "DEFAULT_BAUDS", "DEFAULT_BOARDS", "run_link_bench",
           "format_table", "operations", "count_bytes", "measure",
           "state_transfer_rows", "BoardRecallRow", "board_recall_rows", "BOARD_PROBES",
           "format_board_table", "inflight_rows", "ROUND_TRIP", "INFLIGHT_FRAMES"]

DEFAULT_BAUDS = (115_200, 1_000_000, 3_000_000)
#: Boards whose sys clock and engine design the load and store times are computed with.
DEFAULT_BOARDS = ("icebreaker", "ulx3s-25f", "ecpix5-85f")
NEURONS = 256
WEIGHT_BITS = 8
STORED_PATTERNS = 26
DEFAULT_BATCH = 26
#: Probes of each board's batched recall (the engine benchmark's workload: P = 0.1 N patterns
#: stored on chip, probes made from them with RECALL_NOISE of the bits flipped, RECALL_ORDER).
BOARD_PROBES = 8
RECALL_NOISE = 0.1
RECALL_ORDER = "random"
#: ... or this one on a board built without the random order (the ULX3S 85F's default): the
#: same random choice among the unstable neurons, without the stable visits.
RECALL_ORDER_ELSE = "rejection_free"
#: The in-flight rows' batched recall: this many full RECALL_MANY frames.
INFLIGHT_FRAMES = 4
#: The host's and the USB bridge's turnaround (seconds): a request that waits for a reply goes
#: out this long after the reply came in (about 1 ms on common USB-UART bridges).
ROUND_TRIP = 1e-3


class RecordingPort:
    """A serial port stand-in: records the host's bytes, answers every request with OK.

    Each reply is ``protocol.encode_frame(seq, cmd, OK, payload)`` with the payload size the
    protocol fixes for the command (identify: the configuration; writes and STORE: empty;
    RECALL_MANY: per probe a zero STATUS and the probe's state words echoed).
    """

    quiet = False

    def __init__(self, config: NetworkConfig, *, clk_freq: int, baud: int):
        self.config = config
        self.geometry = LinkGeometry(config)
        self.clk_freq = clk_freq
        self.baud = baud
        self._out = bytearray()
        self._in = bytearray()
        #: (request bytes on the wire, reply bytes on the wire, cmd, request payload) per request.
        self.log: list[tuple[int, int, P.Command, bytes]] = []

    @property
    def in_waiting(self) -> int:
        return len(self._in)

    def read(self, size: int) -> bytes:
        data = bytes(self._in[:size])
        del self._in[:size]
        return data

    def write(self, data: bytes) -> int:
        self._out += data
        while P.DELIMITER in self._out:
            i = self._out.index(P.DELIMITER)
            raw = bytes(self._out[:i])
            del self._out[:i + 1]
            if raw:
                # The frame's wire size includes its delimiter (and a leading resync 0x00,
                # which arrives as an empty frame and is charged to the next one).
                self._serve(raw, len(raw) + 1)
        return len(data)

    def _serve(self, raw: bytes, wire: int) -> None:
        body = P.decode_frame(raw)
        seq, cmd, payload = body[0], P.Command(body[1]), body[2:]
        if cmd is P.Command.IDENTIFY:
            data = P.IDENTIFY_REPLY.pack(P.PROTOCOL_VERSION, self.config.encode(),
                                         self.clk_freq, self.baud, P.MAX_PAYLOAD)
        elif cmd is P.Command.RECALL_MANY:
            head = P.RUN_PARAMS.size + P.COUNT.size
            (count,) = P.COUNT.unpack(payload[P.RUN_PARAMS.size:head])
            sb = self.geometry.state_bytes
            status = P.STATUS.pack(int(P.StatusFlags.CONVERGED), 0, 0, 0, 0, 0, 0)
            data = b"".join(status + payload[head + i * sb:head + (i + 1) * sb]
                            for i in range(count))
        elif cmd is P.Command.RECALL:
            data = P.STATUS.pack(int(P.StatusFlags.CONVERGED), 0, 0, 0, 0, 0, 0) + payload[
                P.RUN_PARAMS.size:]
        elif cmd in (P.Command.WRITE_WEIGHTS, P.Command.WRITE_BIAS, P.Command.STORE,
                     P.Command.WRITE_STATE, P.Command.CLEAR,
                     P.Command.WRITE_CLAMP):     # a column engine's board: the recall's mask
            data = b""
        else:
            raise NotImplementedError(f"RecordingPort does not answer {cmd.name}")
        reply = P.encode_frame(bytes([seq, cmd, P.Error.OK]) + data)
        self._in += reply
        self.log.append((wire, len(reply), cmd, bytes(payload)))

    def close(self) -> None:
        pass


@dataclasses.dataclass
class LinkRow:
    """One operation on one link: bytes, ratios and (for load and store) times."""
    operation: str
    neurons: int
    lanes: int
    weight_bits: int
    requests: int
    data_bytes: int          # weight/bias words, patterns, probes + results: what the user moves
    payload_bits: int        # information: N W + B bits a weight column, N a state, STATUS
    wire_out: int            # bytes the host writes (COBS, seq, cmd, headers, CRC, delimiter)
    wire_in: int             # bytes the board answers with
    board: str | None = None
    clk_mhz: float | None = None
    baud: int | None = None
    engine_cycles: int | None = None     # the engine's work (access writes, Hebbian store)
    refresh_cycles: int | None = None    # paid by the next run, not in time_ms

    @property
    def wire_bytes(self) -> int:
        return self.wire_out + self.wire_in

    @property
    def bytes_ratio(self) -> float:
        """Wire bytes (both directions) per data byte: the <= 1.05 target."""
        return self.wire_bytes / self.data_bytes

    @property
    def bit_times(self) -> int:
        return CHARACTER_BITS * self.wire_bytes

    @property
    def wire_bits(self) -> int:
        """Bit times on the line, UART start and stop bits included (= bit_times)."""
        return self.bit_times

    @property
    def line_ratio(self) -> float:
        """Bit times per data bit: bytes_ratio with the UART start and stop bits (x 10/8)."""
        return self.bit_times / (8 * self.data_bytes)

    @property
    def wire_ms(self) -> float | None:
        return None if self.baud is None else 1e3 * self.bit_times / self.baud

    @property
    def engine_ms(self) -> float | None:
        if self.engine_cycles is None or self.clk_mhz is None:
            return None
        return self.engine_cycles / (self.clk_mhz * 1e3)

    @property
    def time_ms(self) -> float | None:
        if self.wire_ms is None or self.engine_ms is None:
            return None
        return self.wire_ms + self.engine_ms

    @property
    def seconds(self) -> float | None:
        return None if self.time_ms is None else self.time_ms / 1e3

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for name in ("wire_bytes", "bytes_ratio", "bit_times", "wire_bits", "line_ratio", "wire_ms",
                     "engine_ms", "time_ms", "seconds"):
            d[name] = getattr(self, name)
        return {"table": "bytes", **d}


def _open(config: NetworkConfig):
    """A Board on a recording port, as after its first run: a column engine's board has then
    got the clamp mask (all free) that the driver sends once a link, with the first run
    (``docs/protocol.md``, WRITE_CLAMP): the rows count what every later batch costs."""
    from .board import Board
    port = RecordingPort(config, clk_freq=12_000_000, baud=115_200)
    board = Board(port, url="recording")
    if config.engine == "column":
        board.recall(np.ones(config.neurons, dtype=np.int8), max_sweeps=1)
    port.log.clear()
    return board, port


def operations(config: NetworkConfig, *, batch: int = DEFAULT_BATCH,
               patterns: int = STORED_PATTERNS, seed: int = 1) -> dict:
    """The benchmark's operations on a Board: ``{name: function(board)}``, inputs drawn from
    ``seed``. Full-range weights exercise every bit of every word (COBS depends on zeros)."""
    if batch < 1 or patterns < 1:
        raise ValueError(f"batch and patterns must be at least 1, not {batch} and {patterns}")
    rng = np.random.default_rng(seed)
    n = config.neurons
    w = rng.integers(config.weight_min, config.weight_max + 1, size=(n, n))
    b = rng.integers(config.bias_min, config.bias_max + 1, size=n)
    pats = rng.choice(np.array([-1, 1], dtype=np.int8), size=(patterns, n))
    probes = rng.choice(np.array([-1, 1], dtype=np.int8), size=(batch, n))
    def store(board):
        with warnings.catch_warnings():     # only the bytes count: a clipping store is fine
            warnings.simplefilter("ignore", UserWarning)
            board.store(pats)
    return {"load": lambda board: board.load_weights(w, b), "store": store,
            "recall_many": lambda board: board.recall_many(probes, max_sweeps=1)}


def count_bytes(board, operation) -> tuple[int, int]:
    """(bytes written, bytes read) by ``board``'s driver during ``operation(board)``."""
    out0, in0 = board.bytes_out, board.bytes_in
    operation(board)
    return board.bytes_out - out0, board.bytes_in - in0


def measure(config: NetworkConfig, *, batch: int = DEFAULT_BATCH,
            patterns: int = STORED_PATTERNS, seed: int = 1,
            names=("load", "store", "recall_many")) -> dict[str, LinkRow]:
    """The bytes (no times) of the operations ``names`` for ``config``, from the driver's
    frames."""
    ops = {name: op for name, op in operations(config, batch=batch, patterns=patterns,
                                               seed=seed).items() if name in names}
    geo = LinkGeometry(config)
    n, c, k = config.neurons, config.chunks, config.lanes
    data = {"load": geo.weight_words * geo.weight_word + c * geo.bias_word,
            "store": patterns * geo.state_bytes,
            "recall_many": batch * (geo.state_bytes + geo.recall_result)}
    status_bits = 8 * P.STATUS.size
    payload = {"load": n * n * config.weight_bits + n * config.bias_bits,
               "store": patterns * n,
               "recall_many": batch * (2 * n + status_bits)}
    cycles = {"load": access_write_cycles(config) * (geo.weight_words + c),
              "store": patterns * store_cycles(config),
              "recall_many": None}                          # depends on the probes
    rows = {}
    for name, op in ops.items():
        board, port = _open(config)
        out, inn = count_bytes(board, op)
        # The driver's own counters must agree with the frames the port saw.
        if (out, inn) != (sum(e[0] for e in port.log), sum(e[1] for e in port.log)):
            raise AssertionError(f"{name}: the driver's byte counters disagree with the frames")
        rows[name] = LinkRow(name, n, k, config.weight_bits, len(port.log), data[name],
                             payload[name], out, inn, engine_cycles=cycles[name],
                             refresh_cycles=None if name == "recall_many"
                             else refresh_cycles(config))
    return rows


def state_transfer_rows(config: NetworkConfig, *, batch: int = DEFAULT_BATCH,
                        patterns: int = STORED_PATTERNS, seed: int = 1) -> list[LinkRow]:
    """The state and probe transfers of :func:`measure` (bytes only): the store (where the
    board has the on-chip Hebbian store: not the ULX3S 85F's default), and the two directions
    of the batched recall on their own, the probes (N bits each, host to board) and the
    results (N bits and a STATUS each, board to host)."""
    store = ("store",) if config.has(Feature.HEBBIAN) else ()
    rows = measure(config, batch=batch, patterns=patterns, seed=seed,
                   names=(*store, "recall_many"))
    rec, n = rows["recall_many"], config.neurons
    return [*(rows[name] for name in store),
            dataclasses.replace(rec, operation="recall_many probes", wire_in=0,
                                data_bytes=batch * LinkGeometry(config).state_bytes,
                                payload_bits=batch * n),
            dataclasses.replace(rec, operation="recall_many results", wire_out=0,
                                data_bytes=batch * LinkGeometry(config).recall_result,
                                payload_bits=batch * (n + 8 * P.STATUS.size))]


def run_link_bench(*, lanes: int = 4, bauds=DEFAULT_BAUDS, boards=DEFAULT_BOARDS,
                   batch: int = DEFAULT_BATCH, seed: int = 1) -> list[LinkRow]:
    """Rows for N=256, 8-bit weights, ``lanes`` lanes: load and store at every (board, baud),
    with the engine cycles of the board's engine design (its default configuration's), and
    the batched recall (bytes only: its run time depends on the probes) once."""
    config = NetworkConfig(neurons=NEURONS, weight_bits=WEIGHT_BITS, lanes=lanes,
                           features=Feature.HEBBIAN)
    for baud in bauds:
        if not isinstance(baud, int) or baud < 1:
            raise ValueError(f"baud must be a positive integer, not {baud!r}")
        for name in boards:      # a rate the board's UART cannot make is no row
            uart_timing(round(get_board(name).sys_clk_freq), baud)
    measured = {}
    for name in boards:
        engine = get_board(name).default_config.engine
        if engine not in measured:
            measured[engine] = measure(dataclasses.replace(config, engine=engine), batch=batch,
                                       seed=seed)
    rows = [measured[config.engine]["recall_many"] if config.engine in measured
            else measure(config, batch=batch, seed=seed)["recall_many"]]
    for op in ("load", "store"):
        for name in boards:
            spec = get_board(name)
            for baud in bauds:
                rows.append(dataclasses.replace(measured[spec.default_config.engine][op],
                                                board=name, clk_mhz=spec.sys_clk_freq / 1e6,
                                                baud=baud))
    return rows


def format_table(rows: list[LinkRow]) -> str:
    head = ("operation", "N", "K", "reqs", "data B", "out B", "in B", "wire/data",
            "bits/data bit", "board", "MHz", "baud", "wire ms", "engine ms", "total ms")

    def f(v, spec):
        return "-" if v is None else format(v, spec)

    lines = []
    for r in rows:
        lines.append((r.operation, str(r.neurons), str(r.lanes), str(r.requests),
                      str(r.data_bytes), str(r.wire_out), str(r.wire_in),
                      f"{r.bytes_ratio:.4f}", f"{r.line_ratio:.4f}", r.board or "-",
                      f(r.clk_mhz, "g"), f(r.baud, "d"), f(r.wire_ms, ".1f"),
                      f(r.engine_ms, ".2f"), f(r.time_ms, ".1f")))
    return right_aligned(head, lines)


# -- a batched recall on each board at its default baud -----------------------------------------

@dataclasses.dataclass
class BoardRecallRow:
    """Per probe of a batched recall on one board: ``recall_many`` end to end at the board's
    default baud (the wire plus the engine), ``engine`` the engine's run alone, and
    ``recall_many before`` the wire at 115200 baud with the states unpacked (a K-lane word of
    ceil(K/8) bytes a chunk, as before the packed states; computed from the frame layout)."""
    board: str
    operation: str
    baud: int | None
    neurons: int
    lanes: int
    clk_mhz: float
    probes: int
    payload_bits: int          # per probe: the probe, the final state and its STATUS
    wire_bits: float | None    # per probe, UART start and stop bits included
    seconds: float | None      # per probe
    engine_cycles: float | None = None   # the engine's mean run, per probe
    wire_vs_before: float | None = None  # the wire time per probe before / now

    def to_dict(self) -> dict:
        return {"table": "board_recall", **dataclasses.asdict(self)}


def _framed(body: int) -> int:
    """Wire bytes of a frame with a ``body``-byte body (CRC included): COBS's code bytes (at
    most one per 254 bytes and one more) and the delimiter."""
    return body + body // 254 + 1 + 1


def _unpacked_recall_bytes(config: NetworkConfig, probes: int) -> int:
    """Wire bytes of a batched recall before the states were packed: a state was C words of
    ceil(K/8) bytes, and the batches were cut to the payload limit the same way."""
    state = config.chunks * P.word_bytes(config.lanes)
    per = min(P.MAX_PAYLOAD // (P.STATUS.size + state),
              (P.MAX_PAYLOAD - P.RECALL_MANY_PARAMS.size) // state)
    total = 0
    for start in range(0, probes, per):
        m = min(per, probes - start)
        total += _framed(P.REQUEST_HEADER + P.RECALL_MANY_PARAMS.size + m * state + P.CRC_BYTES)
        total += _framed(P.REPLY_HEADER + m * (P.STATUS.size + state) + P.CRC_BYTES)
    return total


def _recall_workload(config: NetworkConfig, probes: int, seed: int, simulator: str | None):
    """The driver's wire bytes of a batched recall of ``probes`` probes (a recording port), and
    with ``simulator`` the engine's cycles of each run (the engine benchmark's RTL run,
    checked against the golden model)."""
    from hopfield_fpga.sim import bench_engine, golden
    n = config.neurons
    rng = np.random.default_rng(seed + n)
    patterns = rng.choice(np.array([-1, 1]), (max(1, round(0.1 * n)), n))
    states = np.array([bench_engine._probe(patterns[i % len(patterns)], RECALL_NOISE, rng)
                       for i in range(probes)])
    order = RECALL_ORDER if Order.parse(RECALL_ORDER) in config.orders else RECALL_ORDER_ELSE
    run = dict(order=order, seed=int(rng.integers(1, 2**32)), max_visits=200 * n)
    board, port = _open(config)
    out, inn = count_bytes(board, lambda b: b.recall_many(states, **run))
    if simulator is None:
        return out + inn, None
    # the weights a user would store (bench_engine.bench_weights: quantized at W_BITS = 3)
    store, weights = bench_engine.bench_weights(config, patterns)
    got = bench_engine._rtl_runs(config, patterns if store == "hebbian" else None, [
        {"noise": RECALL_NOISE, "state": [int(v) for v in s], **run} for s in states],
        simulator, weights=weights)
    for i, (state, rtl) in enumerate(zip(states, got)):
        want = golden.run_binary(weights, None, state, config=config, **run)
        bench_engine._check_rtl(want, rtl, f"N={n} K={config.lanes} probe {i} (seed {seed})")
    return out + inn, [r["cycles"] for r in got]


def board_recall_rows(boards=None, *, probes: int = BOARD_PROBES, seed: int = 1,
                      simulator: str | None = "verilator") -> list[BoardRecallRow]:
    """Three rows per board (its default configuration, clock and baud; ``boards`` names them,
    None: every board): the batched recall end to end, the engine alone (RTL cycles from
    ``simulator``; None leaves the engine out: then ``recall_many`` is the wire alone) and the
    wire before packing at 115200 baud."""
    boards = tuple(BOARDS) if boards is None else boards
    if probes < 1:
        raise ValueError(f"probes must be at least 1, not {probes}")
    work = {}
    rows = []
    for name in boards:
        spec = get_board(name)
        cfg, clk, baud = spec.default_config, spec.sys_clk_freq, spec.baud
        if cfg not in work:
            work[cfg] = _recall_workload(cfg, probes, seed, simulator)
        wire_bytes, cycles = work[cfg]
        base = dict(board=name, neurons=cfg.neurons, lanes=cfg.lanes, clk_mhz=clk / 1e6,
                    probes=probes, payload_bits=2 * cfg.neurons + 8 * P.STATUS.size)
        wire_bits = CHARACTER_BITS * wire_bytes / probes
        before_bits = CHARACTER_BITS * _unpacked_recall_bytes(cfg, probes) / probes
        engine_cycles = None if cycles is None else sum(cycles) / len(cycles)
        engine_s = 0.0 if cycles is None else engine_cycles / clk
        rows.append(BoardRecallRow(operation="recall_many", baud=baud, wire_bits=wire_bits,
                                   seconds=wire_bits / baud + engine_s,
                                   engine_cycles=engine_cycles,
                                   wire_vs_before=(before_bits / LEGACY_BAUD)
                                   / (wire_bits / baud), **base))
        if cycles is not None:
            rows.append(BoardRecallRow(operation="engine", baud=None, wire_bits=None,
                                       seconds=engine_s, engine_cycles=engine_cycles, **base))
        rows.append(BoardRecallRow(operation="recall_many before", baud=LEGACY_BAUD,
                                   wire_bits=before_bits, seconds=before_bits / LEGACY_BAUD,
                                   **base))
    return rows


def _timeline(frames: list[tuple[int, int, int]], engine_s: list[float], baud: int,
              depth: int | None) -> float:
    """Seconds from the first request to the last reply of a stream of requests: ``frames``
    are (request wire bytes, reply wire bytes, receive queue entries) and ``engine_s`` the
    board's time on each. The UART's two lines run at once; the board serves one frame at a
    time. ``depth`` None: each request goes out :data:`ROUND_TRIP` after the previous reply;
    else as the driver sends them (``Link.stream``): back to back while the requests not
    answered, but for the oldest, take at most ``depth`` queue entries, then
    :data:`ROUND_TRIP` after the reply that makes room."""
    bit = CHARACTER_BITS / baud
    done: list[float] = []
    host_free = board_free = 0.0
    for k, (out, inn, cost) in enumerate(frames):
        j = k          # the oldest request that may still be unanswered when k goes out
        if depth is not None:
            j = 0
            while cost + sum(c for _, _, c in frames[j + 1:k]) > depth:
                j += 1
        ready = done[j - 1] + ROUND_TRIP if j > 0 else 0.0
        host_free = max(host_free, ready) + out * bit
        board_free = max(host_free, board_free) + engine_s[k] + inn * bit
        done.append(board_free)
    return done[-1]


def inflight_rows(boards=None, *, seed: int = 1,
                  engine_cycles: dict | None = None) -> list[BoardRecallRow]:
    """Two rows per board (default configuration, clock and baud): a batched recall of
    :data:`INFLIGHT_FRAMES` full RECALL_MANY frames, per probe, one request at a time and
    with requests in flight (:func:`_timeline` on the driver's own frames, from a recording
    port; the engine's time per probe from ``engine_cycles`` by board, else none)."""
    boards = tuple(BOARDS) if boards is None else boards
    rows = []
    for name in boards:
        spec = get_board(name)
        cfg, clk, baud = spec.default_config, spec.sys_clk_freq, spec.baud
        probes = INFLIGHT_FRAMES * LinkGeometry(cfg).max_recall_many
        rng = np.random.default_rng(seed + cfg.neurons)
        board, port = _open(cfg)
        board.recall_many(rng.choice(np.array([-1, 1]), (probes, cfg.neurons)), max_sweeps=1)
        frames = [(out, inn, len(payload) + P.REQUEST_HEADER + P.CRC_BYTES + 1)
                  for out, inn, _, payload in port.log]
        cycles = (engine_cycles or {}).get(name)
        per_frame = probes / len(frames) * (0.0 if cycles is None else cycles / clk)
        wire_bits = CHARACTER_BITS * sum(o + i for o, i, _ in frames) / probes
        for operation, depth in (("recall_many one at a time", None),
                                 ("recall_many in flight", P.RX_QUEUE_DEPTH)):
            seconds = _timeline(frames, [per_frame] * len(frames), baud, depth) / probes
            rows.append(BoardRecallRow(
                board=name, operation=operation, baud=baud, neurons=cfg.neurons,
                lanes=cfg.lanes, clk_mhz=clk / 1e6, probes=probes,
                payload_bits=2 * cfg.neurons + 8 * P.STATUS.size, wire_bits=wire_bits,
                seconds=seconds, engine_cycles=cycles))
    return rows


def format_board_table(rows: list[BoardRecallRow]) -> str:
    head = ("board", "operation", "N", "K", "MHz", "baud", "payload bits", "wire bits",
            "ms per probe", "engine cycles", "wire vs before")

    def f(v, spec):
        return "-" if v is None else format(v, spec)

    lines = [(r.board, r.operation, str(r.neurons), str(r.lanes), f"{r.clk_mhz:g}",
                       f(r.baud, "d"), str(r.payload_bits), f(r.wire_bits, ".0f"),
                       f(None if r.seconds is None else 1e3 * r.seconds, ".3f"),
                       f(r.engine_cycles, ".0f"), f(r.wire_vs_before, ".1f"))
                      for r in rows]
    return right_aligned(head, lines)
