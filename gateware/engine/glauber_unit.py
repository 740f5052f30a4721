"""The Glauber decision of a stochastic visit (``docs/numerics.md`` §8), in two stages.

A visit of j at inverse temperature beta sets s_j = +1 when (r >> 16) < p, with r the visit's
Glauber word and p = ``numerics.glauber_threshold(beta, h_j)`` = logistic_p16(2 beta h_j).
The unit takes h_j, beta and the top half of r in one cycle and gives the decision
``latency`` = 2 cycles later:

1. t = 2 beta h_j (one ACC_BITS x BETA_BITS multiply) is registered with the word;
2. :class:`~hopfield_fpga.gateware.logistic.LogisticCompare` registers its segment's
   multiply and the word's threshold, and ``up`` = (word < p) is one compare of those
   registers (p is never formed: the logistic's shift, add and mirror are off the multiply's
   path), ``valid_out`` following ``valid`` by the same latency. Nothing depends on the unit's previous inputs, so it takes one
visit per cycle.

Members
-------
valid: In(1); h: In(signed(ACC_BITS)); beta: In(BETA_BITS), Q8.8; word: In(16), r >> 16.
valid_out: Out(1); up: Out(1), the new state (1 = +1) of the visit given ``latency`` cycles
before.
latency: 2 (attribute).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.numerics import BETA_BITS
from ..logistic import LogisticCompare

__all__ = ["GlauberUnit"]


class GlauberUnit(wiring.Component):
    latency = 2

    def __init__(self, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        self.config = config
        # t = 2 beta h: ACC_BITS signed times BETA_BITS unsigned, one more bit for the 2.
        self.t_bits = config.acc_bits + BETA_BITS + 2
        super().__init__({
            "valid": In(1), "h": In(signed(config.acc_bits)), "beta": In(BETA_BITS),
            "word": In(16),
            "valid_out": Out(1), "up": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.logistic = logistic = LogisticCompare(self.t_bits)
        t = Signal(signed(self.t_bits))
        word1 = Signal(16)
        valid1, valid2 = Signal(), Signal()
        m.d.sync += [t.eq((self.h * self.beta) << 1), word1.eq(self.word), valid1.eq(self.valid),
                     valid2.eq(valid1)]
        m.d.comb += [logistic.t.eq(t), logistic.word.eq(word1), self.up.eq(logistic.up),
                     self.valid_out.eq(valid2)]
        return m
