"""cocotb testbench of the binary engine: randomized and fixed cases against the golden model.

Started by ``tests/test_binary_engine_cocotb.py`` through
:func:`hopfield_fpga.sim.rtl_runner.run_cocotb` with the parameters

- ``config``: the :class:`NetworkConfig` as a dict (the design was built from it);
- ``seeds``: [first, count] of the randomized cases (:func:`engine_driver.make_case`);
- ``kinds``: optional list of case kinds cycled through (default: random kinds);
- ``column``: optional, true for ColumnEngine: the cases carry a clamp mask (§12) and a 2-cycle's
  other state (§13) is read back and checked;
- ``replicas``: optional R > 1 for :class:`~hopfield_fpga.gateware.engine.replicas.SelectedReplica`
  (its engine ports are prefixed ``engine__``): case i runs on replica i mod R (its ``select``
  input), the weights written through replica 0 as the dispatch does, so every replica's
  datapath and the stale fields after another replica's writes are checked.

Drivers on the access and run streams, a monitor on the trace stream (with random
back-pressure) and a scoreboard comparing every flip event, the final state, the converged
flag, the stop reason, visits, flips and 2E with ``golden.run_binary``. A failure names the
case seed and the first diverging flip; every case is reported, so one failure does not hide
the others.
"""

from __future__ import annotations

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge, Timer

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.gateware.engine_ports import AccessOp, StopReason
from hopfield_fpga.sim.rtl_runner import tb_params
from hopfield_fpga.sim.tb.engine_driver import (CaseMismatch, EngineDriver, compare, expected,
                                               make_case, run_case)


PERIOD_NS = 10


class CocotbBus:
    """The driver's bus over the cocotb handle of the emitted Verilog (flattened port names).

    Inputs change just after a falling edge; ``get`` samples in the read-only phase after it,
    so a value read is the one the next rising edge sees.
    """

    def __init__(self, dut, prefix: str = ""):
        self.dut = dut
        self.prefix = prefix        # of the engine's ports in a wrapper (SelectedReplica)
        self._settled = False

    async def set(self, name, value):
        if self._settled:  # no writes in the read-only phase: step just past it
            await Timer(1, unit="ps")
            self._settled = False
        getattr(self.dut, self.prefix + name).value = int(value)

    async def get(self, name):
        if not self._settled:
            await ReadOnly()
            self._settled = True
        return int(getattr(self.dut, self.prefix + name).value)

    async def tick(self):
        await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self._settled = False

    async def idle(self, cycles):
        # One timer instead of a Python callback per clock edge (much faster on Verilator).
        if cycles > 1:
            await Timer((cycles - 1) * PERIOD_NS + PERIOD_NS // 2, unit="ns")
        await FallingEdge(self.dut.clk)
        self._settled = False


async def start(dut):
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    replicas = tb_params().get("replicas", 1)
    bus = CocotbBus(dut, "engine__" if replicas > 1 else "")
    for name in ("access__valid", "run__valid", "reply__ready", "trace__ready", "stop"):
        await bus.set(name, 0)
    if replicas > 1:
        dut.select.value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    return bus


@cocotb.test()
async def randomized_cases_match_golden(dut):
    params = tb_params()
    config = NetworkConfig.from_dict(params["config"])
    first, count = params["seeds"]
    kinds = params.get("kinds")
    column = params.get("column", False)
    replicas = params.get("replicas", 1)
    bus = await start(dut)
    driver = EngineDriver(bus, config, rng=random.Random(first))
    failures = []
    for i in range(count):
        seed = first + i
        case = make_case(config, seed, kinds[i % len(kinds)] if kinds else None, clamp=column)
        _, want = expected(config, case)
        if replicas > 1:          # between cases: no run goes on
            await bus.tick()
            dut.select.value = i % replicas
        status, events, state = await run_case(driver, case)
        cycle_state = None
        if column and status.stop_reason == StopReason.CYCLE2:
            cycle_state = await driver.read_state(AccessOp.READ_CYCLE)
        try:
            compare(case, want, status, events, state, cycle_state=cycle_state)
        except CaseMismatch as exc:
            failures.append(str(exc))
            dut._log.error(str(exc))
    dut._log.info(f"{count - len(failures)} of {count} cases match the golden model "
                  f"({config.describe()}" + (f", cases on {replicas} replicas in turn)"
                                              if replicas > 1 else ")"))
    assert not failures, f"{len(failures)} of {count} cases differ; first: {failures[0]}"


@cocotb.test()
async def stop_input_ends_a_run(dut):
    """A long asymmetric run stopped by the host reports STOP with consistent counts."""
    params = tb_params()
    config = NetworkConfig.from_dict(params["config"])
    bus = await start(dut)
    driver = EngineDriver(bus, config)
    case = make_case(config, 77, "asymmetric")
    await run_case(driver, case)
    # Sequential, then rejection_free (untraced: the chained flips see the stop too).
    for order in ("sequential", "rejection_free"):
        status, _ = await driver.run(order=order, max_visits=(1 << 32) - 1, trace=False,
                                     stop_after=40)
        assert status.stop_reason in (StopReason.CONVERGED, StopReason.STOP), \
            f"{order}: stop reason {status.stop_reason}"
        assert not status.busy, order
