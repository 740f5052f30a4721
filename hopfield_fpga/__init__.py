"""hopfield-fpga: Hopfield networks on FPGAs, correct to the bit.

The import root. Its own modules hold what every part shares: :mod:`.config` (the network
configuration), :mod:`.numerics` (constants of ``docs/numerics.md``) and :mod:`.protocol` (the
board link's frames and commands). The subpackages are the repository's top-level folders:

- :mod:`hopfield_fpga.gateware` (``gateware/``): Amaranth components.
- :mod:`hopfield_fpga.sim` (``sim/``): golden and float models, cocotb testbenches, benchmarks.
- :mod:`hopfield_fpga.host` (``host/``): learning rules, board driver, simulated board, CLI.
- :mod:`hopfield_fpga.hw` (``hw/``): board tops and the synthesis flow.
"""

import time as _time

#: When this process imported the package. A source file changed after it is not what the
#: process runs: the simulated board's cache (``host/simboard.py``) checks its sources against it.
IMPORT_TIME = _time.time()

from .config import NetworkConfig, Order, Feature  # noqa: E402

__all__ = ["NetworkConfig", "Order", "Feature"]
