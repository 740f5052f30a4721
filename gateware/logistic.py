"""The piecewise-linear logistic of ``docs/numerics.md`` §8 (``numerics.logistic_p16``).

:class:`Logistic` maps the fixed-point argument t = 2 beta h (LOGISTIC_T_FRAC fractional bits)
to p = P(s = +1) * 65536 in [0, 65536]: interpolation between LOGISTIC_BREAKPOINTS (every
segment a power of two wide, so the division is a shift), rounded down, mirrored for t < 0,
saturated for |t| >= the last breakpoint. Combinational: one small multiply (slope times
offset, at most 13 x 9 bits); the engine registers its input and output.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..numerics import LOGISTIC_BREAKPOINTS, LOGISTIC_ONE, LOGISTIC_VALUES

__all__ = ["Logistic"]


class Logistic(wiring.Component):
    """p = logistic_p16(t) for a signed ``t_bits``-wide t.

    Members
    -------
    t: In(signed(t_bits)).
    p: Out(range(LOGISTIC_ONE + 1)).
    """

    def __init__(self, t_bits: int):
        if not isinstance(t_bits, int) or isinstance(t_bits, bool) or t_bits < 2:
            raise ValueError(f"t_bits must be an integer of at least 2, not {t_bits!r}")
        self.t_bits = t_bits
        super().__init__({"t": In(signed(t_bits)), "p": Out(range(LOGISTIC_ONE + 1))})

    def elaborate(self, platform):
        m = Module()
        top = LOGISTIC_BREAKPOINTS[-1]
        mag = Signal(self.t_bits)
        m.d.comb += mag.eq(Mux(self.t < 0, -self.t, self.t))
        off_bits = max(b - a for a, b in zip(LOGISTIC_BREAKPOINTS, LOGISTIC_BREAKPOINTS[1:]))
        y0 = Signal(range(LOGISTIC_ONE + 1))
        dy = Signal(range(LOGISTIC_ONE))
        off = Signal(range(off_bits))
        shift = Signal(range(16))
        # Segments are tested from the top so the last true condition is the segment of |t|.
        for k in range(len(LOGISTIC_BREAKPOINTS) - 1):
            x0, x1 = LOGISTIC_BREAKPOINTS[k], LOGISTIC_BREAKPOINTS[k + 1]
            with m.If(mag >= x0):
                m.d.comb += [
                    y0.eq(LOGISTIC_VALUES[k]),
                    dy.eq(LOGISTIC_VALUES[k + 1] - LOGISTIC_VALUES[k]),
                    off.eq(mag - x0),
                    shift.eq((x1 - x0).bit_length() - 1),
                ]
        interp = Signal(range(LOGISTIC_ONE + 1))
        m.d.comb += interp.eq(y0 + ((dy * off) >> shift))
        pos = Signal(range(LOGISTIC_ONE + 1))
        m.d.comb += pos.eq(Mux(mag >= top, LOGISTIC_ONE, interp))
        m.d.comb += self.p.eq(Mux(self.t < 0, LOGISTIC_ONE - pos, pos))
        return m
