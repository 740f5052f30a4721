"""``cpu://?cycles=column&clk=HZ``: the column engine's cycles on the CPU engine's runs.

The model itself (``gateware/engine_cycles.py``) is checked against the engine's RTL in
``tests/test_column_engine.py``; here the whole path through the Board API is checked against
the gateware on ``sim://`` (Icarus): every result, cycles included, equal on randomized
networks, probes, clamps, caps and beta schedules in every order; and the refusals.
"""

from __future__ import annotations

import numpy as np
import pytest

from hopfield_fpga.host.board import Board
from hopfield_fpga.host.errors import BoardURLError, ConfigMismatch
from hopfield_fpga.host.urls import board_url
from hopfield_fpga.hw.boards import get_board

CLK = 40_000_000
CONFIG = "neurons=13&lanes=4&weight_bits=3&engine=column&features=stochastic,trace" \
         "&orders=sequential,random,rejection_free,synchronous"
SIM = f"sim://?{CONFIG}&backend=icarus&clk={CLK}"
CPU = f"cpu://?{CONFIG}&cycles=column&clk={CLK}"


KINDS = ("sequential", "random", "rejection_free", "synchronous", "stochastic sequential",
         "stochastic random")


def _runs(r, n):
    """Run keywords in every order, deterministic and stochastic (random schedules), with a
    short cap or one of 30 sweeps (an asymmetric network may never settle), clamped or not,
    all untraced."""
    runs = []
    for k in range(18):
        kind = KINDS[k % len(KINDS)]
        kw = dict(seed=int(r.integers(1, 1 << 32)))
        if r.random() < 0.4:
            kw["clamp"] = r.random(n) < 0.3
        if kind.startswith("stochastic"):
            kw.update(order=kind.split()[1], max_visits=int(r.integers(1, 4 * n)),
                      beta=[float(b) for b in r.uniform(0.05, 3.0, int(r.integers(1, 6)))])
        else:
            kw.update(order=kind, max_visits=int(r.integers(1, 3 * n)) if k % 2 else 30 * n)
        runs.append(kw)
    return runs


@pytest.mark.slow
def test_cpu_cycles_equal_the_gateware(require_tool):
    """Randomized recalls and recall_many on sim:// (the column engine's gateware) and on
    cpu://?cycles=column: equal results, cycles included, and the same clock."""
    require_tool("icarus")
    seed = 5
    print(f"seed {seed}")
    r = np.random.default_rng(seed)
    with Board.open(SIM) as sim, Board.open(CPU) as cpu:
        assert cpu.info().clk_freq == sim.info().clk_freq == CLK
        cfg = sim.config
        n = cfg.neurons
        for net in range(3):
            w = r.integers(cfg.weight_min, cfg.weight_max + 1, (n, n))
            if net < 2:
                w = np.clip((w + w.T) // 2, cfg.weight_min, cfg.weight_max)
            b = r.integers(-4, 5, n)
            for board in (sim, cpu):
                board.load_weights(w, b)
            for kw in _runs(r, n):
                probe = r.choice([-1, 1], n)
                got, want = sim.recall(probe, **kw), cpu.recall(probe, **kw)
                assert want.cycles is not None and got == want, f"seed {seed} net {net} {kw}"
                assert sim.status().cycles == got.cycles
                assert _status(sim) == _status(cpu), f"seed {seed} net {net} {kw}"
            probes = r.choice([-1, 1], (3, n))
            seeds = [int(x) for x in r.integers(1, 1 << 32, 3)]
            for kw in (dict(order="sequential", beta=[0.5, 1.0, 2.0], max_sweeps=3, seed=seeds),
                       dict(order="rejection_free", seed=seeds, clamp=r.random(n) < 0.3)):
                assert sim.recall_many(probes, **kw) == cpu.recall_many(probes, **kw), \
                    f"seed {seed} net {net} recall_many {kw}"
                assert _status(sim) == _status(cpu), f"seed {seed} net {net} recall_many {kw}"


@pytest.mark.slow
def test_cpu_cycles_equal_the_gateware_at_the_85f_default(require_tool):
    """The ULX3S 85F's default (the column engine at N = 1024) on Verilator against
    cpu://?cycles=column, which `hopfield bench maxcut --board ulx3s-85f --cycle-model` and
    `hopfield bench engine --simulator model` time: anneals with and without the sampler's
    padding held (the last 224 neurons, an 800-variable problem), one ending mid-sweep, and
    recalls in the board's three orders. Results, cycles and STATUS equal."""
    require_tool("verilator")
    board = get_board("ulx3s-85f")
    cfg, clk = board.default_config, int(board.sys_clk_freq)
    n = cfg.neurons
    seed = 20261202
    print(f"seed {seed}")
    r = np.random.default_rng(seed)
    w = np.triu(r.integers(cfg.weight_min, cfg.weight_max + 1, (n, n)), 1)
    w, b = w + w.T, r.integers(-40, 41, n)
    held = np.arange(n) >= 800
    hot_to_cold = [float(x) for x in np.geomspace(0.004, 1.0, 6)]
    runs = [dict(order="sequential", beta=hot_to_cold, max_sweeps=6),
            dict(order="sequential", beta=hot_to_cold, max_sweeps=6, clamp=held),
            dict(order="sequential", beta=[0.004, 0.02, 0.1], max_visits=3 * n - 37),
            dict(order="sequential"), dict(order="rejection_free", clamp=held),
            dict(order="synchronous", max_sweeps=50, clamp=held)]
    with Board.open(board_url("sim", cfg, backend="verilator", clk=clk), timeout=1800) as sim, \
            Board.open(board_url("cpu", cfg, cycles="column", clk=clk)) as cpu:
        for target in (sim, cpu):
            target.load_weights(w, b)
        for kw in runs:
            kw = dict(kw, seed=int(r.integers(1, 1 << 32)))
            probe = r.choice([-1, 1], n)
            got, want = sim.recall(probe, **kw), cpu.recall(probe, **kw)
            assert want.cycles is not None and got == want, f"seed {seed} {kw}"
            assert _status(sim) == _status(cpu), f"seed {seed} {kw}"
        kw = dict(order="sequential", beta=hot_to_cold[:4], max_sweeps=4, clamp=held,
                  seed=[int(x) for x in r.integers(1, 1 << 32, 2)])
        probes = r.choice([-1, 1], (2, n))
        assert sim.recall_many(probes, **kw) == cpu.recall_many(probes, **kw), f"seed {seed}"
        assert _status(sim) == _status(cpu), f"seed {seed} recall_many"


@pytest.mark.slow
def test_cpu_and_gateware_agree_from_open_and_between_runs(require_tool):
    """STATUS and a recall on freshly opened boards (zeroed memories: no field is unstable),
    STATUS after a state write (converged follows the state, not the last run) and after an
    empty recall_many (no run: the last run's clamp mask still holds), on sim:// and cpu://."""
    require_tool("icarus")
    seed = 7
    print(f"seed {seed}")
    r = np.random.default_rng(seed)
    with Board.open(SIM) as sim, Board.open(CPU) as cpu:
        n = sim.config.neurons
        assert _status(sim) == _status(cpu) and _status(cpu)["unstable"] == 0
        probe = r.choice([-1, 1], n)
        assert sim.recall(probe) == cpu.recall(probe) and _status(sim) == _status(cpu)
        bias = np.zeros(n, int)
        bias[0] = 5
        for board in (sim, cpu):
            board.load_weights(np.zeros((n, n), int), bias)
            board.recall(-np.ones(n, int), clamp=[0])
        assert _status(sim) == _status(cpu) and _status(cpu)["unstable"] == 0
        assert sim.recall_many(np.empty((0, n), int)) == cpu.recall_many(np.empty((0, n), int))
        assert _status(sim) == _status(cpu) and _status(cpu)["unstable"] == 0
        for board in (sim, cpu):
            board.recall(-np.ones(n, int))          # no mask: neuron 0 flips, converged
            board.write_state(-np.ones(n, int))     # and is unstable again
        assert _status(sim) == _status(cpu)
        assert _status(cpu)["converged"] is False and _status(cpu)["unstable"] == 1


def _status(board):
    """STATUS after a run, all of it but the refresh's cycles (cpu:// does not model them):
    with a clamp mask |U| counts the free neurons only, on both."""
    status = board.status()
    return {f: getattr(status, f) for f in status.FIELDS if f != "refresh_cycles"}


@pytest.mark.parametrize("url, message", [
    ("cpu://?neurons=8&engine=column&cycles=column", "needs clk"),
    ("cpu://?neurons=8&engine=column&clk=40000000", "no clock without cycles"),
    ("cpu://?neurons=8&engine=column&cycles=lanes&clk=1", "cycles must be one of column"),
    ("cpu://?neurons=8&cycles=column&clk=40000000", "give engine=column"),
    ("cpu://?neurons=8&engine=column&cycles=column&clk=0", "clk must be in"),
    ("cpu://?neurons=8&engine=column&cycles=column&clk=4e7", "not an integer"),
])
def test_cpu_cycles_url_refusals(url, message):
    with pytest.raises(BoardURLError, match=message):
        Board.open(url)


def test_cpu_cycles_refuse_traced_runs_and_time_the_sampler():
    """A traced run is refused before it runs (on a board its cycles include the link's
    stalls); without cycles= it runs, with cycles None; the sampler times its reads at the
    URL's clock."""
    import dimod
    from hopfield_fpga.host.sampler import HopfieldSampler
    url = "cpu://?neurons=8&lanes=4&engine=column&features=stochastic,trace" \
          "&orders=sequential,random,rejection_free"
    probe = np.ones(8, int)
    with Board.open(f"{url}&cycles=column&clk={CLK}") as board:
        board.load_weights(-np.ones((8, 8), int) + np.eye(8, dtype=int))
        state = board.read_state()
        with pytest.raises(ConfigMismatch, match="untraced runs: .*stalls of the link"):
            board.recall(probe, trace=True)
        assert np.array_equal(board.read_state(), state), "a refused run changed the state"
        assert all(board.recall(probe, order=o).cycles > 0
                   for o in ("sequential", "random", "rejection_free"))
    with Board.open(url) as board:
        assert board.info().clk_freq == 0 and board.recall(probe, order="random").cycles is None
    bqm = dimod.BinaryQuadraticModel.from_ising({}, {(0, 1): 1.0, (1, 2): -1.0})
    with HopfieldSampler(f"{url}&cycles=column&clk={CLK}") as sampler:
        info = sampler.sample(bqm, num_reads=3, num_sweeps=20, seed=1).info
    assert info["clock_hz"] == CLK and info["cycles"] > 20 * 8 * 3
    assert info["board_time_s"] == pytest.approx(info["batch_cycles"] / CLK)


@pytest.mark.slow
def test_bench_engine_model_rows_equal_the_rtl_rows(require_tool):
    """`hopfield bench engine --simulator model`: the runs' outcomes and cycles (refresh
    included) equal those of the column engine's RTL (Icarus) on the benchmark's workload."""
    require_tool("icarus")
    from hopfield_fpga.config import Order
    from hopfield_fpga.sim import bench_engine as be
    config = be.bench_config(24, 4).with_(engine="column", orders=tuple(Order))
    work = be.bench_workload(config, seed=3)
    print("seed 3")
    model = be._model_runs(config, work.weights, work.probes)
    rtl = be._rtl_runs(config, work.patterns if work.store == "hebbian" else None, work.probes,
                       "icarus", weights=work.weights)
    assert len(model) == len(work.probes) == 8 and model == rtl
    with pytest.raises(ValueError, match="cycle model is the column engine's"):
        be._model_runs(config.with_(engine="lanes"), work.weights, work.probes)


def test_bench_engine_cli_with_the_cycle_model(capsys):
    """`hopfield bench engine --simulator model`: rows marked as the model's, with the FPGA
    time its cycles at the clock; the lanes engine is refused with a message naming it."""
    import json
    from hopfield_fpga.host.cli import main
    argv = ["bench", "engine", "--sizes", "16", "--lanes", "4", "--simulator", "model",
            "--repeats", "1", "--clock-mhz", "40"]
    assert main(argv + ["--engine", "column", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    engine_rows = [r for r in rows if r["table"] == "engine"]
    assert len(engine_rows) == 6 and all(r["cycles_from"] == "model" for r in engine_rows)
    assert all(r["fpga_us"] == pytest.approx(r["cycles"] / 40, abs=1e-3) for r in engine_rows)
    assert main(argv + ["--engine", "column"]) == 0
    out = capsys.readouterr().out
    assert "cycle accounting (checked exactly against the RTL" in out
    assert "(40 MHz; clock from: --clock-mhz)" in out
    assert main(argv) != 0
    assert "engine=lanes" in capsys.readouterr().err
