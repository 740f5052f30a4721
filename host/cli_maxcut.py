"""``hopfield maxcut FILE``: anneal a max-cut instance (G-set / rudy format) on a board.

Thin layer over :class:`hopfield_fpga.host.sampler.HopfieldSampler` and
``hopfield_fpga.host.maxcut``. The time to target is the board's: its exact RTL cycles at its
clock (a board that reports no cycles, such as ``cpu://``, gets none); the host's wall time,
link included, is printed beside it, and the time the reads' requests and replies take on the
wire at the board's baud.
"""

from __future__ import annotations

import json

from .cli import CLIError, output_file, positive_int, seed32
from .cli_board import add_url, default_url, progress

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "maxcut", help="anneal a max-cut instance (G-set / rudy file) on a board",
        description="Read FILE (first line 'N E', then 'i j w' per edge, nodes 1-based), map "
                    "max-cut to an Ising problem (J_ij = w_ij, cut = (sum w - sum w s_i s_j) / "
                    "2), anneal it --reads times and print the best and mean cut and the time "
                    "to reach --target (default 99% of the best cut found) at the board's "
                    "clock: exact RTL cycles / clock.")
    p.add_argument("file", help="the instance, G-set / rudy format")
    add_url(p)
    p.add_argument("--reads", type=positive_int, default=10, help="anneals (default 10)")
    p.add_argument("--sweeps", type=positive_int, default=1000, help="sweeps per anneal (default 1000)")
    p.add_argument("--seed", type=seed32, default=1, help="seed of the initial states and runs")
    p.add_argument("--target", type=float, default=None,
                   help="cut value to reach (default: 99%% of the best cut found)")
    p.add_argument("--plot", metavar="PNG", default=None, type=output_file,
                   help="draw the cut against sweeps (best and mean over reads) into PNG")
    p.set_defaults(func=_maxcut)


def _maxcut(args) -> int:
    from .board import Board
    from .errors import BoardError
    from .maxcut import read_rudy, run_sampler
    from .sampler import HopfieldSampler
    try:
        graph = read_rudy(args.file)
    except (OSError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    try:
        board = Board.open(args.url or default_url(), timeout=args.timeout, baud=args.baud,
                           board=args.board)
    except BoardError as exc:
        raise CLIError(str(exc)) from None
    with board, HopfieldSampler(board=board) as sampler:
        try:
            run = run_sampler(sampler, graph, num_reads=args.reads, num_sweeps=args.sweeps,
                              seed=args.seed, trajectory=bool(args.plot),
                              progress=progress("reads", not args.json))
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    target = 0.99 * run.best if args.target is None else args.target
    row = run.to_dict(target)
    row.update(url=board.url, nodes=graph.nodes, edges=graph.edges)
    if args.plot:
        plot_cut_vs_sweeps(run, args.plot)
        row["plot"] = args.plot
    if args.json:
        print(json.dumps(row))
        return 0
    board_ttt = row["time_to_target_board_s"]
    print(f"{graph.name}: N = {graph.nodes}, {graph.edges} edges, on {board.url}")
    print(f"reads {run.reads} x {run.sweeps} sweeps: best cut {run.best:g}, mean cut "
          f"{run.mean:.2f}")
    print(f"time to target {target:g}: "
          + ("n/a (no RTL cycles from this board)" if board_ttt is None else _seconds(board_ttt))
          + f" at the board's clock; {_seconds(row['time_to_target_wall_s'])} host wall time")
    if run.wire_s is not None:
        print(f"link: {_seconds(run.wire_s / run.reads)} a read on the wire at the board's baud "
              f"(between its runs; not in the board's time)")
    return 0


def _seconds(x) -> str:
    return x if isinstance(x, str) else f"{x:.4g} s"


def plot_cut_vs_sweeps(run, path) -> None:
    """Best and mean cut over the reads after each board run of the anneal (PNG)."""
    import numpy as np
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CLIError("--plot needs matplotlib: pip install 'hopfield-fpga[plot]'") from None
    cuts = np.asarray(run.trajectory["cuts"])
    sweeps = run.trajectory["sweeps"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(sweeps, cuts.T, color="0.8", lw=0.8)
    ax.plot(sweeps, cuts.max(axis=0), "o-", label="best of the reads")
    ax.plot(sweeps, cuts.mean(axis=0), "s-", label="mean of the reads")
    ax.set_xlabel("sweeps")
    ax.set_ylabel("cut")
    ax.set_title(f"{run.graph}: {run.reads} reads")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
