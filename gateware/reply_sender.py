"""The command engine's reply output: reply bytes to the COBS encoder, the CRC computed on the
fly and appended on request.

Bytes from ``i`` pass straight to ``tx`` (no register: the same cycles as sending them
directly). While ``seal`` is high the block sends the CRC instead (high byte first,
``protocol.CRC_BYTES``), ``last`` on its final byte; ``sealed`` is high in the cycle that byte
is taken, and the CRC starts again for the next reply (a reset, cheaper than a first-byte
flag's multiplexer in front of the CRC's XOR trees).
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga import protocol as P
from .cobs import BodyByte
from .crc import crc16_next

__all__ = ["ReplySender"]



class ReplySender(wiring.Component):
    """Members
    -------
    i: In(stream of 8-bit bytes)
        The reply's bytes (header and payload); not to be offered while ``seal`` is high.
    seal: In(1), sealed: Out(1)
        Send the CRC now; its last byte is taken now.
    tx: Out(stream of ``cobs.BodyByte``)
        Reply bodies, ``last`` on the CRC's final byte.
    """

    i: In(stream.Signature(8))
    seal: In(1)
    sealed: Out(1)
    tx: Out(stream.Signature(BodyByte))

    def elaborate(self, platform):
        m = Module()
        assert P.CRC_BYTES == 2
        crc = Signal(16, init=P.CRC_INIT)
        low = Signal()       # the CRC's high byte is sent
        # (i.ready is also high while sealing: the command engine offers nothing meanwhile,
        # and a ready without `seal` in it keeps the FSM's conditions small)
        m.d.comb += self.i.ready.eq(self.tx.ready)
        with m.If(self.seal):
            m.d.comb += [self.tx.valid.eq(1), self.tx.payload.data.eq(Mux(low, crc[:8], crc[8:])),
                         self.tx.payload.last.eq(low)]
            with m.If(self.tx.ready):
                m.d.sync += low.eq(~low)
                m.d.comb += self.sealed.eq(low)
                with m.If(low):
                    m.d.sync += crc.eq(P.CRC_INIT)
        with m.Else():
            m.d.comb += [self.tx.valid.eq(self.i.valid),
                         self.tx.payload.data.eq(self.i.payload)]
            with m.If(self.i.valid & self.tx.ready):
                m.d.sync += crc.eq(crc16_next(crc, self.i.payload))
        return m
