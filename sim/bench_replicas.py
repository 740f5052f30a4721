"""The engine benchmark's replica rows: recall_many per probe with R replicas vs one CPU core.

For a configuration with ``replicas`` = R > 1 (the column engine), each (noise, order) of the
benchmark's workload (``bench_engine.bench_workload``) becomes a batch of ``probes`` probes
(pattern i mod P, that noise, the workload's seed for that row) served the way a board's
command engine serves RECALL_MANY, on the simulated RTL of
:class:`~hopfield_fpga.gateware.engine.replicas.SelectedReplica` (``sim/tb/bench_replicas_tb.py``):
once on replica 0 alone and once on the R replicas, with a link that costs nothing (engine
cycles only: from the first probe's first state write to the last state read, the writes,
runs and reads included, the link's bytes not). Every run is checked against the golden
model. ``fpga_us`` is the R-replica batch's cycles per probe at the board's clock,
``fpga_one_us`` the one-replica batch's; ``cpu_us`` the compiled CPU engine's time per recall
on one thread over the same probes (``PreparedNetwork.run_batch``, CPU time, median), measured
in the same run; ``speedup_vs_cpu`` = cpu_us / fpga_us (throughput).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from hopfield_fpga.config import NetworkConfig
from . import cpu_engine, golden

__all__ = ["ReplicaRow", "replica_rows", "REPLICA_PROBES", "format_replica_table"]

#: Probes of each replica batch (a RECALL_MANY of that many).
REPLICA_PROBES = 8


@dataclasses.dataclass(frozen=True)
class ReplicaRow:
    board: str | None
    engine: str
    neurons: int
    replicas: int
    probes: int
    noise: float
    order: str
    visits: float           # per probe, mean over the batch
    flips: float
    cycles: int             # the batch on the R replicas, engine cycles (see the module doc)
    cycles_one: int         # the same batch on replica 0 alone
    clock_hz: float
    fpga_us: float          # per probe: cycles / probes at the clock
    fpga_one_us: float
    cpu_us: float           # CPU engine, one thread, per recall
    speedup_vs_cpu: float
    speedup_vs_one: float   # cycles_one / cycles

    def to_dict(self) -> dict:
        return {"table": "replicas", **dataclasses.asdict(self)}


def _batch_states(patterns, noise: float, probes: int, rng: np.random.Generator):
    from .bench_engine import _probe
    return [_probe(patterns[i % len(patterns)], noise, rng) for i in range(probes)]


def _cpu_per_recall(net, states, *, order, seed, max_visits, repeats: int) -> float:
    """Seconds per recall of ``states`` on one thread: the median (CPU time) over ``repeats``
    calls of one ``run_batch`` of the states repeated until a call lasts at least
    ``MIN_BATCH_SECONDS`` (so the call's own overhead is spread, as
    ``bench_engine.cpu_time_per_recall`` does)."""
    from .bench_engine import MIN_BATCH_SECONDS, _median_time
    states = np.asarray(states)

    def run(batch):
        net.run_batch(batch, order=order, seed=seed, max_visits=max_visits, threads=1)
    batch = np.tile(states, (4, 1))   # the batch's input is made outside the timed calls
    run(batch)                        # the first call may load the compiled code
    t0 = time.process_time()
    run(batch)
    times = max(4, int(4 * MIN_BATCH_SECONDS / max(time.process_time() - t0, 1e-9)))
    batch = np.tile(states, (times, 1))
    return _median_time(lambda: run(batch), repeats) / (times * len(states))


def replica_rows(config: NetworkConfig, work, *, board: str | None, clock_hz: float,
                 simulator: str, probes: int = REPLICA_PROBES,
                 repeats: int = 5) -> list[ReplicaRow]:
    """One :class:`ReplicaRow` per probe of ``work`` (a ``bench_engine.Workload``)."""
    from hopfield_fpga.gateware.engine.replicas import SelectedReplica
    from .bench_engine import _check_rtl, _rtl_runs
    if config.replicas < 2:
        raise ValueError(f"replica rows need a configuration with replicas >= 2, not "
                         f"{config.describe()}")
    batches = []
    for probe in work.probes:
        states = _batch_states(work.patterns, probe["noise"], probes, work.rng)
        batches.append({"order": probe["order"], "seed": probe["seed"],
                        "max_visits": probe["max_visits"],
                        "states": [[int(v) for v in s] for s in states]})
    got = _rtl_runs(config, work.patterns if work.store == "hebbian" else None, batches,
                    simulator, weights=work.weights, design=SelectedReplica(config),
                    tb="bench_replicas_tb", items="batches")
    net = cpu_engine.PreparedNetwork(work.weights, None, config)
    rows = []
    for probe, batch, out in zip(work.probes, batches, got):
        run = dict(order=batch["order"], seed=batch["seed"], max_visits=batch["max_visits"])
        for k, state in enumerate(batch["states"]):
            want = golden.run_binary(work.weights, None, state, config=config, **run)
            for which in ("one", "results"):
                _check_rtl(want, out[which][k], f"N={config.neurons} replicas {which} "
                                                f"{batch['order']} probe {k}")
        cpu = _cpu_per_recall(net, batch["states"], repeats=repeats, **run)
        fpga = out["cycles"] / probes / clock_hz
        rows.append(ReplicaRow(
            board=board, engine=config.engine, neurons=config.neurons,
            replicas=config.replicas, probes=probes, noise=probe["noise"],
            order=batch["order"],
            visits=float(np.mean([r["visits"] for r in out["results"]])),
            flips=float(np.mean([r["flips"] for r in out["results"]])),
            cycles=out["cycles"], cycles_one=out["cycles_one"], clock_hz=clock_hz,
            fpga_us=round(fpga * 1e6, 3),
            fpga_one_us=round(out["cycles_one"] / probes / clock_hz * 1e6, 3),
            cpu_us=round(cpu * 1e6, 3), speedup_vs_cpu=round(cpu / fpga, 3),
            speedup_vs_one=round(out["cycles_one"] / out["cycles"], 3)))
    return rows


def format_replica_table(rows: list[ReplicaRow]) -> str:
    from hopfield_fpga.text_table import right_aligned
    if not rows:
        return ""
    title = (f"recall_many with {rows[0].replicas} replicas: a batch of {rows[0].probes} "
             f"probes, exact RTL engine cycles (first state write to last state read, no "
             f"link) per probe at {rows[0].clock_hz / 1e6:g} MHz, on the replicas and on "
             f"replica 0 alone; CPU = the compiled CPU engine on 1 thread (CPU time) per "
             f"recall of the same probes")
    head = ("N", "R", "noise", "order", "visits", "flips", "cycles", "cycles_1", "fpga_us",
            "fpga_1_us", "cpu_us", "cpu/fpga", "1/R")
    lines = [(str(r.neurons), str(r.replicas), f"{r.noise:.0%}", r.order, f"{r.visits:.1f}",
              f"{r.flips:.1f}", str(r.cycles), str(r.cycles_one), f"{r.fpga_us:.2f}",
              f"{r.fpga_one_us:.2f}", f"{r.cpu_us:.2f}", f"{r.speedup_vs_cpu:.3f}",
              f"{r.speedup_vs_one:.2f}") for r in rows]
    return f"{title}\n{right_aligned(head, lines)}"
