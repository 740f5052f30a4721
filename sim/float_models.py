"""Floating-point reference of the binary and stochastic dynamics, for fidelity comparisons.

The same dynamics as :mod:`hopfield_fpga.sim.golden` (the update orders of
``docs/numerics.md`` §4, the tie rule of §3, Glauber neurons of §8), but with real weights, real
biases, the exact logistic and numpy's ``Generator`` for every random choice. It answers "what
does quantization (and the piecewise-linear logistic, and xorshift32) cost?": run the float
network and the quantized golden model from the same probes and compare the outcomes
statistically. It does not, and cannot, reproduce the golden model draw for draw.

The graded-response (1984) float model is :mod:`hopfield_fpga.sim.graded_float`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hopfield_fpga.config import Order

__all__ = ["FloatRunResult", "run_binary_float", "energy_float"]


@dataclasses.dataclass(frozen=True, eq=False)
class FloatRunResult:
    """Outcome of :func:`run_binary_float`: like :class:`golden.RunResult`, energy as a float."""
    state: np.ndarray
    converged: bool
    visits: int
    flips: int
    sweeps: int
    energy: float
    stop_reason: str
    energies: tuple[float, ...] | None = None   # E after each flip, when asked for


def energy_float(weights, bias, state) -> float:
    """E = -1/2 s^T W s - b^T s."""
    w = np.asarray(weights, dtype=float)
    s = np.asarray(state, dtype=float)
    b = np.zeros(len(s)) if bias is None else np.asarray(bias, dtype=float)
    return float(-0.5 * s @ w @ s - b @ s)


def run_binary_float(weights, bias, state, *, order="sequential", rng=None,
                     max_sweeps: int | None = None, max_visits: int | None = None,
                     beta=None, record_energy: bool = False) -> FloatRunResult:
    """Run the binary dynamics in float64.

    ``rng`` is a :class:`numpy.random.Generator` or a seed for one. ``beta`` (None for the
    deterministic rule) is a real inverse temperature or a per-sweep schedule (the last entry
    holds); stochastic runs last exactly the cap, as in the golden model (§7), and need one.
    The deterministic default cap is 1000 sweeps. Ties (h exactly 0.0) keep the state.
    """
    w = np.asarray(weights, dtype=float)
    n = w.shape[0]
    if w.shape != (n, n):
        raise ValueError(f"weights must be square, not shape {w.shape}")
    b = np.zeros(n) if bias is None else np.asarray(bias, dtype=float)
    s = np.array(state, dtype=float)
    if s.shape != (n,) or not np.all(np.abs(s) == 1):
        raise ValueError(f"state must be {n} values +1/-1")
    order = Order.parse(order)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    schedule = None if beta is None else [float(x) for x in np.atleast_1d(beta)]
    if schedule is not None and order is Order.REJECTION_FREE:
        raise ValueError("rejection_free has no stochastic form: use sequential or random")
    if max_sweeps is not None and max_visits is not None:
        raise ValueError("give max_sweeps or max_visits, not both")
    if max_sweeps is not None:
        cap = max_sweeps * n
    elif max_visits is not None:
        cap = max_visits
    elif schedule is not None:
        raise ValueError("a stochastic run lasts exactly its cap: give max_sweeps or max_visits")
    else:
        cap = 1000 * n

    h = w @ s + b
    energies = [] if record_energy else None
    visits = flips = 0

    def flip(j: int, new: float) -> None:
        nonlocal flips
        s[j] = new
        h[:] += 2 * new * w[:, j]
        flips += 1
        if energies is not None:
            energies.append(energy_float(w, b, s))

    if schedule is None:
        while True:
            uns = np.flatnonzero(s * h < 0)
            if uns.size == 0:
                stop_reason = "converged"
                break
            if visits >= cap:
                stop_reason = "cap"
                break
            if order is Order.SEQUENTIAL:
                j = visits % n
            elif order is Order.RANDOM:
                j = int(gen.integers(n))
            else:
                j = int(uns[gen.integers(uns.size)])
            if s[j] * h[j] < 0:
                flip(j, 1.0 if h[j] > 0 else -1.0)
            visits += 1
        converged = stop_reason == "converged"
    else:
        last = len(schedule) - 1
        while visits < cap:
            j = visits % n if order is Order.SEQUENTIAL else int(gen.integers(n))
            beta_k = schedule[min(visits // n, last)]
            p_up = 0.5 * (1.0 + np.tanh(beta_k * h[j]))   # = 1 / (1 + exp(-2 beta h))
            new = 1.0 if gen.random() < p_up else -1.0
            if new != s[j]:
                flip(j, new)
            visits += 1
        stop_reason = "cap"
        converged = not np.any(s * h < 0)
    return FloatRunResult(state=s.astype(np.int8), converged=bool(converged), visits=visits,
                          flips=flips, sweeps=-(-visits // n), energy=energy_float(w, b, s),
                          stop_reason=stop_reason,
                          energies=None if energies is None else tuple(energies))
