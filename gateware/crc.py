"""CRC-16 of the link protocol (``hopfield_fpga.protocol``: polynomial, init) one byte per cycle.

:func:`crc16_next` is the combinational update (8 shift steps unrolled); the command engine
keeps the registers (one for the frame received, one for the reply sent). Appending the CRC
big-endian makes the CRC over the whole body 0, which is how the frame receiver checks a frame
without knowing where its payload ends.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Value

from hopfield_fpga.protocol import CRC_POLY

__all__ = ["crc16_next"]


def _equations() -> list[frozenset[int]]:
    """For each output bit, the set of input bits (crc 0-15, byte 16-23) it is the xor of:
    the 8 shift steps solved once in Python, so the gateware is one xor level per bit."""
    bits = [frozenset({i}) for i in range(16)]
    for i in range(8):
        bits[8 + i] = bits[8 + i] ^ {16 + i}
    for _ in range(8):
        top = bits[15]
        bits = [frozenset()] + bits[:15]
        bits = [b ^ top if CRC_POLY >> i & 1 else b for i, b in enumerate(bits)]
    return bits


_EQUATIONS = _equations()


def crc16_next(crc: Value, byte: Value) -> Value:
    """The CRC after one more byte (MSB first, not reflected)."""
    inputs = Cat(crc, byte)
    out = []
    for eq in _EQUATIONS:
        v = Const(0, 1)
        for i in sorted(eq):
            v = v ^ inputs[i]
        out.append(v)
    return Cat(*out)
