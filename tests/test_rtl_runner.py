"""The cocotb launcher works on both simulators (and would fail a wrong design)."""

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.sim.rtl_runner import SIMULATORS, missing_tool, run_cocotb


class _RegisteredAdder(wiring.Component):
    a: In(8)
    b: In(8)
    s: Out(9)

    def __init__(self, *, wrong=False):
        self._wrong = wrong
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.s.eq(self.a + self.b + (1 if self._wrong else 0))
        return m


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_runner_passes_a_correct_design(simulator):
    run_cocotb(_RegisteredAdder(), toplevel="selftest_adder", simulator=simulator,
               test_module="cocotb_runner_selftest_tb", params={"seed": 7, "cases": 50})


@pytest.mark.cocotb
def test_runner_fails_a_wrong_design():
    with pytest.raises(AssertionError, match="cocotb tests failed"):
        run_cocotb(_RegisteredAdder(wrong=True), toplevel="selftest_adder_wrong",
                   simulator="icarus", test_module="cocotb_runner_selftest_tb",
                   params={"seed": 7, "cases": 5})


def test_a_missing_tool_skips_outside_ci_and_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="no such tool"):
        missing_tool("no such tool")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(RuntimeError, match="no such tool .CI must have every tool"):
        missing_tool("no such tool")
