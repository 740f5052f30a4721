"""RECALL_MANY's per-probe seeds (``protocol.RunFlags.PROBE_SEEDS``, protocol version 8).

With the flag, each probe of a RECALL_MANY carries its own generator state
(``protocol.PROBE_SEED``, least significant byte first) before its packed state bits. The
command engine pulses ``start`` as it begins loading a probe (and in VALIDATE, for every
request, so that nothing is left over from a refused one); while ``loading`` is high, the
payload's next bytes are the seed's (``take`` with ``byte``). ``seed`` is what the run gets:
the probe's own state with the flag, else the header's seed field.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga import protocol as P

__all__ = ["ProbeSeeds"]

_SEED_BITS = 8 * P.PROBE_SEED.size


class ProbeSeeds(wiring.Component):
    """Members
    -------
    flags: In(8), header_seed: In(32)
        The request header's RunFlags and seed fields.
    many: In(1)
        The request is a RECALL_MANY (only it has per-probe seeds).
    start: In(1)
        A probe's load begins now: with the flag, its seed's bytes come first.
    take: In(1), byte: In(8)
        ``byte`` is the seed's next byte (while ``loading``).
    flag: Out(1)
        The header asks for per-probe seeds (any command: RUN and RECALL refuse it).
    loading: Out(1)
        Bytes of the current probe's seed are still to come.
    seed: Out(32)
        The run's seed.
    """

    flags: In(8)
    header_seed: In(_SEED_BITS)
    many: In(1)
    start: In(1)
    take: In(1)
    byte: In(8)
    flag: Out(1)
    loading: Out(1)
    seed: Out(_SEED_BITS)

    def elaborate(self, platform):
        m = Module()
        size = P.PROBE_SEED.size
        left = Signal(range(size + 1))      # seed bytes still to come
        own = Signal(_SEED_BITS)            # the probe's seed, shifted in from the top
        m.d.comb += [
            self.flag.eq((self.flags & int(P.RunFlags.PROBE_SEEDS)) != 0),
            self.loading.eq(left != 0),
            self.seed.eq(Mux(self.flag, own, self.header_seed)),
        ]
        with m.If(self.start):
            m.d.sync += left.eq(Mux(self.flag & self.many, size, 0))
        with m.Elif(self.take & self.loading):
            m.d.sync += [own.eq(Cat(own[8:], self.byte)), left.eq(left - 1)]
        return m
