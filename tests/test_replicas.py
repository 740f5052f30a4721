# amaranth: UnusedElaboratable=no
"""Replicas (``gateware/engine/replicas.py``): two column engines sharing one two-port
weight store, in Amaranth's simulator. The store's two ports against a model; then both
replicas running at the same time on different probes, orders and seeds (deterministic and
stochastic, after weights written or Hebbian-stored through replica 0), each compared flip
by flip with the golden model, and its cycle counts with a lone ``ColumnEngine`` running
the same case. A failure names the case seeds."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from hopfield_fpga.config import Feature, NetworkConfig, Order
from hopfield_fpga.gateware.engine.column_engine import ColumnEngine
from hopfield_fpga.gateware.engine.replicas import ColumnReplicas
from hopfield_fpga.gateware.engine.weight_store import WeightStore
from hopfield_fpga.sim.tb.engine_driver import (KINDS, AmaranthBus, EngineDriver, compare,
                                               expected, make_case)

FULL = Feature.TRACE | Feature.STOCHASTIC | Feature.HEBBIAN
CONFIG = NetworkConfig(neurons=12, lanes=4, weight_bits=5, features=FULL, orders=tuple(Order))


def _pack(values, width):
    return sum((int(v) & ((1 << width) - 1)) << (i * width) for i, v in enumerate(values))


def _unpack(word, width, count):
    out = []
    for i in range(count):
        v = (word >> (i * width)) & ((1 << width) - 1)
        out.append(v - (1 << width) if v >> (width - 1) else v)
    return out


def test_weight_store_two_ports():
    """Port 0 writes (chunks and whole columns) and reads; port 1 reads the column it asked
    for in every cycle without a write, its own writes change nothing, and ``stale`` marks
    the write cycles."""
    config = NetworkConfig(neurons=13, lanes=4, weight_bits=5)
    n, k, c, wb = config.neurons, config.lanes, config.chunks, config.weight_bits
    seed = 7013
    rng = np.random.default_rng(seed)
    store = WeightStore(config, read_ports=2)
    p0, p1 = store.ports
    sim = Simulator(store)
    sim.add_clock(1e-6)

    async def bench(ctx):
        w = np.zeros((c * k, n), dtype=np.int64)       # rows: lanes (padded), columns: j
        for step in range(300):
            where = f"seed {seed} step {step}"
            j0, j1 = (int(v) for v in rng.integers(n, size=2))
            ch = int(rng.integers(c))
            kind = rng.choice(["column", "chunk", "read", "port 1 writes"],
                              p=[0.1, 0.3, 0.5, 0.1])
            for port, j in ((p0, j0), (p1, j1)):
                ctx.set(port.read_addr, j)
                ctx.set(port.read_en, 1)
                ctx.set(port.chunk, ch)                 # registered with the read
                ctx.set(port.chunk_load, 1)
            new = w.copy()
            if kind == "column":
                col = np.zeros(c * k, dtype=np.int64)
                col[:n] = rng.integers(config.weight_min, config.weight_max + 1, n)
                ctx.set(p0.write_addr, j0 if rng.random() < 0.5 else (j0 + 1) % n)
                ctx.set(p0.column_in, _pack(col, wb))
                ctx.set(p0.write_column, 1)
                new[:, ctx.get(p0.write_addr)] = col
            elif kind == "chunk":
                lanes = rng.integers(config.weight_min, config.weight_max + 1, k)
                ctx.set(p0.write_addr, int(rng.integers(n)))
                ctx.set(p0.write_chunk, ch)
                ctx.set(p0.write_data, _pack(lanes, wb))
                ctx.set(p0.write_en, 1)
                for lane in range(k):
                    if ch * k + lane < n:
                        new[ch * k + lane, ctx.get(p0.write_addr)] = lanes[lane]
            elif kind == "port 1 writes":                  # not performed: stale only
                ctx.set(p1.write_addr, j1)
                ctx.set(p1.column_in, _pack(rng.integers(1, 3, c * k), wb))
                ctx.set(p1.write_column if rng.random() < 0.5 else p1.write_en, 1)
            assert ctx.get(p1.stale) == (kind != "read"), where
            assert ctx.get(p0.stale) == 0, where
            await ctx.tick()
            for port in (p0, p1):
                for name in ("write_column", "write_en", "read_en", "chunk_load"):
                    ctx.set(getattr(port, name), 0)
                ctx.set(port.chunk, int(rng.integers(c)))   # not loaded: ignored
            # Port 0 reads the old column in a write cycle (its read has its own port).
            got0 = _unpack(ctx.get(p0.column), wb, c * k)
            assert got0 == list(w[:, j0]), f"{where}: port 0, column {j0}"
            assert (_unpack(ctx.get(p0.chunk_data), wb, k)
                    == list(w[ch * k:(ch + 1) * k, j0])), where
            if kind in ("read", "port 1 writes"):
                assert _unpack(ctx.get(p1.column), wb, c * k) == list(w[:, j1]), \
                    f"{where}: port 1, column {j1}"
                assert (_unpack(ctx.get(p1.chunk_data), wb, k)
                        == list(w[ch * k:(ch + 1) * k, j1])), where
            w = new

    sim.add_testbench(bench)
    sim.run()


def _case_pair(config, seed):
    """Replica 0's case (its weights, and Hebbian patterns, are the shared network) and
    replica 1's (its own bias, probe, clamp, order, seed and schedule on those weights)."""
    kinds = [k for k in KINDS if k != "hebbian" or config.has(Feature.HEBBIAN)]
    case0 = make_case(config, seed, kinds[seed % len(kinds)], clamp=True)
    case1 = make_case(config, seed + 50_000, clamp=True)
    weights, want0 = expected(config, case0)
    case1.weights, case1.patterns, case1.quantized = weights, None, False
    return case0, want0, case1, expected(config, case1)[1]


async def _load(driver, case, *, network):
    if network:
        await driver.clear()
        await driver.write_weights(case.weights)
        for p in case.patterns if case.patterns is not None else ():
            await driver.store_pattern(p)
        await driver.wait_idle(1)
    await driver.write_bias(case.bias)
    await driver.write_state(case.state)
    await driver.write_clamp(case.clamp)
    if case.schedule is not None:
        await driver.write_betas(case.schedule)


async def _run(driver, case):
    status, events = await driver.run(
        order=case.order, seed=case.run_seed, max_visits=case.max_visits,
        stochastic=case.schedule is not None,
        beta_len=len(case.schedule) if case.schedule else 1, trace=case.trace,
        ready_prob=case.ready_prob)
    return status, events, await driver.read_state()


def _lone_cycles(config, cases):
    """(cycles, refresh_cycles) of each case run on a lone ColumnEngine, loaded as a
    replica is (the network first, through the same engine)."""
    dut = ColumnEngine(config)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    got = []

    async def bench(ctx):
        driver = EngineDriver(AmaranthBus(ctx, dut), config, rng=random.Random(1))
        await driver.reset_inputs()
        for case in cases:
            await _load(driver, case, network=True)
            status, _, _ = await _run(driver, case)
            got.append((int(status.cycles), int(status.refresh_cycles)))

    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.slow
@pytest.mark.parametrize("config,seeds", [
    (CONFIG, range(3000, 3016)),
    # symmetric weights only: each replica's energy without a column sum
    (CONFIG.with_(engine="column", features=FULL | Feature.SYMMETRIC), range(3100, 3108)),
], ids=["full", "symmetric"])
def test_replicas_match_golden_and_lone_engine(config, seeds):
    print(f"seeds {seeds.start}..{seeds.stop - 1} (replica 1: seed + 50000)")
    pairs = [_case_pair(config, seed) for seed in seeds]
    dut = ColumnReplicas(config)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    # round i: replica 0 loads the network (replica 1 idle), then both load their probes
    # and start their runs in the same cycle
    phase = {"network": -1, "loaded": [-1, -1], "done": [-1, -1]}
    results = [[None] * len(pairs), [None] * len(pairs)]

    def replica_bench(r):
        async def bench(ctx):
            driver = EngineDriver(AmaranthBus(ctx, dut.replica[r]), config,
                                  rng=random.Random(r + 1))
            await driver.reset_inputs()
            for i, pair in enumerate(pairs):
                case = pair[2 * r]
                if r == 0:
                    while phase["done"][1] < i - 1:          # replica 1 idle
                        await ctx.tick()
                    await _load(driver, case, network=True)
                    phase["network"] = i
                else:
                    while phase["network"] < i:
                        await ctx.tick()
                    if i % 2:
                        # not performed on the weights: its biases and fields only
                        await driver.clear()
                    await _load(driver, case, network=False)
                phase["loaded"][r] = i
                while min(phase["loaded"]) < i:              # start together
                    await ctx.tick()
                results[r][i] = await _run(driver, case)
                phase["done"][r] = i
        return bench

    both = [0]                        # cycles in which both replicas' runs advanced

    async def overlap(ctx):
        last = [0, 0]
        async for _ in ctx.tick():
            now = [int(ctx.get(dut.replica[r].status).cycles) for r in range(2)]
            both[0] += all(a > b for a, b in zip(now, last))
            last = now

    sim.add_testbench(replica_bench(0))
    sim.add_testbench(replica_bench(1))
    sim.add_testbench(overlap, background=True)
    sim.run()
    lone = _lone_cycles(config, [case for pair in pairs for case in (pair[0], pair[2])])
    timed = 0
    for i, (case0, want0, case1, want1) in enumerate(pairs):
        for r, (case, want) in enumerate(((case0, want0), (case1, want1))):
            status, events, state = results[r][i]
            case.kind += f" (replica {r})"
            compare(case, want, status, events, state)
            if case.trace and case.ready_prob < 1:
                continue                 # the trace's random back-pressure costs cycles
            timed += 1
            assert (int(status.cycles), int(status.refresh_cycles)) == lone[2 * i + r], \
                f"{case.describe()}: cycles and refresh cycles differ from a lone engine's"
    assert timed >= len(pairs) // 2, f"only {timed} runs' cycles compared"
    # Started in the same cycle, the shorter run of each pair overlaps the other whole.
    shorter = sum(min(int(results[r][i][0].cycles) for r in range(2))
                  for i in range(len(pairs)))
    print(f"{both[0]} cycles with both runs advancing, {shorter} in the shorter runs")
    assert both[0] >= shorter, "the replicas did not run at the same time"


def test_replicas_refuse_bad_parameters():
    with pytest.raises(ValueError, match="replicas must be 1 or 2 .* not 3"):
        ColumnReplicas(CONFIG, 3)
    with pytest.raises(ValueError, match="read_ports must be 1 or 2 .* not 0"):
        WeightStore(CONFIG, read_ports=0)
    with pytest.raises(TypeError, match="config must be a NetworkConfig, not 12"):
        ColumnReplicas(12)
