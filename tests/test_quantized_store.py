"""The quantized Hebbian store on chip (``docs/numerics.md`` §14, the column engine with
``store_patterns`` > 0): the configuration's checks, the thresholds the host sends, and the
store through the Board API on sim:// (Icarus and Verilator) against the golden model and
cpu:// bit for bit, with the board's own refusals. The engine itself is checked cycle by
cycle in tests/test_column_engine.py (test_column_engine_quantized_store)."""

from __future__ import annotations

import numpy as np
import pytest

from hopfield_fpga import protocol as P
from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.host.board import Board
from hopfield_fpga.host.errors import BadInput, MissingEngineFeature, ProtocolError
from hopfield_fpga.sim import golden


@pytest.mark.parametrize("changes, match", [
    (dict(engine="lanes"), r"store_patterns=4 .* needs engine='column'"),
    (dict(weight_bits=1, bias_bits=4), r"needs weight_bits >= 2 \(not 1\)"),
    (dict(features=Feature.TRACE), r"needs Feature.HEBBIAN"),
    (dict(store_patterns=9), r"store_patterns must be between 0 and 8, not 9"),
    (dict(store_patterns=-1), r"between 0 and 8, not -1"),
])
def test_store_patterns_is_checked(changes, match):
    base = dict(neurons=8, lanes=2, weight_bits=3, engine="column", store_patterns=4)
    with pytest.raises(ValueError, match=match):
        NetworkConfig(**{**base, **changes})


def test_store_patterns_on_the_wire_and_in_urls():
    cfg = NetworkConfig(neurons=20, lanes=4, weight_bits=3, engine="column", store_patterns=7)
    assert NetworkConfig.decode(cfg.encode()) == cfg and cfg.store_thresholds == 3 + 3
    assert NetworkConfig.from_dict(cfg.to_dict()) == cfg and "store_patterns=7" in cfg.describe()
    with Board.open("cpu://?neurons=20&lanes=4&weight_bits=3&engine=column&store_patterns=7") \
            as board:
        assert board.config == cfg


def test_quantized_store_table_limits():
    """The threshold steps sent (ended by (0, False), E entries) and the host's refusals:
    more patterns than the buffer, a scale reaching more levels than the board counts, no
    store built."""
    cfg = NetworkConfig(neurons=16, lanes=4, weight_bits=4, engine="column", store_patterns=5)
    assert cfg.store_thresholds == 5 + 1
    m, e, table = golden.quantized_store_table(4, cfg)
    assert (m, e) == golden.hebbian_scale(4, cfg)               # s = 1: t_k = k
    assert table == [(1, True)] * 4 + [(0, False)] * 2
    assert golden.quantized_store_table(0, cfg)[2] == [(0, False)] * 6
    # s = 0.1: t_1 = 5 (round_shift rounds 0.5 away from zero), no second level
    assert golden.quantized_store_table(5, cfg, scale=0.1)[2][:2] == [(5, True), (0, False)]
    with pytest.raises(ValueError, match="at most store_patterns=5 patterns, not 6"):
        golden.quantized_store_table(6, cfg)
    with pytest.raises(ValueError, match="reaches 7 weight levels with 5 patterns"):
        golden.quantized_store_table(5, cfg, scale=1.4)
    with pytest.raises(ValueError, match="no quantized store"):
        golden.quantized_store_table(1, cfg.with_(store_patterns=0))
    assert P.pack_threshold_step(5, True) == 0x8005
    with pytest.raises(ValueError, match="delta must be from 0 to 32767, not 32768"):
        P.pack_threshold_step(1 << 15, False)


def _sim_url(backend):
    return ("sim://?neurons=14&lanes=4&weight_bits=4&engine=column&store_patterns=6"
            f"&orders=sequential,synchronous&backend={backend}")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["icarus", "verilator"])
def test_sim_board_stores_quantized_like_cpu(backend, require_tool):
    """Board.store(..., quantized=True) on the column engine's gateware (sim://) reads back
    golden's and cpu://'s weights bit for bit (default and given scales, P from 1 to P_MAX),
    recalls like cpu:// afterwards; too many patterns and an unreachable scale are refused
    before anything is sent, and the board itself refuses a count beyond its buffer, entries
    beyond its buffer and table and a payload of the wrong length."""
    require_tool(backend)
    url = _sim_url(backend)
    seed = {"icarus": 31, "verilator": 32}[backend]
    r = np.random.default_rng(seed)
    with Board.open(url) as sim, \
            Board.open(url.replace("sim://", "cpu://").replace(f"&backend={backend}", "")) \
            as cpu:
        cfg = sim.config
        n = cfg.neurons
        bias = r.integers(-2, 3, n)
        for board in (sim, cpu):
            board.load_weights(np.zeros((n, n), int), bias)
        for count, scale in ((cfg.store_patterns, None), (1, None), (4, 0.3)):
            pats = r.choice([-1, 1], (count, n))
            for board in (sim, cpu):
                board.store(pats, quantized=True, scale=scale)
            want = golden.store_hebbian_quantized(pats, config=cfg, scale=scale)
            got = sim.read_weights()
            assert np.array_equal(got, want), f"seed {seed} P={count} scale={scale}"
            assert np.array_equal(cpu.read_weights(), want)
            probe = np.where(r.random(n) < 0.15, -pats[0], pats[0])
            kw = dict(order="sequential", seed=seed, max_sweeps=20)
            got, want_r = sim.recall(probe, **kw), cpu.recall(probe, **kw)
            assert (got.state.tolist(), got.flips) == (want_r.state.tolist(), want_r.flips), \
                f"seed {seed} P={count} scale={scale}: recall"
        with pytest.raises(BadInput, match="at most store_patterns=6 patterns, not 7"):
            sim.store(r.choice([-1, 1], (7, n)), quantized=True)
        with pytest.raises(BadInput, match="weight levels"):
            sim.store(r.choice([-1, 1], (2, n)), quantized=True, scale=4.0)
        assert np.array_equal(sim.read_weights(), want), "a refused store changed the weights"
        link, geo = sim._engine.link, P.LinkGeometry(cfg)
        pattern, step = bytes(geo.state_bytes), bytes(geo.threshold_word)
        for cmd, fields, words, error in (
                (P.Command.STORE_QUANTIZED, dict(count=7), b"", "ADDRESS"),
                (P.Command.WRITE_PATTERNS, dict(first=6, count=1), pattern, "ADDRESS"),
                (P.Command.WRITE_PATTERNS, dict(first=0, count=2), pattern, "LENGTH"),
                (P.Command.WRITE_THRESHOLDS, dict(first=cfg.store_thresholds - 1, count=2),
                 2 * step, "ADDRESS")):
            with pytest.raises(ProtocolError, match=error):
                link.request(cmd, P.COMMANDS[cmd].pack(**fields) + words, reply_size=0)
        assert np.array_equal(sim.read_weights(), want), "a refused request changed weights"


def test_lanes_board_has_no_quantized_store():
    """A configuration without the store lists no such extra on the wire backend's side."""
    from hopfield_fpga.host.wire import WireBackend
    from hopfield_fpga.host.results import BoardInfo
    for cfg, has in ((NetworkConfig(neurons=8, lanes=2, engine="column"), False),
                     (NetworkConfig(neurons=8, lanes=2, engine="column", store_patterns=3), True)):
        backend = WireBackend(link=None, info=BoardInfo(P.PROTOCOL_VERSION, cfg, 0, 0, 0, "x"))
        assert ("the quantized store" in backend.extras) is has
    with pytest.raises(MissingEngineFeature):
        from hopfield_fpga.host.inputs import require_extra
        require_extra(frozenset(), "the quantized store", "sim://x")



@pytest.mark.slow
def test_board_without_the_store_refuses_it(require_tool):
    """A board built without the store (a column engine with store_patterns=0, sim:// on
    Icarus; test_recall_features' board, so the suite compiles it once) answers its three
    requests with UNSUPPORTED, and Board.store(..., quantized=True) names the boards that
    have it before sending anything."""
    from test_recall_features import SIM_COLUMN
    require_tool("icarus")
    with Board.open(SIM_COLUMN) as sim:
        link = sim._engine.link
        for cmd, fields, words in (
                (P.Command.WRITE_PATTERNS, dict(first=0, count=1), b"\x00\x00"),
                (P.Command.WRITE_THRESHOLDS, dict(first=0, count=0), b""),
                (P.Command.STORE_QUANTIZED, dict(count=0), b"")):
            with pytest.raises(ProtocolError, match="UNSUPPORTED"):
                link.request(cmd, P.COMMANDS[cmd].pack(**fields) + words, reply_size=0)
        with pytest.raises(MissingEngineFeature, match="quantized store"):
            sim.store(np.ones((1, sim.config.neurons), int), quantized=True)
