"""Fixtures shared by the test modules.

- ``seed`` / ``rng``: a fixed seed per test (derived from its node id, so a test keeps its seed
  when others are added or run in another order or on another xdist worker), printed so that
  a failure names it; ``rng`` is a numpy Generator on it.
- ``require_tool``: skip the test for a missing tool outside CI, fail it in CI
  (``rtl_runner.missing_tool``); ``require_tool("icarus")`` / ``("verilator")`` check a
  simulator, any other name an executable on ``PATH``.
- ``small_config`` / ``small_graded_config`` / ``SMALL_SIM_URL``: the small boards most tests
  run on (seconds in Amaranth's simulator).
- Hypothesis has no deadline: a test's time depends on the machine's load (two xdist workers,
  CI neighbours), and a property is judged by its answers, never by its speed.
- The tests marked ``slow`` run first (a stable sort: the order within each group is kept), so
  that the pytest-xdist workers end together instead of one finishing a long test alone.
"""

from __future__ import annotations

import shutil
import zlib

import numpy as np
import pytest
from hypothesis import settings

from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.sim import rtl_runner

settings.register_profile("hopfield", deadline=None)
settings.load_profile("hopfield")

#: A small simulated board (N = 16, 4 lanes of 4-bit weights) in Amaranth's simulator.
SMALL_SIM_URL = "sim://?neurons=16&lanes=4&weight_bits=4"


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def seed(request) -> int:
    value = zlib.crc32(request.node.nodeid.encode())
    print(f"seed {value} ({request.node.nodeid})")
    return value


@pytest.fixture
def rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture
def require_tool():
    def require(name: str) -> None:
        if name in rtl_runner.SIMULATORS:
            rtl_runner.require_simulator(name)
        elif shutil.which(name) is None:
            rtl_runner.missing_tool(f"{name!r} not found on PATH")
    return require


@pytest.fixture
def small_config() -> NetworkConfig:
    return NetworkConfig(neurons=16, lanes=4, weight_bits=4)


@pytest.fixture
def small_graded_config() -> NetworkConfig:
    return NetworkConfig(neurons=16, lanes=4, weight_bits=4,
                         features=Feature.STOCHASTIC | Feature.HEBBIAN | Feature.TRACE
                         | Feature.GRADED)
