"""Randomized cases for the graded engine's bit-exact tests (Amaranth simulator and cocotb).

:func:`random_case` draws, from one seed, a configuration (N, widths, lanes), a network (weights
and biases over their whole range, asymmetric, extremes included), initial potentials (some at
the saturation limits), a sigmoid table (a preset or a random non-decreasing one) and run
parameters (gain, dt, leak, eps, step cap), and returns it with the golden model's answer.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.numerics import GRADED_SEGMENTS, GRADED_V_ONE
from hopfield_fpga.sim import graded

__all__ = ["GradedCase", "random_case"]


@dataclasses.dataclass
class GradedCase:
    seed: int
    config: NetworkConfig
    weights: np.ndarray
    bias: np.ndarray
    u0: np.ndarray
    params: graded.GradedParams
    trace: bool
    expected: graded.GradedResult

    def describe(self) -> str:
        p = self.params
        return (f"seed={self.seed} {self.config.describe()} gain=({p.gain_m},{p.gain_e}) "
                f"dt=({p.dt_m},{p.dt_e}) leak_shift={p.leak_shift} eps={p.eps} "
                f"max_steps={p.max_steps} trace={self.trace} -> steps={self.expected.steps} "
                f"converged={self.expected.converged}")


def _random_table(rng) -> tuple:
    xs = np.sort(rng.integers(-(1 << 19), 1 << 19, GRADED_SEGMENTS))
    ys = np.sort(rng.integers(-GRADED_V_ONE - 200, GRADED_V_ONE + 200, GRADED_SEGMENTS))
    ms = rng.integers(0, 1 << 14, GRADED_SEGMENTS)
    if rng.random() < 0.3:
        ms[rng.integers(0, GRADED_SEGMENTS, 3)] = rng.integers(-(1 << 15), 1 << 15, 3)
    return tuple((int(x), int(y), int(m)) for x, y, m in zip(xs, ys, ms))


def random_case(seed: int, *, config: NetworkConfig | None = None, max_neurons: int = 9,
                max_steps: int = 24) -> GradedCase:
    """One case; the configuration is drawn too unless ``config`` fixes it (one RTL build)."""
    rng = np.random.default_rng(seed)
    if config is None:
        n = int(rng.integers(1, max_neurons + 1))
        config = NetworkConfig(neurons=n, weight_bits=int(rng.integers(1, 9)),
                               bias_bits=int(rng.integers(1, 12)),
                               lanes=int(rng.integers(1, min(n, 4) + 1)), features=Feature.ALL)
    cfg = config
    n, b_bits = cfg.neurons, cfg.bias_bits
    weights = rng.integers(cfg.weight_min, cfg.weight_max + 1, (n, n))
    if rng.random() < 0.5:
        weights = np.triu(weights, 1)
        weights = weights + weights.T
        weights = np.clip(weights, cfg.weight_min, cfg.weight_max)
    bias = rng.integers(cfg.bias_min, cfg.bias_max + 1, n)
    if rng.random() < 0.5:
        bias = bias // (1 << max(0, b_bits - 3))
    u_lo, u_hi = -(1 << (cfg.graded_u_bits - 1)), (1 << (cfg.graded_u_bits - 1)) - 1
    scale = 1 << int(rng.integers(10, cfg.graded_u_bits))
    u0 = np.clip(rng.integers(-scale, scale, n), u_lo, u_hi)
    if rng.random() < 0.3:       # saturation corners
        u0[rng.integers(0, n)] = rng.choice([u_lo, u_hi])
    choice = rng.integers(0, 4)
    table = _random_table(rng) if choice == 3 else ["hard", "atan", "tanh"][choice]
    params = graded.GradedParams(
        gain_m=int(rng.integers(0, 1 << 16)), gain_e=int(rng.integers(8, 32)),
        dt_m=int(rng.integers(0, 1 << 16)), dt_e=int(rng.integers(14, 24)),
        leak_shift=int(rng.integers(0, 8)), table=table,
        eps=int(rng.choice([0, int(rng.integers(0, 1 << 12))])),
        max_steps=int(rng.integers(0, max_steps + 1)))
    if rng.random() < 0.35:
        # small shifts make exact halves common, so the rounding mode is exercised
        params = dataclasses.replace(
            params, gain_m=int(rng.integers(1, 64)), gain_e=int(rng.integers(0, 4)),
            dt_m=int(rng.integers(1, 8)), dt_e=int(rng.integers(1, 4)))
    trace = bool(rng.random() < 0.7)
    expected = graded.run_graded_fixed(weights, bias, u0, params, cfg, trace=trace)
    return GradedCase(seed, cfg, weights, bias, u0, params, trace, expected)
