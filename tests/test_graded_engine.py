"""The graded engine in Amaranth's simulator, bit-exact against ``sim/graded.py``.

Each randomized case (``sim/tb/graded_cases.py``, seed in the failure message) loads weights,
biases, potentials and the sigmoid table through the access stream, runs, and compares steps,
converged, max |du|, every trace record and the u and v read back with the golden model.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from amaranth.sim import Simulator

from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.gateware.fixed_point import round_shift as rtl_round_shift
from hopfield_fpga.gateware.fixed_point import times
from hopfield_fpga.gateware.engine_ports import StopReason
from hopfield_fpga.gateware.graded_engine import GradedEngine
from hopfield_fpga.gateware.graded_ports import (
    GradedAccessOp as Op, GradedPorts, RunParams, run_params,
)
from hopfield_fpga.gateware.pwl_sigmoid import PWLSigmoid
from hopfield_fpga.numerics import GRADED_PRESETS, GRADED_X_BITS, round_shift
from hopfield_fpga.protocol import sign_extend
from hopfield_fpga.sim import graded
from hopfield_fpga.sim.tb.graded_cases import random_case


async def stream_put(ctx, port, payload):
    ctx.set(port.valid, 1)
    ctx.set(port.payload, payload)
    await ctx.tick().until(port.ready)
    ctx.set(port.valid, 0)


async def stream_get(ctx, port):
    ctx.set(port.ready, 1)
    payload, = await ctx.tick().sample(port.payload).until(port.valid)
    ctx.set(port.ready, 0)
    return payload


async def load_case(ctx, dut, case):
    ports = GradedPorts(case.config)
    writes = [(Op.WRITE_WEIGHTS, j, c, w) for j, c, w in ports.weight_words(case.weights)]
    writes += [(Op.WRITE_BIAS, 0, c, w) for c, w in ports.bias_words(case.bias)]
    writes += [(Op.WRITE_U, i, 0, ports.u_word(u)) for i, u in enumerate(case.u0)]
    writes += [(Op.WRITE_TABLE, k, 0, w)
               for k, w in enumerate(ports.table_words(case.params.table))]
    for op, index, chunk, word in writes:
        await stream_put(ctx, dut.access, {"op": op, "index": index, "chunk": chunk,
                                           "data": word})


async def read_word(ctx, dut, op, index=0, chunk=0):
    await stream_put(ctx, dut.access, {"op": op, "index": index, "chunk": chunk, "data": 0})
    return (await stream_get(ctx, dut.reply)).data


async def run_case(ctx, dut, case, max_cycles):
    """Start the run, collect the trace until the engine is idle; returns (trace, cycles)."""
    ctx.set(dut.trace.ready, 1)
    await stream_put(ctx, dut.run, RunParams.const(run_params(case.params, trace=case.trace)))
    records = []
    for cycle in range(max_cycles):
        _, _, valid, payload, busy = await ctx.tick().sample(
            dut.trace.valid, dut.trace.payload, dut.status.busy)
        if valid:
            records.append((int(payload.step), int(payload.index), int(payload.u),
                            int(payload.v)))
        if not busy and cycle > 0:
            break
    else:
        raise AssertionError(f"{case.describe()}: still busy after {max_cycles} cycles")
    ctx.set(dut.trace.ready, 0)
    return records


def check_against_golden(case, records, status, u_read, v_read):
    exp = case.expected
    n = case.config.neurons
    where = case.describe()
    assert status["steps"] == exp.steps, f"{where}: steps {status['steps']}"
    assert status["converged"] == exp.converged, f"{where}: converged {status['converged']}"
    assert status["max_du"] == exp.max_du, f"{where}: max_du {status['max_du']} != {exp.max_du}"
    if case.trace:
        assert len(records) == exp.steps * n, f"{where}: {len(records)} trace records"
        for t, (u_t, v_t) in enumerate(exp.trace):
            for i in range(n):
                got = records[t * n + i]
                want = (t + 1, i, int(u_t[i]), int(v_t[i]))
                assert got == want, f"{where}: first trace divergence {got} != {want}"
    else:
        assert not records, f"{where}: trace records without trace"
    assert list(u_read) == list(exp.u), f"{where}: u {u_read} != {list(exp.u)}"
    assert list(v_read) == list(exp.v), f"{where}: v {v_read} != {list(exp.v)}"


def simulate(case):
    dut = GradedEngine(case.config)
    cfg = case.config
    out = {}
    n = cfg.neurons
    max_cycles = (GradedEngine.pass_cycles(cfg, initial=True)
                  + case.params.max_steps * GradedEngine.pass_cycles(cfg) + 10)

    async def testbench(ctx):
        await load_case(ctx, dut, case)
        # memories and table read back what was written
        ports = GradedPorts(cfg)
        j, c_last, word = ports.weight_words(case.weights)[-1]
        assert await read_word(ctx, dut, Op.READ_WEIGHTS, j, c_last) == word
        bias_word = ports.bias_words(case.bias)[-1][1]
        assert await read_word(ctx, dut, Op.READ_BIAS, 0, c_last) == bias_word
        table_words = ports.table_words(case.params.table)
        for k in (5, 0, len(table_words) - 1):
            assert await read_word(ctx, dut, Op.READ_TABLE, k) == table_words[k], k
        assert await read_word(ctx, dut, Op.READ_U, n - 1) == ports.u_word(case.u0[-1])
        assert await read_word(ctx, dut, Op.READ_U, n) == 0      # out of range reads as 0
        records = await run_case(ctx, dut, case, max_cycles)
        status = {name: ctx.get(getattr(dut.status, name))
                  for name in ("steps", "converged", "stop_reason", "max_du", "cycles")}
        u = [sign_extend(await read_word(ctx, dut, Op.READ_U, i), cfg.graded_u_bits)
             for i in range(n)]
        v = [sign_extend(await read_word(ctx, dut, Op.READ_V, i), 16) for i in range(n)]
        # the table's read port is shared with the sigmoid pipeline: still right after a run
        table = [await read_word(ctx, dut, Op.READ_TABLE, k) for k in range(len(table_words))]
        assert table == table_words, f"{case.describe()}: table read back after the run"
        out.update(records=records, status=status, u=u, v=v)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return out


@pytest.mark.parametrize("seed", range(24))
def test_engine_matches_golden(seed):
    case = random_case(seed, max_neurons=7, max_steps=12)
    out = simulate(case)
    check_against_golden(case, out["records"], out["status"], out["u"], out["v"])
    assert out["status"]["stop_reason"] == (
        StopReason.CONVERGED if case.expected.converged else StopReason.CAP)


def test_fig3_on_engine():
    """The Fig. 3 network (T12 = T21 = 1, lambda = 1.4, atan) converges to the golden state."""
    cfg = NetworkConfig(neurons=2, weight_bits=2, bias_bits=2, lanes=1, features=Feature.ALL)
    params = graded.GradedParams.from_real(gain=1.4, dt=1 / 8, sigmoid="atan", max_steps=400)
    u0 = graded.u_from_v([0.3, -0.1], params, cfg)
    w, b = np.array([[0, 1], [1, 0]]), np.zeros(2, dtype=np.int64)
    exp = graded.run_graded_fixed(w, b, u0, params, cfg)
    assert exp.converged and exp.v[0] == exp.v[1] > 0.5 * 16384

    class Case:
        config, weights, bias, expected, trace = cfg, w, b, exp, False
    Case.u0, Case.params = u0, params
    Case.describe = staticmethod(lambda: "fig3")
    out = simulate(Case)
    check_against_golden(Case, out["records"], out["status"], out["u"], out["v"])
    print(f"Fig. 3 on the engine: {exp.steps} steps, {out['status']['cycles']} cycles")


async def _write_table(ctx, dut, table):
    """Write every (x, y, m) entry of ``table`` into the PWLSigmoid ``dut``, one per cycle."""
    for k, (x, y, m) in enumerate(table):
        ctx.set(dut.table_addr, k)
        ctx.set(dut.table_data, {"x": x, "y": y, "m": m})
        ctx.set(dut.table_we, 1)
        await ctx.tick()
    ctx.set(dut.table_we, 0)


def test_pwl_sigmoid_unit_matches_pwl_eval():
    rng = np.random.default_rng(77)
    dut = PWLSigmoid(init="tanh")
    xs = [int(x) for x in rng.integers(-(1 << 23), 1 << 23, 300)] + [0, -1, 1, 8192, -8192]
    # arguments where m_k (x - x_k) is an exact half of 2**12 (rounding ties), both signs
    for x_k, _, m_k in GRADED_PRESETS["tanh"]:
        d = np.arange(-3000, 3000)
        ties = d[(m_k * d) % 4096 == 2048]
        xs += [int(x_k + t) for t in ties[:3]] + [int(x_k + t) for t in ties[-3:]]
    table = GRADED_PRESETS["hard"]

    async def testbench(ctx):
        for name, tab in (("tanh", GRADED_PRESETS["tanh"]), ("hard", table)):
            if name == "hard":
                await _write_table(ctx, dut, tab)
            want = graded.pwl_eval(xs, tab)
            for x, v in zip(xs, want):
                ctx.set(dut.x, x)
                await ctx.tick().repeat(PWLSigmoid.LATENCY)
                assert ctx.get(dut.v) == v, f"seed 77 {name}: x={x} v={ctx.get(dut.v)} != {v}"

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()


def _random_sigmoid_table(rng):
    """Non-decreasing breakpoints x_1..x_15 (runs of repeats, extremes), random y, m, x_0."""
    lo, hi = -(1 << (GRADED_X_BITS - 1)), (1 << (GRADED_X_BITS - 1)) - 1
    bps = sorted(int(b) for b in rng.integers(lo, hi + 1, 15))
    for _ in range(int(rng.integers(0, 4))):      # repeated breakpoints: empty segments
        i = int(rng.integers(0, 14))
        bps[i + 1] = bps[i]
    if rng.random() < 0.2:
        bps[0] = lo
    if rng.random() < 0.2:
        bps[-1] = hi
    if rng.random() < 0.1:
        bps = [bps[0]] * 15
    x0 = int(rng.integers(lo, bps[0] + 1))
    return [(x, int(rng.integers(-(1 << 15), 1 << 15)), int(rng.integers(-(1 << 15), 1 << 15)))
            for x in [x0] + bps]


def test_pwl_sigmoid_streams_stalls_and_reads_back():
    """A new x every enabled cycle, v exactly LATENCY enabled cycles later, random stalls
    (``en`` low, x changing meanwhile), random valid tables, synchronous readback."""
    seed = 2026
    rng = np.random.default_rng(seed)
    dut = PWLSigmoid()
    lo, hi = -(1 << (GRADED_X_BITS - 1)), (1 << (GRADED_X_BITS - 1)) - 1

    async def testbench(ctx):
        tables = [GRADED_PRESETS["atan"]] + [_random_sigmoid_table(rng) for _ in range(12)]
        for t, tab in enumerate(tables):
            where = f"seed {seed}, table {t} {tab}"
            if t:
                await _write_table(ctx, dut, tab)
                await ctx.tick()        # the pipeline sees an entry 2 cycles after its write
            for k in rng.permutation(len(tab)):
                ctx.set(dut.read_addr, int(k))
                ctx.set(dut.read_en, 1)
                await ctx.tick()
                ctx.set(dut.read_en, 0)
                ctx.set(dut.read_addr, int(rng.integers(0, len(tab))))
                e = ctx.get(dut.read_data)
                assert (e.x, e.y, e.m) == tab[k], f"{where}: readback of {k}: {e}"
            xs = [int(x) for x in rng.integers(lo, hi + 1, 60)] + [lo, hi, 0, -1]
            for x, _, _ in tab[1:]:
                xs += [max(lo, x - 1), x, min(hi, x + 1)]
            xs = [int(x) for x in rng.permutation(xs)]
            want = graded.pwl_eval(xs, tab)
            issued = 0
            while issued < len(xs) + PWLSigmoid.LATENCY - 1:
                en = bool(rng.random() < 0.7)
                ctx.set(dut.en, en)
                ctx.set(dut.x, xs[issued] if en and issued < len(xs)
                        else int(rng.integers(lo, hi + 1)))
                await ctx.tick()
                if en:
                    issued += 1
                    i = issued - PWLSigmoid.LATENCY     # the x whose v is out now
                    if 0 <= i < len(xs):
                        got = ctx.get(dut.v)
                        assert got == want[i], f"{where}: x={xs[i]} v={got} != {want[i]}"
            ctx.set(dut.en, 1)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()


def test_round_shift_expression():
    from amaranth.hdl import Module, Signal, signed
    z, s = Signal(signed(44)), Signal(6)
    o = Signal(signed(45))
    m = Module()
    m.d.comb += o.eq(rtl_round_shift(z, s))
    rng = np.random.default_rng(3)

    async def testbench(ctx):
        for _ in range(500):
            zz, ss = int(rng.integers(-(1 << 43), 1 << 43)), int(rng.integers(0, 45))
            ctx.set(z, zz)
            ctx.set(s, ss)
            assert ctx.get(o) == round_shift(zz, ss), f"seed 3: z={zz} s={ss}"

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()


@given(x=st.integers(0, (1 << 16) - 1), k=st.integers(0, 5000))
def test_times_is_the_product_without_a_multiplier(x, k):
    from amaranth.back import rtlil
    from amaranth.hdl import Const, Module, Signal
    v = Signal(16)
    o = Signal(16 + 13)
    m = Module()
    m.d.comb += o.eq(times(v, k))
    assert "$mul" not in rtlil.convert(m, ports=[v, o])

    async def testbench(ctx):
        ctx.set(v, x)
        assert ctx.get(o) == x * k

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    with pytest.raises(ValueError, match="non-negative integer"):
        times(Const(1, 2), -1)


def test_engine_refuses_config_without_graded():
    import gc
    import warnings
    with warnings.catch_warnings():
        # the half-built component is collected unused; that warning is expected here
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="GRADED"):
            GradedEngine(NetworkConfig(neurons=4, lanes=2))
        gc.collect()


def _engine_sim(case, testbench_body):
    dut = GradedEngine(case.config)
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def testbench(ctx):
        await load_case(ctx, dut, case)
        await testbench_body(ctx, dut)
    sim.add_testbench(testbench)
    sim.run()


def test_stop_ends_run_at_step_boundary():
    """A stop mid-run ends it after the current step, with the golden state of that many
    steps and stop reason STOP."""
    import dataclasses
    case = random_case(4242, config=NetworkConfig(neurons=6, weight_bits=6, bias_bits=8,
                                                  lanes=2, features=Feature.ALL))
    case.params = dataclasses.replace(case.params, eps=0, max_steps=10_000)
    cfg = case.config

    async def body(ctx, dut):
        await stream_put(ctx, dut.run, RunParams.const(run_params(case.params)))
        await ctx.tick().repeat(500)
        ctx.set(dut.stop, 1)
        await ctx.tick().until(~dut.status.busy)
        ctx.set(dut.stop, 0)
        steps = ctx.get(dut.status.steps)
        assert ctx.get(dut.status.stop_reason) == StopReason.STOP
        assert 0 < steps < 100
        exp = graded.run_graded_fixed(case.weights, case.bias, case.u0,
                                      dataclasses.replace(case.params, max_steps=steps), cfg)
        u = [sign_extend(await read_word(ctx, dut, Op.READ_U, i), cfg.graded_u_bits)
             for i in range(cfg.neurons)]
        assert u == list(exp.u), f"seed 4242: stopped after {steps} steps"

    _engine_sim(case, body)


def test_trace_back_pressure_does_not_change_the_run():
    seed = 77
    case = random_case(seed, config=NetworkConfig(neurons=5, weight_bits=4, bias_bits=6,
                                                  lanes=2, features=Feature.ALL), max_steps=8)
    case.trace = True
    case.expected = graded.run_graded_fixed(case.weights, case.bias, case.u0, case.params,
                                            case.config, trace=True)
    rng = np.random.default_rng(seed)

    async def body(ctx, dut):
        await stream_put(ctx, dut.run, RunParams.const(run_params(case.params, trace=True)))
        records = []
        while True:
            ready = bool(rng.random() < 0.3)
            ctx.set(dut.trace.ready, ready)
            _, _, valid, payload, busy = await ctx.tick().sample(
                dut.trace.valid, dut.trace.payload, dut.status.busy)
            if valid and ready:
                records.append((payload.step, payload.index, payload.u, payload.v))
            if not busy:
                break
        want = [(t + 1, i, int(u[i]), int(v[i])) for t, (u, v) in enumerate(case.expected.trace)
                for i in range(case.config.neurons)]
        assert records == want, f"seed {seed}"

    _engine_sim(case, body)


@pytest.mark.parametrize("n,k", [(6, 2), (7, 3), (4, 4), (5, 1), (9, 4)])
def test_cycle_count(n, k):
    """Initial pass N + 15, each step C (N + 3) + T + 15 (T = last chunk size), no stalls."""
    import dataclasses
    cfg = NetworkConfig(neurons=n, weight_bits=4, bias_bits=6, lanes=k, features=Feature.ALL)
    case = random_case(9, config=cfg)
    case.params = dataclasses.replace(case.params, max_steps=5, eps=0)
    tail = n - (cfg.chunks - 1) * k
    assert GradedEngine.pass_cycles(cfg, initial=True) == n + 15
    assert GradedEngine.pass_cycles(cfg) == cfg.chunks * (n + 3) + tail + 15

    async def body(ctx, dut):
        await stream_put(ctx, dut.run, RunParams.const(run_params(case.params)))
        await ctx.tick().until(~dut.status.busy)
        steps, cycles = ctx.get(dut.status.steps), ctx.get(dut.status.cycles)
        assert cycles == n + 15 + steps * (cfg.chunks * (n + 3) + tail + 15), (steps, cycles)

    _engine_sim(case, body)


@pytest.mark.parametrize("seed", range(4))
def test_engine_matches_golden_wide(seed):
    """16-bit weights and 24-bit biases: u of 40 bits, products past 62 bits."""
    cfg = NetworkConfig(neurons=5, weight_bits=16, bias_bits=24, lanes=2, features=Feature.ALL)
    case = random_case(700 + seed, config=cfg, max_steps=10)
    out = simulate(case)
    check_against_golden(case, out["records"], out["status"], out["u"], out["v"])
