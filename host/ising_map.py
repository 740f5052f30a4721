"""Ising problems onto the network's integers (``docs/optimization.md``).

A dimod binary quadratic model in spins, E(s) = sum_i h_i s_i + sum_(i<j) J_ij s_i s_j + offset,
and the network's energy of ``docs/numerics.md`` §6, E_net = -1/2 s^T W s - b^T s with a
symmetric W and a zero diagonal, are the same function up to a positive factor when

    W_ij = W_ji = -c J_ij,    b_i = -c h_i,    so that    E_net(s) = c (E(s) - offset).

(Both entries W_ij and W_ji carry the coupling and the 1/2 counts it once: no factor 2.) The
scale c makes the integers: :func:`map_ising` first looks for an exact one (the coefficients'
common step, c = 1 / step, so ±1 problems keep their values), and only with ``quantize=True``
falls back to c = largest that fits, rounded half away from zero (§10's rule), reporting the
worst relative error. A problem that does not fit is refused with an error naming the
coefficient and the widths. Temperatures follow the scale: the board's beta is beta / c.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np

from hopfield_fpga.config import NetworkConfig
from .learning import round_half_away

__all__ = ["IsingMapping", "map_ising", "default_beta_range"]

#: Distinct coefficient magnitudes beyond which no exact common step is searched for (a
#: 16-bit weight has at most 2^15 magnitudes, so such a problem would not fit exactly anyway).
_MAX_DISTINCT = 1 << 15


@dataclasses.dataclass(frozen=True, eq=False)
class IsingMapping:
    """The network that samples a spin BQM (weights and biases padded to the board's N).

    scale: c, integer units per BQM energy unit (E_net = c (E - offset)).
    exact: every coefficient is represented exactly.
    max_relative_error: largest |q / c - x| / |x| over the non-zero coefficients x.
    worst: the coefficient with that error (``"J[a, b]"`` / ``"h[a]"``), None if exact.
    """
    variables: tuple
    weights: np.ndarray
    bias: np.ndarray
    scale: float
    exact: bool
    max_relative_error: float
    worst: str | None

    def to_dict(self) -> dict:
        return {"scale": self.scale, "exact": self.exact,
                "max_relative_error": self.max_relative_error, "worst_coefficient": self.worst}


def _name(kind: str, variables, index) -> str:
    if kind == "h":
        return f"h[{variables[index]!r}]"
    i, j = sorted(int(k) for k in index)     # in the BQM's variable order
    return f"J[{variables[i]!r}, {variables[j]!r}]"


def _exact_scale(values: np.ndarray) -> float | None:
    """1 / the largest step of which every value is an integer multiple (decimal coefficients
    such as 0.1 count as the decimals they stand for), or None if there is no such step with
    a denominator below 2^24 or too many distinct values to be worth trying."""
    mags = np.unique(np.abs(values[values != 0]))
    if mags.size == 0:
        return 1.0
    if mags.size > _MAX_DISTINCT:
        return None
    fracs = [Fraction(float(v)).limit_denominator(1 << 24) for v in mags]
    num = math.gcd(*(f.numerator for f in fracs))
    den = math.lcm(*(f.denominator for f in fracs))
    scale = den / num
    q = np.rint(mags * scale)
    # the rational found must be the value up to the float's own rounding
    if not np.allclose(q / scale, mags, rtol=1e-12, atol=0):
        return None
    return scale


def map_ising(bqm, config: NetworkConfig, *, quantize: bool = False) -> IsingMapping:
    """Weights and biases (``config``'s widths and N) for ``bqm`` (any vartype; its spin view is
    used). Raises ValueError naming the variable count or the coefficient that does not fit."""
    spin = bqm.spin
    variables = tuple(spin.variables)
    n, cap = len(variables), config.neurons
    if n > cap:
        raise ValueError(f"the problem has {n} variables; this board has {cap} neurons "
                         f"({config.describe()})")
    lin, (row, col, quad), _ = spin.to_numpy_vectors(variable_order=variables)
    lin, quad = np.asarray(lin, dtype=float), np.asarray(quad, dtype=float)
    if not (np.all(np.isfinite(lin)) and np.all(np.isfinite(quad))):
        raise ValueError("the problem has a NaN or infinite coefficient")
    # W = -c J must lie in [weight_min, weight_max], b = -c h in [bias_min, bias_max].
    w_lo, w_hi, b_lo, b_hi = config.weight_min, config.weight_max, config.bias_min, config.bias_max
    widths = (f"{config.weight_bits}-bit weights hold [{w_lo}, {w_hi}] and "
              f"{config.bias_bits}-bit biases [{b_lo}, {b_hi}]")
    scale = _exact_scale(np.concatenate([lin, quad]))
    exact = False
    if scale is not None:
        qj, qh = np.rint(quad * scale), np.rint(lin * scale)
        exact = bool(np.all((-qj >= w_lo) & (-qj <= w_hi)) and np.all((-qh >= b_lo) & (-qh <= b_hi)))
    if not exact:
        if not quantize:
            raise ValueError(_refusal(variables, lin, row, col, quad, scale, config, widths))
        big_j = float(np.max(np.abs(quad))) if quad.size else 0.0
        big_h = float(np.max(np.abs(lin))) if lin.size else 0.0
        limits = [w_hi / big_j if big_j else math.inf, b_hi / big_h if big_h else math.inf]
        scale = min(limits)
        if not scale > 0:
            raise ValueError(f"quantize: {widths}; a coupling needs a weight magnitude of at "
                             f"least 1 (weight_bits = 1 holds only {{-1, 0}})")
        qj, qh = round_half_away(quad * scale), round_half_away(lin * scale)
    worst, max_rel = None, 0.0
    if not exact:
        for kind, q, x, idx in (("J", qj, quad, lambda k: (row[k], col[k])),
                                ("h", qh, lin, lambda k: k)):
            nz = x != 0
            if not np.any(nz):
                continue
            rel = np.zeros_like(x)
            rel[nz] = np.abs(q[nz] / scale - x[nz]) / np.abs(x[nz])
            k = int(np.argmax(rel))
            if rel[k] > max_rel or worst is None:
                max_rel, worst = float(rel[k]), _name(kind, variables, idx(k))
    weights = np.zeros((cap, cap), dtype=np.int64)
    weights[row, col] = -qj.astype(np.int64)
    weights[col, row] = -qj.astype(np.int64)
    bias = np.zeros(cap, dtype=np.int64)
    bias[:n] = -qh.astype(np.int64)
    return IsingMapping(variables=variables, weights=weights, bias=bias, scale=float(scale),
                        exact=exact, max_relative_error=max_rel, worst=worst)


def _refusal(variables, lin, row, col, quad, scale, config, widths) -> str:
    """The error for a problem whose coefficients the widths cannot hold exactly."""
    if scale is None:
        return (f"the coefficients are not integer multiples of one common step (or take "
                f"more than {_MAX_DISTINCT} distinct magnitudes), so no scale maps them onto "
                f"exact integers: {widths}; pass quantize=True to scale and round them (the "
                f"worst relative error is reported)")
    # the coefficient furthest beyond its range, in units of the common step 1/scale
    cands = []
    if quad.size:
        k = int(np.argmax(np.abs(quad)))
        cands.append((abs(quad[k]) * scale / max(config.weight_max, 1), "J", (row[k], col[k]),
                      quad[k]))
    if lin.size:
        k = int(np.argmax(np.abs(lin)))
        cands.append((abs(lin[k]) * scale / max(config.bias_max, 1), "h", k, lin[k]))
    _, kind, idx, value = max(cands, key=lambda c: c[0])
    step = 1 / scale
    return (f"{_name(kind, variables, idx)} = {value:g} is {abs(value) * scale:.0f} times the "
            f"coefficients' common step {step:g}: {widths}, so the ratio of the coefficients "
            f"does not fit ({config.describe()}); pass quantize=True to scale and round them "
            f"(the worst relative error is reported), or use a board with wider weights")


def default_beta_range(bqm) -> tuple[float, float]:
    """(hot, cold) inverse temperatures in the BQM's units: at the hot end the spin with the
    largest possible energy change flips with probability about 1/2 (beta = ln 2 / that
    change), at the cold end a change of the smallest non-zero coefficient's size (2 |x|) is
    accepted with probability about 1/100."""
    spin = bqm.spin
    variables = list(spin.variables)
    lin, (row, col, quad), _ = spin.to_numpy_vectors(variable_order=variables)
    lin, quad = np.abs(np.asarray(lin, dtype=float)), np.abs(np.asarray(quad, dtype=float))
    field = lin.copy()
    np.add.at(field, row, quad)
    np.add.at(field, col, quad)
    coeffs = np.concatenate([lin, quad])
    coeffs = coeffs[coeffs > 0]
    if coeffs.size == 0:
        return 0.1, 1.0
    hot = math.log(2) / (2 * float(field.max()))
    cold = math.log(100) / (2 * float(coeffs.min()))
    return hot, max(cold, hot)
