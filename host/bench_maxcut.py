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
"""

from __future__ import annotations

import dataclasses
import json
import math
import time

from .cli import fraction, positive_int, seed32
from .maxcut import Graph, MaxcutRun, complete_pm1_graph, cut_values, maxcut_bqm, \
    random_pm1_graph, run_sampler, time_to_target

__all__ = ["register_maxcut", "run_maxcut_bench", "format_table", "default_url"]

RANDOM_N, DENSITY = 800, 0.06          # G1's shape
QUICK = {"random_n": 100, "complete_n": 64, "sweeps": 100}
NO_CYCLES = "n/a: no RTL cycles"


def default_url() -> str:
    """The compiled CPU engine in the ULX3S 85F default configuration."""
    from hopfield_fpga.hw.boards import get_board
    cfg = get_board("ulx3s-85f").default_config
    return f"cpu://?neurons={cfg.neurons}&weight_bits={cfg.weight_bits}&lanes={cfg.lanes}"


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
                     random_n: int = RANDOM_N, density: float = DENSITY,
                     complete_n: int | None = None, progress=None) -> list[BenchRow]:
    """Both solvers on both instances; ``complete_n`` None means the board's N."""
    from .board import Board
    from .sampler import HopfieldSampler
    rows = []
    with Board.open(url) as board, HopfieldSampler(board=board) as sampler:
        n_board = board.config.neurons
        graphs = [random_pm1_graph(random_n, density, seed),
                  complete_pm1_graph(n_board if complete_n is None else complete_n, seed)]
        for graph in graphs:
            sa, sa_cpu, beta_range = _sa_run(graph, num_reads=num_reads, num_sweeps=num_sweeps,
                                             seed=seed)
            hw = run_sampler(sampler, graph, num_reads=num_reads, num_sweeps=num_sweeps,
                             seed=seed, beta_range=beta_range, progress=progress,
                             solver=f"board {url}")
            best = max(sa.best, hw.best)
            target = 0.99 * best
            for run, seconds, basis in ((hw, hw.board_s, "RTL cycles / clock"),
                                        (sa, sa_cpu, "process time, 1 core")):
                per_read = None if seconds is None else seconds / run.reads
                ttt = time_to_target(run.cuts, per_read, target)
                rows.append(BenchRow(
                    instance=graph.name, nodes=graph.nodes, edges=graph.edges,
                    solver=run.solver, reads=run.reads, sweeps=num_sweeps, best_cut=run.best,
                    mean_cut=run.mean, best_ratio=run.best / best if best else 1.0,
                    mean_ratio=run.mean / best if best else 1.0, target=target,
                    seconds_per_read=NO_CYCLES if per_read is None else per_read,
                    time_to_target_s=(NO_CYCLES if ttt is None else
                                      ttt if math.isfinite(ttt) else "not reached"),
                    time_basis=basis, wall_s=run.wall_s))
    return rows


def format_table(rows: list[BenchRow]) -> str:
    head = ("instance", "N", "edges", "solver", "reads x sweeps", "best", "mean", "best/top",
            "mean/top", "s per read", "time to 99% of top", "host wall s")
    lines = []
    for r in rows:
        ttt = r.time_to_target_s
        ttt = f"{ttt:.4g} s ({r.time_basis})" if isinstance(ttt, float) else ttt
        per = r.seconds_per_read
        per = f"{per:.4g}" if isinstance(per, float) else per
        lines.append((r.instance, str(r.nodes), str(r.edges), r.solver,
                      f"{r.reads} x {r.sweeps}", f"{r.best_cut:g}", f"{r.mean_cut:.1f}",
                      f"{r.best_ratio:.4f}", f"{r.mean_ratio:.4f}", per, ttt,
                      f"{r.wall_s:.3g}"))
    widths = [max(len(h), *(len(ln[k]) for ln in lines)) for k, h in enumerate(head)]
    fmt = " | ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head), "-+-".join("-" * w for w in widths)]
    out += [fmt.format(*ln) for ln in lines]
    out.append("top = the best cut either solver found on the instance; time to target = time "
               "per read / fraction of reads that reached 99% of top.")
    return "\n".join(out)


def register_maxcut(subparsers) -> None:
    p = subparsers.add_parser(
        "maxcut", help="the board's annealer vs dwave-samplers' SimulatedAnnealingSampler",
        description="Max-cut on a random +-1 graph (N = 800, 6% density: G1's shape) and a "
                    "complete +-1 graph (K2000's shape at the board's N), same reads, sweeps "
                    "and beta range for both solvers; best and mean cut, ratios to the best "
                    "either found, time to 99% of it (board: exact RTL cycles at its clock; "
                    "CPU: process time on one core).")
    p.add_argument("--url", default=None,
                   help="the board (default: cpu:// in the ULX3S 85F default configuration, "
                        "N = 1024 with 3-bit weights)")
    p.add_argument("--reads", type=positive_int, default=10, help="reads per solver (default 10)")
    p.add_argument("--sweeps", type=positive_int, default=None, help="sweeps per read (default 1000)")
    p.add_argument("--seed", type=seed32, default=1, help="seed of the graphs and the solvers")
    p.add_argument("--random-n", type=positive_int, default=None, help=f"N of the random graph "
                   f"(default {RANDOM_N})")
    p.add_argument("--density", type=fraction, default=DENSITY,
                   help=f"edge density of the random graph (default {DENSITY})")
    p.add_argument("--complete-n", type=positive_int, default=None,
                   help="N of the complete graph (default: the board's N)")
    p.add_argument("--quick", action="store_true",
                   help=f"small instances for a quick run: random N = {QUICK['random_n']}, "
                        f"complete N = {QUICK['complete_n']}, {QUICK['sweeps']} sweeps")
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    p.set_defaults(func=_maxcut)


def _maxcut(args) -> int:
    from .cli import CLIError
    from .cli_board import progress
    from .errors import BoardError
    quick = QUICK if args.quick else {}
    try:
        rows = run_maxcut_bench(
            args.url or default_url(), num_reads=args.reads,
            num_sweeps=args.sweeps or quick.get("sweeps", 1000),
            seed=args.seed, random_n=args.random_n or quick.get("random_n", RANDOM_N),
            density=args.density,
            complete_n=args.complete_n or quick.get("complete_n"),
            progress=progress("board reads", not args.json))
    except (ValueError, BoardError) as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        for row in rows:
            print(json.dumps(row.to_dict()))
    else:
        print(format_table(rows))
    return 0
