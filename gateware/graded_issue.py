"""The graded engine's issuer: hands the neurons of a summed chunk to the update pipeline.

:class:`GradedIssuer` takes the K fields of a chunk from :class:`~.graded_mac.GradedMac` at its
``hand_over`` (with the chunk's biases, read from the bias memory at the MAC's ``chunk``) and
holds them while it issues the chunk's neurons, one per cycle in which the pipeline advances,
each with its field plus its bias (``docs/numerics.md`` §11.4: h_i + b_i, the bias in the
field's fixed point). Holding them lets the MAC sum the next chunk meanwhile. ``init_go``
issues every neuron for the initial pass (whose fields the pipeline ignores).

Members
-------
advance: In(1): the update pipeline moves this cycle (a neuron issued now enters it).
hand_over: In(1), chunk: In(range(C + 1)), fields: In(signed(graded_acc_bits)).array(K):
    the MAC's hand-over of chunk ``chunk``'s sums.
bias: In(K * B_BITS): the chunk's biases, read at the MAC's ``chunk`` (valid at hand_over).
init_go: In(1), pulse: issue neurons 0..N-1 (the initial pass).
active: Out(1): neurons of the held chunk are left to issue (the MAC waits until it is 0).
issue: Out(1): neuron ``i`` enters the pipeline this cycle (active and advance).
i: Out(range(N + 1)): the neuron issued next.
field: Out(signed(graded_acc_bits)): its field plus its bias.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.numerics import GRADED_V_FRAC

__all__ = ["GradedIssuer"]


class GradedIssuer(wiring.Component):
    def __init__(self, config: NetworkConfig):
        self.config = config
        n, k, c = config.neurons, config.lanes, config.chunks
        acc = signed(config.graded_acc_bits)
        super().__init__({
            "advance": In(1),
            "hand_over": In(1), "chunk": In(range(c + 1)), "fields": In(acc).array(k),
            "bias": In(k * config.bias_bits),
            "init_go": In(1),
            "active": Out(1), "issue": Out(1), "i": Out(range(n + 1)), "field": Out(acc),
        })

    def elaborate(self, platform):
        cfg = self.config
        n, k_lanes, chunks, bb = cfg.neurons, cfg.lanes, cfg.chunks, cfg.bias_bits
        m = Module()
        hold = [Signal.like(self.field, name=f"hold{l}") for l in range(k_lanes)]
        hold_bias = Signal(k_lanes * bb)
        lane = Signal(range(k_lanes + 1))
        last = Signal(range(n + 1))      # the last neuron to issue from the held chunk

        with m.Switch(lane):
            for l in range(k_lanes):
                with m.Case(l):
                    m.d.comb += self.field.eq(
                        hold[l] + hold_bias[l * bb:(l + 1) * bb].as_signed().shift_left(
                            GRADED_V_FRAC))

        m.d.comb += self.issue.eq(self.active & self.advance)
        with m.If(self.issue):
            m.d.sync += [self.i.eq(self.i + 1), lane.eq(lane + 1)]
            with m.If(self.i == last):
                m.d.sync += self.active.eq(0)
        with m.If(self.init_go):
            m.d.sync += [self.active.eq(1), self.i.eq(0), lane.eq(0), last.eq(n - 1)]
        with m.If(self.hand_over):
            c = self.chunk
            m.d.sync += [h.eq(a) for h, a in zip(hold, self.fields)]
            m.d.sync += [hold_bias.eq(self.bias), self.active.eq(1),
                         self.i.eq(c * k_lanes), lane.eq(0),
                         last.eq(Mux(c == chunks - 1, n - 1, c * k_lanes + k_lanes - 1))]
        return m
