"""The engine benchmark's replica rows (``sim/bench_replicas.py``) on Icarus Verilog.

The batches run on the Verilog of ``SelectedReplica`` (two column engines, one weight store,
the dispatch), once on replica 0 alone and once on both; ``replica_rows`` checks every run of
both against ``golden.run_binary`` (state, visits, flips, 2E) and raises on a difference.
Icarus, not Verilator: at this size its build is seconds where Verilator's took 8 minutes
(load average 9); ``hopfield bench engine --replicas 2`` runs the same on Verilator.
"""

from __future__ import annotations

import pytest

from hopfield_fpga.config import NetworkConfig, Order
from hopfield_fpga.sim.bench_engine import bench_workload
from hopfield_fpga.sim.bench_replicas import format_replica_table, replica_rows

SIMULATOR = "icarus"


@pytest.mark.slow
def test_replica_rows_match_golden_and_overlap(require_tool):
    require_tool(SIMULATOR)
    seed = 3
    print(f"seed {seed}")
    cfg = NetworkConfig(neurons=20, weight_bits=3, lanes=6, engine="column", replicas=2,
                        orders=(Order.SEQUENTIAL, Order.RANDOM, Order.REJECTION_FREE))
    work = bench_workload(cfg, noises=(0.3,), seed=seed)
    rows = replica_rows(cfg, work, board=None, clock_hz=30e6, simulator=SIMULATOR,
                        probes=5, repeats=1)
    print(format_replica_table(rows))
    assert [r.order for r in rows] == ["sequential", "random", "rejection_free"]
    for r in rows:
        assert r.replicas == 2 and r.probes == 5 and r.to_dict()["table"] == "replicas"
        # two chains: the batch is shorter than on one, never more than twice as short
        assert r.cycles < r.cycles_one <= 2 * r.cycles, r
        assert r.fpga_us == pytest.approx(r.cycles / 5 / 30, abs=1e-3)
