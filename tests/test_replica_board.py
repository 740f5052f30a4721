"""A board with two replicas (``config.replicas = 2``), end to end over ``sim://``.

RECALL_MANY runs two probes at once, probe k on replica k mod 2 (``gateware/command_engine.py``
through ``gateware/replica_dispatch.py`` on ``ColumnReplicas``); every result must equal the
golden model's run of its probe and seed, in probe order, as on a board with one engine.
Cases are seeded; a failure names the seed and the first differing field.
"""

from __future__ import annotations

import numpy as np
import pytest

from hopfield_fpga import protocol as P
from hopfield_fpga.host.board import Board
from hopfield_fpga.sim import golden

from board_bytes import assert_silent, raw_exchange

#: N = 12 at K = 5: three chunks, the last with 2 neurons; every order and feature.
URL = ("sim://?neurons=12&lanes=5&weight_bits=3&engine=column&replicas=2"
       "&orders=sequential,random,rejection_free,synchronous&features=stochastic,hebbian,trace")
FIELDS = ("converged", "visits", "flips", "sweeps", "energy2", "stop_reason")


def _compare(seed, what, got, want):
    for field in FIELDS:
        assert getattr(got, field) == getattr(want, field), \
            f"seed {seed} {what}: {field} board {getattr(got, field)} golden {getattr(want, field)}"
    assert np.array_equal(got.state, want.state), f"seed {seed} {what}: state differs"


def _network(rng, cfg):
    n = cfg.neurons
    w = rng.integers(cfg.weight_min, cfg.weight_max + 1, (n, n))
    w = np.clip((w + w.T) // 2, cfg.weight_min, cfg.weight_max)
    np.fill_diagonal(w, 0)
    return w, rng.integers(-8, 9, n)


@pytest.fixture(scope="module")
def board():
    with Board.open(URL) as b:
        assert b.config.replicas == 2 and b.info().config.replicas == 2
        yield b


@pytest.mark.parametrize("seed", [21, 22])
def test_recall_many_matches_golden(board, seed):
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    cfg = board.config
    weights, bias = _network(rng, cfg)
    board.load_weights(weights, bias)
    runs = [dict(order="sequential"), dict(order="rejection_free"), dict(order="random"),
            dict(order="random", beta=[0.25, 1.0, 3.0], max_sweeps=4),
            dict(order="sequential", beta=[0.5, 2.0], max_sweeps=3)]
    for count, kw in zip((1, 2, 3, 5, 4), runs):
        kw["seed"] = int(rng.integers(0, 2**32))
        probes = rng.choice([-1, 1], (count, cfg.neurons))
        many = board.recall_many(probes, **kw)
        assert len(many) == count, f"seed {seed} {kw}: {len(many)} results for {count} probes"
        for i, (p, got) in enumerate(zip(probes, many)):
            want = golden.run_binary(weights, bias, p, config=cfg, **kw)
            _compare(seed, f"{kw} probe {i} of {count}", got, want)
            assert got.cycles > 0
    # a single recall (replica 0) and the state it leaves
    probe = rng.choice([-1, 1], cfg.neurons)
    got = board.recall(probe, order="random", seed=5, trace=True)
    want = golden.run_binary(weights, bias, probe, order="random", seed=5, trace=True,
                             config=cfg)
    _compare(seed, "recall", got, want)
    assert got.trace == want.trace, f"seed {seed}: recall trace"
    assert np.array_equal(board.read_state(), want.state), f"seed {seed}: read_state"


def test_store_then_recall_many(board):
    """A Hebbian store writes the weights through replica 0; replica 1 refreshes its fields."""
    seed = 23
    rng = np.random.default_rng(seed)
    cfg = board.config
    pats = rng.choice([-1, 1], (2, cfg.neurons))
    board.clear()
    board.store(pats)
    weights = golden.store_hebbian(np.zeros((cfg.neurons,) * 2, np.int64), pats, config=cfg)
    assert np.array_equal(board.read_weights(), weights), f"seed {seed}: stored weights"
    probes = np.repeat(pats, 2, axis=0)
    probes[:, :3] *= -1
    many = board.recall_many(probes, order="rejection_free", seed=9)
    for i, (p, got) in enumerate(zip(probes, many)):
        _compare(seed, f"after store probe {i}", got,
                 golden.run_binary(weights, None, p, order="rejection_free", seed=9,
                                   config=cfg))


def _oscillating(board):
    """W[0,1] = 1, W[1,0] = -1: from an all-ones probe the run never converges (issue 14)."""
    n = board.config.neurons
    w = np.zeros((n, n), np.int64)
    w[0, 1], w[1, 0] = 1, -1
    board.load_weights(w, np.zeros(n, np.int64))


def _recall_many_frame(board, seq, probes, max_visits):
    ones = P.pack_bits(np.ones(board.config.neurons, np.int64))
    return P.encode_frame(bytes([seq, P.Command.RECALL_MANY])
                          + P.RUN_PARAMS.pack(0, 0, 1, max_visits, 1) + P.COUNT.pack(probes)
                          + ones * probes)


def _results(board, body):
    size = P.LinkGeometry(board.config).recall_result
    assert (len(body) - 3) % size == 0, len(body)
    return [P.STATUS.unpack(body[i:i + P.STATUS.size])
            for i in range(3, len(body), size)]


def test_two_probes_run_at_once(board):
    """The batch takes about half the engine cycles of its probes: the runs overlap (one
    engine would take more than their sum)."""
    _oscillating(board)
    port = board.port
    start = port.cycles
    (body,) = raw_exchange(board, _recall_many_frame(board, 70, 4, 1200))
    elapsed = port.cycles - start
    results = _results(board, body)
    assert len(results) == 4 and body[:3] == bytes([70, P.Command.RECALL_MANY, P.Error.OK])
    engine = sum(r[4] for r in results)           # STATUS: flags, |U|, visits, flips, cycles
    assert all(r[2] == 1200 for r in results), results
    print(f"batch {elapsed} cycles, runs {engine} cycles")
    assert elapsed < 0.8 * engine, (elapsed, engine)


def test_stop_ends_the_probes_in_progress(board):
    """A STOP during a RECALL_MANY stops both replicas' runs: the reply holds the two probes in
    progress, both stopped, then STOP's reply; the probes not loaded are dropped."""
    _oscillating(board)
    board.port.write(_recall_many_frame(board, 80, 5, 2**32 - 1))
    assert_silent(board, 400)      # still running: nothing sent yet
    bodies = raw_exchange(board, P.encode_frame(bytes([81, P.Command.STOP])))
    assert len(bodies) == 2 and bodies[1] == bytes([81, P.Command.STOP, P.Error.OK]), bodies
    assert bodies[0][:3] == bytes([80, P.Command.RECALL_MANY, P.Error.OK])
    results = _results(board, bodies[0])
    assert len(results) == 2, "the two probes in progress"
    for flags, *_ in results:
        assert flags >> P.STOP_REASON_SHIFT & ((1 << P.STOP_REASON_BITS) - 1) \
            == P.StopReason.STOP, results
    assert not board.status().busy
    got = board.recall(np.ones(board.config.neurons, np.int64), max_visits=7)
    assert got.stop_reason == "cap" and got.visits == 7


@pytest.mark.parametrize("seed", [23, 24])
def test_recall_many_probe_seeds_match_golden(board, seed):
    """A seed per probe (RunFlags.PROBE_SEEDS): each of the two replicas runs its probe with
    its own generator, and each result equals the golden run of that probe with its seed."""
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    cfg = board.config
    weights, bias = _network(rng, cfg)
    board.load_weights(weights, bias)
    for count, kw in zip((5, 4, 1), (dict(order="random", beta=[0.25, 1.0, 3.0], max_sweeps=4),
                                     dict(order="sequential", beta=[0.5, 2.0], max_sweeps=3),
                                     dict(order="random"))):
        seeds = [int(s) for s in rng.integers(0, 2**32, count)]
        probes = rng.choice([-1, 1], (count, cfg.neurons))
        many = board.recall_many(probes, seed=seeds, **kw)
        assert len(many) == count, f"seed {seed} {kw}: {len(many)} results for {count} probes"
        for i, (p, s, got) in enumerate(zip(probes, seeds, many)):
            want = golden.run_binary(weights, bias, p, config=cfg, seed=s, **kw)
            _compare(seed, f"{kw} probe {i} seed {s}", got, want)
