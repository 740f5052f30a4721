"""CRC-16 of the link protocol (``hopfield_fpga.protocol``: polynomial, init) one byte per cycle.

:func:`crc16_next` is the combinational update (8 shift steps unrolled); :class:`Crc16` wraps it
with a register. Appending the CRC big-endian makes the CRC over the whole body 0, which is how
the frame receiver checks a frame without knowing where its payload ends.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.protocol import CRC_INIT, CRC_POLY

__all__ = ["crc16_next", "Crc16"]


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


class Crc16(wiring.Component):
    """A CRC register: ``clear`` resets it to CRC_INIT; ``valid`` adds ``data``.

    Members
    -------
    clear, valid: In(1). data: In(8). crc: Out(16), the CRC of the bytes since the last clear.
    """

    def __init__(self):
        super().__init__({"clear": In(1), "valid": In(1), "data": In(8),
                          "crc": Out(16, init=CRC_INIT)})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.clear):
            m.d.sync += self.crc.eq(CRC_INIT)
        with m.Elif(self.valid):
            m.d.sync += self.crc.eq(crc16_next(self.crc, self.data))
        return m
