"""The spec constants of ``hopfield_fpga.numerics``: generator, index draw, beta, logistic table,
the quantized store's thresholds.

These are the numbers docs/numerics.md §5 and §8 state; the golden model and the gateware both
build on them, so they are checked against independent computations here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from hopfield_fpga import numerics as nm

# -- §5 generator ---------------------------------------------------------------------------------


def test_xorshift32_known_values():
    # Marsaglia, "Xorshift RNGs" (J. Stat. Softw. 8, 2003): xor32 with (13, 17, 5) from
    # y = 2463534242 first returns 723471715.
    x = 2463534242
    out = []
    for _ in range(3):
        x = nm.xorshift32(x)
        out.append(x)
    assert out == [723471715, 2497366906, 2064144800]
    assert nm.xorshift32(1) == 0x42021


def test_xorshift32_matches_a_numpy_implementation():
    # Same recurrence written with uint32 wrap-around arithmetic.
    x = np.uint32(0xDEADBEEF)
    y = 0xDEADBEEF
    for _ in range(1000):
        x ^= x << np.uint32(13)
        x ^= x >> np.uint32(17)
        x ^= x << np.uint32(5)
        y = nm.xorshift32(y)
        assert int(x) == y


def test_seed_state():
    assert nm.seed_state(0) == nm.XORSHIFT_ZERO_SEED != 0
    # Known values of MurmurHash3's fmix32 (a bijection, so distinct seeds give distinct states).
    assert nm.fmix32(1) == 0x514E28B7 and nm.fmix32(0) == 0
    assert nm.seed_state(1) == 0x514E28B7
    assert len({nm.seed_state(s) for s in range(5000)}) == 5000
    for bad in (-1, 2**32, 1.0, True):
        with pytest.raises(ValueError, match="seed"):
            nm.seed_state(bad)


# -- §5 index draw --------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 100, 256, 1000, 4096])
def test_index_draw_is_the_first_accepted_top_bits_candidate(n):
    m = (n - 1).bit_length()
    x = nm.seed_state(12345)
    for _ in range(300):
        idx, x2, words = nm.draw_index(x, n)
        # Replay: successive words, candidate = top m bits, skip candidates >= n.
        y, k = x, 0
        while True:
            y = nm.xorshift32(y)
            k += 1
            cand = y >> (32 - m) if m else 0
            if cand < n:
                break
        assert (idx, x2, words) == (cand, y, k), f"n={n}"
        if n & (n - 1) == 0:
            assert words == 1
        x = x2


@pytest.mark.parametrize("n", [3, 5, 6, 7, 12, 100])
def test_index_draw_is_uniform(n):
    seed = 777
    x = nm.seed_state(seed)
    draws = 20000
    counts = np.zeros(n, dtype=int)
    words = 0
    for _ in range(draws):
        i, x, w = nm.draw_index(x, n)
        counts[i] += 1
        words += w
    p = stats.chisquare(counts).pvalue
    assert p > 1e-4, f"seed {seed}, n {n}: chi-square p = {p}, counts {counts}"
    # Rejection costs 2**m / n words per draw on average: below 2.
    m = (n - 1).bit_length()
    assert abs(words / draws - (1 << m) / n) < 0.05 and words / draws < 2


# -- §8 beta and the logistic table ---------------------------------------------------------------

def test_beta_to_fixed():
    assert nm.beta_to_fixed(0.0) == 0
    assert nm.beta_to_fixed(1.0) == 256
    assert nm.beta_to_fixed(0.5 / 256) == 1            # half rounds up
    assert nm.beta_to_fixed(255.99) == 65533
    for bad in (-0.01, 256.0, float("nan")):
        with pytest.raises(ValueError, match="beta"):
            nm.beta_to_fixed(bad)


def sigma(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


def test_logistic_table_values_are_rounded_logistic():
    for x, y in zip(nm.LOGISTIC_BREAKPOINTS, nm.LOGISTIC_VALUES):
        assert y == round(65536 * sigma(x / 256)), x
    # Every segment is a power of two wide (the interpolation divides by a shift).
    for a, b in zip(nm.LOGISTIC_BREAKPOINTS, nm.LOGISTIC_BREAKPOINTS[1:]):
        assert (b - a) & (b - a - 1) == 0


def test_logistic_max_error():
    ts = np.arange(-3000, 3001)
    p = np.array([nm.logistic_p16(int(t)) for t in ts]) / 65536
    exact = 1 / (1 + np.exp(-ts / 256))
    err = np.abs(p - exact)
    worst = int(ts[np.argmax(err)])
    print(f"largest |p - sigma| = {err.max():.5f} at t = {worst}/256")
    assert err.max() <= 0.0075, f"worst at t = {worst}"
    assert err.max() > 0.005  # the documented figure is the real one, not a loose bound


def test_logistic_antisymmetric_monotone_saturating():
    prev = -1
    for t in range(-2600, 2601):
        p = nm.logistic_p16(t)
        assert 0 <= p <= nm.LOGISTIC_ONE
        assert p + nm.logistic_p16(-t) == nm.LOGISTIC_ONE, t
        assert p >= prev, t
        prev = p
    assert nm.logistic_p16(0) == 32768
    assert nm.logistic_p16(2048) == nm.LOGISTIC_ONE and nm.logistic_p16(-2048) == 0
    assert nm.logistic_p16(10**12) == nm.LOGISTIC_ONE


def test_glauber_threshold():
    assert nm.glauber_threshold(256, 0) == 32768
    assert nm.glauber_threshold(256, 1) == nm.logistic_p16(512)
    assert nm.glauber_threshold(0, 1000) == 32768          # beta = 0: fair coin
    assert nm.glauber_threshold(65535, 1) == nm.LOGISTIC_ONE
    assert nm.glauber_threshold(65535, -1) == 0


# -- §14 the quantized store's thresholds ---------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(m=st.integers(1, (1 << nm.GRADED_FACTOR_BITS) - 1),
       e=st.integers(0, (1 << nm.GRADED_EXP_BITS) - 1),
       weight_bits=st.integers(2, 16), count=st.integers(0, 300))
def test_hebbian_thresholds_count_like_round_shift(m, e, weight_bits, count):
    """sign(S) #{k : |S| >= t_k} == clamp(round_shift(m S, e), +-W_MAX) for every |S| <= P, and
    so is the count of the threshold steps the lanes take on chip: the rule of §14, for any
    factor, width and pattern count."""
    w_max = (1 << (weight_bits - 1)) - 1
    t = nm.hebbian_thresholds(m, e, w_max, count)
    assert len(t) <= w_max and t == sorted(t) and all(1 <= x <= count for x in t)
    steps = nm.hebbian_threshold_steps(t, w_max)
    assert all(0 <= d <= w_max for d, _ in steps) and (0, False) not in steps
    sums = np.arange(-count, count + 1)
    want = np.array([max(-w_max, min(w_max, nm.round_shift(m * int(x), e))) for x in sums])
    sign = np.where(sums >= 0, 1, -1)
    counted = (np.abs(sums)[:, None] >= np.array(t, dtype=np.int64)[None, :]).sum(1)
    assert np.array_equal(counted * sign, want), t
    # the lanes' form: subtract each step's delta from |S|, count while what is left is >= 0
    deltas = np.array([d for d, _ in steps], dtype=np.int64)
    counts = np.array([c for _, c in steps], dtype=bool)
    left = np.abs(sums)[:, None] - np.cumsum(deltas)[None, :]
    level = ((left >= 0) & counts[None, :]).sum(1)
    assert np.array_equal(level * sign, want), steps
