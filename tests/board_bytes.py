"""Raw bytes to and from a simulated board, for the tests that send hand-made frames.

Everything goes through the board's pyserial port (``board.port``: ``write``, ``read`` and the
simulated port's ``quiet``), the interface a real port has too.
"""

from __future__ import annotations

from hopfield_fpga import protocol as P


def raw_exchange(board, data: bytes) -> list[bytes]:
    """Send raw bytes to the simulated board behind ``board``; return the bodies of every
    frame it sent back until it went quiet."""
    port = board.port
    port.write(data)
    out = bytearray()
    while True:
        chunk = port.read(4096)
        out += chunk
        if not chunk and port.quiet:
            break
    return [P.decode_frame(f) for f in bytes(out).split(b"\x00")[:-1]]


def assert_silent(board, cycles: int) -> None:
    """Simulate ``cycles`` clock cycles of a board that must send nothing meanwhile (a run
    goes on)."""
    port = board.port
    port.timeout, timeout = 0.1, port.timeout
    try:
        start = port.cycles
        while port.cycles < start + cycles:
            assert port.read(1) == b"", "the board replied while its run should go on"
    finally:
        port.timeout = timeout


def one_reply(board, data: bytes) -> bytes:
    """Send ``data`` (one frame) to a board that may be running (so never quiet) and return
    the body of the next frame it sends back."""
    port = board.port
    port.write(data)
    out = bytearray()
    while not out.endswith(b"\x00"):
        out += port.read(1)
    return P.decode_frame(bytes(out[:-1]))


class LossyPort:
    """A port between a driver and a simulated board's port that loses or corrupts whole
    frames: ``to_board`` and ``to_host`` map a frame's number (0, 1, ... in that direction)
    to "drop" or "flip" (one bit of its first COBS data byte). ``log`` records what was done."""

    def __init__(self, port, *, to_board: dict[int, str], to_host: dict[int, str]):
        self.port = port
        self.rules = {"board": dict(to_board), "host": dict(to_host)}
        self.count = {"board": 0, "host": 0}
        self.pending = {"board": bytearray(), "host": bytearray()}
        self.ready = bytearray()          # frames for the host, after the rules
        self.log: list[tuple[str, int, str]] = []

    def _frames(self, way: str, data: bytes) -> bytes:
        """The complete frames of ``way`` (with delimiters) after the rules."""
        buf = self.pending[way]
        buf += data
        out = bytearray()
        while (i := buf.find(0)) >= 0:
            frame = bytearray(buf[:i + 1])
            del buf[:i + 1]
            n = self.count[way]
            self.count[way] += 1
            rule = self.rules[way].get(n) if len(frame) > 1 else None
            if rule:
                self.log.append((way, n, rule))
            if rule == "drop":
                continue
            if rule == "flip":
                frame[1] ^= 0x10 if frame[1] ^ 0x10 else 0x20   # never a zero byte
            out += frame
        return bytes(out)

    def write(self, data: bytes) -> int:
        self.port.write(self._frames("board", data))
        return len(data)

    def read(self, size: int = 1) -> bytes:
        if not self.ready:
            self.ready += self._frames("host", self.port.read(max(size, 1)))
        out = bytes(self.ready[:size])
        del self.ready[:size]
        return out

    @property
    def in_waiting(self) -> int:
        return len(self.ready) + self.port.in_waiting

    @property
    def quiet(self) -> bool:
        return not self.ready and self.port.quiet

    def close(self) -> None:
        pass
