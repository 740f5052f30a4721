"""The protocol engines: the binary and graded engine interfaces over a :class:`Link`.

:func:`identify` asks a board who it is; :class:`WireBackend` turns the validated arrays of
``host/engines.py`` into ``hopfield_fpga.protocol`` requests (lane packing, batching to the
payload limit of :class:`~hopfield_fpga.protocol.LinkGeometry`) and the replies back into
arrays and results. Used for real serial ports and ``sim://``.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from hopfield_fpga import protocol as P
from hopfield_fpga.config import NetworkConfig, Order
from hopfield_fpga.numerics import GRADED_SEGMENTS, GRADED_V_BITS, seed_state
from hopfield_fpga.sim.golden import FlipEvent, RunResult, quantized_store_table
from .engines import COLUMN_EXTRAS, RunSpec
from .errors import BoardTimeout, ConfigMismatch, LinkError, RunTimeout
from .link import Link
from .results import BoardInfo, BoardStatus, graded_status_dict

__all__ = ["identify", "WireBackend"]


def identify(link: Link) -> BoardInfo:
    """The board's IDENTIFY reply; a reply that is not a valid one raises LinkError."""
    data = link.request(P.Command.IDENTIFY, reply_size=P.IDENTIFY_REPLY.size)
    version, wire_cfg, clk, baud, max_payload = P.IDENTIFY_REPLY.unpack(data)
    if version != P.PROTOCOL_VERSION:
        raise ConfigMismatch(f"{link.url}: the board speaks protocol version {version}; this "
                             f"driver speaks {P.PROTOCOL_VERSION}")
    try:
        config = NetworkConfig.decode(wire_cfg)
    except (TypeError, ValueError) as exc:
        raise LinkError(f"{link.url}: the IDENTIFY reply holds no valid configuration ({exc}); "
                        f"is this a hopfield-fpga board?") from None
    return BoardInfo(version, config, clk, baud, max_payload, link.url)



def _header(command: P.Command, **fields: int) -> bytes:
    """A request's header from its fields by name (the protocol's command table)."""
    return P.COMMANDS[command].pack(**fields)

class WireBackend:
    """Both engine interfaces over one link (see ``host/engines.py``). A board built with the
    column engine has ``engines.COLUMN_EXTRAS`` (its clamp mask is sent with WRITE_CLAMP
    before a run whenever it differs from the one last sent: the board keeps it until it is
    written again, so recall_many and repeated recalls with one mask send it once)."""

    def __init__(self, link: Link, info: BoardInfo):
        self.link = link
        self._info = info
        self.config = info.config
        self.geometry = P.LinkGeometry(self.config)
        self.extras = COLUMN_EXTRAS if self.config.engine == "column" else frozenset()
        if self.config.store_patterns:                 # built with the quantized store (§14)
            self.extras = self.extras | {"the quantized store"}
        self._clamp_sent: bytes | None = None     # unknown until this driver writes it

    def info(self) -> BoardInfo:
        return self._info

    def close(self) -> None:
        self.link.close()

    def stop(self) -> None:
        self.link.stop()

    # -- words ------------------------------------------------------------------------------

    def _words(self, values, width: int, nbytes: int) -> bytes:
        return P.pack_words(values, width, self.config.lanes, nbytes)

    def _values(self, data: bytes, width: int, nbytes: int, *, signed: bool = True) -> list:
        return P.unpack_words(data, width, self.config.lanes, nbytes, signed=signed)

    def _state_bytes(self, state: np.ndarray) -> bytes:
        """A whole state as packed bits (+1 as 1), ceil(N/8) bytes."""
        return P.pack_bits((state > 0).astype(np.int64))

    def _state_from(self, data: bytes) -> np.ndarray:
        bits = P.unpack_bits(data, self.config.neurons)
        return np.array(bits, dtype=np.int8) * 2 - 1

    def _write_chunks(self, cmd, data: bytes, nbytes: int, kind: str) -> None:
        per = self.geometry.max_write[kind]
        c = self.config.chunks
        for start in range(0, c, per):
            count = min(per, c - start)
            self.link.request(cmd, _header(cmd, chunk=start, count=count)
                              + data[start * nbytes:(start + count) * nbytes], reply_size=0)

    def _read_chunks(self, cmd, nbytes: int, kind: str) -> bytes:
        per = self.geometry.max_read[kind]
        c = self.config.chunks
        out = bytearray()
        for start in range(0, c, per):
            count = min(per, c - start)
            out += self.link.request(cmd, _header(cmd, chunk=start, count=count),
                                     reply_size=count * nbytes)
        return bytes(out)

    # -- the binary engine (and the weights and biases of either engine) ---------------------

    def write_weights(self, weights: np.ndarray, progress=None) -> None:
        cfg, geo = self.config, self.geometry
        words = b"".join(self._words(weights[:, j], cfg.weight_bits, geo.weight_word)
                         for j in range(cfg.neurons))
        per, total = geo.max_write["weights"], geo.weight_words
        starts = range(0, total, per)
        payloads = []
        for start in starts:
            count = min(per, total - start)
            col, chunk = divmod(start, cfg.chunks)
            payloads.append(_header(P.Command.WRITE_WEIGHTS, column=col, chunk=chunk,
                                    count=count)
                            + words[start * geo.weight_word:(start + count) * geo.weight_word])
        # back to back (Link.stream): a write can be repeated, so a lost one is sent again
        self.link.stream(P.Command.WRITE_WEIGHTS, payloads, on_reply=lambda i, _: progress(
            min(starts[i] + per, total), total) if progress else None)

    def read_weights(self, progress=None) -> np.ndarray:
        cfg, geo = self.config, self.geometry
        n, c = cfg.neurons, cfg.chunks
        per = geo.max_read["weights"]
        data = bytearray()
        for start in range(0, geo.weight_words, per):
            count = min(per, geo.weight_words - start)
            col, chunk = divmod(start, c)
            data += self.link.request(P.Command.READ_WEIGHTS,
                                      _header(P.Command.READ_WEIGHTS, column=col, chunk=chunk,
                                              count=count),
                                      reply_size=count * geo.weight_word)
            if progress:
                progress(start + count, geo.weight_words)
        values = np.array(self._values(bytes(data), cfg.weight_bits, geo.weight_word),
                          dtype=np.int64)
        return values.reshape(n, c * cfg.lanes)[:, :n].T.copy()

    def write_bias(self, bias: np.ndarray) -> None:
        self._write_chunks(P.Command.WRITE_BIAS,
                           self._words(bias, self.config.bias_bits, self.geometry.bias_word),
                           self.geometry.bias_word, "bias")

    def read_bias(self) -> np.ndarray:
        data = self._read_chunks(P.Command.READ_BIAS, self.geometry.bias_word, "bias")
        return np.array(self._values(data, self.config.bias_bits,
                                     self.geometry.bias_word)[:self.config.neurons],
                        dtype=np.int64)

    def write_state(self, state: np.ndarray) -> None:
        # a whole state is at most 512 bytes (N <= 4096): always one request
        cmd = P.Command.WRITE_STATE
        self.link.request(cmd, _header(cmd, chunk=0, count=self.config.chunks)
                          + self._state_bytes(state), reply_size=0)

    def _read_state_bytes(self) -> bytes:
        cmd = P.Command.READ_STATE
        return self.link.request(cmd, _header(cmd, chunk=0, count=self.config.chunks),
                                 reply_size=self.geometry.state_bytes)

    def read_state(self) -> np.ndarray:
        return self._state_from(self._read_state_bytes())

    def clear(self) -> None:
        self.link.request(P.Command.CLEAR, reply_size=0)

    def store(self, patterns: np.ndarray, progress=None) -> None:
        """The STOREs back to back (``Link.stream``) as one chain (``protocol.Repeat``): the
        board applies each once and in order, so a lost one is sent again."""
        blobs = [self._state_bytes(p) for p in patterns]
        per = self.geometry.max_store
        starts = range(0, len(blobs), per)
        payloads = [_header(P.Command.STORE, count=len(blobs[s:s + per]),
                            flags=int(P.StoreFlags.FIRST) if s == 0 else 0)
                    + b"".join(blobs[s:s + per]) for s in starts]
        self.link.stream(P.Command.STORE, payloads, on_reply=lambda i, _: progress(
            min(starts[i] + per, len(blobs)), len(blobs)) if progress else None)

    def store_quantized(self, patterns: np.ndarray, scale: float | None) -> None:
        """The quantized store (§14) on chip: the patterns into the board's buffer
        (WRITE_PATTERNS), its threshold steps (WRITE_THRESHOLDS), then STORE_QUANTIZED. The
        board's limits (store_patterns, the levels it counts) are checked by Board.store."""
        table = quantized_store_table(len(patterns), self.config, scale)[2]
        geo = self.geometry
        for cmd, items, per, blob in (
                (P.Command.WRITE_PATTERNS, list(patterns), geo.max_write["patterns"],
                 self._state_bytes),
                (P.Command.WRITE_THRESHOLDS, table, geo.max_write["thresholds"],
                 lambda step: P.pack_threshold_step(*step).to_bytes(geo.threshold_word,
                                                                    "little"))):
            for first in range(0, len(items), per):
                group = items[first:first + per]
                self.link.request(cmd, _header(cmd, first=first, count=len(group))
                                  + b"".join(blob(x) for x in group), reply_size=0)
        cmd = P.Command.STORE_QUANTIZED
        self.link.request(cmd, _header(cmd, count=len(patterns)), reply_size=0)

    def status(self) -> BoardStatus:
        return BoardStatus.unpack(self.link.request(P.Command.READ_STATUS,
                                                    reply_size=P.STATUS.size))

    def _write_clamp(self, spec: RunSpec) -> None:
        """Make the board's clamp mask the run's (none held without a mask; §12: the mask
        belongs to the run). Boards without one (engine=lanes) hold nothing."""
        if "clamping" not in self.extras:
            return
        held = spec.clamp if spec.clamp is not None else np.zeros(self.config.neurons, bool)
        data = P.pack_bits(held.astype(np.int64))
        if data != self._clamp_sent:
            cmd = P.Command.WRITE_CLAMP
            self._clamp_sent = None                # unknown if the request fails
            self.link.request(cmd, _header(cmd, chunk=0, count=self.config.chunks) + data,
                              reply_size=0)
            self._clamp_sent = data

    def _run_params(self, spec: RunSpec) -> dict:
        """The run's header fields (RUN, RECALL, RECALL_MANY); writes its clamp mask and beta
        schedule first."""
        self._write_clamp(spec)
        if spec.schedule is not None:      # as many WRITE_BETAs as the payload limit needs
            per, size = self.geometry.max_write["beta"], self.geometry.beta_word
            for first in range(0, len(spec.schedule), per):
                part = spec.schedule[first:first + per]
                self.link.request(P.Command.WRITE_BETA,
                                  _header(P.Command.WRITE_BETA, first=first, count=len(part))
                                  + b"".join(v.to_bytes(size, "little") for v in part),
                                  reply_size=0)
        flags = ((P.RunFlags.STOCHASTIC if spec.schedule is not None else 0)
                 | (P.RunFlags.TRACE if spec.trace else 0))
        return dict(order=int(spec.order), flags=int(flags), seed=seed_state(spec.seed),
                    max_visits=spec.cap,
                    beta_len=len(spec.schedule) if spec.schedule is not None else 1)

    def _result(self, data: bytes, events) -> RunResult:
        """A run's result from its STATUS and state; after a 2-cycle (§13) the other state
        is read from the board (READ_CYCLE_STATE: the state before the last step's flips),
        so this must come before the next run."""
        st = BoardStatus.unpack(data[:P.STATUS.size])
        n = self.config.neurons
        cycle_state = None
        if st.stop_reason == "cycle2":
            cmd = P.Command.READ_CYCLE_STATE
            cycle_state = self._state_from(self.link.request(
                cmd, _header(cmd, chunk=0, count=self.config.chunks),
                reply_size=self.geometry.state_bytes))
        return RunResult(state=self._state_from(data[P.STATUS.size:]), converged=st.converged,
                         visits=st.visits, flips=st.flips, sweeps=-(-st.visits // n),
                         energy2=st.energy2, trace=None if events is None else tuple(events),
                         cycles=st.cycles, stop_reason=st.stop_reason, cycle_state=cycle_state)

    def _wait_run(self, start_cmd, payload: bytes, status_cmd, status_size: int,
                  run_timeout: float, run_trace=None) -> tuple[bytes, str | None]:
        """Start a run that replies at once, poll its status until it ends; return the last
        status and why the driver ended it (None, "stop", "timeout", "interrupt").

        A stop request (:meth:`Link.stop`), Ctrl-C or ``run_timeout`` sends STOP; the board
        then ends the run before its next visit (step) and the poll goes on for ``timeout``.
        """
        link = self.link
        link.stop_requested.clear()
        deadline = time.monotonic() + run_timeout
        ended_by = None
        started = False
        try:
            while True:
                try:
                    if not started:
                        # inside the handler: a Ctrl-C between sending the start and its
                        # reply must still stop the run (STOP to an idle board is harmless)
                        started = True
                        link.request(start_cmd, payload, reply_size=0, retry=False,
                                     run_trace=run_trace)
                        continue
                    raw = link.request(status_cmd, reply_size=status_size)
                    if not raw[0] & P.StatusFlags.BUSY:
                        return raw, ended_by
                    if ended_by is None:
                        if link.stop_requested.is_set():
                            ended_by = "stop"
                        elif time.monotonic() >= deadline:
                            ended_by = "timeout"
                        if ended_by is not None:
                            link.request(P.Command.STOP, reply_size=0)
                            deadline = time.monotonic() + link.timeout
                    elif time.monotonic() >= deadline:
                        raise BoardTimeout(f"{link.url}: the run did not end within "
                                           f"{link.timeout:g} s of STOP")
                except KeyboardInterrupt:
                    if ended_by == "interrupt":
                        raise
                    ended_by = "interrupt"
                    link.request(P.Command.STOP, reply_size=0)
                    deadline = time.monotonic() + link.timeout
        finally:
            link.end_run()

    def _ended(self, ended_by: str | None, run_timeout: float, result):
        if ended_by == "interrupt":
            raise KeyboardInterrupt
        if ended_by == "timeout":
            raise RunTimeout(f"{self.link.url}: the run did not end within run_timeout = "
                             f"{run_timeout:g} s; the driver stopped it", result)
        return result

    def recall(self, probe: np.ndarray, spec: RunSpec, run_timeout: float) -> RunResult:
        params = self._run_params(spec)
        events = [] if spec.trace else None

        def on_trace(data):
            visit, index, value, delta = P.TRACE_EVENT.unpack(data)
            events.append(FlipEvent(visit, index, 1 if value else -1, delta))

        # one RECALL: the board's receive queue takes a STOP while it runs
        data, ended_by = self._held_run(P.Command.RECALL, _header(P.Command.RECALL, **params)
                                        + self._state_bytes(probe), run_timeout,
                                        on_trace if spec.trace else None)
        if len(data) != self.geometry.recall_result:
            raise LinkError(f"RECALL: reply of {len(data)} bytes, expected "
                            f"{self.geometry.recall_result}")
        return self._ended(ended_by, run_timeout, self._result(data, events))

    def recall_many(self, probes: np.ndarray, spec: RunSpec, run_timeout: float,
                    progress=None) -> list[RunResult]:
        """The results of ``probes``; a stop ends the batch after the probes in progress (one
        per replica: the list is then shorter, one of its last ``replicas`` results stopped)."""
        if len(probes) == 0:
            return []        # no run: the board's mask and schedule stay as they are
        if spec.order is Order.SYNCHRONOUS:
            # The board keeps the cycle state of its last run only: one probe per run.
            results = []
            for i, probe in enumerate(probes):
                one = spec if spec.probe_seeds is None else \
                    dataclasses.replace(spec, seed=spec.probe_seeds[i], probe_seeds=None)
                results.append(self.recall(probe, one, run_timeout))
                if progress:
                    progress(i + 1, len(probes))
                if results[-1].stop_reason == "stop":
                    break
            return results
        params = self._run_params(spec)
        states = [self._state_bytes(p) for p in probes]
        seeds = None
        per, size = self.geometry.max_recall_many, self.geometry.recall_result
        if spec.probe_seeds is not None:     # a generator state per probe (RunFlags.PROBE_SEEDS)
            params["flags"] |= int(P.RunFlags.PROBE_SEEDS)
            seeds = [seed_state(s) for s in spec.probe_seeds]
            per = self.geometry.max_recall_many_seeded
        groups = [range(i, min(i + per, len(states))) for i in range(0, len(states), per)]
        # the batches go back to back (Link.stream): the next one waits in the board's receive
        # queue while one runs; a lost reply is asked again (a recall can be repeated)
        answered = [0]

        def on_reply(i, data):
            answered[0] += min(len(data) // size, len(groups[i]))
            if progress:
                progress(answered[0], len(states))

        self.link.stop_requested.clear()
        replies, ended_by = self.link.stream(
            P.Command.RECALL_MANY, [_header(P.Command.RECALL_MANY, **params, count=len(g))
                                    + P.pack_probes([states[i] for i in g],
                                                    None if seeds is None else
                                                    [seeds[i] for i in g]) for g in groups],
            timeout=run_timeout, run=True, on_reply=on_reply)
        results: list[RunResult] = []
        for group, data in zip(groups, replies):
            if data is None:
                raise BoardTimeout(f"{self.link.url}: no reply to RECALL_MANY within "
                                   f"{run_timeout:g} s")
            done = len(data) // size
            if len(data) % size or not 1 <= done <= len(group):
                raise LinkError(f"RECALL_MANY: reply of {len(data)} bytes for {len(group)} "
                                f"probes of {size} bytes")
            new = [self._result(data[i * size:(i + 1) * size], None) for i in range(done)]
            results += new
            # the probes in progress when a STOP came (one per replica) end the reply; one of
            # them at least was stopped (the others may have ended first)
            if any(r.stop_reason == "stop" for r in new[-self.config.replicas:]):
                # stopped: the batches after this one were stopped too (or never sent)
                return self._ended(ended_by, run_timeout, results)
            if done < len(group):
                raise LinkError(f"RECALL_MANY: {done} results for {len(group)} probes, and "
                                f"none of the last {self.config.replicas} was stopped")
        return self._ended(ended_by, run_timeout, results)

    # -- the graded engine ------------------------------------------------------------------

    def _index_write(self, cmd, data: bytes, size: int, kind: str, total: int) -> None:
        per = self.geometry.max_write[kind]
        for start in range(0, total, per):
            count = min(per, total - start)
            self.link.request(cmd, _header(cmd, first=start, count=count)
                              + data[start * size:(start + count) * size], reply_size=0)

    def _index_read(self, cmd, size: int, kind: str, total: int) -> list[int]:
        per = self.geometry.max_read[kind]
        out = []
        for start in range(0, total, per):
            count = min(per, total - start)
            data = self.link.request(cmd, _header(cmd, first=start, count=count),
                                     reply_size=count * size)
            out += [int.from_bytes(data[off:off + size], "little")
                    for off in range(0, len(data), size)]
        return out

    def write_u(self, u: np.ndarray) -> None:
        size = self.geometry.u_word
        self._index_write(P.Command.WRITE_U, P.pack_words(u, self.config.graded_u_bits, 1, size),
                          size, "u", self.config.neurons)

    def read_u(self) -> np.ndarray:
        words = self._index_read(P.Command.READ_U, self.geometry.u_word, "u", self.config.neurons)
        return np.array([P.sign_extend(w, self.config.graded_u_bits) for w in words],
                        dtype=np.int64)

    def read_v(self) -> np.ndarray:
        words = self._index_read(P.Command.READ_V, self.geometry.v_word, "v", self.config.neurons)
        return np.array([P.sign_extend(w, GRADED_V_BITS) for w in words], dtype=np.int64)

    def write_table(self, table: tuple) -> None:
        size = self.geometry.table_word
        data = b"".join(P.sigmoid_entry_word(e).to_bytes(size, "little") for e in table)
        self._index_write(P.Command.WRITE_TABLE, data, size, "table", len(table))

    def read_table(self) -> tuple:
        words = self._index_read(P.Command.READ_TABLE, self.geometry.table_word, "table",
                                 GRADED_SEGMENTS)
        return tuple(P.sigmoid_entry_from_word(w) for w in words)

    def graded_status(self) -> dict:
        return graded_status_dict(self.link.request(P.Command.READ_GRADED_STATUS,
                                                    reply_size=P.GRADED_STATUS.size))

    def _held_run(self, cmd, payload: bytes, run_timeout: float,
                  on_trace=None) -> tuple[bytes, str | None]:
        """A request that replies when its run ends (RECALL, RECALL_MANY, a traced
        RUN_GRADED): its reply and why the driver stopped it (:meth:`Link.request_run`)."""
        self.link.stop_requested.clear()
        return self.link.request_run(cmd, payload, run_timeout=run_timeout,
                                     on_trace=on_trace)

    def run_graded(self, params, trace: bool, run_timeout: float):
        fields = dict(gain_m=params.gain_m, gain_e=params.gain_e, dt_m=params.dt_m,
                      dt_e=params.dt_e, leak_shift=params.leak_shift, eps=params.eps,
                      max_steps=params.max_steps)
        if not trace:
            raw, ended_by = self._wait_run(
                P.Command.RUN_GRADED, _header(P.Command.RUN_GRADED, **fields, flags=0),
                P.Command.READ_GRADED_STATUS, P.GRADED_STATUS.size, run_timeout)
            return self._ended(ended_by, run_timeout, graded_status_dict(raw)), None
        # TRACE needs WAIT (the trace goes out before the reply)
        events = []
        flags = int(P.GradedRunFlags.WAIT | P.GradedRunFlags.TRACE)
        data, ended_by = self._held_run(P.Command.RUN_GRADED,
                                        _header(P.Command.RUN_GRADED, **fields, flags=flags),
                                        run_timeout,
                                        lambda d: events.append(P.GRADED_TRACE_EVENT.unpack(d)))
        if len(data) != P.GRADED_STATUS.size:
            raise LinkError(f"RUN_GRADED: reply of {len(data)} bytes, expected "
                            f"{P.GRADED_STATUS.size}")
        st = graded_status_dict(data)
        n = self.config.neurons
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
        return self._ended(ended_by, run_timeout, (st, frames))
