"""The board driver: load networks, store patterns and recall over the link protocol.

``Board.open(url)`` opens a real serial port (``/dev/ttyUSB1``) or the simulated board
(``sim://?neurons=256``, see ``host/simboard.py``) through pyserial's ``serial_for_url``, asks
the board who it is (identify) and returns a :class:`Board`; every method then speaks
``hopfield_fpga.protocol`` frames. Inputs are checked against the board's
:class:`~hopfield_fpga.config.NetworkConfig` before anything is sent: a value that does not fit
raises :class:`~hopfield_fpga.host.errors.ConfigMismatch` (or ValueError/TypeError) naming it,
or, for weights with ``quantize=True``, is scaled and rounded with a warning. Nothing wraps.

Requests are sent one at a time; a request whose reply does not come within ``timeout``
seconds of silence is sent again (with a new sequence number, a late reply to the old one is
ignored) up to ``retries`` times, except STORE which is not idempotent (its timeout is raised).

With ``Feature.GRADED`` the board also runs graded-response neurons: :meth:`Board.run_graded`
(and the word-level ``write_u``, ``read_u``, ``read_v``, ``write_table``, ``read_table``,
``graded_status``); on a board without it they raise ConfigMismatch naming the feature. A
graded-only board (built without update orders) has no binary engine: its weights and biases
are read from and written to the graded engine, and the binary methods (``recall``, ``store``,
states, ``status``, ``clear``) raise ConfigMismatch.
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np
import serial

from hopfield_fpga import protocol as P
from hopfield_fpga.config import Feature, NetworkConfig, Order
from hopfield_fpga.gateware.engine_ports import StopReason
from hopfield_fpga.gateware.graded_ports import GradedPorts
from hopfield_fpga.gateware.pwl_sigmoid import SigmoidEntry
from hopfield_fpga.numerics import GRADED_SEGMENTS, GRADED_V_BITS, GRADED_V_ONE, seed_state
from hopfield_fpga.sim import golden, graded
from hopfield_fpga.sim.golden import FlipEvent, RunResult
from .errors import BoardTimeout, ConfigMismatch, LinkError, ProtocolError

__all__ = ["Board", "BoardInfo", "BoardStatus", "GradedBoardResult", "DEFAULT_URL"]

if "hopfield_fpga.host" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("hopfield_fpga.host")

from .simboard import default_sim_url  # noqa: E402

#: Board.open() without a URL: the simulated 256-neuron board (see simboard.default_sim_url).
DEFAULT_URL = None

_STOPPED = {StopReason.CONVERGED.value: "converged", StopReason.CAP.value: "cap",
            StopReason.STOP.value: "stop", StopReason.NONE.value: "converged"}


@dataclasses.dataclass(frozen=True)
class BoardInfo:
    """What identify reports: protocol version, configuration, clock, baud, payload limit."""
    version: int
    config: NetworkConfig
    clk_freq: int
    baud: int
    max_payload: int
    url: str

    def to_dict(self) -> dict:
        return {"url": self.url, "protocol_version": self.version,
                "config": self.config.to_dict(), "clk_freq": self.clk_freq,
                "baud": self.baud, "max_payload": self.max_payload}


class BoardStatus:
    """The engine's status (protocol.STATUS)."""

    FIELDS = ("busy", "converged", "stopped", "fields_valid", "unstable", "visits", "flips",
              "cycles", "refresh_cycles", "energy2")

    def __init__(self, raw: bytes):
        flags, self.unstable, self.visits, self.flips, self.cycles, self.refresh_cycles, \
            self.energy2 = P.STATUS.unpack(raw)
        self.busy = bool(flags & P.StatusFlags.BUSY)
        self.converged = bool(flags & P.StatusFlags.CONVERGED)
        self.fields_valid = bool(flags & P.StatusFlags.FIELDS_VALID)
        self.stop_reason = (flags >> P.STOP_REASON_SHIFT) & 3
        self.stopped = _STOPPED[self.stop_reason]

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.FIELDS}


@dataclasses.dataclass(kw_only=True, eq=False)   # eq: numpy arrays do not compare to a bool
class GradedBoardResult:
    """Outcome of :meth:`Board.run_graded`, read back from the board.

    ``v`` and ``u`` are the fixed-point outputs and potentials (as ``sim.graded.GradedResult``);
    ``V`` and ``U`` the real values. ``trace`` (on request) holds one (u, v) pair of arrays per
    step, after that step, and ``v0`` the outputs g(lambda u0) the run started from.
    """

    FIELDS = ("steps", "converged", "stopped", "max_du", "cycles")

    v: np.ndarray
    u: np.ndarray
    steps: int
    converged: bool
    stopped: str
    max_du: int
    cycles: int
    params: object
    trace: list | None = None
    v0: np.ndarray | None = None

    def __post_init__(self):
        self.v = np.asarray(self.v, dtype=np.int64)
        self.u = np.asarray(self.u, dtype=np.int64)
        if self.v0 is not None:
            self.v0 = np.asarray(self.v0, dtype=np.int64)

    @property
    def V(self) -> np.ndarray:
        return self.v.astype(float) / GRADED_V_ONE

    @property
    def U(self) -> np.ndarray:
        return self.u.astype(float) / GRADED_V_ONE

    def to_dict(self) -> dict:
        d = {f: getattr(self, f) for f in self.FIELDS}
        d.update(v=self.v.tolist(), u=self.u.tolist(), V=self.V.tolist(), U=self.U.tolist())
        if self.trace is not None:
            d["trace_v"] = [v.tolist() for _, v in self.trace]
        return d


def _graded_status(data: bytes) -> dict:
    flags, steps, max_du, cycles = P.GRADED_STATUS.unpack(data)
    reason = (flags >> P.STOP_REASON_SHIFT) & 3
    return {"busy": bool(flags & P.StatusFlags.BUSY),
            "converged": bool(flags & P.StatusFlags.CONVERGED), "stopped": _STOPPED[reason],
            "steps": steps, "max_du": max_du, "cycles": cycles}


class Board:
    """A connection to one board (real or simulated). Use :meth:`open`; a context manager."""

    def __init__(self, port, *, timeout: float = 2.0, retries: int = 2, url: str = "?"):
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.url = url
        self._seq = 0
        self._resync = True
        self._rx = bytearray()
        #: Bytes written to / read from the port (link accounting).
        self.bytes_out = 0
        self.bytes_in = 0
        self._info = self._identify()
        self.config: NetworkConfig = self._info.config
        from hopfield_fpga.gateware.command_engine import LinkGeometry
        self.geometry = LinkGeometry(self.config)

    @classmethod
    def open(cls, url: str | None = DEFAULT_URL, *, timeout: float = 2.0, baud: int = 115200,
             retries: int = 2, expect: NetworkConfig | None = None) -> "Board":
        """Open ``url`` and identify the board; ``expect`` raises ConfigMismatch if the board's
        configuration differs."""
        url = default_sim_url() if url is None else url
        try:
            port = serial.serial_for_url(url, baudrate=baud, timeout=min(timeout, 0.1))
        except (serial.SerialException, ValueError) as exc:
            raise BoardTimeout(f"cannot open {url!r}: {exc}") from None
        try:
            board = cls(port, timeout=timeout, retries=retries, url=url)
        except BaseException:
            port.close()
            raise
        if expect is not None and board.config != expect:
            port.close()
            raise ConfigMismatch(f"{url}: the board is {board.config.describe()}, "
                                 f"expected {expect.describe()}")
        return board

    def close(self) -> None:
        self.port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- framing ------------------------------------------------------------------------------

    def _read_frame(self, deadline_silence: float) -> bytes | None:
        """The next delimited raw frame (without the 0x00), or None after ``timeout`` of silence."""
        last = time.monotonic()
        while True:
            i = self._rx.find(0)
            if i >= 0:
                raw = bytes(self._rx[:i])
                del self._rx[:i + 1]
                return raw
            chunk = self.port.read(max(1, self.port.in_waiting))
            if chunk:
                self.bytes_in += len(chunk)
                self._rx += chunk
                last = time.monotonic()
            elif time.monotonic() - last > deadline_silence or self._sim_quiet():
                return None

    def _sim_quiet(self) -> bool:
        # A simulated board that went quiet sends nothing more: no point in waiting.
        return bool(getattr(self.port, "quiet", False))

    def request(self, cmd: P.Command, payload: bytes = b"", *, reply_size: int | None = None,
                on_trace=None, retry: bool = True, timeout: float | None = None) -> bytes:
        """Send one request and return the reply's payload (checked to be ``reply_size`` bytes).

        TRACE and GRADED_TRACE frames of this request go to ``on_trace(payload)``. Raises
        ProtocolError for an error reply, BoardTimeout when no reply comes (after the retries).
        """
        if len(payload) > P.MAX_PAYLOAD:
            raise ValueError(f"payload of {len(payload)} bytes; at most {P.MAX_PAYLOAD}")
        attempts = 1 + (self.retries if retry else 0)
        silence = self.timeout if timeout is None else timeout
        for _ in range(attempts):
            self._seq = (self._seq + 1) & 0xFF
            frame = P.encode_frame(bytes([self._seq, cmd]) + payload)
            if self._resync:
                frame = bytes([P.DELIMITER]) + frame
                self._resync = False
            self.port.write(frame)
            self.bytes_out += len(frame)
            while True:
                raw = self._read_frame(silence)
                if raw is None:
                    self._resync = True
                    break
                try:
                    body = P.decode_frame(raw)
                except P.FrameError:
                    continue
                if len(body) < P.REPLY_HEADER or body[0] != self._seq:
                    continue    # a stale reply to an earlier attempt
                rcmd, err, data = body[1], body[2], body[3:]
                if rcmd in (P.Command.TRACE, P.Command.GRADED_TRACE):
                    if on_trace is not None:
                        on_trace(data)
                    continue
                if rcmd != cmd:
                    continue
                if err != P.Error.OK:
                    raise ProtocolError(cmd, err)
                if reply_size is not None and len(data) != reply_size:
                    raise LinkError(f"{P.Command(cmd).name} reply of {len(data)} bytes, "
                                    f"expected {reply_size}")
                return data
        raise BoardTimeout(f"no reply to {P.Command(cmd).name} from {self.url} within "
                           f"{silence} s of silence ({attempts} attempt(s))")

    # -- identify and status -------------------------------------------------------------------

    def _identify(self) -> BoardInfo:
        data = self.request(P.Command.IDENTIFY, reply_size=P.IDENTIFY_REPLY.size)
        version, cfg, clk, baud, max_payload = P.IDENTIFY_REPLY.unpack(data)
        if version != P.PROTOCOL_VERSION:
            raise ConfigMismatch(f"the board speaks protocol version {version}; this driver "
                                 f"speaks {P.PROTOCOL_VERSION}")
        return BoardInfo(version, NetworkConfig.decode(cfg), clk, baud, max_payload, self.url)

    def info(self) -> BoardInfo:
        return self._info

    def _require_binary(self, what: str) -> None:
        if not self.config.has_binary:
            raise ConfigMismatch(f"{self.url}: {what} needs the binary engine, and this board is "
                                 f"graded-only (built without update orders: "
                                 f"{self.config.describe()}); use run_graded, or a board built "
                                 f"with an order")

    def status(self) -> BoardStatus:
        self._require_binary("status")
        return BoardStatus(self.request(P.Command.READ_STATUS, reply_size=P.STATUS.size))

    # -- packing ----------------------------------------------------------------------------------

    def _pack(self, values: np.ndarray, width: int, nbytes: int) -> bytes:
        """Words of K lanes (``width`` bits each, two's complement) from a vector of C*K values."""
        k = self.config.lanes
        mask = (1 << width) - 1
        out = bytearray()
        for c in range(len(values) // k):
            word = 0
            for lane, v in enumerate(values[c * k:(c + 1) * k]):
                word |= (int(v) & mask) << (lane * width)
            out += word.to_bytes(nbytes, "little")
        return bytes(out)

    def _unpack(self, data: bytes, width: int, nbytes: int, *, signed: bool = True) -> list[int]:
        k = self.config.lanes
        mask = (1 << width) - 1
        out = []
        for off in range(0, len(data), nbytes):
            word = int.from_bytes(data[off:off + nbytes], "little")
            for lane in range(k):
                v = (word >> (lane * width)) & mask
                if signed and v >> (width - 1):
                    v -= 1 << width
                out.append(v)
        return out

    def _padded(self, vec) -> np.ndarray:
        c, k, n = self.config.chunks, self.config.lanes, self.config.neurons
        out = np.zeros(c * k, dtype=np.int64)
        out[:n] = vec
        return out

    def _state_bytes(self, state) -> bytes:
        s = golden._check_state(state, self.config.neurons)
        return self._pack(self._padded((s > 0).astype(np.int64)), 1, self.geometry.state_word)

    def _state_from(self, data: bytes) -> np.ndarray:
        bits = self._unpack(data, 1, self.geometry.state_word, signed=False)
        return np.array(bits[:self.config.neurons], dtype=np.int8) * 2 - 1

    # -- weights, biases, patterns ----------------------------------------------------------------

    def _check_matrix(self, name, value, shape, lo, hi, quantize):
        a = np.asarray(value)
        if a.shape != shape:
            raise ConfigMismatch(f"{name} must have shape {shape} for this board "
                                 f"({self.config.describe()}), not {a.shape}")
        if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer)
                                   or np.issubdtype(a.dtype, np.floating)):
            raise TypeError(f"{name} must be integers (or floats with quantize=True), "
                            f"not dtype {a.dtype}")
        if np.issubdtype(a.dtype, np.floating):
            if not quantize:
                if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
                    raise ValueError(f"{name} has non-integer values; pass integers in "
                                     f"[{lo}, {hi}] or quantize=True")
            else:
                peak = float(np.max(np.abs(a))) if a.size else 0.0
                scale = min(hi, -lo) / peak if peak > 0 else 1.0
                warnings.warn(f"{name} quantized to integers in [{lo}, {hi}] "
                              f"(scaled by {scale:.4g})", stacklevel=3)
                a = np.round(a * scale)
        a = a.astype(np.int64)
        if a.size and (a.min() < lo or a.max() > hi):
            bad = a[(a < lo) | (a > hi)][0]
            raise ConfigMismatch(f"{name} value {bad} does not fit the board: the range is "
                                 f"[{lo}, {hi}] ({self.config.describe()})")
        return a

    def load_weights(self, weights, bias=None, *, quantize: bool = False, progress=None) -> None:
        """Write an N x N weight matrix (and N biases, default zeros) to the board."""
        cfg = self.config
        n = cfg.neurons
        w = self._check_matrix("weights", weights, (n, n), cfg.weight_min, cfg.weight_max,
                               quantize)
        b = self._check_matrix("bias", np.zeros(n, dtype=np.int64) if bias is None else bias,
                               (n,), cfg.bias_min, cfg.bias_max, quantize)
        geo = self.geometry
        words = bytearray()
        for j in range(n):
            words += self._pack(self._padded(w[:, j]), cfg.weight_bits, geo.weight_word)
        per = geo.max_write["weights"]
        total = geo.weight_words
        for start in range(0, total, per):
            count = min(per, total - start)
            col, chunk = divmod(start, cfg.chunks)
            data = words[start * geo.weight_word:(start + count) * geo.weight_word]
            self.request(P.Command.WRITE_WEIGHTS, P.WEIGHT_RANGE.pack(col, chunk, count) + data,
                         reply_size=0)
            if progress:
                progress(start + count, total)
        self.write_bias(b)

    def write_bias(self, bias) -> None:
        cfg = self.config
        b = self._check_matrix("bias", bias, (cfg.neurons,), cfg.bias_min, cfg.bias_max, False)
        data = self._pack(self._padded(b), cfg.bias_bits, self.geometry.bias_word)
        self._write_chunks(P.Command.WRITE_BIAS, data, self.geometry.bias_word, "bias")

    def _write_chunks(self, cmd, data, nbytes, kind):
        per = self.geometry.max_write[kind]
        c = self.config.chunks
        for start in range(0, c, per):
            count = min(per, c - start)
            self.request(cmd, P.CHUNK_RANGE.pack(start, count)
                         + data[start * nbytes:(start + count) * nbytes], reply_size=0)

    def _read_chunks(self, cmd, nbytes, kind) -> bytes:
        per = self.geometry.max_read[kind]
        c = self.config.chunks
        out = bytearray()
        for start in range(0, c, per):
            count = min(per, c - start)
            out += self.request(cmd, P.CHUNK_RANGE.pack(start, count), reply_size=count * nbytes)
        return bytes(out)

    def read_weights(self, *, progress=None) -> np.ndarray:
        cfg = self.config
        geo = self.geometry
        n, c = cfg.neurons, cfg.chunks
        per = geo.max_read["weights"]
        data = bytearray()
        for start in range(0, geo.weight_words, per):
            count = min(per, geo.weight_words - start)
            col, chunk = divmod(start, c)
            data += self.request(P.Command.READ_WEIGHTS, P.WEIGHT_RANGE.pack(col, chunk, count),
                                 reply_size=count * geo.weight_word)
            if progress:
                progress(start + count, geo.weight_words)
        values = self._unpack(bytes(data), cfg.weight_bits, geo.weight_word)
        w = np.zeros((n, n), dtype=np.int64)
        ck = c * cfg.lanes
        for j in range(n):
            w[:, j] = values[j * ck:j * ck + n]
        return w

    def read_bias(self) -> np.ndarray:
        data = self._read_chunks(P.Command.READ_BIAS, self.geometry.bias_word, "bias")
        return np.array(self._unpack(data, self.config.bias_bits,
                                     self.geometry.bias_word)[:self.config.neurons])

    def write_state(self, state) -> None:
        self._require_binary("write_state")
        self._write_chunks(P.Command.WRITE_STATE, self._state_bytes(state),
                           self.geometry.state_word, "state")

    def read_state(self) -> np.ndarray:
        self._require_binary("read_state")
        return self._state_from(self._read_chunks(P.Command.READ_STATE,
                                                  self.geometry.state_word, "state"))

    def clear(self) -> None:
        """Zero every weight and bias; the state becomes all -1."""
        self._require_binary("clear")
        self.request(P.Command.CLEAR, reply_size=0)

    def store(self, patterns, *, progress=None) -> None:
        """Store +1/-1 patterns (one vector or a P x N array) with the on-chip Hebbian rule."""
        self._require_binary("store")
        if not self.config.has(Feature.HEBBIAN):
            raise ConfigMismatch(f"this board has no on-chip Hebbian store "
                                 f"({self.config.describe()})")
        pats = np.asarray(patterns)
        if pats.ndim == 1:
            pats = pats[None, :]
        if pats.ndim != 2 or pats.shape[1] != self.config.neurons:
            raise ConfigMismatch(f"patterns must be P x {self.config.neurons} for this board, "
                                 f"not shape {pats.shape}")
        blobs = []
        for mu, p in enumerate(pats):
            try:
                blobs.append(self._state_bytes(p))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"pattern {mu}: {exc}") from None
        per = self.geometry.max_store
        for start in range(0, len(blobs), per):
            group = blobs[start:start + per]
            self.request(P.Command.STORE, P.COUNT.pack(len(group)) + b"".join(group),
                         reply_size=0, retry=False)
            if progress:
                progress(start + len(group), len(blobs))

    # -- runs ---------------------------------------------------------------------------------------

    def _run_params(self, *, order, seed, max_sweeps, max_visits, beta, trace) -> bytes:
        cfg = self.config
        self._require_binary("a binary run (recall, recall_many)")
        o = Order.parse(order)
        if o not in cfg.orders:
            raise ConfigMismatch(f"order {o.name.lower()} is not built into this board; built "
                                 f"in: {', '.join(x.name.lower() for x in cfg.orders)}")
        if not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
            raise ValueError(f"seed must be an integer in [0, 2**32), not {seed!r}")
        schedule = golden._beta_schedule(beta, None)
        stochastic = schedule is not None
        cap = golden._visit_cap(max_sweeps, max_visits, cfg.neurons, stochastic)
        if stochastic:
            if not cfg.has(Feature.STOCHASTIC):
                raise ConfigMismatch("this board has no stochastic neurons")
            if o is Order.REJECTION_FREE:
                raise ValueError("stochastic runs use the sequential or random order, "
                                 "not rejection_free")
            self.request(P.Command.WRITE_BETA, P.BETA_RANGE.pack(0, len(schedule))
                         + b"".join(v.to_bytes(2, "little") for v in schedule), reply_size=0)
        if trace and not cfg.has(Feature.TRACE):
            raise ConfigMismatch("this board has no trace stream")
        flags = (P.RunFlags.STOCHASTIC if stochastic else 0) | (P.RunFlags.TRACE if trace else 0)
        return P.RUN_PARAMS.pack(int(o), int(flags), seed_state(int(seed)), cap,
                                 len(schedule) if stochastic else 1)

    def _result(self, data: bytes, events) -> RunResult:
        st = BoardStatus(data[:P.STATUS.size])
        state = self._state_from(data[P.STATUS.size:])
        n = self.config.neurons
        return RunResult(state=state, converged=st.converged, visits=st.visits, flips=st.flips,
                         sweeps=-(-st.visits // n), energy2=st.energy2,
                         trace=None if events is None else tuple(events), cycles=st.cycles,
                         stopped=st.stopped)

    def recall(self, probe, *, order="sequential", seed=1, max_sweeps=None, max_visits=None,
               beta=None, trace=False, run_timeout: float = 60.0) -> RunResult:
        """Write ``probe``, run, and return the outcome (a golden-model RunResult, with cycles)."""
        params = self._run_params(order=order, seed=seed, max_sweeps=max_sweeps,
                                  max_visits=max_visits, beta=beta, trace=trace)
        state = self._state_bytes(probe)
        events = [] if trace else None

        def on_trace(data):
            visit, index, value, delta = P.TRACE_EVENT.unpack(data)
            events.append(FlipEvent(visit, index, 1 if value else -1, delta))

        for attempt in range(1 + self.retries):
            if events:
                events.clear()
            try:
                data = self.request(P.Command.RECALL, params + state,
                                    reply_size=self.geometry.recall_result,
                                    on_trace=on_trace if trace else None, retry=False,
                                    timeout=max(self.timeout, run_timeout))
                return self._result(data, events)
            except BoardTimeout:
                if attempt == self.retries:
                    raise
        raise AssertionError("unreachable")

    def recall_many(self, probes, *, order="sequential", seed=1, max_sweeps=None,
                    max_visits=None, beta=None, run_timeout: float = 60.0,
                    progress=None) -> list[RunResult]:
        """Recall each probe (a P x N array) with the same parameters, several per round trip."""
        params = self._run_params(order=order, seed=seed, max_sweeps=max_sweeps,
                                  max_visits=max_visits, beta=beta, trace=False)
        probes = np.asarray(probes)
        if probes.ndim != 2 or probes.shape[1] != self.config.neurons:
            raise ConfigMismatch(f"probes must be P x {self.config.neurons}, not shape "
                                 f"{probes.shape}")
        states = [self._state_bytes(p) for p in probes]
        per = self.geometry.max_recall_many
        size = self.geometry.recall_result
        results = []
        for start in range(0, len(states), per):
            group = states[start:start + per]
            data = self.request(P.Command.RECALL_MANY, params + P.COUNT.pack(len(group))
                                + b"".join(group), reply_size=size * len(group),
                                timeout=max(self.timeout, run_timeout))
            results += [self._result(data[i * size:(i + 1) * size], None)
                        for i in range(len(group))]
            if progress:
                progress(len(results), len(states))
        return results

    # -- the graded engine (Feature.GRADED) ----------------------------------------------------

    def _require_graded(self) -> None:
        if not self.config.has(Feature.GRADED):
            raise ConfigMismatch(f"{self.url}: this board has no graded engine (it was built "
                                 f"without Feature.GRADED: {self.config.describe()}); build it "
                                 f"with the graded feature, e.g. sim://?...&features="
                                 f"trace,graded")

    def _index_write(self, cmd, data: bytes, size: int, kind: str, total: int) -> None:
        per = self.geometry.max_write[kind]
        for start in range(0, total, per):
            count = min(per, total - start)
            self.request(cmd, P.INDEX_RANGE.pack(start, count)
                         + data[start * size:(start + count) * size], reply_size=0)

    def _index_read(self, cmd, size: int, kind: str, total: int, bits: int) -> list[int]:
        per = self.geometry.max_read[kind]
        out = []
        for start in range(0, total, per):
            count = min(per, total - start)
            data = self.request(cmd, P.INDEX_RANGE.pack(start, count), reply_size=count * size)
            for off in range(0, len(data), size):
                w = int.from_bytes(data[off:off + size], "little") & ((1 << bits) - 1)
                out.append(w - (1 << bits) if w >> (bits - 1) else w)
        return out

    def write_u(self, u) -> None:
        """Write the N potentials u (fixed point, graded_u_bits two's complement)."""
        self._require_graded()
        cfg = self.config
        bits = cfg.graded_u_bits
        a = np.asarray(u)
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if a.shape != (cfg.neurons,) or not np.issubdtype(a.dtype, np.integer):
            raise ConfigMismatch(f"u must be {cfg.neurons} integers for this board, not "
                                 f"{a.shape} of {a.dtype}")
        if a.size and (a.min() < lo or a.max() > hi):
            bad = a[(a < lo) | (a > hi)][0]
            raise ConfigMismatch(f"u value {bad} does not fit the board: the range is "
                                 f"[{lo}, {hi}] (graded_u_bits = {bits})")
        size = self.geometry.u_word
        data = b"".join((int(x) & ((1 << bits) - 1)).to_bytes(size, "little") for x in a)
        self._index_write(P.Command.WRITE_U, data, size, "u", cfg.neurons)

    def read_u(self) -> np.ndarray:
        self._require_graded()
        return np.array(self._index_read(P.Command.READ_U, self.geometry.u_word, "u",
                                         self.config.neurons, self.config.graded_u_bits),
                        dtype=np.int64)

    def read_v(self) -> np.ndarray:
        """The outputs v of the last completed pass (fixed point, GRADED_V_BITS)."""
        self._require_graded()
        return np.array(self._index_read(P.Command.READ_V, self.geometry.v_word, "v",
                                         self.config.neurons, GRADED_V_BITS), dtype=np.int64)

    def write_table(self, sigmoid) -> None:
        """Load a sigmoid table: a preset name (``atan``, ``tanh``, ``hard``) or entries."""
        self._require_graded()
        table = graded.sigmoid_table(sigmoid)
        size = self.geometry.table_word
        data = b"".join(w.to_bytes(size, "little") for w in GradedPorts.table_words(table))
        self._index_write(P.Command.WRITE_TABLE, data, size, "table", len(table))

    def read_table(self) -> tuple:
        """The sigmoid table on the board, as (x, y, m) entries."""
        self._require_graded()
        size = self.geometry.table_word
        raw = self._index_read(P.Command.READ_TABLE, size, "table", GRADED_SEGMENTS, 8 * size)
        out = []
        for word in raw:
            word &= (1 << (8 * size)) - 1
            entry = []
            for _, fld in SigmoidEntry:
                v = (word >> fld.offset) & ((1 << fld.width) - 1)
                entry.append(v - (1 << fld.width) if v >> (fld.width - 1) else v)
            out.append(tuple(entry))
        return tuple(out)

    def graded_status(self) -> dict:
        """The graded engine's status (protocol.GRADED_STATUS) as a dict."""
        self._require_graded()
        return _graded_status(self.request(P.Command.READ_GRADED_STATUS,
                                           reply_size=P.GRADED_STATUS.size))

    def _graded_run(self, params, *, trace: bool, timeout: float):
        flags = P.GradedRunFlags.WAIT | (P.GradedRunFlags.TRACE if trace else 0)
        events = []

        def on_trace(data):
            events.append(P.GRADED_TRACE_EVENT.unpack(data))

        data = self.request(P.Command.RUN_GRADED, P.GRADED_RUN_PARAMS.pack(
            params.gain_m, params.gain_e, params.dt_m, params.dt_e, params.leak_shift,
            int(flags), params.eps, params.max_steps), reply_size=P.GRADED_STATUS.size,
            on_trace=on_trace if trace else None, retry=False, timeout=timeout)
        return _graded_status(data), events

    def run_graded(self, weights=None, bias=None, *, u0=None, v0=None, gain, dt,
                   leak: float = 1.0, sigmoid="atan", max_steps: int = 10_000, eps: float = 0.0,
                   trace: bool = False, run_timeout: float = 60.0) -> GradedBoardResult:
        """Run the graded engine from real ``u0`` or ``v0`` (exactly one), as
        ``sim.graded.run_graded`` does; the result equals ``run_graded_fixed`` bit for bit.

        ``weights`` (N x N integers) and ``bias`` are written first when given (to both
        engines); otherwise the graded engine keeps the weights last written to it. ``gain``,
        ``dt`` (dt/C), ``leak`` (1/R, a power of two), ``sigmoid`` (preset name or table),
        ``max_steps`` and ``eps`` (real units of u) go through ``GradedParams.from_real``.
        """
        self._require_graded()
        cfg = self.config
        trace = bool(trace)
        if trace and not cfg.has(Feature.TRACE):
            raise ConfigMismatch(f"{self.url}: this board has no trace stream "
                                 f"({cfg.describe()})")
        params = graded.GradedParams.from_real(gain=gain, dt=dt, leak=leak, sigmoid=sigmoid,
                                               eps=eps, max_steps=max_steps)
        if (u0 is None) == (v0 is None):
            raise ValueError("Give exactly one of u0 (potentials) and v0 (outputs)")
        bits = cfg.graded_u_bits
        if u0 is not None:
            a = np.asarray(u0, dtype=float)
            if a.shape != (cfg.neurons,) or not np.all(np.isfinite(a)):
                raise ConfigMismatch(f"u0 must be {cfg.neurons} finite values for this board, "
                                     f"not {u0!r}")
            u_fixed = np.clip(np.rint(a * GRADED_V_ONE), -(1 << (bits - 1)),
                              (1 << (bits - 1)) - 1).astype(np.int64)
        else:
            u_fixed = graded.u_from_v(v0, params, cfg)
        if weights is not None:
            self.load_weights(weights, bias)
        elif bias is not None:
            self.write_bias(bias)
        self.write_table(params.table)
        timeout = max(self.timeout, run_timeout)
        start_v = None
        if trace:
            # the outputs the run starts from: a run with no step computes g(lambda u0)
            self.write_u(u_fixed)
            self._graded_run(dataclasses.replace(params, max_steps=0), trace=False,
                             timeout=timeout)
            start_v = self.read_v()
        self.write_u(u_fixed)
        st, events = self._graded_run(params, trace=trace, timeout=timeout)
        frames = None
        if trace:
            n = cfg.neurons
            if len(events) != st["steps"] * n:
                raise LinkError(f"RUN_GRADED: {len(events)} trace records for {st['steps']} "
                                f"steps of {n} neurons")
            frames = []
            for t in range(st["steps"]):
                rec = events[t * n:(t + 1) * n]
                if [(s, i) for s, i, _, _ in rec] != [(t + 1, i) for i in range(n)]:
                    raise LinkError(f"RUN_GRADED: trace records of step {t + 1} out of order")
                frames.append((np.array([r[2] for r in rec], dtype=np.int64),
                               np.array([r[3] for r in rec], dtype=np.int64)))
        return GradedBoardResult(v=self.read_v(), u=self.read_u(), steps=st["steps"],
                                 converged=st["converged"], stopped=st["stopped"],
                                 max_du=st["max_du"], cycles=st["cycles"], params=params,
                                 trace=frames, v0=start_v)
