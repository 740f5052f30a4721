"""Engine benchmark: RTL cycles per Hebbian recall, against the flip-pass bound.

For each N (default 64, 256, 1024) a `BinaryEngine` is simulated on Verilator (or Icarus)
through cocotb (``sim/tb/bench_engine_tb.py``): P = round(0.1 N) random patterns are stored
with the on-chip Hebbian rule (8-bit weights, so no entry saturates), then probes made from
pattern 0 with 10% and 30% of the bits flipped are recalled in every order. Each run is also
checked against the golden model (state, visits, flips, 2E): a mismatch is an error, not a row.

Per row: visits, flips, the run's RTL cycles, the bound flips * ceil(N/K) (what the column
passes alone would cost) and the ratio cycles / bound. ``hopfield bench engine`` prints them.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np

from hopfield_fpga.config import NetworkConfig, Order
from . import golden

__all__ = ["BenchRow", "run_engine_bench", "DEFAULT_SIZES", "QUICK_SIZES", "NOISES"]

DEFAULT_SIZES = (64, 256, 1024)
QUICK_SIZES = (64,)
NOISES = (0.1, 0.3)
WEIGHT_BITS = 8


@dataclasses.dataclass(frozen=True)
class BenchRow:
    neurons: int
    lanes: int
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

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def bench_config(neurons: int, lanes: int) -> NetworkConfig:
    return NetworkConfig(neurons=neurons, weight_bits=WEIGHT_BITS, lanes=lanes)


def _probe(pattern: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    n = len(pattern)
    flip = rng.permutation(n)[:round(noise * n)]
    probe = pattern.copy()
    probe[flip] *= -1
    return probe


def run_engine_bench(sizes=DEFAULT_SIZES, *, lanes: int = 8, orders=None, noises=NOISES,
                     simulator: str = "verilator", seed: int = 1) -> list[BenchRow]:
    """Run the benchmark; returns one :class:`BenchRow` per (N, noise, order)."""
    from .rtl_runner import run_cocotb
    from hopfield_fpga.gateware.binary_engine import BinaryEngine

    orders = [Order.parse(o) for o in (orders or list(Order))]
    for n in sizes:
        bench_config(n, lanes)  # refuse a bad size or lane count before simulating anything
    rows: list[BenchRow] = []
    for n in sizes:
        config = bench_config(n, lanes)
        rng = np.random.default_rng(seed + n)
        p = max(1, round(0.1 * n))
        patterns = rng.choice([-1, 1], (p, n))
        weights = golden.store_hebbian(np.zeros((n, n), dtype=np.int64), patterns,
                                       config=config)
        probes = []
        for noise in noises:
            for order in orders:
                probes.append({"noise": noise, "order": order.name.lower(),
                               "seed": int(rng.integers(1, 1 << 32)),
                               "state": [int(v) for v in _probe(patterns[0], noise, rng)],
                               "max_visits": 200 * n})
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "rows.json"
            # The inputs go through a file: the environment cannot hold N = 1024 patterns.
            inp = Path(tmp) / "input.json"
            inp.write_text(json.dumps({
                "patterns": [[int(v) for v in pat] for pat in patterns], "probes": probes}))
            name = f"bench_engine_n{n}k{config.lanes}"
            run_cocotb(BinaryEngine(config), toplevel=name, simulator=simulator,
                       test_module="hopfield_fpga.sim.tb.bench_engine_tb", build_name=name,
                       params={"config": config.to_dict(), "input": str(inp),
                               "out": str(out)})
            results = json.loads(out.read_text())
        for probe, got in zip(probes, results):
            want = golden.run_binary(weights, None, probe["state"], order=probe["order"],
                                     seed=probe["seed"], max_visits=probe["max_visits"],
                                     config=config)
            for key in ("visits", "flips", "energy2", "converged"):
                if getattr(want, key) != got[key]:
                    raise AssertionError(f"N={n} {probe['order']} noise {probe['noise']}: "
                                         f"{key} golden {getattr(want, key)}, RTL {got[key]}")
            if list(map(int, want.state)) != got["state"]:
                raise AssertionError(f"N={n} {probe['order']} noise {probe['noise']}: "
                                     f"final states differ")
            bound = got["flips"] * config.chunks
            rows.append(BenchRow(
                neurons=n, lanes=config.lanes, patterns=p, noise=probe["noise"],
                order=probe["order"], visits=got["visits"], flips=got["flips"],
                cycles=got["cycles"], bound=bound,
                ratio=round(got["cycles"] / bound, 3) if bound else None,
                refresh_cycles=got["refresh_cycles"], converged=got["converged"]))
    return rows


def format_table(rows: list[BenchRow]) -> str:
    head = ("N", "K", "P", "noise", "order", "visits", "flips", "cycles", "flips*C", "ratio")
    lines = [head]
    for r in rows:
        lines.append((str(r.neurons), str(r.lanes), str(r.patterns), f"{r.noise:.0%}", r.order,
                      str(r.visits), str(r.flips), str(r.cycles), str(r.bound),
                      "-" if r.ratio is None else f"{r.ratio:.3f}"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths))
                     for line in lines)
