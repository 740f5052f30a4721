"""The link layer of the driver: frames, sequence numbers, retries, deadlines, trace routing.

:class:`Link` sends one request at a time over a pyserial-like port (``read``, ``write``,
``in_waiting``, ``close``) and returns the reply's payload. Every request ends within its
deadline whatever the port does (silent, or sending bytes that never form a reply):

- each attempt lasts at most ``timeout`` seconds (``run_timeout`` for a run) counted from the
  moment it was sent, not from the last byte received;
- a request is sent at most ``retries + 1`` times (runs once), so a request ends within
  ``timeout * (retries + 1)`` plus one port read (at most :data:`READ_SLICE` seconds);
- received bytes wait in a buffer of at most :data:`RX_LIMIT` bytes; a longer run of bytes
  without a delimiter cannot be a reply and is dropped.

A request that fails sends its next attempt with a new ``seq`` behind a delimiter (so the board
resynchronizes after garbage); a late reply to an old ``seq`` is ignored. STORE
(``protocol.Repeat.DEDUPED``) is the exception: :meth:`stream` numbers a chain of them
consecutively and sends a lost one again with its own ``seq``, which the board applies once.
TRACE and GRADED_TRACE frames carrying the request's ``seq`` go to the request's ``on_trace``.

A run that replies at once (RUN, RUN_GRADED without WAIT) keeps its trace frames routed to
its handler until :meth:`end_run`; :meth:`stop` (from any thread) sets
:attr:`stop_requested` and, when no request is under way, sends STOP itself.
:meth:`request_run` serves the requests that reply when their run ends (RECALL,
RECALL_MANY, RUN_GRADED with WAIT): it sends STOP during the run on a stop request, its
``run_timeout`` or Ctrl-C, which the board's receive queue takes while it runs.
"""

from __future__ import annotations

import collections
import threading
import time

import serial

from hopfield_fpga import protocol as P
from .errors import BoardClosed, BoardTimeout, LinkError, ProtocolError

__all__ = ["Link", "RX_LIMIT", "READ_SLICE"]

#: Longest encoded frame (COBS adds one byte per 254) with its delimiter.
_MAX_FRAME = P.MAX_BODY + P.MAX_BODY // 254 + 2
#: Bytes the receive buffer holds at most.
RX_LIMIT = 4 * _MAX_FRAME
#: Longest single wait on the port (seconds): the port's read timeout is at most this.
READ_SLICE = 0.1


class Link:
    """One board connection's request/reply machinery (see the module docstring).

    ``bytes_out`` and ``bytes_in`` count the bytes written and read; ``dropped`` the received
    bytes discarded because no delimiter came within :data:`RX_LIMIT`.
    """

    def __init__(self, port, *, timeout: float, retries: int, url: str = "?"):
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.url = url
        self.bytes_out = 0
        self.bytes_in = 0
        self.dropped = 0
        self._seq = 0
        self._resync = True
        self._rx = bytearray()
        self._closed = False
        self._lock = threading.Lock()
        #: Set by :meth:`stop`; the run's owner polls it (``host/wire.py``).
        self.stop_requested = threading.Event()
        self._run_trace = None      # (seq, on_trace) of a run that replied at once

    # -- lifetime ---------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.port.close()

    def _check_open(self) -> None:
        if self._closed:
            raise BoardClosed(f"{self.url}: the board was closed; open it again")

    # -- bytes ------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"{self.url}: writing to the port failed: {exc}") from None
        self.bytes_out += len(data)

    def _read_frame(self, deadline: float) -> bytes | None:
        """The next delimited raw frame (without the 0x00), or None at ``deadline``."""
        while True:
            i = self._rx.find(P.DELIMITER)
            if i >= 0:
                raw = bytes(self._rx[:i])
                del self._rx[:i + 1]
                return raw
            if len(self._rx) > RX_LIMIT:
                self.dropped += len(self._rx)
                self._rx.clear()
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = self.port.read(max(1, min(self.port.in_waiting, RX_LIMIT)))
            except (serial.SerialException, OSError) as exc:
                raise LinkError(f"{self.url}: reading the port failed: {exc}") from None
            if chunk:
                self.bytes_in += len(chunk)
                self._rx += chunk
            elif getattr(self.port, "quiet", False):
                # a simulated board that went quiet sends nothing more: no point in waiting
                return None

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    def _send(self, cmd: int, payload: bytes, seq: int | None = None) -> int:
        """Write one request; ``seq`` (from :meth:`_next_seq`) when the caller records it
        before the write, so that a Ctrl-C during the write still finds it in flight."""
        seq = self._next_seq() if seq is None else seq
        frame = P.encode_frame(bytes([seq, cmd]) + payload)
        if self._resync:
            frame = bytes([P.DELIMITER]) + frame
            self._resync = False
        self._write(frame)
        return seq

    @staticmethod
    def _body(raw: bytes) -> bytes | None:
        """A received frame's body if it can be a reply (CRC checked), else None (noise)."""
        try:
            body = P.decode_frame(raw)
        except P.FrameError:
            return None
        return body if len(body) >= P.REPLY_HEADER else None

    def _traced(self, body: bytes, mine: bool, on_trace) -> bool:
        """Route ``body`` if it is a TRACE or GRADED_TRACE frame (``mine``: it carries the seq
        of a request under way, for ``on_trace``; else maybe a run's that replied at once)."""
        if body[1] not in (P.Command.TRACE, P.Command.GRADED_TRACE):
            return False
        if mine and on_trace is not None:
            on_trace(body[3:])
        elif self._run_trace is not None and body[0] == self._run_trace[0]:
            self._run_trace[1](body[3:])
        return True

    def _await(self, seq: int, cmd: int, deadline: float, on_trace) -> bytes | None:
        """The payload of the reply to (seq, cmd), or None at ``deadline``."""
        while True:
            raw = self._read_frame(deadline)
            if raw is None:
                return None
            body = self._body(raw)
            if body is None or self._traced(body, body[0] == seq, on_trace):
                continue
            rcmd, err, data = body[1], body[2], body[3:]
            if body[0] != seq:
                continue    # a stale reply to an earlier attempt, or noise
            if rcmd != cmd:
                continue
            if err != P.Error.OK:
                raise ProtocolError(cmd, err)
            return data

    # -- requests ---------------------------------------------------------------------------

    def request(self, cmd: P.Command, payload: bytes = b"", *, reply_size: int | None = None,
                on_trace=None, retry: bool = True, timeout: float | None = None,
                run_trace=None) -> bytes:
        """Send one request and return the reply's payload (checked to be ``reply_size`` bytes).

        ``timeout`` (default: the link's) is the deadline of one attempt; ``retry=False``
        sends the request once. ``on_trace`` gets the trace frames sent before the reply;
        ``run_trace`` those of a run this request starts and that goes on after the reply
        (RUN, RUN_GRADED without WAIT), until :meth:`end_run`. Raises ProtocolError for an
        error reply, BoardTimeout when no reply comes in time.
        """
        self._check_open()
        if len(payload) > P.MAX_PAYLOAD:
            raise LinkError(f"payload of {len(payload)} bytes; at most {P.MAX_PAYLOAD}")
        attempts = 1 + (self.retries if retry else 0)
        limit = self.timeout if timeout is None else timeout
        with self._lock:
            for _ in range(attempts):
                seq = self._send(cmd, payload)
                if run_trace is not None:
                    self._run_trace = (seq, run_trace)
                data = self._await(seq, cmd, time.monotonic() + limit, on_trace)
                if data is None:
                    self._resync = True
                    continue
                if reply_size is not None and len(data) != reply_size:
                    raise LinkError(f"{P.Command(cmd).name}: reply of {len(data)} bytes, "
                                    f"expected {reply_size}")
                return data
        raise BoardTimeout(f"{self.url}: no reply to {P.Command(cmd).name} within "
                           f"{limit:g} s ({attempts} attempt{'s' if attempts > 1 else ''}); "
                           f"is the board connected and at the right baud?")

    def request_run(self, cmd: P.Command, payload: bytes, *, run_timeout: float,
                    on_trace=None) -> tuple[bytes, str | None]:
        """Send a request that replies when its run ends (RECALL, RECALL_MANY, RUN_GRADED with
        WAIT), once, and return the reply's payload and why the driver ended the run (see
        :meth:`stream`). Raises BoardTimeout when no reply comes."""
        (data,), ended_by = self.stream(cmd, [payload], timeout=run_timeout, resend=False,
                                        run=True, on_trace=on_trace)
        if data is None:
            if ended_by == "interrupt":     # Ctrl-C before the request was written
                raise KeyboardInterrupt
            raise BoardTimeout(f"{self.url}: no reply to {P.Command(cmd).name} within "
                               f"{run_timeout:g} s")
        return data, ended_by

    def stream(self, cmd: P.Command, payloads: list[bytes], *, timeout: float | None = None,
               resend: bool = True, run: bool = False,
               on_trace=None, on_reply=None) -> tuple[list[bytes | None], str | None]:
        """Send ``payloads`` as ``cmd`` requests back to back, as many at once as the board's
        receive queue holds, and return their replies' payloads in order, with why the driver
        ended the runs (``run=True``; else None).

        A DEDUPED command (``protocol.Repeat``: STORE) is a chain: the caller's first payload
        begins it (StoreFlags.FIRST), the others follow it, and they get consecutive seqs; a
        lost one is sent again with its own seq, in the chain's order, and the board applies
        each once. An OK reply then also confirms the earlier ones (the board applies a chain
        in order), and an Error.SEQUENCE reply (refused: an earlier one is missing) counts as
        lost, as do the unanswered ones before it.

        In flight: the requests not answered yet, but for the oldest one (the board is serving
        it, out of its queue), take at most ``protocol.RX_QUEUE_DEPTH`` queue entries (body
        bytes, plus one per frame end). The board serves frames in order, so a reply to a
        later request means that the earlier ones' replies were lost; the oldest one is lost
        too when nothing came within ``timeout`` (default: the link's) of the last reply. A
        lost request is sent again with a new seq if ``resend`` (at most ``retries`` more
        times; then BoardTimeout), else its entry is None and no further request is sent
        (theirs stay None too): the caller decides. CRC and OVERFLOW replies are not
        trusted to name a request (their seq was not checked): they count as lost replies.
        Another error reply raises ProtocolError. ``on_reply(i, payload)`` sees each reply.

        ``run=True``: the requests reply when their runs end (RECALL, RECALL_MANY, RUN_GRADED
        with WAIT); ``timeout`` is then the run timeout. When it passes, when :meth:`stop` is
        called (from another thread) or on Ctrl-C (a second one raises at once), the driver
        sends STOP and nothing more: the board stops every run of the requests in flight
        (``docs/protocol.md``, "STOP during a run"), whose replies then come within the
        link's ``timeout``. The reason is "timeout", "stop" or "interrupt". When nothing came
        for the link's ``timeout``, an IDENTIFY is sent (once): the board answers it after the
        runs in flight, so if its reply comes first, their replies were lost.
        """
        self._check_open()
        for payload in payloads:
            if len(payload) > P.MAX_PAYLOAD:
                raise LinkError(f"payload of {len(payload)} bytes; at most {P.MAX_PAYLOAD}")
        stream = _Stream(self, cmd, payloads, limit=self.timeout if timeout is None else timeout,
                         resend=resend, run=run, on_trace=on_trace, on_reply=on_reply)
        with self._lock:
            stream.run()
        return stream.replies, stream.ended_by

    def end_run(self) -> None:
        """The run started with ``run_trace`` ended: its trace frames are no longer routed."""
        self._run_trace = None

    def stop(self) -> None:
        """End the current run (from another thread), or send STOP when no request is on."""
        self._check_open()
        self.stop_requested.set()
        if self._lock.acquire(blocking=False):
            try:
                seq = self._send(P.Command.STOP, b"")
                if self._await(seq, P.Command.STOP, time.monotonic() + self.timeout,
                               None) is None:
                    self._resync = True
                    raise BoardTimeout(f"{self.url}: no reply to STOP within {self.timeout:g} s")
            finally:
                self._lock.release()


class _Stream:
    """The state of one :meth:`Link.stream` call (its docstring has the rules), run under the
    link's lock: the requests to send, those in flight, their replies and attempts."""

    def __init__(self, link: Link, cmd: P.Command, payloads: list[bytes], *, limit: float,
                 resend: bool, run: bool, on_trace, on_reply):
        self.link, self.cmd, self.payloads = link, cmd, payloads
        self.limit, self.resend, self.run_mode = limit, resend, run
        self.on_trace, self.on_reply = on_trace, on_reply
        self.chain = P.COMMANDS[cmd].repeat is P.Repeat.DEDUPED
        self.base = link._seq + 1      # a chain's payload i has seq base + i (mod 256)
        self.replies: list[bytes | None] = [None] * len(payloads)
        self.attempts = [0] * len(payloads)
        self.todo = collections.deque(range(len(payloads)))
        self.inflight: dict[int, tuple[int, int]] = {}     # seq -> (index, queue entries)
        self.ended_by: str | None = None
        self.stop_seq: int | None = None
        self.ping_seq: int | None = None
        self.halted = False     # a request that may not be sent again was lost: send no more
        self.mark = 0.0         # the last reply (or the first send)

    def run(self) -> None:
        link = self.link
        self.mark = time.monotonic()
        while self.inflight or self._may_send():
            try:
                self._send_what_fits()
                if self._check_deadlines():
                    continue
                raw = link._read_frame(min(self.mark + self.limit, time.monotonic() + READ_SLICE))
            except KeyboardInterrupt:
                if not self.run_mode or self.ended_by == "interrupt":
                    link._resync = True
                    raise
                self.ended_by = "interrupt"
                continue
            body = None if raw is None else link._body(raw)
            if body is not None and not link._traced(body, body[0] in self.inflight,
                                                     self.on_trace):
                self._received(body)
        if self.stop_seq is not None and self.stop_seq >= 0 and link._await(
                self.stop_seq, P.Command.STOP, time.monotonic() + link.timeout, None) is None:
            link._resync = True

    def _may_send(self) -> bool:
        return bool(self.todo) and self.ended_by is None and not self.halted

    def _send_what_fits(self) -> None:
        """Send the next requests while the board's receive queue holds them."""
        link = self.link
        while self._may_send():
            i = self.todo[0]
            # body (seq, cmd, payload, crc), its end, and a resync delimiter's end
            cost = 2 + len(self.payloads[i]) + P.CRC_BYTES + 1 + link._resync
            behind = sum(c for _, c in list(self.inflight.values())[1:])
            if self.inflight and behind + cost > P.RX_QUEUE_DEPTH:
                break
            self.todo.popleft()
            if not self.inflight:
                self.mark = time.monotonic()
            # in flight before it is written: a Ctrl-C during the write must stop it
            if self.chain:
                seq = (self.base + i) & 0xFF
                if self.attempts[i] == 0:
                    link._seq = seq
            else:
                seq = link._next_seq()
            self.inflight[seq] = (i, cost)
            self.attempts[i] += 1
            link._send(self.cmd, self.payloads[i], seq)

    def _check_deadlines(self) -> bool:
        """Act on a stop request or a passed deadline; True when the oldest request in flight
        was just declared lost (the caller sends again before reading)."""
        link, now = self.link, time.monotonic()
        if self.run_mode and self.ended_by is None and link.stop_requested.is_set():
            self.ended_by = "stop"
        elif self.inflight and now >= self.mark + self.limit:
            if self.run_mode and self.ended_by is None:
                self.ended_by = "timeout"
            else:
                seq = next(iter(self.inflight))
                link._resync = True
                self._lost(self.inflight.pop(seq)[0])
                self.mark = now
                return True
        if self.ended_by is not None and self.stop_seq is None:
            self.stop_seq = link._send(P.Command.STOP, b"")
            self.mark, self.limit = time.monotonic(), link.timeout
        elif (self.run_mode and self.ping_seq is None and self.inflight
              and now >= self.mark + link.timeout):
            # a long run, or a lost reply? An IDENTIFY is answered after the runs in flight:
            # if its reply comes first, theirs were lost
            self.ping_seq = link._send(P.Command.IDENTIFY, b"")
        return False

    def _lost(self, i: int) -> None:
        """Request i got no reply: queue it again (in a chain's order), or end the stream."""
        if self.replies[i] is not None:      # a chain's, confirmed by a later reply
            return
        self.halted = self.halted or not self.resend
        if self.resend and self.ended_by is None and self.attempts[i] <= self.link.retries:
            self.todo.appendleft(i)
            if self.chain:                   # a chain goes again in its order
                order = sorted(self.todo)
                self.todo.clear()
                self.todo.extend(order)
        elif self.resend:
            raise BoardTimeout(f"{self.link.url}: no reply to {P.Command(self.cmd).name} "
                               f"after {self.attempts[i]} attempts of {self.limit:g} s")

    def _lose_up_to(self, seq: int | None) -> None:
        """The requests in flight before ``seq`` (all of them for None) lost their replies."""
        for older in list(self.inflight):
            if older == seq:
                break
            self._lost(self.inflight.pop(older)[0])

    def _received(self, body: bytes) -> None:
        seq, rcmd, err, data = body[0], body[1], body[2], body[3:]
        if (seq, rcmd) in ((self.stop_seq, P.Command.STOP), (self.ping_seq, P.Command.IDENTIFY)):
            # answered after the requests in flight: their replies were lost
            self.stop_seq = -1 if seq == self.stop_seq else self.stop_seq
            self.ping_seq = None
            self._lose_up_to(None)
            self.mark = time.monotonic()
            return
        if seq not in self.inflight or rcmd != self.cmd or err in (P.Error.CRC, P.Error.OVERFLOW):
            return
        if self.chain and err == P.Error.SEQUENCE:
            # not applied, nor (maybe) the unanswered ones before it: again, in order
            self._lose_up_to(seq)
            self._lost(self.inflight.pop(seq)[0])
            self.mark = time.monotonic()
            return
        if err != P.Error.OK:
            self.link._resync = True
            raise ProtocolError(self.cmd, err)
        done = self.inflight[seq][0]
        for older in list(self.inflight):           # answered in order: these were lost
            if older == seq:
                break
            i, _ = self.inflight.pop(older)
            if not (self.chain and i < done):       # (else applied: confirmed below)
                self._lost(i)
        self.inflight.pop(seq)
        # a chain is applied in its order: this reply confirms the ones before it too
        for i in (range(done + 1) if self.chain else (done,)):
            if self.replies[i] is None:
                self.replies[i] = data
                if i in self.todo:
                    self.todo.remove(i)
                if self.on_reply is not None:
                    self.on_reply(i, data)
        self.mark = time.monotonic()
