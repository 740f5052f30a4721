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

from hopfield_fpga.numerics import LOGISTIC_BREAKPOINTS, LOGISTIC_ONE, LOGISTIC_VALUES

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
        bps, top = LOGISTIC_BREAKPOINTS, LOGISTIC_BREAKPOINTS[-1]
        # The table's shape keeps this small: the saturation point is a power of two, and every
        # segment starts at a multiple of its (power-of-two) width, so |t| needs only its low
        # bits, the segment test compares a few of them and the offset is a bit slice.
        lb = top.bit_length() - 1
        if top != 1 << lb or any(a % (b - a) or (b - a) & (b - a - 1)
                                 for a, b in zip(bps, bps[1:])):
            raise ValueError(f"LOGISTIC_BREAKPOINTS {bps} are not power-of-two aligned")
        t = self.t
        neg = t[-1]
        if self.t_bits > lb + 1:
            hi = t[lb:]
            # |t| < top: t in [0, top) or t in (-top, 0).
            small = ~hi.any() | (hi.all() & t[:lb].any())
        mag = Signal(lb + 1)                       # |t| when small (at most top - 1)
        low = t[:lb + 1] if self.t_bits > lb + 1 else t    # |t| mod 2**(lb + 1) suffices
        m.d.comb += mag.eq(Mux(neg, -low, low))
        if self.t_bits <= lb + 1:
            small = ~mag[lb]                       # |t| <= top: only -top reaches bit lb
        y0 = Signal(range(LOGISTIC_ONE + 1))
        dy = Signal(range(LOGISTIC_ONE))
        off = Signal(max(b - a for a, b in zip(bps, bps[1:])).bit_length())
        shift = Signal(range(16))
        # Segments are tested from the top so the last true condition is the segment of |t|.
        for k in range(len(bps) - 1):
            x0, x1 = bps[k], bps[k + 1]
            w = (x1 - x0).bit_length() - 1
            with m.If(mag[w:lb] >= (x0 >> w)):
                m.d.comb += [
                    y0.eq(LOGISTIC_VALUES[k]),
                    dy.eq(LOGISTIC_VALUES[k + 1] - LOGISTIC_VALUES[k]),
                    off.eq(mag[:w]),
                    shift.eq(w),
                ]
        interp = Signal(range(LOGISTIC_ONE + 1))
        m.d.comb += interp.eq(y0 + ((dy * off) >> shift))
        pos = Signal(range(LOGISTIC_ONE + 1))
        m.d.comb += pos.eq(Mux(small, interp, LOGISTIC_ONE))
        m.d.comb += self.p.eq(Mux(neg, LOGISTIC_ONE - pos, pos))
        return m
