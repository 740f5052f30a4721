"""The weight-read bound (``hw/memory_bound.py``), ``hopfield bench bound``, the benchmark's
choice of weights, and the warning of a saturating store that clips."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.host import cli
from hopfield_fpga.host.board import Board
from hopfield_fpga.hw.boards import ECP5_25F, ECP5_85F, ICE40_UP5K, get_board
from hopfield_fpga.hw.memory_bound import WeightsDoNotFit, column_cycles, weight_memories
from hopfield_fpga.sim import bench_engine, golden


def _config(n, w):
    return NetworkConfig(neurons=n, weight_bits=w, lanes=min(n, 4))


@pytest.mark.parametrize("device, n, w, cycles", [
    # 208 DP16KD hold 18 bits of each of 1024 columns and read 36 a cycle: one column a cycle
    (ECP5_85F, 1024, 3, 1),
    (ECP5_85F, 256, 8, 1),
    # 56 DP16KD, 72 bits of each of 256 columns each, 36 a cycle: 2048 bits in 2 cycles
    (ECP5_25F, 256, 8, 2),
    # UP5K: 30 block RAMs (16 bits of each column, 16 a cycle) + 4 SPRAMs (16 a cycle):
    # 480 + 64 T >= 2048 at 8 bits, >= 1024 at 4 bits
    (ICE40_UP5K, 256, 8, 25),
    (ICE40_UP5K, 256, 4, 9),
])
def test_column_cycles_of_the_boards(device, n, w, cycles):
    assert column_cycles(device, _config(n, w)) == cycles


def test_weights_that_do_not_fit_are_refused():
    with pytest.raises(WeightsDoNotFit, match=r"1024 x 1024 weights of 8 bits .* iCE40UP5K"):
        column_cycles(ICE40_UP5K, _config(1024, 8))


@settings(max_examples=200, deadline=None)
@given(device=st.sampled_from([ICE40_UP5K, ECP5_25F, ECP5_85F]),
       n=st.integers(1, 1024), w=st.integers(1, 16))
def test_column_cycles_is_the_least_that_delivers_a_column(device, n, w):
    mems = weight_memories(device)
    capacity = sum(m.count * m.bits for m in mems)
    need = n * w

    def delivered(t):      # bits of one column in t cycles, the weights spread evenly
        return sum(m.count * min(m.bits / n, max(s[0] for s in m.shapes) * t) for m in mems)
    if n * need > capacity:
        with pytest.raises(WeightsDoNotFit):
            column_cycles(device, _config(n, w))
        return
    t = column_cycles(device, _config(n, w))
    assert t >= 1 and delivered(t) >= need, (device.name, n, w, t)
    assert t == 1 or delivered(t - 1) < need, (device.name, n, w, t)


def test_bench_weights_quantize_where_the_saturating_rule_clips():
    rng = np.random.default_rng(3)
    narrow = NetworkConfig(neurons=64, weight_bits=3, lanes=4)
    wide = NetworkConfig(neurons=64, weight_bits=8, lanes=4)
    pats = rng.choice([-1, 1], (7, 64))                    # 7 > W_MAX = 3 at 3 bits
    store, w = bench_engine.bench_weights(narrow, pats)
    assert store == "quantized"
    assert np.array_equal(w, golden.store_hebbian_quantized(pats, config=narrow))
    store, w = bench_engine.bench_weights(wide, pats)
    assert store == "hebbian"
    assert np.array_equal(w, pats.T @ pats - 7 * np.eye(64, dtype=np.int64))
    # the board benchmark's 85F workload recalls its pattern from a 10% probe
    cfg = get_board("ecpix5-85f").default_config
    work = bench_engine.bench_workload(cfg, noises=(0.1,), orders=[cfg.orders[0]])
    assert work.store == "quantized"
    probe = work.probes[0]
    got = golden.run_binary(work.weights, None, probe["state"], config=cfg, order=probe["order"],
                            seed=probe["seed"], max_visits=probe["max_visits"])
    assert np.array_equal(got.state, work.patterns[0])


def test_bench_bound_cli_json(capsys):
    assert cli.main(["bench", "bound", "--boards", "ulx3s-25f", "--repeats", "1",
                     "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    cfg = get_board("ulx3s-25f").default_config
    assert len(rows) == 2 * len(cfg.orders)
    for r in rows:
        assert r["column_cycles"] == column_cycles(ECP5_25F, cfg)
        assert r["bound_cycles"] == r["flips"] * r["column_cycles"]
        assert r["engine_bound_cycles"] == r["flips"] * cfg.chunks     # the lanes engine
        assert r["bound_us"] == pytest.approx(r["bound_cycles"] / r["clock_hz"] * 1e6, abs=1e-3)
        assert r["cpu_us"] > 0 and -1 <= r["overlap"] <= 1


def test_bench_bound_cli_refuses_weights_that_do_not_fit(capsys):
    assert cli.main(["bench", "bound", "--boards", "ulx3s-25f", "--weight-bits", "16"]) != 0
    assert "do not fit" in capsys.readouterr().err


def test_a_saturating_store_that_clips_warns():
    rng = np.random.default_rng(5)
    with Board.open("cpu://?neurons=16&lanes=4&weight_bits=3") as board:
        pats = rng.choice([-1, 1], (4, 16))
        with pytest.warns(UserWarning, match=r"4 patterns .* clip at \+-3: .* quantized=True"):
            board.store(pats)
        board.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            board.store(pats[:3])                          # no sum reaches the clip
            board.store(pats, quantized=True)
