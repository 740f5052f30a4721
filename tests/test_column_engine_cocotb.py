"""The column-parallel engine's Verilog on Icarus Verilog and Verilator, against the golden
model, through the binary engine's cocotb testbench (``sim/tb/binary_engine_tb.py``, the same
driver and scoreboard): every case kind drawn at random (symmetric, extreme, asymmetric under a
cap, ties, stochastic runs with beta schedules, on-chip Hebbian stores), every order (the
synchronous one included, its 2-cycles' other state checked), clamp masks in about half the
cases, traced with random back-pressure and untraced, and the stop input; with a pattern
buffer (``store_patterns``), half the Hebbian cases use the quantized store of §14. The cases' seeds are printed by
the testbench (a failure names its case seed). ``SelectedReplica`` (two replicas behind the
dispatch) runs the same testbench with its cases on replica 0 and 1 in turn."""

from __future__ import annotations

import pytest

from hopfield_fpga.config import Feature, NetworkConfig, Order
from hopfield_fpga.gateware.engine.column_engine import ColumnEngine
from hopfield_fpga.gateware.engine.replicas import SelectedReplica
from hopfield_fpga.sim.rtl_runner import SIMULATORS, run_cocotb
from hopfield_fpga.sim.tb.engine_driver import KINDS

#: Every feature of the binary engine.
FULL = Feature.STOCHASTIC | Feature.HEBBIAN | Feature.TRACE
#: (configuration, randomized cases). Each entry is one build per simulator.
COCOTB_CONFIGS = [
    (NetworkConfig(neurons=2, lanes=1, weight_bits=1, bias_bits=2, features=FULL,
                   orders=tuple(Order)), 50),
    (NetworkConfig(neurons=21, lanes=5, weight_bits=16, bias_bits=24, features=FULL,
                   orders=tuple(Order), engine="column", store_patterns=8), 150),
]
#: Replicas (``SelectedReplica``: two chains on one weight store behind the dispatch), the
#: cases on replica 0 and 1 in turn: one build per simulator.
REPLICA_CONFIG = NetworkConfig(neurons=13, lanes=4, weight_bits=5, features=FULL,
                               orders=tuple(Order), engine="column", replicas=2,
                               store_patterns=4)
REPLICA_CASES = 60


def _id(item):
    c = item[0]
    return f"N{c.neurons}K{c.lanes}W{c.weight_bits}"


@pytest.mark.cocotb
@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("item", COCOTB_CONFIGS, ids=_id)
def test_column_engine_rtl_matches_golden(simulator, item):
    config, count = item
    name = f"column_engine_{_id(item).lower()}"
    first = 9000
    print(f"{simulator}: {count} cases, seeds {first}..{first + count - 1}, kinds {KINDS} "
          f"in turn ({config.describe()})")
    run_cocotb(ColumnEngine(config), toplevel=name, simulator=simulator,
               test_module="hopfield_fpga.sim.tb.binary_engine_tb",
               params={"config": config.to_dict(), "seeds": [first, count],
                       "kinds": list(KINDS), "column": True}, build_name=name)


@pytest.mark.cocotb
@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_replicas_rtl_match_golden(simulator):
    """Both replicas' datapaths through the dispatch, case by case against the golden model:
    weights and stores through replica 0, runs on replica i mod 2 (stale fields refreshed)."""
    config, count, first = REPLICA_CONFIG, REPLICA_CASES, 9500
    name = f"selected_replica_{_id((config,)).lower()}"
    print(f"{simulator}: {count} cases on 2 replicas in turn, seeds {first}..{first + count - 1}"
          f" ({config.describe()})")
    run_cocotb(SelectedReplica(config), toplevel=name, simulator=simulator,
               test_module="hopfield_fpga.sim.tb.binary_engine_tb",
               params={"config": config.to_dict(), "seeds": [first, count],
                       "kinds": list(KINDS), "column": True, "replicas": config.replicas},
               build_name=name)
