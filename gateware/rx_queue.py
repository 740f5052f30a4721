"""The receive queue: decoded frame bytes wait here while the command engine serves a request,
and a STOP frame is seen as it arrives.

:class:`RxQueue` sits between the COBS decoder and the command engine. It takes every decoded
byte at once (the decoder and the UART never wait) and queues it in a FIFO of
``protocol.RX_QUEUE_DEPTH`` entries (a power of two of block RAM and the FIFO's output
register): the host may send the next frames while the board serves one, up to that many
entries (``docs/protocol.md``, "Requests in flight").

Beside the FIFO a frame watcher checks each frame as it passes (length, CRC and command byte):
a well-formed STOP frame pulses ``stop`` at its delimiter, as it is queued. Its CRC verdict on
every frame goes with the frame's end beat (``crc_bad``): the command engine computes none. Until the command
engine serves it, in its turn, every run is stopped, even while the engine serves a request
that holds the run (RECALL, RECALL_MANY, RUN_GRADED with WAIT).

Nothing is lost silently. A data byte enters only while two entries are free, so the end beat
of a frame that lost bytes always finds room; that end beat carries ``lost`` and, in its data
byte, the frame's ``seq`` (the command engine answers it with ``Error.OVERFLOW``). Only when a
whole frame arrives while the queue is full (a host sending more than the queue holds behind
a frame that already overflowed) is its end beat merged into the next one that finds room.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hopfield_fpga import protocol as P
from .block_ram import NO_RW_CHECK, collision_free_read
from .cobs import DecodedByte
from .crc import crc16_next

__all__ = ["QueuedByte", "RxQueue", "RamFifo"]

#: A queued beat: a body byte, or (end = 1) the end of a frame; on an end beat ``error`` is the
#: COBS decoder's, ``crc_bad`` says the body's CRC does not check, and ``lost`` says bytes of
#: the frame found the queue full (``data`` then holds the frame's seq).
QueuedByte = data.StructLayout({"data": 8, "end": 1, "error": 1, "lost": 1, "crc_bad": 1})


class RxQueue(wiring.Component):
    """Members
    -------
    i: In(stream of ``cobs.DecodedByte``)
        Frame bodies from the COBS decoder; always ready.
    o: Out(stream of :data:`QueuedByte`)
        The same beats in order, to the command engine.
    stop: Out(1)
        One cycle high when a well-formed STOP frame (length, CRC and command) is queued whole
        (at its delimiter).
    """

    def __new__(cls, depth: int = P.RX_QUEUE_DEPTH):
        # refused before Elaboratable.__new__ registers the object (no UnusedElaboratable)
        least = P.REQUEST_HEADER + P.CRC_BYTES + 2
        if not isinstance(depth, int) or depth < least or (depth - 1) & (depth - 2):
            raise ValueError(f"depth must be a power of two plus one (the FIFO's output "
                             f"register), at least {least} entries (a shortest frame, its end "
                             f"beat and the entry kept for it), not {depth!r}")
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, depth: int = P.RX_QUEUE_DEPTH):
        self.depth = depth
        super().__init__({"i": In(stream.Signature(DecodedByte)),
                          "o": Out(stream.Signature(QueuedByte)), "stop": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = RamFifo(QueuedByte, self.depth - 1)
        beat = self.i.payload
        take = self.i.valid   # always ready: the decoder never waits for the queue
        m.d.comb += self.i.ready.eq(1)

        dropping = Signal()    # this frame lost bytes: the rest of it is dropped too

        # -- the frame watcher: STOP is a header and a CRC, nothing more -------------------
        stop_size = P.REQUEST_HEADER + P.CRC_BYTES
        count = Signal(range(stop_size + 2))     # body bytes so far, saturating above STOP's
        crc = Signal(16, init=P.CRC_INIT)
        seq = Signal(8)
        cmd_stop = Signal()    # the frame's command byte is STOP
        is_stop = ~beat.error & (count == stop_size) & (crc == 0) & cmd_stop
        with m.If(take & beat.end):
            # only a STOP that is queued whole counts: it will be served (and undo this)
            m.d.comb += self.stop.eq(is_stop & ~dropping & fifo.w.ready)
            m.d.sync += [count.eq(0), crc.eq(P.CRC_INIT)]
        with m.Elif(take):
            m.d.sync += crc.eq(crc16_next(crc, beat.data))
            with m.If(count != stop_size + 1):
                m.d.sync += count.eq(count + 1)
            with m.If(count == 0):
                m.d.sync += seq.eq(beat.data)
            with m.If(count == 1):
                m.d.sync += cmd_stop.eq(beat.data == P.Command.STOP)

        # -- queueing: an entry is always kept free for the end beat ------------------------
        owed = Signal()        # a lost frame's end beat found no room: it goes in later
        lost_seq = Signal(8)   # seq of the first frame lost since the last lost end beat
        entry = Signal(QueuedByte)
        m.d.comb += [fifo.w.payload.eq(entry), entry.data.eq(beat.data),
                     entry.end.eq(beat.end), entry.error.eq(beat.error),
                     entry.crc_bad.eq(crc != 0)]
        with m.If(take & beat.end):
            m.d.comb += [fifo.w.valid.eq(1), entry.lost.eq(dropping)]
            with m.If(dropping):
                m.d.comb += entry.data.eq(lost_seq)
            with m.If(fifo.w.ready):
                m.d.sync += [dropping.eq(0), owed.eq(0)]
            with m.Elif(dropping):
                m.d.sync += owed.eq(1)
        with m.Elif(take):
            with m.If(~dropping & fifo.room2):
                m.d.comb += fifo.w.valid.eq(1)
            with m.Elif(~dropping):
                # the first byte lost: remember whose frame it was
                m.d.sync += [dropping.eq(1), lost_seq.eq(Mux(count == 0, beat.data, seq))]
        with m.Elif(owed & fifo.w.ready):
            # the owed end beat, as soon as there is room; a frame begun meanwhile is lost too
            m.d.comb += [fifo.w.valid.eq(1), entry.end.eq(1), entry.lost.eq(1),
                         entry.data.eq(lost_seq)]
            m.d.sync += [owed.eq(0), dropping.eq(count != 0), lost_seq.eq(seq)]

        wiring.connect(m, fifo.r, wiring.flipped(self.o))
        return m


class RamFifo(wiring.Component):
    """A FIFO of ``depth`` (a power of two) entries of ``shape`` in block RAM, and an output
    register: ``lib.fifo.SyncFIFOBuffered(depth=depth + 1)``'s behaviour, for less logic.

    Its pointers wrap for free, and it never reads the entry being written (an entry is read
    only once written), so its read port is ``block_ram.collision_free_read``.

    Members
    -------
    w: In(stream of ``shape``)
        Entries in; ready while the RAM has a free entry.
    r: Out(stream of ``shape``)
        The entries in order, from the output register.
    room2: Out(1)
        The RAM has at least two free entries.
    """

    def __new__(cls, shape, depth: int):
        # refused before Elaboratable.__new__ registers the object (no UnusedElaboratable)
        if not isinstance(depth, int) or depth < 2 or depth & (depth - 1):
            raise ValueError(f"depth must be a power of two of at least 2, not {depth!r}")
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, shape, depth: int):
        self.shape = shape
        self.depth = depth
        super().__init__({"w": In(stream.Signature(shape)), "r": Out(stream.Signature(shape)),
                          "room2": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.storage = ram = Memory(shape=self.shape, depth=self.depth, init=[],
                                            attrs=NO_RW_CHECK)
        wr = ram.write_port()
        produce = Signal(range(self.depth))
        consume = Signal(range(self.depth))
        level = Signal(range(self.depth + 1))      # entries in the RAM
        m.d.comb += [self.w.ready.eq(level != self.depth),
                     self.room2.eq(level < self.depth - 1)]
        write = self.w.valid & self.w.ready
        # fetch into the output register when it is empty or being emptied
        fetch = (level != 0) & (~self.r.valid | self.r.ready)
        rd, out = collision_free_read(m, ram, name="out", en=fetch)
        m.d.comb += [wr.addr.eq(produce), wr.data.eq(self.w.payload), wr.en.eq(write),
                     rd.addr.eq(consume), self.r.payload.eq(out)]
        with m.If(write):
            m.d.sync += produce.eq(produce + 1)
        with m.If(fetch):
            m.d.sync += [consume.eq(consume + 1), self.r.valid.eq(1)]
        with m.Elif(self.r.ready):
            m.d.sync += self.r.valid.eq(0)
        with m.If(write & ~fetch):
            m.d.sync += level.eq(level + 1)
        with m.Elif(fetch & ~write):
            m.d.sync += level.eq(level - 1)
        return m
