"""Max-cut: the rudy reader, the Ising mapping of the cut, and ``hopfield maxcut`` on the
shipped fixtures (``tests/fixtures/maxcut``, made by its ``make_fixtures.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import dimod
import numpy as np
import pytest
from cpu_board import CpuBoard

from hopfield_fpga.host import board as board_module
from hopfield_fpga.host.cli import main
from hopfield_fpga.host.maxcut import (complete_pm1_graph, cut_values, maxcut_bqm, read_rudy,
                                       run_sampler, time_to_target, write_rudy)
from hopfield_fpga.host.sampler import HopfieldSampler

FIXTURES = Path(__file__).parent / "fixtures" / "maxcut"
BEST = json.loads((FIXTURES / "best_cuts.json").read_text())


@pytest.mark.parametrize("name", sorted(BEST))
def test_fixtures_are_what_the_script_makes(name, tmp_path):
    """The shipped files equal a fresh run of the generator (the script is the source)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    write_rudy(mod.INSTANCES[name], tmp_path / name)
    assert (tmp_path / name).read_text() == (FIXTURES / name).read_text()


def test_cut_is_minus_half_the_ising_energy():
    g = complete_pm1_graph(9, seed=4)
    bqm = maxcut_bqm(g)
    rng = np.random.default_rng(4)
    s = rng.choice([-1, 1], (20, 9))
    energies = bqm.energies((s, range(9)))
    assert np.array_equal(cut_values(g, s), (g.w.sum() - energies) / 2)
    # by definition: the weight of the edges across
    across = s[:, g.u] != s[:, g.v]
    assert np.array_equal(cut_values(g, s), (across * g.w).sum(axis=1))


@pytest.mark.parametrize("text, match", [
    ("", "empty file"), ("3\n", "expected 'N E'"), ("3 2\n1 2 1\n", "announces 2 edges"),
    ("3 1\n1 4 1\n", "in 1..3"), ("3 1\n2 2 1\n", "distinct"), ("3 1\n1 2\n", "'i j w'"),
    ("3 1\n1 2 nan\n", "finite weight"), ("3 1\n1 2 inf\n", "finite weight"),
    ("3 1\n1 2 1 \u00e9\n", "not ASCII")])
def test_read_rudy_errors(tmp_path, text, match):
    f = tmp_path / "g.txt"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        read_rudy(f)


def test_time_to_target():
    assert time_to_target([1, 5, 5, 3], 2.0, 5) == 4.0
    assert time_to_target([1, 2], 2.0, 5) == float("inf")
    assert time_to_target([5], None, 5) is None


@pytest.mark.parametrize("name", sorted(BEST))
def test_annealing_reaches_the_maximum_cut(name):
    g = read_rudy(FIXTURES / name)
    sampler = HopfieldSampler(board=CpuBoard.of(16))
    run = run_sampler(sampler, g, num_reads=4, num_sweeps=100, seed=3, trajectory=True)
    assert run.best == BEST[name], f"{name}: best cut {run.best}, maximum {BEST[name]}"
    assert np.asarray(run.trajectory["cuts"])[:, -1].tolist() == run.cuts.tolist()


@pytest.fixture
def golden_open(monkeypatch):
    monkeypatch.setattr(board_module.Board, "open",
                        classmethod(lambda cls, url, **kw: CpuBoard.of(16)))


def test_cli_json_and_plot(golden_open, tmp_path, capsys):
    png = tmp_path / "cut.png"
    assert main(["maxcut", str(FIXTURES / "complete12.txt"), "--reads", "3", "--sweeps", "70",
                 "--json", "--plot", str(png)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["best_cut"] == BEST["complete12.txt"] and row["reads"] == 3
    assert row["target"] == pytest.approx(0.99 * row["best_cut"])
    assert row["time_to_target_board_s"] is None          # no RTL cycles from this board
    assert png.stat().st_size > 1000


def test_cli_table_and_errors(golden_open, tmp_path, capsys):
    assert main(["maxcut", str(FIXTURES / "random14_d30.txt"), "--reads", "2",
                 "--sweeps", "20"]) == 0
    out = capsys.readouterr().out
    assert "best cut" in out and "n/a (no RTL cycles" in out
    bad = tmp_path / "bad.txt"
    bad.write_text("2 1\n1 3 1\n")
    assert main(["maxcut", str(bad)]) == 2
    assert "1..2" in capsys.readouterr().err
    big = tmp_path / "big.txt"
    write_rudy(complete_pm1_graph(17, seed=1), big)
    assert main(["maxcut", str(big)]) == 2
    assert "17 variables; this board has 16 neurons" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_on_sim_board_reports_board_time(capsys):
    url = "sim://?neurons=12&lanes=4&weight_bits=8&features=stochastic"
    assert main(["maxcut", str(FIXTURES / "complete12.txt"), "--url", url, "--reads", "2",
                 "--sweeps", "6", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["board_s"] > 0 and row["time_to_target_board_s"] is not None
    assert row["wire_s"] > 0                # the runs' requests and replies at the baud


class CountingBoard(CpuBoard):
    """cpu:// runs with a made-up clock, cycle count and link (12 MHz, 3 cycles per visit,
    1 Mbaud, 100 bytes per run), to check the board-time and wire-time paths."""

    BYTES_PER_RUN, BAUD = 100, 1_000_000

    def __init__(self, config):
        import types
        super().__init__(config)
        self.link = types.SimpleNamespace(bytes_out=0, bytes_in=0)

    def info(self):
        import dataclasses
        return dataclasses.replace(self.board.info(), clk_freq=12_000_000, baud=self.BAUD)

    def _counted(self, res):
        import dataclasses
        self.link.bytes_out += self.BYTES_PER_RUN // 2
        self.link.bytes_in += self.BYTES_PER_RUN // 2
        return dataclasses.replace(res, cycles=3 * res.visits)

    def recall(self, probe, **kw):
        return self._counted(self.board.recall(probe, **kw))

    def recall_many(self, probes, **kw):
        return [self._counted(res) for res in self.board.recall_many(probes, **kw)]


@pytest.mark.parametrize("board_cls", [CpuBoard, CountingBoard])
def test_bench_maxcut_rows(monkeypatch, board_cls):
    from hopfield_fpga.host.bench_maxcut import NO_CYCLES, format_table, run_maxcut_bench
    monkeypatch.setattr(board_module.Board, "open",
                        classmethod(lambda cls, url, **kw: board_cls.of(16, weight_bits=3)))
    rows = run_maxcut_bench("fake://", num_reads=3, num_sweeps=70, random_n=12,
                            complete_n=None)
    assert [(r.instance.split("-")[0], r.solver.split()[0]) for r in rows] == [
        ("random12", "board"), ("random12", "dwave-samplers"),
        ("complete16", "board"), ("complete16", "dwave-samplers")]
    for a, b in (rows[:2], rows[2:]):
        top = max(a.best_cut, b.best_cut)
        assert max(a.best_ratio, b.best_ratio) == 1.0 and a.target == b.target == 0.99 * top
        for r in (a, b):
            assert r.mean_ratio <= r.best_ratio <= 1.0 and r.reads == 3 and r.sweeps == 70
        assert b.wire_s_per_read is None and b.time_to_target_with_wire_s is None  # the CPU's
    board_ttt = rows[0].time_to_target_s
    if board_cls is CpuBoard:
        assert board_ttt == NO_CYCLES and NO_CYCLES in format_table(rows)
        assert rows[0].wire_s_per_read is None      # cpu:// has no link
    else:   # 3 cycles per visit, 70 sweeps of 16 neurons per read, at 12 MHz
        per_read = 3 * 70 * 16 / 12e6
        assert rows[0].seconds_per_read == pytest.approx(per_read)
        assert board_ttt in (rows[0].seconds_per_read * 3 / k for k in (1, 2, 3))
        # two runs a read (64 + 6 sweeps) of 100 bytes, 10 bits a byte at 1 Mbaud
        wire = 2 * CountingBoard.BYTES_PER_RUN * 10 / CountingBoard.BAUD
        assert rows[0].wire_s_per_read == pytest.approx(wire)
        assert rows[0].time_to_target_with_wire_s == pytest.approx(
            board_ttt * (per_read + wire) / per_read)
    assert isinstance(rows[1].time_to_target_s, float)      # the CPU always has a time


def test_bench_board_url_and_instances():
    """--board NAME: the board's default configuration at its clock and baud, in Verilator;
    a random graph smaller than G1 keeps G1's mean degree."""
    from hopfield_fpga.host.bench_maxcut import board_sim_url, random_density
    from hopfield_fpga.host.urls import parse_sim_url
    from hopfield_fpga.hw.boards import BOARDS
    for board in BOARDS.values():
        got = parse_sim_url(board_sim_url(board.name))
        assert got["config"] == board.default_config, board.name
        if board.default_config.engine == "column":
            assert parse_sim_url(board_sim_url(board.name, replicas=2))["config"] == \
                board.default_config.with_(replicas=2), board.name
        assert (got["clk"], got["baud"], got["backend"]) == (board.sys_clk_freq, board.baud,
                                                             "verilator")
    assert random_density(800) == random_density(1000) == 0.06
    assert random_density(256) * 255 == pytest.approx(0.06 * 799)
    assert random_density(20) == 1.0
    with pytest.raises(ValueError, match="Unknown board 'nope'"):
        board_sim_url("nope")


def test_bench_cli_board(monkeypatch, capsys):
    """`hopfield bench maxcut --board NAME` opens that board's sim:// URL and labels its rows."""
    from hopfield_fpga.host.bench_maxcut import board_sim_url
    opened = []

    def fake_open(cls, url, **kw):
        opened.append(url)
        return CountingBoard.of(16, weight_bits=3)
    monkeypatch.setattr(board_module.Board, "open", classmethod(fake_open))
    assert main(["bench", "maxcut", "--board", "ecpix5-85f", "--reads", "2", "--sweeps", "10",
                 "--random-n", "12", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert opened == [board_sim_url("ecpix5-85f")]
    assert [r["solver"] for r in rows[::2]] == ["board ecpix5-85f (sim:// Verilator)"] * 2
    assert rows[0]["wire_s_per_read"] == pytest.approx(100 * 10 / 1e6)   # one run a read
    with pytest.raises(SystemExit):
        main(["bench", "maxcut", "--board", "ecpix5-85f", "--url", "cpu://"])
    assert "not allowed with" in capsys.readouterr().err
    # --replicas R: the board's default with R replicas (the column engine's)
    assert main(["bench", "maxcut", "--board", "ecpix5-85f", "--replicas", "2", "--reads", "2",
                 "--sweeps", "10", "--random-n", "12", "--json"]) == 0
    assert opened[-1] == board_sim_url("ecpix5-85f", replicas=2) != opened[0]
    assert "R=2" in json.loads(capsys.readouterr().out.splitlines()[0])["solver"]
    assert main(["bench", "maxcut", "--replicas", "2", "--url", "cpu://"]) != 0
    assert "--replicas needs --board" in capsys.readouterr().err


def test_bench_cli_cycle_model(capsys):
    """`--board NAME --cycle-model`: the board's default on cpu:// with the column engine's
    cycle accounting at its clock; its rows have a board time and no wire time; refused
    without --board, with --replicas, and for a board whose default is the lanes engine."""
    from hopfield_fpga.host.bench_maxcut import MODEL_BASIS, board_model_url
    from hopfield_fpga.host.urls import parse_cpu_url
    from hopfield_fpga.hw.boards import get_board
    board = get_board("ecpix5-85f")
    got = parse_cpu_url(board_model_url("ecpix5-85f"))
    assert (got["config"], got["cycles"], got["clk"]) == (board.default_config, "column",
                                                          board.sys_clk_freq)
    assert main(["bench", "maxcut", "--board", "ecpix5-85f", "--cycle-model", "--reads", "2",
                 "--sweeps", "5", "--random-n", "12", "--complete-n", "10", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    hw = rows[0]
    assert hw["solver"] == f"board ecpix5-85f (cpu:// cycle model at " \
                           f"{board.sys_clk_freq / 1e6:g} MHz)" and hw["time_basis"] == MODEL_BASIS
    # 5 sweeps of the board's 256 neurons: at least a visit a cycle
    assert hw["seconds_per_read"] >= 5 * 256 / board.sys_clk_freq
    assert hw["wire_s_per_read"] is None
    assert hw["clock_basis"] == board.clock_basis and rows[1]["clock_basis"] is None
    assert main(["bench", "maxcut", "--board", "ecpix5-85f", "--cycle-model", "--reads", "2",
                 "--sweeps", "5", "--random-n", "12", "--complete-n", "10"]) == 0
    assert f"The board's clock is from: {board.clock_basis}." in capsys.readouterr().out
    for argv, message in ((["--cycle-model"], "--cycle-model needs --board"),
                          (["--board", "ecpix5-85f", "--cycle-model", "--replicas", "2"],
                           "no --replicas"),
                          (["--board", "icebreaker", "--cycle-model"],
                           "icebreaker's default is the lanes engine")):
        assert main(["bench", "maxcut", *argv]) != 0
        assert message in capsys.readouterr().err


def test_cli_prints_wire_time(monkeypatch, capsys):
    """A board with a link: `hopfield maxcut` prints its reads' time on the wire."""
    monkeypatch.setattr(board_module.Board, "open",
                        classmethod(lambda cls, url, **kw: CountingBoard.of(16)))
    assert main(["maxcut", str(FIXTURES / "complete12.txt"), "--reads", "2",
                 "--sweeps", "10"]) == 0
    # one run of 100 bytes a read, 10 bits a byte at 1 Mbaud
    assert "link: 0.001 s a read on the wire" in capsys.readouterr().out
