"""Helpers of the unstable-set bookkeeping: rank selection within a chunk, and the adder tree.

The engine keeps one bit per neuron (unstable: s_i h_i < 0) and, per chunk of K neurons, the
exclusive prefix count of unstable neurons before it (written in chunk order during every
column pass). The k-th unstable neuron of the rejection_free order (§4) is found by a
parallel compare of all prefix counts (one cycle, up to 64 chunks) or a binary search over them
(one cycle per step), and then by :class:`RankSelect` inside the chunk. :class:`AdderTree`
is the pipelined K-input sum used for the column field and 2E.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RankSelect", "AdderTree", "popcount"]


def popcount(m: Module, bits, name: str) -> Signal:
    """The number of set bits of ``bits``, as LUT-shaped logic: a table per group of four
    bits (one LUT level), then a balanced tree of small adds. (A plain ``sum`` of the bits
    is a chain of adders, one carry chain per bit, which made the engine's select cycle
    slow.)"""
    width = len(bits)
    counts = []
    for g in range(0, width, 4):
        group = bits[g:g + 4]
        n = len(group)
        count = Signal(range(n + 1), name=f"{name}_g{g // 4}")
        with m.Switch(group):
            for v in range(1 << n):
                with m.Case(v):
                    m.d.comb += count.eq(bin(v).count("1"))
        counts.append(count)
    level = 0
    while len(counts) > 1:
        nxt = []
        for i in range(0, len(counts), 2):
            pair = counts[i:i + 2]
            if len(pair) == 1:
                nxt.append(pair[0])
                continue
            s = Signal(range(width + 1), name=f"{name}_s{level}_{i // 2}")
            m.d.comb += s.eq(pair[0] + pair[1])
            nxt.append(s)
        counts, level = nxt, level + 1
    result = Signal(range(width + 1), name=name)
    m.d.comb += result.eq(counts[0])
    return result


class RankSelect(wiring.Component):
    """Position of the set bit of rank ``rank`` (0 = lowest) in ``bits``; combinational.

    Members
    -------
    bits: In(width).
    rank: In(range(width)).
    index: Out(range(width)); 0 when fewer than rank + 1 bits are set (never used so).
    """

    def __init__(self, width: int):
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"width must be a positive integer, not {width!r}")
        self.width = width
        super().__init__({"bits": In(width), "rank": In(range(max(2, width))),
                          "index": Out(range(max(2, width)))})

    def elaborate(self, platform):
        m = Module()
        count = 0
        for i in range(self.width):
            # count = number of set bits below i (a running sum, unrolled).
            with m.If(self.bits[i] & (count == self.rank)):
                m.d.comb += self.index.eq(i)
            count = count + self.bits[i] if i else self.bits[0]
        return m


class AdderTree(wiring.Component):
    """Sum of ``n`` signed ``width``-bit inputs, pipelined with a register after every
    ``per_stage`` adder levels (and after the last one).

    Latency :attr:`latency` = max(1, ceil(ceil(log2 n) / per_stage)) cycles; ``valid`` travels
    with the data, and so does ``first`` (the input starts a new sum: the engine's column
    passes may follow each other so closely that the next pass enters the tree before the
    previous one has left it, so the accumulator restarts on this mark, not on a command).
    Two levels per stage keep the longest path at two short adds.

    Members
    -------
    inputs: In(signed(width)) x n (``inputs[i]``).
    valid_in, first_in: In(1).
    total: Out(signed(out_width)) with out_width = width + ceil(log2 n).
    valid_out, first_out: Out(1).
    """

    @staticmethod
    def latency_of(n: int, per_stage: int) -> int:
        """The latency of a tree over ``n`` inputs with ``per_stage`` levels a register."""
        return -(-max(1, (n - 1).bit_length()) // per_stage)

    def __init__(self, n: int, width: int, *, per_stage: int = 2):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, not {n!r}")
        if not isinstance(per_stage, int) or per_stage < 1:
            raise ValueError(f"per_stage must be a positive integer, not {per_stage!r}")
        self.n, self.width, self.per_stage = n, width, per_stage
        self.levels = max(1, (n - 1).bit_length())
        self.latency = self.latency_of(n, per_stage)
        self.out_width = width + (n - 1).bit_length()
        super().__init__({
            "inputs": In(signed(width)).array(n),
            "valid_in": In(1),
            "first_in": In(1),
            "total": Out(signed(self.out_width)),
            "valid_out": Out(1),
            "first_out": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        values = list(self.inputs)
        valid, first = self.valid_in, self.first_in
        width = self.width
        for level in range(self.levels):
            width += 1
            registered = (level + 1) % self.per_stage == 0 or level == self.levels - 1
            domain = m.d.sync if registered else m.d.comb
            nxt = []
            for i in range(0, len(values), 2):
                r = Signal(signed(width), name=f"l{level}_{i // 2}")
                pair = values[i:i + 2]
                domain += r.eq(pair[0] + pair[1] if len(pair) == 2 else pair[0])
                nxt.append(r)
            values = nxt
            if registered:
                v = Signal(name=f"l{level}_valid")
                f = Signal(name=f"l{level}_first")
                m.d.sync += [v.eq(valid), f.eq(first)]
                valid, first = v, f
        m.d.comb += [self.total.eq(values[0]), self.valid_out.eq(valid),
                     self.first_out.eq(first)]
        return m
