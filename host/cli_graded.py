"""``hopfield graded``: run the graded-response neurons (Hopfield 1984) on a board.

Thin layer over :meth:`hopfield_fpga.host.board.Board.run_graded`. Without ``--figure3`` it
stores P random patterns (Hebbian weights, written from the host), starts from the first one
with a fraction of its signs flipped (V0 = 0.5 x probe) and prints the outcome. With
``--figure3 FILE.png`` it reproduces Fig. 3 of the paper through the board API: the starts of
``graded_figure.fig3_starts()``, the parameters of ``fig3_params()``, the trace on, drawn on the
energy map by ``graded_figure.draw_energy_map``. The default board is the simulated one with the
graded engine (N = 2 for the figure, N = 64 otherwise; compiled by Icarus when installed).
"""

from __future__ import annotations

import json
import shutil

import numpy as np

from hopfield_fpga.numerics import GRADED_V_ONE
from .cli import CLIError, fraction, nonnegative_int, output_file, positive_int, seed32

__all__ = ["register", "default_graded_url"]

_FEATURES = "features=stochastic,hebbian,trace,graded"


def default_graded_url(figure3: bool) -> str:
    """The simulated board of ``hopfield graded``: the Fig. 3 network (N = 2) or N = 64."""
    backend = "icarus" if shutil.which("iverilog") else "amaranth"
    # the figure needs only the trace; the N = 64 board has everything (binary runs too)
    size = ("neurons=2&weight_bits=2&bias_bits=2&lanes=1&features=trace,graded" if figure3
            else f"neurons=64&weight_bits=8&lanes=8&{_FEATURES}")
    return f"sim://?{size}&backend={backend}"


def register(subparsers) -> None:
    from .cli_board import add_url
    p = subparsers.add_parser(
        "graded", help="run graded-response neurons (Hopfield 1984); --figure3 draws Fig. 3",
        description="Run the graded engine of a board built with the graded feature: a Hebbian "
                    "network of random patterns from a noisy start, or (--figure3 FILE.png) "
                    "Fig. 3 of Hopfield (1984), trajectories from a grid of starts on the "
                    "energy map.")
    add_url(p, default="a simulated 64-neuron board with the graded engine; with --figure3 "
                       "a 2-neuron one")
    p.add_argument("--gain", type=float, default=None,
                   help="lambda (default 1.4 for --figure3, else 20)")
    p.add_argument("--dt", type=float, default=1 / 16, help="dt/C (default 1/16)")
    p.add_argument("--leak", type=float, default=1.0, help="1/R, a power of two (default 1)")
    p.add_argument("--sigmoid", choices=("atan", "tanh", "hard"), default="atan",
                   help="sigmoid preset (default atan)")
    p.add_argument("--max-steps", type=nonnegative_int, default=2000,
                   help="step cap (default 2000)")
    p.add_argument("--eps", type=float, default=0.0,
                   help="converged when max |du| <= eps (real units of u; default 0)")
    p.add_argument("--patterns", type=positive_int, default=4,
                   help="random patterns stored (default 4)")
    p.add_argument("--noise", type=fraction, default=0.2,
                   help="fraction of the probe's signs flipped (default 0.2)")
    p.add_argument("--seed", type=seed32, default=1, help="seed of patterns and probe")
    p.add_argument("--trace", action="store_true", help="print V after every step")
    p.add_argument("--figure3", metavar="FILE.png", default=None, type=output_file,
                   help="draw Fig. 3 of the paper from the board's trajectories")
    p.add_argument("--points", type=positive_int, default=7,
                   help="grid of starts per axis for --figure3 (default 7)")
    p.set_defaults(func=_graded)


def _open(args):
    from .board import Board
    from .errors import BoardError
    url = args.url or default_graded_url(args.figure3 is not None)
    try:
        return Board.open(url, timeout=args.timeout, baud=args.baud, board=args.board)
    except BoardError as exc:
        raise CLIError(str(exc)) from None


def _graded(args) -> int:
    from .errors import BoardError
    if args.points < 2:
        raise CLIError(f"--points must be at least 2, not {args.points}")
    with _open(args) as board:
        try:
            if args.figure3 is not None:
                out = _figure3(board, args)
            else:
                out = _hebbian(board, args)
        except (BoardError, ValueError) as exc:
            raise CLIError(str(exc)) from None
    if args.json:
        print(json.dumps(out))
    return 0


def _figure3(board, args) -> dict:
    from hopfield_fpga.sim import graded
    from . import graded_figure as gf
    if board.config.neurons != 2:
        raise CLIError(f"--figure3 needs a board with N = 2 (Fig. 3 has two neurons); "
                       f"{board.url} has N = {board.config.neurons}")
    gain = gf.FIG3_GAIN if args.gain is None else args.gain
    # fig3_params() unless the options change it; the energy map uses what the board ran
    params = graded.GradedParams.from_real(gain=gain, dt=args.dt, leak=args.leak,
                                           sigmoid=args.sigmoid, eps=args.eps,
                                           max_steps=args.max_steps)
    trajectories, ends, cycles = [], [], 0
    for start in gf.fig3_starts(points=args.points):
        r = board.run_graded(gf.FIG3_WEIGHTS, gf.FIG3_BIAS, v0=list(start), gain=gain,
                             dt=args.dt, leak=args.leak, sigmoid=args.sigmoid,
                             max_steps=args.max_steps, eps=args.eps, trace=True)
        traj = gf.trajectory_from_trace(r.v0, r.trace)
        trajectories.append(traj)
        ends.append([round(float(x), 5) for x in traj[-1]])
        cycles += r.cycles
    path = gf.draw_energy_map(args.figure3, trajectories, params,
                              title=f"Hopfield (1984) Fig. 3: {len(trajectories)} board runs "
                                    f"(N = 2)\nlambda = {float(params.gain):.3f}, "
                                    f"dt = {float(params.dt):.4f}, {args.sigmoid} table")
    if not args.json:
        corners = sorted({tuple(e) for e in ends})
        print(f"{len(trajectories)} trajectories from {board.url}; ends: {corners}; "
              f"{cycles} engine cycles in all")
        print(f"wrote {path}")
    return {"figure3": str(path), "trajectories": len(trajectories), "ends": ends,
            "cycles": cycles, "url": board.url}


def _hebbian(board, args) -> dict:
    cfg = board.config
    n = cfg.neurons
    if args.patterns < 1:
        raise CLIError(f"--patterns must be at least 1, not {args.patterns}")
    if not 0 <= args.noise <= 1:
        raise CLIError(f"--noise must be in [0, 1], not {args.noise}")
    rng = np.random.default_rng(args.seed)
    pats = rng.choice(np.array([-1, 1]), size=(args.patterns, n))
    w = pats.T @ pats
    np.fill_diagonal(w, 0)
    if np.abs(w).max() > cfg.weight_max:
        raise CLIError(f"{args.patterns} patterns give weights up to {np.abs(w).max()}; "
                       f"the board holds [{cfg.weight_min}, {cfg.weight_max}]")
    probe = pats[0] * np.where(rng.random(n) < args.noise, -1, 1)
    gain = 20.0 if args.gain is None else args.gain
    r = board.run_graded(w, v0=0.5 * probe, gain=gain, dt=args.dt, leak=args.leak,
                         sigmoid=args.sigmoid, max_steps=args.max_steps, eps=args.eps,
                         trace=args.trace)
    overlap = float(np.mean(np.sign(r.V) * pats[0]))
    out = r.to_dict()
    out.update(overlap=overlap, url=board.url, patterns=args.patterns, noise=args.noise)
    if not args.json:
        print(f"N = {n}, {args.patterns} patterns, probe noise {args.noise}: "
              f"{r.steps} steps, {r.stop_reason}, max |du| = {r.max_du}, {r.cycles} cycles")
        print(f"overlap of sign(V) with the stored pattern: {overlap:+.3f}")
        if args.trace:
            for t, (_, v) in enumerate(r.trace, 1):
                print(f"step {t}: " + " ".join(f"{x / GRADED_V_ONE:+.3f}" for x in v))
        print("V = " + " ".join(f"{x:+.3f}" for x in r.V))
    return out
