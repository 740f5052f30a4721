"""The dimod sampler: mapping, quantization, conformance (dimod.testing) and the board path.

Most tests run the sampler on ``cpu_board.CpuBoard``, a ``cpu://`` board (the compiled CPU
engine, bit-exact to the simulated board, which is slow); one slow test checks that a ``sim://``
board gives the very same samples.
"""

from __future__ import annotations

import itertools
import unittest

import dimod
import dimod.testing
import numpy as np
import pytest
from cpu_board import CpuBoard

from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.protocol import LinkGeometry
from hopfield_fpga.host.ising_map import default_beta_range, map_ising
from hopfield_fpga.host.sampler import HopfieldSampler, board_betas, replica_batch_cycles
from hopfield_fpga.sim import golden

SIM_URL = "sim://?neurons=8&lanes=4&weight_bits=8&features=stochastic"


def golden_sampler(neurons=8, weight_bits=8, **kw) -> HopfieldSampler:
    return HopfieldSampler(board=CpuBoard.of(neurons, weight_bits), **kw)


# -- dimod's conformance helpers ---------------------------------------------------------------

def test_sampler_api():
    dimod.testing.assert_sampler_api(golden_sampler())


@dimod.testing.load_sampler_bqm_tests(golden_sampler(num_reads=3, num_sweeps=20))
class TestConformance(unittest.TestCase):
    pass


def test_sampleset_energies_random_bqms():
    sampler = golden_sampler(neurons=12, num_reads=4, num_sweeps=30)
    for seed in range(4):
        bqm = dimod.generators.gnp_random_bqm(12, 0.5, "SPIN", random_state=seed)
        bqm.scale(1 / max(1e-9, max(map(abs, bqm.quadratic.values()))))
        ss = sampler.sample(bqm, seed=seed, quantize=True)
        dimod.testing.assert_sampleset_energies(ss, bqm)
        assert ss.info["max_relative_error"] > 0, f"seed {seed}: real coefficients are rounded"


# -- mapping -----------------------------------------------------------------------------------

CFG8 = NetworkConfig(neurons=8, weight_bits=8, lanes=1, features=Feature.STOCHASTIC)


@pytest.mark.parametrize("seed", range(5))
def test_mapping_energy_is_scaled_bqm_energy(seed):
    """E_net(s) = c (E(s) - offset) for every state, exactly, for ising and qubo problems."""
    rng = np.random.default_rng(seed)
    print("seed", seed)
    n = 6
    h = {i: int(rng.integers(-3, 4)) / 2 for i in range(n)}
    J = {(i, j): int(rng.integers(-5, 6)) / 4 for i, j in itertools.combinations(range(n), 2)}
    bqm = dimod.BQM(h, J, 0.75, "SPIN")
    if seed % 2:
        bqm = dimod.BQM.from_qubo(bqm.to_qubo()[0], 1.0)
    m = map_ising(bqm, CFG8)
    assert m.exact and m.max_relative_error == 0
    spin = bqm.spin
    for s in itertools.product((-1, 1), repeat=n):
        full = np.zeros(8, dtype=np.int64) - 1
        full[:n] = s
        e2 = golden.energy2(m.weights, m.bias, full, config=CFG8)
        want = spin.energy(dict(zip(m.variables, s)))
        # padded neurons have no couplings and no bias, so they add nothing
        assert e2 / (2 * m.scale) + spin.offset == pytest.approx(want, abs=1e-12)
    assert np.array_equal(m.weights, m.weights.T) and not np.any(np.diag(m.weights))


def test_pm1_problem_keeps_its_values():
    bqm = dimod.BQM({0: 1, 1: -1}, {(0, 1): -1, (1, 2): 1}, 0, "SPIN")
    m = map_ising(bqm, CFG8)
    assert m.scale == 1 and m.exact
    assert m.weights[0, 1] == m.weights[1, 0] == 1 and m.weights[1, 2] == -1
    assert list(m.bias[:3]) == [-1, 1, 0]


def test_too_many_variables_refused():
    bqm = dimod.BQM({i: 1 for i in range(9)}, {}, 0, "SPIN")
    with pytest.raises(ValueError, match="9 variables; this board has 8 neurons"):
        map_ising(bqm, CFG8)


def test_ratio_too_wide_refused_then_quantized():
    bqm = dimod.BQM({"a": 0.0}, {("a", "b"): 1, ("b", "c"): 300}, 0, "SPIN")
    with pytest.raises(ValueError, match=r"J\['b', 'c'\] = 300 .*8-bit weights hold "
                                         r"\[-128, 127\].*quantize=True"):
        map_ising(bqm, CFG8)
    m = map_ising(bqm, CFG8, quantize=True)
    assert not m.exact and m.scale == pytest.approx(127 / 300)
    # 1 * 127/300 = 0.42 rounds to 0: the worst error is the whole coupling
    assert m.worst == "J['a', 'b']" and m.max_relative_error == pytest.approx(1.0)
    assert m.weights[1, 2] == -127


def test_irrational_coefficients_need_quantize():
    bqm = dimod.BQM({0: np.pi}, {(0, 1): np.e}, 0, "SPIN")
    with pytest.raises(ValueError, match="quantize=True"):
        map_ising(bqm, CFG8)
    m = map_ising(bqm, CFG8, quantize=True)
    assert m.max_relative_error < 1 / 127


def test_board_betas():
    assert list(board_betas([0, 1e-9, 1, 2.0, 1e9], 2.0)) == [0, 1, 128, 256, 65535]


def test_default_beta_range():
    bqm = dimod.BQM({0: 1}, {(0, 1): 2, (1, 2): -0.5}, 0, "SPIN")
    hot, cold = default_beta_range(bqm)
    assert hot == pytest.approx(np.log(2) / (2 * 3))   # spin 0: |h| + |J| = 3
    assert cold == pytest.approx(np.log(100))


# -- annealing ---------------------------------------------------------------------------------

def test_anneal_finds_ground_state_and_reports_counts():
    rng = np.random.default_rng(3)
    n = 10
    J = {(i, j): int(rng.choice([-1, 1])) for i, j in itertools.combinations(range(n), 2)}
    bqm = dimod.BQM({}, J, 0, "SPIN")
    ground = dimod.ExactSolver().sample(bqm).first.energy
    sampler = golden_sampler(neurons=10)
    ss = sampler.sample(bqm, num_reads=5, num_sweeps=150, seed=1, trajectory=True)
    assert ss.first.energy == ground
    assert ss.info["num_sweeps"] == 150 and ss.info["runs_per_read"] == 3   # 64 + 64 + 22
    assert ss.info["cycles"] is None and ss.info["board_time_s"] is None    # golden: no cycles
    assert ss.info["flips"] == int(ss.record.flips.sum()) > 0
    traj = ss.info["trajectory"]
    assert traj["sweeps"] == [64, 128, 150]
    assert [e[-1] for e in traj["energies"]] == list(ss.record.energy)
    # same seed, same samples; the weights are loaded once
    again = sampler.sample(bqm, num_reads=5, num_sweeps=150, seed=1)
    assert np.array_equal(again.record.sample, ss.record.sample)
    assert sampler.board.loads == 1


def test_deep_schedule_runs_a_read_at_once_and_a_trajectory_every_64_sweeps():
    """On a board with a 1024-entry schedule a 150-sweep read is one run; with a trajectory
    it is split as on a 64-entry board, whose samples it then equals for the same seed."""
    from hopfield_fpga.config import BETA_SCHEDULE_DEPTH
    rng = np.random.default_rng(5)
    n = 10
    J = {(i, j): int(rng.choice([-1, 1])) for i, j in itertools.combinations(range(n), 2)}
    bqm = dimod.BQM({}, J, 0, "SPIN")
    shallow = golden_sampler(neurons=10)
    deep = HopfieldSampler(board=CpuBoard(shallow.board.config.with_(beta_depth=1024)))
    kw = dict(num_reads=4, num_sweeps=150, seed=2)
    assert deep.sample(bqm, **kw).info["runs_per_read"] == 1
    traj = deep.sample(bqm, trajectory=True, **kw)
    assert traj.info["runs_per_read"] == 3
    assert traj.info["trajectory"]["sweeps"] == [BETA_SCHEDULE_DEPTH, 2 * BETA_SCHEDULE_DEPTH,
                                                  150]
    want = shallow.sample(bqm, trajectory=True, **kw)
    assert np.array_equal(traj.record.sample, want.record.sample)
    assert traj.info["trajectory"] == want.info["trajectory"]


def test_schedule_is_applied_one_entry_per_sweep():
    """A 100-sweep schedule is a 64-sweep run then a 36-sweep run, continuing the state."""
    sampler = golden_sampler(neurons=6)
    calls = []
    recall = sampler.board.recall

    def spy(probe, **kw):
        res = recall(probe, **kw)
        calls.append((np.array(probe), kw, res.state))
        return res
    sampler.board.recall = spy
    bqm = dimod.BQM({}, {(0, 1): -1, (1, 2): 1}, 0, "SPIN")
    schedule = np.linspace(0.1, 3, 100)
    sampler.sample(bqm, num_reads=1, beta_schedule=schedule, seed=5, greedy_finish=True,
                   batch=False)
    (p0, k0, s0), (p1, k1, s1), (p2, k2, _) = calls
    want = board_betas(schedule, 1.0) / 256
    assert k0["max_sweeps"] == 64 and k0["beta"] == list(want[:64])
    assert k1["max_sweeps"] == 36 and k1["beta"] == list(want[64:])
    assert np.array_equal(p1, s0) and np.array_equal(p2, s1)   # each run continues the last
    assert "beta" not in k2 and "max_sweeps" not in k2          # the greedy finish
    assert len({k["seed"] for k in (k0, k1, k2)}) == 3


def _same_samples(got, want, what):
    assert np.array_equal(got.record.sample, want.record.sample), f"{what}: samples"
    assert np.array_equal(got.record.energy, want.record.energy), f"{what}: energies"
    assert np.array_equal(got.record.flips, want.record.flips), f"{what}: flips"


@pytest.mark.parametrize("seed", [4, 5])
def test_batched_reads_equal_reads_one_after_another(seed):
    """All reads at once (a recall_many per part of the schedule, a seed per read) give the
    samples, energies, flips and trajectory of the reads run one after another."""
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    J = {(i, j): int(rng.choice([-1, 1])) for i, j in itertools.combinations(range(9), 2)}
    bqm = dimod.BQM({0: 1}, J, 0, "SPIN")
    sampler = golden_sampler(neurons=9)
    kw = dict(num_reads=6, num_sweeps=140, seed=seed, greedy_finish=True, trajectory=True)
    got, want = (sampler.sample(bqm, batch=b, **kw) for b in (True, False))
    _same_samples(got, want, f"seed {seed}")
    assert got.info["trajectory"] == want.info["trajectory"]
    assert (got.info["reads_at_once"], want.info["reads_at_once"]) == (6, 1)
    assert sampler.sample(bqm, **kw).info["reads_at_once"] == 6     # cpu:// takes probe seeds


def test_replica_batch_cycles():
    """The runs of a recall_many on R replicas: probe k on replica k mod R after probe
    k - R's result, results in probe order, each frame after the last."""
    assert replica_batch_cycles([5, 7, 3], 1, 16) == 15                 # one engine: the sum
    # R = 2: 0 on [0, 10), 1 on [0, 4), result 1 at 10; 2 on [10, 13); 3 on [10, 30)
    assert replica_batch_cycles([10, 4, 3, 20], 2, 16) == 30
    # frames of 2 probes: [10, 4] ends at 10, then [3, 20] at 30 too; frames of 1: the sum
    assert replica_batch_cycles([10, 4, 3, 20], 2, 2) == 30
    assert replica_batch_cycles([10, 4, 3, 20], 2, 1) == 37
    assert replica_batch_cycles([], 2, 4) == 0
    with pytest.raises(ValueError, match="positive"):
        replica_batch_cycles([1], 0, 4)


def test_binary_bqm_samples_are_binary():
    Q = {(0, 0): -1, (1, 1): -1, (0, 1): 2}
    ss = golden_sampler(neurons=4).sample_qubo(Q, num_reads=4, num_sweeps=40, seed=2)
    assert ss.vartype is dimod.BINARY and ss.first.energy == -1
    assert set(np.unique(ss.record.sample)) <= {0, 1}


def test_bad_parameters():
    s = golden_sampler()
    bqm = dimod.BQM({0: 1}, {}, 0, "SPIN")
    for kw, match in [({"num_reads": 0}, "num_reads"), ({"order": "rejection_free"}, "order"),
                      ({"beta_range": (2, 1)}, "beta_range"),
                      ({"beta_range": (0.1, 1), "beta_schedule": [1]}, "not both"),
                      ({"beta_schedule": [1, 2], "num_sweeps": 3}, "2 entries"),
                      ({"num_reads": True}, "num_reads"), ({"seed": -1}, "seed must be"),
                      ({"seed": "a"}, "seed must be"), ({"seed": 1.5}, "seed must be")]:
        with pytest.raises(ValueError, match=match):
            s.sample(bqm, **kw)
    for name in ("greedy_finish", "quantize", "trajectory", "batch"):
        with pytest.raises(TypeError, match=f"{name} must be"):
            s.sample(bqm, **{name: "yes"})


#: The column engine (one stochastic visit a cycle; the ECPIX-5's default design) at a small N,
#: in the random order, which draws its index words on the board.
COLUMN_URL = "sim://?neurons=8&lanes=4&weight_bits=3&engine=column&features=stochastic"


@pytest.mark.slow
@pytest.mark.parametrize("url, order, sweeps", [(SIM_URL, "sequential", 8),
                                                (COLUMN_URL, "random", 70)],
                         ids=["lanes", "column"])
def test_sim_board_gives_the_golden_samples(url, order, sweeps):
    """The simulated gateware (either engine design) and cpu:// return the same samples, and
    the board reports its RTL cycles and their time at its clock, and its bytes on the wire
    and their time at its baud."""
    bqm = dimod.BQM({0: 1}, {(0, 1): -1, (1, 2): 1, (0, 2): 2}, 0.5, "SPIN")
    kw = dict(num_reads=2, num_sweeps=sweeps, seed=11, greedy_finish=True, order=order)
    with HopfieldSampler(url) as sim:
        dimod.testing.assert_sampler_api(sim)
        got = sim.sample(bqm, **kw)
        cfg = sim.board.config
    print(url, cfg.describe())
    want = HopfieldSampler(board=CpuBoard(cfg)).sample(bqm, **kw)
    assert np.array_equal(got.record.sample, want.record.sample)
    assert np.array_equal(got.record.flips, want.record.flips)
    dimod.testing.assert_sampleset_energies(got, bqm)
    info = got.info
    parts = -(-sweeps // 64)                        # runs of at most 64 sweeps
    assert info["runs_per_read"] == parts + 1       # then the greedy finish
    assert info["cycles"] == int(got.record.cycles.sum()) > 0
    assert info["board_time_s"] == pytest.approx(info["cycles"] / 12e6)
    # the reads at once: per run a RECALL_MANY (each read's seed and state out, its status
    # and state back) and a WRITE_BETA per anneal run (2 bytes an entry); each request and
    # its reply add headers, CRCs and framing
    assert info["reads_at_once"] == 2 and info["batch_cycles"] == info["cycles"]   # R = 1
    geo = LinkGeometry(cfg)
    requests = 2 * parts + 1
    payload = (parts + 1) * 2 * (4 + geo.state_bytes + geo.recall_result) + 2 * sweeps
    assert payload < info["wire_bytes"] <= payload + requests * 2 * 30, info["wire_bytes"]
    assert info["wire_time_s"] == pytest.approx(info["wire_bytes"] * 10 / info["baud"])
    assert info["load_wire_bytes"] > 0
    assert want.info["wire_bytes"] is None and want.info["wire_time_s"] is None   # no link


#: Two replicas of the column engine: the reads run two at a time.
REPLICA_URL = ("sim://?neurons=8&lanes=4&weight_bits=3&engine=column&replicas=2"
               "&features=stochastic&orders=sequential,random")


@pytest.mark.slow
@pytest.mark.parametrize("url", [COLUMN_URL, REPLICA_URL], ids=["R1", "R2"])
def test_sim_board_batched_reads_equal_one_after_another(url):
    """On the gateware with one engine and with two replicas, the reads at once (a
    RECALL_MANY per part, a seed per read) give the samples, energies, flips and cycles of
    the reads one after another and of cpu://; the batch's board cycles are the sum of the
    runs' on one engine and less with replicas (two reads at a time)."""
    bqm = dimod.BQM({0: 1}, {(0, 1): -1, (1, 2): 1, (0, 2): 2, (2, 3): -1}, 0.5, "SPIN")
    kw = dict(num_reads=3, num_sweeps=70, seed=12, greedy_finish=True, order="random")
    with HopfieldSampler(url) as sim:
        got, each = (sim.sample(bqm, batch=b, **kw) for b in (True, False))
        cfg = sim.board.config
    want = HopfieldSampler(board=CpuBoard(cfg.with_(replicas=1))).sample(bqm, **kw)
    print(url, "seed 12")
    for other, what in ((each, "one after another"), (want, "cpu://")):
        _same_samples(got, other, what)
    assert np.array_equal(got.record.cycles, each.record.cycles)
    assert got.info["cycles"] == each.info["cycles"] == each.info["batch_cycles"]
    assert got.info["replicas"] == cfg.replicas
    if cfg.replicas == 1:
        assert got.info["batch_cycles"] == got.info["cycles"]
    else:
        assert got.info["batch_cycles"] < 0.8 * got.info["cycles"], got.info
    assert got.info["board_time_s"] == pytest.approx(got.info["batch_cycles"] / 12e6)


@pytest.mark.slow
@dimod.testing.load_sampler_bqm_tests(HopfieldSampler(SIM_URL, num_reads=1, num_sweeps=4))
class TestConformanceOnSimBoard(unittest.TestCase):
    """dimod's conformance tests on the simulated gateware (the board opens on first use)."""


def test_padding_is_held_where_the_board_clamps(monkeypatch):
    """A 10-variable problem on a 16-neuron column engine: the 6 padding neurons are held,
    which leaves every sample as it was (they couple to nothing and their visits draw the
    generator's words all the same) and saves their flips and the cycles those cost."""
    import hopfield_fpga.host.sampler as sampler_module
    seed = 14
    r = np.random.default_rng(seed)
    bqm = dimod.BQM({i: float(r.integers(-2, 3)) for i in range(10)},
                    {(i, j): float(r.choice([-1, 1])) for i in range(10) for j in range(i)
                     if r.random() < 0.5}, 0.0, "SPIN")
    url = "cpu://?neurons=16&lanes=4&weight_bits=3&engine=column&features=stochastic" \
          "&cycles=column&clk=40000000"
    kw = dict(num_reads=4, num_sweeps=30, seed=seed, greedy_finish=True)
    with HopfieldSampler(url) as sampler:
        held = sampler.sample(bqm, **kw)
        monkeypatch.setattr(sampler_module, "_padding_mask", lambda board, n: None)
        free = sampler.sample(bqm, **kw)
    print(f"seed {seed}")
    assert np.array_equal(held.record.sample, free.record.sample)
    assert np.array_equal(held.record.energy, free.record.energy)
    assert (held.info["padding_held"], free.info["padding_held"]) == (6, 0)
    assert np.all(held.record.flips < free.record.flips), (held.record.flips, free.record.flips)
    assert np.all(held.record.cycles < free.record.cycles)
    # a board without clamping (the lanes engine) is not asked to hold anything
    with HopfieldSampler(board=CpuBoard.of(16, weight_bits=3)) as sampler:
        assert sampler.sample(bqm, **kw).info["padding_held"] == 0


def test_decimal_coefficients_are_exact():
    bqm = dimod.BQM({"x": 0.3}, {("x", "y"): -0.1, ("y", "z"): 1.2}, 0, "SPIN")
    m = map_ising(bqm, CFG8)
    assert m.exact and m.scale == pytest.approx(10)
    assert m.weights[0, 1] == 1 and m.weights[1, 2] == -12 and m.bias[0] == -3


@pytest.mark.slow
def test_readme_dimod_example_runs(capsys):
    """The README's dimod example, as written there, prints the ground-state energy."""
    from pathlib import Path
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in readme.split("```python\n")[1:]]
    example = [b for b in blocks if "HopfieldSampler" in b]
    assert len(example) == 1, "the README has one dimod example"
    exec(compile(example[0], "README.md", "exec"), {})
    assert capsys.readouterr().out.split() == ["-3.0"]
