"""Tests of the graded-response golden model (docs/numerics.md s. 11) and its float reference.

Properties of the 1984 paper checked on both models: Eq. 7 decreases along the dynamics, the
Fig. 3 two-neuron system has its two stable states near the lower-left and upper-right corners,
high-gain fixed points are binary fixed points, and the origin loses stability at
lambda g'(0) R lambda_max(T) = 1. Randomized tests use fixed seeds that appear in the message.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.numerics import (
    GRADED_PRESET_KNOTS, GRADED_PRESETS, GRADED_SLOPE_FRAC, GRADED_V_ONE, factor_to_fixed,
    round_shift,
)
from hopfield_fpga.sim import graded, graded_float

ZERO2 = np.zeros(2, dtype=np.int64)
FIG3 = np.array([[0, 1], [1, 0]])


# -- spec constants and helpers -------------------------------------------------------------

def _regenerate(f, knots):
    """The preset construction of s. 11.3: chords through round(2^14 g(knot)), continuous."""
    ys, ms = [0], []
    for a, b in zip(knots, knots[1:]):
        dx = round((b - a) * GRADED_V_ONE)
        m = round((round(f(b) * GRADED_V_ONE) - ys[-1]) * (1 << GRADED_SLOPE_FRAC) / dx)
        assert m * dx % (1 << GRADED_SLOPE_FRAC) == 0
        ys.append(ys[-1] + m * dx // (1 << GRADED_SLOPE_FRAC))
        ms.append(m)
    xs = [round(k * GRADED_V_ONE) for k in knots]
    n = len(knots) - 1
    entries = [(-xs[n], -ys[n], 0)]
    entries += [(-xs[k + 1], -ys[k + 1], ms[k]) for k in range(n - 1, -1, -1)]
    entries += [(xs[k], ys[k], ms[k]) for k in range(n)] + [(xs[n], ys[n], 0)]
    return tuple(entries)


@pytest.mark.parametrize("name", ["atan", "tanh"])
def test_presets_regenerate(name):
    assert GRADED_PRESETS[name] == _regenerate(graded_float.SIGMOIDS[name],
                                               GRADED_PRESET_KNOTS[name])


@pytest.mark.parametrize("name,bound", [("hard", 0.0), ("atan", 0.027), ("tanh", 0.016)])
def test_preset_accuracy(name, bound):
    """Largest |g_table(x) - g(x)| over |x| <= 64 on the fixed-point grid (numerics.md table)."""
    table = GRADED_PRESETS[name]
    x = np.arange(-64 * GRADED_V_ONE, 64 * GRADED_V_ONE + 1, 7)
    err = np.abs(graded.pwl_eval(x, table) / GRADED_V_ONE
                 - graded_float.SIGMOIDS[name](x / GRADED_V_ONE)).max()
    print(f"{name}: largest error {err:.4f}")
    assert err <= bound + 1 / GRADED_V_ONE


@pytest.mark.parametrize("name", sorted(GRADED_PRESETS))
def test_presets_odd_monotone(name):
    table = GRADED_PRESETS[name]
    x = np.arange(-(1 << 23), 1 << 23, 997)
    v = graded.pwl_eval(x, table)
    assert np.all(np.diff(v) >= 0)
    assert np.array_equal(graded.pwl_eval(-x, table), -v)
    assert graded.pwl_eval([0], table)[0] == 0


@given(st.integers(-(1 << 60), 1 << 60), st.integers(0, 40))
def test_round_shift_is_nearest_half_away(z, s):
    exact = Fraction(z, 1 << s)
    r = round_shift(z, s)
    assert abs(r - exact) <= Fraction(1, 2)
    if abs(r - exact) == Fraction(1, 2):
        assert abs(r) > abs(exact)
    assert round_shift(-z, s) == -r


def _pwl_scalar(x, table):
    """Section 11.3 read literally, one value at a time."""
    k = 0
    for j in range(1, 16):
        if x >= table[j][0]:
            k = j
    x_k, y_k, m_k = table[k]
    return min(max(y_k + round_shift(m_k * (x - x_k), 12), -GRADED_V_ONE), GRADED_V_ONE)


def test_pwl_eval_matches_spec_on_random_tables():
    rng = np.random.default_rng(1234)
    for case in range(50):
        xs = np.sort(rng.integers(-(1 << 23), 1 << 23, 16))
        table = graded.sigmoid_table([(int(x), int(rng.integers(-(1 << 15), 1 << 15)),
                                       int(rng.integers(-(1 << 15), 1 << 15))) for x in xs])
        x = rng.integers(-(1 << 23), 1 << 23, 200)
        got = graded.pwl_eval(x, table)
        want = [_pwl_scalar(int(v), table) for v in x]
        assert list(got) == want, f"seed 1234 case {case}"


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="preset 'logistic'"):
        graded.sigmoid_table("logistic")
    with pytest.raises(ValueError, match="must not decrease"):
        graded.sigmoid_table([(0, 0, 0), (5, 0, 0), (3, 0, 0)])
    with pytest.raises(ValueError, match="leak"):
        graded.GradedParams.from_real(gain=1.0, dt=0.1, leak=0.3)
    with pytest.raises(ValueError, match="weight 300"):
        graded.run_graded(np.array([[0, 300], [300, 0]]), u0=[0, 0], gain=1.0, dt=0.1,
                          config=NetworkConfig(neurons=2, weight_bits=8, lanes=1))
    with pytest.raises(ValueError, match="exactly one"):
        graded.run_graded(FIG3, gain=1.0, dt=0.1)
    assert factor_to_fixed(1.4) == (45875, 15)


# -- energy (Eq. 7) --------------------------------------------------------------------------

def _inverse_integral_numeric(v, table):
    """Phi(V) by quadrature of the inverse (bisection on the real table function)."""
    g = graded_float.table_function(table)

    def inv(w):
        lo, hi = -600.0, 600.0
        for _ in range(80):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if g(mid) < w else (lo, mid)
        return (lo + hi) / 2
    ws = np.linspace(0, v, 2001)
    vals = np.array([inv(w) for w in ws])
    return float(np.trapezoid(vals, ws))


@pytest.mark.parametrize("name", ["hard", "atan", "tanh"])
def test_inverse_integral_exact(name):
    table = GRADED_PRESETS[name]
    for v in (0.3, -0.7, 0.9):
        exact = float(graded.inverse_integral(Fraction(v), table))
        assert exact == pytest.approx(_inverse_integral_numeric(v, table), abs=2e-5)
    assert graded.inverse_integral(Fraction(0), table) == 0


def test_energy_matches_float_closed_form_for_hard_limiter():
    # For the hard limiter inside (-1, 1) the PWL is exact: Phi(V) = V^2 / 2.
    rng = np.random.default_rng(7)
    w = rng.integers(-3, 4, (5, 5))
    w = w + w.T
    b = rng.integers(-2, 3, 5)
    v = rng.integers(-GRADED_V_ONE + 1, GRADED_V_ONE, 5)
    p = graded.GradedParams.from_real(gain=0.5, dt=0.1, leak=0.5, sigmoid="hard")
    exact = float(graded.energy_exact(w, b, v, p))
    assert exact == pytest.approx(graded_float.energy_float(
        w, b, v / GRADED_V_ONE, gain=0.5, leak=0.5, sigmoid="hard"), rel=1e-12)


def _symmetric(draw_ints, n):
    w = np.zeros((n, n), dtype=np.int64)
    it = iter(draw_ints)
    for i in range(n):
        for j in range(i + 1, n):
            w[i, j] = w[j, i] = next(it)
    return w


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 5), data=st.data(),
       sigmoid=st.sampled_from(["atan", "tanh", "hard"]),
       gain=st.sampled_from([0.25, 0.5, 1.0, 2.0]), leak_shift=st.integers(0, 2))
def test_energy_never_increases_for_small_step(n, data, sigmoid, gain, leak_shift):
    """Eq. 7 (exact PWL inverse integral) is non-increasing along fixed-point Euler runs.

    The step is small against the network: dt * lambda * g'_max * ||T|| <= 1/8. Because v is
    rounded to 2^-14, a step that changes v by a few LSB may move E by the rounding alone; the
    allowance is what a half-LSB change of every V_i can move E by (field times 2^-15 each).
    """
    ws = data.draw(st.lists(st.integers(-4, 4), min_size=n * (n - 1) // 2,
                            max_size=n * (n - 1) // 2))
    w = _symmetric(ws, n)
    b = np.array(data.draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n)))
    u0 = data.draw(st.lists(st.floats(-3, 3), min_size=n, max_size=n))
    norm = max(1.0, float(np.abs(np.linalg.eigvalsh(w)).max()))
    dt = min(0.25, 1 / (8 * gain * norm))
    p = graded.GradedParams.from_real(gain=gain, dt=dt, leak=2.0 ** -leak_shift,
                                      sigmoid=sigmoid, max_steps=150)
    cfg = NetworkConfig(neurons=n, weight_bits=4, bias_bits=4, lanes=1)
    u = np.rint(np.array(u0) * GRADED_V_ONE).astype(np.int64)
    r = graded.run_graded_fixed(w, b, u, p, cfg, trace=True)
    states = [graded.sigmoid_unit(u, p, cfg)] + [v for _, v in r.trace]
    energies = [graded.energy_exact(w, b, v, p) for v in states]
    allowance = Fraction(int(np.abs(w).sum(axis=1).max() + np.abs(b).max()) * n + n,
                         2 * GRADED_V_ONE)
    for t in range(1, len(energies)):
        assert energies[t] <= energies[t - 1] + allowance, (
            f"E rose at step {t}: {float(energies[t - 1])} -> {float(energies[t])}")
    assert energies[-1] <= energies[0] + allowance


def test_float_energy_decreases_along_ode():
    rng = np.random.default_rng(99)
    w = rng.normal(size=(6, 6))
    w = w + w.T
    np.fill_diagonal(w, 0)
    u0 = rng.normal(size=6)
    t, u = graded_float.integrate(w, None, u0, gain=1.5, sigmoid="tanh", t_end=10,
                                  t_eval=np.linspace(0, 10, 200))
    e = [graded_float.energy_float(w, None, np.tanh(1.5 * x), gain=1.5, sigmoid="tanh")
         for x in u]
    assert np.all(np.diff(e) <= 1e-9)


# -- Fig. 3 ----------------------------------------------------------------------------------

def _fig3_starts():
    grid = np.linspace(-0.9, 0.9, 7)
    # the anti-diagonal V1 = -V2 is the stable manifold of the saddle at the origin
    return [(a, b) for a in grid for b in grid if abs(a + b) > 1e-9]


def test_fig3_float():
    ends = []
    g = graded_float.SIGMOIDS["atan"]
    for v1, v2 in _fig3_starts():
        u0 = [(2 / math.pi) * math.tan(math.pi * v / 2) / 1.4 for v in (v1, v2)]
        _, u = graded_float.integrate(FIG3, None, u0, gain=1.4, sigmoid="atan", t_end=60)
        ends.append(g(1.4 * u[-1]))
    ends = np.array(ends)
    _check_fig3_ends(ends, _fig3_starts(), spread=1e-6)


def test_fig3_fixed_point():
    ends = []
    for v1, v2 in _fig3_starts():
        r = graded.run_graded(FIG3, ZERO2, v0=[v1, v2], gain=1.4, dt=1 / 16, sigmoid="atan",
                              max_steps=5000)
        assert r.converged, (v1, v2)
        ends.append(r.V)
    # du rounds to 0 once |F - u/R| < 1/(2 dt) LSB: the rest points form a band that wide
    _check_fig3_ends(np.array(ends), _fig3_starts(), spread=8 / GRADED_V_ONE * 16)


def _check_fig3_ends(ends, starts, spread=1e-3):
    for (v1, v2), end in zip(starts, ends):
        corner = 1 if v1 + v2 > 0 else -1   # which side of the separatrix the start is on
        assert np.sign(end[0]) == np.sign(end[1]) == corner, ((v1, v2), end)
        # near the corner but displaced inward
        assert 0.3 < abs(end[0]) < 0.95 and abs(end[0] - end[1]) <= spread, ((v1, v2), end)
    # exactly two end points, mirror images
    pos = ends[ends[:, 0] > 0]
    neg = ends[ends[:, 0] < 0]
    assert np.ptp(pos, axis=0).max() <= spread and np.ptp(neg, axis=0).max() <= spread
    assert np.allclose(np.sort(pos[:, 0]), -np.sort(neg[:, 0])[::-1], atol=1e-9)
    print("Fig. 3 stable states:", pos[0], neg[0])


def test_fig3_stable_states_agree_float_vs_fixed():
    # The fixed-point run uses the table; the float run with the same table function lands on
    # the same state within a few LSB; the true atan within the table's approximation error.
    table = GRADED_PRESETS["atan"]
    r = graded.run_graded(FIG3, ZERO2, v0=[0.5, 0.2], gain=1.4, dt=1 / 16, max_steps=5000)
    _, u = graded_float.integrate(FIG3, None, [0.3, 0.1], gain=1.4, sigmoid=table, t_end=80)
    v_table = graded_float.table_function(table)(1.4 * u[-1])
    assert np.abs(r.V - v_table).max() < 2e-3
    _, u = graded_float.integrate(FIG3, None, [0.3, 0.1], gain=1.4, sigmoid="atan", t_end=80)
    v_true = graded_float.SIGMOIDS["atan"](1.4 * u[-1])
    assert np.abs(r.V - v_true).max() < 0.1
    print(f"Fig. 3 upper-right state: fixed {r.V}, float table {v_table}, float atan {v_true}")


# -- high gain and the critical gain ------------------------------------------------------------

def _hebbian(n, p, rng):
    pats = rng.choice([-1, 1], size=(p, n))
    w = pats.T @ pats
    np.fill_diagonal(w, 0)
    return w, pats


def _binary_fixed_point(w, b, s):
    try:
        from hopfield_fpga.sim.golden import is_fixed_point
    except ImportError:
        h = w @ s + b
        return bool(np.all(s * h >= 0))
    return bool(is_fixed_point(w, b, s))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_high_gain_sign_is_binary_fixed_point(seed):
    rng = np.random.default_rng(seed)
    n = 24
    w, pats = _hebbian(n, 3, rng)
    b = np.zeros(n, dtype=np.int64)
    for start in range(8):
        v0 = rng.uniform(-0.2, 0.2, n)
        r = graded.run_graded(w, b, v0=v0, gain=4.0, dt=1 / 64, sigmoid="tanh",
                              max_steps=20_000)
        assert r.converged, f"seed {seed} start {start}"
        s = np.where(r.v > 0, 1, -1)
        assert np.all(r.v != 0), f"seed {seed} start {start}: a neuron ended at V = 0"
        assert _binary_fixed_point(w, b, s), f"seed {seed} start {start}: {s}"


@pytest.mark.parametrize("sigmoid", ["atan", "tanh", "hard"])
def test_critical_gain(sigmoid):
    """Below lambda_c = 1/(g'(0) R lambda_max(T)) every start decays to the origin; above it
    the origin is left from a small start."""
    rng = np.random.default_rng(5)
    n = 8
    w = rng.integers(-3, 4, (n, n))
    w = np.triu(w, 1)
    w = w + w.T
    b = np.zeros(n, dtype=np.int64)
    lam_max = float(np.linalg.eigvalsh(w).max())
    table = GRADED_PRESETS[sigmoid]
    slope0 = graded.pwl_slope_at_zero(table)
    for leak in (1.0, 0.5):
        lam_c = leak / (slope0 * lam_max)
        dt = 1 / (8 * max(1.0, lam_max))
        for factor, expect_origin in ((0.8, True), (1.25, False)):
            starts = rng.uniform(-1, 1, (6, n)) if expect_origin \
                else rng.uniform(-0.05, 0.05, (3, n))
            for v0 in starts:
                r = graded.run_graded(w, b, v0=v0, gain=factor * lam_c, dt=dt, leak=leak,
                                      sigmoid=table, max_steps=40_000)
                # the fixed-point rest set is a band where du rounds to 0 (|V| of a few 1e-3)
                peak = np.abs(r.V).max()
                assert (peak < 0.01) if expect_origin else (peak > 0.05), (
                    sigmoid, leak, factor, r.V, r.steps)
                # float ODE with the true sigmoid (g'(0) = 1) agrees qualitatively
            _, u = graded_float.integrate(w, None, starts[0] / (factor * lam_c * slope0),
                                          gain=factor * lam_c, leak=leak, sigmoid=table,
                                          t_end=400)
            assert (np.abs(u[-1]).max() * factor * lam_c < 1e-3) == expect_origin


# -- fidelity against the float ODE ------------------------------------------------------------

@pytest.mark.parametrize("sigmoid", ["atan", "tanh"])
def test_trajectory_error_shrinks_with_step(sigmoid):
    rng = np.random.default_rng(21)
    n = 6
    w = rng.integers(-3, 4, (n, n))
    w = np.triu(w, 1)
    w = w + w.T
    b = rng.integers(-1, 2, n)
    table = GRADED_PRESETS[sigmoid]
    u0 = rng.uniform(-1, 1, n)
    t_end = 2.0
    _, ref = graded_float.integrate(w, b, u0, gain=0.5, sigmoid=table, t_end=t_end)
    errors = []
    for k in (3, 5, 7):
        steps = int(t_end * 2 ** k)
        r = graded.run_graded(w, b, u0=u0, gain=0.5, dt=2.0 ** -k, sigmoid=table,
                              max_steps=steps, eps=0)
        assert r.steps == steps or r.converged
        errors.append(np.abs(r.U - ref[-1]).max())
    print(f"{sigmoid}: max |u - u_ode| at t = {t_end} for dt = 1/8, 1/32, 1/128: {errors}")
    # Euler is first order: each 4x smaller step must at least halve the error
    assert errors[1] < errors[0] / 2 and errors[2] < errors[1] / 2
    assert errors[2] < 0.02


def test_high_gain_hebbian_n64_against_binary():
    """Hebbian N = 64 (P = 4): at high gain the sign of every converged graded state is a binary
    fixed point; the fraction of starts where it equals the binary sequential run from the sign
    of the start is printed (the two dynamics need not pick the same attractor)."""
    from hopfield_fpga.sim.golden import run_binary
    seed = 64
    rng = np.random.default_rng(seed)
    n = 64
    w, pats = _hebbian(n, 4, rng)
    b = np.zeros(n, dtype=np.int64)
    lam_c = 1 / (graded.pwl_slope_at_zero(GRADED_PRESETS["tanh"])
                 * float(np.linalg.eigvalsh(w).max()))
    same, starts = 0, 12
    for start in range(starts):
        s0 = pats[start % 4] * np.where(rng.random(n) < 0.2, -1, 1)   # 20 % probe noise
        v0 = 0.1 * s0
        r = graded.run_graded(w, b, v0=v0, gain=20 * lam_c, dt=1 / 32, sigmoid="tanh",
                              max_steps=20_000)
        assert r.converged, f"seed {seed} start {start}"
        s = np.where(r.v > 0, 1, -1)
        assert np.all(r.v != 0), f"seed {seed} start {start}"
        assert _binary_fixed_point(w, b, s), f"seed {seed} start {start}"
        binary = run_binary(w, b, s0, order="sequential", max_sweeps=100)
        same += bool(np.array_equal(binary.state, s))
    print(f"high gain (20 lambda_c), N=64 P=4: graded sign = binary result in {same}/{starts}")
    assert same >= starts // 2


@pytest.mark.parametrize("sigmoid", ["atan", "tanh"])
def test_critical_gain_sweep(sigmoid):
    """In a gain sweep with steps of 2 %, every gain one step or more below
    lambda_c = 1/(g'(0) R lambda_max(T)) returns to the origin and every gain one step or more
    above it leaves: the critical gain is found to within the step of the sweep."""
    rng = np.random.default_rng(31)
    n = 10
    w = np.triu(rng.integers(-4, 5, (n, n)), 1)
    w = w + w.T
    b = np.zeros(n, dtype=np.int64)
    lam_max = float(np.linalg.eigvalsh(w).max())
    table = GRADED_PRESETS[sigmoid]
    lam_c = 1 / (graded.pwl_slope_at_zero(table) * lam_max)
    step = 0.02
    # Starts inside the linear segment around 0; dt = 1/2 keeps Euler stable for every mode
    # (|lambda_min| <= lambda_max here) while the slowest mode still moves du >> 1 LSB per step,
    # so the run does not stall in the band where du rounds to 0.
    assert abs(float(np.linalg.eigvalsh(w).min())) <= 2 * lam_max
    v0 = rng.uniform(-0.3, 0.3, n)
    left = {}
    for k in (-5, -3, -2, -1, 1, 2, 3, 5):
        gain = lam_c * (1 + k * step)
        r = graded.run_graded(w, b, v0=v0, gain=gain, dt=0.5, sigmoid=table,
                              max_steps=100_000, eps=0)
        assert r.converged, (sigmoid, k)
        left[k] = bool(np.abs(r.V).max() > 0.02)
    print(f"{sigmoid}: lambda_c = {lam_c:.5f}; origin left at (1 + 0.02 k) lambda_c for k: "
          f"{sorted(k for k, v in left.items() if v)}")
    assert all(left[k] == (k > 0) for k in left), left


def _literal_run(w, b, u0, p, cfg):
    """Sections 11.3-11.5 read literally, one neuron at a time with Python integers."""
    n, ones = cfg.neurons, GRADED_V_ONE
    u_lo, u_hi = -(1 << (cfg.graded_u_bits - 1)), (1 << (cfg.graded_u_bits - 1)) - 1

    def g(u):
        x = min(max(round_shift(p.gain_m * u, p.gain_e), -(1 << 23)), (1 << 23) - 1)
        return _pwl_scalar(x, p.table)
    u = [int(x) for x in u0]
    v = [g(x) for x in u]
    steps, delta = 0, 0
    while steps < p.max_steps:
        f = [sum(int(w[i][j]) * v[j] for j in range(n)) + int(b[i]) * ones for i in range(n)]
        new = [min(max(u[i] + round_shift(p.dt_m * ((f[i] << p.leak_shift) - u[i]),
                                          p.dt_e + p.leak_shift), u_lo), u_hi)
               for i in range(n)]
        delta = max(abs(a - c) for a, c in zip(new, u))
        u, v = new, [g(x) for x in new]
        steps += 1
        if delta <= p.eps:
            return u, v, steps, True, delta
    return u, v, steps, False, delta


@pytest.mark.parametrize("widths", [(4, 6), (8, 16), (16, 24)])
def test_golden_matches_literal_spec(widths):
    """The vectorized golden model (int64, or Python integers for (16, 24) where the products
    pass 62 bits) equals a literal one-neuron-at-a-time reading of the spec."""
    from hopfield_fpga.config import Feature
    from hopfield_fpga.sim.tb.graded_cases import random_case
    w_bits, b_bits = widths
    cfg = NetworkConfig(neurons=6, weight_bits=w_bits, bias_bits=b_bits, lanes=2,
                        features=Feature.ALL)
    for seed in range(20):
        case = random_case(500 + seed, config=cfg, max_steps=15)
        r = case.expected
        u, v, steps, converged, delta = _literal_run(case.weights, case.bias, case.u0,
                                                     case.params, cfg)
        assert (list(r.u), list(r.v), r.steps, r.converged, r.max_du) == \
            (u, v, steps, converged, delta), f"seed {500 + seed} widths {widths}"
