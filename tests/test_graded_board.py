"""The graded engine through the board: protocol, command engine, Board.run_graded, the CLI.

The simulated board (``sim://``, Amaranth's simulator and Icarus) must give exactly what the
golden model ``sim.graded.run_graded_fixed`` gives; bad graded frames get their error and change
nothing; Fig. 3 of the paper comes out of the board API; a board without Feature.GRADED says so,
and so does a graded-only board (no update orders, no binary engine) asked for a binary run.
"""

from __future__ import annotations

import numpy as np
import pytest

from hopfield_fpga import protocol as P
from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.protocol import LinkGeometry
from hopfield_fpga.gateware.graded_engine import GradedEngine
from hopfield_fpga.host import graded_figure as gf
from hopfield_fpga.host.board import Board
from hopfield_fpga.host.errors import ConfigMismatch
from hopfield_fpga.host.simboard import parse_sim_url
from hopfield_fpga.numerics import (
    GRADED_PRESETS, GRADED_SEGMENTS, GRADED_SLOPE_BITS, GRADED_V_BITS, GRADED_X_BITS,
)
from hopfield_fpga.sim import graded, rtl_runner

from board_bytes import one_reply, raw_exchange

#: A small board with both engines and every feature.
RANDOM_URL = "sim://?neurons=6&weight_bits=5&lanes=4&features=stochastic,hebbian,trace,graded"
#: A graded-only board: no binary engine; N not a multiple of K (a short last chunk).
GRADED_ONLY_URL = "sim://?neurons=7&weight_bits=6&lanes=3&orders=none&features=trace,graded"
FIG3_URL = "sim://?neurons=2&weight_bits=2&bias_bits=2&lanes=1&features=trace,graded"


def _backend_url(url: str, backend: str) -> str:
    if backend != "amaranth" and not rtl_runner.simulator_available(backend):
        rtl_runner.missing_tool(f"{backend} not installed")
    return f"{url}&backend={backend}"


def fig3_url() -> str:
    """Fig. 3 runs on Icarus when it is there (about 6x faster), else on Amaranth."""
    return FIG3_URL + ("&backend=icarus" if rtl_runner.simulator_available("icarus") else "")


def _random_table(rng) -> list[tuple[int, int, int]]:
    """A user table with random (non-decreasing) breakpoints, levels and slopes, corners
    included."""
    k = int(rng.integers(1, GRADED_SEGMENTS + 1))
    xmax, vmax, mmax = (1 << (GRADED_X_BITS - 1)) - 1, (1 << (GRADED_V_BITS - 1)) - 1, \
        (1 << (GRADED_SLOPE_BITS - 1)) - 1
    xs = np.sort(rng.integers(-(1 << 17), 1 << 17, k))
    if rng.random() < 0.3:
        xs[-1] = xmax
    ys = rng.integers(-vmax - 1, vmax + 1, k)
    ms = rng.integers(-mmax - 1, mmax + 1, k)
    return [(int(x), int(y), int(m)) for x, y, m in zip(xs, ys, ms)]


def _random_case(rng, cfg: NetworkConfig) -> dict:
    n = cfg.neurons
    w = rng.integers(cfg.weight_min, cfg.weight_max + 1, (n, n))
    if rng.random() < 0.5:
        w = np.triu(w, 1)
        w = w + w.T
        w = np.clip(w, cfg.weight_min, cfg.weight_max)
    if rng.random() < 0.2:
        w[:] = rng.choice([cfg.weight_min, cfg.weight_max], (n, n))    # extreme weights
    b = rng.integers(cfg.bias_min, cfg.bias_max + 1, n) if rng.random() < 0.5 \
        else np.zeros(n, dtype=np.int64)
    sigmoid = rng.choice(["atan", "tanh", "hard", "table"])
    case = dict(weights=w, bias=b, gain=float(rng.choice([0.3, 1.0, 1.4, 5.0, 200.0])),
                dt=float(rng.choice([1 / 2, 1 / 8, 1 / 16, 0.3])),
                leak=float(rng.choice([1.0, 0.5, 0.125])),
                sigmoid=_random_table(rng) if sigmoid == "table" else str(sigmoid),
                max_steps=int(rng.integers(0, 30)),
                eps=float(rng.choice([0.0, 0.0, 0.01, 0.5])), trace=bool(rng.random() < 0.4))
    if rng.random() < 0.5 and sigmoid != "table":    # v0 -> u0 inverts a monotone table
        case["v0"] = rng.uniform(-1, 1, n)
    else:
        case["u0"] = rng.uniform(-3, 3, n) * (1000 if rng.random() < 0.2 else 1)  # saturation
    return case


def _golden(case, cfg):
    params = graded.GradedParams.from_real(gain=case["gain"], dt=case["dt"], leak=case["leak"],
                                           sigmoid=case["sigmoid"], eps=case["eps"],
                                           max_steps=case["max_steps"])
    if "v0" in case:
        u0 = graded.u_from_v(case["v0"], params, cfg)
    else:
        lo, hi = -(1 << (cfg.graded_u_bits - 1)), (1 << (cfg.graded_u_bits - 1)) - 1
        u0 = np.clip(np.rint(np.asarray(case["u0"]) * graded.GRADED_V_ONE), lo, hi).astype(
            np.int64)
    return (graded.run_graded_fixed(case["weights"], case["bias"], u0, params, cfg,
                                    trace=case["trace"]),
            graded.sigmoid_unit(u0, params, cfg))


@pytest.mark.parametrize("url,backend,cases", [
    (RANDOM_URL, "amaranth", 10), (RANDOM_URL, "icarus", 30),
    (GRADED_ONLY_URL, "amaranth", 5), (GRADED_ONLY_URL, "icarus", 15)],
    ids=["both-amaranth", "both-icarus", "graded_only-amaranth", "graded_only-icarus"])
def test_run_graded_matches_golden(url, backend, cases):
    url = _backend_url(url, backend)
    with Board.open(url) as board:
        cfg = board.config
        for seed in range(cases):
            rng = np.random.default_rng(1000 + seed)
            case = _random_case(rng, cfg)
            want, v0 = _golden(case, cfg)
            got = board.run_graded(**case)
            where = f"backend {backend}, seed {1000 + seed}, case {case}"
            assert np.array_equal(got.v, want.v), f"v differs: {where}"
            assert np.array_equal(got.u, want.u), f"u differs: {where}"
            assert (got.steps, got.converged, got.max_du) == \
                (want.steps, want.converged, want.max_du), where
            assert got.stop_reason == ("converged" if want.converged else "cap"), where
            if case["trace"]:
                assert np.array_equal(got.v0, v0), where
                assert len(got.trace) == len(want.trace), where
                for t, ((gu, gv), (wu, wv)) in enumerate(zip(got.trace, want.trace)):
                    assert np.array_equal(gu, wu) and np.array_equal(gv, wv), \
                        f"trace differs at step {t + 1}: {where}"
            else:
                # no trace stalls: the engine's cycle formula holds exactly
                assert got.cycles == GradedEngine.pass_cycles(cfg, initial=True) \
                    + want.steps * GradedEngine.pass_cycles(cfg), where
            # the sigmoid table and u read back as written and computed
            assert board.read_table() == graded.sigmoid_table(case["sigmoid"]), where
        # the weights read back (from the binary engine, or the graded one on a graded-only
        # board) are those of the last case
        assert np.array_equal(board.read_weights(), case["weights"])
        assert np.array_equal(board.read_bias(), case["bias"])


def test_cycles_of_an_untraced_run():
    with Board.open(RANDOM_URL) as board:
        cfg = board.config
        rng = np.random.default_rng(5)
        w = rng.integers(-3, 4, (6, 6))
        r = board.run_graded(w, v0=rng.uniform(-1, 1, 6), gain=1.0, dt=1 / 16, max_steps=7)
        expect = GradedEngine.pass_cycles(cfg, initial=True) + 7 * GradedEngine.pass_cycles(cfg)
        print(f"cycles {r.cycles}, formula {expect}")
        assert r.steps == 7 and r.stop_reason == "cap"
        assert r.cycles == expect


# -- bad frames --------------------------------------------------------------------------------

def _frame(seq, cmd, payload=b""):
    return P.encode_frame(bytes([seq, cmd]) + payload)


def _run(gain_e=4, dt_e=4, leak=0, flags=P.GradedRunFlags.WAIT, eps=0, steps=10):
    return P.GRADED_RUN_PARAMS.pack(0x1000, gain_e, 0x1000, dt_e, leak, int(flags), eps, steps)


C = P.Command
N_RANDOM = 6
U_WORD = LinkGeometry(parse_sim_url(RANDOM_URL)["config"]).u_word
BAD_GRADED = [
    ("u past the end", _frame(7, C.WRITE_U, P.INDEX_RANGE.pack(N_RANDOM - 1, 2)
                              + bytes(2 * U_WORD)), C.WRITE_U, P.Error.ADDRESS),
    ("u length", _frame(7, C.WRITE_U, P.INDEX_RANGE.pack(0, 2) + bytes(2 * U_WORD - 1)),
     C.WRITE_U, P.Error.LENGTH),
    ("read u with payload", _frame(7, C.READ_U, P.INDEX_RANGE.pack(0, 1) + b"\x01"), C.READ_U,
     P.Error.LENGTH),
    ("v past the end", _frame(7, C.READ_V, P.INDEX_RANGE.pack(3, 4)), C.READ_V, P.Error.ADDRESS),
    ("v count too large", _frame(7, C.READ_V, P.INDEX_RANGE.pack(0, 0xFFFF)), C.READ_V,
     P.Error.ADDRESS),
    ("table past the end", _frame(7, C.WRITE_TABLE, P.INDEX_RANGE.pack(GRADED_SEGMENTS - 1, 2)
                                  + bytes(14)), C.WRITE_TABLE, P.Error.ADDRESS),
    ("table length", _frame(7, C.WRITE_TABLE, P.INDEX_RANGE.pack(0, 1) + bytes(3)),
     C.WRITE_TABLE, P.Error.LENGTH),
    ("read table short header", _frame(7, C.READ_TABLE, b"\x00"), C.READ_TABLE, P.Error.LENGTH),
    ("gain exponent", _frame(7, C.RUN_GRADED, _run(gain_e=32)), C.RUN_GRADED, P.Error.ARGUMENT),
    ("dt exponent", _frame(7, C.RUN_GRADED, _run(dt_e=255)), C.RUN_GRADED, P.Error.ARGUMENT),
    ("leak shift", _frame(7, C.RUN_GRADED, _run(leak=8)), C.RUN_GRADED, P.Error.ARGUMENT),
    ("unknown flag", _frame(7, C.RUN_GRADED, _run(flags=4)), C.RUN_GRADED, P.Error.ARGUMENT),
    ("trace without wait", _frame(7, C.RUN_GRADED, _run(flags=P.GradedRunFlags.TRACE)),
     C.RUN_GRADED, P.Error.ARGUMENT),
    ("run params length", _frame(7, C.RUN_GRADED, _run() + b"\x00"), C.RUN_GRADED,
     P.Error.LENGTH),
    ("status with payload", _frame(7, C.READ_GRADED_STATUS, b"\x00"), C.READ_GRADED_STATUS,
     P.Error.LENGTH),
    ("unused graded code", _frame(7, 0x47), 0x47, P.Error.UNKNOWN_COMMAND),
]


@pytest.fixture(scope="module")
def gboard():
    with Board.open(RANDOM_URL) as b:
        rng = np.random.default_rng(3)
        r = b.run_graded(rng.integers(-16, 16, (6, 6)), rng.integers(-100, 100, 6),
                         v0=rng.uniform(-1, 1, 6), gain=2.0, dt=1 / 8, sigmoid="tanh",
                         max_steps=5)
        assert r.steps == 5
        b.write_state(rng.choice([-1, 1], 6))
        yield b


def _snapshot(b):
    return (b.read_weights(), b.read_bias(), b.read_state(), b.read_u(), b.read_v(),
            b.read_table(), b.graded_status())


def _same(a, c):
    return all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
               for x, y in zip(a, c))


@pytest.mark.parametrize("name,data,cmd,err", BAD_GRADED, ids=[c[0] for c in BAD_GRADED])
def test_bad_graded_frames_change_nothing(gboard, name, data, cmd, err):
    before = _snapshot(gboard)
    assert raw_exchange(gboard, data) == [bytes([7, cmd, err])], name
    assert _same(before, _snapshot(gboard)), f"{name}: the board changed"


def test_busy_during_a_graded_run_and_stop(gboard):
    before = _snapshot(gboard)
    # An antisymmetric network with a large step never settles: the run goes on until STOP.
    gboard.load_weights(np.array([[0, 15, 0, 0, 0, 0], [-15, 0, 0, 0, 0, 0]] + [[0] * 6] * 4))
    gboard.write_u(np.array([3000, 0, 0, 0, 0, 0]))
    assert one_reply(gboard, _frame(20, C.RUN_GRADED, P.GRADED_RUN_PARAMS.pack(
        1, 0, 1, 0, 0, 0, 0, 2**32 - 1))) == bytes([20, C.RUN_GRADED, 0])
    geo = gboard.geometry
    for seq, cmd, payload in [(21, C.WRITE_U, P.INDEX_RANGE.pack(0, 1) + bytes(geo.u_word)),
                              (22, C.WRITE_WEIGHTS, P.WEIGHT_RANGE.pack(0, 0, 1)
                               + bytes(geo.weight_word)),
                              (23, C.RUN, P.RUN_PARAMS.pack(0, 0, 1, 10, 1)),
                              (24, C.RUN_GRADED, _run())]:
        assert one_reply(gboard, _frame(seq, cmd, payload)) == bytes([seq, cmd, P.Error.BUSY])
    body = one_reply(gboard, _frame(25, C.READ_GRADED_STATUS))
    flags, steps, _, _ = P.GRADED_STATUS.unpack(body[3:])
    assert body[:3] == bytes([25, C.READ_GRADED_STATUS, 0])
    assert flags & P.StatusFlags.BUSY and steps > 0
    assert raw_exchange(gboard, _frame(26, C.STOP)) == [bytes([26, C.STOP, 0])]
    st = gboard.graded_status()
    assert not st["busy"] and st["stop_reason"] == "stop" and not st["converged"]
    w = gboard.read_weights()
    assert w[0, 1] == 15 and w[1, 0] == -15
    gboard.load_weights(before[0], before[1])


def test_board_without_graded_says_so():
    with Board.open("sim://?neurons=4&weight_bits=3&lanes=2") as board:
        with pytest.raises(ConfigMismatch, match="GRADED"):
            board.run_graded(np.zeros((4, 4), dtype=int), v0=[0.1] * 4, gain=1.0, dt=0.1)
        with pytest.raises(ConfigMismatch, match="GRADED"):
            board.read_v()
        # the gateware does not decode the graded commands at all
        assert raw_exchange(board, _frame(9, C.READ_GRADED_STATUS)) == [
            bytes([9, C.READ_GRADED_STATUS, P.Error.UNKNOWN_COMMAND])]


def test_icebreaker_graded_configuration_matches_golden():
    """The iCEBreaker's shipped graded configuration (`hopfield build --board icebreaker
    --graded`) on the simulated board, bit-exact."""
    from hopfield_fpga.hw.boards import get_board
    cfg = get_board("icebreaker").graded_config
    d = cfg.to_dict()
    url = _backend_url(f"sim://?neurons={d['neurons']}&weight_bits={d['weight_bits']}"
                       f"&bias_bits={d['bias_bits']}&lanes={d['lanes']}&orders=none"
                       f"&features={','.join(d['features'])}", "icarus")
    with Board.open(url) as board:
        assert board.config == cfg
        for seed in range(3):
            rng = np.random.default_rng(3000 + seed)
            case = _random_case(rng, cfg) | {"trace": False,
                                              "max_steps": int(rng.integers(1, 6))}
            want, _ = _golden(case, cfg)
            got = board.run_graded(**case)
            where = f"seed {3000 + seed}"
            assert np.array_equal(got.v, want.v) and np.array_equal(got.u, want.u), where
            assert (got.steps, got.converged, got.max_du) == \
                (want.steps, want.converged, want.max_du), where


def test_graded_only_board_refuses_binary_work():
    with Board.open(GRADED_ONLY_URL) as board:
        assert not board.config.has_binary
        for call in (lambda: board.recall(np.ones(7)), board.status, board.read_state,
                     board.clear, lambda: board.write_state(np.ones(7))):
            with pytest.raises(ConfigMismatch, match="graded-only"):
                call()
        # the gateware does not decode the binary engine's commands; the rest is served
        for seq, cmd in enumerate(sorted(P.BINARY_COMMANDS), start=30):
            assert raw_exchange(board, _frame(seq, cmd)) == [
                bytes([seq, cmd, P.Error.UNKNOWN_COMMAND])], cmd.name
        w = np.arange(49).reshape(7, 7) % 61 - 30
        board.load_weights(w, np.arange(7) - 3)
        assert np.array_equal(board.read_weights(), w)
        assert np.array_equal(board.read_bias(), np.arange(7) - 3)


# -- Fig. 3 through the board ------------------------------------------------------------------

def fig3_trajectories(board, points: int):
    params = gf.fig3_params()
    out = []
    for start in gf.fig3_starts(points=points):
        r = board.run_graded(gf.FIG3_WEIGHTS, gf.FIG3_BIAS, v0=list(start), gain=gf.FIG3_GAIN,
                             dt=float(params.dt), max_steps=params.max_steps, trace=True)
        assert r.converged, start
        out.append((start, gf.trajectory_from_trace(r.v0, r.trace)))
    return out


def test_figure3_trajectories_end_at_the_two_stable_states():
    with Board.open(fig3_url()) as board:
        runs = fig3_trajectories(board, points=3)   # 6 starts, both sides
    corners = set()
    for start, traj in runs:
        end = traj[-1]
        corner = 1 if end[0] > 0 else -1
        # the stable states lie on the diagonal at +-0.525 (docs/graded.md)
        assert np.all(np.abs(end - corner * 0.525) < 0.005), (start, end)
        assert np.sign(start[0] + start[1]) == corner, (start, end)   # the side it began on
        corners.add(corner)
    print(f"{len(runs)} trajectories, ends {sorted({tuple(np.round(t[-1], 4)) for _, t in runs})}")
    assert corners == {-1, 1}


def test_cli_graded_figure3_writes_a_png(tmp_path, capsys):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        rtl_runner.missing_tool("matplotlib not installed (the plot extra)")
    from hopfield_fpga.host.cli import main
    path = tmp_path / "fig3.png"
    assert main(["graded", "--url", fig3_url(), "--figure3", str(path), "--points", "2",
                 "--json"]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert '"figure3"' in out and '"trajectories": 2' in out


def test_cli_graded_run(capsys):
    from hopfield_fpga.host.cli import main
    assert main(["graded", "--url", RANDOM_URL, "--patterns", "1", "--gain", "20",
                 "--max-steps", "200", "--seed", "4", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"converged": true' in out


def test_presets_are_the_golden_tables(gboard):
    for name, table in GRADED_PRESETS.items():
        gboard.write_table(name)
        assert gboard.read_table() == table, name


# -- the high-gain correspondence through the board ----------------------------------------------

def test_high_gain_hebbian_n64_graded_sign_vs_binary_engine():
    """Hebbian N = 64 (P = 4) on one simulated board: at 20 lambda_c the sign of every converged
    graded end state is a binary fixed point; the fraction of starts where it equals the binary
    engine's sequential recall from the same probe (same board) is printed and must be > 0."""
    from hopfield_fpga.sim.golden import is_fixed_point
    url = _backend_url("sim://?neurons=64&weight_bits=4&lanes=8&"
                       "features=stochastic,hebbian,trace,graded", "icarus")
    seed, n, starts = 64, 64, 4
    rng = np.random.default_rng(seed)
    pats = rng.choice([-1, 1], size=(4, n))
    w = pats.T @ pats
    np.fill_diagonal(w, 0)
    b = np.zeros(n, dtype=np.int64)
    lam_c = 1 / (graded.pwl_slope_at_zero(GRADED_PRESETS["tanh"])
                 * float(np.linalg.eigvalsh(w).max()))
    same = 0
    with Board.open(url) as board:
        board.load_weights(w, b)
        for start in range(starts):
            s0 = pats[start % 4] * np.where(rng.random(n) < 0.2, -1, 1)   # 20 % probe noise
            r = board.run_graded(v0=0.1 * s0, gain=20 * lam_c, dt=1 / 8, sigmoid="tanh",
                                 max_steps=20_000)
            where = f"seed {seed} start {start}"
            assert r.converged and np.all(r.v != 0), where
            s = np.where(r.v > 0, 1, -1)
            assert is_fixed_point(w, b, s), where
            binary = board.recall(s0, order="sequential", max_sweeps=100)
            same += bool(np.array_equal(binary.state, s))
    print(f"high gain (20 lambda_c), N=64 P=4, through the board: graded sign = binary "
          f"engine result in {same}/{starts}")
    assert same > 0
