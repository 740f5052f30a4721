"""Clamped neurons (§12), the synchronous order (§13) and the quantized Hebbian store (§14) of
``docs/numerics.md`` in the golden model and the host rule.

:func:`spec_reference.naive_run` is the spec's text for the run features, every field and every 2E
recomputed from scratch at every visit (no skipping); the golden model must agree with it
event for event on random networks, asymmetric ones included.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hopfield_fpga.config import NetworkConfig, Order
from hopfield_fpga.host import learning
from hopfield_fpga.host.board import Board
from hopfield_fpga.host.errors import BadInput, ConfigMismatch
from hopfield_fpga.numerics import factor_to_fixed, hebbian_clip_sigmas
from hopfield_fpga.sim import golden
from hopfield_fpga.sim.golden import run_binary
from spec_reference import naive_run

ORDERS = ("sequential", "random", "rejection_free", "synchronous")


def random_case(seed: int, *, symmetric: bool, max_n: int = 10):
    """A random network, state and clamp mask (about a third of the neurons held)."""
    r = np.random.default_rng(seed)
    n = int(r.integers(1, max_n + 1))
    w = r.integers(-16, 16, size=(n, n))
    if symmetric:
        w = np.triu(w) + np.triu(w, 1).T
    if r.random() < 0.5:
        np.fill_diagonal(w, 0)
    b = r.integers(-4, 5, size=n) * int(r.choice([0, 1, 3]))
    s = r.choice([-1, 1], size=n)
    held = r.random(n) < 0.3
    return w, b, s, held


run_settings = settings(max_examples=150, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow])


@run_settings
@given(seed=st.integers(0, 2**32 - 1), order=st.sampled_from(ORDERS),
       symmetric=st.booleans(), stochastic=st.booleans(), cap=st.integers(0, 60))
def test_golden_follows_the_spec_text(seed, order, symmetric, stochastic, cap):
    """Clamped runs in every order and mode, synchronous runs: equal to the spec's text event
    for event; clamped neurons never change and never appear in the trace."""
    w, b, s, held = random_case(seed, symmetric=symmetric)
    stochastic = stochastic and order in ("sequential", "random")
    schedule = [int(seed % 300), 40] if stochastic else None
    want, visits, trace, stop_reason, other = naive_run(w, b, s, held, order=order, seed=seed,
                                                    cap=cap, schedule=schedule)
    r = run_binary(w, b, s, order=order, seed=seed, max_visits=cap, beta_fixed=schedule,
                   trace=True, clamp=held)
    where = f"seed {seed}, order {order}, stochastic {stochastic}, cap {cap}"
    assert r.state.tolist() == want.tolist(), where
    assert (r.visits, r.stop_reason, list(r.trace)) == (visits, stop_reason, trace), where
    assert (other is None) == (r.cycle_state is None), where
    if other is not None:
        assert r.cycle_state.tolist() == other.tolist(), where
    assert np.array_equal(r.state[held], s[held]), where
    assert not any(held[e.index] for e in r.trace), where
    h = w @ r.state + b
    assert r.converged == (not np.any((r.state * h < 0) & ~held)), where
    assert r.energy2 == golden.energy2(w, b, r.state), where


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), order=st.sampled_from(ORDERS))
def test_no_clamp_is_todays_run(seed, order):
    """An all-False mask and an empty list give exactly the unclamped run (§12)."""
    w, b, s, _ = random_case(seed, symmetric=bool(seed & 1), max_n=12)
    kw = dict(order=order, seed=seed, max_visits=200, trace=True)
    plain = run_binary(w, b, s, **kw)
    assert run_binary(w, b, s, clamp=np.zeros(len(s), dtype=bool), **kw) == plain
    assert run_binary(w, b, s, clamp=[], **kw) == plain


def test_mask_and_indices_agree():
    w, b, s, held = random_case(7, symmetric=True, max_n=12)
    held[:2] = True
    kw = dict(order="random", seed=3, max_visits=300, trace=True)
    assert run_binary(w, b, s, clamp=held, **kw) == \
        run_binary(w, b, s, clamp=list(np.flatnonzero(held)), **kw)


@pytest.mark.parametrize("clamp, error, words", [
    (np.ones(5, dtype=bool), ValueError, "one entry per neuron (4), not 5"),
    ([0.5, 1.0], TypeError, "dtype float64"),
    (["a"], TypeError, "dtype <U1"),
    ([1, 4], ValueError, "clamp index 4 (entry 1) is not a neuron: indices are in [0, 3]"),
    ([-1], ValueError, "clamp index -1"),
    ([2, 2], ValueError, "clamp index 2 is given 2 times"),
    ([0, 1, 1, 0], ValueError, "a 0/1 mask? pass it as a bool array"),
    ([[0, 1]], ValueError, "shape (1, 2)"),
])
def test_bad_clamp_is_refused(clamp, error, words):
    w = np.zeros((4, 4), dtype=int)
    with pytest.raises(error) as info:
        run_binary(w, None, [1, -1, 1, -1], clamp=clamp)
    assert words in str(info.value)


@pytest.mark.parametrize("seed", range(40))
def test_synchronous_symmetric_ends_in_a_fixed_point_or_a_2_cycle(seed):
    """Goles: symmetric W (any diagonal, clamped or not) never needs the cap; a reported
    2-cycle really is one: a step from each state gives the other."""
    w, b, s, held = random_case(seed, symmetric=True, max_n=16)
    held &= seed % 2 == 0
    r = run_binary(w, b, s, order="synchronous", clamp=held)
    assert r.stop_reason in ("converged", "cycle2"), f"seed {seed}"
    if r.stop_reason == "cycle2":
        step = dict(order="synchronous", max_sweeps=1, clamp=held)
        assert run_binary(w, b, r.state, **step).state.tolist() == r.cycle_state.tolist()
        assert run_binary(w, b, r.cycle_state, **step).state.tolist() == r.state.tolist()
        assert not r.converged and r.visits % len(s) == 0 and r.visits >= 2 * len(s)


def test_a_2_cycle_is_reported_with_both_states():
    w = np.array([[0, -1], [-1, 0]])
    r = run_binary(w, None, [1, 1], order="synchronous")
    assert (r.stop_reason, r.state.tolist(), r.cycle_state.tolist()) == ("cycle2", [1, 1], [-1, -1])
    assert (r.visits, r.flips, r.sweeps, r.converged) == (4, 4, 2, False)
    assert r.to_dict()["cycle_state"] == [-1, -1]


@pytest.mark.parametrize("seed", range(30))
def test_two_state_lyapunov_never_increases(seed):
    """L(s(t), s(t-1)) = -sum W_ij s_i(t) s_j(t-1) - sum b_i (s_i(t) + s_i(t-1)) (§13)."""
    w, b, s, held = random_case(seed + 1000, symmetric=True, max_n=16)
    states = [np.asarray(s)]
    for _ in range(12):
        states.append(run_binary(w, b, states[-1], order="synchronous", max_sweeps=1,
                                 clamp=held).state.astype(np.int64))
    lyap = [int(-(a @ w @ p) - b @ (a + p)) for p, a in zip(states, states[1:])]
    assert all(x >= y for x, y in zip(lyap, lyap[1:])), f"seed {seed}: {lyap}"


def test_synchronous_cap_counts_whole_steps():
    w = np.array([[0, 1], [-1, 0]])               # asymmetric: a 4-cycle
    r = run_binary(w, None, [1, 1], order="synchronous", max_visits=7)
    assert (r.stop_reason, r.visits, r.sweeps) == ("cap", 6, 3)


def test_synchronous_has_no_stochastic_form():
    with pytest.raises(ValueError, match="synchronous has no stochastic form"):
        run_binary(np.zeros((3, 3), dtype=int), None, [1, 1, 1], order="synchronous",
                   beta=1.0, max_sweeps=2)


# -- the quantized Hebbian store (§14) ----------------------------------------------------------

def reference_quantized(patterns, weight_bits):
    """§14 in fractions: the float scale, its (m, e) form, exact rounding half away."""
    p = np.asarray(patterns, dtype=np.int64)
    wmax = (1 << (weight_bits - 1)) - 1
    real = min(1.0, wmax / (hebbian_clip_sigmas(weight_bits) * np.sqrt(len(p))))
    m, e = factor_to_fixed(real)
    assert abs(m / 2**e - real) <= real * 2**-15
    scale = Fraction(m, 2**e)
    s = p.T @ p
    np.fill_diagonal(s, 0)
    out = np.zeros_like(s)
    for (i, j), x in np.ndenumerate(s):
        y = scale * int(x)
        q = int(abs(y) + Fraction(1, 2)) * (1 if y >= 0 else -1)   # half away from zero
        out[i, j] = max(-wmax, min(wmax, q))
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), wbits=st.integers(2, 8), count=st.integers(1, 300))
def test_quantized_store_equals_the_reference(seed, wbits, count):
    r = np.random.default_rng(seed)
    n = int(r.integers(2, 12))
    pats = r.choice([-1, 1], size=(count, n))
    cfg = NetworkConfig(neurons=n, weight_bits=wbits, lanes=1)
    got = learning.hebbian_quantized(pats, cfg)
    assert np.array_equal(got, reference_quantized(pats, wbits)), f"seed {seed}"
    assert np.array_equal(got, golden.store_hebbian_quantized(pats, config=cfg))
    assert np.array_equal(got, got.T) and not np.diagonal(got).any()


def test_quantized_store_small_p_is_exact_hebbian():
    pats = np.random.default_rng(5).choice([-1, 1], size=(3, 20))
    cfg = NetworkConfig(neurons=20, weight_bits=8, lanes=1)
    assert np.array_equal(learning.hebbian_quantized(pats, cfg), learning.hebbian(pats))


def test_quantized_store_refusals():
    cfg1 = NetworkConfig(neurons=4, weight_bits=1, lanes=1)
    with pytest.raises(ValueError, match="at least 2 bits"):
        golden.store_hebbian_quantized([[1, -1, 1, 1]], config=cfg1)
    cfg = NetworkConfig(neurons=4, weight_bits=3, lanes=1)
    with pytest.raises(ValueError, match="scale must be a positive number"):
        golden.store_hebbian_quantized([[1, -1, 1, 1]], config=cfg, scale=-1.0)
    with pytest.raises(ValueError, match="pattern 0"):
        golden.store_hebbian_quantized([[1, 0, 1, 1]], config=cfg)


def test_every_pattern_recalls_as_well_as_the_newest():
    """N = 256, 3-bit weights, P = 26 (alpha = 0.1), 10% noise: under the quantized store the
    older half recalls like the newer half; the saturating store (§9) forgets it."""
    n, count, seed = 256, 26, 2024
    r = np.random.default_rng(seed)
    pats = r.choice([-1, 1], size=(count, n))
    cfg = NetworkConfig(neurons=n, weight_bits=3, lanes=8)

    def overlaps(w):
        out = []
        for p in pats:
            probe = p * np.where(r.random(n) < 0.1, -1, 1)
            res = run_binary(w, None, probe, order="rejection_free", seed=seed, config=cfg)
            out.append(float(res.state @ p) / n)
        return out

    quantized = overlaps(learning.hebbian_quantized(pats, cfg))
    saturating = overlaps(golden.store_hebbian(np.zeros((n, n), dtype=int), pats, config=cfg))
    print(f"seed {seed}: quantized {quantized}\nsaturating {saturating}")
    half = count // 2
    assert min(quantized) >= 0.95
    assert np.mean(quantized[:half]) >= np.mean(quantized[half:]) - 0.02
    assert np.mean(saturating[:half]) < 0.5 < 0.95 <= saturating[-1]   # tells them apart


# -- through the Board API on cpu:// and the CLI -------------------------------------------------

CPU = "cpu://?neurons=24&weight_bits=4&lanes=4"


@pytest.mark.parametrize("seed", [11, 12])
def test_cpu_board_clamp_and_synchronous_equal_golden(seed):
    r = np.random.default_rng(seed)
    with Board.open(CPU) as board:
        cfg = board.config
        assert Order.SYNCHRONOUS not in cfg.orders        # an extra of cpu://, not configured
        w = r.integers(cfg.weight_min, cfg.weight_max + 1, (24, 24))
        w = np.clip((w + w.T) // 2, cfg.weight_min, cfg.weight_max)
        b = r.integers(-5, 6, 24)
        board.load_weights(w, b)
        gcfg = cfg.with_(orders=tuple(Order))          # the golden model's run of every order
        held = r.random(24) < 0.4
        probes = r.choice([-1, 1], (6, 24))
        for order in ORDERS:
            kw = dict(order=order, seed=seed, clamp=held, max_sweeps=50)
            got = board.recall(probes[0], trace=True, **kw)
            assert got == run_binary(w, b, probes[0], trace=True, config=gcfg, **kw), \
                f"seed {seed} {order}"
            many = board.recall_many(probes, **kw)
            for i, (p, res) in enumerate(zip(probes, many)):
                assert res == run_binary(w, b, p, config=gcfg, **kw), f"seed {seed} {order} {i}"
        stoch = board.recall(probes[1], order="random", beta=1.5, max_sweeps=4, seed=seed,
                             clamp=list(np.flatnonzero(held)))
        assert stoch == run_binary(w, b, probes[1], order="random", beta=1.5, max_sweeps=4,
                                   seed=seed, clamp=held, config=cfg)


def test_cpu_board_reports_a_2_cycle_and_stores_quantized():
    with Board.open("cpu://?neurons=2&weight_bits=2&lanes=1") as board:
        board.load_weights([[0, -1], [-1, 0]])
        res = board.recall([1, 1], order="synchronous")
        assert (res.stop_reason, res.cycle_state.tolist()) == ("cycle2", [-1, -1])
        assert board.status().to_dict()["stop_reason"] == "cycle2"
    pats = np.random.default_rng(9).choice([-1, 1], (40, 24))
    with Board.open(CPU) as board:
        board.store(pats, quantized=True)
        assert np.array_equal(board.read_weights(), learning.hebbian_quantized(pats, board.config))
        board.store(pats, quantized=True, scale=0.25)
        assert np.array_equal(board.read_weights(),
                              learning.hebbian_quantized(pats, board.config, scale=0.25))
        with pytest.raises(BadInput, match="quantized=True"):
            board.store(pats, scale=0.5)
        with pytest.raises(ConfigMismatch, match="clamp index 24"):
            board.recall(pats[0], clamp=[24])
        with pytest.raises(BadInput, match="not synchronous"):
            board.recall(pats[0], order="synchronous", beta=1.0, max_sweeps=2)


def test_cli_recall_with_clamp_and_synchronous(capsys):
    import json
    from hopfield_fpga.host import cli
    url = "cpu://?neurons=64&weight_bits=4&lanes=4"
    assert cli.main(["recall", "--url", url, "--random", "3", "--clamp", "0-31",
                     "--order", "synchronous", "--noise", "0.3", "--quantized", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["results"][0]
    assert row["matches_golden"] and row["stop_reason"] in ("converged", "cycle2", "cap")
    assert cli.main(["recall", "--url", url, "--clamp", "0-64"]) == 2
    assert "clamp index 64" in capsys.readouterr().err


def test_cli_demo_completes_a_glyph_from_its_top_half(capsys):
    import json
    from hopfield_fpga.host import cli
    for argv in (["--golden"], ["--url", "cpu://?neurons=256&weight_bits=8&lanes=8"]):
        assert cli.main(["demo", "--clamp", "top", "--json", *argv]) == 0
        d = json.loads(capsys.readouterr().out)
        assert d["success"] and d["clamp"] == "top" and d["held"] == list(range(128))
        assert d["result"]["state"][:128] == d["probe"][:128]


def test_bench_capacity_rows(capsys):
    """The capacity benchmark's plumbing at a small N (the numbers are in docs/capacity.md)."""
    import json
    from hopfield_fpga.host import cli
    assert cli.main(["bench", "capacity", "--neurons", "128", "--alphas", "0.1", "--json"]) == 0
    rows = {r["store"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(rows) == {"float", "saturating", "quantized", "max-abs"}
    assert rows["float"]["ratio_to_float"] == 1.0 and rows["quantized"]["patterns"] == 13
    assert rows["quantized"]["oldest_tenth"] > rows["saturating"]["oldest_tenth"] + 0.3


def test_bench_capacity_on_a_board_url(capsys):
    """``--url``: the board's configuration, and a row of its own store whose recalls equal
    the CPU twin's (the board's weights are checked equal before the row is written)."""
    import json
    from hopfield_fpga.host import cli
    assert cli.main(["bench", "capacity", "--alphas", "0.2", "--json", "--url",
                     "cpu://?neurons=64&weight_bits=3&lanes=8"]) == 0
    rows = {r["store"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(rows) == {"float", "saturating", "quantized", "max-abs", "quantized@board"}
    assert rows["quantized@board"]["neurons"] == 64 and rows["quantized@board"]["patterns"] == 13
    board, cpu = rows["quantized@board"], rows["quantized"]
    assert {k: v for k, v in board.items() if k != "store"} == \
        {k: v for k, v in cpu.items() if k != "store"}
    assert cli.main(["bench", "capacity", "--neurons", "64", "--url", "cpu://"]) == 2
    assert "exclude each other" in capsys.readouterr().err


def test_only_the_column_engine_builds_the_synchronous_order():
    """numerics.md §13 is in the column engine's gateware only: the K-lane engine refuses a
    configuration listing it, naming the order and the engine that has it, before
    elaborating anything."""
    from amaranth.hdl import Fragment
    from hopfield_fpga.gateware.binary_engine import BinaryEngine
    from hopfield_fpga.gateware.engine.column_engine import ColumnEngine
    config = NetworkConfig(neurons=8, lanes=2, weight_bits=3, orders=list(Order))
    with pytest.raises(ValueError, match="synchronous order .* only in the column engine"):
        BinaryEngine(config)
    Fragment.get(ColumnEngine(config), None)


# -- through the Board API on sim:// (the column engine's gateware) -------------------------------

SIM_COLUMN = ("sim://?neurons=12&lanes=4&weight_bits=4&engine=column&backend=icarus"
              "&orders=sequential,random,rejection_free,synchronous")


def _without_cycles(result):
    import dataclasses
    return dataclasses.replace(result, cycles=None)


@pytest.mark.slow
def test_sim_column_board_clamps_and_runs_synchronous_like_cpu(require_tool):
    """Clamped recalls on the column engine's gateware (sim://, Icarus) equal cpu://'s bit for
    bit in every order (synchronous included), traced, stochastic and through recall_many; a
    run without a mask lets every neuron move again; a synchronous 2-cycle comes back with
    its other state."""
    require_tool("icarus")
    seed = 21
    r = np.random.default_rng(seed)
    with Board.open(SIM_COLUMN) as sim, Board.open(SIM_COLUMN.replace("sim://", "cpu://")
                                                   .replace("&backend=icarus", "")) as cpu:
        cfg = sim.config
        n = cfg.neurons
        w = r.integers(cfg.weight_min, cfg.weight_max + 1, (n, n))
        w = np.clip((w + w.T) // 2, cfg.weight_min, cfg.weight_max)
        b = r.integers(-5, 6, n)
        for board in (sim, cpu):
            board.load_weights(w, b)
        held = r.random(n) < 0.4
        probes = r.choice([-1, 1], (3, n))
        runs = [dict(order=o.name.lower(), seed=seed, clamp=held, max_sweeps=20, trace=True)
                for o in cfg.orders]
        runs += [dict(order="random", beta=1.5, max_sweeps=3, seed=seed, trace=True,
                      clamp=list(np.flatnonzero(held))),
                 dict(order="sequential", seed=seed, max_sweeps=20)]      # no mask: all move
        for kw in runs:
            got, want = sim.recall(probes[0], **kw), cpu.recall(probes[0], **kw)
            assert _without_cycles(got) == want, f"seed {seed} {kw}"
        kw = dict(order="rejection_free", seed=seed, clamp=held, max_sweeps=20)
        many = sim.recall_many(probes, **kw)
        assert [_without_cycles(x) for x in many] == cpu.recall_many(probes, **kw), \
            f"seed {seed} recall_many"
        assert all(np.array_equal(x.state[held], p[held]) for x, p in zip(many, probes))
        # All couplings negative: the synchronous run ends in the 2-cycle all -1 <-> all +1.
        w = -3 * (1 - np.eye(n, dtype=int))
        for board in (sim, cpu):
            board.load_weights(w, np.zeros(n, int))
        kw = dict(order="synchronous", max_sweeps=20)
        got = sim.recall_many(probes[:2], **kw)
        assert [_without_cycles(x) for x in got] == cpu.recall_many(probes[:2], **kw)
        assert got[0].stop_reason == "cycle2" and set(got[0].cycle_state) == {1}, got[0]
        got = sim.recall(probes[0], trace=True, **kw)
        assert _without_cycles(got) == cpu.recall(probes[0], trace=True, **kw)


def test_lanes_engine_refusal_names_the_column_engine():
    """MissingEngineFeature tells where clamping is: cpu:// and engine=column boards."""
    from hopfield_fpga.host.errors import MissingEngineFeature
    from hopfield_fpga.host.inputs import run_spec
    cfg = NetworkConfig(neurons=8, lanes=2, weight_bits=3)
    with pytest.raises(MissingEngineFeature, match=r"no clamping yet .*engine=column"):
        run_spec(cfg, order="sequential", seed=1, max_sweeps=2, max_visits=None, beta=None,
                 trace=False, clamp=[0], where="sim://test")
