"""COBS decoder and encoder on byte streams (``hopfield_fpga.protocol`` frames).

:class:`CobsDecoder` turns the raw received bytes into the frame body, marking the delimiter:
its output carries ``data`` bytes and an ``end`` beat per 0x00 (with ``error`` set if the
frame's last COBS block was cut short). It needs no buffer and never stalls except on
back-pressure. :class:`CobsEncoder` takes a body with ``last`` on its final byte and emits the
COBS bytes and the 0x00 delimiter; it buffers one block (up to 254 bytes) because a block's
code byte precedes its data.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hopfield_fpga.protocol import DELIMITER
from .block_ram import NO_RW_CHECK, collision_free_read

__all__ = ["DecodedByte", "BodyByte", "CobsDecoder", "CobsEncoder"]

#: Output of the decoder: a body byte, or (end = 1) the end of a frame (data unused).
DecodedByte = data.StructLayout({"data": 8, "end": 1, "error": 1})
#: Input of the encoder: a body byte, ``last`` on the final one.
BodyByte = data.StructLayout({"data": 8, "last": 1})


class CobsDecoder(wiring.Component):
    """Members
    -------
    i: In(stream of raw bytes). o: Out(stream of :data:`DecodedByte`).
    """

    def __init__(self):
        super().__init__({"i": In(stream.Signature(8)), "o": Out(stream.Signature(DecodedByte))})

    def elaborate(self, platform):
        m = Module()
        left = Signal(8)           # bytes left in the current block (0: next is a code byte)
        zero_pending = Signal()    # the block just ended with an implied zero
        started = Signal()         # a code byte has been seen in this frame
        byte = self.i.payload
        m.d.comb += self.i.ready.eq(self.o.ready)
        with m.If(self.i.valid & self.i.ready):
            with m.If(byte == DELIMITER):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.end.eq(1),
                             self.o.payload.error.eq(left != 0)]
                m.d.sync += [left.eq(0), zero_pending.eq(0), started.eq(0)]
            with m.Elif(left == 0):
                # A code byte: emits the zero implied by the previous block, if any.
                m.d.comb += [self.o.valid.eq(zero_pending & started),
                             self.o.payload.data.eq(0)]
                m.d.sync += [left.eq(byte - 1), zero_pending.eq(byte != 255), started.eq(1)]
            with m.Else():
                m.d.comb += [self.o.valid.eq(1), self.o.payload.data.eq(byte)]
                m.d.sync += left.eq(left - 1)
        return m


class CobsEncoder(wiring.Component):
    """Members
    -------
    i: In(stream of :data:`BodyByte`). o: Out(stream of raw bytes, delimiter included).
    """

    def __init__(self):
        super().__init__({"i": In(stream.Signature(BodyByte)), "o": Out(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.buf = buf = Memory(shape=8, depth=256, init=[], attrs=NO_RW_CHECK)
        wr = buf.write_port()
        # A synchronous read port, so the buffer maps onto a block RAM (an asynchronous one
        # becomes 2048 flip-flops and a 256:1 multiplexer on the iCE40). Its address runs one
        # byte ahead: `sent + 1` in the cycle a byte goes out, 0 while the code byte does.
        # Bytes are written only in FILL, and what is read there is never used (CODE reads
        # address 0 again): a collision-free read port.
        rd, rd_data = collision_free_read(m, buf, name="rd_data")
        count = Signal(range(256))      # bytes buffered in the block
        sent = Signal(range(256))
        last = Signal()                 # the block ends the frame
        zero_last = Signal()            # the body ended with 0: one more (empty) block follows
        with m.FSM():
            with m.State("FILL"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    byte = self.i.payload.data
                    with m.If(byte != 0):
                        m.d.comb += [wr.addr.eq(count), wr.data.eq(byte), wr.en.eq(1)]
                        m.d.sync += count.eq(count + 1)
                    m.d.sync += [last.eq(self.i.payload.last & (byte != 0)),
                                 zero_last.eq(self.i.payload.last & (byte == 0))]
                    with m.If(self.i.payload.last | (byte == 0) | (count == 253)):
                        m.next = "CODE"
            with m.State("CODE"):
                # count is final here (the byte written last cycle is counted)
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(count + 1), rd.addr.eq(0)]
                with m.If(self.o.ready):
                    m.d.sync += sent.eq(0)
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += rd.addr.eq(Mux(self.o.valid & self.o.ready, sent + 1, sent))
                with m.If(sent == count):
                    m.d.sync += count.eq(0)
                    with m.If(last):
                        m.next = "DELIM"
                    with m.Elif(zero_last):
                        m.d.sync += [last.eq(1), zero_last.eq(0)]
                        m.next = "CODE"
                    with m.Else():
                        m.next = "FILL"
                with m.Else():
                    m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(rd_data)]
                    with m.If(self.o.ready):
                        m.d.sync += sent.eq(sent + 1)
            with m.State("DELIM"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(DELIMITER)]
                with m.If(self.o.ready):
                    m.d.sync += last.eq(0)
                    m.next = "FILL"
        return m
