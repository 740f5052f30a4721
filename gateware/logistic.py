"""The piecewise-linear logistic of ``docs/numerics.md`` §8 (``numerics.logistic_p16``).

:class:`Logistic` maps the fixed-point argument t = 2 beta h (LOGISTIC_T_FRAC fractional bits)
to p = P(s = +1) * 65536 in [0, 65536]: interpolation between LOGISTIC_BREAKPOINTS (every
segment a power of two wide, so the division is a shift), rounded down, mirrored for t < 0,
saturated for |t| >= the last breakpoint. Combinational: one small multiply (slope times
offset, at most 13 x 9 bits); the engine registers its input and output.

:class:`LogisticCompare` decides word < p instead, in two halves split by a register: the
segment's multiply and a threshold from the word before it, one compare after it (p itself is
never formed, so the shift, the add and the mirror leave the multiply's path).
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.numerics import LOGISTIC_BREAKPOINTS, LOGISTIC_ONE, LOGISTIC_VALUES

__all__ = ["Logistic", "LogisticCompare"]


def _check_t_bits(t_bits) -> None:
    if not isinstance(t_bits, int) or isinstance(t_bits, bool) or t_bits < 2:
        raise ValueError(f"t_bits must be an integer of at least 2, not {t_bits!r}")


def _segment(m: Module, t, t_bits: int) -> SimpleNamespace:
    """The segment of |t| (combinational): neg (t < 0), small (|t| below the last
    breakpoint), y0 and dy (its start value and rise), off (|t| within it), shift (log2 of
    its width). p = logistic_p16(t) is then pos = small ? y0 + ((dy * off) >> shift) : ONE,
    mirrored (ONE - pos) when neg."""
    bps, top = LOGISTIC_BREAKPOINTS, LOGISTIC_BREAKPOINTS[-1]
    # The table's shape keeps this small: the saturation point is a power of two, and every
    # segment starts at a multiple of its (power-of-two) width, so |t| needs only its low
    # bits, the segment test compares a few of them and the offset is a bit slice.
    lb = top.bit_length() - 1
    if top != 1 << lb or any(a % (b - a) or (b - a) & (b - a - 1)
                             for a, b in zip(bps, bps[1:])):
        raise ValueError(f"LOGISTIC_BREAKPOINTS {bps} are not power-of-two aligned")
    neg = t[-1]
    if t_bits > lb + 1:
        hi = t[lb:]
        # |t| < top: t in [0, top) or t in (-top, 0).
        small = ~hi.any() | (hi.all() & t[:lb].any())
    mag = Signal(lb + 1)                       # |t| when small (at most top - 1)
    low = t[:lb + 1] if t_bits > lb + 1 else t    # |t| mod 2**(lb + 1) suffices
    m.d.comb += mag.eq(Mux(neg, -low, low))
    if t_bits <= lb + 1:
        small = ~mag[lb]                       # |t| <= top: only -top reaches bit lb
    widths = [(b - a).bit_length() - 1 for a, b in zip(bps, bps[1:])]
    s = SimpleNamespace(neg=neg, small=small, y0=Signal(range(LOGISTIC_ONE + 1)),
                        dy=Signal(range(LOGISTIC_ONE)), off=Signal(max(widths)),
                        shift=Signal(range(max(widths) + 1)), index=Signal(range(len(widths))))
    # Segments are tested from the top so the last true condition is the segment of |t|.
    for k, w in enumerate(widths):
        with m.If(mag[w:lb] >= (bps[k] >> w)):
            m.d.comb += [
                s.y0.eq(LOGISTIC_VALUES[k]),
                s.dy.eq(LOGISTIC_VALUES[k + 1] - LOGISTIC_VALUES[k]),
                s.off.eq(mag[:w]),
                s.shift.eq(w),
                s.index.eq(k),
            ]
    s.widths = widths
    return s


class Logistic(wiring.Component):
    """p = logistic_p16(t) for a signed ``t_bits``-wide t.

    Members
    -------
    t: In(signed(t_bits)).
    p: Out(range(LOGISTIC_ONE + 1)).
    """

    def __init__(self, t_bits: int):
        _check_t_bits(t_bits)
        self.t_bits = t_bits
        super().__init__({"t": In(signed(t_bits)), "p": Out(range(LOGISTIC_ONE + 1))})

    def elaborate(self, platform):
        m = Module()
        s = _segment(m, self.t, self.t_bits)
        interp = Signal(range(LOGISTIC_ONE + 1))
        m.d.comb += interp.eq(s.y0 + ((s.dy * s.off) >> s.shift))
        pos = Signal(range(LOGISTIC_ONE + 1))
        m.d.comb += pos.eq(Mux(s.small, interp, LOGISTIC_ONE))
        m.d.comb += self.p.eq(Mux(s.neg, LOGISTIC_ONE - pos, pos))
        return m


class LogisticCompare(wiring.Component):
    """up = word < logistic_p16(t), one cycle after t and word (a register inside).

    With q = (dy * off) >> shift and pos = y0 + q (``_segment``): for t >= 0, word < pos
    is dy * off >= (word - y0 + 1) << shift; for t < 0, word < ONE - pos is
    dy * off < (ONE - y0 - word) << shift (floor(x / 2**w) < c is x < c 2**w for an integer
    c). Both thresholds are (u + 1 - y0) << shift with u = word, or ~word = 65535 - word
    (ONE = 65536), and 1 - y0 a constant per segment, so the register takes the product and the threshold, and after it one
    compare remains: up = small ? neg ^ (product >= threshold) : ~neg (p = 65536 or 0).

    Members
    -------
    t: In(signed(t_bits)); word: In(16).
    up: Out(1), of the t and word given the cycle before.
    """

    def __init__(self, t_bits: int):
        _check_t_bits(t_bits)
        self.t_bits = t_bits
        super().__init__({"t": In(signed(t_bits)), "word": In(16), "up": Out(1)})

    def elaborate(self, platform):
        m = Module()
        s = _segment(m, self.t, self.t_bits)
        const = Signal(signed(18))                  # C = 1 - y0, a constant per segment
        with m.Switch(s.index):
            for k in range(len(s.widths)):
                with m.Case(k):
                    m.d.comb += const.eq(1 - LOGISTIC_VALUES[k])
        u = Signal(16)                              # word, or 65535 - word when neg
        m.d.comb += u.eq(self.word ^ s.neg.replicate(16))
        base = Signal(signed(19))
        m.d.comb += base.eq(u + const)
        product = Signal(len(s.dy) + len(s.off))
        threshold = Signal(signed(len(base) + max(s.widths)))
        neg, small = Signal(), Signal()
        m.d.sync += [product.eq(s.dy * s.off), threshold.eq(base << s.shift),
                     neg.eq(s.neg), small.eq(s.small)]
        m.d.comb += self.up.eq(Mux(small, neg ^ (product >= threshold), ~neg))
        return m
