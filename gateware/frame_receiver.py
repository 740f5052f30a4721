"""The command engine's request buffer: a frame is received whole, then read back byte by byte.

While ``enable`` is high the block takes the receive queue's beats (``rx``) into its buffer
(``protocol.MAX_BODY`` bytes; a longer frame sets ``TOO_LONG`` and its rest is dropped), and
at the frame's ``end`` beat says what to do with it (``ended`` with ``answer``, ``error`` and
``reply_cmd``): a frame shorter than a header and a CRC (noise, a cut frame) or one the COBS
decoder refused gets no answer; a frame that found the queue full gets ``Error.OVERFLOW`` (the
queue kept its seq in the end beat; its command if it came), one past the buffer
``Error.TOO_LONG``, one whose CRC does not check ``Error.CRC``; a whole frame gets error 0 and
is served. The end beat always returns the block to the start of a frame.

The frame is then read from its first byte after the request header: ``byte`` is the byte
at the read pointer (read one cycle ahead: it holds in the cycle after a reset), ``advance``
consumes it. ``restart`` (the request served) empties the buffer for the next frame.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hopfield_fpga import protocol as P
from .block_ram import NO_RW_CHECK, collision_free_read
from .rx_queue import QueuedByte

__all__ = ["FrameReceiver"]


class FrameReceiver(wiring.Component):
    """Members
    -------
    rx: In(stream of ``rx_queue.QueuedByte``)
        Frame bodies from the receive queue, one ``end`` beat per delimiter.
    enable: In(1)
        Receive now (``rx.ready``).
    ended: Out(1), answer: Out(1), whole: Out(1), error: Out(8), reply_cmd: Out(8)
        An end beat is taken now; whether the frame gets a reply, whether it is whole (to
        serve), the error of the reply if not, and the command byte of the reply.
    seq: Out(8), cmd: Out(8), length: Out(range(MAX_BODY + 1))
        The frame's seq, command and length (CRC included).
    advance: In(1), byte: Out(8)
        The buffer's next byte to read; consume it.
    restart: In(1)
        The request is served: the next frame goes to the start of the buffer.
    """

    rx: In(stream.Signature(QueuedByte))
    enable: In(1)
    ended: Out(1)
    answer: Out(1)
    whole: Out(1)
    error: Out(8)
    reply_cmd: Out(8)
    seq: Out(8)
    cmd: Out(8)
    length: Out(range(P.MAX_BODY + 1))
    advance: In(1)
    byte: Out(8)
    restart: In(1)

    def elaborate(self, platform):
        m = Module()
        # what is read while a frame is written into the buffer is never used (the command
        # engine reads after its checks): a collision-free read port
        m.submodules.buf = buf = Memory(shape=8, depth=P.MAX_BODY, init=[], attrs=NO_RW_CHECK)
        wr = buf.write_port()
        rd, byte = collision_free_read(m, buf, name="byte")
        rp = Signal(range(P.MAX_BODY + 1), init=P.REQUEST_HEADER)  # next body byte to read
        m.d.comb += [self.byte.eq(byte), rd.addr.eq(Mux(self.advance, rp + 1, rp))]
        with m.If(self.advance):
            m.d.sync += rp.eq(rp + 1)
        with m.If(self.restart):
            m.d.sync += [rp.eq(P.REQUEST_HEADER), self.length.eq(0)]

        flen, beat = self.length, self.rx.payload
        overflow = Signal()
        m.d.comb += self.rx.ready.eq(self.enable)
        with m.If(self.enable & self.rx.valid & beat.end):
            m.d.comb += self.ended.eq(1)
            m.d.sync += [flen.eq(0), overflow.eq(0)]
            with m.If(beat.lost):
                # not executed; the queue kept the frame's seq in the end beat;
                # its cmd byte came if flen >= REQUEST_HEADER (2): a bit test
                assert P.REQUEST_HEADER == 2
                m.d.sync += self.seq.eq(beat.data)
                m.d.comb += [self.answer.eq(1), self.error.eq(P.Error.OVERFLOW),
                             self.reply_cmd.eq(Mux(flen[1:].any(), self.cmd, 0))]
            with m.Elif(beat.error | (flen < P.REQUEST_HEADER + P.CRC_BYTES)):
                pass    # noise or a cut frame: nothing to answer
            with m.Else():
                m.d.comb += [self.answer.eq(1), self.reply_cmd.eq(self.cmd)]
                with m.If(overflow):
                    m.d.comb += self.error.eq(P.Error.TOO_LONG)
                with m.Elif(beat.crc_bad):    # the queue's verdict
                    m.d.comb += self.error.eq(P.Error.CRC)
                with m.Else():
                    m.d.comb += self.whole.eq(1)
                    m.d.sync += flen.eq(flen)     # a whole frame: kept until served
        with m.Elif(self.enable & self.rx.valid):
            with m.If(flen == P.MAX_BODY):
                m.d.sync += overflow.eq(1)
            with m.Else():
                m.d.comb += [wr.addr.eq(flen), wr.data.eq(beat.data), wr.en.eq(1)]
                m.d.sync += flen.eq(flen + 1)
                with m.If(flen == 0):
                    m.d.sync += self.seq.eq(beat.data)
                with m.If(flen == 1):
                    m.d.sync += self.cmd.eq(beat.data)
        return m
