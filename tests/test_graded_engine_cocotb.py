"""The graded engine's Verilog on Icarus Verilog and Verilator, bit-exact against the golden model.

Each configuration is one RTL build; within it ``sim/tb/graded_engine_tb.py`` runs randomized
cases (data, tables, gains, dt, leak, eps, step caps, saturation corners) whose seeds are listed
here and named in any failure. Three configurations x 40 seeds = 120 cases per simulator.
"""

import pytest

from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.gateware.graded_engine import GradedEngine
from hopfield_fpga.sim.rtl_runner import SIMULATORS, run_cocotb

CONFIGS = {
    # N not a multiple of K (a partial last chunk), narrow weights and biases
    "n7k3": NetworkConfig(neurons=7, weight_bits=5, bias_bits=7, lanes=3, features=Feature.ALL),
    # full chunks, wide weights and biases (u of 33 bits)
    "n8k4": NetworkConfig(neurons=8, weight_bits=8, bias_bits=16, lanes=4, features=Feature.ALL),
    # one chunk (K = N), 1-bit weights and biases ({-1, 0}): the narrowest datapath
    "n5k5": NetworkConfig(neurons=5, weight_bits=1, bias_bits=1, lanes=5, features=Feature.ALL),
}
SEEDS_PER_CONFIG = 40


@pytest.mark.cocotb
@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_graded_engine_bit_exact(simulator, name):
    config = CONFIGS[name]
    base = 1000 * (sorted(CONFIGS).index(name) + 1)
    run_cocotb(GradedEngine(config), toplevel=f"graded_engine_{name}", simulator=simulator,
               test_module="hopfield_fpga.sim.tb.graded_engine_tb",
               params={"config": config.to_dict(), "max_steps": 12,
                       "seeds": list(range(base, base + SEEDS_PER_CONFIG))})
