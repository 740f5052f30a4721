"""cocotb side of the replicas' benchmark rows (``sim/bench_engine.py``): recall_many batches.

The design is a :class:`~hopfield_fpga.gateware.engine.replicas.SelectedReplica` (R column
engines on one weight store behind the dispatch a board's command engine drives). Parameters
(``tb_params``): ``config`` (dict, replicas = R), ``input`` (path of a JSON file with
``patterns`` or ``weights`` as in ``bench_engine_tb``, and ``batches``: a list of {"order",
"seed", "max_visits", "states"}), ``out`` (path of the JSON results).

Each batch is served twice, as the command engine serves RECALL_MANY but with a link that
costs nothing (engine cycles only): on replica 0 alone (load a probe, run, read its state,
the next probe), then on the R replicas (probe k on replica k mod R: the first R probes loaded
and started, then for each probe in order: wait for its run, read its state, load and start
probe k + R on the replica it freed). The cycles from the first probe's first access to the
last state read are counted exactly (simulation time); every run's status and state are
written to ``out`` for the caller's golden-model check.
"""

from __future__ import annotations

import collections
import json

import cocotb
from cocotb.utils import get_sim_time

from hopfield_fpga.config import Order
from hopfield_fpga.gateware.engine_ports import RunOrder
from hopfield_fpga.numerics import seed_state
from hopfield_fpga.sim.tb.bench_engine_tb import bench_params, load_network
from hopfield_fpga.sim.tb.binary_engine_tb import PERIOD_NS, start
from hopfield_fpga.sim.tb.engine_driver import EngineDriver, _raw


class _EnginePorts:
    """The design's ``engine`` port under the names a lone engine's Verilog has."""

    def __init__(self, dut):
        self._dut = dut

    def __getattr__(self, name):
        if name in ("clk", "rst", "select", "busy", "_log"):
            return getattr(self._dut, name)
        return getattr(self._dut, f"engine__{name}")


async def _serve(driver: EngineDriver, batch: dict, replicas: int) -> tuple[int, list[dict]]:
    """Serve ``batch`` on ``replicas`` replicas; (cycles, one result per probe in order)."""
    bus, states = driver.bus, batch["states"]
    run = _raw(driver.ports.run, {
        "order": RunOrder(int(Order.parse(batch["order"]))), "stochastic": 0, "trace": 0,
        "seed": seed_state(batch["seed"]), "max_visits": batch["max_visits"], "beta_len": 1})
    running = collections.deque()
    loaded = 0

    async def load():
        nonlocal loaded
        await bus.set("select", loaded % replicas)
        await driver.write_state(states[loaded])
        await driver._send("run", run)
        running.append(loaded)
        loaded += 1

    start_ns = get_sim_time("ns")
    while loaded < min(replicas, len(states)):
        await load()
    results = [None] * len(states)
    while running:
        k = running.popleft()
        await bus.set("select", k % replicas)
        await driver.wait_idle(1)
        status = await driver.status()
        state = await driver.read_state()
        results[k] = {"visits": int(status.visits), "flips": int(status.flips),
                      "cycles": int(status.cycles), "energy2": int(status.energy2),
                      "converged": bool(status.converged),
                      "state": [int(v) for v in state]}
        if loaded < len(states):
            await load()
    return round((get_sim_time("ns") - start_ns) / PERIOD_NS), results


@cocotb.test()
async def recall_many_batches(dut):
    params, config = bench_params()
    ports = _EnginePorts(dut)
    bus = await start(ports)
    await bus.set("select", 0)
    driver = EngineDriver(bus, config)
    await load_network(driver, params)     # through replica 0 (CLEAR: every replica)
    rows = []
    for batch in params["batches"]:
        one, one_results = await _serve(driver, batch, 1)
        many, many_results = await _serve(driver, batch, config.replicas)
        rows.append({"cycles_one": one, "cycles": many, "one": one_results,
                     "results": many_results})
    with open(params["out"], "w") as f:
        json.dump(rows, f)
