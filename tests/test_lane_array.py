"""Amaranth-simulator tests of the K-lane engine's lane blocks (``gateware/lane_array.py``)
against a Python model of ``docs/numerics.md`` §4, §6 and §9; the seeds are named in every
failure message. (The blocks inside the engine: tests/test_binary_engine*.py.)"""

from __future__ import annotations

import random
import re

import pytest
from amaranth.sim import Simulator

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.gateware.lane_array import HebbianLanes, LaneArray, PassMode
from hopfield_fpga.protocol import pack_lanes, unpack_lanes
from hopfield_fpga.sim.tb.engine_driver import run_comb_cases

CONFIGS = [NetworkConfig(neurons=10, lanes=4, weight_bits=4),
           NetworkConfig(neurons=7, lanes=7, weight_bits=2),
           NetworkConfig(neurons=64, lanes=8, weight_bits=8)]


def _bits(values) -> int:
    return sum(int(v) << i for i, v in enumerate(values))


def _model(case, k):
    """New fields, states and tree terms of one chunk (s as bits, 1 = +1)."""
    mode, sign, flip, lane, w, h, b, s = (case[x] for x in "mode sign flip lane w h b s".split())
    pm = 1 if sign else -1
    pms = [1 if x else -1 for x in s]
    if mode == PassMode.FLIP:
        h_new = [h[i] + 2 * pm * w[i] for i in range(k)]
        terms = [pms[i] * w[i] for i in range(k)]               # s_i W_ij (column field)
    elif mode == PassMode.ADDCOL:
        h_new, terms = [h[i] + pm * w[i] for i in range(k)], [0] * k
    elif mode == PassMode.INIT:
        h_new, terms = list(b), [0] * k
    else:
        h_new = list(h)
        terms = [-pms[i] * (h[i] + b[i]) for i in range(k)]     # -s_i (h_i + b_i) (2E)
    s_new = [sign if flip and i == lane and mode == PassMode.FLIP else s[i] for i in range(k)]
    unstable = [(hn < 0) if sn else (hn > 0) for hn, sn in zip(h_new, s_new)]
    return h_new, s_new, terms, unstable


@pytest.mark.parametrize("early", [False, True])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"N{c.neurons}K{c.lanes}")
def test_lane_array_matches_model(config, early):
    """Random chunks in every pass mode, one per cycle: the registered fields, states and
    terms and the masked unstable flags and count (and the early flags of FLIP passes)."""
    k, wb, bb, a = config.lanes, config.weight_bits, config.bias_bits, config.acc_bits
    seed = 4200 + config.neurons + early
    rnd = random.Random(seed)
    dut = LaneArray(config, early_flags=early)
    bound = config.field_bound
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def bench(ctx):
        for step in range(300):
            case = {"mode": rnd.choice(list(PassMode)), "sign": rnd.randrange(2),
                    "flip": rnd.randrange(2), "lane": rnd.randrange(k),
                    "w": [rnd.randint(config.weight_min, config.weight_max) for _ in range(k)],
                    "h": [rnd.randint(-bound // 2, bound // 2) for _ in range(k)],
                    "b": [rnd.randint(-(1 << (bb - 1)), (1 << (bb - 1)) - 1) for _ in range(k)],
                    "s": [rnd.randrange(2) for _ in range(k)]}
            mask = [rnd.random() < 0.8 for _ in range(k)]
            ctx.set(dut.mode, case["mode"])
            ctx.set(dut.sign, case["sign"])
            ctx.set(dut.flip, case["flip"])
            ctx.set(dut.flip_lane, case["lane"])
            ctx.set(dut.w_word, pack_lanes(case["w"], wb))
            ctx.set(dut.h_word, pack_lanes(case["h"], a))
            ctx.set(dut.b_word, pack_lanes(case["b"], bb))
            ctx.set(dut.s_word, _bits(case["s"]))
            if early:
                ctx.set(dut.early_mask, _bits(mask))
            await ctx.tick()
            ctx.set(dut.mask, _bits(mask))
            h_new, s_new, terms, unstable = _model(case, k)
            flags = [u and m for u, m in zip(unstable, mask)]
            where = f"seed {seed}, step {step}, case {case}, mask {mask}"
            assert unpack_lanes(ctx.get(dut.h_next), a, k) == h_new, where
            assert ctx.get(dut.s_next) == _bits(s_new), where
            assert unpack_lanes(ctx.get(dut.terms.as_value()), dut.term_bits, k) == terms, where
            assert ctx.get(dut.unstable) == _bits(flags), where
            assert ctx.get(dut.count) == sum(flags), where
            if early and case["mode"] == PassMode.FLIP:
                assert ctx.get(dut.early_unstable) == _bits(flags), where
                assert ctx.get(dut.early_count) == sum(flags), where

    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"N{c.neurons}K{c.lanes}")
def test_hebbian_lanes_match_model(config):
    """Random words (the limits included) and patterns: W +- 1 saturating, kept lanes kept."""
    k, wb = config.lanes, config.weight_bits
    lo, hi = config.weight_min, config.weight_max
    seed = 4300 + config.neurons
    rnd = random.Random(seed)
    dut = HebbianLanes(config)
    cases = [([rnd.choice([lo, hi, rnd.randint(lo, hi)]) for _ in range(k)],
              [rnd.randrange(2) for _ in range(k)], rnd.randrange(2),
              [rnd.random() < 0.2 for _ in range(k)]) for _ in range(200)]

    async def check(ctx, case):
        w, p, pj, keep = case
        ctx.set(dut.w_word, pack_lanes(w, wb))
        ctx.set(dut.p_word, _bits(p))
        ctx.set(dut.pattern_j, pj)
        ctx.set(dut.keep, _bits(keep))
        want = [w[i] if keep[i] else min(hi, w[i] + 1) if p[i] == pj else max(lo, w[i] - 1)
                for i in range(k)]
        assert unpack_lanes(ctx.get(dut.w_next), wb, k) == want, f"seed {seed}, case {case}"

    run_comb_cases(dut, cases, check)


def test_engine_memories_keep_their_names():
    """hw/build.py puts the weights into SPRAM by the memory's name: no block member of the
    engine may shadow it (Amaranth would rename the memory, and yosys fall back to block RAM)."""
    from amaranth.back import rtlil

    from hopfield_fpga.gateware.binary_engine import BinaryEngine
    from hopfield_fpga.hw.build import WEIGHT_MEMORY_NAMES

    text = rtlil.convert(BinaryEngine(CONFIGS[0]), name="top")
    memids = set(re.findall(r'parameter \\MEMID "\\\\([^"]+)"', text))
    for name in (*WEIGHT_MEMORY_NAMES, "biases", "fields", "chunks", "pattern", "betas"):
        assert name in memids, (name, sorted(memids))
