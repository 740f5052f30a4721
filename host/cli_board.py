"""``hopfield info``, ``store``, ``recall``: drive a board (default: the simulated board).

Thin layer over :class:`hopfield_fpga.host.board.Board`. A ``sim://`` board starts empty for
every command (it lives in this process), so ``recall`` can store patterns first
(``--store``); on a real board the weights stay between commands.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from hopfield_fpga.config import Order
from .cli import CLIError, fraction, nonnegative_int, positive_int, positive_seconds, seed32

__all__ = ["register", "default_url", "index_list", "ORDER_NAMES"]

#: The --order choices of recall and demo.
ORDER_NAMES = [o.name.lower() for o in Order]


def index_list(text: str) -> list[int]:
    """Neuron indices from ``0-127,200,210-215`` (ranges inclusive); order kept, checked later
    against the board's N (duplicates too)."""
    out: list[int] = []
    for item in text.split(","):
        lo, dash, hi = item.strip().partition("-")
        try:
            first = int(lo, 10)
            last = int(hi, 10) if dash else first
        except ValueError:
            raise CLIError(f"--clamp: {item!r} is not an index or a range like 0-127") from None
        if first < 0 or last < first:
            raise CLIError(f"--clamp: {item!r} is not a range of neuron indices (from <= to)")
        out.extend(range(first, last + 1))
    return out


def default_url() -> str:
    from .simboard import default_sim_url
    return default_sim_url()


def add_url(p, default: str = "the simulated 256-neuron board") -> None:
    p.add_argument("--url", default=None,
                   help="serial port (e.g. /dev/ttyUSB1) or sim://?neurons=N&... "
                        f"(default: {default})")
    p.add_argument("--baud", type=positive_int, default=None,
                   help="baud of a real port (default: that of --board, else found by trying "
                        "the known rates on IDENTIFY)")
    p.add_argument("--board", metavar="NAME", default=None,
                   help="the board behind a real port (`hopfield boards` lists them): its "
                        "default baud")
    p.add_argument("--timeout", type=positive_seconds, default=None,
                   help="deadline of one request in seconds (default 2 on a serial port, 60 "
                        "on sim://)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def open_board(args):
    from .board import Board
    from .errors import BoardError
    try:
        return Board.open(args.url or default_url(), timeout=args.timeout, baud=args.baud,
                          board=args.board)
    except BoardError as exc:
        raise CLIError(str(exc)) from None


def progress(label: str, enabled: bool):
    """A progress callback printing ``label done/total`` on stderr (when it is a terminal)."""
    if not enabled or not sys.stderr.isatty():
        return None

    def show(done, total):
        end = "\n" if done >= total else ""
        print(f"\r{label} {done}/{total}", end=end, file=sys.stderr, flush=True)
    return show


def _patterns(args, n: int) -> np.ndarray:
    """Patterns from --glyphs (16x16 glyph names) or --random P (seeded)."""
    from . import glyphs
    if args.glyphs:
        unknown = [c for c in args.glyphs if c not in glyphs.GLYPHS]
        if unknown:
            raise CLIError(f"unknown glyph(s) {''.join(unknown)}; available: "
                           f"{''.join(glyphs.names())}")
        pats = glyphs.stack(tuple(args.glyphs)).astype(np.int64)
        if pats.shape[1] != n:
            raise CLIError(f"glyphs have {pats.shape[1]} pixels but the board has N = {n}")
        return pats
    rng = np.random.default_rng(args.seed)
    return rng.choice(np.array([-1, 1]), size=(args.random, n))


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="identify the board (configuration, clock, baud)")
    add_url(p)
    p.set_defaults(func=_info)

    p = subparsers.add_parser("store", help="store patterns with the on-chip Hebbian rule",
                              description="Clear the weights and store patterns on chip: glyphs "
                                          "(--glyphs ABC) or P random ones (--random P).")
    add_url(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--glyphs", type=str.upper, default=None, help="glyph names, e.g. ABCXO")
    g.add_argument("--random", type=positive_int, default=4, help="number of random patterns")
    p.add_argument("--seed", type=seed32, default=1, help="seed of the random patterns")
    p.add_argument("--no-clear", action="store_true", help="add to the weights on the board")
    add_quantized(p)
    p.set_defaults(func=_store)

    p = subparsers.add_parser("recall", help="recall a corrupted pattern on the board",
                              description="Optionally store patterns first (needed on sim://), "
                                          "corrupt pattern 0 and run it to a fixed point; the "
                                          "result is checked against the golden model.")
    add_url(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--glyphs", type=str.upper, default=None, help="glyph names, e.g. ABCXO")
    g.add_argument("--random", type=positive_int, default=4, help="number of random patterns")
    p.add_argument("--seed", type=seed32, default=1, help="seed of patterns, noise and the run")
    p.add_argument("--noise", type=fraction, default=0.2, help="fraction of bits flipped")
    p.add_argument("--order", default="sequential", choices=ORDER_NAMES,
                   help="update order; synchronous stops at a fixed point or a 2-cycle "
                        "(cpu:// and the golden model only for now)")
    p.add_argument("--clamp", type=index_list, default=None, metavar="LIST",
                   help="neurons held at the stored pattern's value, e.g. 0-127,200 (the "
                        "noise hits the others; cpu:// only for now)")
    p.add_argument("--max-sweeps", type=nonnegative_int, default=100)
    p.add_argument("--probes", type=positive_int, default=1,
                   help="recall this many probes (batched) instead of one")
    p.add_argument("--no-store", action="store_true",
                   help="use the weights already on the board")
    add_quantized(p)
    p.set_defaults(func=_recall)


def add_quantized(p) -> None:
    p.add_argument("--quantized", action="store_true",
                   help="the quantized Hebbian store (every pattern kept, numerics.md §14; "
                        "cpu://, and boards built with engine=column and store_patterns) "
                        "instead of the saturating one")


def _info(args) -> int:
    with open_board(args) as board:
        info = board.info()
        if args.json:
            print(json.dumps(info.to_dict()))
        else:
            link = (f"clock {info.clk_freq / 1e6:g} MHz, {info.baud} baud, "
                    f"payload <= {info.max_payload} bytes" if info.clk_freq
                    else "the compiled CPU engine (no clock, no link)")
            print(f"{info.url}: protocol {info.version}, {info.config.describe()}, {link}")
    return 0


def _store(args) -> int:
    from .errors import BoardError
    with open_board(args) as board:
        pats = _patterns(args, board.config.neurons)
        try:
            if not args.no_clear:
                board.clear()
            board.store(pats, quantized=args.quantized,
                        progress=progress("storing", not args.json))
            st = board.status()
        except BoardError as exc:
            raise CLIError(str(exc)) from None
        out = {"patterns": len(pats), "status": st.to_dict(), "bytes_out": board.bytes_out,
               "bytes_in": board.bytes_in}
        if args.json:
            print(json.dumps(out))
        else:
            print(f"stored {len(pats)} pattern(s) on {board.url}; "
                  f"{board.bytes_out} bytes sent, {board.bytes_in} received")
    return 0


def _recall(args) -> int:
    from hopfield_fpga.sim import golden
    from .demo import corrupt
    from .errors import BoardError
    if not 0 <= args.noise <= 1:
        raise CLIError(f"--noise must be between 0 and 1, not {args.noise}")
    with open_board(args) as board:
        cfg = board.config
        pats = _patterns(args, cfg.neurons)
        rng = np.random.default_rng(args.seed)
        try:
            held = golden.check_clamp(args.clamp, cfg.neurons)
        except ValueError as exc:
            raise CLIError(f"--clamp: {exc}") from None
        probes = np.array([corrupt(pats[i % len(pats)], args.noise, rng)[0]
                           for i in range(args.probes)])
        probes[:, held] = pats[np.arange(args.probes) % len(pats)][:, held]   # the known part
        run = dict(order=args.order, seed=args.seed, max_sweeps=args.max_sweeps,
                   clamp=args.clamp)
        try:
            if not args.no_store:
                board.clear()
                board.store(pats, quantized=args.quantized,
                            progress=progress("storing", not args.json))
            n = cfg.neurons
            weights = board.read_weights() if args.no_store else \
                golden.store_hebbian_quantized(pats, config=cfg) if args.quantized else \
                golden.store_hebbian(np.zeros((n, n), np.int64), pats, config=cfg)
            bias = board.read_bias()
            if args.probes == 1:
                results = [board.recall(probes[0], **run)]
            else:
                results = board.recall_many(probes, **run,
                                            progress=progress("recalling", not args.json))
        except BoardError as exc:
            raise CLIError(str(exc)) from None
        rows = []
        golden_cfg = cfg.with_(orders=tuple(Order))   # synchronous is not a configured order
        for i, (p, r) in enumerate(zip(probes, results)):
            g = golden.run_binary(weights, bias, p, **run, config=golden_cfg)
            same = (np.array_equal(g.state, r.state) and (g.visits, g.flips, g.energy2,
                    g.converged, g.stop_reason) == (r.visits, r.flips, r.energy2, r.converged,
                                                r.stop_reason))
            target = pats[i % len(pats)]
            rows.append({"probe": i, "overlap": float(target @ r.state / cfg.neurons),
                         "matches_golden": same, **{k: v for k, v in r.to_dict().items()
                                                    if k not in ("state", "trace", "cycle_state")}})
        if args.json:
            print(json.dumps({"url": board.url, "results": rows}))
        else:
            for row in rows:
                cycles = "" if row["cycles"] is None else f"{row['cycles']} cycles, "
                print(f"probe {row['probe']}: {row['visits']} visits, {row['flips']} flips, "
                      f"E={row['energy']:g}, {row['stop_reason']}, {cycles}"
                      f"overlap with the stored pattern {row['overlap']:+.3f}, "
                      f"{'matches' if row['matches_golden'] else 'DIFFERS FROM'} the golden model")
        return 0 if all(r["matches_golden"] for r in rows) else 1
