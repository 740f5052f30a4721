"""Learning rules, quantization (docs/numerics.md §10) and the 0/1 conversion (§1)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.host import learning
from hopfield_fpga.host.learning import HopfieldWarning, from_binary01, quantize
from hopfield_fpga.sim import golden


def random_patterns(seed, p, n):
    return np.random.default_rng(seed).choice([-1, 1], size=(p, n))


def test_hebbian_is_exact():
    x = random_patterns(1, 7, 50)
    w = learning.hebbian(x)
    expect = sum(np.outer(p, p) for p in x)
    np.fill_diagonal(expect, 0)
    assert w.dtype == np.int64 and (w == expect).all() and (w == w.T).all()
    assert np.abs(w).max() <= 7
    with pytest.raises(ValueError, match=r"patterns\[1, 3\] = 0"):
        learning.hebbian([[1, 1, 1, 1], [1, 1, 1, 0]])
    with pytest.raises(TypeError, match="state_from_bits"):
        learning.hebbian(np.array([[True, False]]))


@pytest.mark.parametrize("rule", ["hebbian", "pseudo_inverse", "storkey"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stored_patterns_are_fixed_points_at_low_load(rule, seed):
    n, p = 200, 8                                  # alpha = 0.04
    cfg = NetworkConfig(neurons=n, weight_bits=8, lanes=8)
    x = random_patterns(seed, p, n)
    real = getattr(learning, rule)(x)
    w, report = quantize(real, cfg, scale=1 if rule == "hebbian" else None)
    assert report.clipped == 0
    for mu, pat in enumerate(x):
        assert golden.is_fixed_point(w, None, pat, config=cfg), \
            f"rule {rule}, seed {seed}: pattern {mu} is not a fixed point"


def test_pseudo_inverse_stores_correlated_patterns():
    # Patterns sharing 70% of their entries: Hebbian fails, the projection rule does not.
    rng = np.random.default_rng(5)
    n, p = 120, 10
    base = rng.choice([-1, 1], size=n)
    x = np.array([np.where(rng.random(n) < 0.3, rng.choice([-1, 1], size=n), base)
                  for _ in range(p)])
    cfg = NetworkConfig(neurons=n, weight_bits=12, lanes=1)
    w, _ = quantize(learning.pseudo_inverse(x), cfg)
    assert all(golden.is_fixed_point(w, None, pat, config=cfg) for pat in x)
    wh = learning.hebbian(x)
    assert not all(golden.is_fixed_point(wh, None, pat) for pat in x)
    real = learning.pseudo_inverse(x, zero_diagonal=False)
    assert np.allclose(real @ x.T, x.T)            # a projector: W p = p


def test_storkey_matches_the_textbook_loop():
    x = random_patterns(9, 3, 12)
    n = 12
    w = np.zeros((n, n))
    for xi in x:
        new = w.copy()
        for i in range(n):
            for j in range(n):
                h_ij = sum(w[i, k] * xi[k] for k in range(n) if k not in (i, j))
                h_ji = sum(w[j, k] * xi[k] for k in range(n) if k not in (i, j))
                new[i, j] += (xi[i] * xi[j] - xi[i] * h_ji - h_ij * xi[j]) / n
        np.fill_diagonal(new, 0)
        w = new
    assert np.allclose(learning.storkey(x), w)


def test_quantize_report_and_rounding():
    cfg = NetworkConfig(neurons=3, weight_bits=4, lanes=1)           # [-8, 7]
    real = np.array([[0.0, 0.5, -0.5], [2.5, -2.5, 1.25], [100.0, -9.0, 7.0]])
    q, rep = quantize(real, cfg, scale=1.0, warn=False)
    # Half away from zero: 0.5 -> 1, -0.5 -> -1, 2.5 -> 3, -2.5 -> -3; 100 and -9 clip.
    assert q.tolist() == [[0, 1, -1], [3, -3, 1], [7, -8, 7]]
    assert rep.clipped == 2 and rep.rounded == 5 and not rep.exact
    assert rep.max_error == pytest.approx(93.0)
    with pytest.warns(HopfieldWarning, match="2 weight"):
        quantize(real, cfg, scale=1.0)
    # Automatic scale: the largest |W| lands on W_MAX, nothing clipped, error <= 0.5 / scale.
    q, rep = quantize(real, cfg)
    assert rep.scale == pytest.approx(7 / 100) and rep.clipped == 0 and q[2, 0] == 7
    assert rep.max_error <= 0.5 / rep.scale + 1e-12
    # Integer weights that fit stay exact with scale 1.
    w = learning.hebbian(random_patterns(3, 5, 10))
    q, rep = quantize(w, NetworkConfig(neurons=10, weight_bits=4, lanes=1), scale=1)
    assert rep.exact and (q == w).all() and rep.max_error == 0
    assert "0 clipped" in rep.describe()


def test_quantize_errors():
    cfg = NetworkConfig(neurons=2, weight_bits=4, lanes=1)
    with pytest.raises(ValueError, match="2 x 2"):
        quantize(np.zeros((3, 3)), cfg)
    with pytest.raises(ValueError, match="NaN"):
        quantize(np.array([[0, np.nan], [0, 0]]), cfg)
    with pytest.raises(ValueError, match="scale"):
        quantize(np.zeros((2, 2)), cfg, scale=0)
    with pytest.raises(ValueError, match="weight_bits = 1"):
        quantize(np.ones((2, 2)), cfg.with_(weight_bits=1))
    q, rep = quantize(np.zeros((2, 2)), cfg)
    assert rep.scale == 1.0 and rep.exact and not q.any()


def run_01(t, i, u, v, cap):
    """The 1982 network itself, sequential order: V_j <- 1 if H_j > U_j, 0 if H_j < U_j."""
    v = np.array(v, dtype=np.int64)
    n = len(v)
    flips = []
    for visit in range(cap):
        j = visit % n
        h = int(t[j] @ v) + int(i[j])
        new = 1 if h > u[j] else 0 if h < u[j] else v[j]
        if new != v[j]:
            v[j] = new
            flips.append((visit, j, 2 * new - 1))
    return v, flips


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 9), cap=st.integers(0, 40))
def test_from_binary01_is_exact(seed, n, cap):
    rng = np.random.default_rng(seed)
    t = rng.integers(-3, 4, size=(n, n))            # asymmetric, with a diagonal
    i = rng.integers(-4, 5, size=n)
    u = rng.integers(-4, 5, size=n)
    v0 = rng.integers(0, 2, size=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HopfieldWarning)
        w, b = from_binary01(t, i, u)
    r = golden.run_binary(w, b, golden.state_from_bits(v0), max_visits=cap, trace=True)
    v, flips = run_01(t, i, u, v0, r.visits)
    assert [(e.visit, e.index, e.value) for e in r.trace] == flips, f"seed {seed}"
    assert (golden.state_to_bits(r.state) == v).all()


def test_from_binary01_checks():
    cfg = NetworkConfig(neurons=2, weight_bits=4, bias_bits=4, lanes=1)   # biases [-8, 7]
    w, b = from_binary01(np.array([[0, 1], [1, 0]]), 0, [1, 0], cfg)
    assert b.tolist() == [1 - 2, 1]
    with pytest.raises(ValueError, match=r"bias b\[0\].*= 9 does not fit 4-bit"):
        from_binary01(np.array([[0, 7], [1, 0]]), [1, 0], 0, cfg)
    with pytest.raises(ValueError, match=r"T\[0, 1\] = 8"):
        from_binary01(np.array([[0, 8], [1, 0]]), 0, 0, cfg)
    with pytest.raises(TypeError, match="quantize"):
        from_binary01(np.array([[0, 0.5], [1, 0]]), 0, 0, cfg)
    with pytest.raises(ValueError, match="shape"):
        from_binary01(np.zeros((2, 2), dtype=int), [1, 2, 3], 0, cfg)
    with pytest.warns(HopfieldWarning, match="diagonal"):
        from_binary01(np.eye(2, dtype=int), 0, 0, cfg)


def test_quantize_bias_uses_the_weight_scale():
    cfg = NetworkConfig(neurons=3, weight_bits=4, bias_bits=5, lanes=1)   # biases [-16, 15]
    real_w = np.array([[0.0, 0.3, -0.2], [0.3, 0.0, 0.1], [-0.2, 0.1, 0.0]])
    w, rep = quantize(real_w, cfg)
    with pytest.warns(HopfieldWarning, match="1 bias"):
        b, brep = learning.quantize_bias(np.array([0.05, -0.25, 9.0]), cfg, scale=rep.scale)
    # scale = 7 / 0.3: 0.05 -> 1.1667 -> 1, -0.25 -> -5.833 -> -6, 9.0 -> 210 -> clipped to 15.
    assert b.tolist() == [1, -6, 15] and brep.clipped == 1 and brep.weight_max == 15
    with pytest.raises(ValueError, match="scale"):
        learning.quantize_bias(np.zeros(3), cfg, scale=-1.0, warn=False)
