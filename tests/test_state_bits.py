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
from hopfield_fpga.hw.boards import BOARDS

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


async def _offer(ctx, dut, first, items, put, done):
    """Start ``dut`` (a BitsToChunks or ChunksToBits) at chunk ``first``, then offer ``items``
    on its input, ``put(item, last)`` setting the payload, with its output always ready, until
    ``done(outputs, cycles)``. Returns (outputs, items taken)."""
    ctx.set(dut.start, 1)
    ctx.set(dut.first, first)
    await ctx.tick()
    ctx.set(dut.start, 0)
    ctx.set(dut.o.ready, 1)
    out, i, cycles = [], 0, 0
    while not done(out, cycles):
        ctx.set(dut.i.valid, i < len(items))
        put(items[i] if i < len(items) else 0, i == len(items) - 1)
        took_i = ctx.get(dut.i.ready) and i < len(items)
        took_o, value = ctx.get(dut.o.valid), ctx.get(dut.o.payload)
        await ctx.tick()
        i, cycles = i + bool(took_i), cycles + 1
        if took_o:
            out.append(value)
    ctx.set(dut.i.valid, 0)
    return out, i


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
        def put(byte, last):
            ctx.set(unpack.i.payload, byte)
        for first, data, chunks in cases:
            got_chunks.append(await _offer(ctx, unpack, first, data, put,
                                           lambda out, cycles: len(out) == len(chunks)))

    async def bench_pack(ctx):
        def put(chunk, last):
            ctx.set(pack.i.payload.chunk, chunk)
            ctx.set(pack.i.payload.last, last)
        for first, data, chunks in cases:
            limit = 8 * (len(data) + len(chunks)) + 8       # enough for every byte to leave
            out, _ = await _offer(ctx, pack, first, chunks, put,
                                  lambda out, cycles: cycles == limit)
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


@pytest.mark.parametrize("config", [
    *(NetworkConfig(neurons=256, weight_bits=8, lanes=k, features=Feature.HEBBIAN)
      for k in range(1, 9)),
    *dict.fromkeys(b.default_config for b in BOARDS.values())],
    ids=lambda c: f"N{c.neurons}K{c.lanes}{c.engine}")
def test_state_and_probe_transfers_cost_at_most_1_35_wire_bits_per_bit(config):
    """The driver's own frames (a recording port, as ``hopfield bench link``): storing 26
    patterns, the probes and the results of a batched recall of 26, N = 256 at K = 1 .. 8, and
    every board's default configuration (both engine designs, N = 256 and 1024; the store
    where it has the on-chip Hebbian store).
    (A lone state, 32 bytes here, pays the frame's 10 or so bytes: not a bulk transfer.)"""
    cfg, lanes = config, config.lanes
    rows = state_transfer_rows(cfg)
    # the store where the configuration has the on-chip Hebbian store (the ULX3S 85F's not)
    store = ["store"] if config.has(Feature.HEBBIAN) else []
    assert [r.operation for r in rows] == store + ["recall_many probes", "recall_many results"]
    for r in rows:
        assert r.wire_bits / r.payload_bits <= 1.35, (lanes, r)
