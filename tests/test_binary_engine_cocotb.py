"""The binary engine's Verilog on Icarus Verilog and Verilator, against the golden model.

Each configuration is compiled once per simulator and runs many randomized cases (parameters
go through the access stream), so the number of builds stays small. Together the
configurations give more than 200 randomized cases per simulator: N = 1, 2 and non-powers of
two, weight widths 1 to 16 with extreme values, asymmetric weights under a cap, ties (h = 0),
every order, stochastic runs with beta schedules, on-chip Hebbian storing with saturation,
random back-pressure on the trace stream, and a quarter of the runs untraced (in
rejection_free order those take the chained flips, N13K4 and N21K5, or the early drain;
they are compared on state, counts and 2E). The fixed regression cases are the first seeds of
every kind (``kinds`` cycles through all of them).
"""

from __future__ import annotations

import pytest

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.gateware.binary_engine import BinaryEngine
from hopfield_fpga.sim.rtl_runner import SIMULATORS, run_cocotb
from hopfield_fpga.sim.tb.engine_driver import KINDS

#: (configuration, randomized cases): 210 a simulator. Keep this list short: each entry is one
#: build. The two small designs build and run several times faster than the two large ones,
#: so they take more of the cases; the large ones keep enough for every kind and order.
COCOTB_CONFIGS = [
    (NetworkConfig(neurons=1, lanes=1, weight_bits=3), 50),
    (NetworkConfig(neurons=2, lanes=1, weight_bits=1, bias_bits=2), 60),
    (NetworkConfig(neurons=13, lanes=4, weight_bits=16, bias_bits=24), 50),
    (NetworkConfig(neurons=21, lanes=5, weight_bits=2), 50),
]


def _id(item):
    c = item[0]
    return f"N{c.neurons}K{c.lanes}W{c.weight_bits}"


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("item", COCOTB_CONFIGS, ids=_id)
def test_engine_rtl_matches_golden(simulator, item):
    config, count = item
    name = f"binary_engine_{_id(item).lower()}"
    # Regression: the first len(KINDS) seeds cycle through every kind, the rest are random.
    run_cocotb(BinaryEngine(config), toplevel=name, simulator=simulator,
               test_module="hopfield_fpga.sim.tb.binary_engine_tb",
               params={"config": config.to_dict(), "seeds": [5000, len(KINDS)],
                       "kinds": list(KINDS)},
               testcase="randomized_cases_match_golden", build_name=name)
    run_cocotb(BinaryEngine(config), toplevel=name, simulator=simulator,
               test_module="hopfield_fpga.sim.tb.binary_engine_tb",
               params={"config": config.to_dict(), "seeds": [1, count]}, build_name=name)
