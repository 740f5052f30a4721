"""The board top's Verilog through its UART pins on Icarus Verilog and Verilator.

A bit-level UART on ``rx``/``tx`` carries real protocol frames (``sim/tb/board_top_tb.py``):
identify, weight load and read-back, on-chip store, traced recalls equal to the golden model
bit for bit, and garbage and corrupted frames that must not block the next good frame. A
small network and 8 clocks per bit keep each simulator's run short.
"""

from __future__ import annotations

import pytest

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.gateware.board_top import BoardTop
from hopfield_fpga.sim.rtl_runner import SIMULATORS, run_cocotb

CONFIG = NetworkConfig(neurons=10, lanes=4, weight_bits=4)
#: 8 clock cycles per bit.
CLK_FREQ, BAUD = 800_000, 100_000
SEED = 11


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_board_top_uart_matches_golden(simulator):
    name = "board_top_n10k4w4"
    try:
        run_cocotb(BoardTop(CONFIG, CLK_FREQ, BAUD), toplevel=name, simulator=simulator,
                   test_module="hopfield_fpga.sim.tb.board_top_tb", build_name=name,
                   params={"config": CONFIG.to_dict(), "clk_freq": CLK_FREQ, "baud": BAUD,
                           "seed": SEED})
    except AssertionError as exc:
        raise AssertionError(f"seed {SEED}: {exc}") from None
