"""Packed state bits on the wire <-> the binary engine's K-bit state chunks.

The link protocol sends states as packed bits (``protocol.pack_bits``: neuron i of a range at bit
i % 8 of byte i // 8), whatever K is, while the engine's state accesses carry one chunk of K
lanes (chunk c holds neurons c*K .. c*K+K-1; the last chunk has only
``LinkGeometry.last_chunk_bits`` real lanes). :class:`BitsToChunks` turns the payload bytes of
a request into chunks, :class:`ChunksToBits` the chunks read back into reply bytes.

Both track the chunk address themselves: ``start`` (one cycle, before the first byte or chunk)
loads the range's first chunk, and the address steps with every chunk, back to chunk 0 after
the last chunk of a state. A state always begins on a byte: after the last chunk the bits left
in a byte (its padding) are dropped (BitsToChunks) or the partial byte is sent with zeros above
(ChunksToBits), which is what makes a whole state ceil(N/8) bytes and lets STORE and
RECALL_MANY send their states back to back.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.protocol import LinkGeometry

__all__ = ["BitsToChunks", "ChunksToBits", "chunk_out_layout"]


def _chunk_ports(config: NetworkConfig) -> dict:
    """The ports both blocks have besides their streams (after checking ``config``)."""
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a NetworkConfig, not {config!r}")
    return {"start": In(1), "first": In(range(config.chunks))}


class _ChunkAddress:
    """The chunk address of a range and the real lanes of the current chunk."""

    def __init__(self, m: Module, config: NetworkConfig):
        self.m, self.C = m, config.chunks
        self.addr = Signal(range(config.chunks))
        self.last = self.addr == self.C - 1
        k, last_bits = config.lanes, LinkGeometry(config).last_chunk_bits
        self.bits = Mux(self.last, last_bits, k)    # real lanes of this chunk

    def step(self):
        """The address of the next chunk (0 after the state's last one)."""
        self.m.d.sync += self.addr.eq(Mux(self.last, 0, self.addr + 1))


class BitsToChunks(wiring.Component):
    """Packed bytes in, K-bit state chunks out (padding lanes 0).

    Members
    -------
    start: In(1)
        Begin a range (drops any bits held); ``first`` is its first chunk.
    first: In(range(C))
    i: In(stream of 8-bit bytes)
        Taken only while the current chunk lacks bits, so a frame's payload is read exactly.
    o: Out(stream of K-bit chunks)
    """

    def __init__(self, config: NetworkConfig):
        members = _chunk_ports(config)
        self.config = config
        members.update({"i": In(stream.Signature(8)),
                        "o": Out(stream.Signature(config.lanes))})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        k = self.config.lanes
        at = _ChunkAddress(m, self.config)
        held = Signal(k + 7)           # bits received, not yet sent on (low bit first)
        count = Signal(range(k + 8))
        need = at.bits
        m.d.comb += [
            self.i.ready.eq(count < need),
            self.o.valid.eq(count >= need),
            self.o.payload.eq(Mux(at.last, held[:LinkGeometry(self.config).last_chunk_bits],
                                  held[:k])),
        ]
        with m.If(self.start):
            m.d.sync += [held.eq(0), count.eq(0), at.addr.eq(self.first)]
        with m.Elif(self.i.valid & self.i.ready):
            m.d.sync += [held.eq(held | (self.i.payload << count)), count.eq(count + 8)]
        with m.Elif(self.o.valid & self.o.ready):
            at.step()
            with m.If(at.last):   # the rest of the byte is padding: a state starts on a byte
                m.d.sync += [held.eq(0), count.eq(0)]
            with m.Else():
                m.d.sync += [held.eq(held >> k), count.eq(count - k)]
        return m


def chunk_out_layout(lanes: int) -> data.StructLayout:
    """A chunk for :class:`ChunksToBits`: ``last`` ends the range (its partial byte is sent)."""
    return data.StructLayout({"chunk": lanes, "last": 1})


class ChunksToBits(wiring.Component):
    """K-bit state chunks in, packed bytes out (the last byte of a range padded with zeros).

    Members
    -------
    start: In(1)
        Begin a range; ``first`` is its first chunk.
    first: In(range(C))
    i: In(stream of ``chunk_out_layout(K)``)
        Taken only once the bytes of the previous chunks went out (at most one byte held).
    o: Out(stream of 8-bit bytes)
    """

    def __init__(self, config: NetworkConfig):
        members = _chunk_ports(config)
        self.config = config
        members.update({"i": In(stream.Signature(chunk_out_layout(config.lanes))),
                        "o": Out(stream.Signature(8))})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        k = self.config.lanes
        at = _ChunkAddress(m, self.config)
        held = Signal(k + 7)
        count = Signal(range(k + 8))
        flush = Signal()               # send the partial byte too (end of a state or range)
        real = Mux(at.last, self.i.payload.chunk[:LinkGeometry(self.config).last_chunk_bits],
                   self.i.payload.chunk)
        m.d.comb += [
            self.o.valid.eq((count >= 8) | (flush & (count != 0))),
            self.o.payload.eq(held[:8]),
            self.i.ready.eq(~self.o.valid),
        ]
        with m.If(self.start):
            m.d.sync += [held.eq(0), count.eq(0), flush.eq(0), at.addr.eq(self.first)]
        with m.Elif(self.i.valid & self.i.ready):
            at.step()
            m.d.sync += [held.eq(held | (real << count)), count.eq(count + at.bits),
                         flush.eq(at.last | self.i.payload.last)]
        with m.Elif(self.o.valid & self.o.ready):
            m.d.sync += held.eq(held >> 8)
            with m.If(count <= 8):
                m.d.sync += [count.eq(0), flush.eq(0)]
            with m.Else():
                m.d.sync += count.eq(count - 8)
        return m
