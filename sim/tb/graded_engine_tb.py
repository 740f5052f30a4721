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

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.gateware.engine_ports import StopReason
from hopfield_fpga.gateware.graded_engine import GradedEngine
from hopfield_fpga.gateware.graded_ports import GradedAccessOp as Op, GradedPorts, RunParams, run_params
from hopfield_fpga.numerics import GRADED_V_BITS
from hopfield_fpga.protocol import sign_extend
from hopfield_fpga.sim.rtl_runner import tb_params
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


class GradedDriver:
    """Stream transactions on the engine's ports, one clock edge at a time."""

    def __init__(self, dut, config: NetworkConfig):
        self.dut, self.config = dut, config
        self.ports = GradedPorts(config)
        self.access, self.status, self.trace = (self.ports.access, self.ports.status,
                                                self.ports.trace)

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

    async def access_op(self, op, index: int = 0, chunk: int = 0, word: int = 0):
        await self.put("access", _pack(self.access, {"op": op.value, "index": index,
                                                     "chunk": chunk, "data": word}))

    async def read(self, op, index: int = 0, chunk: int = 0) -> int:
        await self.access_op(op, index, chunk)
        return await self.get("reply")

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
    for name in ("access__valid", "run__valid", "reply__ready", "trace__ready", "stop"):
        getattr(dut, name).value = 0
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    n, u_bits = config.neurons, config.graded_u_bits
    for seed in seeds:
        case = random_case(seed, config=config, max_steps=params.get("max_steps", 12))
        where = case.describe()
        ports = drv.ports
        for j, c, word in ports.weight_words(case.weights):
            await drv.access_op(Op.WRITE_WEIGHTS, j, c, word)
        for c, word in ports.bias_words(case.bias):
            await drv.access_op(Op.WRITE_BIAS, 0, c, word)
        for i, u in enumerate(case.u0):
            await drv.access_op(Op.WRITE_U, i, 0, ports.u_word(u))
        for k, word in enumerate(ports.table_words(case.params.table)):
            await drv.access_op(Op.WRITE_TABLE, k, 0, word)
        max_cycles = (GradedEngine.pass_cycles(config, initial=True)
                      + case.params.max_steps * GradedEngine.pass_cycles(config) + 10)
        records, status = await drv.run(run_params(case.params, trace=case.trace), max_cycles)
        exp = case.expected
        assert status["steps"] == exp.steps, f"{where}: steps {status['steps']}"
        assert status["converged"] == exp.converged, f"{where}: converged {status['converged']}"
        reason = StopReason.CONVERGED if exp.converged else StopReason.CAP
        assert status["stop_reason"] == reason.value, f"{where}: {status['stop_reason']}"
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
        u = [sign_extend(await drv.read(Op.READ_U, i), u_bits) for i in range(n)]
        v = [sign_extend(await drv.read(Op.READ_V, i), GRADED_V_BITS) for i in range(n)]
        assert u == [int(x) for x in exp.u], f"{where}: u {u} != {list(exp.u)}"
        assert v == [int(x) for x in exp.v], f"{where}: v {v} != {list(exp.v)}"
    dut._log.info(f"{len(seeds)} graded cases bit-exact ({config.describe()})")
