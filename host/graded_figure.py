"""Fig. 3 of Hopfield (1984): the energy map of two graded neurons with trajectories on it.

The drawing is independent of where the trajectories come from: a board (``run_graded`` with
a trace), the simulated board or the golden model all give, per start, the sequence of output
pairs (V1, V2) after each step. :func:`energy_map` evaluates Eq. 7 on a grid exactly as the
spec defines it (``docs/numerics.md`` §11.6: the table's piecewise-linear inverse integral, the
represented gain and leak), so the contours are those of the fixed-point system the hardware
runs. :func:`draw_energy_map` writes the figure (matplotlib, the ``plot`` extra).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from hopfield_fpga.sim import graded

__all__ = ["FIG3_WEIGHTS", "FIG3_BIAS", "FIG3_GAIN", "fig3_params", "fig3_starts", "energy_map",
           "draw_energy_map", "trajectory_from_trace"]

#: The network of Fig. 3: T12 = T21 = 1, no self-coupling, no input; lambda = 1.4, R = 1.
FIG3_WEIGHTS = np.array([[0, 1], [1, 0]])
FIG3_BIAS = np.zeros(2, dtype=np.int64)
FIG3_GAIN = 1.4


def fig3_params(*, dt: float = 1 / 16, max_steps: int = 2000,
                sigmoid="atan") -> graded.GradedParams:
    """Run parameters of Fig. 3 (g = the atan preset, lambda = 1.4, R = 1)."""
    return graded.GradedParams.from_real(gain=FIG3_GAIN, dt=dt, leak=1.0, sigmoid=sigmoid,
                                         max_steps=max_steps)


def fig3_starts(points: int = 7, extent: float = 0.9) -> list[tuple[float, float]]:
    """A grid of starting outputs (V1, V2), without the anti-diagonal V1 = -V2 (the stable
    manifold of the saddle at the origin, from which the flow never leaves)."""
    grid = np.linspace(-extent, extent, points)
    return [(float(a), float(b)) for a in grid for b in grid if abs(a + b) > 1e-9]


def energy_map(weights, bias, params: graded.GradedParams, resolution: int = 101,
               extent: float = 0.999):
    """Eq. 7 on a (resolution x resolution) grid of (V1, V2) in [-extent, extent]^2.

    Returns (v, energy) with energy[b, a] = E(V1 = v[a], V2 = v[b]) as floats; NaN where a V
    lies outside the range of the table (the atan preset ends at +-0.9746). Exact per grid
    point (the inverse integral is evaluated once per grid value with fractions).
    """
    w = np.asarray(weights, dtype=float)
    b = np.asarray(bias, dtype=float)
    if w.shape != (2, 2):
        raise ValueError(f"The energy map is for two neurons, not weights of shape {w.shape}")
    v = np.linspace(-extent, extent, resolution)
    scale = params.leak / params.gain
    lo, hi = graded.sigmoid_range(params.table)
    phi = np.array([float(graded.inverse_integral(Fraction(x), params.table) * scale)
                    if lo <= x <= hi else np.nan for x in v])
    v1, v2 = np.meshgrid(v, v)
    energy = (-0.5 * (w[0, 0] * v1 * v1 + (w[0, 1] + w[1, 0]) * v1 * v2 + w[1, 1] * v2 * v2)
              - b[0] * v1 - b[1] * v2 + phi[None, :] + phi[:, None])
    return v, energy


def trajectory_from_trace(v0: Sequence[int], trace) -> np.ndarray:
    """(steps + 1) x N real outputs from the initial v (fixed point) and per-step (u, v) pairs."""
    frames = [np.asarray(v0)] + [np.asarray(v) for _, v in trace]
    return np.array(frames, dtype=float) / graded.GRADED_V_ONE


def draw_energy_map(path, trajectories: Sequence[np.ndarray], params: graded.GradedParams, *,
                    weights=FIG3_WEIGHTS, bias=FIG3_BIAS, title: str | None = None) -> Path:
    """Draw energy contours and the trajectories (each an array of (V1, V2) rows) to ``path``."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("Drawing needs matplotlib: pip install 'hopfield-fpga[plot]'") from None
    v, energy = energy_map(weights, bias, params)
    fig, ax = plt.subplots(figsize=(6, 6))
    levels = np.nanquantile(energy, [0.01, 0.03, 0.07, 0.15, 0.3, 0.5, 0.7, 0.9])
    contour = ax.contour(v, v, energy, levels=np.unique(levels), colors="0.5", linewidths=0.8)
    ax.clabel(contour, fmt="%.3f", fontsize=7)
    for traj in trajectories:
        traj = np.asarray(traj, dtype=float)
        ax.plot(traj[:, 0], traj[:, 1], color="tab:blue", linewidth=0.9)
        ax.plot(traj[0, 0], traj[0, 1], "o", color="tab:blue", markersize=2.5)
        ax.plot(traj[-1, 0], traj[-1, 1], "o", color="tab:red", markersize=4)
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("V1")
    ax.set_ylabel("V2")
    ax.set_title(title or f"Energy (Eq. 7) and trajectories: lambda = {float(params.gain):.3f}, "
                          f"dt = {float(params.dt):.4f}")
    path = Path(path)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
