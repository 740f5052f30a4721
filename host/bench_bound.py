"""``hopfield bench bound``: each board's physical limit per recall, against its engine and the CPU.

For each board's default configuration (``--weight-bits`` asks what a narrower weight would
do), the engine benchmark's recalls (:func:`hopfield_fpga.sim.bench_engine.bench_workload`:
P = 0.1 N Hebbian patterns stored with the board's saturating rule, 10% and 30% noise, every
order it builds) are run on the golden model for their flips and on the compiled CPU engine
(one thread, CPU time, median) in the same run. Per row:

- ``column_cycles``: the fewest cycles the device's memories take to deliver one column of W
  (:func:`hopfield_fpga.hw.memory_bound.column_cycles`), so ``bound_cycles`` = flips x that
  is what no engine on the device can beat, ``bound_us`` at the board's clock;
- ``engine_bound_cycles``: the board's own engine's cycle bound for the same flips (the
  ``bound`` of ``hopfield bench engine``, whose RTL runs take 1.0 to 1.2 times it there);
- ``cpu_us`` and the two ratios ``bound_speedup_vs_cpu`` (the most any engine on this board at
  this clock could gain over one core) and ``engine_speedup_vs_cpu``;
- ``overlap``: the recalled state's overlap with the stored pattern (1 = recalled), which is
  what a narrower weight costs.

No RTL is simulated: the times are cycle counts at the clock, not measurements of a design.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.text_table import right_aligned
from .cli import CLIError, positive_int

__all__ = ["BoundRow", "run_bound_bench", "format_table", "register_bound"]


@dataclasses.dataclass(frozen=True)
class BoundRow:
    board: str
    engine: str
    neurons: int
    weight_bits: int
    noise: float
    order: str
    flips: int
    overlap: float
    column_cycles: int
    bound_cycles: int
    engine_bound_cycles: int
    clock_hz: float
    bound_us: float
    engine_bound_us: float
    cpu_us: float
    bound_speedup_vs_cpu: float
    engine_speedup_vs_cpu: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _config(board, weight_bits: int | None) -> NetworkConfig:
    config = board.default_config
    if weight_bits is None:
        return config
    bias = config.bias_bits - config.weight_bits + weight_bits     # keep the bias headroom
    return config.with_(weight_bits=weight_bits, bias_bits=bias)


def run_bound_bench(boards=None, *, weight_bits: int | None = None, seed: int = 1,
                    repeats: int = 5) -> list[BoundRow]:
    """One row per (board, noise, order); ``boards`` None: every board."""
    from hopfield_fpga.hw.boards import BOARDS, get_board
    from hopfield_fpga.hw.memory_bound import column_cycles
    from hopfield_fpga.sim import cpu_engine, golden
    from hopfield_fpga.sim.bench_engine import ENGINES, bench_workload, cpu_time_per_recall
    rows = []
    for name in (tuple(BOARDS) if boards is None else boards):
        board = get_board(name)
        config = _config(board, weight_bits)
        t_col = column_cycles(board.device, config)
        work = bench_workload(config, seed=seed)
        patterns, weights, probes = work.patterns, work.weights, work.probes
        net = cpu_engine.PreparedNetwork(weights, None, config)
        clock = board.sys_clk_freq
        for probe in probes:
            run = dict(order=probe["order"], seed=probe["seed"], max_visits=probe["max_visits"])
            want = golden.run_binary(weights, None, probe["state"], config=config, **run)
            cpu_s = cpu_time_per_recall(net, probe["state"], threads=1, repeats=repeats,
                                        expect=want, **run)
            bound = want.flips * t_col
            engine = ENGINES[config.engine].bound(want.flips, config, probe["order"])
            bound_s, engine_s = bound / clock, engine / clock
            rows.append(BoundRow(
                board=name, engine=config.engine, neurons=config.neurons,
                weight_bits=config.weight_bits, noise=probe["noise"], order=probe["order"],
                flips=want.flips,
                overlap=round(float(np.dot(want.state, patterns[0])) / config.neurons, 3),
                column_cycles=t_col, bound_cycles=bound, engine_bound_cycles=engine,
                clock_hz=clock, bound_us=round(bound_s * 1e6, 3),
                engine_bound_us=round(engine_s * 1e6, 3), cpu_us=round(cpu_s * 1e6, 3),
                bound_speedup_vs_cpu=round(cpu_s / bound_s, 3) if bound else float("inf"),
                engine_speedup_vs_cpu=round(cpu_s / engine_s, 3) if engine else float("inf")))
    return rows


def format_table(rows: list[BoundRow]) -> str:
    head = ("board", "engine", "N", "W", "noise", "order", "flips", "overlap", "T", "bound",
            "engine bound", "MHz", "bound_us", "engine_us", "cpu_us", "cpu/bound",
            "cpu/engine")
    lines = [(r.board, r.engine, str(r.neurons), str(r.weight_bits), f"{r.noise:.0%}",
              r.order, str(r.flips), f"{r.overlap:.3f}", str(r.column_cycles),
              str(r.bound_cycles), str(r.engine_bound_cycles), f"{r.clock_hz / 1e6:g}",
              f"{r.bound_us:.2f}", f"{r.engine_bound_us:.2f}", f"{r.cpu_us:.2f}",
              f"{r.bound_speedup_vs_cpu:.3g}", f"{r.engine_speedup_vs_cpu:.3g}")
             for r in rows]
    title = ("Cycle counts at each board's clock, not RTL measurements: T = fewest cycles the "
             "device's memories take to read one weight column; bound = flips x T (no engine "
             "on the device is faster); engine bound = the board's engine's own cycle bound "
             "(its RTL takes 1.0-1.2x it: hopfield bench engine); cpu = the compiled CPU "
             "engine, 1 thread, CPU time, measured in this run")
    return f"{title}\n{right_aligned(head, lines)}"


def register_bound(subparsers) -> None:
    p = subparsers.add_parser(
        "bound", help="each board's memory-bandwidth limit per recall vs its engine and the CPU",
        description="The fewest cycles any engine on the board could take for the engine "
                    "benchmark's recalls (every flip reads a weight column: the device's "
                    "memories deliver at most their ports' widths a cycle), the board's "
                    "engine's own cycle bound, and the compiled CPU engine's time measured in "
                    "the same run. Cycle counts at the board's clock; no RTL is simulated.")
    p.add_argument("--boards", nargs="+", metavar="NAME", default=None,
                   help="boards (default: every board; `hopfield boards` lists them)")
    p.add_argument("--weight-bits", type=positive_int, default=None,
                   help="W_BITS instead of the board's default (what a narrower weight costs "
                        "in recall and gains in cycles)")
    p.add_argument("--repeats", type=positive_int, default=5,
                   help="timed CPU batches per row; the median is reported (default 5)")
    p.add_argument("--seed", type=int, default=1, help="seed of patterns and probes")
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    p.set_defaults(func=_bound)


def _bound(args) -> int:
    import json
    from hopfield_fpga.hw.memory_bound import WeightsDoNotFit
    try:
        rows = run_bound_bench(args.boards, weight_bits=args.weight_bits, seed=args.seed,
                               repeats=args.repeats)
    except (ValueError, WeightsDoNotFit) as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        for r in rows:
            print(json.dumps(r.to_dict()))
    else:
        print(format_table(rows))
    return 0
