"""Host to simulated board, end to end: every result equals the golden model bit for bit.

The driver (``host/board.py``) talks over ``sim://`` to the whole gateware (framing, command
engine, binary engine) in Amaranth's simulator, and through Icarus Verilog on the emitted
Verilog. Cases are seeded; a failure names the seed and the first differing field.
"""

from __future__ import annotations

import numpy as np
import pytest

from hopfield_fpga.host.board import Board
from hopfield_fpga.host.errors import BadInput, ConfigMismatch, MissingEngineFeature
from hopfield_fpga.sim import golden


def _network(rng, cfg):
    n = cfg.neurons
    w = rng.integers(cfg.weight_min, cfg.weight_max + 1, (n, n))
    if rng.random() < 0.7:
        w = np.clip((w + w.T) // 2, cfg.weight_min, cfg.weight_max)
        np.fill_diagonal(w, 0)
    b = rng.integers(cfg.bias_min // 8, cfg.bias_max // 8 + 1, n)
    return w, b


def _compare(seed, what, got, want):
    for field in ("converged", "visits", "flips", "sweeps", "energy2", "stop_reason", "trace"):
        assert getattr(got, field) == getattr(want, field), \
            f"seed {seed} {what}: {field} board {getattr(got, field)} golden {getattr(want, field)}"
    assert np.array_equal(got.state, want.state), f"seed {seed} {what}: state differs"
    assert got.cycles is not None and got.cycles > 0


URLS = {
    "amaranth": "sim://?neurons={n}&lanes={k}&weight_bits={w}",
    "icarus": "sim://?neurons={n}&lanes={k}&weight_bits={w}&backend=icarus",
}


# N = 13 at K = 6: a state is 2 packed bytes for 3 chunks (18 lanes, the last with 1 neuron)
@pytest.mark.parametrize("backend,n,k,w,seed", [
    ("amaranth", 13, 6, 5, 1), ("amaranth", 8, 8, 3, 2), ("icarus", 40, 8, 8, 3),
])
def test_recall_matches_golden(backend, n, k, w, seed, require_tool):
    if backend == "icarus":
        require_tool("icarus")
    rng = np.random.default_rng(seed)
    with Board.open(URLS[backend].format(n=n, k=k, w=w)) as board:
        cfg = board.config
        weights, bias = _network(rng, cfg)
        board.load_weights(weights, bias)
        assert np.array_equal(board.read_weights(), weights), f"seed {seed}: weights read back"
        assert np.array_equal(board.read_bias(), bias), f"seed {seed}: bias read back"
        for case in range(4):
            probe = rng.choice([-1, 1], n)
            order = ["sequential", "random", "rejection_free"][case % 3]
            kw = dict(order=order, seed=int(rng.integers(0, 2**32)), trace=True)
            if case == 3:
                kw.update(order="random", beta=[0.5, 1.0, 2.0], max_sweeps=3)
            elif case == 2:
                kw.update(max_visits=int(rng.integers(1, 3 * n)))
            got = board.recall(probe, **kw)
            want = golden.run_binary(weights, bias, probe, config=cfg, **kw)
            _compare(seed, f"case {case} {kw}", got, want)
            assert np.array_equal(board.read_state(), want.state)
        probes = rng.choice([-1, 1], (5, n))
        many = board.recall_many(probes, order="random", seed=7)
        for i, (p, got) in enumerate(zip(probes, many)):
            want = golden.run_binary(weights, bias, p, order="random", seed=7, config=cfg)
            _compare(seed, f"recall_many probe {i}", got, want)
        # a seed per probe (RunFlags.PROBE_SEEDS), stochastic: the seeds matter
        seeds = [int(s) for s in rng.integers(0, 2**32, len(probes))]
        kw = dict(order="random", beta=[0.25, 1.0, 4.0], max_sweeps=3)
        many = board.recall_many(probes, seed=seeds, **kw)
        for i, (p, s, got) in enumerate(zip(probes, seeds, many)):
            want = golden.run_binary(weights, bias, p, seed=s, config=cfg, **kw)
            _compare(seed, f"recall_many probe {i} seed {s}", got, want)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["lanes", "column"])
def test_deep_beta_schedule_matches_golden(engine):
    """beta_depth = 128: a 100-entry schedule is one run (two WRITE_BETAs would be needed past
    510 entries), each probe with its own seed, equal to the golden model."""
    seed = 31
    rng = np.random.default_rng(seed)
    url = (f"sim://?neurons=8&lanes=4&weight_bits=4&engine={engine}&beta_depth=128"
           f"&orders=sequential,random&features=stochastic")
    with Board.open(url) as board:
        cfg = board.config
        assert cfg.beta_depth == 128
        weights, bias = _network(rng, cfg)
        board.load_weights(weights, bias)
        kw = dict(order="random", beta=list(np.linspace(0.1, 3.0, 100)), max_sweeps=101)
        probes = rng.choice([-1, 1], (2, cfg.neurons))
        seeds = [int(s) for s in rng.integers(0, 2**32, 2)]
        for i, (p, s, got) in enumerate(zip(probes, seeds,
                                            board.recall_many(probes, seed=seeds, **kw))):
            want = golden.run_binary(weights, bias, p, seed=s, config=cfg, **kw)
            _compare(seed, f"{engine} deep schedule probe {i}", got, want)
        with pytest.raises(BadInput, match="1 to 128 entries"):
            board.recall(probes[0], beta=[1.0] * 129, max_sweeps=1)


def test_on_chip_store_matches_golden():
    rng = np.random.default_rng(4)
    with Board.open("sim://?neurons=12&lanes=4&weight_bits=3") as board:
        cfg = board.config
        pats = rng.choice([-1, 1], (5, 12))
        board.clear()
        with pytest.warns(UserWarning, match="clip at"):    # 5 patterns > W_MAX = 3
            board.store(pats)
        want = golden.store_hebbian(np.zeros((12, 12), np.int64), pats, config=cfg)
        assert np.array_equal(board.read_weights(), want), "seed 4: saturating Hebbian store"
        probe = pats[0].copy()
        probe[:3] *= -1
        got = board.recall(probe, order="rejection_free", seed=3, trace=True)
        _compare(4, "after store", got, golden.run_binary(
            want, None, probe, order="rejection_free", seed=3, trace=True, config=cfg))


def test_inputs_that_do_not_fit_are_refused():
    with Board.open("sim://?neurons=8&lanes=4&weight_bits=4") as board:
        with pytest.raises(ConfigMismatch, match=r"shape \(8, 8\)"):
            board.load_weights(np.zeros((7, 7), int))
        with pytest.raises(ConfigMismatch, match="value 8 does not fit"):
            board.load_weights(np.full((8, 8), 8))
        with pytest.raises(TypeError, match="dtype bool"):
            board.load_weights(np.zeros((8, 8), bool))
        with pytest.warns(UserWarning, match="quantized"):
            board.load_weights(np.full((8, 8), 0.5), quantize=True)
        assert board.read_weights().max() == 7
        # numerics.md §12-§14 have no gateware yet: refused before anything is sent
        for call, feature in [(lambda: board.recall(np.ones(8, int), clamp=[0]), "clamping"),
                              (lambda: board.recall(np.ones(8, int), order="synchronous"),
                               "the synchronous order"),
                              (lambda: board.store(np.ones((1, 8), int), quantized=True),
                               "the quantized store")]:
            with pytest.raises(MissingEngineFeature, match=f"engine has no {feature} yet"):
                call()
        assert board.read_weights().max() == 7
        with pytest.raises(ValueError):
            board.recall(np.zeros(8, int))
        with pytest.raises(ValueError, match="max_sweeps or max_visits"):
            board.recall(np.ones(8, int), beta=1.0)
