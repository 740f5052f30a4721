"""Constants of the numeric specification (``docs/numerics.md``) shared by gateware and golden model.

The pseudo-random generator, the index draw, the fixed-point format of beta and the table of the
piecewise-linear logistic are defined here once, as plain Python integers and small pure
functions over integers. The golden model calls these functions; the gateware builds the same
arithmetic from the same constants. Changing anything here changes the spec: update
``docs/numerics.md`` in the same commit.
"""

from __future__ import annotations

__all__ = [
    "XORSHIFT_SHIFTS", "XORSHIFT_ZERO_SEED", "FMIX32_SHIFTS", "FMIX32_MULTIPLIERS", "fmix32", "xorshift32", "seed_state", "draw_index",
    "BETA_BITS", "BETA_FRAC", "beta_to_fixed",
    "LOGISTIC_T_FRAC", "LOGISTIC_BREAKPOINTS", "LOGISTIC_VALUES", "LOGISTIC_ONE",
    "logistic_p16", "glauber_threshold",
    "GRADED_V_BITS", "GRADED_V_FRAC", "GRADED_V_ONE", "GRADED_X_BITS", "GRADED_SLOPE_BITS",
    "GRADED_SLOPE_FRAC", "GRADED_SEGMENTS", "GRADED_FACTOR_BITS", "GRADED_EXP_BITS",
    "GRADED_LEAK_SHIFT_BITS", "GRADED_EPS_BITS", "round_shift", "factor_to_fixed",
    "hebbian_thresholds", "hebbian_threshold_steps",
    "GRADED_PRESETS", "GRADED_PRESET_KNOTS", "HEBBIAN_CLIP_SIGMAS", "hebbian_clip_sigmas",
]

# -- pseudo-random generator (numerics.md, "Pseudo-random generator") -------------------------

#: Marsaglia's xorshift32 triple (13, 17, 5): x ^= x << 13; x ^= x >> 17; x ^= x << 5 (mod 2**32).
XORSHIFT_SHIFTS = (13, 17, 5)
#: xorshift32 never leaves 0, so a seed of 0 loads this state instead.
XORSHIFT_ZERO_SEED = 0x2545F491
_MASK32 = 0xFFFF_FFFF
#: MurmurHash3's fmix32: x ^= x >> s0; x *= m0; x ^= x >> s1; x *= m1; x ^= x >> s2 (mod 2**32).
FMIX32_SHIFTS = (16, 13, 16)
FMIX32_MULTIPLIERS = (0x85EBCA6B, 0xC2B2AE35)


def fmix32(x: int) -> int:
    """MurmurHash3's 32-bit finalizer: a bijection on 32 bits that maps 0 to 0."""
    (s0, s1, s2), (m0, m1) = FMIX32_SHIFTS, FMIX32_MULTIPLIERS
    x ^= x >> s0
    x = (x * m0) & _MASK32
    x ^= x >> s1
    x = (x * m1) & _MASK32
    x ^= x >> s2
    return x


def seed_state(seed: int) -> int:
    """Generator state for a 32-bit user ``seed``: fmix32(seed), or XORSHIFT_ZERO_SEED for 0.

    xorshift32 spreads a small state slowly (seeds 1..3000 would all pick one of the first
    three of 16 neurons first), so the seed is scrambled by a bijection before it is loaded.
    The scrambling is done by the host (driver, golden model, testbenches); the engine receives
    this state, which is never 0, and loads it as it is.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= _MASK32:
        raise ValueError(f"seed must be an integer from 0 to 2**32-1, not {seed!r}")
    return fmix32(seed) if seed else XORSHIFT_ZERO_SEED


def xorshift32(x: int) -> int:
    """One step of the generator; the new state is also the word drawn."""
    a, b, c = XORSHIFT_SHIFTS
    x ^= (x << a) & _MASK32
    x ^= x >> b
    x ^= (x << c) & _MASK32
    return x


def draw_index(x: int, n: int) -> tuple[int, int, int]:
    """Draw a uniform index in [0, n) by rejection on the top bits of successive words.

    Returns ``(index, new_state, words_drawn)``. With m = bit length of n-1, each word gives the
    candidate ``word >> (32 - m)``; candidates >= n are discarded, so the draw is exactly uniform
    and takes fewer than 2 words on average. For n = 1, m = 0 and one word is still drawn.
    """
    m = (n - 1).bit_length()
    words = 0
    while True:
        x = xorshift32(x)
        words += 1
        idx = x >> (32 - m) if m else 0
        if idx < n:
            return idx, x, words


# -- stochastic neurons (numerics.md, "Stochastic neurons") -----------------------------------

#: beta is unsigned fixed point: BETA_BITS bits of which BETA_FRAC are fractional (Q8.8).
BETA_BITS = 16
BETA_FRAC = 8


def beta_to_fixed(beta: float) -> int:
    """Nearest representable beta (round half up), refusing values outside [0, 256)."""
    scaled = beta * (1 << BETA_FRAC)
    if not 0 <= scaled < (1 << BETA_BITS):
        raise ValueError(f"beta must be in [0, {(1 << BETA_BITS) / (1 << BETA_FRAC)}), not {beta!r}")
    return min(int(scaled + 0.5), (1 << BETA_BITS) - 1)


#: The logistic's argument t = 2 beta h carries LOGISTIC_T_FRAC fractional bits (= BETA_FRAC).
LOGISTIC_T_FRAC = BETA_FRAC
#: Breakpoints of |t| in units of 2**-LOGISTIC_T_FRAC: 0, 0.5, 1, 1.5, 2, 3, 4, 6, 8. Every
#: segment is a power of two wide, so the interpolation divides by a shift.
LOGISTIC_BREAKPOINTS = (0, 128, 256, 384, 512, 768, 1024, 1536, 2048)
#: round(65536 / (1 + exp(-t))) at each breakpoint; |t| >= 8 gives LOGISTIC_ONE (certainty).
LOGISTIC_VALUES = (32768, 40793, 47911, 53581, 57724, 62428, 64357, 65374, 65514)
LOGISTIC_ONE = 1 << 16


def logistic_p16(t: int) -> int:
    """P(s = +1) * 65536 for the fixed-point argument ``t`` (2 beta h, LOGISTIC_T_FRAC bits).

    Linear interpolation between the table points, rounded down, mirrored for t < 0 as
    65536 - p(|t|), and saturated to 65536 (or 0) for |t| >= 8. Result in [0, 65536].
    """
    a = -t if t < 0 else t
    if a >= LOGISTIC_BREAKPOINTS[-1]:
        p = LOGISTIC_ONE
    else:
        k = 0
        while LOGISTIC_BREAKPOINTS[k + 1] <= a:
            k += 1
        x0, x1 = LOGISTIC_BREAKPOINTS[k], LOGISTIC_BREAKPOINTS[k + 1]
        y0, y1 = LOGISTIC_VALUES[k], LOGISTIC_VALUES[k + 1]
        shift = (x1 - x0).bit_length() - 1
        p = y0 + (((y1 - y0) * (a - x0)) >> shift)
    return LOGISTIC_ONE - p if t < 0 else p


def glauber_threshold(beta_fixed: int, h: int) -> int:
    """The Glauber rule's comparison value: s_i becomes +1 iff (word >> 16) < this."""
    return logistic_p16(2 * beta_fixed * h)


# -- graded-response neurons (numerics.md, "Graded-response neurons") -------------------------

#: V (bipolar, in [-1, 1]) is signed GRADED_V_BITS wide with GRADED_V_FRAC fractional bits; the
#: potential u, the sigmoid argument x and the field share the same GRADED_V_FRAC binary point.
GRADED_V_BITS = 16
GRADED_V_FRAC = 14
GRADED_V_ONE = 1 << GRADED_V_FRAC
#: The sigmoid argument x = lambda u is saturated to this many signed bits (|x| < 512).
GRADED_X_BITS = 24
#: PWL slopes dV/dx: signed, GRADED_SLOPE_BITS wide, GRADED_SLOPE_FRAC fractional bits.
GRADED_SLOPE_BITS = 16
GRADED_SLOPE_FRAC = 12
#: Entries (segments) of the loadable sigmoid table.
GRADED_SEGMENTS = 16
#: gain lambda and dt/C are mantissa * 2**-exponent: unsigned mantissa of GRADED_FACTOR_BITS,
#: exponent of GRADED_EXP_BITS (0 to 31).
GRADED_FACTOR_BITS = 16
GRADED_EXP_BITS = 5
#: 1/R = 2**-leak_shift with leak_shift of GRADED_LEAK_SHIFT_BITS (R = 1 to 128).
GRADED_LEAK_SHIFT_BITS = 3
#: eps (largest |du| that counts as converged) is unsigned, in units of u.
GRADED_EPS_BITS = 32


def round_shift(x: int, s: int) -> int:
    """x / 2**s rounded to the nearest integer, halves away from zero (exact for s = 0).

    Written as the hardware does it: (x + 2**(s-1) - [x < 0]) >> s with an arithmetic shift.
    It is odd (round_shift(-x, s) == -round_shift(x, s)), so odd sigmoids stay exactly odd.
    """
    if s == 0:
        return x
    return (x + (1 << (s - 1)) - (1 if x < 0 else 0)) >> s


def factor_to_fixed(value: float, name: str = "factor") -> tuple[int, int]:
    """Represent a positive real factor as (mantissa, exponent): value ~ mantissa / 2**exponent.

    Takes the largest exponent (at most 2**GRADED_EXP_BITS - 1) whose rounded mantissa fits
    GRADED_FACTOR_BITS unsigned bits, so the relative error is below 2**-15 whenever the value
    is at least 2**-16. Refuses values that are not positive or do not fit.
    """
    top = 1 << GRADED_FACTOR_BITS
    emax = (1 << GRADED_EXP_BITS) - 1
    if not isinstance(value, (int, float)) or not value > 0 or value != value:
        raise ValueError(f"{name} must be a positive number, not {value!r}")
    if round(value) >= top:
        raise ValueError(f"{name} must be below {top - 0.5}, not {value!r}")
    for e in range(emax, -1, -1):
        m = int(value * (1 << e) + 0.5)
        if m < top:
            if m == 0:
                break
            return m, e
    raise ValueError(f"{name} must be at least {2.0 ** -(emax + 1)}, not {value!r}")


# Preset sigmoid tables: GRADED_SEGMENTS entries (x_k, y_k, m_k) with x_k in units of
# 2**-GRADED_V_FRAC, y_k in V units, m_k in units of 2**-GRADED_SLOPE_FRAC. Each is odd, has
# g(0) = 0, is continuous by construction (every segment of the positive half is a multiple of
# 1/4 wide, so m_k (x_{k+1} - x_k) / 2**12 is an integer and y_{k+1} is exactly where segment k
# ends) and flat beyond its outermost breakpoints. tests/test_graded_golden.py regenerates them.

#: 3-segment hard limiter: g(x) = clamp(x, -1, 1); unused entries repeat the last segment.
GRADED_PRESET_HARD = (
    (-16384, -16384, 0), (-16384, -16384, 4096),
) + ((16384, 16384, 0),) * 14
#: g(x) = (2/pi) atan(pi x / 2) (Fig. 3 of the 1984 paper with x = lambda u), interpolated
#: through |x| = 0, 0.5, 1, 1.5, 2.5, 4, 8, 16; flat at +-g(16) beyond.
GRADED_PRESET_ATAN = (
    (-262144, -15968, 0), (-262144, -15968, 13), (-131072, -15552, 51), (-65536, -14736, 159),
    (-40960, -13782, 396), (-24576, -12198, 863), (-16384, -10472, 1764), (-8192, -6944, 3472),
    (0, 0, 3472), (8192, 6944, 1764), (16384, 10472, 863), (24576, 12198, 396),
    (40960, 13782, 159), (65536, 14736, 51), (131072, 15552, 13), (262144, 15968, 0),
)
#: g(x) = tanh(x), interpolated through |x| = 0, 0.5, 0.75, 1, 1.5, 2, 2.5, 3.5; flat beyond.
GRADED_PRESET_TANH = (
    (-57344, -16354, 0), (-57344, -16354, 47), (-40960, -16166, 186), (-32768, -15794, 482),
    (-24576, -14830, 1176), (-16384, -12478, 2072), (-12288, -10406, 2834), (-8192, -7572, 3786),
    (0, 0, 3786), (8192, 7572, 2834), (12288, 10406, 2072), (16384, 12478, 1176),
    (24576, 14830, 482), (32768, 15794, 186), (40960, 16166, 47), (57344, 16354, 0),
)
#: Preset name -> table; also the knots (|x| real) the atan and tanh tables interpolate through.
GRADED_PRESETS = {"hard": GRADED_PRESET_HARD, "atan": GRADED_PRESET_ATAN,
                  "tanh": GRADED_PRESET_TANH}
GRADED_PRESET_KNOTS = {"hard": (0.0, 1.0), "atan": (0.0, 0.5, 1.0, 1.5, 2.5, 4.0, 8.0, 16.0),
                       "tanh": (0.0, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.5)}


# -- the quantized Hebbian store (numerics.md §14) --------------------------------------------

#: Clip level of the quantized Hebbian store in standard deviations sqrt(P) of the Hebbian sum,
#: by weight width; wider weights use the last entry. Each maximizes (to 0.05) the correlation
#: between the quantized and the exact sum for random patterns.
HEBBIAN_CLIP_SIGMAS = {2: 1.25, 3: 2.0, 4: 2.5, 5: 3.0}


def hebbian_clip_sigmas(weight_bits: int) -> float:
    """The clip level c of §14 for ``weight_bits``-bit weights (2 or more)."""
    if weight_bits < min(HEBBIAN_CLIP_SIGMAS):
        raise ValueError(f"the quantized Hebbian store needs weights of at least "
                         f"{min(HEBBIAN_CLIP_SIGMAS)} bits (W_MAX >= 1), not {weight_bits}")
    return HEBBIAN_CLIP_SIGMAS[min(weight_bits, max(HEBBIAN_CLIP_SIGMAS))]


def hebbian_thresholds(m: int, e: int, weight_max: int, count: int) -> list[int]:
    """The thresholds of the quantized store on chip (§14): t_k, the smallest |S| in 0..count
    with round_shift(m |S|, e) >= k, for k = 1, 2, ... while one exists (at most
    ``weight_max`` of them, non-decreasing, each at least 1).

    Then clamp(round_shift(m S, e), -W_MAX, W_MAX) = sign(S) #{k : |S| >= t_k} for every
    |S| <= count (round_shift is odd and non-decreasing), so the lanes count instead of
    multiplying. One pass over |S| = 0..count, each value compared with round_shift itself.
    """
    out: list[int] = []
    for s in range(1, count + 1):
        q = min(round_shift(m * s, e), weight_max)
        out.extend([s] * (q - len(out)))          # the levels k first reached at |S| = s
    return out


def hebbian_threshold_steps(thresholds, weight_max: int) -> list[tuple[int, bool]]:
    """The thresholds t_1 <= t_2 <= ... as the steps the lanes take on chip (§14): each
    (delta, counts) subtracts delta (0 .. weight_max, what a weight operand holds) from |S|,
    and a step that counts adds a level where |S| minus everything subtracted is still >= 0.
    t_k - t_{k-1} above weight_max is split into steps of weight_max that do not count; a
    repeated threshold is a counting step of 0. (0, False) is never a step (the table's end).
    """
    out: list[tuple[int, bool]] = []
    prev = 0
    for t in thresholds:
        delta, prev = t - prev, t
        while delta > weight_max:
            out.append((weight_max, False))
            delta -= weight_max
        out.append((delta, True))
    return out
