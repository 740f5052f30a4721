"""cocotb side of the engine benchmark (``sim/bench_engine.py``): recall runs, cycles counted.

Parameters (``tb_params``): ``config`` (dict), ``input`` (path of a JSON file with
``patterns``, P x N lists of +1/-1, or ``weights``, N x N, and ``probes``, a list of
{"noise", "order", "seed", "state", "max_visits"}), ``out`` (path of the JSON results). The
patterns are stored with the on-chip Hebbian rule, or the weights written; each probe is written (the engine applies
the changed bits as flips, outside the run's cycle count) and run to convergence without a
trace; the status and final state of every run are written to ``out`` and the golden-model
comparison is made by the caller.
"""

from __future__ import annotations

import json
import time

import cocotb
import numpy as np

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.sim.rtl_runner import tb_params
from hopfield_fpga.sim.tb.binary_engine_tb import start
from hopfield_fpga.sim.tb.engine_driver import EngineDriver


def bench_params() -> tuple[dict, NetworkConfig]:
    """The testbench's parameters, the input file's contents merged in, and the config."""
    params = tb_params()
    with open(params["input"]) as f:
        params.update(json.load(f))
    return params, NetworkConfig.from_dict(params["config"])


async def load_network(driver: EngineDriver, params: dict) -> int:
    """Clear the engine, then write ``params["weights"]`` or store ``params["patterns"]`` on
    chip; returns the status polling period used (cycles)."""
    poll = max(16, driver.config.chunks * 4)
    await driver.clear()
    await driver.wait_idle(poll)
    if "weights" in params:
        await driver.write_weights(np.array(params["weights"]))
    for p in params.get("patterns", []):
        await driver.store_pattern(p, poll=poll)
    return poll


@cocotb.test()
async def recall_runs(dut):
    params, config = bench_params()
    bus = await start(dut)
    driver = EngineDriver(bus, config)
    t0 = time.monotonic()
    poll = await load_network(driver, params)
    # wall-clock progress in the log: at N = 1024 the load alone is minutes (docs/engine.md)
    dut._log.info(f"network loaded in {time.monotonic() - t0:.0f} s")
    rows = []
    for probe in params["probes"]:
        await driver.write_state(probe["state"], poll=poll)
        status, _ = await driver.run(order=probe["order"], seed=probe["seed"],
                                     max_visits=probe["max_visits"], poll=8)
        state = await driver.read_state()
        dut._log.info(f"{probe['order']} {probe['noise']:.0%}: {int(status.cycles)} cycles "
                      f"({time.monotonic() - t0:.0f} s)")
        rows.append({
            "visits": int(status.visits), "flips": int(status.flips),
            "cycles": int(status.cycles), "refresh_cycles": int(status.refresh_cycles),
            "energy2": int(status.energy2), "converged": bool(status.converged),
            "state": [int(v) for v in np.asarray(state)],
        })
    with open(params["out"], "w") as f:
        json.dump(rows, f)
