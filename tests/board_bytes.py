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


def one_reply(board, data: bytes) -> bytes:
    """Send ``data`` (one frame) to a board that may be running (so never quiet) and return
    the body of the next frame it sends back."""
    port = board.port
    port.write(data)
    out = bytearray()
    while not out.endswith(b"\x00"):
        out += port.read(1)
    return P.decode_frame(bytes(out[:-1]))
