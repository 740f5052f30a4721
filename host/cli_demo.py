"""``hopfield demo``: the associative-memory demo (store glyphs, recall a corrupted one).

Runs on a board: by default the simulated board (``sim://``, the gateware in a simulator),
``--url /dev/ttyUSB1`` for a real one, ``--golden`` for the golden model alone. The logic is in
:mod:`hopfield_fpga.host.demo`, which takes any recall backend.
"""

from __future__ import annotations

import json

from . import glyphs
from .cli import CLIError, fraction, output_file, positive_int, seed32
from .cli_board import ORDER_NAMES
from .demo import CLAMP_REGIONS, format_demo, run_demo

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="store glyphs, corrupt one and watch the network recall it",
        description="Store 16x16 glyphs in a 256-neuron network with the Hebbian rule, flip a "
                    "fraction of one glyph's pixels and run the dynamics, printing the state "
                    "every few flips and the energy. Runs on the simulated board by default.")
    p.add_argument("--glyph", default="A", type=str.upper,
                   help=f"glyph to corrupt and recall (default A; stored by default: "
                        f"{' '.join(glyphs.DEMO_SET)})")
    p.add_argument("--store", default="".join(glyphs.DEMO_SET), type=str.upper,
                   help=f"glyphs to store, as one string (default {''.join(glyphs.DEMO_SET)};"
                        f" available: {''.join(glyphs.names())})")
    p.add_argument("--noise", default=0.2, type=fraction,
                   help="fraction of pixels flipped in the probe (default 0.2)")
    p.add_argument("--seed", default=1, type=seed32,
                   help="seed of the corruption and of the network's generator (default 1)")
    p.add_argument("--order", default="random", choices=ORDER_NAMES,
                   help="update order (default random)")
    p.add_argument("--clamp", default=None, choices=CLAMP_REGIONS,
                   help="complete the glyph from this half, held fixed (the other half starts "
                        "random; --noise is not used); needs --golden or a cpu:// --url")
    p.add_argument("--frames", default=6, type=positive_int, help="about how many frames (default 6)")
    p.add_argument("--url", default=None,
                   help="board: a serial port or sim://... (default: the simulated board)")
    p.add_argument("--golden", action="store_true",
                   help="run on the golden model instead of a board")
    p.add_argument("--plot", metavar="FILE.png", default=None, type=output_file,
                   help="also draw the frames and the energy trace into FILE.png")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_demo)


def _demo(args) -> int:
    if not 0 <= args.seed <= 2**32 - 1:
        raise CLIError(f"--seed must be between 0 and 2**32-1, not {args.seed}")
    unknown = [c for c in args.store if c not in glyphs.GLYPHS]
    if unknown:
        raise CLIError(f"--store: unknown glyph(s) {''.join(unknown)}; available: "
                       f"{''.join(glyphs.names())}")
    if args.glyph not in args.store:
        raise CLIError(f"--glyph {args.glyph} is not among the stored glyphs ({args.store})")
    if args.frames < 1:
        raise CLIError(f"--frames must be at least 1, not {args.frames}")
    if args.golden:
        result = run_demo(args.glyph, noise=args.noise, seed=args.seed, order=args.order,
                          store=tuple(args.store), frames=args.frames, clamp=args.clamp)
    else:
        from .board import Board
        from .demo import BoardBackend
        from .errors import BoardError
        try:
            with Board.open(args.url) as board:
                if not args.json:
                    print(f"loading the network into {board.url} ...", flush=True)
                result = run_demo(args.glyph, noise=args.noise, seed=args.seed,
                                  order=args.order, store=tuple(args.store),
                                  frames=args.frames, backend=BoardBackend(board),
                                  clamp=args.clamp)
        except BoardError as exc:
            raise CLIError(str(exc)) from None
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    if args.plot:
        from .demo import plot_demo
        plot_demo(result, args.plot)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(format_demo(result))
    return 0
