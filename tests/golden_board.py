"""A stand-in for ``Board`` with the part of its API the sampler uses, running the golden model.

The simulated board is bit-exact to ``golden.run_binary`` and takes minutes where this takes
milliseconds; it reports no cycles (as ``cpu://``). ``tests/test_sampler.py`` checks once, on a
``sim://`` board, that the two give the same samples.
"""

from __future__ import annotations

import numpy as np

from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.host.board import BoardInfo
from hopfield_fpga.sim import golden, graded


class GoldenBoard:
    def __init__(self, config: NetworkConfig, url: str = "golden://"):
        self.config = config
        self.url = url
        self.weights = self.bias = None
        self.loads = 0

    @classmethod
    def of(cls, neurons: int, weight_bits: int = 8,
           features: Feature = Feature.STOCHASTIC) -> "GoldenBoard":
        return cls(NetworkConfig(neurons=neurons, weight_bits=weight_bits, lanes=1,
                                 features=features))

    def info(self) -> BoardInfo:
        return BoardInfo(0, self.config, 12_000_000, 115200, 0, self.url)

    def load_weights(self, weights, bias):
        self.weights, self.bias = np.asarray(weights), np.asarray(bias)
        self.loads += 1

    def recall(self, probe, *, order="sequential", seed=1, max_sweeps=None, beta=None):
        return golden.run_binary(self.weights, self.bias, probe, order=order, seed=seed,
                                 max_sweeps=max_sweeps, beta=beta, config=self.config)

    def run_graded(self, weights=None, bias=None, **kw):
        if weights is not None:
            self.load_weights(weights, bias)
        return graded.run_graded(self.weights, self.bias, config=self.config, **kw)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
