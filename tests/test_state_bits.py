"""Packed state bits: the protocol's packing, the gateware's byte <-> chunk blocks against it, and
the wire cost of state and probe transfers (the <= 1.35 wire bits per payload bit target)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hopfield_fpga import protocol as P
from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.gateware.state_bits import BitsToChunks, ChunksToBits
from hopfield_fpga.host.bench_link import state_transfer_rows

#: (N, K): K dividing N or not, N a multiple of 8 or not, fewer packed bytes than C words
#: (N = 7, K = 6: ceil(N/8) = 1 byte for 2 chunks), K past a byte.
SHAPES = [(10, 4), (7, 6), (13, 3), (16, 8), (9, 1), (33, 12), (20, 20)]


def test_pack_bits_roundtrip_and_refusals(rng):
    for n in (1, 7, 8, 9, 256, 1023):
        bits = rng.integers(0, 2, n).tolist()
        data = P.pack_bits(bits)
        assert len(data) == -(-n // 8)
        assert P.unpack_bits(data, n) == bits
        assert int.from_bytes(data, "little") == sum(b << i for i, b in enumerate(bits))
    with pytest.raises(ValueError, match="0/1 values, not 2 at index 1"):
        P.pack_bits([1, 2])
    with pytest.raises(ValueError, match="take 2 bytes, not 1"):
        P.unpack_bits(b"\x01", 9)


@pytest.mark.parametrize("n,k", SHAPES)
def test_state_range_sizes(n, k):
    geo = P.LinkGeometry(NetworkConfig(neurons=n, lanes=k))
    c = -(-n // k)
    assert geo.state_bytes == geo.state_range_bytes(0, c) == -(-n // 8)
    assert geo.state_range_bits(c - 1, 1) == geo.last_chunk_bits == n - (c - 1) * k
    assert geo.state_range_bits(0, 0) == 0
    with pytest.raises(ValueError, match="not a range"):
        geo.state_range_bits(1, c)


def _ranges(c, rng):
    """(first chunk, chunks) of a few ranges: whole states, ends, the middle."""
    out = [(0, c), (c - 1, 1), (0, 1)]
    for _ in range(3):
        first = int(rng.integers(0, c))
        out.append((first, int(rng.integers(1, c - first + 1))))
    return out


@pytest.mark.parametrize("n,k", SHAPES)
def test_gateware_blocks_match_pack_bits(n, k, seed, rng):
    """BitsToChunks turns the packed bytes of ranges (and of back-to-back whole states) into the
    chunks of ``pack_words``; ChunksToBits turns those chunks into the same bytes again."""
    cfg = NetworkConfig(neurons=n, lanes=k)
    c = cfg.chunks
    geo = P.LinkGeometry(cfg)
    cases = []
    for first, count in _ranges(c, rng):
        states = 1 if count < c else 2                 # whole states go back to back
        bits = rng.integers(0, 2, (states, n))
        lo, hi = first * k, min((first + count) * k, n)
        data = b"".join(P.pack_bits(s[lo:hi]) for s in bits)
        assert len(data) == states * geo.state_range_bytes(first, count)
        chunks = []
        for s in bits:
            lanes = np.zeros(c * k, dtype=np.int64)
            lanes[lo:hi] = s[lo:hi]
            chunks += [P.pack_lanes(lanes[j * k:(j + 1) * k], 1) for j in range(first,
                                                                               first + count)]
        cases.append((first, data, chunks))

    unpack, pack = BitsToChunks(cfg), ChunksToBits(cfg)
    got_chunks, got_bytes = [], []

    async def bench_unpack(ctx):
        for first, data, chunks in cases:
            ctx.set(unpack.start, 1)
            ctx.set(unpack.first, first)
            await ctx.tick()
            ctx.set(unpack.start, 0)
            out, i = [], 0
            ctx.set(unpack.o.ready, 1)
            while len(out) < len(chunks):
                ctx.set(unpack.i.valid, i < len(data))
                ctx.set(unpack.i.payload, data[i] if i < len(data) else 0)
                took_i, took_o, chunk = (ctx.get(unpack.i.ready) and i < len(data),
                                         ctx.get(unpack.o.valid), ctx.get(unpack.o.payload))
                await ctx.tick()
                i += bool(took_i)
                if took_o:
                    out.append(chunk)
            ctx.set(unpack.i.valid, 0)
            got_chunks.append((out, i))

    async def bench_pack(ctx):
        for first, data, chunks in cases:
            ctx.set(pack.start, 1)
            ctx.set(pack.first, first)
            await ctx.tick()
            ctx.set(pack.start, 0)
            out, j = bytearray(), 0
            ctx.set(pack.o.ready, 1)
            for _ in range(8 * (len(data) + len(chunks)) + 8):
                ctx.set(pack.i.valid, j < len(chunks))
                ctx.set(pack.i.payload.chunk, chunks[j] if j < len(chunks) else 0)
                ctx.set(pack.i.payload.last, j == len(chunks) - 1)
                took_i, took_o, byte = (ctx.get(pack.i.ready) and j < len(chunks),
                                        ctx.get(pack.o.valid), ctx.get(pack.o.payload))
                await ctx.tick()
                j += bool(took_i)
                if took_o:
                    out.append(byte)
            got_bytes.append(bytes(out))

    for dut, bench in ((unpack, bench_unpack), (pack, bench_pack)):
        sim = Simulator(dut)
        sim.add_clock(1e-6)
        sim.add_testbench(bench)
        sim.run()
    for (first, data, chunks), (out, used), back in zip(cases, got_chunks, got_bytes):
        assert out == chunks, f"seed {seed}: N={n} K={k} range from {first}: chunks {out}"
        assert used == len(data), f"seed {seed}: {used} of {len(data)} bytes taken"
        assert back == data, f"seed {seed}: N={n} K={k} range from {first}: bytes {back!r}"


@pytest.mark.parametrize("lanes", [1, 2, 3, 6, 8])
def test_state_and_probe_transfers_cost_at_most_1_35_wire_bits_per_bit(lanes):
    """The driver's own frames (a recording port, as ``hopfield bench link``): storing 26
    patterns, the probes and the results of a batched recall of 26, N = 256, at K = 1 .. 8.
    (A lone state, 32 bytes here, pays the frame's 10 or so bytes: not a bulk transfer.)"""
    cfg = NetworkConfig(neurons=256, weight_bits=8, lanes=lanes, features=Feature.HEBBIAN)
    rows = state_transfer_rows(cfg)
    assert [r.operation for r in rows] == ["store", "recall_many probes", "recall_many results"]
    for r in rows:
        assert r.wire_bits / r.payload_bits <= 1.35, (lanes, r)
