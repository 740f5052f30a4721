"""``hopfield bench``: benchmarks. ``bench engine`` runs the binary engine's RTL in simulation and
the compiled CPU engine on the same recalls.

Each benchmark is a subcommand of ``bench`` registered by one function in :data:`BENCHES`; a
new one (e.g. ``bench link``) adds its ``register_<name>(subparsers)`` there.
"""

from __future__ import annotations

import json

from .bench_bound import register_bound
from .bench_capacity import register_capacity
from .bench_maxcut import register_maxcut
from .cli import CLIError, positive_int

__all__ = ["register", "BENCHES"]


def register_engine(subparsers) -> None:
    from hopfield_fpga.config import ENGINES, MAX_LANES, MAX_NEURONS
    p = subparsers.add_parser(
        "engine", help="RTL cycles and time per recall of the binary engine vs the CPU engine",
        description="Simulate the binary engine's Verilog (Verilator by default) on Hebbian "
                    "recalls: N in {64, 256, 1024}, P = 0.1 N patterns stored on chip, probes "
                    "with 10% and 30% noise, every order. Prints visits, flips, RTL cycles "
                    "per recall, the engine's cycle bound and the ratio; the FPGA's time "
                    "per recall (exact RTL cycles at the board's clock) and the compiled CPU "
                    "engine's on one thread and on all cores, measured in the same run, and "
                    "their ratios. Every run is checked against the golden model, which is "
                    "timed only for issue 12's target checks.")
    p.add_argument("--sizes", type=positive_int, nargs="+", default=None,
                   help=f"network sizes N (default 64 256 1024; at most {MAX_NEURONS})")
    p.add_argument("--lanes", type=positive_int, default=8,
                   help=f"lanes K (default 8, at most {MAX_LANES} and N)")
    p.add_argument("--quick", action="store_true", help="only N = 64")
    p.add_argument("--board", metavar="NAME", default=None,
                   help="run this board's default configuration, with its engine, at its "
                        "clock instead of --sizes/--lanes (`hopfield boards` lists them)")
    p.add_argument("--clock-mhz", type=float, default=None,
                   help="clock of the FPGA times without --board (default: that of "
                        "bench_engine.DEFAULT_CLOCK_BOARD, the board whose default has "
                        "N = 1024)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="threads of the CPU engine's all-cores column (default: every core)")
    p.add_argument("--repeats", type=positive_int, default=5,
                   help="timed CPU batches per row; the median is reported (default 5)")
    p.add_argument("--simulator", choices=["verilator", "icarus", "model"], default="verilator",
                   help="the RTL's simulator, or `model`: no simulation, the column engine's "
                        "cycles from its cycle accounting (checked exactly against the RTL by "
                        "the tests) on the CPU engine's runs, e.g. for the ULX3S 85F's "
                        "N = 1024 (a 20-minute Verilator build)")
    p.add_argument("--engine", choices=ENGINES, default=None,
                   help="design of the binary engine to simulate instead of the "
                        "configuration's (a board's default names its own; without --board: "
                        "the K-lane engine). The FPGA times stay at the board's clock, which "
                        "was measured for the board's own engine")
    p.add_argument("--replicas", type=positive_int, default=None,
                   help="also serve recall_many batches on this many replicas of the column "
                        "engine (default: the configuration's; 2 adds the `replicas` rows)")
    p.add_argument("--seed", type=int, default=1, help="seed of patterns and probes")
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    p.set_defaults(func=_engine)


def _engine(args) -> int:
    from hopfield_fpga.sim.bench_engine import DEFAULT_SIZES, QUICK_SIZES, format_table, run_engine_bench
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    clock = None if args.clock_mhz is None else args.clock_mhz * 1e6
    return _report(lambda: run_engine_bench(sizes, lanes=args.lanes, simulator=args.simulator,
                                            seed=args.seed, board=args.board, clock_hz=clock,
                                            threads=args.threads, repeats=args.repeats,
                                            engine=args.engine, replicas=args.replicas),
                   format_table, args.json, records=lambda report: report.records())


def _report(run, format_table, as_json: bool, records=None) -> int:
    """Run a benchmark and print its result: a table, or one JSON object per row
    (``records(result)`` gives them; by default the result is a list of rows)."""
    try:
        result = run()
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if as_json:
        for record in (records(result) if records else [row.to_dict() for row in result]):
            print(json.dumps(record))
    else:
        print(format_table(result))
    return 0


def register_link(subparsers) -> None:
    from .bench_link import BOARD_PROBES, DEFAULT_BATCH, DEFAULT_BAUDS
    p = subparsers.add_parser(
        "link", help="wire bits per payload bit and times of the board link",
        description="Encode the frames the driver sends for loading N = 256 8-bit weights, "
                    "storing 26 patterns and a batched recall; print wire bytes per data byte "
                    "(UART start/stop bits apart) and the load/store times at several baud "
                    "rates and board clocks (wire bytes plus the engine's cycles). Then, per "
                    "board at its default configuration, clock and baud: a batched recall's "
                    "time per probe end to end (the driver's wire bits and the engine's RTL "
                    "cycles, simulated as `bench engine` does and checked against the golden "
                    "model), the engine's alone, and the wire before packed states at 115200; "
                    "and a batched recall of 4 full frames one request at a time against "
                    "requests in flight (computed from the driver's frames, the engine's "
                    "cycles and a 1 ms round trip).")
    p.add_argument("--lanes", type=positive_int, default=4, help="lanes K of the load/store "
                   "rows (default 4, the ULX3S-25F's default; the iCEBreaker's is 2)")
    p.add_argument("--bauds", type=positive_int, nargs="+", default=list(DEFAULT_BAUDS),
                   help="baud rates of the load/store rows (default 115200 1000000 3000000; "
                        "each must be one the UART serves at every board's clock)")
    p.add_argument("--batch", type=positive_int, default=DEFAULT_BATCH,
                   help=f"probes of the batched recall (default {DEFAULT_BATCH})")
    p.add_argument("--boards", metavar="NAME", nargs="+", default=None,
                   help="boards of the per-board recall rows (default: every board; "
                        "`hopfield boards` lists them)")
    p.add_argument("--probes", type=positive_int, default=BOARD_PROBES,
                   help=f"probes of each board's batched recall (default {BOARD_PROBES})")
    p.add_argument("--no-engine", action="store_true",
                   help="leave out the engine's RTL simulation (then the boards' recall rows "
                        "are the wire alone)")
    p.add_argument("--simulator", choices=["verilator", "icarus"], default="verilator")
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    p.set_defaults(func=_link)


def _link(args) -> int:
    from .bench_link import (board_recall_rows, format_board_table, format_table,
                             inflight_rows, run_link_bench)

    def run():
        recall = board_recall_rows(args.boards, probes=args.probes,
                                   simulator=None if args.no_engine else args.simulator)
        cycles = {r.board: r.engine_cycles for r in recall if r.operation == "engine"}
        return (run_link_bench(lanes=args.lanes, bauds=args.bauds, batch=args.batch),
                recall + inflight_rows(args.boards, engine_cycles=cycles))
    return _report(run, lambda r: format_table(r[0]) + "\n\n" + format_board_table(r[1]),
                   args.json, records=lambda r: [row.to_dict() for rows in r for row in rows])


#: The benchmarks under ``hopfield bench``.
BENCHES = [register_engine, register_link, register_maxcut, register_capacity, register_bound]


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmarks (engine cycles, ...)",
                              description="Benchmarks; see the subcommands.")
    sub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for reg in BENCHES:
        reg(sub)
