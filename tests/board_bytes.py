"""Raw bytes to and from a simulated board, for the tests that send hand-made frames."""

from __future__ import annotations

from hopfield_fpga import protocol as P


def raw_exchange(board, data: bytes) -> list[bytes]:
    """Send raw bytes to the simulated board behind ``board``; return the bodies of every
    frame it sent back until it went quiet."""
    sim = board.port.board
    sim.write(data)
    out = bytearray()
    while True:
        chunk = sim.read(4096)
        if not chunk:
            break
        out += chunk
    return [P.decode_frame(f) for f in bytes(out).split(b"\x00")[:-1]]
