"""The sampler tests' board: ``cpu://`` (the compiled CPU engine behind the Board API, bit-exact
to the simulated board, no cycles) in a given configuration, counting its weight loads.

``tests/test_sampler.py`` and ``tests/test_tank_sampler.py`` check once, on a ``sim://`` board,
that the gateware gives the same samples.
"""

from __future__ import annotations

from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.host.board import Board
from hopfield_fpga.host.engines import COLUMN_EXTRAS
from hopfield_fpga.host.urls import board_url


#: Board.open itself: tests replace Board.open with a function that makes a CpuBoard.
_open = Board.open


class CpuBoard:
    """A ``cpu://`` board that counts ``load_weights`` calls (everything else is the Board's)."""

    def __init__(self, config: NetworkConfig):
        self.board = _open(board_url("cpu", config))
        self.loads = 0

    @classmethod
    def of(cls, neurons: int, weight_bits: int = 8,
           features: Feature = Feature.STOCHASTIC) -> "CpuBoard":
        return cls(NetworkConfig(neurons=neurons, weight_bits=weight_bits, lanes=1,
                                 features=features))

    @property
    def extras(self) -> frozenset[str]:
        """Those of a board built in this configuration (cpu:// itself has every extra): the
        sampler holds the padding where a board clamps, which changes its flips and cycles."""
        return COLUMN_EXTRAS if self.board.config.engine == "column" else frozenset()

    def load_weights(self, *args, **kwargs):
        self.loads += 1
        return self.board.load_weights(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.board, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.board.close()
