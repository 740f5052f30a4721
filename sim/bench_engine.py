"""Engine benchmark: RTL cycles per Hebbian recall, FPGA time at the board's clock, CPU engine.

For each N (default 64, 256, 1024) the binary engine that the configuration's ``engine`` names
(``config.ENGINES``: the K-lane `BinaryEngine` or the column-parallel `ColumnEngine`, as
`BoardTop` builds them; ``engine=`` overrides it) is simulated on Verilator (or Icarus) through
cocotb (``sim/tb/bench_engine_tb.py``). P = round(0.1 N) random patterns are stored (8-bit
weights without ``board=``, so no entry saturates; a board's default has its own width): on
chip with the Hebbian rule where the configuration has Feature.HEBBIAN, else
the golden model's Hebbian weights are written through the weight port (outside the timed
runs). Then probes made from
pattern 0 with 10% and 30% of the bits flipped are recalled in every order the configuration
builds (a column engine's may include the synchronous one). Each run is also
checked against the golden model (state, visits, flips, 2E): a mismatch is an error, not a row.
``board=`` runs a board's default configuration (``hw/boards.py``), with its engine, at its
clock instead.

Per row: visits, flips, the run's RTL cycles, the engine's own cycle bound (:data:`ENGINES`:
flips * ceil(N/K) for the lanes engine's column passes; for the column engine flips times
its FLIP, selector wait and shortest CHOOSE, docs/engine.md "Pipelined selectors") and the
ratio cycles / bound, a diagnostic; ``fpga_us`` = cycles at the clock (exact: the RTL's cycle
count); the compiled CPU engine's time for the same recall (same weights, probe, seed, order), measured in the same
run: ``cpu_us`` on one thread and ``cpu_all_us`` per recall with every core busy (median of
repeats after a warm-up, each a batch of recalls of that probe through
:meth:`~hopfield_fpga.sim.cpu_engine.PreparedNetwork.run_batch`); ``speedup_vs_cpu`` =
cpu_us / fpga_us. The golden model is the specification, never a baseline in these rows: its
time appears only in :class:`TargetCheck` rows (issue 12's target: the CPU engine at least
500x faster per recall, and ``Board.recall_many`` of 200 probes on ``cpu://`` at least 100x
faster than a Python loop of ``golden.run_binary``).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from hopfield_fpga.config import Feature, NetworkConfig, Order
from hopfield_fpga.text_table import right_aligned
from . import cpu_engine, golden

__all__ = ["ENGINES", "BenchRow", "TargetCheck", "BenchReport", "run_engine_bench",
           "cpu_time_per_recall", "many_check", "Workload", "bench_workload", "bench_weights",
           "DEFAULT_SIZES", "QUICK_SIZES", "NOISES", "DEFAULT_CLOCK_BOARD"]

DEFAULT_SIZES = (64, 256, 1024)
QUICK_SIZES = (64,)
NOISES = (0.1, 0.3)
WEIGHT_BITS = 8
#: Without ``board=``, FPGA times are given at this board's clock (the ULX3S-85F's, the board
#: whose default configuration has N = 1024).
DEFAULT_CLOCK_BOARD = "ulx3s-85f"
#: Probes of the recall_many target check (issue 12).
MANY_PROBES = 200
#: Timed golden-model runs per target check row (the median is the baseline).
GOLDEN_REPEATS = 3


@dataclasses.dataclass(frozen=True)
class EngineKind:
    """A design of the binary engine (``config.ENGINES``) as the benchmark sees it: its cycle
    bound per run, a diagnostic. :meth:`build` makes the class `BoardTop` builds for it
    (imported on use: the CPU half of the benchmark needs no Amaranth)."""
    name: str
    bound: Callable[[int, NetworkConfig, str], int]

    def build(self, config: NetworkConfig):
        from hopfield_fpga.gateware.board_top import BINARY_ENGINES
        return BINARY_ENGINES[self.name](config.with_(engine=self.name))


def _column_flip_cycles(config: NetworkConfig, order: str) -> int:
    """The column engine's cycles a flip at its default selector spans, with the shortest
    CHOOSE (docs/engine.md, "Pipelined selectors": sequential 2 + Ls, random 2 + one CHOOSE,
    rejection_free 2 + Lt + Lw + one draw cycle; synchronous 2 + Ls, without the 2 + Ls of
    each step, "Clamped neurons and the synchronous order"): ``SelectTiming.flip_cycles``."""
    from hopfield_fpga.gateware.engine.column_engine import SelectTiming
    return SelectTiming(config.neurons).flip_cycles(order)


#: One entry per design of ``config.ENGINES``: the lanes engine's column passes of C = ceil(N/K)
#: cycles a flip, the column engine's FLIP, selector wait and CHOOSE.
ENGINES = {kind.name: kind for kind in (
    EngineKind("lanes", lambda flips, config, order: flips * config.chunks),
    EngineKind("column", lambda flips, config, order: flips * _column_flip_cycles(config, order)),
)}

#: A timed CPU batch lasts at least this long (seconds), so the clock's resolution is noise.
MIN_BATCH_SECONDS = 0.02


@dataclasses.dataclass(frozen=True)
class BenchRow:
    board: str | None
    engine: str
    neurons: int
    lanes: int
    replicas: int
    patterns: int
    noise: float
    order: str
    visits: int
    flips: int
    cycles: int
    bound: int
    ratio: float | None
    refresh_cycles: int
    converged: bool
    clock_hz: float
    fpga_us: float
    cpu_us: float
    cpu_all_us: float
    threads: int
    speedup_vs_cpu: float
    speedup_vs_cpu_all: float
    cycles_from: str = "rtl"     # "rtl": the simulated RTL's; "model": the cycle accounting

    def to_dict(self) -> dict:
        return {"table": "engine", **dataclasses.asdict(self)}


@dataclasses.dataclass(frozen=True)
class TargetCheck:
    """One of issue 12's targets, measured in the same run: ``baseline_us`` (the golden model)
    over ``cpu_us`` (the compiled engine) against ``target``."""
    check: str
    neurons: int
    noise: float
    order: str
    baseline_us: float
    cpu_us: float
    ratio: float
    target: float

    def to_dict(self) -> dict:
        return {"table": "targets", **dataclasses.asdict(self)}


@dataclasses.dataclass
class BenchReport:
    rows: list[BenchRow]
    targets: list[TargetCheck]
    replicas: list = dataclasses.field(default_factory=list)   # bench_replicas.ReplicaRow
    model: bool = False          # the cycles are the cycle accounting's (simulator MODEL)
    clock_basis: str = ""        # what the clock rests on (hw/boards.py, Board.clock_basis)

    def records(self) -> list[dict]:
        return [r.to_dict() for r in self.rows + self.replicas] \
            + [t.to_dict() for t in self.targets]


def bench_config(neurons: int, lanes: int) -> NetworkConfig:
    return NetworkConfig(neurons=neurons, weight_bits=WEIGHT_BITS, lanes=lanes)


@dataclasses.dataclass
class Workload:
    """The benchmark's recalls for one configuration (:func:`bench_workload`)."""
    patterns: np.ndarray             # P x N, +1/-1
    weights: np.ndarray              # N x N, what the recalls run on
    store: str                       # "hebbian" (the on-chip rule, §9) or "quantized" (§14)
    probes: list[dict]               # run arguments and ``state``, one per (noise, order)
    rng: np.random.Generator         # where the probes left it (the recall_many check's)


def bench_weights(config: NetworkConfig, patterns) -> tuple[str, np.ndarray]:
    """("hebbian", the saturating on-chip rule's weights) where that rule is exact (P <= W_MAX:
    no sum reaches the clip), else ("quantized", the quantized store's, §14)."""
    n = config.neurons
    if len(patterns) <= config.weight_max or config.weight_bits < 2:
        return "hebbian", golden.store_hebbian(np.zeros((n, n), dtype=np.int64), patterns,
                                               config=config)
    return "quantized", golden.store_hebbian_quantized(patterns, config=config)


def bench_workload(config: NetworkConfig, *, noises=NOISES, orders=None,
                   seed: int = 1) -> Workload:
    """P = round(0.1 N) random patterns, their Hebbian weights, and one probe of pattern 0 per
    (noise, order) (``orders`` None: every order the configuration builds).

    The weights are those a user of the board would store: the saturating on-chip rule (§9)
    where it is exact (P <= W_MAX: no sum reaches the clip), else the quantized store (§14,
    ``golden.store_hebbian_quantized``; on chip where the board has one, else computed on the
    host and loaded), since at W_BITS = 3 and P = 26 the saturating rule leaves weights from
    which a 10% probe no longer recalls its pattern (overlap 0.04 instead of 1):
    :func:`bench_weights`."""
    n = config.neurons
    rng = np.random.default_rng(seed + n)
    patterns = rng.choice([-1, 1], (max(1, round(0.1 * n)), n))
    store, weights = bench_weights(config, patterns)
    probes = []
    for noise in noises:
        for order in (orders or config.orders):
            probes.append({"noise": noise, "order": order.name.lower(),
                           "seed": int(rng.integers(1, 1 << 32)),
                           "state": [int(v) for v in _probe(patterns[0], noise, rng)],
                           "max_visits": 200 * n})
    return Workload(patterns, weights, store, probes, rng)


def _probe(pattern: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    n = len(pattern)
    flip = rng.permutation(n)[:round(noise * n)]
    probe = pattern.copy()
    probe[flip] *= -1
    return probe


def _median_time(run, repeats: int, clock=time.process_time) -> float:
    """Median over ``repeats`` calls of ``run``, on ``clock``.

    Single-threaded work is timed on the process's CPU time (``time.process_time``): on a
    shared machine the wall clock also counts the time other processes hold the core. Work on
    all cores is timed on the wall clock (``time.perf_counter``): its point is the elapsed time.
    """
    times = []
    for _ in range(repeats):
        t0 = clock()
        run()
        times.append(clock() - t0)
    return statistics.median(times)


def cpu_time_per_recall(net: cpu_engine.PreparedNetwork, probe, *, order: str, seed: int,
                        max_visits: int, threads: int, repeats: int = 5,
                        expect: golden.RunResult | None = None) -> float:
    """Seconds per recall of ``probe`` on ``net`` with ``threads`` threads: the median over
    ``repeats`` batches (after a warm-up batch that also sizes them) of batch time / recalls;
    CPU time on one thread, wall time on several (see :func:`_median_time`)."""
    def batch(probes):
        return net.run_batch(probes, order=order, seed=seed, max_visits=max_visits,
                             threads=threads)

    def copies(count):           # the batch's input, made outside the timed calls
        return np.repeat(np.asarray(probe)[None], count, axis=0)
    clock = time.process_time if threads == 1 else time.perf_counter
    count = 4 * threads
    probes = copies(count)
    warm = batch(probes)         # the first call may load the compiled code: not a measure
    t0 = clock()
    batch(probes)
    took = clock() - t0
    if expect is not None and warm.results()[0] != expect:
        raise AssertionError(f"CPU engine differs from the golden model on N="
                             f"{len(probe)} {order}")
    probes = copies(max(count, int(count * MIN_BATCH_SECONDS / max(took, 1e-9))))
    return _median_time(lambda: batch(probes), repeats, clock) / len(probes)


def many_check(weights, config: NetworkConfig, patterns, *, noise: float, order: str, seed: int,
               rng: np.random.Generator, probes: int = MANY_PROBES,
               repeats: int = 3) -> TargetCheck:
    """``Board.recall_many`` of ``probes`` noisy probes on ``cpu://`` (the whole call: the
    Board's checks, the engine on every core, the RunResults) against a Python loop of
    golden.run_binary on the same probes, as issue 12 states its target.

    Both on the process's CPU time, which for recall_many sums its threads: the ratio leaves
    out the parallel speed-up, so it is a lower bound of the wall-clock ratio."""
    from hopfield_fpga.host.board import Board          # the host side, imported on use
    from hopfield_fpga.host.urls import board_url
    states = np.array([_probe(patterns[i % len(patterns)], noise, rng) for i in range(probes)])
    t0 = time.process_time()
    want = [golden.run_binary(weights, None, s, order=order, seed=seed, config=config)
            for s in states]
    loop = time.process_time() - t0
    with Board.open(board_url("cpu", config)) as board:
        board.load_weights(weights)

        def many():
            return board.recall_many(states, order=order, seed=seed)
        if many() != want:
            raise AssertionError(f"recall_many on cpu:// differs from the golden loop at N="
                                 f"{config.neurons}")
        fast = _median_time(many, repeats)
    return TargetCheck(check=f"cpu:// Board.recall_many x{probes} vs golden loop (CPU time)",
                       neurons=config.neurons, noise=noise, order=order,
                       baseline_us=round(loop * 1e6, 1), cpu_us=round(fast * 1e6, 1),
                       ratio=round(loop / fast, 1), target=100)


def _rtl_runs(config: NetworkConfig, patterns, probes, simulator: str,
              weights=None, *, design=None, tb: str = "bench_engine_tb",
              items: str = "probes") -> list[dict]:
    """Store ``patterns`` on chip (if given and the configuration has Feature.HEBBIAN; else
    write ``weights``, which it then needs) and run every probe on the simulated RTL of the
    engine ``config.engine`` names; one dict per run. (``design``, ``tb``, ``items``: another
    design and testbench of ``sim/tb/`` given ``probes`` under that name, e.g.
    ``sim/bench_replicas.py``'s batches.)"""
    from .rtl_runner import run_cocotb
    on_chip = patterns is not None and config.has(Feature.HEBBIAN)
    if not on_chip and weights is None:
        raise ValueError(f"{config.describe()}: no patterns to store on chip (none given, "
                         f"or no on-chip Hebbian store), so the benchmark needs the weights "
                         f"to write")
    engine = config.engine
    design = design if design is not None else ENGINES[engine].build(config)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        # The inputs go through a file: the environment cannot hold N = 1024 patterns.
        inp = Path(tmp) / "input.json"
        data = {items: probes}
        if on_chip:
            data["patterns"] = [[int(v) for v in pat] for pat in patterns]
        else:
            data["weights"] = np.asarray(weights).tolist()
        inp.write_text(json.dumps(data))
        name = f"bench_{engine}_n{config.neurons}k{config.lanes}w{config.weight_bits}" \
            + (f"r{config.replicas}" if config.replicas > 1 else "")
        run_cocotb(design, toplevel=name, simulator=simulator,
                   test_module=f"hopfield_fpga.sim.tb.{tb}", build_name=name,
                   params={"config": config.to_dict(), "input": str(inp), "out": str(out)})
        return json.loads(out.read_text())


#: ``simulator=MODEL``: no RTL simulation; the column engine's cycles from its cycle
#: accounting (``gateware/engine_cycles.py``, checked exactly against the RTL by the tests) on
#: the CPU engine's runs, for sizes whose simulation takes too long (N = 1024 in Verilator:
#: a 20-minute build).
MODEL = "model"


def _model_runs(config: NetworkConfig, weights, probes) -> list[dict]:
    """:func:`_rtl_runs`'s dicts, from the CPU engine's runs and the column engine's cycle
    accounting (the refresh of the first run after the weight write included)."""
    from hopfield_fpga.gateware import engine_cycles as ec
    if config.engine != "column":
        raise ValueError(f"the cycle model is the column engine's, and this configuration has "
                         f"engine={config.engine}: simulate it (verilator or icarus)")
    net = cpu_engine.PreparedNetwork(weights, None, config)
    rows = []
    for k, probe in enumerate(probes):
        result, flips = net.run_flips(probe["state"], order=probe["order"], seed=probe["seed"],
                                      max_visits=probe["max_visits"])
        start = ec.RunStart(np.asarray(weights), None, np.asarray(probe["state"]), None,
                            probe["seed"])
        cycles = ec.column_run_cycles(config, order=probe["order"], stochastic=False,
                                      visits=result.visits, cap=probe["max_visits"],
                                      stop_reason=result.stop_reason, flips=flips,
                                      seed=probe["seed"], start=start)
        rows.append(dict(visits=result.visits, flips=result.flips, energy2=result.energy2,
                         converged=result.converged, state=[int(v) for v in result.state],
                         cycles=cycles, refresh_cycles=ec.refresh_cycles(config) if k == 0
                         else 0))
    return rows


def _check_rtl(want: golden.RunResult, got: dict, where: str) -> None:
    for key in ("visits", "flips", "energy2", "converged"):
        if getattr(want, key) != got[key]:
            raise AssertionError(f"{where}: {key} golden {getattr(want, key)}, RTL {got[key]}")
    if list(map(int, want.state)) != got["state"]:
        raise AssertionError(f"{where}: final states differ")


def run_engine_bench(sizes=DEFAULT_SIZES, *, lanes: int = 8, orders=None, noises=NOISES,
                     simulator: str = "verilator", seed: int = 1, board: str | None = None,
                     clock_hz: float | None = None, threads: int | None = None,
                     repeats: int = 5, engine: str | None = None,
                     replicas: int | None = None) -> BenchReport:
    """Run the benchmark: one :class:`BenchRow` per (N, noise, order) and the target checks.

    ``board`` (a name from ``hw/boards.py``) replaces ``sizes``/``lanes`` by that board's
    default configuration and its clock; otherwise FPGA times are at ``clock_hz`` (default:
    :data:`DEFAULT_CLOCK_BOARD`'s clock). ``threads`` is the "all cores" thread count.
    ``engine`` (a name of :data:`ENGINES`) replaces the configuration's engine; None keeps it
    (a board's default names its own; without ``board`` it is the K-lane engine).
    ``replicas`` (None: the configuration's) > 1 adds the replica rows of
    ``sim/bench_replicas.py`` (recall_many batches on that many replicas).
    """
    if engine is not None and engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    from hopfield_fpga.hw.boards import get_board
    spec = get_board(DEFAULT_CLOCK_BOARD if board is None else board)
    if board is not None:
        configs = [spec.default_config]
    else:
        configs = [bench_config(n, lanes) for n in sizes]  # refuses a bad size or lane count
    clock_basis = "--clock-mhz" if clock_hz else spec.clock_basis if board is not None else \
        f"{spec.name}'s clock, {spec.clock_basis}"
    clock_hz = clock_hz or spec.sys_clk_freq
    if engine is not None:
        configs = [config.with_(engine=engine) for config in configs]
    if replicas is not None:
        for config in configs:    # refuses a count the engine cannot build before simulating
            config.with_(replicas=replicas)
    if not clock_hz > 0:
        raise ValueError(f"the clock must be a positive frequency in Hz, not {clock_hz!r}")
    # None: every order the configuration builds (a column engine's may include synchronous)
    orders = None if orders is None else [Order.parse(o) for o in orders]
    threads = cpu_engine._check_threads(threads)
    report = BenchReport([], [], model=simulator == MODEL, clock_basis=clock_basis)
    for config in configs:
        n = config.neurons
        work = bench_workload(config, noises=noises, orders=orders, seed=seed)
        patterns, weights, probes, rng = work.patterns, work.weights, work.probes, work.rng
        p = len(patterns)
        results = _model_runs(config, weights, probes) if simulator == MODEL else \
            _rtl_runs(config, patterns if work.store == "hebbian" else None, probes,
                      simulator, weights=weights)
        net = cpu_engine.PreparedNetwork(weights, None, config)
        for probe, got in zip(probes, results):
            run = dict(order=probe["order"], seed=probe["seed"], max_visits=probe["max_visits"])
            want = golden.run_binary(weights, None, probe["state"], config=config, **run)
            # the median of GOLDEN_REPEATS runs, as the CPU side's is a median: one run of a
            # loaded machine varied by 2x
            golden_s = _median_time(lambda: golden.run_binary(
                weights, None, probe["state"], config=config, **run), GOLDEN_REPEATS)
            _check_rtl(want, got, f"N={n} {probe['order']} noise {probe['noise']}")
            cpu1 = cpu_time_per_recall(net, probe["state"], threads=1, repeats=repeats,
                                       expect=want, **run)
            cpu_all = cpu_time_per_recall(net, probe["state"], threads=threads,
                                          repeats=repeats, **run)
            fpga_s = got["cycles"] / clock_hz
            bound = ENGINES[config.engine].bound(got["flips"], config, probe["order"])
            report.rows.append(BenchRow(
                board=board, engine=config.engine, neurons=n, lanes=config.lanes, replicas=1,
                patterns=p,
                noise=probe["noise"], order=probe["order"], visits=got["visits"],
                flips=got["flips"], cycles=got["cycles"], bound=bound,
                ratio=round(got["cycles"] / bound, 3) if bound else None,
                refresh_cycles=got["refresh_cycles"], converged=got["converged"],
                clock_hz=clock_hz, fpga_us=round(fpga_s * 1e6, 3),
                cpu_us=round(cpu1 * 1e6, 3), cpu_all_us=round(cpu_all * 1e6, 3),
                threads=threads, speedup_vs_cpu=round(cpu1 / fpga_s, 3),
                speedup_vs_cpu_all=round(cpu_all / fpga_s, 3),
                cycles_from="model" if report.model else "rtl"))
            # The golden model only as the target check (it is the spec).
            report.targets.append(TargetCheck(
                check="CPU engine (1 thread) vs golden.run_binary per recall (CPU time)",
                neurons=n,
                noise=probe["noise"], order=probe["order"],
                baseline_us=round(golden_s * 1e6, 1), cpu_us=round(cpu1 * 1e6, 3),
                ratio=round(golden_s / cpu1, 1), target=500))
        report.targets.append(many_check(weights, config, patterns, noise=noises[0],
                                         order="sequential", seed=seed, rng=rng))
        r = config.replicas if replicas is None else replicas
        if r > 1:
            if simulator == MODEL:
                raise ValueError("the replica rows need the RTL (the replicas' interleaving "
                                 "is not in the cycle model): simulate them")
            from .bench_replicas import replica_rows
            report.replicas += replica_rows(config.with_(replicas=r), work, board=board,
                                            clock_hz=clock_hz, simulator=simulator,
                                            repeats=repeats)
    return report


def format_table(report: BenchReport) -> str:
    rows = report.rows
    clocks = sorted({r.clock_hz for r in rows})
    engines = sorted({r.engine for r in rows})
    basis = "the column engine's cycle accounting (checked exactly against the RTL by the " \
        "tests)" if report.model else "exact RTL cycles"
    title = (f"FPGA times ({', '.join(engines)} engine) are {basis} at the board's clock "
             f"({', '.join(f'{c / 1e6:g} MHz' for c in clocks)}"
             f"{', board ' + rows[0].board if rows and rows[0].board else ''}"
             f"{'; clock from: ' + report.clock_basis if report.clock_basis else ''}); CPU = the "
             f"compiled CPU engine on 1 thread (CPU time) and on "
             f"{rows[0].threads if rows else '-'} threads (wall time), same weights, probe and "
             f"seed, median per recall")
    head = ("N", "K", "P", "noise", "order", "visits", "flips", "cycles", "bound", "ratio",
            "fpga_us", "cpu_us", "cpu_all_us", "cpu/fpga", "cpu_all/fpga")
    lines = [(str(r.neurons), str(r.lanes), str(r.patterns), f"{r.noise:.0%}", r.order,
              str(r.visits), str(r.flips), str(r.cycles), str(r.bound),
              "-" if r.ratio is None else f"{r.ratio:.3f}", f"{r.fpga_us:.2f}",
              f"{r.cpu_us:.2f}", f"{r.cpu_all_us:.2f}", f"{r.speedup_vs_cpu:.3f}",
              f"{r.speedup_vs_cpu_all:.3f}") for r in rows]
    targets = right_aligned(
        ("target check", "N", "noise", "order", "golden_us", "cpu_us", "ratio", "target"),
        [(t.check, str(t.neurons), f"{t.noise:.0%}", t.order, f"{t.baseline_us:.1f}",
          f"{t.cpu_us:.2f}", f"{t.ratio:.1f}", f">= {t.target:g}") for t in report.targets])
    from .bench_replicas import format_replica_table
    replicas = format_replica_table(report.replicas)
    return f"{title}\n{right_aligned(head, lines)}\n\n" \
           + (f"{replicas}\n\n" if replicas else "") \
           + f"Issue 12 targets (the golden model is the spec, timed only here):\n{targets}"
