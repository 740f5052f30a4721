"""The Hopfield-Tank solver: graded descent on the same BQM (golden graded model; one slow run
on the simulated board's graded engine)."""

from __future__ import annotations

import itertools

import dimod
import dimod.testing
import numpy as np
import pytest
from cpu_board import CpuBoard

from hopfield_fpga.config import Feature
from hopfield_fpga.host.tank_sampler import HopfieldTankSampler

GRADED = Feature.STOCHASTIC | Feature.GRADED


def test_api_and_energies():
    sampler = HopfieldTankSampler(CpuBoard.of(6, features=GRADED))
    dimod.testing.assert_sampler_api(sampler)
    bqm = dimod.BQM({0: 0.5}, {(0, 1): -1, (1, 2): 1, (2, 3): -1}, 2.0, "SPIN")
    ss = sampler.sample(bqm, num_reads=3, seed=1, max_steps=300)
    dimod.testing.assert_sampleset_energies(ss, bqm)
    Q = {(0, 0): -1, (1, 1): -1, (0, 1): 2}
    ss = sampler.sample_qubo(Q, num_reads=2, seed=1, max_steps=300)
    assert ss.vartype is dimod.BINARY
    dimod.testing.assert_sampleset_energies(ss, dimod.BQM.from_qubo(Q))


def test_bad_parameters():
    sampler = HopfieldTankSampler(CpuBoard.of(6, features=GRADED))
    bqm = dimod.BQM({0: 0.5}, {(0, 1): -1}, 0, "SPIN")
    for kw, error, match in [({"num_reads": 0}, ValueError, "num_reads"),
                             ({"num_reads": True}, ValueError, "num_reads"),
                             ({"gain_factor": -1}, ValueError, "gain_factor"),
                             ({"gain_factor": float("nan")}, ValueError, "gain_factor"),
                             ({"seed": -2}, ValueError, "seed must be"),
                             ({"quantize": "yes"}, TypeError, "quantize must be")]:
        with pytest.raises(error, match=match):
            sampler.sample(bqm, **kw)


@pytest.mark.parametrize("seed", range(3))
def test_descends_to_low_energy(seed):
    """On random ±1 couplings (N = 10) the best read is within 10% of the ground state and
    every read is a descent: below the mean energy of random states (0)."""
    print("seed", seed)
    rng = np.random.default_rng(seed)
    J = {(i, j): int(rng.choice([-1, 1])) for i, j in itertools.combinations(range(10), 2)}
    bqm = dimod.BQM({}, J, 0, "SPIN")
    ground = dimod.ExactSolver().sample(bqm).first.energy
    ss = HopfieldTankSampler(CpuBoard.of(10, features=GRADED)).sample(
        bqm, num_reads=4, seed=seed, max_steps=400)
    assert ss.first.energy <= 0.9 * ground, f"seed {seed}: {ss.first.energy} vs {ground}"
    assert np.all(ss.record.energy < 0)


@pytest.mark.slow
def test_sim_board_gives_the_golden_samples():
    from hopfield_fpga.host.board import Board
    bqm = dimod.BQM({0: 1}, {(0, 1): -1, (1, 2): 1, (0, 2): -1}, 0, "SPIN")
    kw = dict(num_reads=2, seed=3, max_steps=60)
    with Board.open("sim://?neurons=4&weight_bits=4&lanes=2&features=graded") as board:
        got = HopfieldTankSampler(board).sample(bqm, **kw)
        cfg = board.config
    want = HopfieldTankSampler(CpuBoard(cfg)).sample(bqm, **kw)
    assert np.array_equal(got.record.sample, want.record.sample)
    assert got.info["steps"] == want.info["steps"] and got.info["cycles"] > 0
