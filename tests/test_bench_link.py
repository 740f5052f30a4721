"""``hopfield bench link``: the link-efficiency target and the consistency of its numbers."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from hopfield_fpga import protocol as P
from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.protocol import LinkGeometry
from hopfield_fpga.host import cli
from hopfield_fpga.gateware.engine_cycles import refresh_cycles
from hopfield_fpga.baud import CHARACTER_BITS
from hopfield_fpga.host.bench_link import DEFAULT_BAUDS, DEFAULT_BOARDS
from hopfield_fpga.hw.boards import BOARDS, get_board

TARGET = 1.05


def _all_rows(capsys, *argv):
    assert cli.main(["bench", "link", "--json", "--no-engine", *argv]) == 0
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


def _rows(capsys, *argv):
    """The load / store / batched recall byte rows."""
    return [r for r in _all_rows(capsys, *argv) if r["table"] == "bytes"]


def _cobs_bound(body: int) -> int:
    """Most bytes a frame with a ``body``-byte body (CRC included) takes, delimiter included."""
    return body + math.ceil(body / 254) + 1 + 1


@pytest.mark.parametrize("lanes", [4, 8])
def test_ratio_and_consistency(capsys, lanes):
    rows = _rows(capsys, "--lanes", str(lanes))
    cfg = NetworkConfig(neurons=256, weight_bits=8, lanes=lanes, features=Feature.HEBBIAN)
    geo = LinkGeometry(cfg)
    n, c = cfg.neurons, cfg.chunks
    by_op = {}
    for r in rows:
        by_op.setdefault(r["operation"], []).append(r)
        assert (r["neurons"], r["lanes"], r["weight_bits"]) == (256, lanes, 8)
        assert r["wire_bytes"] == r["wire_out"] + r["wire_in"]
        assert r["bit_times"] == CHARACTER_BITS * r["wire_bytes"]
        assert r["bytes_ratio"] == pytest.approx(r["wire_bytes"] / r["data_bytes"])
        assert r["line_ratio"] == pytest.approx(r["bytes_ratio"] * CHARACTER_BITS / 8)
    assert set(by_op) == {"load", "store", "recall_many"}
    for op in ("load", "recall_many"):
        for r in by_op[op]:
            assert r["bytes_ratio"] <= TARGET, (op, r)

    # Load: every weight and bias word once, in frames the payload limit allows.
    load = by_op["load"]
    assert len(load) == len(DEFAULT_BAUDS) * len(DEFAULT_BOARDS)
    r = load[0]
    assert r["data_bytes"] == n * c * geo.weight_word + c * geo.bias_word
    w_frames = math.ceil(n * c / geo.max_write["weights"])
    b_frames = math.ceil(c / geo.max_write["bias"])
    assert r["requests"] == w_frames + b_frames
    body = (P.REQUEST_HEADER + P.CRC_BYTES) * r["requests"] \
        + w_frames * P.WEIGHT_RANGE.size + b_frames * P.CHUNK_RANGE.size + r["data_bytes"]
    assert body <= r["wire_out"] <= body + r["requests"] * (2 + math.ceil(P.MAX_BODY / 254))
    empty_reply = P.REPLY_HEADER + P.CRC_BYTES
    assert r["wire_in"] == r["requests"] * (empty_reply + 2)   # COBS code byte + delimiter
    for r in load:      # an access write is 2 cycles in both engine designs
        assert r["engine_cycles"] == 2 * (n * c + c)

    # Store of 26 patterns on chip.
    r = by_op["store"][0]
    assert r["data_bytes"] == 26 * geo.state_bytes
    assert r["requests"] == math.ceil(26 / geo.max_store)
    for r in by_op["store"]:    # the board's engine design: 2NC (lanes) or N + 1 (column)
        engine = get_board(r["board"]).default_config.engine
        assert r["engine_cycles"] == 26 * (2 * c + (2 * n * c if engine == "lanes" else n + 1))
        assert r["refresh_cycles"] == refresh_cycles(dataclasses.replace(cfg, engine=engine))

    # Batched recall: probes out, STATUS + state back.
    (r,) = by_op["recall_many"]
    assert r["data_bytes"] == 26 * (geo.state_bytes + geo.recall_result)
    assert r["requests"] == math.ceil(26 / geo.max_recall_many)
    assert r["time_ms"] is None

    # Times: wire time from the bytes and the baud, engine time from cycles and the clock.
    for r in load + by_op["store"]:
        mhz = get_board(r["board"]).sys_clk_freq / 1e6
        assert r["clk_mhz"] == mhz
        assert r["wire_ms"] == pytest.approx(1e3 * r["bit_times"] / r["baud"])
        assert r["engine_ms"] == pytest.approx(r["engine_cycles"] / (mhz * 1e3))
        assert r["time_ms"] == pytest.approx(r["wire_ms"] + r["engine_ms"])
    for op in ("load", "store"):
        for board in DEFAULT_BOARDS:
            times = [r["time_ms"] for r in by_op[op] if r["board"] == board]
            assert times == sorted(times, reverse=True), (op, board, times)


def test_batch_and_bauds(capsys):
    rows = _rows(capsys, "--batch", "100", "--bauds", "2000000")
    (rec,) = [r for r in rows if r["operation"] == "recall_many"]
    assert rec["bytes_ratio"] <= TARGET
    assert {r["baud"] for r in rows if r["operation"] != "recall_many"} == {2_000_000}


def test_board_rows_meet_the_targets(capsys):
    """Per board at its default baud: wire bits <= 1.35 per payload bit, and the wire time per
    probe of a batched recall at least 20x shorter than at 115200 baud with unpacked states."""
    rows = [r for r in _all_rows(capsys, "--probes", "26") if r["table"] == "board_recall"]
    boards = {r["board"] for r in rows}
    assert boards == set(BOARDS)
    for name in boards:
        now, = [r for r in rows if r["board"] == name and r["operation"] == "recall_many"]
        before, = [r for r in rows if r["board"] == name
                   and r["operation"] == "recall_many before"]
        assert now["baud"] == BOARDS[name].baud and before["baud"] == 115200
        assert now["payload_bits"] == 2 * now["neurons"] + 8 * P.STATUS.size
        assert now["wire_bits"] / now["payload_bits"] <= 1.35, now
        # --no-engine: the end-to-end time is the wire alone
        assert now["seconds"] == pytest.approx(now["wire_bits"] / now["baud"])
        assert before["seconds"] == pytest.approx(before["wire_bits"] / 115200)
        assert now["wire_vs_before"] == pytest.approx(before["seconds"] / now["seconds"])
        assert now["wire_vs_before"] >= 20, now


def test_board_names(capsys):
    rows = [r for r in _all_rows(capsys, "--boards", "ecpix5-85f") if r["table"] == "board_recall"]
    assert {r["board"] for r in rows} == {"ecpix5-85f"} and len(rows) == 4
    # a batched recall of several frames: requests in flight beat one request at a time
    one, inflight = (next(r for r in rows if r["operation"] == f"recall_many {how}")
                     for how in ("one at a time", "in flight"))
    assert inflight["wire_bits"] == one["wire_bits"]
    assert inflight["seconds"] < 0.8 * one["seconds"], (inflight, one)
    assert cli.main(["bench", "link", "--no-engine", "--boards", "nope"]) == 2
    assert "Unknown board 'nope'" in capsys.readouterr().err


def test_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "link", "--bauds", "0"])
    assert cli.main(["bench", "link", "--no-engine", "--bauds", "4000000"]) == 2
    assert "baud 4000000 is too fast for a 12000000 Hz clock" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["bench", "link", "--lanes", "x"])


def test_table(capsys):
    assert cli.main(["bench", "link", "--no-engine"]) == 0
    out = capsys.readouterr().out
    assert "wire/data" in out and "recall_many" in out and "icebreaker" in out
    assert "recall_many before" in out and "ecpix5-85f" in out


def test_recording_port_matches_the_simulated_board():
    """The stand-in port's replies are the simulated board's, byte for byte in size: the same
    operations cost the same wire bytes both ways (N = 32, K = 2: two weight frames)."""
    from hopfield_fpga.host.bench_link import count_bytes, measure, operations
    from hopfield_fpga.host.board import Board
    url = "sim://?neurons=32&weight_bits=8&lanes=2&backend=amaranth"
    with Board.open(url, timeout=600) as board:    # no IDENTIFY probe of a slow run
        ops = operations(board.config, batch=5, patterns=4, seed=3)
        real = {name: count_bytes(board, op) for name, op in ops.items()}
        rows = measure(board.config, batch=5, patterns=4, seed=3)
    assert rows["load"].requests == 3
    for name, (out, inn) in real.items():
        assert (rows[name].wire_out, rows[name].wire_in) == (out, inn), (url, name)


@pytest.mark.slow
@pytest.mark.parametrize("query", ["neurons=10&lanes=4", "neurons=8&lanes=8",
                                   "neurons=10&lanes=4&engine=column"],
                         ids=["lanes-chained", "lanes-one-chunk", "column"])
def test_refresh_cycles_are_the_boards(query):
    """The refresh the bench charges (gateware/engine_cycles.py) is the one the simulated
    board's engine reports in its STATUS, for both engine designs."""
    import numpy as np
    from hopfield_fpga.host.board import Board
    rng = np.random.default_rng(7)
    with Board.open(f"sim://?{query}&weight_bits=4", timeout=600) as board:
        n = board.config.neurons
        board.load_weights(rng.integers(-8, 8, (n, n)))
        board.recall(rng.choice([-1, 1], n), max_visits=1)
        assert board.status().refresh_cycles == refresh_cycles(board.config), query
