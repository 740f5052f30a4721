"""The link's default rates: every board's baud from its bridge and clock, ``hopfield boards
--json`` listing it, sim:// at the same rule, and the driver finding a board's rate by itself
(from a board name, else by trying the known rates on IDENTIFY)."""

from __future__ import annotations

import json

import pytest

from hopfield_fpga.baud import KNOWN_BAUDS, MIN_DEFAULT_BAUD, uart_timing
from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.host import board as board_module
from hopfield_fpga.host import cli
from hopfield_fpga.host.bench_link import RecordingPort
from hopfield_fpga.host.board import DEFAULT_TIMEOUT, Board
from hopfield_fpga.host.errors import BoardTimeout, BoardURLError
from hopfield_fpga.host.urls import parse_sim_url
from hopfield_fpga.hw.boards import BOARDS

#: The bridges' top rates where the design clock allows them (docs/boards.md).
EXPECTED = {"icebreaker": 3_000_000, "ulx3s-85f": 3_000_000, "ulx3s-25f": 3_000_000,
            "ecpix5-85f": 6_000_000}     # 40 MHz: 12 Mbaud would be 3 1/3 cycles a bit


def test_every_board_runs_its_bridge_at_a_fast_rate(capsys):
    assert cli.main(["boards", "--json"]) == 0
    listed = {b["name"]: b for b in json.loads(capsys.readouterr().out)}
    for name, board in BOARDS.items():
        assert board.baud == EXPECTED[name] >= MIN_DEFAULT_BAUD, name
        assert board.baud in board.bridge.rates(MIN_DEFAULT_BAUD), name
        # nothing faster of the bridge works at the clock
        for rate in board.bridge.rates(MIN_DEFAULT_BAUD):
            if rate > board.baud:
                with pytest.raises(ValueError):
                    uart_timing(round(board.sys_clk_freq), rate)
        assert listed[name]["baud"] == board.baud and listed[name]["bridge"] == board.bridge.name


def test_sim_urls_take_the_same_rule():
    assert parse_sim_url("sim://?neurons=8")["baud"] == BOARDS["icebreaker"].baud   # 12 MHz
    # an FT2232H at 25 MHz (the sim:// bridge): 6 Mbaud
    assert parse_sim_url("sim://?neurons=8&clk=25000000")["baud"] == 6_000_000
    ecpix5 = BOARDS["ecpix5-85f"]
    assert parse_sim_url(f"sim://?neurons=8&clk={ecpix5.sys_clk_freq:.0f}")["baud"] == ecpix5.baud
    assert parse_sim_url("sim://?neurons=8&baud=115200")["baud"] == 115200
    with pytest.raises(BoardURLError, match="no default baud at clk=1000000"):
        parse_sim_url("sim://?neurons=8&clk=1000000")


CONFIG = NetworkConfig(neurons=16, lanes=4, weight_bits=4)


def _fake_ports(monkeypatch, board_baud: int) -> list[int]:
    """Serial ports to a board that answers only at ``board_baud``; returns the rates opened."""
    opened = []

    def open_port(url, baud, timeout):
        opened.append(baud)
        port = RecordingPort(CONFIG, clk_freq=25_000_000, baud=board_baud)
        if baud != board_baud:
            port.write = len           # garbage at the wrong rate: nothing comes back
        return port

    monkeypatch.setattr(board_module, "_open_port", open_port)
    return opened


def test_the_driver_finds_the_rate_on_identify(monkeypatch):
    opened = _fake_ports(monkeypatch, 6_000_000)
    with Board.open("/dev/ttyFAKE") as b:
        assert b.info().baud == 6_000_000 and b.config == CONFIG
        assert (b.link.timeout, b.link.retries) == (DEFAULT_TIMEOUT, 2)
    assert opened == [r for r in KNOWN_BAUDS if r >= 6_000_000]


def test_the_driver_takes_a_named_boards_rate(monkeypatch):
    rate = BOARDS["ecpix5-85f"].baud
    opened = _fake_ports(monkeypatch, rate)
    Board.open("/dev/ttyFAKE", board="ecpix5-85f").close()
    assert opened == [rate]
    with pytest.raises(BoardURLError, match="Unknown board 'nope'; known boards: icebreaker"):
        Board.open("/dev/ttyFAKE", board="nope")


def test_no_answer_at_any_rate(monkeypatch):
    monkeypatch.setattr(board_module, "PROBE_TIMEOUT", 0.01)
    opened = _fake_ports(monkeypatch, 1)
    with pytest.raises(BoardTimeout, match="no IDENTIFY reply at any known rate"):
        Board.open("/dev/ttyFAKE")
    assert opened == list(KNOWN_BAUDS)
