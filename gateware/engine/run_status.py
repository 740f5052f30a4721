"""The registers behind an engine's ``status`` port (``engine_ports``), shared by
:class:`~hopfield_fpga.gateware.binary_engine.BinaryEngine` and
:class:`~.column_engine.ColumnEngine`: the run's counts, 2E, the stop reason and the busy,
running, refreshing and fields-stale flags, with the cycle counters that follow them."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed

from hopfield_fpga.config import COUNTER_BITS, NetworkConfig
from ..engine_ports import StopReason

__all__ = ["StatusRegisters"]


class StatusRegisters:
    """The engine-side registers of ``status``; the engine's FSM writes them.

    ``cycles`` counts every cycle ``running`` is high, ``refresh_cycles`` every cycle
    ``refreshing`` is high (docs/engine.md, "Cycle accounting"); ``dirty`` is the inverse of
    ``fields_valid``.
    """

    def __init__(self, config: NetworkConfig):
        self.visits = Signal(COUNTER_BITS, name="visits")
        self.flips = Signal(COUNTER_BITS, name="flips")
        self.cycles = Signal(COUNTER_BITS, name="cycles")
        self.refresh_cycles = Signal(COUNTER_BITS, name="refresh_cycles")
        self.energy2 = Signal(signed(config.energy_bits), name="energy2")
        self.stop_reason = Signal(StopReason, name="stop_reason")
        self.busy = Signal(name="busy")
        self.running = Signal(name="running")
        self.refreshing = Signal(name="refreshing")
        self.dirty = Signal(name="dirty")

    def drive(self, m: Module, status, unstable) -> None:
        """Drive the ``status`` port (``unstable`` = |U|) and count the cycles."""
        m.d.comb += [
            status.busy.eq(self.busy), status.converged.eq(unstable == 0),
            status.stop_reason.eq(self.stop_reason), status.fields_valid.eq(~self.dirty),
            status.unstable.eq(unstable), status.visits.eq(self.visits),
            status.flips.eq(self.flips), status.cycles.eq(self.cycles),
            status.refresh_cycles.eq(self.refresh_cycles), status.energy2.eq(self.energy2),
        ]
        with m.If(self.running):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        with m.If(self.refreshing):
            m.d.sync += self.refresh_cycles.eq(self.refresh_cycles + 1)
