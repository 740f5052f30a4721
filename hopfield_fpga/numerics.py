"""Constants of the numeric specification (``docs/numerics.md``) shared by gateware and golden model.

The pseudo-random generator, the index draw, the fixed-point format of beta and the table of the
piecewise-linear logistic are defined here once, as plain Python integers and small pure
functions over integers. The golden model calls these functions; the gateware builds the same
arithmetic from the same constants. Changing anything here changes the spec: update
``docs/numerics.md`` in the same commit.
"""

from __future__ import annotations

__all__ = [
    "XORSHIFT_SHIFTS", "XORSHIFT_ZERO_SEED", "xorshift32", "seed_state", "draw_index",
    "BETA_BITS", "BETA_FRAC", "beta_to_fixed",
    "LOGISTIC_T_FRAC", "LOGISTIC_BREAKPOINTS", "LOGISTIC_VALUES", "LOGISTIC_ONE",
    "logistic_p16", "glauber_threshold",
]

# -- pseudo-random generator (numerics.md, "Pseudo-random generator") -------------------------

#: Marsaglia's xorshift32 triple (13, 17, 5): x ^= x << 13; x ^= x >> 17; x ^= x << 5 (mod 2**32).
XORSHIFT_SHIFTS = (13, 17, 5)
#: xorshift32 never leaves 0, so a seed of 0 loads this state instead.
XORSHIFT_ZERO_SEED = 0x2545F491
_MASK32 = 0xFFFF_FFFF


def seed_state(seed: int) -> int:
    """Generator state loaded for a 32-bit ``seed``."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= _MASK32:
        raise ValueError(f"seed must be an integer from 0 to 2**32-1, not {seed!r}")
    return seed if seed else XORSHIFT_ZERO_SEED


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
