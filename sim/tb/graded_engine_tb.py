"""cocotb testbench: the graded engine's Verilog, bit-exact against ``sim/graded.py``.

Started by ``tests/test_graded_engine_cocotb.py`` through ``sim/rtl_runner.py`` with params
``{"config": NetworkConfig.to_dict(), "seeds": [...], "max_steps": int}``. For every seed it
draws the case of ``sim/tb/graded_cases.py`` for that fixed configuration, loads it through the
access stream, runs it, and compares every trace record, the status and the u and v read back
with the golden model; a failure names the seed and the first divergence.
"""

from __future__ import annotations

import cocotb
from amaranth.hdl import Shape
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from ...config import NetworkConfig
from ...gateware.graded_engine import (
    GradedTarget, RunParams, access_layout, bias_words, run_params, status_layout, table_words,
    trace_layout, weight_words,
)
from ...numerics import GRADED_V_BITS
from ..rtl_runner import tb_params
from .graded_cases import random_case


def _pack(layout, fields: dict) -> int:
    word = 0
    for name, value in fields.items():
        f = layout[name]
        word |= (int(value) & ((1 << f.width) - 1)) << f.offset
    return word


def _unpack(layout, word: int) -> dict:
    out = {}
    for name, f in layout:
        value = (word >> f.offset) & ((1 << f.width) - 1)
        if Shape.cast(f.shape).signed and value >> (f.width - 1):
            value -= 1 << f.width
        out[name] = value
    return out


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


class GradedDriver:
    """Stream transactions on the engine's ports, one clock edge at a time."""

    def __init__(self, dut, config: NetworkConfig):
        self.dut, self.config = dut, config
        self.access = access_layout(config)
        self.status = status_layout(config)
        self.trace = trace_layout(config)

    async def put(self, prefix: str, word: int):
        dut = self.dut
        getattr(dut, f"{prefix}__payload").value = word
        getattr(dut, f"{prefix}__valid").value = 1
        while True:
            await ReadOnly()
            ready = int(getattr(dut, f"{prefix}__ready").value)
            await RisingEdge(dut.clk)
            if ready:
                break
        getattr(dut, f"{prefix}__valid").value = 0

    async def get(self, prefix: str) -> int:
        dut = self.dut
        getattr(dut, f"{prefix}__ready").value = 1
        while True:
            await ReadOnly()
            valid = int(getattr(dut, f"{prefix}__valid").value)
            payload = int(getattr(dut, f"{prefix}__payload").value)
            await RisingEdge(dut.clk)
            if valid:
                break
        getattr(dut, f"{prefix}__ready").value = 0
        return payload

    async def write(self, target, addr: int, word: int):
        await self.put("access", _pack(self.access, {"target": target.value, "write": 1,
                                                     "addr": addr, "data": word}))

    async def read(self, target, addr: int) -> int:
        await self.put("access", _pack(self.access, {"target": target.value, "write": 0,
                                                     "addr": addr, "data": 0}))
        return await self.get("read")

    async def run(self, params: dict, max_cycles: int):
        """Start a run; collect trace records until idle. Returns (records, status dict)."""
        dut = self.dut
        dut.trace__ready.value = 1
        await self.put("run", _pack(RunParams, params))
        records = []
        for cycle in range(max_cycles):
            await ReadOnly()
            if int(dut.trace__valid.value):
                t = _unpack(self.trace, int(dut.trace__payload.value))
                records.append((t["step"], t["index"], t["u"], t["v"]))
            status = _unpack(self.status, int(dut.status.value))
            await RisingEdge(dut.clk)
            if not status["busy"] and cycle > 0:
                break
        else:
            raise AssertionError(f"still busy after {max_cycles} cycles")
        dut.trace__ready.value = 0
        return records, status


@cocotb.test()
async def graded_engine_matches_golden(dut):
    params = tb_params()
    config = NetworkConfig.from_dict(params["config"])
    seeds = params["seeds"]
    drv = GradedDriver(dut, config)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for name in ("access__valid", "run__valid", "read__ready", "trace__ready", "stop"):
        getattr(dut, name).value = 0
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    n, u_bits = config.neurons, config.graded_u_bits
    for seed in seeds:
        case = random_case(seed, config=config, max_steps=params.get("max_steps", 12))
        where = case.describe()
        for a, word in enumerate(weight_words(case.weights, config)):
            await drv.write(GradedTarget.WEIGHT, a, word)
        for a, word in enumerate(bias_words(case.bias, config)):
            await drv.write(GradedTarget.BIAS, a, word)
        for a, u in enumerate(case.u0):
            await drv.write(GradedTarget.U, a, int(u) & ((1 << u_bits) - 1))
        for a, word in enumerate(table_words(case.params.table)):
            await drv.write(GradedTarget.TABLE, a, word)
        max_cycles = (case.params.max_steps + 1) * (config.chunks * (n + 4) + 10 * n) + 50
        records, status = await drv.run(run_params(case.params, trace=case.trace), max_cycles)
        exp = case.expected
        assert status["steps"] == exp.steps, f"{where}: steps {status['steps']}"
        assert status["converged"] == exp.converged, f"{where}: converged {status['converged']}"
        assert status["capped"] == (not exp.converged), f"{where}: capped {status['capped']}"
        assert status["max_du"] == exp.max_du, f"{where}: max_du {status['max_du']}"
        if case.trace:
            assert len(records) == exp.steps * n, f"{where}: {len(records)} trace records"
            for t, (u_t, v_t) in enumerate(exp.trace):
                for i in range(n):
                    want = (t + 1, i, int(u_t[i]), int(v_t[i]))
                    assert records[t * n + i] == want, (
                        f"{where}: first trace divergence {records[t * n + i]} != {want}")
        else:
            assert not records, f"{where}: trace records without trace"
        u = [_signed(await drv.read(GradedTarget.U, i), u_bits) for i in range(n)]
        v = [_signed(await drv.read(GradedTarget.V, i), GRADED_V_BITS) for i in range(n)]
        assert u == [int(x) for x in exp.u], f"{where}: u {u} != {list(exp.u)}"
        assert v == [int(x) for x in exp.v], f"{where}: v {v} != {list(exp.v)}"
    dut._log.info(f"{len(seeds)} graded cases bit-exact ({config.describe()})")
