"""The ``cpu://`` backend: the Board API computed on the host equals the simulated board.

One small random network per case (fixed seeds, printed on failure): the same calls go to
``sim://`` (Amaranth's simulator running the gateware) and to ``cpu://`` and every result
(state, visits, flips, energy, stop reason, trace, weights after STORE, graded u and v) must
be equal; ``cycles`` is None on the CPU.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from hopfield_fpga.config import Feature
from hopfield_fpga.sim import golden
from hopfield_fpga.host.board import DEFAULT_MAX_SWEEPS, Board
from hopfield_fpga.host.errors import (BadInput, BoardClosed, BoardError, BoardURLError,
                                       ConfigMismatch, RunStopped, RunTimeout)

QUERY = "?neurons=12&lanes=4&weight_bits=5&features=stochastic,hebbian,trace,graded"
SEED = 7


def _fields(r):
    return (r.state.tolist(), r.converged, r.visits, r.flips, r.sweeps, r.energy2, r.stop_reason,
            r.trace)


@pytest.mark.slow
def test_cpu_equals_simulated_board():
    rng = np.random.default_rng(SEED)
    with Board.open("sim://" + QUERY) as sim, Board.open("cpu://" + QUERY) as cpu:
        assert sim.config == cpu.config
        n = cpu.config.neurons
        pats = rng.choice([-1, 1], size=(3, n))
        for b in (sim, cpu):
            b.clear()
            b.store(pats)
        assert np.array_equal(sim.read_weights(), cpu.read_weights()), f"seed {SEED}: store"
        probe = pats[0].copy()
        probe[:4] *= -1
        for order in ("sequential", "random", "rejection_free"):
            got = [b.recall(probe, order=order, seed=5, trace=True) for b in (sim, cpu)]
            assert _fields(got[0]) == _fields(got[1]), f"seed {SEED}: order {order}"
            assert got[0].cycles > 0 and got[1].cycles is None
            assert np.array_equal(sim.read_state(), cpu.read_state())
        got = [b.recall(probe, order="random", seed=9, beta=[0.5, 1.0], max_sweeps=3)
               for b in (sim, cpu)]
        assert _fields(got[0]) == _fields(got[1]), f"seed {SEED}: stochastic"
        probes = rng.choice([-1, 1], size=(3, n))
        many = [b.recall_many(probes, order="random", seed=2) for b in (sim, cpu)]
        assert [_fields(r) for r in many[0]] == [_fields(r) for r in many[1]]
        st = [b.status() for b in (sim, cpu)]
        assert (st[0].converged, st[0].stop_reason, st[0].visits, st[0].flips, st[0].energy2) == \
            (st[1].converged, st[1].stop_reason, st[1].visits, st[1].flips, st[1].energy2)
        w = rng.integers(-8, 8, (n, n))
        w = (w + w.T) // 2
        np.fill_diagonal(w, 0)
        for trace in (False, True):
            res = [b.run_graded(w, np.zeros(n, int), v0=rng.uniform(-0.5, 0.5, n) * 0
                                + np.linspace(-0.4, 0.4, n), gain=2.0, dt=1 / 16,
                                max_steps=6, trace=trace) for b in (sim, cpu)]
            assert np.array_equal(res[0].v, res[1].v) and np.array_equal(res[0].u, res[1].u)
            assert (res[0].steps, res[0].converged, res[0].stop_reason, res[0].max_du) == \
                (res[1].steps, res[1].converged, res[1].stop_reason, res[1].max_du)
            if trace:
                assert all(np.array_equal(a[1], b[1]) for a, b in zip(res[0].trace, res[1].trace))
                assert np.array_equal(res[0].v0, res[1].v0)
        assert sim.read_table() == cpu.read_table()
        gs = [b.graded_status() for b in (sim, cpu)]
        assert {k: v for k, v in gs[0].items() if k != "cycles"} == \
            {k: v for k, v in gs[1].items() if k != "cycles"}


def test_symmetric_board_refuses_asymmetric_weights():
    """A board built with Feature.SYMMETRIC computes its energy from W = W^T (§6): an
    asymmetric matrix is refused, naming a mirrored pair, before anything is written."""
    url = "cpu://?neurons=6&lanes=3&weight_bits=3&engine=column&features=trace,symmetric"
    with Board.open(url) as b:
        assert b.config.has(Feature.SYMMETRIC)
        w = np.zeros((6, 6), int)
        w[1, 4] = w[4, 1] = 2
        b.load_weights(w)
        bad = w.copy()
        bad[2, 5] = -1
        with pytest.raises(ConfigMismatch, match=r"symmetric.*W\[2, 5\] = -1 and W\[5, 2\] = 0"):
            b.load_weights(bad, np.ones(6, int))
        assert np.array_equal(b.read_weights(), w), "nothing written"
        assert np.array_equal(b.read_bias(), np.zeros(6)), "nothing written"
        r = b.recall(np.ones(6, int))
        assert r.energy2 == golden.run_binary(w, None, np.ones(6, int),
                                              config=b.config).energy2


def test_cpu_default_cap_and_errors():
    with Board.open("cpu://?neurons=16&lanes=4&weight_bits=4") as b:
        w = np.zeros((16, 16), int)
        w[0, 1], w[1, 0] = 1, -1          # oscillates forever
        b.load_weights(w)
        r = b.recall(np.ones(16, int))
        assert (r.stop_reason, r.visits) == ("cap", DEFAULT_MAX_SWEEPS * 16)
        assert b.info().clk_freq == 0 and b.port is None
        with pytest.raises(ConfigMismatch):
            b.load_weights(np.full((16, 16), 2**64 - 1, np.uint64))
        with pytest.raises(BadInput, match="non-finite"):
            b.load_weights(np.full((16, 16), np.nan), quantize=True)
    with pytest.raises(BoardClosed):
        b.read_bias()
    for bad in ("cpu://neurons=16", "cpu://?neurons=abc", "cpu://?neurons=0", "cpu://?x=1",
                "cpu://?neurons=16&neurons=8"):
        with pytest.raises(BoardURLError):
            Board.open(bad)


@pytest.mark.parametrize("threads", [1, 3])
def test_cpu_recall_many_probe_seeds(threads, monkeypatch):
    """recall_many with a seed per probe equals each probe's golden run with its seed,
    whatever the CPU engine's thread count; bad seeds raise a ValueError naming them."""
    from hopfield_fpga.sim import cpu_engine, golden
    monkeypatch.setattr(cpu_engine, "default_threads", lambda: threads)
    rng = np.random.default_rng(SEED + threads)
    print(f"seed {SEED + threads}")
    # 300 probes of N = 64: enough work for 3 threads (cpu_engine's blocks)
    with Board.open("cpu://?neurons=64&lanes=4&weight_bits=4") as b:
        cfg = b.config
        w = rng.integers(-7, 8, (64, 64))
        w = np.clip((w + w.T) // 2, -7, 7)
        np.fill_diagonal(w, 0)
        b.load_weights(w)
        probes = rng.choice([-1, 1], (300, 64))
        seeds = [int(s) for s in rng.integers(0, 2**32, 300)]
        kw = dict(order="random", beta=[0.25, 1.0, 4.0], max_sweeps=3)
        many = b.recall_many(probes, seed=seeds, **kw)
        for i, (p, s, got) in enumerate(zip(probes, seeds, many)):
            want = golden.run_binary(w, None, p, seed=s, config=cfg, **kw)
            assert _fields(got) == _fields(want), f"seed {SEED + threads}: probe {i} seed {s}"
        for bad, match in ((seeds[:3], "3 seeds for 300 probes"), ([-1] * 300, r"seed\[0\]"),
                           ([1.5] * 300, r"seed\[0\]"), ("abc", "seed must be")):
            with pytest.raises(ValueError, match=match):
                b.recall_many(probes, seed=bad, **kw)


def test_cpu_run_timeout_and_stop(monkeypatch):
    from hopfield_fpga.host import cpu_backend
    slow = threading.Event()
    prepared = []

    class SlowEngine:
        class PreparedNetwork:
            def __init__(self, *args):
                prepared.append(self)

            def run(self, *args, **kwargs):
                slow.wait(10)
                raise AssertionError("the run should have been abandoned")

    monkeypatch.setattr(cpu_backend, "engine", SlowEngine)
    with Board.open("cpu://?neurons=8&lanes=4&weight_bits=4") as b:
        with pytest.raises(RunTimeout):
            b.recall(np.ones(8, int), run_timeout=0.2)
        threading.Timer(0.2, b.stop).start()
        with pytest.raises(RunStopped):
            b.recall(np.ones(8, int))
        assert isinstance(RunStopped("x"), BoardError)
        # the abandoned runs go on updating their networks' resident state: no later call
        # shares a network with one of them
        assert len(prepared) == 2, "the run after a timeout reused the abandoned run's network"
    slow.set()


def test_board_import_leaves_amaranth_out():
    code = ("import sys; import hopfield_fpga.host.board as b; "
            "b.Board.open('cpu://?neurons=8&lanes=4').recall([1] * 8); "
            "assert 'amaranth' not in sys.modules, 'amaranth imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_board_without_the_store_and_the_random_order_says_what_to_do_instead():
    """The ULX3S 85F's default lacks Feature.HEBBIAN and Order.RANDOM (docs/boards.md): the
    errors name the host-side store with load_weights, and rejection_free."""
    from hopfield_fpga.sim import golden
    url = "cpu://?neurons=16&weight_bits=3&lanes=6&features=stochastic,trace" \
          "&orders=sequential,rejection_free"
    patterns = np.random.default_rng(3).choice([-1, 1], (2, 16))
    with Board.open(url) as board:
        with pytest.raises(ConfigMismatch, match=r"no on-chip Hebbian store .*board\.load_"
                                                 r"weights\(golden\.store_hebbian_quantized"):
            board.store(patterns)
        with pytest.raises(ConfigMismatch, match="order random is not built .* rejection_free "
                                                 "order makes the same random choice"):
            board.recall(patterns[0], order="random")
        # what the message says works, and equals the golden model's recall on those weights
        board.load_weights(golden.store_hebbian_quantized(patterns, config=board.config))
        want = golden.run_binary(golden.store_hebbian_quantized(patterns, config=board.config),
                                 None, patterns[0], order="rejection_free", seed=3,
                                 max_visits=100 * 16, config=board.config)
        assert board.recall(patterns[0], order="rejection_free", seed=3,
                            max_visits=100 * 16) == want
