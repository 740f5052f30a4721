"""Properties of the binary/stochastic golden model (``hopfield_fpga.sim.golden``).

The strongest check is :func:`spec_reference.naive_run`: ``docs/numerics.md`` §3-§8 written as directly as
possible (every field and every 2E recomputed from scratch at every visit, no skipping), which
must agree with the optimized golden model event for event on random networks, including
asymmetric ones and ones with a diagonal.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.numerics import draw_index, glauber_threshold
from hopfield_fpga.sim import golden
from hopfield_fpga.sim.golden import FlipEvent, RunResult, run_binary
from spec_reference import naive_run

ORDERS = ("sequential", "random", "rejection_free")


@st.composite
def networks(draw, symmetric=True, max_n=10, nonneg_diag=True, wbits=6):
    n = draw(st.integers(1, max_n))
    lim = 1 << (wbits - 1)
    seed = draw(st.integers(0, 2**32 - 1))
    r = np.random.default_rng(seed)
    w = r.integers(-lim, lim, size=(n, n))
    if symmetric:
        w = np.triu(w) + np.triu(w, 1).T
    diag_kind = draw(st.sampled_from(["zero", "any"]))
    if diag_kind == "zero":
        np.fill_diagonal(w, 0)
    elif nonneg_diag:
        np.fill_diagonal(w, np.abs(np.diagonal(w)).clip(0, lim - 1))
    b = r.integers(-4, 5, size=n) * draw(st.sampled_from([0, 1, 3]))
    s = r.choice([-1, 1], size=n)
    return w, b, s


run_settings = settings(max_examples=150, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow])


@run_settings
@given(net=networks(), order=st.sampled_from(ORDERS), seed=st.integers(0, 2**32 - 1))
def test_energy_never_increases_symmetric(net, order, seed):
    w, b, s = net
    r = run_binary(w, b, s, order=order, seed=seed, trace=True, max_sweeps=200)
    assert r.converged and r.stop_reason == "converged"
    for e in r.trace:
        assert e.delta_energy2 < 0, f"flip {e} raised the energy (order {order}, seed {seed})"
    assert golden.is_fixed_point(w, b, r.state)


@run_settings
@given(net=networks(), order=st.sampled_from(("sequential", "random")),
       seed=st.integers(0, 2**32 - 1))
def test_stochastic_at_largest_beta_never_increases_energy(net, order, seed):
    # At beta = 65535/256, |t| = 2 beta |h| >= 8 whenever h != 0: those visits are certain. An
    # h = 0 visit is a fair coin whose flip changes 2E by -4 W_jj <= 0.
    w, b, s = net
    r = run_binary(w, b, s, order=order, seed=seed, beta_fixed=65535, trace=True, max_sweeps=20)
    assert r.visits == 20 * len(s) and r.stop_reason == "cap"
    for e in r.trace:
        assert e.delta_energy2 <= 0, f"flip {e} raised the energy (order {order}, seed {seed})"


@run_settings
@given(net=networks(symmetric=False, nonneg_diag=False), order=st.sampled_from(ORDERS),
       seed=st.integers(0, 2**32 - 1), cap=st.integers(0, 60))
def test_matches_naive_reference_deterministic(net, order, seed, cap):
    # Asymmetric weights and negative diagonals may cycle: the cap ends those runs.
    w, b, s0 = net
    r = run_binary(w, b, s0, order=order, seed=seed, max_visits=cap, trace=True)
    s, visits, trace, stop_reason, _ = naive_run(w, b, s0, order=order, seed=seed, cap=cap)
    assert r.trace == tuple(trace), f"order {order} seed {seed}"
    assert (r.state == s).all() and r.visits == visits and r.stop_reason == stop_reason
    assert r.flips == len(trace) and r.converged == (stop_reason == "converged")
    assert r.energy2 == golden.energy2(w, b, s)


@run_settings
@given(net=networks(symmetric=False, nonneg_diag=False), order=st.sampled_from(ORDERS[:2]),
       seed=st.integers(0, 2**32 - 1), cap=st.integers(0, 60),
       schedule=st.lists(st.integers(0, 600), min_size=1, max_size=4))
def test_matches_naive_reference_stochastic(net, order, seed, cap, schedule):
    w, b, s0 = net
    r = run_binary(w, b, s0, order=order, seed=seed, max_visits=cap, beta_fixed=schedule,
                   trace=True)
    s, visits, trace, _, _ = naive_run(w, b, s0, order=order, seed=seed, cap=cap,
                                    schedule=schedule)
    assert r.trace == tuple(trace), f"order {order} seed {seed} schedule {schedule}"
    assert (r.state == s).all() and r.visits == visits == cap and r.stop_reason == "cap"
    assert r.converged == golden.is_fixed_point(w, b, s)


@run_settings
@given(net=networks(symmetric=False, nonneg_diag=False), order=st.sampled_from(ORDERS),
       seed=st.integers(0, 2**32 - 1))
def test_trace_deltas_sum_to_energy_change(net, order, seed):
    w, b, s = net
    r = run_binary(w, b, s, order=order, seed=seed, max_visits=100, trace=True)
    assert sum(e.delta_energy2 for e in r.trace) == r.energy2 - golden.energy2(w, b, s)
    assert r.sweeps == -(-r.visits // len(s))


@run_settings
@given(net=networks(), seed=st.integers(0, 2**32 - 1))
def test_rejection_free_visits_are_flips(net, seed):
    w, b, s = net
    r = run_binary(w, b, s, order="rejection_free", seed=seed, trace=True)
    assert r.visits == r.flips == len(r.trace)
    assert [e.visit for e in r.trace] == list(range(r.flips))


def test_incremental_fields_at_scale():
    # N = 300, Hebbian weights, a long stochastic run: every flip updates h by a column; the
    # model checks its incremental 2E against a from-scratch sum at the end, we check the state.
    rng = np.random.default_rng(7)
    n = 300
    pats = rng.choice([-1, 1], size=(10, n))
    w = pats.T @ pats
    np.fill_diagonal(w, 0)
    b = rng.integers(-5, 6, size=n)
    s = rng.choice([-1, 1], size=n)
    r = run_binary(w, b, s, order="random", seed=99, beta=0.05, max_sweeps=5, trace=True)
    assert r.flips > 100
    replay = s.copy()
    for e in r.trace:
        replay[e.index] = e.value
    assert (replay == r.state).all()
    assert r.energy2 == golden.energy2(w, b, r.state)


def test_ties_keep_the_state():
    # h = 0 everywhere: nothing is unstable, the run converges with 0 visits.
    n = 5
    r = run_binary(np.zeros((n, n), dtype=int), None, [1, -1, 1, -1, 1])
    assert (r.visits, r.flips, r.converged, r.stop_reason) == (0, 0, True, "converged")
    # Neuron 0 always has h = 0 and keeps its value; from [1, 1], neuron 1 (h = -2) flips at
    # visit 1, after the tie at visit 0.
    w = np.array([[0, 0], [-2, 0]])
    assert golden.local_fields(w, None, [-1, 1]).tolist() == [0, 2]
    r = run_binary(w, None, [-1, 1], trace=True)
    assert (r.state.tolist(), r.visits, r.converged) == ([-1, 1], 0, True)
    r = run_binary(w, None, [1, 1], trace=True)
    assert r.trace == (FlipEvent(1, 1, -1, r.trace[0].delta_energy2),)
    assert list(r.state) == [1, -1]


def test_sequential_visit_numbering():
    # Only neuron 3 of 6 is unstable: the first (and only) flip happens at visit 3.
    w = np.zeros((6, 6), dtype=int)
    b = np.array([1, 1, 1, 1, 1, 1])
    s = np.array([1, 1, 1, -1, 1, 1])
    r = run_binary(w, b, s, trace=True)
    assert r.visits == 4 and r.flips == 1 and r.sweeps == 1
    assert r.trace == (FlipEvent(3, 3, 1, -4),)
    # Unstable neurons 1 and 4 with the start at 0: flips at visits 1 and 4, then converged.
    s = np.array([1, -1, 1, 1, -1, 1])
    r = run_binary(w, b, s, trace=True)
    assert [e.visit for e in r.trace] == [1, 4] and r.visits == 5


def test_caps():
    # A 2-cycle: W = [[0, 1], [-1, 0]] never settles under sequential updates.
    w = np.array([[0, 1], [-1, 0]])
    r = run_binary(w, None, [1, 1], max_visits=7)
    assert (r.visits, r.stop_reason, r.converged, r.sweeps) == (7, "cap", False, 4)
    r = run_binary(w, None, [1, 1], max_sweeps=3, order="random", seed=5)
    assert (r.visits, r.stop_reason) == (6, "cap")
    r = run_binary(w, None, [1, 1], max_visits=0)
    assert (r.visits, r.stop_reason, r.flips) == (0, "cap", 0)
    # A fixed point reached exactly at the cap is reported as converged (checked first).
    w = np.zeros((3, 3), dtype=int)
    r = run_binary(w, [1, 1, 1], [-1, -1, -1], max_visits=3)
    assert (r.visits, r.stop_reason, r.converged) == (3, "converged", True)
    r = run_binary(w, [1, 1, 1], [-1, -1, -1], max_visits=2)
    assert (r.visits, r.stop_reason, r.converged) == (2, "cap", False)


def test_fixed_seeds_reproduce():
    rng = np.random.default_rng(3)
    n = 64
    pats = rng.choice([-1, 1], size=(4, n))
    w = pats.T @ pats
    np.fill_diagonal(w, 0)
    s = rng.choice([-1, 1], size=n)
    for kw in ({"order": "random"}, {"order": "rejection_free"},
               {"order": "random", "beta": [0.1, 0.5, 2.0], "max_sweeps": 4},
               {"order": "sequential", "beta": 0.02, "max_sweeps": 4}):
        a = run_binary(w, None, s, seed=1234, trace=True, **kw)
        assert a == run_binary(w, None, s, seed=1234, trace=True, **kw), kw
        c = run_binary(w, None, s, seed=4321, trace=True, **kw)
        assert a.trace != c.trace, kw


def test_seed_zero_is_the_documented_state():
    n = 8
    w = np.zeros((n, n), dtype=int)
    b = np.ones(n, dtype=int)
    s = -np.ones(n, dtype=int)
    # Every neuron is unstable (b = 1, s = -1), so the first visit flips the first drawn index.
    from hopfield_fpga.numerics import XORSHIFT_ZERO_SEED, fmix32
    for seed, state in ((0, XORSHIFT_ZERO_SEED), (12345, fmix32(12345))):
        first = run_binary(w, b, s, order="random", seed=seed, trace=True).trace[0]
        assert first.index == draw_index(state, n)[0], seed


def test_beta_api():
    w = np.zeros((4, 4), dtype=int)
    s = [1, 1, -1, -1]
    a = run_binary(w, None, s, beta=[0.5, 1.0], max_sweeps=3, trace=True)
    b = run_binary(w, None, s, beta_fixed=[128, 256], max_sweeps=3, trace=True)
    assert a == b
    with pytest.raises(ValueError, match="not both"):
        run_binary(w, None, s, beta=1.0, beta_fixed=256, max_sweeps=1)
    with pytest.raises(ValueError, match="max_visits"):
        run_binary(w, None, s, beta=1.0)
    with pytest.raises(ValueError, match="rejection_free"):
        run_binary(w, None, s, beta=1.0, order="rejection_free", max_sweeps=1)
    with pytest.raises(ValueError, match="1 to 64"):
        run_binary(w, None, s, beta_fixed=[1] * 65, max_sweeps=1)
    with pytest.raises(ValueError, match="beta_fixed"):
        run_binary(w, None, s, beta_fixed=[65536], max_sweeps=1)
    with pytest.raises(ValueError, match="beta"):
        run_binary(w, None, s, beta=-1.0, max_sweeps=1)


def test_input_validation():
    cfg = NetworkConfig(neurons=3, weight_bits=4, bias_bits=3, lanes=1)
    w = np.zeros((3, 3), dtype=int)
    with pytest.raises(ValueError, match=r"weights\[0, 1\] = 8 does not fit.*\[-8, 7\]"):
        run_binary(np.array([[0, 8, 0], [0, 0, 0], [0, 0, 0]]), None, [1, 1, 1], config=cfg)
    with pytest.raises(ValueError, match=r"bias\[2\] = -5"):
        run_binary(w, [0, 0, -5], [1, 1, 1], config=cfg)
    with pytest.raises(ValueError, match="square"):
        run_binary(np.zeros((3, 2), dtype=int), None, [1, 1, 1])
    with pytest.raises(ValueError, match="N = 4"):
        run_binary(w, None, [1, 1, 1], config=cfg.with_(neurons=4))
    with pytest.raises(TypeError, match="integer"):
        run_binary(w.astype(float), None, [1, 1, 1])
    with pytest.raises(TypeError, match="state_from_bits"):
        run_binary(w, None, np.array([True, False, True]))
    with pytest.raises(ValueError, match="state_from_bits"):
        run_binary(w, None, [1, 0, 1])
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        run_binary(w, None, [1, 1])
    with pytest.raises(ValueError, match="order"):
        run_binary(w, None, [1, 1, 1], order="shuffled")
    with pytest.raises(ValueError, match="not built"):
        run_binary(w, None, [1, 1, 1], order="random", config=cfg.with_(orders=("sequential",)))
    with pytest.raises(ValueError, match="stochastic"):
        run_binary(w, None, [1, 1, 1], beta=1.0, max_sweeps=1,
                   config=cfg.with_(features=Feature.TRACE))
    with pytest.raises(ValueError, match="trace"):
        run_binary(w, None, [1, 1, 1], trace=True, config=cfg.with_(features=Feature(0)))
    with pytest.raises(ValueError, match="not both"):
        run_binary(w, None, [1, 1, 1], max_sweeps=1, max_visits=1)
    with pytest.raises(ValueError, match="max_visits"):
        run_binary(w, None, [1, 1, 1], max_visits=2**32)
    with pytest.raises(ValueError, match="sweeps"):
        run_binary(w, None, [1, 1, 1], max_sweeps=2**31)
    with pytest.raises(ValueError, match="seed"):
        run_binary(w, None, [1, 1, 1], seed=-1)


def test_state_bits_helpers():
    s = golden.state_from_bits([1, 0, 0, 1])
    assert s.tolist() == [1, -1, -1, 1] and s.dtype == np.int8
    assert golden.state_from_bits(np.array([True, False])).tolist() == [1, -1]
    assert golden.state_to_bits([1, -1, -1, 1]).tolist() == [1, 0, 0, 1]
    with pytest.raises(ValueError, match="0 or 1"):
        golden.state_from_bits([2, 0])


def test_run_result_type():
    r = RunResult(state=[1, -1], converged=True, visits=2, flips=1, sweeps=1, energy2=-3,
                  trace=[FlipEvent(0, 1, -1, -4)])
    assert r.energy == -1.5 and r.cycles is None and r.stop_reason == "converged"
    assert r.trace == (FlipEvent(0, 1, -1, -4),)
    assert not r.state.flags.writeable
    assert r.to_dict()["trace"][0] == {"visit": 0, "index": 1, "value": -1, "delta_energy2": -4}
    with pytest.raises(ValueError, match="stop_reason"):
        RunResult(state=[1], converged=True, visits=0, flips=0, sweeps=0, energy2=0,
                  stop_reason="done")
    with pytest.raises(ValueError, match=r"\+1/-1"):
        RunResult(state=[0], converged=True, visits=0, flips=0, sweeps=0, energy2=0)


def test_evaluation_helpers():
    w = np.array([[0, 2, -1], [2, 0, 3], [-1, 3, 0]])
    b = np.array([1, 0, -2])
    s = np.array([1, -1, 1])
    h = golden.local_fields(w, b, s)
    assert h.tolist() == [0 - 2 - 1 + 1, 2 + 0 + 3 + 0, -1 - 3 + 0 - 2]
    e2 = -(s @ w @ s) - 2 * (b @ s)
    assert golden.energy2(w, b, s) == e2
    assert golden.unstable(w, b, s).tolist() == [0, 1, 2]
    assert golden.is_fixed_point(w, b, run_binary(w, b, s).state)
    assert not golden.is_fixed_point(w, b, s)


def test_store_hebbian_on_chip():
    rng = np.random.default_rng(11)
    n = 20
    cfg = NetworkConfig(neurons=n, weight_bits=3, lanes=1)   # weights in [-4, 3]
    pats = rng.choice([-1, 1], size=(6, n))
    w0 = np.zeros((n, n), dtype=int)
    np.fill_diagonal(w0, 2)
    # Up to W_MAX = 3 patterns: exactly the Hebbian sum, diagonal untouched.
    w3 = golden.store_hebbian(w0, pats[:3], config=cfg)
    exact = pats[:3].T @ pats[:3]
    np.fill_diagonal(exact, 2)
    assert (w3 == exact).all()
    # Beyond: each pattern clamps, so order matters.
    w6 = golden.store_hebbian(w0, pats, config=cfg)
    step = w0.copy()
    for p in pats:
        step = step + np.outer(p, p)
        step = np.clip(step, -4, 3)
        np.fill_diagonal(step, 2)
    assert (w6 == step).all()
    assert w6.max() == 3 and np.diagonal(w6).tolist() == [2] * n
    with pytest.raises(ValueError, match="pattern 1"):
        golden.store_hebbian(w0, [pats[0], np.zeros(n, dtype=int)], config=cfg)


# -- the float reference (sim/float_models.py) ------------------------------------------------

def test_float_model_agrees_with_golden_where_it_must():
    from hopfield_fpga.sim.float_models import run_binary_float
    rng = np.random.default_rng(17)
    n = 256
    pats = rng.choice([-1, 1], size=(12, n))
    golden_w = pats.T @ pats
    np.fill_diagonal(golden_w, 0)
    wf = golden_w / n       # exact in binary floating point: same signs, same ties
    for trial in range(5):
        probe = pats[trial].copy()
        probe[rng.choice(n, 30, replace=False)] *= -1
        g = run_binary(golden_w, None, probe)                  # sequential: no randomness
        f = run_binary_float(wf, None, probe, record_energy=True)
        assert (g.state == f.state).all() and (g.visits, g.flips) == (f.visits, f.flips)
        assert f.energy == pytest.approx(g.energy / n)
        assert all(b < a for a, b in zip(f.energies, f.energies[1:]))
        for order in ("random", "rejection_free"):
            f = run_binary_float(wf, None, probe, order=order, rng=trial)
            assert f.converged and golden.is_fixed_point(golden_w, None, f.state)
    f = run_binary_float(wf, None, probe, order="random", rng=1, beta=[0.5, 50.0],
                         max_sweeps=4)
    assert f.visits == 4 * n and f.stop_reason == "cap"
    with pytest.raises(ValueError, match="rejection_free"):
        run_binary_float(wf, None, probe, order="rejection_free", beta=1.0, max_sweeps=1)


# -- statistics of the random choices (§4, §8) ----------------------------------------------------

def test_rejection_free_first_flip_is_uniform_over_unstable_like_random():
    from scipy import stats
    rng = np.random.default_rng(23)
    n = 12
    pats = rng.choice([-1, 1], size=(2, n))
    w = pats.T @ pats
    np.fill_diagonal(w, 0)
    s = pats[0].copy()
    s[[1, 4, 5, 9]] *= -1
    uns = golden.unstable(w, None, s).tolist()
    assert len(uns) >= 3
    for order in ("random", "rejection_free"):
        counts = dict.fromkeys(uns, 0)
        # Seeds spread over 32 bits: consecutive small seeds give related first words
        # (xorshift32 is linear and mixes a sparse state slowly; see numerics.md §5).
        for seed in np.random.default_rng(5).integers(1, 2**32, size=3000):
            r = run_binary(w, None, s, order=order, seed=int(seed), trace=True, max_visits=200)
            counts[r.trace[0].index] += 1
        p = stats.chisquare(list(counts.values())).pvalue
        assert p > 1e-4, f"order {order}: first flips {counts} not uniform (p = {p})"


@pytest.mark.parametrize("h, beta_fixed", [(0, 100), (1, 64), (-2, 100), (3, 40), (1, 600)])
def test_glauber_frequency_matches_the_table(h, beta_fixed):
    # One neuron with field h (bias only): every visit sets +1 with probability p / 65536,
    # whatever the old value. The state after each visit is replayed from the trace.
    from hopfield_fpga.numerics import LOGISTIC_ONE
    visits = 20000
    r = run_binary(np.zeros((1, 1), dtype=int), [h], [-1], beta_fixed=beta_fixed,
                   max_visits=visits, trace=True, seed=99)
    state, ups = -1, 0
    flips = {e.visit: e.value for e in r.trace}
    for v in range(visits):
        state = flips.get(v, state)
        ups += state == 1
    p = glauber_threshold(beta_fixed, h) / LOGISTIC_ONE
    sd = (p * (1 - p) / visits) ** 0.5
    assert abs(ups / visits - p) <= 5 * sd + 1e-9, \
        f"h {h} beta {beta_fixed}: {ups / visits} vs {p}"
