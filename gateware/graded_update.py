"""The graded engine's update arithmetic: from a neuron's field to its new u and the sigmoid's x.

:class:`GradedUpdate` is stages 1 to 6 of the update pipeline of ``docs/numerics.md`` §11.4
and §11.3, one neuron a cycle while ``advance`` is high (the trace's back-pressure stalls it):

1. the field f = sum_j w_ij v_j + b_i << V_FRAC, issued with u_i read at issue;
2. r = (f << leak_shift) - u_i (the field and the leak);
3. q = dt_m r;
4. du = round(q >> (dt_e + leak_shift));
5. u' = sat(u_i + du) (u_i read again, addressed by the neuron in stage 3; the initial pass
   keeps u);
6. p = gain_m u', and x = sat(round(p >> gain_e)) goes to the sigmoid.

The engine (:class:`~.graded_engine.GradedEngine`) owns the memories: it reads u for stages
1 and 5 (``u_issue`` and ``u_again``, addressed by ``issue_i`` and ``s3_i``), takes stage 5's
u and u' for max |du| and writes stage 6's u'.

Members
-------
advance: In(1); params: In(RunParams); du_shift: In: dt_e + leak_shift; init_pass: In(1).
issue: In(1), issue_i: In(range(N + 1)), field: In(signed(graded_acc_bits)): the neuron issued.
u_issue: In(signed(u_bits)): u of the neuron in stage 1 (read at issue).
s3_i: Out: the neuron in stage 3 (the second u read's address); u_again: In, its u one cycle
    later.
s5_valid, s5_u, s5_un: Out: stage 5's neuron, its old and its new u.
s6_valid, s6_i, s6_un: Out: stage 6's neuron and its new u (to write).
x: Out(signed(GRADED_X_BITS)): the sigmoid's input, registered when ``advance``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.numerics import (GRADED_EXP_BITS, GRADED_FACTOR_BITS, GRADED_LEAK_SHIFT_BITS,
                                    GRADED_X_BITS)
from .fixed_point import round_shift, saturate
from .graded_ports import RunParams

__all__ = ["GradedUpdate"]


class GradedUpdate(wiring.Component):
    def __init__(self, config: NetworkConfig):
        self.config = config
        n, a_bits, u_bits = config.neurons, config.graded_acc_bits, config.graded_u_bits
        index = range(n + 1)
        super().__init__({
            "advance": In(1), "params": In(RunParams), "init_pass": In(1),
            "du_shift": In(range(2 * (1 << GRADED_EXP_BITS) + (1 << GRADED_LEAK_SHIFT_BITS))),
            "issue": In(1), "issue_i": In(index), "field": In(signed(a_bits)),
            "u_issue": In(signed(u_bits)),
            "s3_i": Out(index), "u_again": In(signed(u_bits)),
            "s5_valid": Out(1), "s5_u": Out(signed(u_bits)), "s5_un": Out(signed(u_bits)),
            "s6_valid": Out(1), "s6_i": Out(index), "s6_un": Out(signed(u_bits)),
            "x": Out(signed(GRADED_X_BITS)),
        })

    def elaborate(self, platform):
        cfg = self.config
        n, a_bits, u_bits = cfg.neurons, cfg.graded_acc_bits, cfg.graded_u_bits
        params = self.params
        m = Module()

        def stage(shape, name):
            # only the valid bits need a reset
            return Signal(shape, name=name, reset_less=not name.endswith("valid"))

        s1 = dict(valid=stage(1, "s1_valid"), i=stage(range(n + 1), "s1_i"),
                  f=stage(signed(a_bits), "s1_f"))
        s2 = dict(valid=stage(1, "s2_valid"), i=stage(range(n + 1), "s2_i"),
                  r=stage(signed(a_bits + 8), "s2_r"))
        s3 = dict(valid=stage(1, "s3_valid"), i=stage(range(n + 1), "s3_i"),
                  q=stage(signed(a_bits + 8 + GRADED_FACTOR_BITS + 1), "s3_q"))
        s4 = dict(valid=stage(1, "s4_valid"), i=stage(range(n + 1), "s4_i"),
                  du=stage(signed(len(s3["q"]) + 1), "s4_du"))
        s5 = dict(valid=stage(1, "s5_valid"), i=stage(range(n + 1), "s5_i"),
                  u=stage(signed(u_bits), "s5_u"), un=stage(signed(u_bits), "s5_un"))
        s6 = dict(valid=stage(1, "s6_valid"), i=stage(range(n + 1), "s6_i"),
                  un=stage(signed(u_bits), "s6_un"),
                  p=stage(signed(u_bits + GRADED_FACTOR_BITS + 1), "s6_p"))
        m.d.comb += [self.s5_valid.eq(s5["valid"]), self.s5_u.eq(s5["u"]),
                     self.s5_un.eq(s5["un"]), self.s6_valid.eq(s6["valid"]),
                     self.s6_i.eq(s6["i"]), self.s6_un.eq(s6["un"])]
        x = stage(signed(GRADED_X_BITS), "x")
        # the second read of u: addressed by the neuron in s3, its data arrives with it in s4
        u4 = self.u_again
        m.d.comb += self.s3_i.eq(s3["i"])
        with m.If(self.advance):
            m.d.sync += [
                s1["valid"].eq(self.issue), s1["i"].eq(self.issue_i), s1["f"].eq(self.field),
                s2["valid"].eq(s1["valid"]), s2["i"].eq(s1["i"]),
                s2["r"].eq((s1["f"] << params.leak_shift) - self.u_issue),
                s3["valid"].eq(s2["valid"]), s3["i"].eq(s2["i"]),
                s3["q"].eq(params.dt_m * s2["r"]),
                s4["valid"].eq(s3["valid"]), s4["i"].eq(s3["i"]),
                s4["du"].eq(round_shift(s3["q"], self.du_shift)),
                s5["valid"].eq(s4["valid"]), s5["i"].eq(s4["i"]), s5["u"].eq(u4),
                s5["un"].eq(Mux(self.init_pass, u4, saturate(u4 + s4["du"], u_bits))),
                s6["valid"].eq(s5["valid"]), s6["i"].eq(s5["i"]),
                s6["un"].eq(s5["un"]), s6["p"].eq(params.gain_m * s5["un"]),
                x.eq(saturate(round_shift(s6["p"], params.gain_e), GRADED_X_BITS)),
            ]
        m.d.comb += self.x.eq(x)
        return m
