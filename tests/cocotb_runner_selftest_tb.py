"""cocotb side of tests/test_rtl_runner.py: checks a registered adder against Python."""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, ReadOnly

from hopfield_fpga.sim.rtl_runner import tb_params


@cocotb.test()
async def adder_matches_python(dut):
    params = tb_params()
    rng = random.Random(params["seed"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    for _ in range(params["cases"]):
        a, b = rng.randrange(256), rng.randrange(256)
        dut.a.value = a
        dut.b.value = b
        await RisingEdge(dut.clk)
        await ReadOnly()
        assert int(dut.s.value) == a + b, f"seed {params['seed']}: {a}+{b} gave {int(dut.s.value)}"
        await RisingEdge(dut.clk)
