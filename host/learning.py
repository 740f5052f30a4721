"""Learning rules and weight quantization, host side (numpy).

The rules turn P bipolar patterns (a P x N array of +1/-1) into a weight matrix:

- :func:`hebbian`: W = sum_mu p^mu (p^mu)^T with zero diagonal, exact integers (capacity
  ~0.14 N for random patterns; correlated patterns interfere);
- :func:`hebbian_quantized`: that sum scaled, rounded and clipped to the configured weights by
  the rule of the quantized on-chip store (``docs/numerics.md`` §14), bit for bit;
- :func:`pseudo_inverse`: the projection rule W = X^+ X (every pattern is an exact eigenvector
  of W, so correlated patterns are stored too, up to P < N linearly independent ones);
- :func:`storkey`: Storkey's incremental rule (1997), more capacity than Hebbian, still local.

The last two are real-valued; :func:`quantize` maps real weights to the configured integer
format as ``docs/numerics.md`` §10 states (scale, rounding half away from zero, clipping) and
reports what it changed. :func:`from_binary01` converts a network of the 1982 paper's 0/1
convention (T, I, U) into the bipolar weights and biases of §1, exactly.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.sim import golden

__all__ = ["hebbian", "hebbian_quantized", "pseudo_inverse", "storkey", "quantize", "quantize_bias",
           "QuantizationReport", "from_binary01", "check_patterns", "round_half_away",
           "HopfieldWarning"]


class HopfieldWarning(UserWarning):
    """Something legal but probably unintended (a non-zero diagonal, clipped weights, ...)."""


def check_patterns(patterns, neurons: int | None = None) -> np.ndarray:
    """Return ``patterns`` as a P x N int64 array of +1/-1, or raise naming the bad entry.

    A single vector is one pattern. ``neurons``, when given, is the required N.
    """
    x = np.asarray(patterns)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"patterns must be a vector or a P x N array, not shape {x.shape}")
    if x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"patterns must be integers +1/-1, not dtype {x.dtype} "
                        "(convert 0/1 bits with golden.state_from_bits)")
    bad = np.argwhere(np.abs(x) != 1)
    if bad.size:
        mu, i = bad[0]
        raise ValueError(f"patterns[{mu}, {i}] = {int(x[mu, i])}: pattern entries are +1/-1")
    if neurons is not None and x.shape[1] != neurons:
        raise ValueError(f"patterns have N = {x.shape[1]} entries, the network has {neurons}")
    return x.astype(np.int64)


def hebbian(patterns) -> np.ndarray:
    """W = sum_mu p^mu (p^mu)^T with zero diagonal, as exact int64 (|W_ij| <= P)."""
    x = check_patterns(patterns)
    w = x.T @ x
    np.fill_diagonal(w, 0)
    return w


def hebbian_quantized(patterns, config: NetworkConfig, *, scale: float | None = None
                      ) -> np.ndarray:
    """The Hebbian sum quantized to ``config``'s weights as the quantized store does it (§14).

    clamp(round_shift(m S, e), -W_MAX, W_MAX) with (m, e) the scale chosen from P and W_BITS
    (or ``scale`` given); the one implementation is the golden model's
    :func:`~hopfield_fpga.sim.golden.store_hebbian_quantized`, so the two cannot drift apart.
    """
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a NetworkConfig, not {config!r}")
    return golden.store_hebbian_quantized(check_patterns(patterns, config.neurons),
                                          config=config, scale=scale)


def pseudo_inverse(patterns, *, zero_diagonal: bool = True) -> np.ndarray:
    """Projection rule W = X^+ X (float): the orthogonal projector onto the patterns' span.

    Every stored pattern satisfies W p = p. With ``zero_diagonal`` (default) the diagonal,
    which is positive and would make spurious states stable, is removed; a stored pattern's
    fields are then (1 - W_ii) p_i, still of the sign of p_i since W_ii < 1 unless the unit
    vector e_i lies in the patterns' span.
    """
    x = check_patterns(patterns).astype(float)
    w = np.linalg.pinv(x) @ x
    w = (w + w.T) / 2          # symmetric up to rounding; make it exactly so
    if zero_diagonal:
        np.fill_diagonal(w, 0.0)
    return w


def storkey(patterns) -> np.ndarray:
    """Storkey's rule (float), patterns learned one after another, zero diagonal.

    For each pattern xi, with h_ij = sum_{k != i, j} W_ik xi_k:
    W_ij += (xi_i xi_j - xi_i h_ji - h_ij xi_j) / N.
    """
    x = check_patterns(patterns).astype(float)
    n = x.shape[1]
    w = np.zeros((n, n))
    for xi in x:
        full = w @ xi
        # h[i, j] = (W xi)_i - W_ii xi_i - W_ij xi_j
        h = full[:, None] - (np.diagonal(w) * xi)[:, None] - w * xi[None, :]
        w = w + (np.outer(xi, xi) - xi[:, None] * h.T - h * xi[None, :]) / n
        np.fill_diagonal(w, 0.0)
    return w


@dataclasses.dataclass(frozen=True)
class QuantizationReport:
    """What :func:`quantize` did (``docs/numerics.md`` §10).

    scale: the factor applied before rounding (integer weight ~ scale * real weight).
    clipped: entries whose rounded value fell outside [W_MIN, W_MAX] and were clamped.
    rounded: entries whose scaled value was not already an integer.
    max_error: largest |W_int / scale - W_real| over all entries, in real-weight units.
    max_relative_error: max_error divided by the largest |W_real| (0 for an all-zero matrix).
    """
    scale: float
    clipped: int
    rounded: int
    max_error: float
    max_relative_error: float
    weight_min: int
    weight_max: int

    @property
    def exact(self) -> bool:
        return self.clipped == 0 and self.rounded == 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        return (f"scale {self.scale:.6g}, {self.rounded} rounded, {self.clipped} clipped to "
                f"[{self.weight_min}, {self.weight_max}], max error {self.max_error:.3g} "
                f"({100 * self.max_relative_error:.2f}% of the largest weight)")


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, halves away from zero (§10; numpy's round is half-even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _numbers(name: str, values) -> np.ndarray:
    """``values`` as finite floats (TypeError for non-numbers, ValueError for NaN/inf)."""
    a = np.asarray(values)
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer)
                                   or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name} must be numbers, not dtype {a.dtype}")
    a = a.astype(float)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contain(s) NaN or infinity")
    return a


def _to_format(what: str, noun: str, values: np.ndarray, scale: float, lo: int, hi: int,
               warn: bool) -> tuple[np.ndarray, QuantizationReport]:
    """clamp(round_half_away(scale * values), lo, hi) and its report (§10)."""
    scaled = values * scale
    r = round_half_away(scaled)
    clipped = (r < lo) | (r > hi)
    q = np.clip(r, lo, hi).astype(np.int64)
    err = np.abs(q / scale - values)
    biggest = float(np.max(np.abs(values))) if values.size else 0.0
    max_error = float(err.max()) if err.size else 0.0
    report = QuantizationReport(
        scale=float(scale), clipped=int(np.count_nonzero(clipped)),
        rounded=int(np.count_nonzero(r != scaled)), max_error=max_error,
        max_relative_error=max_error / biggest if biggest > 0 else 0.0,
        weight_min=lo, weight_max=hi)
    if warn and report.clipped:
        warnings.warn(f"{what}: {report.clipped} {noun} clipped ({report.describe()})",
                      HopfieldWarning, stacklevel=3)
    return q, report


def quantize(weights, config: NetworkConfig, *, scale: float | None = None,
             warn: bool = True) -> tuple[np.ndarray, QuantizationReport]:
    """Map real (or integer) weights onto the configured signed format (§10).

    W_int = clamp(round_half_away(scale * W), W_MIN, W_MAX). Without ``scale``, the scale maps
    the largest |W| onto W_MAX (so nothing is clipped and the format's range is used fully);
    give ``scale=1`` to keep integer weights (e.g. :func:`hebbian`) as they are. The rule does
    not preserve the diagonal specially: a zero diagonal stays zero. Clipping warns with a
    :class:`HopfieldWarning` unless ``warn=False``; the report says what happened either way.
    """
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a NetworkConfig, not {config!r}")
    n = config.neurons
    if np.shape(weights) != (n, n):
        raise ValueError(f"weights must be {n} x {n} for this configuration, not "
                         f"{np.shape(weights)}")
    w = _numbers("weights", weights)
    hi = config.weight_max
    if scale is None:
        if hi == 0:
            raise ValueError("weight_bits = 1 holds only {-1, 0}: choose the scale explicitly")
        biggest = float(np.max(np.abs(w))) if w.size else 0.0
        scale = hi / biggest if biggest > 0 else 1.0
    elif not (isinstance(scale, (int, float)) and np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, not {scale!r}")
    return _to_format("quantize", "weight(s)", w, scale, config.weight_min, hi, warn)


def quantize_bias(bias, config: NetworkConfig, *, scale: float,
                  warn: bool = True) -> tuple[np.ndarray, QuantizationReport]:
    """Biases in real units to the configured bias format with the weights' ``scale`` (§10).

    b_int = clamp(round_half_away(scale * b), B_MIN, B_MAX): the scale must be the one the
    weights were quantized with, or the dynamics change. The report is as for :func:`quantize`
    (its weight_min/weight_max fields hold the bias range).
    """
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a NetworkConfig, not {config!r}")
    n = config.neurons
    if np.shape(bias) != (n,):
        raise ValueError(f"bias must have shape ({n},) for this configuration, not "
                         f"{np.shape(bias)}")
    b = _numbers("bias", bias)
    if not (isinstance(scale, (int, float)) and np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be the positive scale of the weights, not {scale!r}")
    return _to_format("quantize_bias", "bias(es)", b, scale, config.bias_min, config.bias_max, warn)


def _int_vector(name: str, value, n: int) -> np.ndarray:
    v = np.asarray(value)
    if v.dtype == np.bool_ or not np.issubdtype(v.dtype, np.integer):
        raise TypeError(f"{name} must be integers (the conversion is exact), not dtype {v.dtype}")
    if v.ndim == 0:
        v = np.full(n, int(v))
    if v.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), not {v.shape}")
    return v.astype(object)   # unbounded integers: the fit check below must see true values


def from_binary01(T, I, U, config: NetworkConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bipolar weights and biases of a 0/1 network (1982 convention), exactly (§1).

    The 0/1 network updates V_i <- 1 if sum_j T_ij V_j + I_i > U_i, 0 if below, unchanged on a
    tie. With s = 2V - 1 it makes the same decisions as the bipolar network W = T,
    b_i = sum_j T_ij + 2 I_i - 2 U_i. ``T`` is an N x N integer matrix, ``I`` and ``U`` integer
    vectors or scalars. Returns (W, b) as int64; refuses values that do not fit ``config``
    (default: 16-bit weights, 24-bit biases) and warns on a non-zero diagonal.
    """
    t = np.asarray(T)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise ValueError(f"T must be a square N x N matrix, not shape {t.shape}")
    if t.dtype == np.bool_ or not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"T must be integers (the conversion is exact), not dtype {t.dtype}; "
                        "quantize real weights first")
    n = t.shape[0]
    if config is None:
        config = NetworkConfig(neurons=n, weight_bits=16, bias_bits=24, lanes=1)
    if config.neurons != n:
        raise ValueError(f"T is {n} x {n} but the configuration has N = {config.neurons}")
    i_vec, u_vec = _int_vector("I", I, n), _int_vector("U", U, n)
    # numpy compares integer arrays with Python ints exactly, whatever the dtype.
    bad = np.argwhere((t < config.weight_min) | (t > config.weight_max))
    if bad.size:
        r, c = bad[0]
        raise ValueError(f"T[{r}, {c}] = {t[r, c]} does not fit {config.weight_bits}-bit weights "
                         f"[{config.weight_min}, {config.weight_max}]")
    t = t.astype(np.int64)      # |row sum| <= 4096 * 2**15: exact in int64
    b = t.sum(axis=1).astype(object) + 2 * i_vec - 2 * u_vec
    bad = np.flatnonzero((b < config.bias_min) | (b > config.bias_max))
    if bad.size:
        k = bad[0]
        raise ValueError(f"bias b[{k}] = sum_j T[{k}, j] + 2 I[{k}] - 2 U[{k}] = {b[k]} does not "
                         f"fit {config.bias_bits}-bit biases [{config.bias_min}, "
                         f"{config.bias_max}]: use a configuration with wider biases")
    if np.any(np.diagonal(t) != 0):
        warnings.warn("T has a non-zero diagonal (self-coupling): allowed, but the dynamics can "
                      "stop in states that are not minima (numerics.md §2)", HopfieldWarning,
                      stacklevel=2)
    return t, b.astype(np.int64)
