"""A second solver for the same BQM: Hopfield and Tank's continuous descent on the graded engine.

:class:`HopfieldTankSampler` maps the problem as :class:`~hopfield_fpga.host.sampler.HopfieldSampler`
does (T = W = -c J, I = b = -c h, ``host/ising_map.py``) and runs the graded-response network
of the 1984 paper (``docs/numerics.md`` §11, ``Board.run_graded``) from small random outputs
around 0: with a gain above the point where V = 0 turns unstable, the outputs move to corners
of the cube that are low-energy states of the Ising problem (Hopfield and Tank, 1985). The
sample of a read is sign(V) (0 counts as +1), its energy recomputed with the BQM. Needs a board
built with ``Feature.GRADED``.
"""

from __future__ import annotations

import dimod
import numpy as np

from .ising_map import map_ising
from .sampler import check_positive, check_sampler_seed

__all__ = ["HopfieldTankSampler"]


class HopfieldTankSampler(dimod.Sampler):
    """Graded (continuous) descent as a :class:`dimod.Sampler`; ``board`` is an open board
    with the graded engine (or anything with ``config``, ``info()`` and ``run_graded``)."""

    def __init__(self, board):
        self.board = board

    @property
    def parameters(self) -> dict:
        return {"num_reads": [], "gain_factor": [], "dt": [], "max_steps": [], "seed": [],
                "quantize": []}

    @property
    def properties(self) -> dict:
        cfg = self.board.config
        return {"num_variables": cfg.neurons, "weight_bits": cfg.weight_bits,
                "bias_bits": cfg.bias_bits, "clock_hz": self.board.info().clk_freq}

    def sample(self, bqm, *, num_reads: int = 10, gain_factor: float = 4.0, dt: float = 1 / 16,
               max_steps: int = 2000, seed: int | None = None,
               quantize: bool = False) -> dimod.SampleSet:
        """``gain_factor`` times the critical gain 1 / (g'(0) lambda_max(T)) (0.85 = g'(0) of the
        ``atan`` table); ``dt`` is dt/C; ``max_steps`` the cap of each read."""
        num_reads = check_positive("num_reads", num_reads)
        if isinstance(gain_factor, bool) or not isinstance(gain_factor, (int, float, np.number)) \
                or not np.isfinite(gain_factor) or gain_factor <= 0:
            raise ValueError(f"gain_factor must be a positive finite number, not {gain_factor!r}")
        if not isinstance(quantize, (bool, np.bool_)):
            raise TypeError(f"quantize must be True or False, not {quantize!r}")
        variables = list(bqm.variables)
        rng = np.random.default_rng(check_sampler_seed(seed))
        if not variables:
            return dimod.SampleSet.from_samples_bqm((np.empty((num_reads, 0)), []), bqm)
        m = map_ising(bqm, self.board.config, quantize=quantize)
        top = float(np.linalg.eigvalsh(m.weights.astype(float))[-1])
        gain = gain_factor / (0.85 * top) if top > 0 else gain_factor
        n, cap = len(variables), self.board.config.neurons
        samples = np.empty((num_reads, n), dtype=np.int8)
        steps, cycles = [], []
        for r in range(num_reads):
            v0 = rng.uniform(-0.01, 0.01, cap)
            first = r == 0
            res = self.board.run_graded(m.weights if first else None, m.bias if first else None,
                                        v0=v0, gain=gain, dt=dt, sigmoid="atan",
                                        max_steps=max_steps)
            samples[r] = np.where(res.V[:n] < 0, -1, 1)
            steps.append(res.steps)
            cycles.append(getattr(res, "cycles", None))
        if bqm.vartype is dimod.BINARY:
            samples = (samples + 1) // 2
        has_cycles = all(c is not None for c in cycles)
        clk = self.board.info().clk_freq
        info = dict(m.to_dict(), gain=gain, dt=dt, steps=steps,
                    cycles=sum(cycles) if has_cycles else None,
                    board_time_s=sum(cycles) / clk if has_cycles else None)
        return dimod.SampleSet.from_samples_bqm((samples, m.variables), bqm, info=info)
