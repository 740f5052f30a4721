"""The engine cycles of the link's operations, for the engine design a configuration names
(``config.engine``): an access write, the on-chip Hebbian store of one pattern, and the refresh
that the first run after a weight or bias write pays.

These are the cycle tables of ``docs/engine.md`` ("Cycle accounting" of each design) as
functions, with the latencies taken from the blocks the engines are built with (the K-lane
engine's adder tree, the column engine's energy unit), so that ``hopfield bench link`` does not
keep a copy of its own. ``tests/test_bench_link.py`` checks the refresh against the
``refresh_cycles`` the simulated boards report, for both designs.
"""

from __future__ import annotations

from hopfield_fpga.config import NetworkConfig
from .binary_engine import tree_levels
from .engine.energy_unit import energy_latency
from .unstable_set import AdderTree

__all__ = ["access_write_cycles", "store_cycles", "refresh_cycles"]


def _lanes_latency(config: NetworkConfig) -> int:
    """L of the K-lane engine: its adder tree's latency over the K lanes."""
    return AdderTree.latency_of(config.lanes, tree_levels(config))


def access_write_cycles(config: NetworkConfig) -> int:
    """Cycles of one access write (a weight, bias or state word): 2 in both designs."""
    return 2


def store_cycles(config: NetworkConfig) -> int:
    """Cycles of the on-chip Hebbian store of one pattern: its C chunk writes of 2 cycles,
    then every weight word read and written (``lanes``: 2 N C) or the weight store's N
    columns, one a cycle (``column``: busy N + 1 cycles after the last chunk)."""
    n, c = config.neurons, config.chunks
    chunks = c * access_write_cycles(config)
    return chunks + (n + 1 if config.engine == "column" else 2 * n * c)


def refresh_cycles(config: NetworkConfig) -> int:
    """Cycles of the refresh of the fields and 2E that the first run after a weight or bias
    write (or a store) pays (``status.refresh_cycles``)."""
    n, c = config.neurons, config.chunks
    if config.engine == "column":
        return c + n + energy_latency(config) + 3      # L: the energy unit's, 2E's last term
    lat = _lanes_latency(config)
    # with fewer than 3 chunks the column passes drain between columns
    return n * c + 2 * c + 3 * lat + 9 + ((n - 1) * (lat + 3) if c < 3 else 0)
