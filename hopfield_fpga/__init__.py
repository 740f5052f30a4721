"""hopfield-fpga: Hopfield networks on FPGAs, correct to the bit.

The import root. Its own modules hold what every part shares: :mod:`.config` (the network
configuration), :mod:`.numerics` (constants of ``docs/numerics.md``) and :mod:`.protocol` (the
board link's frames and commands). The subpackages are the repository's top-level folders:

- :mod:`hopfield_fpga.gateware` (``gateware/``): Amaranth components.
- :mod:`hopfield_fpga.sim` (``sim/``): golden and float models, cocotb testbenches, benchmarks.
- :mod:`hopfield_fpga.host` (``host/``): learning rules, board driver, simulated board, CLI.
- :mod:`hopfield_fpga.hw` (``hw/``): board tops and the synthesis flow.
"""

from .config import NetworkConfig, Order, Feature

__all__ = ["NetworkConfig", "Order", "Feature"]
