"""The command engine's run control: whether a run goes on, and whether it is to stop.

A run goes on from the cycle its transfer is taken (``started``) until the engines are idle
again (``busy`` low; not in the cycle right after the transfer, where ``busy`` is not up yet).
STOP (``stop``, as a STOP request is served) stops the run going on. A STOP frame just queued
(``stop_now``, the receive queue's ``stop``) stops every run from then until that STOP is
served, as if it were served at once: the one going on and those the requests queued before it
start (one flag: a STOP that arrives while another waits acts in its turn only).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RunControl"]


class RunControl(wiring.Component):
    """Members
    -------
    started: In(1)
        A run transfer is taken now (either engine's).
    busy: In(1)
        Some engine is busy.
    stop: In(1)
        A STOP request is served now.
    stop_now: In(1)
        A STOP frame was just queued.
    running: Out(1)
        A run goes on.
    just_started: Out(1)
        The cycle after a run transfer (``busy`` not yet high).
    halt: Out(1)
        Every run is to stop (the engines' ``stop``).
    """

    started: In(1)
    busy: In(1)
    stop: In(1)
    stop_now: In(1)
    running: Out(1)
    just_started: Out(1)
    halt: Out(1)

    def elaborate(self, platform):
        m = Module()
        stop_req = Signal()        # STOP served while this run goes on
        stops_pending = Signal()   # a STOP frame is queued and not served yet
        m.d.comb += self.halt.eq(stop_req | stops_pending)
        m.d.sync += self.just_started.eq(self.started)
        with m.If(self.started):
            m.d.sync += self.running.eq(1)
        with m.Elif(self.running & ~self.just_started & ~self.busy):
            m.d.sync += [self.running.eq(0), stop_req.eq(0)]
        with m.If(self.stop):
            m.d.sync += stop_req.eq(self.running)
        with m.If(self.stop_now):
            m.d.sync += stops_pending.eq(1)
        with m.Elif(self.stop):
            m.d.sync += stops_pending.eq(0)
        return m
