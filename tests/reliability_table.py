"""The reliability table of docs/reliability.md: every class of bad input, how many were tried,
and the outcome. Run: ``.venv/bin/python tests/reliability_table.py [--per-class N]``.

- framing: bad segments of each class (random garbage, truncated, byte lost, bytes replaced,
  malformed requests, a stream cut mid-frame) between good frames on the simulated board
  (Amaranth backend); each reply must equal the framing rules' expected reply
  (tests/test_protocol_fuzz.py: expected_replies), the board must go quiet, and weights, bias,
  state and status must read back unchanged;
- driver: bad URLs, inputs that would wrap, calls after close: each must raise a BoardError;
- deadlines: requests to a silent and a chatty port must end within timeout x (retries + 1);
- CLI: bad arguments must give one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pty
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import serial

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hopfield_fpga import protocol as P                       # noqa: E402
from hopfield_fpga.host.board import Board                    # noqa: E402
from hopfield_fpga.host.cli import main as cli_main           # noqa: E402
from hopfield_fpga.host.errors import BoardError, BoardTimeout  # noqa: E402
import test_protocol_fuzz as fuzz                              # noqa: E402
import test_cli_errors as cli_cases                            # noqa: E402
import test_host_link as link_tests                            # noqa: E402


def framing(per_class: int, rng) -> list[tuple]:
    rows = []
    with Board.open(fuzz.URL) as board:
        cfg = board.config
        board.load_weights(rng.integers(cfg.weight_min, cfg.weight_max + 1, (10, 10)),
                           rng.integers(-50, 50, 10))
        board.write_state(rng.choice([-1, 1], 10))
        image = fuzz.Image(board)
        board.image = image
        good = P.encode_frame(bytes([0x21, P.Command.READ_STATUS]))
        good_reply = bytes([0x21, P.Command.READ_STATUS, P.Error.OK]) + image.status
        for kind in ("garbage", "truncated", "lost", "corrupted", "malformed", "cut mid-frame"):
            wrong_ok = wedged = mismatched = tried = 0
            while tried < per_class:
                frame = P.encode_frame(bytes([0x20, P.Command.READ_WEIGHTS])
                                       + P.WEIGHT_RANGE.pack(0, 0, 2))
                if kind == "garbage":
                    bad = bytes(rng.integers(0, 256, int(rng.integers(1, 48)), dtype=np.uint8))
                elif kind == "truncated":
                    bad = frame[:int(rng.integers(1, len(frame) - 1))]
                elif kind == "lost":
                    i = int(rng.integers(0, len(frame) - 1))
                    bad = frame[:i] + frame[i + 1:-1]
                elif kind == "corrupted":
                    bad = bytearray(frame[:-1])
                    i = int(rng.integers(0, len(bad)))
                    bad[i] = (bad[i] + int(rng.integers(1, 256))) & 0xFF
                    bad = bytes(bad)
                elif kind == "malformed":
                    cmd, payload, err = fuzz.malformed_request(
                        lambda strat: strat.example())
                    bad = P.encode_frame(bytes([0x22, cmd]) + payload)[:-1]
                else:
                    bad = good[:int(rng.integers(1, len(good) - 1))]
                if any(fuzz._is_valid_frame(p) for p in bad.split(b"\x00")) \
                        and kind != "malformed":
                    continue          # by chance a well-formed frame: draw again
                tried += 1
                if kind == "malformed":
                    want = [bytes([0x22, cmd, err])]
                else:
                    want = [r for p in bad.split(b"\x00") for r in fuzz.expected_replies(p)]
                try:
                    if kind == "cut mid-frame":
                        got, _ = fuzz.exchange(board, bad, 4000)
                        got += fuzz.exchange(board, b"\x00" + good, 4000)[0]
                    else:
                        got, _ = fuzz.exchange(board, bad + b"\x00" + good, 4000)
                except AssertionError:
                    wedged += 1
                    continue
                wrong_ok += sum(1 for r in got[:-1] if r[2] == P.Error.OK)
                mismatched += got != want + [good_reply]
            same = all(getattr(fuzz.Image(board), f) == getattr(image, f)
                       for f in ("weights", "bias", "state", "status"))
            rows.append(("framing", kind, per_class,
                         f"{wrong_ok} wrong OK, {wedged} wedged, {mismatched} replies not as "
                         f"specified, contents {'unchanged' if same else 'CHANGED'}"))
    return rows


def driver() -> list[tuple]:
    urls = ["sim://neurons=16", "sim://?neurons=abc", "sim://?neurons=0", "sim://?x=1",
            "sim://?backend=vcs", "sim://?neurons", "cpu://?lanes=0", "nope://x",
            "/dev/no-such-port", "sim://?neurons=1&weight_bits=0"]
    bad_url = sum(not _raises(lambda u=u: Board.open(u)) for u in urls)
    # (weights, quantize): each must be refused with a BoardError; 1e30 with quantize=True is
    # finite and is scaled (checked apart: it must read back at the range's end, not wrap)
    inputs = [(np.full((16, 16), 2**64 - 1, np.uint64), False), (np.full((16, 16), 1e30), False),
              (np.full((16, 16), np.nan), False), (np.full((16, 16), np.inf), False),
              (np.full((16, 16), np.nan), True), (np.full((16, 16), -np.inf), True),
              (np.zeros((16, 16), bool), False), (np.zeros((15, 16), int), False),
              (np.full((16, 16), 0.5), False)]
    with Board.open("cpu://?neurons=16&lanes=4&weight_bits=4") as b:
        wrapped = sum(not _raises(lambda a=a, q=q: b.load_weights(a, quantize=q))
                      for a, q in inputs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            b.load_weights(np.full((16, 16), 1e30), quantize=True)
        wrapped += int(b.read_weights().min()) != b.config.weight_max
        calls = [lambda: b.recall(np.zeros(16)), lambda: b.recall(np.ones(16), seed=-1),
                 lambda: b.recall(np.ones(16), max_sweeps=-1),
                 lambda: b.recall(np.ones(16), run_timeout=float("nan"))]
        bad_call = sum(not _raises(c) for c in calls)
    after_close = sum(not _raises(c) for c in (b.read_bias, lambda: b.recall(np.ones(16))))
    return [("driver", "bad URLs", len(urls), f"{bad_url} not refused with a BoardError"),
            ("driver", "inputs that would wrap or mislead", len(inputs) + 1,
             f"{wrapped} accepted"),
            ("driver", "bad run arguments", len(calls), f"{bad_call} accepted"),
            ("driver", "calls after close", 2, f"{after_close} not refused")]


def _raises(fn) -> bool:
    try:
        fn()
    except BoardError:
        return True
    return False


def deadlines(tries: int) -> list[tuple]:
    rows = []
    for name, chatty in (("silent port", False), ("chatty port (b'U' forever)", True)):
        late = hung = 0
        for _ in range(tries):
            master, slave = pty.openpty()
            stop = threading.Event()
            if chatty:
                threading.Thread(target=link_tests._chatty, args=(master, stop),
                                 daemon=True).start()
            port = serial.Serial(os.ttyname(slave), timeout=0.1)
            start = time.monotonic()
            try:
                Board(port, timeout=0.2, retries=2, url="pty")
                hung += 1
            except BoardTimeout:
                late += time.monotonic() - start > 0.2 * 3 + 0.5
            finally:
                stop.set()
                port.close()
                os.close(master)
                os.close(slave)
        rows.append(("deadlines", name, tries, f"{late} past the deadline, {hung} answered"))
    return rows


def cli() -> list[tuple]:
    bad = 0
    cases = [c.values[0] if hasattr(c, "values") else c[0]
             for c in cli_cases.test_bad_argument_is_one_line.pytestmark[0].args[1]]
    for argv in cases:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = cli_main(argv)
            except SystemExit as exc:
                code = exc.code
            except Exception:    # a traceback
                code = None
        lines = err.getvalue().strip().splitlines()
        bad += code in (0, None) or len(lines) != 1
    return [("CLI", "bad arguments (test_cli_errors cases)", len(cases),
             f"{bad} without a one-line error and a non-zero exit")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = framing(args.per_class, rng) + driver() + deadlines(5) + cli()
    print("| area | bad input | tried | outcome |\n|---|---|---|---|")
    for area, kind, n, outcome in rows:
        print(f"| {area} | {kind} | {n} | {outcome} |")


if __name__ == "__main__":
    main()
