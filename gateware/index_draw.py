"""One step of the index draw of ``docs/numerics.md`` §5: candidate and acceptance of a word.

The draw of a uniform index in [0, n) takes words until one is accepted; each word gives the
candidate ``word >> (32 - m)`` with m = bitlen(n - 1) (0 when n = 1) and is accepted when the
candidate is below n. :class:`IndexDraw` is that test for one word, combinational, for an n
that may change at run time (the unstable-set size of the rejection_free order) or is fixed.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["IndexDraw", "draw_candidate"]


def draw_candidate(m: Module, word, nm1, mbits: int, name: str = "cand") -> Signal:
    """The candidate of ``word`` for the range [0, n), given n - 1 as ``nm1``: its top
    m = bitlen(n - 1) bits (0 when m = 0). ``mbits`` is the widest m (bitlen(max_n - 1)).
    It is accepted when it is at most n - 1 (and n != 0)."""
    cand = Signal(max(1, mbits), name=name)
    m.d.comb += cand.eq(0)
    for bits in range(1, mbits + 1):
        # nm1 >= 2**(bits - 1): a bit at or above bits - 1 is set (no comparator needed).
        with m.If(nm1[bits - 1:].any()):
            m.d.comb += cand.eq(word[32 - bits:])
    return cand


class IndexDraw(wiring.Component):
    """Candidate index of a 32-bit word for the range [0, n), 1 <= n <= ``max_n``.

    Members
    -------
    word: In(32), a word just drawn.
    n: In(range(max_n + 1)), the size of the range (n = 0 is never accepted).
    index: Out(range(max_n)), the candidate ``word >> (32 - bitlen(n - 1))``.
    accept: Out(1), the candidate is below n.
    """

    def __init__(self, max_n: int):
        if not isinstance(max_n, int) or isinstance(max_n, bool) or not 1 <= max_n < 1 << 32:
            raise ValueError(f"max_n must be an integer from 1 to 2**32-1, not {max_n!r}")
        self.max_n = max_n
        self.mbits = (max_n - 1).bit_length()
        super().__init__({
            "word": In(32),
            "n": In(range(max_n + 1)),
            "index": Out(max(1, self.mbits)),
            "accept": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        nm1 = Signal(range(self.max_n + 1))
        m.d.comb += nm1.eq(self.n - 1)
        cand = draw_candidate(m, self.word, nm1, self.mbits)
        m.d.comb += [
            self.index.eq(cand),
            self.accept.eq((self.n != 0) & (cand < self.n)),
        ]
        return m
