"""Amaranth-simulator tests of the binary engine and its submodules, against the golden model.

Submodules are checked exhaustively or on many random inputs against ``hopfield_fpga.numerics``;
the whole engine runs randomized cases (every order, stochastic, Hebbian, asymmetric with a cap,
ties) and is compared flip for flip with ``hopfield_fpga.sim.golden``. A failure names the case
seed and the first diverging flip. The cocotb runs on Icarus and Verilator are in
``tests/test_binary_engine_cocotb.py``.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from hopfield_fpga import numerics
from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.gateware.binary_engine import (DRAW_LOOKAHEAD, LOCATE_MAX_CHUNKS, BinaryEngine,
                                                   chained_flips, divmod_const, search_cycles)
from hopfield_fpga.gateware.draw_lookahead import DrawLookahead
from hopfield_fpga.gateware.index_draw import IndexDraw
from hopfield_fpga.gateware.logistic import Logistic, LogisticCompare
from hopfield_fpga.gateware.unstable_set import AdderTree, RankSelect
from hopfield_fpga.gateware.xorshift import load_state, xorshift32_next
from hopfield_fpga.sim import golden
from hopfield_fpga.sim.tb.engine_driver import (AmaranthBus, EngineDriver, compare, expected,
                                               make_case, run_case, run_comb_cases)


def test_xorshift_matches_numerics():
    m = Module()
    x = Signal(32)
    y = Signal(32)
    z = Signal(32)
    m.d.comb += [y.eq(xorshift32_next(x)), z.eq(load_state(x))]
    rng = random.Random(3)
    values = [0, 1, 0xFFFFFFFF, numerics.XORSHIFT_ZERO_SEED] + [rng.getrandbits(32)
                                                                 for _ in range(300)]

    async def check(ctx, v):
        ctx.set(x, v)
        assert ctx.get(y) == numerics.xorshift32(v), f"xorshift32({v:#x})"
        assert ctx.get(z) == (v or numerics.seed_state(0)), f"load_state({v:#x})"

    run_comb_cases(m, values, check)


def test_logistic_matches_numerics_exhaustively():
    dut = Logistic(14)
    values = range(-(1 << 13), 1 << 13)

    async def check(ctx, t):
        ctx.set(dut.t, t)
        assert ctx.get(dut.p) == numerics.logistic_p16(t), f"t = {t}"

    run_comb_cases(dut, values, check)


@pytest.mark.parametrize("t_bits", [2, 11, 12, 13, 36])
def test_logistic_matches_numerics_at_other_widths(t_bits):
    """Narrow arguments (|t| up to the saturation point) and the engine's wide ones."""
    dut = Logistic(t_bits)
    lo, hi = -(1 << (t_bits - 1)), (1 << (t_bits - 1)) - 1
    rng = random.Random(t_bits)
    values = sorted({lo, hi, 0, *(v for v in range(-4100, 4100) if lo <= v <= hi),
                     *(rng.randint(lo, hi) for _ in range(300))})

    async def check(ctx, t):
        ctx.set(dut.t, t)
        assert ctx.get(dut.p) == numerics.logistic_p16(t), f"t = {t} (t_bits {t_bits})"

    run_comb_cases(dut, values, check)


@pytest.mark.parametrize("t_bits", [2, 11, 12, 14, 36])
def test_logistic_compare_matches_numerics(t_bits):
    """LogisticCompare's up, one cycle after (t, word), is word < logistic_p16(t): every t
    up to past the saturation point (random ones beyond) with the words at p - 1, p and
    p + 1 (the compare's edges), 0, 65535 and a random one."""
    dut = LogisticCompare(t_bits)
    lo, hi = -(1 << (t_bits - 1)), (1 << (t_bits - 1)) - 1
    seed = 6700 + t_bits
    rng = random.Random(seed)
    cases = []
    for t in sorted({lo, hi, 0, *(v for v in range(-2100, 2100) if lo <= v <= hi),
                     *(rng.randint(lo, hi) for _ in range(100))}):
        p = numerics.logistic_p16(t)
        for word in {p - 1, p, p + 1, 0, 65535, rng.getrandbits(16)}:
            if 0 <= word < 1 << 16:
                cases.append((t, word, word < p))
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def bench(ctx):
        for k, (t, word, _) in enumerate(cases):
            ctx.set(dut.t, t)
            ctx.set(dut.word, word)
            await ctx.tick()
            assert ctx.get(dut.up) == cases[k][2], f"seed {seed}: t = {t}, word = {word}"

    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("max_n", [1, 2, 5, 64, 100, 1024])
def test_index_draw_matches_numerics(max_n):
    dut = IndexDraw(max_n)
    rng = random.Random(max_n)
    cases = [(rng.getrandbits(32), rng.randint(1, max_n)) for _ in range(400)]
    cases += [(0xFFFFFFFF, max_n), (0, 1), (0x80000000, max_n)]

    async def check(ctx, case):
        word, n = case
        ctx.set(dut.word, word)
        ctx.set(dut.n, n)
        m = (n - 1).bit_length()
        cand = word >> (32 - m) if m else 0
        assert ctx.get(dut.accept) == (cand < n), f"word {word:#x} n {n}"
        if cand < n:
            assert ctx.get(dut.index) == cand, f"word {word:#x} n {n}"
        # the same draw sequence as numerics.draw_index when the word is a generator state
    run_comb_cases(dut, cases, check)


@pytest.mark.parametrize("width", [1, 3, 8])
def test_rank_select(width):
    dut = RankSelect(width)
    cases = [(bits, r) for bits in range(1 << width) for r in range(bin(bits).count("1"))]

    async def check(ctx, case):
        bits, r = case
        ctx.set(dut.bits, bits)
        ctx.set(dut.rank, r)
        want = [i for i in range(width) if bits >> i & 1][r]
        assert ctx.get(dut.index) == want, f"bits {bits:b} rank {r}"

    run_comb_cases(dut, cases, check)


@pytest.mark.parametrize("neurons,lanes", [(7, 3), (12, 4), (21, 5), (64, 8), (9, 1), (4, 2)])
def test_draw_lookahead_matches_numerics(neurons, lanes):
    """The lookahead's choice equals numerics.draw_index over the whole unstable set, for
    every unstable count of the last chunk (it only learns that chunk a cycle later)."""
    dut = DrawLookahead(neurons, lanes, DRAW_LOOKAHEAD)
    n_chunks, k_lanes = dut.chunks, lanes
    seed = neurons * 100 + lanes
    rng = random.Random(seed)
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    def chunk_bits(bits, c):
        return sum(bits[i] << (i - c * k_lanes)
                   for i in range(c * k_lanes, min(neurons, (c + 1) * k_lanes)))

    async def bench(ctx):
        for case in range(300):
            density = rng.choice([0.0, 0.05, 0.3, 0.7, 1.0])
            flags = [int(rng.random() < density) for _ in range(neurons)]
            states = [rng.getrandbits(1) for _ in range(neurons)]
            x0 = rng.getrandbits(32) or 1
            words, x = [], x0
            for _ in range(DRAW_LOOKAHEAD):
                x = numerics.xorshift32(x)
                words.append(x)
            # latch cycle: P and the words only
            ctx.set(dut.partial, sum(flags[:(n_chunks - 1) * k_lanes]))
            for i, word in enumerate(words):
                ctx.set(dut.words[i], word)
            await ctx.tick()
            ctx.set(dut.partial, 0)              # the draws are registered: inputs may go
            for i in range(DRAW_LOOKAHEAD):
                ctx.set(dut.words[i], 0)
            # select cycle: the chunks' flags, states and prefix counts
            for c in range(n_chunks - 1):
                ctx.set(dut.flags[c], chunk_bits(flags, c))
                ctx.set(dut.states[c], chunk_bits(states, c))
                ctx.set(dut.prefix[c], sum(flags[:c * k_lanes]))
            ctx.set(dut.last_flags, chunk_bits(flags, n_chunks - 1))
            ctx.set(dut.last_count, bin(chunk_bits(flags, n_chunks - 1)).count("1"))
            ctx.set(dut.last_states, chunk_bits(states, n_chunks - 1))
            where = f"seed {seed} case {case}: flags {flags} x0 {x0:#x}"
            n = sum(flags)
            assert ctx.get(dut.count) == n, where
            if n == 0:
                assert not ctx.get(dut.accept), where
                continue
            k, _, used = numerics.draw_index(x0, n)
            if used > DRAW_LOOKAHEAD:
                assert not ctx.get(dut.accept) and ctx.get(dut.used) == DRAW_LOOKAHEAD - 1, where
                continue
            i = [idx for idx, f in enumerate(flags) if f][k]
            got = [ctx.get(v) for v in (dut.accept, dut.used, dut.index, dut.chunk, dut.lane,
                                        dut.base, dut.new)]
            assert got == [1, used - 1, i, i // k_lanes, i % k_lanes, i * n_chunks,
                           1 - states[i]], where

    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_adder_tree(n):
    dut = AdderTree(n, 6)
    rng = random.Random(n)
    cases = [[rng.randint(-32, 31) for _ in range(n)] for _ in range(50)]
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    firsts = [rng.random() < 0.3 for _ in cases]

    async def bench(ctx):
        outs = []
        for k, vals in enumerate(cases + [[0] * n] * (dut.latency + 1)):
            for i, v in enumerate(vals):
                ctx.set(dut.inputs[i], v)
            ctx.set(dut.valid_in, 1)
            ctx.set(dut.first_in, k < len(cases) and firsts[k])
            await ctx.tick()
            outs.append((ctx.get(dut.total), ctx.get(dut.first_out)))
        for i, vals in enumerate(cases):
            # the first mark travels with its sum
            assert outs[i + dut.latency - 1] == (sum(vals), firsts[i]), f"inputs {vals}"

    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("divisor", [1, 3, 5, 7, 8, 12, 64])
def test_divmod_const(divisor):
    m = Module()
    v = Signal(10)
    q, r = divmod_const(v, divisor, 10)
    qs, rs = Signal(10), Signal(8)
    m.d.comb += [qs.eq(q), rs.eq(r)]

    async def check(ctx, value):
        ctx.set(v, value)
        assert (ctx.get(qs), ctx.get(rs)) == divmod(value, divisor), f"{value} / {divisor}"

    run_comb_cases(m, range(1024), check)


# -- the whole engine ------------------------------------------------------------------------

def run_engine_cases(config, seeds, *, kinds=None, second_run=True):
    dut = BinaryEngine(config)
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def bench(ctx):
        driver = EngineDriver(AmaranthBus(ctx, dut), config, rng=random.Random(1))
        await driver.reset_inputs()
        for i, seed in enumerate(seeds):
            kind = None if kinds is None else kinds[i % len(kinds)]
            case = make_case(config, seed, kind)
            _, want = expected(config, case)
            status, events, state = await run_case(driver, case)
            compare(case, want, status, events, state)
            if second_run and case.schedule is None:
                # A second probe on valid fields: the state write applies its bits as flips.
                case.state = np.random.default_rng(seed + 1).choice([-1, 1], config.neurons)
                case.weights = np.asarray(await driver.read_weights())
                case.patterns = None
                _, want = expected(config, case)
                await driver.write_state(case.state)
                status, events = await driver.run(
                    order=case.order, seed=case.run_seed, max_visits=case.max_visits,
                    trace=True, ready_prob=case.ready_prob)
                state = await driver.read_state()
                case.kind += "+second-run"
                compare(case, want, status, events, state)
                assert int(status.refresh_cycles) == 0, "the second run needed no refresh"

    sim.add_testbench(bench)
    sim.run()


ENGINE_CONFIGS = [
    NetworkConfig(neurons=1, lanes=1, weight_bits=4),
    NetworkConfig(neurons=2, lanes=2, weight_bits=1, bias_bits=2),
    NetworkConfig(neurons=7, lanes=3, weight_bits=16, bias_bits=24),
    NetworkConfig(neurons=12, lanes=4, weight_bits=5),
]


@pytest.mark.parametrize("config", ENGINE_CONFIGS, ids=lambda c: f"N{c.neurons}K{c.lanes}"
                         f"W{c.weight_bits}")
def test_engine_matches_golden(config):
    run_engine_cases(config, range(1000, 1024))


# Either side of LOCATE_MAX_CHUNKS: C = 64 uses the parallel locate, C = 65 the binary search.
@pytest.mark.parametrize("neurons", [LOCATE_MAX_CHUNKS, LOCATE_MAX_CHUNKS + 1])
def test_engine_matches_golden_at_locate_limit(neurons):
    run_engine_cases(NetworkConfig(neurons=neurons, lanes=1, weight_bits=3), range(1104, 1109),
                     kinds=["symmetric", "asymmetric"], second_run=False)


def _tree_latency(config):
    """L of docs/engine.md: one cycle with chained flips (K <= 8), else two adder levels per
    cycle."""
    if chained_flips(config):
        return 1
    return max(1, -(-max(1, (config.lanes - 1).bit_length()) // 2))


def _expected_cycles(config, case, want, traced):
    """The cycle accounting of docs/engine.md, replayed on the golden trace."""
    c = config.chunks
    b = search_cycles(config)      # 1 with the parallel locate (C <= 64), else ceil(log2 C)
    lat = _tree_latency(config)
    flip = c + lat + 4
    if case.order == "sequential":
        return (want.visits - want.flips) + want.flips * flip + 1
    w = np.asarray(case.weights)
    s = np.array(case.state)
    h = w @ s + case.bias
    x = numerics.seed_state(case.run_seed)
    cycles = 1
    if case.order == "random":
        for v in range(want.visits):
            while True:
                x = numerics.xorshift32(x)
                cycles += 1
                m = (config.neurons - 1).bit_length()
                if (x >> (32 - m) if m else 0) < config.neurons:
                    break
        return cycles + want.flips * (flip - 1)
    if chained_flips(config) and not traced:
        # Chained flips: C + 1 cycles from one chunk 0 to the next, the first one looked ahead
        # while the run starts; a draw that needs more words than the lookahead tried costs
        # its extra words + 2 (select cycle, VISIT draws, locate); the run ends L + 2 cycles
        # after the last flip's HYP cycle (its FSEL, then VISIT until 2E is final).
        if not want.trace:
            return 1
        for event in want.trace:
            n_unstable = int(np.count_nonzero(s * h < 0))
            _, x, words = numerics.draw_index(x, n_unstable)
            cycles += c + 1 + (words - DRAW_LOOKAHEAD + 2 if words > DRAW_LOOKAHEAD else 0)
            s[event.index] = event.value
            h = h + 2 * event.value * w[:, event.index]
        return cycles - 1 + lat + 2
    # Untraced flips take the early drain (the draw in the last chunk's write cycle, 2E while
    # the search runs) when the adder tree drains before the next pass can start.
    early = not traced and lat <= b + 1
    for event in want.trace:
        n_unstable = int(np.count_nonzero(s * h < 0))
        _, x, words = numerics.draw_index(x, n_unstable)
        cycles += words + b + c + 3 + (0 if early else lat)
        s[event.index] = event.value
        h = h + 2 * event.value * w[:, event.index]
    if not want.trace:
        return cycles
    # Every flip but the first draws its first word in the previous flip's last drain cycle;
    # after an early drain the run's end waits for 2E (lat - 1 more cycles).
    return cycles - (len(want.trace) - 1) + (lat - 1 if early else 0)


# Chained flips (3 <= C <= FAST_MAX_CHUNKS, K <= FAST_MAX_LANES): N7K3, N12K4, N40K8 and
# N24K1 (C = 24, the limit; N25K1 is just past it). Without the early drain (L > B + 1): N6K6
# (C = 1, two-stage adder tree) and N40K20 (the locate, B = 1, and a three-stage tree). N65K1:
# the binary search (C > LOCATE_MAX_CHUNKS); the others use the parallel locate.
@pytest.mark.parametrize("config", ENGINE_CONFIGS[1:] + [NetworkConfig(neurons=40, lanes=8),
                                                         NetworkConfig(neurons=24, lanes=1),
                                                         NetworkConfig(neurons=25, lanes=1),
                                                         NetworkConfig(neurons=6, lanes=6),
                                                         NetworkConfig(neurons=65, lanes=1),
                                                         NetworkConfig(neurons=40, lanes=20)],
                         ids=lambda c: f"N{c.neurons}K{c.lanes}")
def test_cycle_accounting_matches_docs(config):
    """status.cycles equals the formulas of docs/engine.md (deterministic runs, no stalls)."""
    dut = BinaryEngine(config)
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def bench(ctx):
        driver = EngineDriver(AmaranthBus(ctx, dut), config)
        await driver.reset_inputs()
        # Six seeds give every order traced and untraced (and each order one weight kind); the
        # small configurations take twice that, the large ones (N * C > 200 words to load per
        # case: slow in the Python simulator) the six alone. The formulas are exact, so more
        # seeds of one combination add little; bit-exactness is tested on many more elsewhere.
        for seed in range(12 if config.neurons * config.chunks <= 200 else 6):
            case = make_case(config, 300 + seed, ["symmetric", "asymmetric", "ties"][seed % 3])
            case.order = ["sequential", "random", "rejection_free"][seed % 3]
            case.ready_prob = 1.0
            case.trace = True
            _, want = expected(config, case)    # traced, for the cycle replay
            case.trace = seed % 2 == 0      # untraced runs take the drain's draw
            status, events, state = await run_case(driver, case)
            compare(case, want, status, events, state)
            # A traced flip spends one cycle in the trace handshake.
            flips_traced = want.flips if case.trace else 0
            got = int(status.cycles) - flips_traced
            assert got == _expected_cycles(config, case, want, case.trace), case.describe()
            n, c = config.neurons, config.chunks
            lat = _tree_latency(config)
            refresh = n * c + 2 * c + 3 * lat + 9 + ((n - 1) * (lat + 3) if c < 3 else 0)
            assert int(status.refresh_cycles) == refresh, "refresh cost of docs/engine.md"

    sim.add_testbench(bench)
    sim.run()


def test_refused_runs_and_readback():
    """Runs the configuration cannot do end at once with STOP; memories read back exactly."""
    from hopfield_fpga.config import Order
    from hopfield_fpga.gateware.engine_ports import AccessOp, StopReason
    config = NetworkConfig(neurons=10, lanes=3, weight_bits=6, orders=(Order.SEQUENTIAL,),
                           features=Feature.TRACE)
    dut = BinaryEngine(config)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    rng = np.random.default_rng(9)

    async def bench(ctx):
        driver = EngineDriver(AmaranthBus(ctx, dut), config)
        await driver.reset_inputs()
        w = rng.integers(config.weight_min, config.weight_max + 1, (10, 10))
        b = rng.integers(config.bias_min, config.bias_max + 1, 10)
        await driver.write_weights(w)
        await driver.write_bias(b)
        assert np.array_equal(await driver.read_weights(), w)
        got_b = []
        for c in range(config.chunks):
            word = await driver.access(AccessOp.READ_BIAS, chunk=c)
            got_b += driver.ports.unpack_lanes(word, config.bias_bits)
        assert got_b[:10] == list(b) and got_b[10:] == [0] * (len(got_b) - 10)
        # No Glauber datapath without Feature.STOCHASTIC: a beta write is accepted and ignored.
        await driver.access(AccessOp.WRITE_BETA, index=0, data=256)
        for order, stochastic in (("random", False), ("rejection_free", False),
                                  ("sequential", True)):
            status, _ = await driver.run(order=order, max_visits=100, stochastic=stochastic)
            assert status.stop_reason == StopReason.STOP and int(status.visits) == 0, order
        status, _ = await driver.run(order="sequential", max_visits=0)
        assert status.stop_reason in (StopReason.CAP, StopReason.CONVERGED)
        assert int(status.refresh_cycles) > 0 and status.fields_valid
        want = golden.energy2(w, b, -np.ones(10, dtype=int), config=config)
        assert int(status.energy2) == want
        await driver.clear()
        assert not np.any(await driver.read_weights())
        status = await driver.status()
        assert int(status.energy2) == 0 and status.fields_valid

    sim.add_testbench(bench)
    sim.run()
