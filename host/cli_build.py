"""``hopfield boards``, ``hopfield build`` and ``hopfield sweep``: bitstreams for the dev boards.

A thin layer over :mod:`hopfield_fpga.hw`: it turns arguments into a board and a
:class:`~hopfield_fpga.config.NetworkConfig` (the board's default with the given fields
changed), runs the flow and prints the report (``--json``: the report as JSON). ``build``
exits with 1 when the design misses timing (the report is still written).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from hopfield_fpga.cache import cache_dir
from hopfield_fpga.config import ENGINES, NetworkConfig
from .cli import CLIError

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser("boards", help="list the supported boards and their defaults")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_boards)

    p = subparsers.add_parser(
        "build", help="synthesize a bitstream for a board and report resources and timing",
        description="Synthesize the design for a board with yosys/nextpnr (native on PATH, "
                    "else the YoWASP tools from PyPI), write the bitstream and report "
                    "resources and timing. Sizes default to the board's configuration "
                    "(`hopfield boards`).")
    _board_args(p)
    _config_args(p)
    p.add_argument("--program", action="store_true",
                   help="load the bitstream onto the board when the build meets timing")
    p.add_argument("--build-dir", type=Path,
                   help="build directory (default: ~/.cache/hopfield-fpga/build/BOARD)")
    p.add_argument("--verbose", action="store_true", help="show the tools' output")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_build)

    p = subparsers.add_parser(
        "sweep", help="find the largest configuration that fits a board and meets timing",
        description="Bisect on N with real builds for each weight width and lane count and "
                    "print the largest passing configurations (takes hours for a board).")
    _board_args(p)
    p.add_argument("--weight-bits", type=_int_list, default=None, metavar="LIST",
                   help="weight widths to try, comma-separated (default: the board's)")
    p.add_argument("--lanes", type=_int_list, default=None, metavar="LIST",
                   help="lane counts to try, comma-separated (default: the board's)")
    _engine_arg(p)
    p.add_argument("--granularity", type=int, default=64, help="step of N (default 64)")
    p.add_argument("--build-dir", type=Path, help="root of the build directories "
                                                  "(default: ~/.cache/hopfield-fpga/build/sweep)")
    p.add_argument("--verbose", action="store_true", help="show the tools' output")
    p.add_argument("--json", action="store_true", help="print every attempt as JSON")
    p.set_defaults(func=cmd_sweep)


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, not {text!r}")


def _board_args(p) -> None:
    p.add_argument("--board", required=True, metavar="NAME",
                   help="board name (`hopfield boards` lists them)")
    p.add_argument("--clock-mhz", type=float, help="system clock (default: the board's)")


def _config_args(p) -> None:
    p.add_argument("--graded", action="store_true",
                   help="start from the board's configuration with the graded engine "
                        "(`hopfield boards` shows it) instead of its default")
    p.add_argument("--neurons", "-n", type=int, help="N, the number of neurons")
    p.add_argument("--weight-bits", type=int, help="W_BITS, signed weight width")
    p.add_argument("--bias-bits", type=int, help="B_BITS (default: weight bits + 8)")
    p.add_argument("--lanes", "-k", type=int, help="K, weights handled per cycle (the column "
                                                   "engine: the host's access word)")
    _engine_arg(p)
    p.add_argument("--features", metavar="LIST",
                   help="comma-separated: stochastic, hebbian, trace, graded (or 'none')")
    p.add_argument("--orders", metavar="LIST",
                   help="comma-separated: sequential, random, rejection_free, synchronous (the "
                        "column engine) (or 'none': no binary engine, a graded-only build)")
    p.add_argument("--store-patterns", type=int, metavar="P_MAX",
                   help="patterns the column engine's quantized store holds (numerics.md "
                        "§14; 0: not built, the default)")
    p.add_argument("--baud", type=int, help="UART speed (default: the board's)")


def _engine_arg(p) -> None:
    p.add_argument("--engine", choices=ENGINES, default=None,
                   help="design of the binary engine (default: the board's, `hopfield boards`)")


def _board(args):
    from hopfield_fpga.hw.boards import get_board
    try:
        board = get_board(args.board)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.clock_mhz is not None:
        if not args.clock_mhz > 0:
            raise CLIError(f"--clock-mhz must be positive, not {args.clock_mhz}")
        board = dataclasses.replace(board, sys_clk_freq=args.clock_mhz * 1e6,
                                    clock_basis="--clock-mhz")
    return board


def _config(board, args) -> NetworkConfig:
    d = (board.graded_config if args.graded else board.default_config).to_dict()
    changed = {"neurons": args.neurons, "weight_bits": args.weight_bits,
               "bias_bits": args.bias_bits, "lanes": args.lanes, "engine": args.engine,
               "store_patterns": args.store_patterns}
    d.update({k: v for k, v in changed.items() if v is not None})
    if args.weight_bits is not None and args.bias_bits is None:
        d["bias_bits"] = None   # follow the new weight width
    if args.features is not None:
        d["features"] = [] if args.features == "none" else _names(args.features)
    elif d["engine"] != "column":
        # the column engine's contract (no column sum): the lanes engine takes any weights
        d["features"] = [f for f in d["features"] if f != "symmetric"]
    if args.orders is not None:
        d["orders"] = [] if args.orders == "none" else _names(args.orders)
    try:
        return NetworkConfig.from_dict(d)
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def cmd_boards(args) -> int:
    from hopfield_fpga.hw.boards import BOARDS
    if args.json:
        print(json.dumps([b.to_dict() for b in BOARDS.values()], indent=2))
        return 0
    for b in BOARDS.values():
        print(f"{b.name:<12} {b.title}")
        print(f"{'':<12} clock {b.sys_clk_freq / 1e6:g} MHz (oscillator "
              f"{b.osc_freq / 1e6:g} MHz), UART {b.baud} baud, weights in "
              f"{b.weight_memory.upper() if b.weight_memory == 'spram' else 'block RAM'}")
        print(f"{'':<12} clock from: {b.clock_basis}")
        print(f"{'':<12} default: {b.default_config.describe()}")
        print(f"{'':<12} --graded: {b.graded_config.describe()}")
    return 0


def _flow_errors():
    from hopfield_fpga.hw.build import BuildError, ToolchainError
    from hopfield_fpga.hw.fit import FitError
    return BuildError, ToolchainError, FitError


def cmd_build(args) -> int:
    from hopfield_fpga.hw.build import build
    board = _board(args)
    config = _config(board, args)
    build_dir = args.build_dir or cache_dir("build", board.name)
    build_dir.mkdir(parents=True, exist_ok=True)
    log_path = build_dir / "build.log"
    if config == board.default_config and board.unrouted:
        print(f"note: no build of {board.name}'s default has finished routing yet: "
              f"{board.unrouted}", file=sys.stderr)
    if not args.json:
        print(f"building {board.name}: {config.describe()}"
              + ("" if args.verbose else f" (log: {log_path})"), file=sys.stderr)
    try:
        with open(log_path, "w") as log:
            report = build(board, config, build_dir=build_dir, baud=args.baud,
                           program=args.program, log=None if args.verbose else log)
    except _flow_errors() as exc:
        raise CLIError(str(exc)) from None
    except ValueError as exc:       # a baud rate or clock the top cannot make
        raise CLIError(str(exc)) from None
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format())
    return 0 if report.ok else 1


def cmd_sweep(args) -> int:
    from hopfield_fpga.hw.sweep import markdown_table, sweep
    board = _board(args)
    default = board.default_config
    if args.engine is not None:
        default = default.with_(engine=args.engine)
    if args.granularity < 1:
        raise CLIError(f"--granularity must be positive, not {args.granularity}")
    root = args.build_dir or cache_dir("build", "sweep")
    root.mkdir(parents=True, exist_ok=True)

    def progress(a):
        verdict = "ok" if a.ok else (a.error or a.report.summary())
        print(f"  N={a.config.neurons} W={a.config.weight_bits} K={a.config.lanes}: {verdict}",
              file=sys.stderr)

    try:
        with open(root / f"{board.name}.log", "w") as log:
            attempts = sweep(board, weight_bits=args.weight_bits or [default.weight_bits],
                             lanes=args.lanes or [default.lanes], build_root=root, base=default,
                             granularity=args.granularity,
                             log=None if args.verbose else log, on_attempt=progress)
    except _flow_errors() as exc:
        raise CLIError(str(exc)) from None
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        print(json.dumps([a.to_dict() for a in attempts], indent=2))
    else:
        print(markdown_table(board, attempts))
    return 0 if any(a.ok for a in attempts) else 1
