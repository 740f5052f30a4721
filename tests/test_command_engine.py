"""The command engine refuses bad frames with the right error and changes nothing.

Raw frames go to the board top (Amaranth simulator, bytes straight into the COBS decoder);
after each refused frame the weights, biases and state read back unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

from hopfield_fpga import protocol as P
from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.host.board import Board
from hopfield_fpga.host.errors import ProtocolError
from hopfield_fpga.sim import golden

from board_bytes import assert_silent, one_reply, raw_exchange

URL = "sim://?neurons=10&lanes=4&weight_bits=4"
#: The most probes of a RECALL_MANY with per-probe seeds at N = 10 (a seed and 2 state bytes).
SEEDED_MAX = P.LinkGeometry(NetworkConfig(neurons=10, lanes=4, weight_bits=4)
                            ).max_recall_many_seeded


@pytest.fixture(scope="module")
def board():
    with Board.open(URL) as b:
        rng = np.random.default_rng(9)
        b.load_weights(rng.integers(-8, 8, (10, 10)), rng.integers(-50, 50, 10))
        b.write_state(rng.choice([-1, 1], 10))
        yield b


def snapshot(b):
    return b.read_weights(), b.read_bias(), b.read_state()


def same(a, c):
    return all(np.array_equal(x, y) for x, y in zip(a, c))


def frame(seq, cmd, payload=b""):
    return P.encode_frame(bytes([seq, cmd]) + payload)


CASES = [
    ("unknown command", frame(7, 0x33), 0x33, P.Error.UNKNOWN_COMMAND),
    ("short header", frame(7, P.Command.WRITE_WEIGHTS, b"\x00\x00"), P.Command.WRITE_WEIGHTS,
     P.Error.LENGTH),
    ("count vs length", frame(7, P.Command.WRITE_WEIGHTS, P.WEIGHT_RANGE.pack(0, 0, 3) + bytes(2)),
     P.Command.WRITE_WEIGHTS, P.Error.LENGTH),
    ("column out of range", frame(7, P.Command.WRITE_WEIGHTS, P.WEIGHT_RANGE.pack(10, 0, 1)
                                  + bytes(2)), P.Command.WRITE_WEIGHTS, P.Error.ADDRESS),
    ("past the end", frame(7, P.Command.WRITE_WEIGHTS, P.WEIGHT_RANGE.pack(9, 2, 2) + bytes(4)),
     P.Command.WRITE_WEIGHTS, P.Error.ADDRESS),
    ("bias range", frame(7, P.Command.WRITE_BIAS, P.CHUNK_RANGE.pack(2, 2) + bytes(12)),
     P.Command.WRITE_BIAS, P.Error.ADDRESS),
    ("read too many", frame(7, P.Command.READ_STATE, P.CHUNK_RANGE.pack(0, 4)),
     P.Command.READ_STATE, P.Error.ADDRESS),
    ("extra payload", frame(7, P.Command.CLEAR, b"\x01"), P.Command.CLEAR, P.Error.LENGTH),
    ("bad order", frame(7, P.Command.RUN, P.RUN_PARAMS.pack(3, 0, 1, 10, 1)), P.Command.RUN,
     P.Error.ARGUMENT),
    ("stochastic rejection-free", frame(7, P.Command.RUN, P.RUN_PARAMS.pack(2, 1, 1, 10, 1)),
     P.Command.RUN, P.Error.ARGUMENT),
    ("beta_len", frame(7, P.Command.RUN, P.RUN_PARAMS.pack(0, 1, 1, 10, 65)), P.Command.RUN,
     P.Error.ARGUMENT),
    # N = 10: a state is 2 bytes (packed bits)
    ("recall length", frame(7, P.Command.RECALL, P.RUN_PARAMS.pack(0, 0, 1, 10, 1) + bytes(3)),
     P.Command.RECALL, P.Error.LENGTH),
    ("traced recall_many", frame(7, P.Command.RECALL_MANY, P.RUN_PARAMS.pack(0, 2, 1, 10, 1)
                                 + P.COUNT.pack(1) + bytes(2)), P.Command.RECALL_MANY,
     P.Error.ARGUMENT),
    # per-probe seeds belong to RECALL_MANY; with them each probe is a seed and a state
    ("run with probe seeds", frame(7, P.Command.RUN, P.RUN_PARAMS.pack(
        0, P.RunFlags.PROBE_SEEDS, 1, 10, 1)), P.Command.RUN, P.Error.ARGUMENT),
    ("recall with probe seeds", frame(7, P.Command.RECALL, P.RUN_PARAMS.pack(
        0, P.RunFlags.PROBE_SEEDS, 1, 10, 1) + bytes(2)), P.Command.RECALL, P.Error.ARGUMENT),
    ("probe seeds length", frame(7, P.Command.RECALL_MANY, P.RUN_PARAMS.pack(
        0, P.RunFlags.PROBE_SEEDS, 1, 10, 1) + P.COUNT.pack(2) + bytes(4)),
     P.Command.RECALL_MANY, P.Error.LENGTH),
    ("probe seeds count", frame(7, P.Command.RECALL_MANY, P.RUN_PARAMS.pack(
        0, P.RunFlags.PROBE_SEEDS, 1, 10, 1) + P.COUNT.pack(SEEDED_MAX + 1)
        + bytes(6 * (SEEDED_MAX + 1))), P.Command.RECALL_MANY, P.Error.ADDRESS),
    # the K-lane engine has no clamp mask (§12) and no synchronous cycle state (§13)
    ("clamp on engine=lanes", frame(7, P.Command.WRITE_CLAMP, P.CHUNK_RANGE.pack(0, 3)
                                    + bytes(2)), P.Command.WRITE_CLAMP, P.Error.UNSUPPORTED),
    ("cycle state on engine=lanes", frame(7, P.Command.READ_CYCLE_STATE,
                                          P.CHUNK_RANGE.pack(0, 3)),
     P.Command.READ_CYCLE_STATE, P.Error.UNSUPPORTED),
]


@pytest.mark.parametrize("name,data,cmd,err", CASES, ids=[c[0] for c in CASES])
def test_bad_frames_are_refused_and_change_nothing(board, name, data, cmd, err):
    before = snapshot(board)
    bodies = raw_exchange(board, data)
    assert bodies == [bytes([7, cmd, err])], f"{name}: {bodies}"
    assert same(before, snapshot(board)), f"{name}: the board changed"


def test_bad_crc_and_too_long(board):
    before = snapshot(board)
    good = bytearray(P.cobs_decode(frame(9, P.Command.CLEAR)[:-1]))
    good[-1] ^= 1
    assert raw_exchange(board, P.cobs_encode(bytes(good)) + b"\x00") == [
        bytes([9, P.Command.CLEAR, P.Error.CRC])]
    long = frame(9, P.Command.WRITE_WEIGHTS, bytes(P.MAX_BODY))
    assert raw_exchange(board, long) == [bytes([9, P.Command.WRITE_WEIGHTS, P.Error.TOO_LONG])]
    # noise and a cut frame get no reply at all
    assert raw_exchange(board, b"\x00\x00\x05\x01\x02\x00\x02\x00") == []
    assert same(before, snapshot(board))


def test_busy_while_running_and_stop(board):
    before = snapshot(board)
    # A long stochastic run: only identify / status / stop are served meanwhile.
    board.request(P.Command.WRITE_BETA, P.BETA_RANGE.pack(0, 1) + (64).to_bytes(2, "little"),
                  reply_size=0)
    assert one_reply(board, frame(20, P.Command.RUN, P.RUN_PARAMS.pack(0, 1, 5, 2**32 - 1, 1))) \
        == bytes([20, P.Command.RUN, P.Error.OK])
    body = one_reply(board, frame(21, P.Command.WRITE_BIAS, P.CHUNK_RANGE.pack(0, 1) + bytes(6)))
    assert body == bytes([21, P.Command.WRITE_BIAS, P.Error.BUSY])
    assert raw_exchange(board, frame(22, P.Command.STOP)) == [
        bytes([22, P.Command.STOP, P.Error.OK])]
    st = board.status()
    assert not st.busy and st.stop_reason == "stop"
    w, b, _ = snapshot(board)
    assert np.array_equal(w, before[0]) and np.array_equal(b, before[1])


def _read_bodies(board, count: int) -> list[bytes]:
    """The bodies of the next ``count`` frames from a board that may be running."""
    out = bytearray()
    while out.count(0) < count:
        out += board.port.read(1)
    return [P.decode_frame(f) for f in bytes(out).split(b"\x00")[:count]]


def _stop_reason(status: bytes) -> int:
    return status[0] >> P.STOP_REASON_SHIFT & ((1 << P.STOP_REASON_BITS) - 1)


def _oscillating(board):
    """W[0,1] = 1, W[1,0] = -1: from an all-ones probe the run never converges (issue 14)."""
    w = np.zeros((10, 10), np.int64)
    w[0, 1], w[1, 0] = 1, -1
    board.load_weights(w, np.zeros(10, np.int64))


def test_stop_reaches_recall_many(board):
    """A STOP sent while a RECALL_MANY runs (the receive queue takes it) stops the probe in
    progress; the reply holds the probes done, the last one stopped, then STOP's own reply."""
    _oscillating(board)
    params = P.RUN_PARAMS.pack(0, 0, 1, 2**32 - 1, 1)
    ones = P.pack_bits(np.ones(10, np.int64))
    probes = 3
    board.port.write(frame(40, P.Command.RECALL_MANY, params + P.COUNT.pack(probes)
                           + ones * probes))
    assert_silent(board, 300)      # still running: nothing sent yet
    board.port.write(frame(41, P.Command.STOP))
    recall, stop = _read_bodies(board, 2)
    assert stop == bytes([41, P.Command.STOP, P.Error.OK])
    assert recall[:3] == bytes([40, P.Command.RECALL_MANY, P.Error.OK])
    size = P.LinkGeometry(board.config).recall_result
    assert len(recall) == 3 + size, "only the first probe's result"
    status = P.STATUS.unpack(recall[3:3 + P.STATUS.size])
    assert _stop_reason(recall[3:]) == P.StopReason.STOP and status[2] > 50, status
    assert not board.status().busy


@pytest.mark.slow
def test_queue_overflow(board):
    """Frames sent back to back queue behind a running RECALL_MANY and are served in order; a
    frame that finds the queue full is answered OVERFLOW (with its seq and command) and not
    executed, a STOP too."""
    _oscillating(board)
    before = snapshot(board)
    params = P.RUN_PARAMS.pack(0, 0, 1, 450, 1)    # longer than the bytes take to arrive
    ones = P.pack_bits(np.ones(10, np.int64))
    recall = frame(50, P.Command.RECALL_MANY, params + P.COUNT.pack(1) + ones)
    # a frame that fills the queue but for 3 entries (refused later: LENGTH), then a
    # WRITE_BIAS of which only seq and cmd fit, then a STOP that finds the queue full (not
    # executed either: OVERFLOW with its seq, its cmd byte lost)
    filler = frame(51, P.Command.WRITE_WEIGHTS, bytes(P.RX_QUEUE_DEPTH - 1 - 3 - 4))
    bias = frame(52, P.Command.WRITE_BIAS, P.CHUNK_RANGE.pack(0, 3) + bytes(6))
    bodies = raw_exchange(board, recall + filler + bias + frame(53, P.Command.STOP))
    assert [b[:3] for b in bodies] == [
        bytes([50, P.Command.RECALL_MANY, P.Error.OK]),
        bytes([51, P.Command.WRITE_WEIGHTS, P.Error.LENGTH]),
        bytes([52, P.Command.WRITE_BIAS, P.Error.OVERFLOW]),
        bytes([53, 0, P.Error.OVERFLOW])], bodies
    size = P.LinkGeometry(board.config).recall_result
    assert len(bodies[0]) == 3 + size and _stop_reason(bodies[0][3:]) == P.StopReason.CAP
    w, b, _ = snapshot(board)
    assert np.array_equal(w, before[0]) and np.array_equal(b, before[1])


def test_stop_reaches_every_run_queued_before_it(board):
    """RECALL_MANY, RECALL_MANY, STOP back to back: the STOP stops the first one's probe in
    progress and the second one's first probe (before its first visit); both end there."""
    _oscillating(board)
    params = P.RUN_PARAMS.pack(0, 0, 1, 2**32 - 1, 1)
    ones = P.pack_bits(np.ones(10, np.int64))
    many = P.COUNT.pack(2) + ones * 2
    bodies = raw_exchange(board, frame(60, P.Command.RECALL_MANY, params + many)
                          + frame(61, P.Command.RECALL_MANY, params + many)
                          + frame(62, P.Command.STOP))
    size = P.LinkGeometry(board.config).recall_result
    assert [b[:3] for b in bodies] == [bytes([60, P.Command.RECALL_MANY, P.Error.OK]),
                                       bytes([61, P.Command.RECALL_MANY, P.Error.OK]),
                                       bytes([62, P.Command.STOP, P.Error.OK])]
    assert [len(b) for b in bodies[:2]] == [3 + size] * 2
    assert [_stop_reason(b[3:]) for b in bodies[:2]] == [P.StopReason.STOP] * 2
    # then runs go on as usual
    assert board.recall(np.ones(10, np.int64), max_visits=7).stop_reason == "cap"


@pytest.mark.slow
def test_store_chains_apply_each_store_once_in_order(board):
    """STOREs are applied once per seq of their chain (protocol.Repeat): random STORE frames
    (beginning a chain or following one; repeats, seqs ahead, behind or far off) and other
    requests (which close the chain) get the replies of protocol.chain_verdict, and the weights
    are golden's saturating store of the patterns applied, in that order."""
    seed = 31
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    cfg = board.config
    want = rng.integers(cfg.weight_min, cfg.weight_max + 1, (10, 10))
    board.load_weights(want)       # weights at the limits: the order of the stores shows
    chained, last, seen = False, 0, set()
    for step in range(22):
        if rng.random() < 0.12:
            # another request closes the chain
            assert np.array_equal(board.read_weights(), want), f"seed {seed} step {step}"
            chained = False
            continue
        seq = (last + int(rng.choice([0, 1, 1, 1, 2, -1, 100, 200]))) % 256
        first = bool(rng.random() < 0.3)
        verdict = P.chain_verdict(chained, last, seq, first)
        seen.add((verdict, first))
        p = rng.choice([-1, 1], 10)
        body = raw_exchange(board, frame(seq, P.Command.STORE, P.STORE_PARAMS.pack(
            1, P.StoreFlags.FIRST if first else 0) + P.pack_bits((p > 0).astype(np.int64))))
        err = P.Error.SEQUENCE if verdict == "refuse" else P.Error.OK
        assert body == [bytes([seq, P.Command.STORE, err])], f"seed {seed} step {step}: " \
            f"seq {seq} first {first} after {last} (chain open: {chained}): {body}"
        if verdict == "apply":
            want = golden.store_hebbian(want, p, config=cfg)
            chained, last = True, seq
    assert np.array_equal(board.read_weights(), want), f"seed {seed}"
    assert {v for v, _ in seen} == {"repeat", "apply", "refuse"}, seen
    assert {("apply", True), ("apply", False)} <= seen, seen


def test_error_reply_raises_protocol_error(board):
    with pytest.raises(ProtocolError, match="ADDRESS"):
        board.request(P.Command.READ_BIAS, P.CHUNK_RANGE.pack(3, 1))


def test_graded_port_only_with_the_feature():
    """Without Feature.GRADED the command engine has no graded port (and decodes none of the
    graded commands: tests/test_graded_board.py); with it, the graded engine's signature."""
    from hopfield_fpga.config import Feature, NetworkConfig
    from hopfield_fpga.gateware.command_engine import CommandEngine
    from hopfield_fpga.gateware.graded_ports import graded_signature
    from amaranth.hdl import Fragment
    cfg = NetworkConfig(neurons=10, lanes=4, weight_bits=4)
    gcfg = cfg.with_(features=Feature.ALL)
    plain = CommandEngine(cfg, 12_000_000, 115200)
    with_graded = CommandEngine(gcfg, 12_000_000, 115200)
    for engine in (plain, with_graded):
        Fragment.get(engine, None)     # both elaborate
    assert "graded" not in plain.signature.members
    assert with_graded.signature.members["graded"].signature == graded_signature(gcfg).flip()
