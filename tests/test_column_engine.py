"""The column-parallel engine (``gateware/engine/column_engine.py``) in Amaranth's simulator,
case for case against the golden model: every deterministic order, asymmetric weights under
a cap, ties, extreme values, traced (with back-pressure) and untraced runs, state writes on
valid fields, stochastic runs with beta schedules and on-chip Hebbian stores; and its cycle
accounting (docs/engine.md, "Column-parallel engine") checked exactly against
``status.cycles``, ``status.refresh_cycles`` and the store's busy time. A failure names the
case seed and the first diverging flip."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from hopfield_fpga.config import Feature, NetworkConfig, Order
from hopfield_fpga.gateware.engine import column_engine
from hopfield_fpga.gateware.engine.column_engine import ColumnEngine
from hopfield_fpga.gateware.engine.common import tree_depth
from hopfield_fpga.gateware.engine.energy_unit import energy_latency
from hopfield_fpga.gateware.engine_cycles import (RunStart, column_choose_cycles,
                                                  column_choose_decisions,
                                                  column_random_issue_ends, column_run_cycles,
                                                  column_stochastic_cycles, column_sync_cycles,
                                                  column_timing)
from hopfield_fpga.gateware.engine_ports import AccessOp, StopReason
from hopfield_fpga.sim import golden
from hopfield_fpga.sim.tb.engine_driver import (AmaranthBus, EngineDriver, compare, expected,
                                               make_case, run_case)

DETERMINISTIC = Feature.TRACE


def _simulate(config, bench_body):
    dut = ColumnEngine(config)
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def bench(ctx):
        driver = EngineDriver(AmaranthBus(ctx, dut), config, rng=random.Random(1))
        await driver.reset_inputs()
        await bench_body(driver, dut)

    sim.add_testbench(bench)
    sim.run()
    return dut


ALL_ORDERS = tuple(Order)      # the synchronous order included (§13)
CONFIGS = [
    NetworkConfig(neurons=1, lanes=1, weight_bits=4, features=DETERMINISTIC, orders=ALL_ORDERS),
    NetworkConfig(neurons=2, lanes=2, weight_bits=1, bias_bits=2, features=DETERMINISTIC,
                  orders=ALL_ORDERS),
    NetworkConfig(neurons=7, lanes=3, weight_bits=16, bias_bits=24, features=DETERMINISTIC,
                  orders=ALL_ORDERS),
    NetworkConfig(neurons=12, lanes=4, weight_bits=5, features=DETERMINISTIC, orders=ALL_ORDERS),
    NetworkConfig(neurons=33, lanes=6, weight_bits=3, features=DETERMINISTIC, orders=ALL_ORDERS),
]


#: Feature.SYMMETRIC: no column sum, the energy from c_j = h_j - b_j (§6; make_case mirrors
#: the weights): 2E and every traced delta(2E) still equal golden's, and the refresh and the
#: run ends are shorter by the column sum's latency beyond DIAG_STAGES.
SYMMETRIC_CONFIGS = [
    NetworkConfig(neurons=1, lanes=1, weight_bits=4, orders=ALL_ORDERS,
                  features=DETERMINISTIC | Feature.SYMMETRIC, engine="column"),
    NetworkConfig(neurons=7, lanes=3, weight_bits=16, bias_bits=24, orders=ALL_ORDERS,
                  features=DETERMINISTIC | Feature.SYMMETRIC, engine="column"),
    # the 85F default's widths, with N past 64 so that the column sum it drops is 4 stages
    NetworkConfig(neurons=70, lanes=6, weight_bits=3, orders=ALL_ORDERS,
                  features=DETERMINISTIC | Feature.SYMMETRIC, engine="column"),
]


async def _cycle_state(driver, status):
    """The engine's other state of a 2-cycle (READ_CYCLE), None unless the run ended so."""
    if status.stop_reason != StopReason.CYCLE2:
        return None
    return await driver.read_state(AccessOp.READ_CYCLE)


@pytest.mark.parametrize("config", CONFIGS + SYMMETRIC_CONFIGS[:2],
                         ids=lambda c: f"N{c.neurons}K{c.lanes}W{c.weight_bits}"
                         + ("sym" if c.has(Feature.SYMMETRIC) else ""))
def test_column_engine_matches_golden(config):
    seeds = range(1000, 1030)

    async def body(driver, dut):
        for seed in seeds:
            case = make_case(config, seed, clamp=True)
            _, want = expected(config, case)
            status, events, state = await run_case(driver, case)
            compare(case, want, status, events, state,
                    cycle_state=await _cycle_state(driver, status))
            # A second probe on valid fields: the state write applies its bits as flips.
            case.state = np.random.default_rng(seed + 1).choice([-1, 1], config.neurons)
            case.weights = np.asarray(await driver.read_weights())
            _, want = expected(config, case)
            await driver.write_state(case.state)
            status, events = await driver.run(
                order=case.order, seed=case.run_seed, max_visits=case.max_visits,
                trace=case.trace, ready_prob=case.ready_prob)
            state = await driver.read_state()
            case.kind += "+second-run"
            compare(case, want, status, events, state)
            assert int(status.refresh_cycles) == 0, f"{case.describe()}: no refresh needed"

    _simulate(config, body)


def _start(case):
    return RunStart(np.asarray(case.weights), np.asarray(case.bias), np.asarray(case.state),
                    case.clamp, case.run_seed)


def _flips(want):
    return [(ev.visit, ev.index, ev.value) for ev in want.trace]


def _expected_cycles(config, case, want, timing):
    """status.cycles of a run without trace stalls: the timelines of
    ``gateware/engine_cycles.py`` on golden's trace, the CHOOSE decisions per flip replayed
    by ``column_choose_decisions`` (sequential, random, rejection_free)."""
    assert timing.choose == column_timing(config).choose, "the board's selector timing"
    if case.order == "synchronous":
        per_step = [0] * (want.visits // config.neurons)
        for ev in want.trace:
            per_step[ev.visit // config.neurons] += 1
        return column_sync_cycles(config, per_step, case.trace)
    per_flip, tail = column_choose_decisions(config, case.order, _start(case), case.max_visits,
                                             _flips(want))
    return column_choose_cycles(config, case.order, per_flip, tail, case.trace)


async def _run_counted(driver, config, case, trace, cycles_of):
    """Run ``case`` without trace stalls (traced or not), compare it with the golden model
    and check status.cycles against ``cycles_of(golden result, traced for the replay)``."""
    case.ready_prob = 1.0
    case.trace = True
    _, want = expected(config, case)
    case.trace = trace
    status, events, state = await run_case(driver, case)
    compare(case, want, status, events, state)
    assert int(status.cycles) == cycles_of(want), \
        f"{case.describe()}: cycles {int(status.cycles)}, accounted {cycles_of(want)}"
    # cpu://?cycles=column's model, from the run's outcome, its flips and its start
    modelled = column_run_cycles(config, order=case.order, stochastic=case.schedule is not None,
                                 visits=want.visits, cap=case.max_visits,
                                 stop_reason=want.stop_reason, flips=_flips(want),
                                 seed=case.run_seed, start=_start(case), trace=trace)
    assert int(status.cycles) == modelled, \
        f"{case.describe()}: cycles {int(status.cycles)}, from the outcome {modelled}"
    return status


def _long_synchronous(config, case):
    """Whether the golden synchronous run of ``case`` makes more than 50 steps."""
    want = golden.run_binary(case.weights, case.bias, case.state, order="synchronous",
                             max_visits=50 * config.neurons, clamp=case.clamp, config=config)
    return want.stop_reason == "cap"


@pytest.mark.parametrize("config", CONFIGS[1:] + SYMMETRIC_CONFIGS[1:],
                         ids=lambda c: f"N{c.neurons}K{c.lanes}"
                         + ("sym" if c.has(Feature.SYMMETRIC) else ""))
def test_column_engine_cycle_accounting(config):
    latency = energy_latency(config)

    async def body(driver, dut):
        for seed in range(24):
            case = make_case(config, 300 + seed, ["symmetric", "asymmetric", "ties"][seed % 3],
                             clamp=True)
            case.order = ["sequential", "random", "rejection_free", "synchronous"][seed % 4]
            status = await _run_counted(driver, config, case, seed % 2 == 0,
                                        lambda want: _expected_cycles(config, case, want,
                                                                      dut.timing))
            n, c = config.neurons, config.chunks
            assert int(status.refresh_cycles) == c + n + latency + 3, "refresh of docs"
        # Without Feature.STOCHASTIC and Feature.HEBBIAN: a stochastic run is refused (STOP,
        # no visit) and a pattern store leaves the weights as they are.
        weights = await driver.read_weights()
        await driver.store_pattern(np.ones(config.neurons, int))
        assert np.array_equal(await driver.read_weights(), weights), "store without HEBBIAN"
        status, _ = await driver.run(order="sequential", stochastic=True, max_visits=5)
        assert status.stop_reason == StopReason.STOP and int(status.visits) == 0
        # A synchronous run stopped by the host ends between steps: whole steps, and the
        # golden run of as many visits (asymmetric W: long cycles, so the stop comes first).
        case = next((c for c in (make_case(config, seed, "asymmetric", clamp=True)
                                 for seed in range(77, 400))
                     if _long_synchronous(config, c)), None)     # none at N = 2
        if case is None:
            return
        await run_case(driver, case)
        await driver.write_state(case.state)
        status, _ = await driver.run(order="synchronous", max_visits=(1 << 32) - 1,
                                     stop_after=7 * config.neurons)
        visits = int(status.visits)
        assert status.stop_reason == StopReason.STOP and visits % config.neurons == 0 \
            and visits > 0 and not status.busy, f"{case.describe()}: {status}"
        reason = StopReason.STOP                        # golden: the cap of as many
        want = golden.run_binary(case.weights, case.bias, case.state, order="synchronous",
                                 max_visits=visits, clamp=case.clamp, config=config)
        assert want.stop_reason == "cap", case.describe()
        assert (list(want.state), want.flips, want.energy2, reason) == (
            list(await driver.read_state()), int(status.flips), int(status.energy2),
            status.stop_reason), f"stopped synchronous run: {case.describe()}"

    _simulate(config, body)


def test_column_engine_cycle_accounting_with_wide_stages(monkeypatch):
    """The stages the engine takes above N = 256 (the sequential select in one stage, the
    count tree 4 levels a stage, the walk 3: ``default_spans``), at N = 33 where they give
    Ls = 1, Lt = 1, Lw = 2: results and status.cycles as the cycle model says."""
    monkeypatch.setattr(column_engine, "default_spans",
                        lambda neurons: (tree_depth(neurons) + 1, 4, 3))
    config = CONFIGS[-1]
    timing = column_timing(config)
    assert (timing.sequential, timing.tree, timing.walk) == (1, 1, 2)
    test_column_engine_cycle_accounting(config)


#: Configurations with the Glauber rule and the on-chip Hebbian store.
FULL = Feature.STOCHASTIC | Feature.HEBBIAN | Feature.TRACE
FULL_CONFIGS = [
    NetworkConfig(neurons=1, lanes=1, weight_bits=2, features=FULL, orders=ALL_ORDERS),
    NetworkConfig(neurons=2, lanes=2, weight_bits=1, bias_bits=2, features=FULL,
                  orders=ALL_ORDERS),
    pytest.param(NetworkConfig(neurons=11, lanes=3, weight_bits=2, features=FULL,
                               orders=ALL_ORDERS), marks=pytest.mark.slow),
    pytest.param(NetworkConfig(neurons=20, lanes=6, weight_bits=16, bias_bits=24,
                               features=FULL, orders=ALL_ORDERS), marks=pytest.mark.slow),
    # random without rejection_free: the stochastic visits' draw is built on its own
    NetworkConfig(neurons=7, lanes=3, weight_bits=2, features=FULL, orders=(Order.RANDOM,)),
    # symmetric weights only (the flips' energy and the store's refresh without a column sum)
    NetworkConfig(neurons=13, lanes=6, weight_bits=3, features=FULL | Feature.SYMMETRIC,
                  orders=ALL_ORDERS, engine="column"),
]


@pytest.mark.parametrize("config", FULL_CONFIGS, ids=lambda c: f"N{c.neurons}K{c.lanes}"
                         f"W{c.weight_bits}")
def test_column_engine_stochastic_and_hebbian(config):
    """Stochastic runs (both orders, beta schedules up to 64 entries, caps across sweeps) and
    on-chip Hebbian stores (saturating), flip by flip against the golden model."""
    seeds = range(2000, 2016)

    async def body(driver, dut):
        for seed in seeds:
            case = make_case(config, seed, ["stochastic", "hebbian"][seed % 2], clamp=True)
            _, want = expected(config, case)
            status, events, state = await run_case(driver, case)
            compare(case, want, status, events, state,
                    cycle_state=await _cycle_state(driver, status))
            if case.patterns is not None:
                w = golden.store_hebbian(case.weights, case.patterns, config=config)
                assert np.array_equal(await driver.read_weights(), w), case.describe()

    _simulate(config, body)


def _stochastic_cycles(config, case, want):
    """status.cycles of a stochastic run without trace stalls:
    ``engine_cycles.column_stochastic_cycles`` on golden's flips, random order's index draws
    replayed (``column_random_issue_ends``)."""
    ends = column_random_issue_ends(config, case.run_seed, case.max_visits) \
        if case.order == "random" else None
    return column_stochastic_cycles(config, case.max_visits, [ev.visit for ev in want.trace],
                                    case.trace, ends)


@pytest.mark.parametrize("config", FULL_CONFIGS[1:], ids=lambda c: f"N{c.neurons}K{c.lanes}")
def test_column_engine_stochastic_and_store_cycles(config):
    """status.cycles of stochastic runs and the busy time of a Hebbian store, exactly as
    docs/engine.md accounts them; a stopped stochastic run equals golden's run of the visits
    it made; a stochastic rejection_free run is refused (STOP)."""
    async def body(driver, dut):
        for seed in range(12):
            case = make_case(config, 400 + seed, "stochastic")
            await _run_counted(driver, config, case, seed % 2 == 0,
                               lambda want: _stochastic_cycles(config, case, want))
        # Stopped by the host: the visits decided so far are exactly golden's run of as many.
        await driver.write_state(case.state)
        status, _ = await driver.run(order=case.order, seed=case.run_seed,
                                     max_visits=(1 << 32) - 1, stochastic=True,
                                     beta_len=len(case.schedule), stop_after=45)
        assert status.stop_reason == StopReason.STOP and not status.busy, case.describe()
        want = golden.run_binary(case.weights, case.bias, case.state, order=case.order,
                                 seed=case.run_seed, max_visits=int(status.visits),
                                 beta_fixed=case.schedule, config=config)
        state = await driver.read_state()
        assert (list(want.state), want.flips, want.energy2) == (
            list(state), int(status.flips), int(status.energy2)), f"stopped: {case.describe()}"
        # A store: N + 1 cycles after the last chunk's EXEC cycle (busy N + 2 cycles).
        pattern = np.random.default_rng(config.neurons).choice([-1, 1], config.neurons)
        await driver.store_pattern(pattern)
        busy = 0
        while (await driver.status()).busy:
            await driver.bus.tick()
            busy += 1
        assert busy == config.neurons + 2, f"store busy for {busy} cycles"
        status, _ = await driver.run(order="rejection_free", stochastic=True, max_visits=5)
        assert status.stop_reason == StopReason.STOP and int(status.visits) == 0

    _simulate(config, body)


# -- the quantized Hebbian store (§14) ------------------------------------------------------------

#: Configurations with the quantized store: P_MAX below and above W_MAX, one pattern, N = P_MAX.
QSTORE_CONFIGS = [
    NetworkConfig(neurons=1, lanes=1, weight_bits=2, features=FULL, orders=ALL_ORDERS,
                  engine="column", store_patterns=1),
    NetworkConfig(neurons=9, lanes=4, weight_bits=3, features=Feature.HEBBIAN | Feature.TRACE,
                  orders=(Order.SEQUENTIAL, Order.SYNCHRONOUS), engine="column",
                  store_patterns=9),
    NetworkConfig(neurons=13, lanes=5, weight_bits=8, features=Feature.HEBBIAN,
                  orders=(Order.RANDOM,), engine="column", store_patterns=6),
    # W_MAX = 1: every threshold above the previous one by more is split into steps
    NetworkConfig(neurons=10, lanes=3, weight_bits=2, features=Feature.HEBBIAN,
                  orders=(Order.REJECTION_FREE,), engine="column", store_patterns=10),
]


def _qstore_case(config, seed):
    """Patterns (P from 0 to P_MAX), a scale (default, small, below 1, or above 1 when it
    reaches no more levels than the board counts) and a probe, from ``seed``."""
    r = np.random.default_rng(seed)
    count = int(r.integers(0, config.store_patterns + 1))
    patterns = r.choice([-1, 1], (count, config.neurons))
    # small scales space the thresholds wider than W_MAX (steps that do not count)
    scale = [None, float(r.uniform(0.05, 0.35)), float(r.uniform(0.35, 1.0)),
             float(r.uniform(1.0, 3.0))][seed % 4]
    try:
        golden.quantized_store_table(count, config, scale)
    except ValueError:
        scale = None
    return patterns, scale, r.choice([-1, 1], config.neurons)


@pytest.mark.parametrize("config", QSTORE_CONFIGS, ids=lambda c: f"N{c.neurons}W{c.weight_bits}"
                         f"P{c.store_patterns}")
def test_column_engine_quantized_store(config):
    """Randomized quantized stores (§14) against golden.store_hebbian_quantized: the weights
    read back bit for bit, the biases untouched, the busy time N (P + L + 3) + 1 cycles (L
    threshold steps), a run
    after it (the fields refreshed) as golden's; a store of fewer patterns than the buffer
    holds ignores the entries beyond P."""
    n, order = config.neurons, config.orders[0].name.lower()

    async def body(driver, dut):
        bias = np.arange(n) % 3 - 1
        await driver.write_bias(bias)
        for seed in range(3000, 3008):
            patterns, scale, probe = _qstore_case(config, seed)
            where = f"seed={seed} P={len(patterns)} scale={scale}"
            await driver.write_state(probe)
            if seed % 2:
                await driver.store_quantized(patterns, scale)
            else:                              # the buffer is written in any order
                await driver.write_patterns(patterns[1:], 1)
                await driver.write_patterns(patterns[:1])
                await driver.commit_quantized(len(patterns), scale)
            busy = 0
            while (await driver.status()).busy:
                await driver.bus.tick()
                busy += 1
            want_w = golden.store_hebbian_quantized(patterns, config=config, scale=scale)
            steps = golden.quantized_store_table(len(patterns), config, scale)[2]
            length = len([x for x in steps if x != (0, False)])
            assert busy == n * (len(patterns) + length + 3) + 1, where
            assert np.array_equal(await driver.read_weights(), want_w), where
            assert np.array_equal(await driver.read_state(), probe), where
            status, _ = await driver.run(order=order, seed=seed, max_visits=20 * n)
            want = golden.run_binary(want_w, bias, probe, order=order, seed=seed,
                                     max_visits=20 * n, config=config)
            assert (list(want.state), want.flips, want.energy2) == (
                list(await driver.read_state()), int(status.flips), int(status.energy2)), where
        for c in range(config.chunks):        # biases untouched by every store
            word = await driver.access(AccessOp.READ_BIAS, chunk=c)
            lanes = driver.ports.unpack_lanes(word, config.bias_bits)
            assert lanes[:len(bias[c * config.lanes:(c + 1) * config.lanes])] == \
                list(bias[c * config.lanes:(c + 1) * config.lanes])

    _simulate(config, body)
