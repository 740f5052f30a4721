"""The link layer of the driver: frames, sequence numbers, retries, deadlines, trace routing.

:class:`Link` sends one request at a time over a pyserial-like port (``read``, ``write``,
``in_waiting``, ``close``) and returns the reply's payload. Every request ends within its
deadline whatever the port does (silent, or sending bytes that never form a reply):

- each attempt lasts at most ``timeout`` seconds (``run_timeout`` for a run) counted from the
  moment it was sent, not from the last byte received;
- a request is sent at most ``retries + 1`` times (once for STORE and runs, which are not
  idempotent), so a request ends within ``timeout * (retries + 1)`` plus one port read
  (at most :data:`READ_SLICE` seconds);
- received bytes wait in a buffer of at most :data:`RX_LIMIT` bytes; a longer run of bytes
  without a delimiter cannot be a reply and is dropped.

A request that fails sends its next attempt with a new ``seq`` behind a delimiter (so the board
resynchronizes after garbage); a late reply to an old ``seq`` is ignored. TRACE and
GRADED_TRACE frames carrying the request's ``seq`` go to the request's ``on_trace``.

A run that replies at once (RUN, RUN_GRADED without WAIT) keeps its trace frames routed to
its handler until :meth:`end_run`; :meth:`stop` (from any thread) sets
:attr:`stop_requested` and, when no request is under way, sends STOP itself. Ending runs on
a deadline, a stop or Ctrl-C is the engines' business (``host/wire.py``).
"""

from __future__ import annotations

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

    def _send(self, cmd: int, payload: bytes) -> int:
        self._seq = (self._seq + 1) & 0xFF
        frame = P.encode_frame(bytes([self._seq, cmd]) + payload)
        if self._resync:
            frame = bytes([P.DELIMITER]) + frame
            self._resync = False
        self._write(frame)
        return self._seq

    def _await(self, seq: int, cmd: int, deadline: float, on_trace) -> bytes | None:
        """The payload of the reply to (seq, cmd), or None at ``deadline``."""
        while True:
            raw = self._read_frame(deadline)
            if raw is None:
                return None
            try:
                body = P.decode_frame(raw)
            except P.FrameError:
                continue
            if len(body) < P.REPLY_HEADER:
                continue
            rcmd, err, data = body[1], body[2], body[3:]
            if rcmd in (P.Command.TRACE, P.Command.GRADED_TRACE):
                if body[0] == seq and on_trace is not None:
                    on_trace(data)
                elif self._run_trace is not None and body[0] == self._run_trace[0]:
                    self._run_trace[1](data)
                continue
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
