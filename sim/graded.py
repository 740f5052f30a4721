"""Golden model of graded-response neurons (Hopfield 1984), integer-exact to numerics.md §11.

The graded engine in ``gateware/graded_engine.py`` must reproduce :func:`run_graded_fixed`
bit for bit. Everything here is integer arithmetic on the formats of section 11:

- :class:`GradedParams`: the run parameters in their fixed-point form (gain and dt/C as
  mantissa/exponent, 1/R as a shift, the sigmoid table, eps, step cap), built from real values
  by :meth:`GradedParams.from_real`.
- :func:`sigmoid_table` (presets or user tables), :func:`pwl_eval` (the sigmoid unit),
  :func:`sigmoid_unit` (gain then table), :func:`euler_step` (one synchronous step).
- :func:`run_graded` / :func:`run_graded_fixed`: a whole run, returning :class:`GradedResult`.
- :func:`energy_exact`: Eq. 7 of the paper for a state, as an exact rational, with the exact
  integral of the inverse of the piecewise-linear sigmoid (Young's identity).

The float reference (the continuous ODE and the true sigmoids) is ``sim/graded_float.py``.
"""

from __future__ import annotations

import dataclasses
import functools
from fractions import Fraction
from typing import Sequence

import numpy as np

from hopfield_fpga.config import COUNTER_BITS, NetworkConfig
from hopfield_fpga.numerics import (
    GRADED_EPS_BITS, GRADED_EXP_BITS, GRADED_FACTOR_BITS, GRADED_LEAK_SHIFT_BITS,
    GRADED_PRESETS, GRADED_SEGMENTS, GRADED_SLOPE_BITS, GRADED_SLOPE_FRAC, GRADED_V_BITS,
    GRADED_V_FRAC, GRADED_V_ONE, GRADED_X_BITS, factor_to_fixed,
)

__all__ = [
    "SigmoidTable", "sigmoid_table", "GradedParams", "GradedResult", "pwl_eval", "sigmoid_unit",
    "field", "euler_step", "run_graded", "run_graded_fixed", "u_from_v", "energy_exact",
    "pwl_slope_at_zero", "infer_config", "inverse_integral", "sigmoid_range", "check_u0",
]

#: A sigmoid table: GRADED_SEGMENTS entries (x_k, y_k, m_k) as plain integers.
SigmoidTable = tuple[tuple[int, int, int], ...]


def _signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _rnd(x: np.ndarray, s: int) -> np.ndarray:
    """round_shift of numerics.py on an integer array (halves away from zero)."""
    if s == 0:
        return x
    return (x + (1 << (s - 1)) - (x < 0)) >> s


def _sat(x: np.ndarray, bits: int) -> np.ndarray:
    lo, hi = _signed_range(bits)
    return np.minimum(np.maximum(x, lo), hi)


def sigmoid_table(sigmoid: "str | Sequence[Sequence[int]]") -> SigmoidTable:
    """Return the validated table for a preset name ("hard", "atan", "tanh") or a user table.

    A user table has 1 to GRADED_SEGMENTS entries (x_k, y_k, m_k): x_k a signed GRADED_X_BITS
    integer (units 2**-GRADED_V_FRAC), y_k a signed GRADED_V_BITS integer (V units), m_k a
    signed GRADED_SLOPE_BITS slope (units 2**-GRADED_SLOPE_FRAC). The breakpoints x_1 ... must
    not decrease; x_0 only anchors segment 0. Shorter tables are padded by repeating their last
    entry (an empty segment), so every table has exactly GRADED_SEGMENTS entries.
    """
    if isinstance(sigmoid, str):
        try:
            return GRADED_PRESETS[sigmoid]
        except KeyError:
            raise ValueError(f"Unknown sigmoid preset {sigmoid!r}; expected one of "
                             f"{sorted(GRADED_PRESETS)} or a table of (x, y, m) entries") from None
    entries = [tuple(e) for e in sigmoid]
    if not 1 <= len(entries) <= GRADED_SEGMENTS:
        raise ValueError(f"A sigmoid table has 1 to {GRADED_SEGMENTS} entries, not {len(entries)}")
    fields = (("x", GRADED_X_BITS), ("y", GRADED_V_BITS), ("m", GRADED_SLOPE_BITS))
    out = []
    for k, e in enumerate(entries):
        if len(e) != 3:
            raise ValueError(f"Sigmoid table entry {k} must be (x, y, m), not {e!r}")
        for (name, bits), value in zip(fields, e):
            lo, hi = _signed_range(bits)
            if not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
                raise ValueError(f"Sigmoid table entry {k}: {name} must be an integer in "
                                 f"[{lo}, {hi}], not {value!r}")
        out.append(tuple(int(v) for v in e))
    for k in range(2, len(out)):
        if out[k][0] < out[k - 1][0]:
            raise ValueError(f"Sigmoid breakpoints must not decrease: x_{k} = {out[k][0]} < "
                             f"x_{k - 1} = {out[k - 1][0]}")
    out += [out[-1]] * (GRADED_SEGMENTS - len(out))
    return tuple(out)


def pwl_slope_at_zero(table: SigmoidTable) -> float:
    """g'(0) of the table: the slope of the segment that x = 0 falls in (real units)."""
    k = _segment(np.array([0]), table)[0]
    return table[k][2] / (1 << GRADED_SLOPE_FRAC)


@dataclasses.dataclass(frozen=True)
class GradedParams:
    """The run parameters of section 11 in fixed point.

    gain lambda = gain_m / 2**gain_e; dt/C = dt_m / 2**dt_e; 1/R = 2**-leak_shift; ``eps`` in
    units of u (2**-GRADED_V_FRAC); ``max_steps`` the step cap (0 makes no step).
    """

    gain_m: int
    gain_e: int
    dt_m: int
    dt_e: int
    leak_shift: int = 0
    table: SigmoidTable = GRADED_PRESETS["atan"]
    eps: int = 0
    max_steps: int = 10_000

    def __post_init__(self):
        def check(name, value, lo, hi):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) \
                    or not lo <= value <= hi:
                raise ValueError(f"{name} must be an integer in [{lo}, {hi}], not {value!r}")
        check("gain_m", self.gain_m, 0, (1 << GRADED_FACTOR_BITS) - 1)
        check("gain_e", self.gain_e, 0, (1 << GRADED_EXP_BITS) - 1)
        check("dt_m", self.dt_m, 0, (1 << GRADED_FACTOR_BITS) - 1)
        check("dt_e", self.dt_e, 0, (1 << GRADED_EXP_BITS) - 1)
        check("leak_shift", self.leak_shift, 0, (1 << GRADED_LEAK_SHIFT_BITS) - 1)
        check("eps", self.eps, 0, (1 << GRADED_EPS_BITS) - 1)
        check("max_steps", self.max_steps, 0, (1 << COUNTER_BITS) - 1)
        object.__setattr__(self, "table", sigmoid_table(self.table))

    @classmethod
    def from_real(cls, *, gain: "float | tuple[int, int]", dt: "float | tuple[int, int]",
                  leak: float = 1.0, sigmoid="atan", eps: float = 0.0,
                  max_steps: int = 10_000) -> "GradedParams":
        """Quantize real parameters: gain and dt/C to mantissa/exponent (or give (m, e)),
        leak = 1/R which must be 2**-k for k in 0..7, eps in real units of u (rounded down)."""
        gm, ge = gain if isinstance(gain, tuple) else factor_to_fixed(gain, "gain")
        dm, de = dt if isinstance(dt, tuple) else factor_to_fixed(dt, "dt")
        shifts = {2.0 ** -k: k for k in range(1 << GRADED_LEAK_SHIFT_BITS)}
        if leak not in shifts:
            raise ValueError(f"leak (1/R) must be one of {sorted(shifts, reverse=True)}, "
                             f"not {leak!r}")
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, not {eps!r}")
        return cls(gm, ge, dm, de, shifts[leak], sigmoid_table(sigmoid),
                   int(eps * GRADED_V_ONE), max_steps)

    @property
    def gain(self) -> Fraction:
        return Fraction(self.gain_m, 1 << self.gain_e)

    @property
    def dt(self) -> Fraction:
        return Fraction(self.dt_m, 1 << self.dt_e)

    @property
    def leak(self) -> Fraction:
        return Fraction(1, 1 << self.leak_shift)


def _segment(x: np.ndarray, table: SigmoidTable) -> np.ndarray:
    """Index k = max{k >= 1 : x >= x_k}, else 0 (breakpoints do not decrease)."""
    bps = np.array([e[0] for e in table[1:]], dtype=np.int64)
    return (np.asarray(x)[..., None] >= bps).sum(axis=-1)


def pwl_eval(x, table: SigmoidTable) -> np.ndarray:
    """The sigmoid table on a saturated argument x (GRADED_X_BITS): v in [-ONE, ONE].

    v = clamp(y_k + round_shift(m_k (x - x_k), GRADED_SLOPE_FRAC), -ONE, ONE).
    """
    x = np.asarray(x, dtype=np.int64)
    k = _segment(x, table)
    t = np.array(table, dtype=np.int64)
    v = t[k, 1] + _rnd(t[k, 2] * (x - t[k, 0]), GRADED_SLOPE_FRAC)
    return np.clip(v, -GRADED_V_ONE, GRADED_V_ONE)


def _dtype(config: NetworkConfig):
    # Python integers when a product could exceed int64 (the widest is q = dt_m * r).
    return np.int64 if config.graded_acc_bits + 24 <= 62 else object


def sigmoid_unit(u, params: GradedParams, config: NetworkConfig) -> np.ndarray:
    """V = g(lambda u): x = sat_X(round_shift(gain_m u, gain_e)), then :func:`pwl_eval`."""
    u = np.asarray(u, dtype=_dtype(config))
    x = _sat(_rnd(u * params.gain_m, params.gain_e), GRADED_X_BITS)
    return pwl_eval(x.astype(np.int64), params.table)


def field(weights: np.ndarray, bias: np.ndarray, v: np.ndarray) -> np.ndarray:
    """F_i = sum_j T_ij v_j + b_i 2**GRADED_V_FRAC, exact (graded_acc_bits)."""
    return weights @ v + (bias << GRADED_V_FRAC)


def euler_step(weights, bias, u, v, params: GradedParams, config: NetworkConfig):
    """One synchronous step: every u from the previous v. Returns (u', v', max |u' - u|)."""
    f = field(weights, bias, v)
    ls = params.leak_shift
    r = (f << ls) - u
    du = _rnd(r * params.dt_m, params.dt_e + ls)
    u_new = _sat(u + du, config.graded_u_bits)
    v_new = sigmoid_unit(u_new, params, config)
    delta = int(np.max(np.abs(u_new - u))) if len(u) else 0
    return u_new, v_new, delta


@dataclasses.dataclass
class GradedResult:
    """Outcome of a graded run (fixed-point integers; ``V`` and ``U`` give real values).

    ``trace`` (on request) holds one (u, v) pair of arrays per step, after that step.
    ``max_du`` is max_i |u_i' - u_i| of the last step (0 when no step was made).
    """

    v: np.ndarray
    u: np.ndarray
    steps: int
    converged: bool
    max_du: int
    params: GradedParams
    config: NetworkConfig
    weights: np.ndarray
    bias: np.ndarray
    trace: list | None = None

    @property
    def V(self) -> np.ndarray:
        return np.asarray(self.v, dtype=float) / GRADED_V_ONE

    @property
    def U(self) -> np.ndarray:
        return np.asarray(self.u, dtype=float) / GRADED_V_ONE

    def energy(self) -> Fraction:
        """Eq. 7 for the final state, exact (see :func:`energy_exact`)."""
        return energy_exact(self.weights, self.bias, self.v, self.params)


def infer_config(weights: np.ndarray, bias: np.ndarray) -> NetworkConfig:
    """The smallest configuration whose weight and bias widths hold these values (lanes 1)."""
    def bits(a):
        a = np.asarray(a, dtype=np.int64)
        if a.size == 0:
            return 1
        lo, hi = int(a.min()), int(a.max())
        return max(1, (max(hi, -lo - 1)).bit_length() + 1)
    w = bits(weights)
    return NetworkConfig(neurons=len(weights), weight_bits=w,
                         bias_bits=max(bits(bias), min(w + 8, 24)), lanes=1)


def _check_network(weights, bias, config: NetworkConfig):
    w = np.asarray(weights)
    n = config.neurons
    if w.shape != (n, n):
        raise ValueError(f"weights must be a {n}x{n} matrix for this configuration, not {w.shape}")
    if not np.issubdtype(w.dtype, np.integer):
        raise ValueError(f"weights must be integers, not {w.dtype}")
    if w.size and (w.min() < config.weight_min or w.max() > config.weight_max):
        bad = w[(w < config.weight_min) | (w > config.weight_max)][0]
        raise ValueError(f"weight {bad} outside [{config.weight_min}, {config.weight_max}] "
                         f"(W_BITS = {config.weight_bits})")
    b = np.zeros(n, dtype=np.int64) if bias is None else np.asarray(bias)
    if b.shape != (n,) or not np.issubdtype(b.dtype, np.integer):
        raise ValueError(f"bias must be {n} integers, not {b.shape} of {b.dtype}")
    if b.size and (b.min() < config.bias_min or b.max() > config.bias_max):
        bad = b[(b < config.bias_min) | (b > config.bias_max)][0]
        raise ValueError(f"bias {bad} outside [{config.bias_min}, {config.bias_max}] "
                         f"(B_BITS = {config.bias_bits})")
    dt = _dtype(config)
    return w.astype(np.int64).astype(dt), b.astype(np.int64).astype(dt)


def check_u0(u0, config: NetworkConfig) -> np.ndarray:
    """The potentials of :func:`run_graded_fixed` as int64, refused with an error naming the
    valid range when they do not fit graded_u_bits (shared with the compiled engine)."""
    u = np.asarray(u0)
    lo, hi = _signed_range(config.graded_u_bits)
    if u.shape != (config.neurons,) or not np.issubdtype(u.dtype, np.integer) \
            or (u.size and (u.min() < lo or u.max() > hi)):
        raise ValueError(f"u0 must be {config.neurons} integers in [{lo}, {hi}] "
                         f"(graded_u_bits = {config.graded_u_bits}), not {u0!r}")
    return u.astype(np.int64)


def run_graded_fixed(weights, bias, u0, params: GradedParams, config: NetworkConfig, *,
                     trace: bool = False) -> GradedResult:
    """A run of section 11 from the fixed-point potentials ``u0`` (graded_u_bits integers).

    v0 = g(lambda u0); then synchronous Euler steps until max |du| <= eps (converged) or
    ``params.max_steps`` steps (cap, converged = False).
    """
    w, b = _check_network(weights, bias, config)
    u = check_u0(u0, config).astype(_dtype(config))
    v = sigmoid_unit(u, params, config).astype(u.dtype)
    steps, converged, delta = 0, False, 0
    frames = [] if trace else None
    while steps < params.max_steps:
        u, v, delta = euler_step(w, b, u, v, params, config)
        v = v.astype(u.dtype)
        steps += 1
        if trace:
            frames.append((u.astype(np.int64), v.astype(np.int64)))
        if delta <= params.eps:
            converged = True
            break
    return GradedResult(v.astype(np.int64), u.astype(np.int64), steps, converged, delta,
                        params, config, w.astype(np.int64), b.astype(np.int64), frames)


def run_graded(weights, bias=None, *, u0=None, v0=None, gain, dt, leak: float = 1.0,
               sigmoid="atan", max_steps: int = 10_000, eps: float = 0.0, trace: bool = False,
               config: NetworkConfig | None = None) -> GradedResult:
    """Run the graded network from real-valued ``u0`` or ``v0`` (exactly one of them).

    ``gain``, ``dt`` (dt/C) are reals or exact (mantissa, exponent) pairs; ``leak`` = 1/R a power
    of two; ``sigmoid`` a preset name or table; ``eps`` in real units of u. ``u0`` is rounded to
    the u grid; ``v0`` is mapped through :func:`u_from_v`. ``config`` defaults to
    :func:`infer_config`.
    """
    weights = np.asarray(weights)
    bias = np.zeros(len(weights), dtype=np.int64) if bias is None else np.asarray(bias)
    if config is None:
        config = infer_config(weights, bias)
    params = GradedParams.from_real(gain=gain, dt=dt, leak=leak, sigmoid=sigmoid, eps=eps,
                                    max_steps=max_steps)
    if (u0 is None) == (v0 is None):
        raise ValueError("Give exactly one of u0 (potentials) and v0 (outputs)")
    if u0 is not None:
        u_fixed = np.rint(np.asarray(u0, dtype=float) * GRADED_V_ONE).astype(np.int64)
        lo, hi = _signed_range(config.graded_u_bits)
        u_fixed = np.clip(u_fixed, lo, hi)
    else:
        u_fixed = u_from_v(v0, params, config)
    return run_graded_fixed(weights, bias, u_fixed, params, config, trace=trace)


# -- the real piecewise-linear g, its inverse and the energy ------------------------------------

@functools.lru_cache(maxsize=64)
def _pieces(table: SigmoidTable) -> tuple[tuple[Fraction, Fraction, Fraction, Fraction], ...]:
    """The real PWL function G of a table (no rounding, clamped to [-1, 1]) as linear pieces
    (a, b, G(a), slope) covering (-inf, inf) in order; a = -inf / b = inf as None-free sentinels
    are replaced by a very wide span (|x| <= 2**30), far beyond any saturated argument."""
    one = GRADED_V_ONE
    span = Fraction(1 << 30)
    ks = [0] + [k for k in range(1, GRADED_SEGMENTS)
                if k == GRADED_SEGMENTS - 1 or table[k][0] < table[k + 1][0]]
    pieces = []
    starts = [-span] + [Fraction(table[k][0], one) for k in ks[1:]]
    ends = starts[1:] + [span]
    for k, a, b in zip(ks, starts, ends):
        if a >= b:
            continue
        x0, y0, m = table[k]
        s = Fraction(m, 1 << GRADED_SLOPE_FRAC)
        ya = Fraction(y0, one) + s * (a - Fraction(x0, one))
        # split where the clamp to [-1, 1] takes over
        cuts = [a, b]
        if s != 0:
            for level in (Fraction(-1), Fraction(1)):
                xc = a + (level - ya) / s
                if a < xc < b:
                    cuts.append(xc)
        cuts.sort()
        for c0, c1 in zip(cuts, cuts[1:]):
            g0 = ya + s * (c0 - a)
            mid = ya + s * ((c0 + c1) / 2 - a)
            if mid > 1 or mid < -1:
                pieces.append((c0, c1, Fraction(1 if mid > 1 else -1), Fraction(0)))
            else:
                pieces.append((c0, c1, g0, s))
    _check_monotone(pieces)
    return tuple(pieces)


def _integral_g(pieces, lo: Fraction, hi: Fraction) -> Fraction:
    """Exact integral of G over [lo, hi] (lo <= hi)."""
    total = Fraction(0)
    for a, b, ga, s in pieces:
        c0, c1 = max(a, lo), min(b, hi)
        if c0 < c1:
            g0 = ga + s * (c0 - a)
            total += (c1 - c0) * g0 + s * (c1 - c0) ** 2 / 2
    return total


def _inverse(pieces, level: Fraction) -> Fraction:
    """A point x with G(x) = level, or the jump where G passes over it (generalized inverse)."""
    for a, b, ga, s in pieces:
        gb = ga + s * (b - a)
        if ga <= level <= gb:
            if s == 0:
                return a
            return a + (level - ga) / s
        if level < ga:
            return a  # G jumps over the level at a
    raise ValueError(f"V = {float(level)} is outside the range of the sigmoid table")


def _check_monotone(pieces) -> None:
    prev = None
    for a, b, ga, s in pieces:
        if s < 0 or (prev is not None and ga < prev):
            raise ValueError("Inverting the sigmoid (the energy of Eq. 7, u from V) needs a "
                             f"non-decreasing table; this one decreases near x = {float(a)}")
        prev = ga + s * (b - a)


def sigmoid_range(table: SigmoidTable) -> tuple[Fraction, Fraction]:
    """(lowest, highest) value of the real table function G: the outputs V the energy covers."""
    pieces = _pieces(table)
    a, b, ga, s = pieces[-1]
    return pieces[0][2], ga + s * (b - a)


def inverse_integral(v: Fraction, table: SigmoidTable) -> Fraction:
    """Phi(V) = integral from 0 to V of G^-1 (x units), exact, by Young's identity:
    Phi(V) = x_V V - integral_{x_0}^{x_V} G, with G(x_0) = 0 and G(x_V) = V."""
    pieces = _pieces(table)
    x0 = _inverse(pieces, Fraction(0))
    xv = _inverse(pieces, v)
    integral = _integral_g(pieces, min(x0, xv), max(x0, xv))
    return xv * v - (integral if xv >= x0 else -integral)


def energy_exact(weights, bias, v, params: GradedParams) -> Fraction:
    """Eq. 7: E = -1/2 sum T_ij V_i V_j - sum I_i V_i + (1/(R lambda)) sum_i Phi(V_i).

    V = v / 2**GRADED_V_FRAC, T and I the integer weights and biases, lambda and R the
    represented gain and leak of ``params`` and Phi the exact integral of the inverse of the
    real piecewise-linear sigmoid of ``params.table`` (:func:`inverse_integral`). The sign of
    the I term is that of Eq. 8 (the printed Eq. 7 has a sign slip).
    """
    one = GRADED_V_ONE
    vs = [Fraction(int(x), one) for x in np.asarray(v)]
    w = np.asarray(weights, dtype=np.int64)
    n = len(vs)
    quad = Fraction(0)
    for i in range(n):
        row = sum((int(w[i, j]) * vs[j] for j in range(n) if w[i, j]), Fraction(0))
        quad += vs[i] * row
    lin = sum((int(b) * vi for b, vi in zip(np.asarray(bias), vs)), Fraction(0))
    cache: dict[Fraction, Fraction] = {}
    phi = Fraction(0)
    for vi in vs:
        if vi not in cache:
            cache[vi] = inverse_integral(vi, params.table)
        phi += cache[vi]
    if params.gain == 0:
        raise ValueError("The energy needs a gain above 0")
    return -quad / 2 - lin + phi * params.leak / params.gain


def u_from_v(v0, params: GradedParams, config: NetworkConfig) -> np.ndarray:
    """Fixed-point u0 whose output is (close to) the real ``v0``: x = G^-1(v0) exactly, then
    u0 = round(x / lambda) on the u grid, saturated. g(lambda u0) can differ from v0 by the
    rounding of u0 and of the table."""
    v0 = np.asarray(v0, dtype=float)
    if v0.shape != (config.neurons,) or np.any(np.abs(v0) > 1):
        raise ValueError(f"v0 must be {config.neurons} values in [-1, 1], not {v0!r}")
    pieces = _pieces(params.table)
    lo, hi = _signed_range(config.graded_u_bits)
    out = []
    for value in v0:
        level = Fraction(value)
        gmin, gmax = pieces[0][2], pieces[-1][2] + pieces[-1][3] * (pieces[-1][1] - pieces[-1][0])
        level = min(max(level, gmin), gmax)
        x = _inverse(pieces, level)
        u = x / params.gain * GRADED_V_ONE
        out.append(min(max(round(u), lo), hi))
    return np.array(out, dtype=np.int64)
