"""STORE chains (``protocol.Repeat.DEDUPED``): each STORE is applied once per seq of its chain.

The block keeps the seq of the last STORE applied and whether its chain is still open, and
decides a STORE as ``protocol.chain_verdict`` does: a repeat of the last one applied is
answered with OK and not applied again (``repeat``), a STORE out of its chain's order is
refused with ``Error.SEQUENCE`` (``refuse``). Any other well-formed request closes the chain.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga import protocol as P

__all__ = ["StoreChain"]


class StoreChain(wiring.Component):
    """Members
    -------
    seq: In(8)
        The request's seq.
    first: In(1)
        The STORE's ``StoreFlags.FIRST`` (it begins a chain).
    close: In(1)
        A request other than STORE is checked now: the chain closes.
    apply: In(1)
        The STORE is applied now: it is the chain's last.
    repeat: Out(1)
        A STORE of this seq is a repeat of the last one applied.
    refuse: Out(1)
        A STORE of this seq and ``first`` is out of its chain's order (unless a repeat).
    """

    seq: In(8)
    first: In(1)
    close: In(1)
    apply: In(1)
    repeat: Out(1)
    refuse: Out(1)

    def elaborate(self, platform):
        m = Module()
        last = Signal(8)
        chained = Signal()
        ahead = Signal(8)      # seq - last, mod 256
        assert P.CHAIN_WINDOW == 1 << 7
        in_window = (ahead != 0) & ~ahead[-1]
        m.d.comb += [
            ahead.eq(self.seq - last),
            self.repeat.eq(chained & (ahead == 0)),
            self.refuse.eq(Mux(self.first, chained & ~in_window, ~chained | (ahead != 1))),
        ]
        with m.If(self.close):
            m.d.sync += chained.eq(0)
        with m.If(self.apply):
            m.d.sync += [last.eq(self.seq), chained.eq(1)]
        return m
