"""Amaranth-simulator tests of the column-parallel engine's blocks (``gateware/engine/``),
each against a numpy or Python model; randomized cases name their seed."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from hopfield_fpga import numerics
from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.sim import golden
from hopfield_fpga.gateware.engine.carry import add_xor
from hopfield_fpga.gateware.engine.column_sum import ColumnSum
from hopfield_fpga.gateware.engine.energy_unit import EnergyUnit
from hopfield_fpga.gateware.engine.field_array import (FieldArray, FieldOp, FieldPick,
                                                       decode_field, encode_field)
from hopfield_fpga.gateware.engine.glauber_unit import GlauberUnit
from hopfield_fpga.gateware.engine.hebbian_column import HebbianColumn
from hopfield_fpga.gateware.engine.parted_fields import (PART_GROUP, STORAGES, PartedFieldArray,
                                                          part_lanes)
from hopfield_fpga.gateware.engine.select_random import DrawWords, SelectRandom, WordWindow
from hopfield_fpga.gateware.engine.select_rejection_free import SelectRank
from hopfield_fpga.gateware.engine.select_sequential import SelectSequential
from hopfield_fpga.gateware.engine.weight_store import WeightStore
from hopfield_fpga.sim.tb.engine_driver import run_comb_cases


def _bits(values) -> int:
    return sum(int(v) << i for i, v in enumerate(values))


def _pack(values, width) -> int:
    mask = (1 << width) - 1
    return sum((int(v) & mask) << (i * width) for i, v in enumerate(values))


def _unpack(word, width, count, signed=True):
    out = []
    for i in range(count):
        v = (word >> (i * width)) & ((1 << width) - 1)
        if signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
    return out


# -- field array -------------------------------------------------------------------------------

FIELD_CONFIGS = [NetworkConfig(neurons=1, lanes=1, weight_bits=1, bias_bits=1),
                 NetworkConfig(neurons=13, lanes=4, weight_bits=5),
                 NetworkConfig(neurons=16, lanes=16, weight_bits=16, bias_bits=24),
                 NetworkConfig(neurons=30, lanes=7, weight_bits=3, engine="column",
                               store_patterns=4)]


@pytest.mark.parametrize("config", FIELD_CONFIGS, ids=lambda c: f"N{c.neurons}K{c.lanes}"
                         f"W{c.weight_bits}")
def test_field_array_matches_model(config):
    """Random op sequences (refresh-like loads and column adds, flips, state loads, clears,
    the zeroing) against the numpy model; the lanes' g = 2 h + s, states, flags (and with
    the quantized store the zero tests) compared after every cycle. The model keeps h and g
    apart: where a state load left g stale (as in the engine, whose fields are then
    refreshed), or a load or clear added to a lane not zeroed (the engine zeroes first), only
    g's own rule is checked (modulo 2^F, as the lanes wrap); elsewhere g = 2 h + s and the
    flag is s h < 0."""
    n, k, f, wb = config.neurons, config.lanes, config.acc_bits + 1, config.weight_bits
    seed = 1000 + n
    rng = np.random.default_rng(seed)
    dut = FieldArray(config)
    assert dut.field_bits == f
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    bound = config.field_bound
    ops = [FieldOp.HOLD, FieldOp.FLIP, FieldOp.ADD, FieldOp.LOAD_FIELDS, FieldOp.LOAD_STATES,
           FieldOp.CLEAR, FieldOp.ZERO_FIELDS]

    async def bench(ctx):
        h = np.zeros(n, dtype=np.int64)
        s = np.zeros(n, dtype=np.int64)        # bits, 1 = +1
        # The lanes' registers after reset: g = 0, ZERO_FIELDS's value (one synchronous reset
        # for both), then CLEAR, as the engine's BOOT state applies it in its first cycle:
        # h = 0 and s = -1 everywhere, no neuron unstable.
        assert list(_unpack(ctx.get(dut.fields), f, n)) == [0] * n, f"seed {seed} after reset"
        ctx.set(dut.op, FieldOp.CLEAR)
        await ctx.tick()
        g = -np.ones(n, dtype=np.int64)
        exact = np.ones(n, dtype=bool)         # g = 2 h + s holds
        zeroed = np.zeros(n, dtype=bool)       # g = 0 from a zeroing, not added to since
        assert list(_unpack(ctx.get(dut.fields), f, n)) == list(g), f"seed {seed} after BOOT"
        assert ctx.get(dut.states) == 0, f"seed {seed} after BOOT"
        assert ctx.get(dut.flags) == 0, f"seed {seed} after BOOT: no neuron unstable"

        def wrap(v):                           # F-bit two's complement, as the lanes hold g
            return (v + (1 << (f - 1))) % (1 << f) - (1 << (f - 1))

        for step in range(400):
            op = rng.choice(ops, p=[.05, .38, .2, .15, .1, .04, .08])
            col = rng.integers(config.weight_min, config.weight_max + 1, n)
            j = int(rng.integers(n))
            # a flip changes s_j (the engine's contract); ADD's sign is any s_j
            sign = 1 - int(s[j]) if op == FieldOp.FLIP else int(rng.integers(2))
            pm = 2 * sign - 1
            c = int(rng.integers(config.chunks))
            lanes = np.arange(c * k, min(n, (c + 1) * k))
            new_h = rng.integers(-bound // 2, bound // 2 + 1, k)
            new_s = rng.integers(0, 2, k)
            new_g = 2 * new_h + np.resize(2 * s[lanes] - 1, k)    # g = 2 h + s
            factor = 2 if op == FieldOp.FLIP else 1
            step_h = h + factor * pm * col
            if op in (FieldOp.FLIP, FieldOp.ADD) and np.any(np.abs(step_h) > bound):
                op = FieldOp.HOLD                  # the engine never leaves the bound
            ctx.set(dut.column, _pack(col, wb))
            ctx.set(dut.op, op)
            ctx.set(dut.sign, sign)
            lines = len(dut.index_lo)             # j as its two-level decode
            ctx.set(dut.index_lo, 1 << (j % lines))
            ctx.set(dut.index_hi, 1 << (j // lines))
            ctx.set(dut.chunk, c)
            ctx.set(dut.fields_in, _pack(new_g, f))
            ctx.set(dut.states_in, _bits(new_s))
            held = rng.random(n) < 0.2             # the clamp mask, new every cycle
            ctx.set(dut.held, _bits(held))
            await ctx.tick()
            if op == FieldOp.FLIP:
                h = step_h
                g = g + pm * 4 * col
                g[j] += 2 * pm
                s[j] = sign
                zeroed[:] = False
            elif op == FieldOp.ADD:
                h = step_h
                g = g + pm * 2 * col
                zeroed[:] = False
            elif op == FieldOp.LOAD_FIELDS:        # added: a load where the lanes were zeroed
                h[lanes] = new_h[:len(lanes)]
                g[lanes] = g[lanes] + new_g[:len(lanes)]
                exact[lanes] = zeroed[lanes]
                zeroed[lanes] = False
            elif op == FieldOp.LOAD_STATES:
                changed = lanes[s[lanes] != new_s[:len(lanes)]]
                s[lanes] = new_s[:len(lanes)]
                exact[changed] = False
            elif op == FieldOp.CLEAR:              # g -= 1: h = 0 where the lanes were zeroed
                h[:] = 0
                s[:] = 0
                g = g - 1
                exact = zeroed.copy()
                zeroed[:] = False
            elif op == FieldOp.ZERO_FIELDS:
                h[:] = 0
                g[:] = 0
                exact[:] = False
                zeroed[:] = True
            g = wrap(g)
            where = f"seed {seed} step {step} op {op.name}"
            got = np.array(_unpack(ctx.get(dut.fields), f, n))
            assert list(got) == list(g), where
            assert list(got[exact]) == list((2 * h + 2 * s - 1)[exact]), where
            assert ctx.get(dut.states) == _bits(s), where
            flags = ctx.get(dut.flags)
            assert flags == _bits(np.where(s == 1, g < 0, g >= 0) & ~held), where
            want = ((2 * s - 1) * h < 0) & ~held
            assert all((flags >> i & 1) == want[i] for i in np.flatnonzero(exact)), where
            if config.store_patterns:
                assert ctx.get(dut.nonzero) == _bits(g != 0), where

    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("width", [1, 4, 15])
def test_add_xor_cells(width):
    """add_xor's carry cells evaluated from their INIT (the ECP5 CCU2C as yosys' cells_sim
    models it) against a + (b ^ c) + cin: every case at width 1 and 4, random ones at 15."""
    seed = 1500 + width
    rng = random.Random(seed)
    ins = [Signal(width, name=n) for n in "abc"]
    cin = Signal()
    m = Module()
    out = Signal(width)
    m.d.comb += out.eq(add_xor(m, *ins, cin, cells="model"))
    mask = (1 << width) - 1
    if width <= 4:
        cases = [(a, b, c, i) for a in range(1 << width) for b in range(1 << width)
                 for c in range(1 << width) for i in (0, 1)]
    else:
        cases = [tuple(rng.randrange(1 << width) for _ in range(3)) + (rng.randrange(2),)
                 for _ in range(2000)]

    async def check(ctx, case):
        a, b, c, i = case
        for sig, v in zip(ins + [cin], case):
            ctx.set(sig, v)
        assert ctx.get(out) == (a + (b ^ c) + i) & mask, f"seed {seed}: {case}"

    run_comb_cases(m, cases, check)


@pytest.mark.slow
@pytest.mark.parametrize("width", [5, 15])
def test_add_xor_ecp5_cells_proven(width, tmp_path):
    """add_xor's ECP5 carry cells (the CCU2C instances a build places) equal a + (b ^ c) +
    cin for every input: yosys proves it by SAT with its own simulation model of the cell
    (``+/ecp5/ccu2c_sim.vh``). The simulations run the ``+`` (no platform); this ties the
    two. A missing yosys skips (fails in CI)."""
    import subprocess
    from amaranth.back import rtlil
    from hopfield_fpga.hw.build import ToolchainError, find_toolchain
    from hopfield_fpga.sim.rtl_runner import missing_tool
    try:
        yosys = find_toolchain("ecp5")["YOSYS"]
    except ToolchainError as exc:
        missing_tool(str(exc))
    ins = [Signal(width, name=n) for n in "abc"]
    cin, out = Signal(name="cin"), Signal(width, name="out")
    m = Module()
    m.d.comb += out.eq(add_xor(m, *ins, cin, cells="ecp5"))
    (tmp_path / "cells.il").write_text(rtlil.convert(m, name="cells", ports=ins + [cin, out]))
    (tmp_path / "check.v").write_text(f"""
module check(input [{width - 1}:0] a, b, c, input cin, output ok);
  wire [{width - 1}:0] out;
  cells dut(.a(a), .b(b), .c(c), .cin(cin), .out(out));
  wire [{width - 1}:0] want = a + (b ^ c) + cin;
  assign ok = out == want;
endmodule
""")
    script = ("read_verilog -lib +/ecp5/cells_bb.v; read_verilog -overwrite +/ecp5/common_sim.vh "
              "+/ecp5/ccu2c_sim.vh; read_rtlil cells.il; read_verilog check.v; "
              "hierarchy -top check; proc; flatten -wb; opt_clean; sat -verify -prove ok 1 check")
    done = subprocess.run([yosys, "-q", "-p", script], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_field_codec():
    """encode_field and decode_field (the engine's load of g = 2 b + s and its pick of h_j)
    invert each other over every h whose g fits (5-bit h, 6-bit g) and both states."""
    h_in, s_in = Signal(signed(5)), Signal()
    g, h_out = Signal(signed(6)), Signal(signed(6))
    m = Module()
    m.d.comb += [g.eq(encode_field(h_in, s_in)), h_out.eq(decode_field(g, s_in))]
    cases = [(h, s) for h in range(-15, 16) for s in (0, 1)]

    async def check(ctx, case):
        h, s = case
        ctx.set(h_in, h)
        ctx.set(s_in, s)
        assert (ctx.get(g), ctx.get(h_out)) == (2 * h + 2 * s - 1, h), case

    run_comb_cases(m, cases, check)


@pytest.mark.parametrize("neurons", [2, 13, 64])
def test_field_pick(neurons):
    """FieldPick gives h_j (decoded from g_j), s_j and the clamp bit of j, for random lanes
    with g = 2 h + s and every j (its AND-OR over j's two-level decode: groups of 1, 4 and 8
    lanes, a short last group at N = 13): j = 0 after reset, then j as ``index`` was in the
    last cycle with ``load``, whatever ``index`` is now."""
    config = NetworkConfig(neurons=neurons, lanes=min(4, neurons), weight_bits=5)
    n, f = config.neurons, config.acc_bits + 1
    seed = 7000 + neurons
    rng = np.random.default_rng(seed)
    dut = FieldPick(config)
    bound = config.field_bound
    cases = []
    for _ in range(8):
        h = rng.integers(-bound, bound + 1, n)
        s = rng.integers(0, 2, n)
        held = rng.integers(0, 2, n)
        cases += [(h, s, held, j) for j in rng.permutation(n)]
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def bench(ctx):
        j_held = 0                                   # after reset
        for h, s, held, j in cases:
            ctx.set(dut.fields, _pack(2 * h + 2 * s - 1, f))
            ctx.set(dut.states, _bits(s))
            ctx.set(dut.held, _bits(held))
            ctx.set(dut.index, int(rng.integers(n)))  # not loaded: ignored
            lines = len(dut.lines_lo)                # j's decode, as the field array reads it
            assert (ctx.get(dut.lines_lo), ctx.get(dut.lines_hi)) == (
                1 << (j_held % lines), 1 << (j_held // lines)), f"seed {seed}"
            got = (ctx.get(dut.h), ctx.get(dut.s), ctx.get(dut.held_j))
            assert got == (h[j_held], s[j_held], held[j_held]), f"seed {seed} j {j_held}"
            ctx.set(dut.index, int(j))
            ctx.set(dut.load, 1)
            await ctx.tick()
            ctx.set(dut.load, 0)
            j_held = j

    sim.add_testbench(bench)
    sim.run()


# -- selectors ---------------------------------------------------------------------------------

def _random_flags(rng, n):
    density = rng.choice([0.0, 1 / max(1, n), 0.05, 0.3, 0.8, 1.0])
    return [int(rng.random() < density) for _ in range(n)]


def _run_held_cases(dut, cases, check, synchronous):
    """``await check(ctx, case)`` for each case in one testbench; the block is clocked when
    it is pipelined (``check`` then holds its inputs for the latency with ``ctx.tick()``)."""
    if not synchronous:
        run_comb_cases(dut, cases, check)
        return
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def bench(ctx):
        for case in cases:
            await check(ctx, case)

    sim.add_testbench(bench)
    sim.run()


async def _hold(ctx, cycles):
    """Let ``cycles`` clock edges pass with the inputs held (none for a combinational block)."""
    for _ in range(cycles):
        await ctx.tick()


# (N, span): combinational (span 0), a register after every level, every 2, 3 or 5 levels
# (256, 5 and 1024, 11: the engine's own spans, default_spans; 11 > 10 levels: one stage).
@pytest.mark.parametrize("n,span", [(1, 1), (2, 0), (7, 1), (33, 0), (40, 5), (64, 3), (100, 2),
                                    (256, 5), (600, 11), (1024, 11)])
def test_select_sequential(n, span):
    """The first unstable neuron at or after pos (cyclically) and the stable visits skipped:
    the sequential loop of golden.run_binary; pipelined, valid exactly ``latency`` cycles
    after the inputs (the previous case's inputs differ, so a stage left out shows)."""
    seed = 2000 + n
    rng = random.Random(seed)
    dut = SelectSequential(n, span)
    assert dut.latency == ((n - 1).bit_length() // span + 1 if span else 0)
    cases = [(_random_flags(rng, n), rng.randrange(n)) for _ in range(300)]

    async def check(ctx, case):
        flags, pos = case
        ctx.set(dut.flags, _bits(flags))
        ctx.set(dut.pos, pos)
        await _hold(ctx, dut.latency)
        where = f"seed {seed} span {span}: flags {flags} pos {pos}"
        assert ctx.get(dut.found) == any(flags), where
        if not any(flags):
            return
        skip = next(d for d in range(n) if flags[(pos + d) % n])
        assert (ctx.get(dut.index), ctx.get(dut.skip)) == ((pos + skip) % n, skip), where

    _run_held_cases(dut, cases, check, span > 0)


# (N, tree_span, walk_span), as for the sequential select.
@pytest.mark.parametrize("n,tree_span,walk_span", [(1, 1, 1), (2, 0, 0), (5, 1, 2),
                                                   (64, 3, 2), (100, 2, 1), (700, 4, 3),
                                                   (1024, 4, 3)])
def test_select_rank(n, tree_span, walk_span):
    """The count |U| valid exactly ``tree_latency`` cycles after the flags, the k-th flag's
    index ``walk_latency`` cycles after k (the tree settled)."""
    seed = 3000 + n
    rng = random.Random(seed)
    dut = SelectRank(n, tree_span, walk_span)
    depth = (n - 1).bit_length()
    assert (dut.tree_latency, dut.walk_latency) == (
        depth // tree_span if tree_span else 0,
        max(depth - 1, 0) // walk_span + 1 if walk_span else 0)
    cases = []
    for _ in range(200):
        flags = _random_flags(rng, n)
        for k in rng.sample(range(max(1, sum(flags))), min(3, max(1, sum(flags)))):
            cases.append((flags, k))

    async def check(ctx, case):
        flags, k = case
        ctx.set(dut.flags, _bits(flags))
        await _hold(ctx, dut.tree_latency)
        where = f"seed {seed} spans {tree_span}, {walk_span}: flags {flags} k {k}"
        assert ctx.get(dut.count) == sum(flags), where
        ctx.set(dut.rank, k)
        await _hold(ctx, dut.walk_latency)
        if sum(flags):
            assert ctx.get(dut.index) == [i for i, f in enumerate(flags) if f][k], where

    _run_held_cases(dut, cases, check, tree_span > 0 or walk_span > 0)


def test_select_rank_count_only():
    """Without the walk (an engine without rejection_free order) the count is the same, the
    index a constant 0."""
    n, seed = 37, 3100
    rng = random.Random(seed)
    dut = SelectRank(n, 2, 1, walk=False)

    async def check(ctx, flags):
        ctx.set(dut.flags, _bits(flags))
        ctx.set(dut.rank, rng.randrange(n))
        await _hold(ctx, dut.tree_latency)
        where = f"seed {seed}: flags {flags}"
        assert (ctx.get(dut.count), ctx.get(dut.index)) == (sum(flags), 0), where

    _run_held_cases(dut, [_random_flags(rng, n) for _ in range(60)], check, True)


def _xorshift_words(x, count):
    words = []
    for _ in range(count):
        x = numerics.xorshift32(x)
        words.append(x)
    return words


@pytest.mark.parametrize("words,most", [(1, 1), (4, 4), (5, 5), (2, 5)])
def test_word_window(words, most):
    """The window always shows the next ``words`` generator states, whatever is consumed
    (0 to ``most`` per cycle) and after loads."""
    seed = 4500 + 10 * words + most
    rng = random.Random(seed)
    dut = WordWindow(words, most)
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def bench(ctx):
        x = None
        for step in range(400):
            load = x is None or rng.random() < 0.05
            if load:
                x = rng.getrandbits(32) or 1
                ctx.set(dut.load, 1)
                ctx.set(dut.load_state, x)
                ctx.set(dut.consume, rng.randint(0, most))      # ignored on a load
            else:
                ctx.set(dut.load, 0)
                u = rng.randint(0, most)
                ctx.set(dut.consume, u)
                x = ([x] + _xorshift_words(x, most))[u]
            await ctx.tick()
            got = _unpack(ctx.get(dut.words), 32, words, signed=False)
            assert got == _xorshift_words(x, words), f"seed {seed}, step {step}"

    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("n,words", [(1, 1), (5, 3), (64, 4), (100, 4), (37, 8)])
def test_select_random(n, words):
    """The random order's draw loop of golden.run_binary, ``words`` words at a time."""
    seed = 4000 + n
    rng = random.Random(seed)
    dut = SelectRandom(n, words)
    cases = [(_random_flags(rng, n), rng.getrandbits(32) or 1) for _ in range(300)]

    async def check(ctx, case):
        flags, x0 = case
        ctx.set(dut.flags, _bits(flags))
        ctx.set(dut.words, _pack(_xorshift_words(x0, words), 32))
        x, stable, found = x0, 0, None
        for used in range(1, words + 1):
            x = numerics.xorshift32(x)
            m = (n - 1).bit_length()
            cand = x >> (32 - m) if m else 0
            if cand >= n:
                continue
            if flags[cand]:
                found = cand
                break
            stable += 1
        where = f"seed {seed}: flags {flags} state {x0:#x}"
        got = [ctx.get(v) for v in (dut.found, dut.stable, dut.used, dut.next_state)]
        assert got == [found is not None, stable, used, x], where
        if found is not None:
            assert ctx.get(dut.index) == found, where

    run_comb_cases(dut, cases, check)


@pytest.mark.parametrize("max_n,words", [(1, 1), (5, 2), (100, 3), (1024, 4)])
def test_draw_words(max_n, words):
    """The index draw of numerics.draw_index, up to ``words`` words per cycle."""
    seed = 5000 + max_n
    rng = random.Random(seed)
    dut = DrawWords(max_n, words)
    cases = [(rng.randint(0, max_n), rng.getrandbits(32) or 1) for _ in range(400)]

    async def check(ctx, case):
        n, x0 = case
        ctx.set(dut.n, n)
        ctx.set(dut.words, _pack(_xorshift_words(x0, words), 32))
        where = f"seed {seed}: n {n} state {x0:#x}"
        if n == 0:
            assert not ctx.get(dut.accept), where
            return
        k, x, used = numerics.draw_index(x0, n)
        if used <= words:
            got = [ctx.get(v) for v in (dut.accept, dut.index, dut.used, dut.next_state)]
            assert got == [1, k, used, x], where
        else:
            y = x0
            for _ in range(words):
                y = numerics.xorshift32(y)
            got = [ctx.get(v) for v in (dut.accept, dut.used, dut.next_state)]
            assert got == [0, words, y], where

    run_comb_cases(dut, cases, check)


# -- weight store ------------------------------------------------------------------------------

@pytest.mark.parametrize("config,parts", [
    (NetworkConfig(neurons=1, lanes=1, weight_bits=2), 1),
    (NetworkConfig(neurons=13, lanes=4, weight_bits=5), 1),
    (NetworkConfig(neurons=18, lanes=6, weight_bits=3), 1),
    (NetworkConfig(neurons=18, lanes=6, weight_bits=3, features=Feature.TRACE), 1),
    (NetworkConfig(neurons=13, lanes=2, weight_bits=5), 2),
    (NetworkConfig(neurons=30, lanes=3, weight_bits=3), 4),
    (NetworkConfig(neurons=30, lanes=3, weight_bits=3, features=Feature.TRACE), 4)],
    ids=lambda v: (f"N{v.neurons}K{v.lanes}W{v.weight_bits}"
                   f"{'' if v.has(Feature.HEBBIAN) else '-nohebbian'}")
    if isinstance(v, NetworkConfig) else f"P{v}")
def test_weight_store(config, parts):
    """Chunk writes touch only their lanes; a read returns the whole column (with parts: the
    part read; lanes beyond N as 0) and the selected chunk; a whole-column (part) write
    writes column_in, or zeros (the clear's) in a store built without Feature.HEBBIAN."""
    n, k, wb = config.neurons, config.lanes, config.weight_bits
    big_l = part_lanes(n, parts, k)
    c = big_l // k                                    # chunks of a part
    seed = 6000 + n + 100 * parts
    rng = np.random.default_rng(seed)
    store = WeightStore(config, parts=parts)
    dut = store.ports[0]
    sim = Simulator(store)
    sim.add_clock(1e-6)

    async def bench(ctx):
        w = np.zeros((parts * big_l, n), dtype=np.int64)   # rows: neurons (padded), cols: j
        for step in range(300):
            j, p, ch = int(rng.integers(n)), int(rng.integers(parts)), int(rng.integers(c))
            rows = np.arange(p * big_l, (p + 1) * big_l)
            if rng.random() < 0.05:
                ctx.set(dut.write_addr, j)
                ctx.set(dut.write_part, p)
                # A whole-column write (lanes beyond N 0, as the engine drives them).
                col = np.where(rows < n, rng.integers(config.weight_min,
                                                      config.weight_max + 1, big_l), 0)
                ctx.set(dut.column_in, _pack(col, wb))
                ctx.set(dut.write_column, 1)
                await ctx.tick()
                ctx.set(dut.write_column, 0)
                w[rows, j] = col if config.has(Feature.HEBBIAN) else 0
            elif rng.random() < 0.5:
                # a host chunk (the engine writes chunks below C only, each in one part)
                p, ch = divmod(int(rng.integers(config.chunks)), c)
                lanes = rng.integers(config.weight_min, config.weight_max + 1, k)
                ctx.set(dut.write_addr, j)
                ctx.set(dut.write_part, p)
                ctx.set(dut.write_chunk, ch)
                ctx.set(dut.write_data, _pack(lanes, wb))
                ctx.set(dut.write_en, 1)
                ctx.set(dut.read_en, 0)
                await ctx.tick()
                ctx.set(dut.write_en, 0)
                for lane in range(k):
                    if p * big_l + ch * k + lane < n:
                        w[p * big_l + ch * k + lane, j] = lanes[lane]
            else:
                ctx.set(dut.read_addr, j)
                ctx.set(dut.read_part, p)
                ctx.set(dut.read_en, 1)
                ctx.set(dut.chunk, ch)                  # registered with the read
                ctx.set(dut.chunk_load, 1)
                await ctx.tick()
                ctx.set(dut.read_en, 0)
                ctx.set(dut.chunk_load, 0)
                ctx.set(dut.chunk, int(rng.integers(c)))   # not loaded: ignored
                where = f"seed {seed} step {step}: column {j} part {p}"
                assert _unpack(ctx.get(dut.column), wb, big_l) == list(w[rows, j]), where
                assert (_unpack(ctx.get(dut.chunk_data), wb, k)
                        == list(w[rows[ch * k:(ch + 1) * k], j])), where

    sim.add_testbench(bench)
    sim.run()


def test_weight_store_refuses_parts_not_a_power_of_2():
    with pytest.raises(ValueError, match="parts must be a power of 2 .* not 3"):
        WeightStore(NetworkConfig(neurons=30, lanes=3), parts=3)


# -- column sum --------------------------------------------------------------------------------

@pytest.mark.parametrize("config,per_stage", [(NetworkConfig(neurons=1, lanes=1, weight_bits=1), 2),
                                              (NetworkConfig(neurons=13, lanes=4, weight_bits=5), 2),
                                              (NetworkConfig(neurons=64, lanes=8, weight_bits=3), 3)],
                         ids=lambda v: f"N{v.neurons}W{v.weight_bits}"
                         if isinstance(v, NetworkConfig) else f"per{v}")
def test_column_sum(config, per_stage):
    """c_j = sum_i W_ij s_i, one column per cycle, ``latency`` cycles later."""
    n, wb = config.neurons, config.weight_bits
    seed = 7000 + n
    rng = np.random.default_rng(seed)
    dut = ColumnSum(config, per_stage=per_stage)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    cases = [(rng.choice([config.weight_min, config.weight_max, 0], n)
              if rng.random() < 0.3 else rng.integers(config.weight_min, config.weight_max + 1, n),
              rng.integers(0, 2, n), bool(rng.random() < 0.8)) for _ in range(100)]

    async def bench(ctx):
        outs = []
        for col, states, valid in cases + [(np.zeros(n, int), np.zeros(n, int), False)] * (
                dut.latency + 1):
            ctx.set(dut.column, _pack(col, wb))
            ctx.set(dut.states, _bits(states))
            ctx.set(dut.valid_in, valid)
            await ctx.tick()
            outs.append((ctx.get(dut.valid_out), ctx.get(dut.total)))
        for t, (col, states, valid) in enumerate(cases):
            want = int(np.dot(col, 2 * states - 1))
            got = outs[t + dut.latency - 1]
            assert got[0] == valid, f"seed {seed} case {t}"
            if valid:
                assert got[1] == want, f"seed {seed} case {t}: column {list(col)} states {states}"

    sim.add_testbench(bench)
    sim.run()


# -- energy unit -------------------------------------------------------------------------------

@pytest.mark.parametrize("config", [NetworkConfig(neurons=1, lanes=1, weight_bits=2),
                                    NetworkConfig(neurons=20, lanes=4, weight_bits=4)],
                         ids=lambda c: f"N{c.neurons}W{c.weight_bits}")
def test_energy_unit(config):
    """Back-to-back flips: each delta = -2 s' (term + 2 W_jj s' + c_j), W_jj given the cycle
    after the column (any value otherwise), arrives ``latency`` = max(L, 3) cycles after its
    column and is added to 2E; a refresh's columns and bias sums give -sum s_j c_j - 2 sum s_i b_i."""
    n, wb = config.neurons, config.weight_bits
    seed = 8000 + n
    rng = np.random.default_rng(seed)
    dut = EnergyUnit(config)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    bound = config.field_bound

    async def bench(ctx):
        for round_ in range(6):
            where = f"seed {seed} round {round_}"
            # refresh: columns with their signs and bias sums, then finish
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            states = rng.integers(0, 2, n)
            w = rng.integers(config.weight_min, config.weight_max + 1, (n, n))
            b_sum = int(rng.integers(-bound, bound + 1))
            ctx.set(dut.states, _bits(states))
            ctx.set(dut.bias_add, 1)
            ctx.set(dut.bias_sum, b_sum)
            await ctx.tick()
            ctx.set(dut.bias_add, 0)
            for col in range(n):
                ctx.set(dut.column, _pack(w[:, col], wb))
                ctx.set(dut.push, 1)
                ctx.set(dut.refresh, 1)
                ctx.set(dut.sign, int(states[col]))
                await ctx.tick()
            ctx.set(dut.push, 0)
            ctx.set(dut.refresh, 0)
            while ctx.get(dut.busy):
                assert not ctx.get(dut.delta_valid), where
                await ctx.tick()
            ctx.set(dut.finish_refresh, 1)
            await ctx.tick()
            ctx.set(dut.finish_refresh, 0)
            s = 2 * states - 1
            e2 = int(-(s @ w @ s) - 2 * b_sum)
            assert ctx.get(dut.energy2) == e2, where
            # flips, one per cycle, with random gaps
            pushes = []
            diag = 0                                 # W_jj of the previous cycle's push
            for t in range(30):
                ctx.set(dut.diag, diag)
                push = bool(rng.random() < 0.7)
                col = rng.integers(config.weight_min, config.weight_max + 1, n)
                st = rng.integers(0, 2, n)
                sign = int(rng.integers(2))
                term = int(rng.integers(-2 * bound, 2 * bound + 1))
                c_j = int(col @ (2 * st - 1))
                w_jj = int(rng.integers(config.weight_min, config.weight_max + 1))
                want = -2 * (2 * sign - 1) * (term + c_j + 2 * w_jj * (2 * sign - 1))
                future = e2 + sum(p[1] for p in pushes) + want
                push = push and abs(future) <= config.energy_bound   # as 2E always is
                ctx.set(dut.column, _pack(col, wb))
                ctx.set(dut.states, _bits(st))
                ctx.set(dut.push, push)
                ctx.set(dut.sign, sign)
                ctx.set(dut.term, term)
                if push:
                    pushes.append((t, want))
                diag = w_jj if push else int(rng.integers(config.weight_min,
                                                           config.weight_max + 1))
                if ctx.get(dut.delta_valid):
                    t0, done = pushes.pop(0)
                    assert t - t0 == dut.latency, where
                    assert ctx.get(dut.delta) == done, where
                    e2 += done
                await ctx.tick()
            ctx.set(dut.push, 0)
            ctx.set(dut.diag, diag)
            while ctx.get(dut.busy):
                if ctx.get(dut.delta_valid):
                    e2 += pushes.pop(0)[1]
                await ctx.tick()
            assert not pushes and ctx.get(dut.energy2) == e2, where

    sim.add_testbench(bench)
    sim.run()


def test_registered_wrapper_delays_by_two_cycles():
    """hw/engine_blocks.registered: the block's ports behind registers, same names and
    widths (what the out-of-context measurements synthesize)."""
    from hopfield_fpga.hw.engine_blocks import registered
    dut = registered(SelectRank(10))
    assert {n for (n,), _ in dut.signature.members.flatten()} == {"flags", "rank", "count",
                                                                  "index"}
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def bench(ctx):
        flags = [0, 1, 1, 0, 0, 1, 0, 1, 1, 0]
        ctx.set(dut.flags, _bits(flags))
        ctx.set(dut.rank, 3)
        await ctx.tick()
        assert ctx.get(dut.count) == 0          # not through yet
        await ctx.tick()
        assert (ctx.get(dut.count), ctx.get(dut.index)) == (5, 7)

    sim.add_testbench(bench)
    sim.run()


def test_engine_blocks_command_writes_each_block(tmp_path, capsys):
    """``python -m hopfield_fpga.hw.engine_blocks BLOCK OUT.il --neurons N`` (the docs'
    measurements): the block at that N, wrapped in registers unless it is in UNWRAPPED."""
    from hopfield_fpga.hw.engine_blocks import UNWRAPPED, main
    for block in ("column_engine", "select_rank"):
        out = tmp_path / f"{block}.il"
        main([block, str(out), "--neurons", "16"])
        text = out.read_text()
        assert "module \\top" in text and "N = 16," in capsys.readouterr().out
        # the whole engine keeps its stream ports (unwrapped); the rank select has none
        assert ("\\access__valid" in text) == (block in UNWRAPPED)
    # --spans: the selectors' stages (the combinational rank select has no flip-flop)
    out = tmp_path / "rank.il"
    for spans, staged in (("0,0,0", False), ("3,3,2", True)):
        main(["select_rank", str(out), "--neurons", "16", "--spans", spans])
        assert f"spans = {spans}" in capsys.readouterr().out
        inner = out.read_text().split("module \\top.block")[1]  # the block, not its wrapper
        assert ("$dff" in inner) == staged, spans
    with pytest.raises(SystemExit):
        main(["select_rank", str(out), "--spans", "3,2"])
    assert "--spans must be three integers" in capsys.readouterr().err


# -- Glauber unit --------------------------------------------------------------------------------

@pytest.mark.parametrize("config", [NetworkConfig(neurons=2, lanes=1, weight_bits=1, bias_bits=2),
                                    NetworkConfig(neurons=40, lanes=4, weight_bits=16)],
                         ids=lambda c: f"A{c.acc_bits}")
def test_glauber_unit(config):
    """One visit per cycle; the decision ``latency`` cycles later is (r >> 16) <
    numerics.glauber_threshold(beta, h) (§8), on random h (extremes included), beta and r."""
    seed = 6100 + config.acc_bits
    rng = np.random.default_rng(seed)
    dut = GlauberUnit(config)
    bound = (1 << (config.acc_bits - 1)) - 1
    cases = []
    for _ in range(400):
        h = int(rng.choice([rng.integers(-bound - 1, bound + 1),
                            rng.integers(-min(bound, 40), min(bound, 40) + 1), -bound - 1,
                            bound, 0]))
        beta = int(rng.choice([rng.integers(0, 1 << 16), rng.integers(0, 600), 0, 65535]))
        word = int(rng.integers(0, 1 << 16))
        cases.append((h, beta, word, word < numerics.glauber_threshold(beta, h)))
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def bench(ctx):
        for t in range(len(cases) + dut.latency):
            if t < len(cases):
                h, beta, word, _ = cases[t]
                ctx.set(dut.h, h)
                ctx.set(dut.beta, beta)
                ctx.set(dut.word, word)
            ctx.set(dut.valid, int(t < len(cases) and t % 7 != 3))
            if t >= dut.latency:
                k = t - dut.latency
                assert ctx.get(dut.valid_out) == (k % 7 != 3), f"seed {seed}, visit {k}"
                assert ctx.get(dut.up) == cases[k][3], f"seed {seed}, visit {k}: {cases[k]}"
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()


# -- Hebbian column update -------------------------------------------------------------------------

@pytest.mark.parametrize("config", [NetworkConfig(neurons=1, lanes=1, weight_bits=2),
                                    NetworkConfig(neurons=7, lanes=3, weight_bits=1),
                                    NetworkConfig(neurons=13, lanes=4, weight_bits=2)],
                         ids=lambda c: f"N{c.neurons}W{c.weight_bits}")
def test_hebbian_column(config):
    """Every column j of a random W (limits frequent) updated by a random pattern equals
    column j of golden.store_hebbian (§9); padding lanes stay 0."""
    n, wb = config.neurons, config.weight_bits
    seed = 6200 + n
    rng = np.random.default_rng(seed)
    dut = HebbianColumn(config)
    cases = []
    for _ in range(20):
        w = rng.choice([config.weight_min, config.weight_max, 0, config.weight_min + 1],
                       (n, n))
        p = rng.choice([-1, 1], n)
        want = golden.store_hebbian(w, p, config=config)
        for j in range(n):
            cases.append((w[:, j], p, j, want[:, j]))

    async def check(ctx, case):
        col, p, j, want = case
        ctx.set(dut.column, _pack(col, wb))
        ctx.set(dut.pattern, _bits(p > 0))
        ctx.set(dut.pattern_j, int(p[j] > 0))
        ctx.set(dut.select, 1 << j)
        got = ctx.get(dut.column_out)
        assert _unpack(got, wb, n) == list(want), f"seed {seed}, column {j}, pattern {p}"
        assert got >> (n * wb) == 0, f"seed {seed}: padding"

    run_comb_cases(dut, cases, check)


# -- field array in parts ----------------------------------------------------------------------

PARTED_CONFIGS = [(NetworkConfig(neurons=1, lanes=1, weight_bits=1, bias_bits=1), 1),
                  (NetworkConfig(neurons=13, lanes=2, weight_bits=5), 3),
                  (NetworkConfig(neurons=30, lanes=3, weight_bits=3), 4),
                  (NetworkConfig(neurons=16, lanes=1, weight_bits=2), 16)]


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("config,parts", PARTED_CONFIGS,
                         ids=lambda v: f"N{v.neurons}K{v.lanes}W{v.weight_bits}"
                         if isinstance(v, NetworkConfig) else f"P{v}")
def test_parted_field_array_matches_model(config, parts, storage):
    """Random ops on random parts against a model of every lane's P fields (the padding
    neurons' of the last part included): fields (with registers), states, flags and the
    lanes' reads of the cycle's part compared after every cycle."""
    n, k, f, wb = config.neurons, config.lanes, config.acc_bits + 1, config.weight_bits
    seed = 9000 + 37 * n + parts
    rng = np.random.default_rng(seed)
    dut = PartedFieldArray(config, parts, storage)
    big_l = dut.lanes
    assert big_l == part_lanes(n, parts, k) and big_l % k == 0
    assert (parts - 1) * big_l < n <= parts * big_l
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    ops = [FieldOp.HOLD, FieldOp.FLIP, FieldOp.ADD, FieldOp.LOAD_FIELDS, FieldOp.LOAD_STATES,
           FieldOp.CLEAR, FieldOp.ZERO_FIELDS]

    def wrap(v):
        return (v + (1 << (f - 1))) % (1 << f) - (1 << (f - 1))

    async def bench(ctx):
        g = np.zeros(parts * big_l, dtype=np.int64)     # g of neuron p L + l
        s = np.zeros(parts * big_l, dtype=np.int64)
        p = 0                                           # the part register after reset
        for step in range(300):
            op = rng.choice(ops, p=[.05, .4, .2, .13, .1, .04, .08])
            assert ctx.get(dut.part) == p, f"seed {seed} step {step}"
            next_p = int(rng.integers(parts))
            col = rng.integers(config.weight_min, config.weight_max + 1, big_l)
            j = int(rng.integers(n))
            flip_part = p == j // big_l and rng.random() < 0.9
            sign = int(rng.integers(2))
            pm = 2 * sign - 1
            c = int(rng.integers(dut.chunks))
            new_g = rng.integers(-(1 << (f - 1)), 1 << (f - 1), k)
            new_s = rng.integers(0, 2, k)
            held = rng.random(n) < 0.2
            ctx.set(dut.column, _pack(col, wb))
            ctx.set(dut.next_part, next_p)
            ctx.set(dut.op, op)
            ctx.set(dut.sign, sign)
            lines = len(dut.lane_lo)
            ctx.set(dut.lane_lo, 1 << (j % big_l % lines))
            ctx.set(dut.lane_hi, 1 << (j % big_l // lines))
            ctx.set(dut.flip_part, flip_part)
            ctx.set(dut.chunk, c)
            ctx.set(dut.fields_in, _pack(new_g, f))
            ctx.set(dut.states_in, _bits(new_s))
            ctx.set(dut.held, _bits(held))
            await ctx.tick()
            here = np.arange(p * big_l, (p + 1) * big_l)
            chunk = np.arange(c * k, (c + 1) * k)
            if op == FieldOp.FLIP:
                g[here] += 4 * pm * col
                if flip_part:
                    g[j] += 2 * pm
                    s[j] = sign
            elif op == FieldOp.ADD:
                g[here] += 2 * pm * col
            elif op == FieldOp.LOAD_FIELDS:
                g[p * big_l + chunk] += new_g
            elif op == FieldOp.LOAD_STATES:
                s[p * big_l + chunk] = new_s
            elif op == FieldOp.CLEAR:               # every op acts on part p only
                g[here] -= 1
                s[here] = 0
            elif op == FieldOp.ZERO_FIELDS:
                g[here] = 0
            g = wrap(g)
            where = f"seed {seed} step {step} op {op.name} part {p}"
            if storage == "registers":
                assert _unpack(ctx.get(dut.fields), f, n) == list(g[:n]), where
            assert ctx.get(dut.states) == _bits(s[:n]), where
            assert ctx.get(dut.flags) == _bits(np.where(s[:n] == 1, g[:n] < 0, g[:n] >= 0)
                                               & ~held), where
            p = next_p                             # the lanes now read part next_p
            ctx.set(dut.op, FieldOp.HOLD)          # (ZERO_FIELDS reads 0 into the adder)
            here = np.arange(p * big_l, (p + 1) * big_l)
            lanes = _unpack(ctx.get(dut.lane_fields), f + 1, big_l, signed=False)
            assert [v & ((1 << f) - 1) for v in lanes] == list(g[here] % (1 << f)), where
            assert [v >> f for v in lanes] == list(s[here]), where

    sim.add_testbench(bench)
    sim.run()


def test_parted_field_array_refuses_bad_parameters():
    config = NetworkConfig(neurons=13, lanes=2)
    with pytest.raises(ValueError, match="parts must be an integer from 1 to 13, not 14"):
        PartedFieldArray(config, 14)
    with pytest.raises(ValueError, match="storage must be one of registers, lutram, not 'bram'"):
        PartedFieldArray(config, 2, "bram")
    # 4 parts of whole chunks of K = 6: 6 lanes, the fourth part would start at neuron 18
    with pytest.raises(ValueError, match="4 parts of 6 lanes .* leave the last part without "
                                         "a neuron at N = 16"):
        part_lanes(16, 4, 6)
    assert part_lanes(1024, 4, 6) == 258 and part_lanes(1024, 1, 6) == 1026


def test_engine_blocks_column_core_in_parts(tmp_path, capsys):
    """``engine_blocks column_core OUT.il --parts P [--storage lutram]`` (docs/engine.md,
    "The field array in parts"): the core's field array is the parted one with L lanes (whole
    chunks of K), its store P times deeper; --parts is refused for other blocks and where a
    part would hold no neuron."""
    from hopfield_fpga.hw.engine_blocks import main
    out = tmp_path / "core.il"
    main(["column_core", str(out), "--neurons", "48", "--parts", "4"])  # K = 6: L = 12
    text = out.read_text()
    assert "gsel11" in text and "gsel12" not in text
    assert "memory width 36 size 192 \\memory" in text   # 48 columns x 4 parts of 2 chunks
    assert "parts = 4" in capsys.readouterr().out
    main(["column_core", str(out), "--neurons", "48", "--parts", "4", "--storage", "lutram"])
    text = out.read_text()                                # a P-deep RAM a lane
    assert re.search(r"memory width \d+ size 4 \\ram11", text) and "\\ram12" not in text
    # the part register in kept copies, one per PART_GROUP lanes: L = 54 at N = 200, 4 copies
    main(["column_core", str(out), "--neurons", "200", "--parts", "4", "--storage", "lutram"])
    text = out.read_text()
    assert PART_GROUP == 16 and text.count("cell \\TRELLIS_FF \\part_ff") == 4 * 2
    assert "attribute \\keep 1\n  cell \\TRELLIS_FF \\part_ff3_1" in text
    main(["column_core", str(out), "--neurons", "16"])
    assert "gsel0" not in out.read_text()                 # parts = 1: the engine's FieldArray
    for argv, message in ((["select_rank", str(out), "--parts", "2"], "column_core block only"),
                          (["column_core", str(out), "--neurons", "16", "--parts", "4"],
                           "leave the last part without a neuron"),
                          (["column_core", str(out), "--neurons", "48", "--parts", "3"],
                           "parts must be a power of 2")):
        with pytest.raises(SystemExit):
            main(argv)
        assert message in capsys.readouterr().err
