"""The board top's Verilog through its UART pins on Icarus Verilog and Verilator.

A bit-level UART on ``rx``/``tx`` carries real protocol frames (``sim/tb/board_top_tb.py``):
identify, weight load and read-back, on-chip store (a STORE repeated and one out of its
chain's order), traced recalls equal to the golden model bit for bit, garbage and corrupted
frames that must not block the next good frame, and frames sent 2% slow and 2% fast (the
receiver's margin). A small network keeps each run short; the UART runs at two boards'
default rates and clocks: the ULX3S 85F's 3 Mbaud at its PLL clock on Icarus (a fractional
bit period: 13 1/3 cycles at 40 MHz), the iCEBreaker's 3 Mbaud at 12 MHz on Verilator (4
cycles, the fewest of any board). Each simulator runs one design of the binary engine
(``config.ENGINES``): the K-lane engine on Icarus, the column engine (the ECPIX-5's) on
Verilator.
"""

from __future__ import annotations

import pytest

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.gateware.board_top import BoardTop
from hopfield_fpga.hw.boards import get_board
from hopfield_fpga.sim.rtl_runner import SIMULATORS, run_cocotb

CONFIG = NetworkConfig(neurons=10, lanes=4, weight_bits=4)
#: The configuration each simulator runs: the same network on either engine.
CONFIG_OF = {"icarus": CONFIG, "verilator": CONFIG.with_(engine="column")}
#: The board whose default clock and baud each simulator runs: ULX3S 85F, 3 Mbaud at its
#: clock (hw/boards.py); iCEBreaker, 3 Mbaud at 12 MHz.
BOARD_OF = {"icarus": "ulx3s-85f", "verilator": "icebreaker"}
SEED = 11


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_board_top_uart_matches_golden(simulator):
    board = get_board(BOARD_OF[simulator])
    clk, baud = round(board.sys_clk_freq), board.baud
    config = CONFIG_OF[simulator]
    name = f"board_top_{config.engine}_n10k4w4_{baud}"
    try:
        run_cocotb(BoardTop(config, clk, baud), toplevel=name, simulator=simulator,
                   test_module="hopfield_fpga.sim.tb.board_top_tb", build_name=name,
                   params={"config": config.to_dict(), "clk_freq": clk, "baud": baud,
                           "seed": SEED})
    except AssertionError as exc:
        raise AssertionError(f"seed {SEED}: {exc}") from None
