"""``hopfield bench capacity``: how well every stored pattern recalls, by store.

N random patterns stored at a load alpha = P / N in a network of the ULX3S 85F default
precision (N = 1024, 3-bit weights; the configuration comes from the board table), then every
pattern, the oldest included, recalled from a probe with 10% of its bits flipped, through the
compiled CPU engine (``sim/cpu_engine.py``, bit-exact to the golden model and the gateware).
The stores compared on the same patterns and probes:

- ``float``: the exact Hebbian sum, unquantized (W_ij = sum_mu p_i p_j in 16-bit weights;
  the deterministic dynamics do not depend on a scale, so this is float Hebbian exactly);
- ``saturating``: the on-chip store of ``docs/numerics.md`` §9, pattern by pattern;
- ``quantized``: the quantized store of §14 (the full sum, scaled from P and W_BITS, rounded
  and clipped);
- ``max-abs``: the host quantization of §10 with its default scale (the largest |W| on W_MAX).

With ``--url`` the configuration is that board's (a small N on ``sim://``: a column engine
built with ``store_patterns``), and one more row, ``quantized@board``, stores the patterns with
the board's own quantized store and recalls every probe on the board; its weights are checked
equal to the CPU twin's before its row is written.

Per row: the mean, the minimum and the mean over the oldest and the newest tenth of the
patterns of the overlap m = p . s / N of the final state with its pattern, and the mean's ratio
to float Hebbian's (the target of issue 16: within 2%).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .cli import fraction, positive_int, seed32

__all__ = ["register_capacity", "run_capacity_bench", "format_table", "STORES"]

STORES = ("float", "saturating", "quantized", "max-abs")
DEFAULT_ALPHAS = (0.05, 0.1)
TARGET = 0.02          # the mean overlap within 2% of float Hebbian's


@dataclasses.dataclass(frozen=True)
class CapacityRow:
    store: str
    neurons: int
    weight_bits: int
    alpha: float
    patterns: int
    noise: float
    mean_overlap: float
    min_overlap: float
    oldest_tenth: float
    newest_tenth: float
    ratio_to_float: float
    within_target: bool

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _weights(store: str, pats: np.ndarray, cfg) -> np.ndarray:
    """The weights of ``store`` (the on-chip stores by their compiled twins, bit-exact)."""
    from hopfield_fpga.sim import cpu_engine
    from . import learning
    n = cfg.neurons
    if store == "float":
        return learning.hebbian(pats)
    if store == "saturating":
        return cpu_engine.store_hebbian(np.zeros((n, n), dtype=np.int64), pats, config=cfg)
    if store == "quantized":
        return cpu_engine.store_hebbian_quantized(pats, config=cfg)
    return learning.quantize(learning.hebbian(pats), cfg)[0]


def run_capacity_bench(*, alphas=DEFAULT_ALPHAS, noise: float = 0.1, seed: int = 1,
                       board: str = "ulx3s-85f", neurons: int | None = None,
                       max_sweeps: int = 100, url: str | None = None) -> list[CapacityRow]:
    """One row per alpha and store (see the module doc); ``neurons`` overrides the board's N;
    ``url`` runs on that board's configuration and adds its own store's row."""
    if url is None:
        from hopfield_fpga.hw.boards import get_board
        cfg = get_board(board).default_config
        if neurons is not None:
            cfg = cfg.with_(neurons=neurons, lanes=min(cfg.lanes, neurons))
        return _capacity_rows(cfg, None, alphas, noise, seed, max_sweeps)
    if neurons is not None:
        raise ValueError("--neurons and --url exclude each other: the board's N is used")
    from .board import Board
    with Board.open(url) as dev:
        return _capacity_rows(dev.config, dev, alphas, noise, seed, max_sweeps)


def _board_final(dev, pats, probes, cfg, max_sweeps) -> np.ndarray:
    """Store ``pats`` with the board's quantized store, check its weights against the CPU
    twin's, and recall every probe on the board."""
    from hopfield_fpga.sim import cpu_engine
    dev.store(pats, quantized=True)
    want = cpu_engine.store_hebbian_quantized(pats, config=cfg)
    got = dev.read_weights()
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)[0]
        raise AssertionError(f"{dev.url}: the board's quantized store differs from the CPU "
                             f"engine's at W[{bad[0]}, {bad[1]}]: {got[tuple(bad)]} != "
                             f"{want[tuple(bad)]}")
    results = dev.recall_many(probes, order="sequential", max_sweeps=max_sweeps)
    return np.array([r.state for r in results])


def _capacity_rows(cfg, dev, alphas, noise, seed, max_sweeps) -> list[CapacityRow]:
    from hopfield_fpga.sim import cpu_engine
    from .demo import corrupt
    wide = cfg.with_(weight_bits=16)         # float Hebbian: |W_ij| <= P fits
    n = cfg.neurons
    rows = []
    for alpha in alphas:
        count = max(1, round(alpha * n))
        rng = np.random.default_rng([seed, count])
        pats = rng.choice(np.array([-1, 1]), size=(count, n))
        probes = np.array([corrupt(p, noise, rng)[0] for p in pats])
        tenth = max(1, count // 10)
        means = {}
        for store in STORES + (("quantized@board",) if dev is not None else ()):
            if store == "quantized@board":
                final = _board_final(dev, pats, probes, cfg, max_sweeps)
            else:
                w = _weights(store, pats, cfg)
                net = cpu_engine.PreparedNetwork(w, None, wide if store == "float" else cfg)
                final = net.run_batch(probes, order="sequential", max_sweeps=max_sweeps).states
            m = (final.astype(np.int64) * pats).sum(axis=1) / n
            means[store] = float(m.mean())
            ratio = means[store] / means["float"]
            bits = (wide if store == "float" else cfg).weight_bits
            rows.append(CapacityRow(store, n, bits, alpha, count, noise,
                                    float(m.mean()), float(m.min()), float(m[:tenth].mean()),
                                    float(m[-tenth:].mean()), ratio, ratio >= 1 - TARGET))
    return rows


def format_table(rows: list[CapacityRow]) -> str:
    head = (f"{'store':<15} {'N':>5} {'W':>2} {'alpha':>5} {'P':>4} {'mean m':>7} {'min m':>7} "
            f"{'oldest':>7} {'newest':>7} {'/float':>7}  within 2%")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.store:<15} {r.neurons:>5} {r.weight_bits:>2} {r.alpha:>5g} "
                     f"{r.patterns:>4} {r.mean_overlap:>7.4f} {r.min_overlap:>7.4f} "
                     f"{r.oldest_tenth:>7.4f} {r.newest_tenth:>7.4f} {r.ratio_to_float:>7.4f}"
                     f"  {'yes' if r.within_target else 'NO'}")
    lines.append("m: overlap of the final state with its pattern; oldest/newest: mean over the "
                 "first/last tenth stored; /float: mean m over float Hebbian's")
    return "\n".join(lines)


def register_capacity(subparsers) -> None:
    p = subparsers.add_parser(
        "capacity", help="recall overlap of every stored pattern: saturating vs quantized "
                         "store vs float Hebbian",
        description=__doc__.split("\n\n")[1])
    p.add_argument("--alphas", type=fraction, nargs="+", default=list(DEFAULT_ALPHAS),
                   help="loads P / N (default 0.05 0.1)")
    p.add_argument("--noise", type=fraction, default=0.1, help="probe noise (default 0.1)")
    p.add_argument("--neurons", type=positive_int, default=None,
                   help="N instead of the board's (default: the ULX3S 85F's 1024)")
    p.add_argument("--seed", type=seed32, default=1, help="seed of patterns and probes")
    p.add_argument("--url", default=None,
                   help="also store and recall on this board with its own quantized store "
                        "(its configuration replaces the 85F's; e.g. sim://?neurons=64&"
                        "weight_bits=3&lanes=8&engine=column&store_patterns=13)")
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    p.set_defaults(func=_capacity)


def _capacity(args) -> int:
    from .cli_bench import _report
    return _report(lambda: run_capacity_bench(alphas=args.alphas, noise=args.noise,
                                              seed=args.seed, neurons=args.neurons,
                                              url=args.url),
                   format_table, args.json)
