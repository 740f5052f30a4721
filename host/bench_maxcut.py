"""``hopfield bench maxcut``: the board's annealer against dwave-samplers' on max-cut.

Two instances, generated with fixed seeds (``host/maxcut.py``): a random ±1 graph of G1's
shape (N = 800, 6% of the pairs) and a complete ±1 graph of K2000's shape at the board's N
(the ULX3S 85F default holds N = 1024). Both solvers get the same reads, sweeps and schedule:
dwave-samplers' ``SimulatedAnnealingSampler`` runs first with its default geometric beta
range, and the board anneals with that same range (one beta per sweep, the same number of
sweeps). Per instance and solver: best and mean cut, each as a ratio to the best cut either
found, and the time to 99% of that best cut (time per read / fraction of reads that reached
it). The board's time is its exact RTL cycles at its clock; a board that reports no cycles
(``cpu://``) has none ("n/a: no RTL cycles"). The CPU's is process time (one core: the
annealer is single-threaded, and process time would add up threads anyway).

``--board NAME`` runs the named board's default configuration (``hw/boards.py``) as a
``sim://`` board in Verilator at that board's clock and baud: the real gateware, so its cycles
are the board's. The instances then fit its N: the complete graph at N, the random one at
min(800, N) nodes with G1's mean degree (6% of 799 pairs per node: 47.9) when N < 800. The
board's rows also give the time its runs' requests and replies take on the wire at the
board's baud (the RTL cycles leave out the round trips between the runs of a read), and the
time to target with it added.

``--board NAME --cycle-model`` runs that board's default (a column engine) on ``cpu://`` with
``cycles=column`` at the board's clock instead: the compiled CPU engine's runs (bit-exact to
the board's) with the cycles of the column engine's cycle accounting
(``gateware/engine_cycles.py``, checked exactly against the RTL's ``status.cycles`` by the
tests), for boards whose Verilator simulation is too slow for anneals (the 85F default at
N = 1024 simulates a few hundred cycles a second). No wire time there: cpu:// has no link.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time

from .cli import fraction, positive_int, seed32
from .maxcut import Graph, MaxcutRun, complete_pm1_graph, cut_values, maxcut_bqm, \
    random_pm1_graph, run_sampler, time_to_target

__all__ = ["register_maxcut", "run_maxcut_bench", "format_table", "default_url",
           "board_sim_url", "board_model_url", "random_density"]

RANDOM_N, DENSITY = 800, 0.06          # G1's shape
QUICK = {"random_n": 100, "density": DENSITY, "complete_n": 64, "sweeps": 100}
NO_CYCLES = "n/a: no RTL cycles"
RTL_BASIS = "RTL cycles / clock"
MODEL_BASIS = "column engine's cycle accounting / clock"


def default_url() -> str:
    """The compiled CPU engine in the ULX3S 85F default configuration."""
    from hopfield_fpga.hw.boards import get_board
    from .urls import board_url
    return board_url("cpu", get_board("ulx3s-85f").default_config)


def board_model_url(name: str) -> str:
    """The ``cpu://`` URL of board ``name``'s default configuration with the column engine's
    cycle accounting at the board's clock (``cycles=column``); ValueError when that default
    is not a column engine."""
    from hopfield_fpga.hw.boards import get_board
    from .urls import board_url
    board = get_board(name)
    config = board.default_config
    if config.engine != "column":
        raise ValueError(f"--cycle-model times the column engine, and {name}'s default is the "
                         f"{config.engine} engine: run it without --cycle-model (Verilator)")
    return board_url("cpu", config, cycles="column", clk=round(board.sys_clk_freq))


def board_sim_url(name: str, backend: str = "verilator", replicas: int | None = None) -> str:
    """The ``sim://`` URL of board ``name``'s default configuration at its clock and baud
    (with ``replicas`` engines when given: the column engine's R)."""
    from hopfield_fpga.hw.boards import get_board
    from .urls import board_url
    board = get_board(name)
    config = board.default_config
    if replicas is not None:
        config = config.with_(replicas=replicas)
    return board_url("sim", config, clk=round(board.sys_clk_freq), baud=board.baud,
                     backend=backend)


def random_density(nodes: int) -> float:
    """G1's density at N = 800, else the density with G1's mean degree (0.06 * 799)."""
    return DENSITY if nodes >= RANDOM_N else min(1.0, DENSITY * (RANDOM_N - 1) / (nodes - 1))


@dataclasses.dataclass(frozen=True)
class BenchRow:
    instance: str
    nodes: int
    edges: int
    solver: str
    reads: int
    sweeps: int
    best_cut: float
    mean_cut: float
    best_ratio: float
    mean_ratio: float
    target: float
    seconds_per_read: float | str      # board: RTL cycles / clock; CPU: process time
    time_to_target_s: float | str
    time_basis: str
    wall_s: float
    wire_s_per_read: float | None = None       # the board's requests and replies at its baud
    time_to_target_with_wire_s: float | str | None = None
    #: what the board's clock rests on (hw/boards.py, Board.clock_basis), on --board's rows
    clock_basis: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _sa_run(graph: Graph, *, num_reads, num_sweeps, seed) -> tuple[MaxcutRun, tuple]:
    from dwave.samplers import SimulatedAnnealingSampler
    bqm = maxcut_bqm(graph)
    wall, cpu = time.perf_counter(), time.process_time()
    ss = SimulatedAnnealingSampler().sample(bqm, num_reads=num_reads, num_sweeps=num_sweeps,
                                            seed=seed)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    samples = ss.record.sample[:, [ss.variables.index(i) for i in range(graph.nodes)]]
    run = MaxcutRun("dwave-samplers SA", graph.name, cut_values(graph, samples), num_sweeps,
                    wall, None)
    return run, cpu, tuple(ss.info["beta_range"])


def run_maxcut_bench(url: str, *, num_reads: int = 10, num_sweeps: int = 1000, seed: int = 1,
                     random_n: int | None = None, density: float | None = None,
                     complete_n: int | None = None, progress=None,
                     label: str | None = None, basis: str = RTL_BASIS,
                     clock_basis: str | None = None) -> list[BenchRow]:
    """Both solvers on both instances. ``random_n`` None is min(800, the board's N),
    ``density`` None :func:`random_density`, ``complete_n`` None the board's N; ``label``
    names the board in the rows (default: its URL), ``basis`` where its cycles come from,
    ``clock_basis`` what its clock rests on (``Board.clock_basis`` of hw/boards.py)."""
    from .board import Board
    from .sampler import HopfieldSampler
    rows = []
    with Board.open(url) as board, HopfieldSampler(board=board) as sampler:
        n_board = board.config.neurons
        random_n = min(RANDOM_N, n_board) if random_n is None else random_n
        density = random_density(random_n) if density is None else density
        graphs = [random_pm1_graph(random_n, density, seed),
                  complete_pm1_graph(n_board if complete_n is None else complete_n, seed)]
        for graph in graphs:
            sa, sa_cpu, beta_range = _sa_run(graph, num_reads=num_reads, num_sweeps=num_sweeps,
                                             seed=seed)
            hw = run_sampler(sampler, graph, num_reads=num_reads, num_sweeps=num_sweeps,
                             seed=seed, beta_range=beta_range, progress=progress,
                             solver=f"board {label or url}")
            rows += _rows(graph, num_sweeps, (hw, sa), sa_cpu, basis, clock_basis)
    return rows


def _rows(graph: Graph, num_sweeps: int, runs: tuple[MaxcutRun, MaxcutRun],
          sa_cpu: float, board_basis: str = RTL_BASIS,
          clock_basis: str | None = None) -> list[BenchRow]:
    """The board's row and the CPU annealer's, against the best cut either found."""
    hw, sa = runs
    best = max(sa.best, hw.best)
    target = 0.99 * best
    rows = []
    for run, seconds, basis, clock in ((hw, hw.board_s, board_basis, clock_basis),
                                       (sa, sa_cpu, "process time, 1 core", None)):
        per_read = None if seconds is None else seconds / run.reads
        ttt = time_to_target(run.cuts, per_read, target)
        wire = None if run.wire_s is None else run.wire_s / run.reads
        rows.append(BenchRow(
            instance=graph.name, nodes=graph.nodes, edges=graph.edges,
            solver=run.solver, reads=run.reads, sweeps=num_sweeps, best_cut=run.best,
            mean_cut=run.mean, best_ratio=run.best / best if best else 1.0,
            mean_ratio=run.mean / best if best else 1.0, target=target,
            seconds_per_read=NO_CYCLES if per_read is None else per_read,
            time_to_target_s=_time(ttt), time_basis=basis, wall_s=run.wall_s,
            wire_s_per_read=wire,
            time_to_target_with_wire_s=None if wire is None or per_read is None else
            _time(time_to_target(run.cuts, per_read + wire, target)), clock_basis=clock))
    return rows


def _time(ttt: float | None) -> float | str:
    return NO_CYCLES if ttt is None else ttt if math.isfinite(ttt) else "not reached"


def format_table(rows: list[BenchRow]) -> str:
    head = ("instance", "N", "edges", "solver", "reads x sweeps", "best", "mean", "best/top",
            "mean/top", "s per read", "time to 99% of top", "wire s per read",
            "time to 99% with wire", "host wall s")
    lines = []
    for r in rows:
        ttt = r.time_to_target_s
        ttt = f"{ttt:.4g} s ({r.time_basis})" if isinstance(ttt, float) else ttt
        lines.append((r.instance, str(r.nodes), str(r.edges), r.solver,
                      f"{r.reads} x {r.sweeps}", f"{r.best_cut:g}", f"{r.mean_cut:.1f}",
                      f"{r.best_ratio:.4f}", f"{r.mean_ratio:.4f}", _seconds(r.seconds_per_read),
                      ttt, _seconds(r.wire_s_per_read), _seconds(r.time_to_target_with_wire_s),
                      f"{r.wall_s:.3g}"))
    widths = [max(len(h), *(len(ln[k]) for ln in lines)) for k, h in enumerate(head)]
    fmt = " | ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head), "-+-".join("-" * w for w in widths)]
    out += [fmt.format(*ln) for ln in lines]
    out.append("top = the best cut either solver found on the instance; time to target = time "
               "per read / fraction of reads that reached 99% of top; wire = the board's "
               "requests and replies at its baud (none on cpu://).")
    out += sorted({f"The board's clock is from: {r.clock_basis}." for r in rows if r.clock_basis})
    return "\n".join(out)


def _seconds(x) -> str:
    return "-" if x is None else f"{x:.4g}" if isinstance(x, float) else x


def register_maxcut(subparsers) -> None:
    p = subparsers.add_parser(
        "maxcut", help="the board's annealer vs dwave-samplers' SimulatedAnnealingSampler",
        description="Max-cut on a random +-1 graph (N = 800, 6% density: G1's shape; on a "
                    "smaller board min(800, N) nodes with G1's mean degree) and a complete +-1 "
                    "graph (K2000's shape at the board's N), same reads, sweeps and beta range "
                    "for both solvers; best and mean cut, ratios to the best either found, time "
                    "to 99% of it (board: exact RTL cycles at its clock, and with its wire time "
                    "at its baud; CPU: process time on one core).")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--url", default=None,
                       help="the board (default: cpu:// in the ULX3S 85F default "
                            "configuration, N = 1024 with 3-bit weights)")
    where.add_argument("--board", metavar="NAME", default=None,
                       help="a board's default configuration, clock and baud (`hopfield boards` "
                            "lists them) as a sim:// board in Verilator: exact RTL cycles")
    p.add_argument("--cycle-model", action="store_true",
                   help="with --board: run its default (a column engine) on cpu:// with the "
                        "column engine's cycle accounting at the board's clock (checked "
                        "exactly against the RTL by the tests) instead of Verilator: for "
                        "boards too large to anneal in simulation; no wire time")
    p.add_argument("--replicas", type=positive_int, default=None,
                   help="with --board: its default configuration with this many replicas "
                        "(column engine; the reads of each part of the schedule run R at a "
                        "time, the board's time from the batch's cycles)")
    p.add_argument("--reads", type=positive_int, default=10, help="reads per solver (default 10)")
    p.add_argument("--sweeps", type=positive_int, default=None,
                   help="sweeps per read (default 1000)")
    p.add_argument("--seed", type=seed32, default=1, help="seed of the graphs and the solvers")
    p.add_argument("--random-n", type=positive_int, default=None,
                   help=f"N of the random graph (default min({RANDOM_N}, the board's N))")
    p.add_argument("--density", type=fraction, default=None,
                   help=f"edge density of the random graph (default {DENSITY} at N >= "
                        f"{RANDOM_N}, else G1's mean degree)")
    p.add_argument("--complete-n", type=positive_int, default=None,
                   help="N of the complete graph (default: the board's N)")
    p.add_argument("--quick", action="store_true",
                   help=f"small instances for a quick run: random N = {QUICK['random_n']} at "
                        f"{DENSITY}, complete N = {QUICK['complete_n']}, {QUICK['sweeps']} "
                        f"sweeps")
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    p.set_defaults(func=_maxcut)


def _maxcut(args) -> int:
    from .cli import CLIError
    from .cli_board import progress
    from .errors import BoardError
    quick = QUICK if args.quick else {}
    try:
        if args.replicas is not None and not args.board:
            raise ValueError("--replicas needs --board (the URL of --url says its replicas)")
        if args.cycle_model and (not args.board or args.replicas is not None):
            raise ValueError("--cycle-model needs --board and runs one engine (no --replicas)")
        board = None
        if args.board:
            from hopfield_fpga.hw.boards import get_board
            board = get_board(args.board)
        if args.cycle_model:
            mhz = board.sys_clk_freq / 1e6
            url, basis = board_model_url(args.board), MODEL_BASIS
            where = f"cpu:// cycle model at {mhz:g} MHz"
        else:
            where, basis = "sim:// Verilator", RTL_BASIS
            url = board_sim_url(args.board, replicas=args.replicas) if args.board \
                else args.url or default_url()
        rows = run_maxcut_bench(
            url, num_reads=args.reads, num_sweeps=args.sweeps or quick.get("sweeps", 1000),
            seed=args.seed, random_n=args.random_n or quick.get("random_n"),
            density=args.density if args.density is not None else quick.get("density"),
            complete_n=args.complete_n or quick.get("complete_n"),
            progress=progress("board reads", not args.json),
            label=args.board and f"{args.board}"
                  f"{f' R={args.replicas}' if args.replicas else ''} ({where})", basis=basis,
            clock_basis=board and board.clock_basis)
    except (ValueError, BoardError) as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        for row in rows:
            print(json.dumps(row.to_dict()))
    else:
        print(format_table(rows))
    return 0
