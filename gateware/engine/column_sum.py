"""The column field c_j = sum_i W_ij s_i of a whole column: the energy term of a flip.

A flip of j changes 2E by -2 s_j' (h_j + c_j + b_j + 2 W_jj s_j') (``docs/numerics.md`` §6),
with c_j the column j of W summed against the OLD state; for asymmetric W it is not
available from the fields, so the column the flip reads anyway is summed here, in the same
cycle the field array takes it (the field array's state changes at that clock edge, so the
first register level sees the old state). The refresh uses it as well:
sum_ij W_ij s_i s_j = sum_j s_j c_j, summed over the columns it adds.

Per lane s_i W_ij = (W_ij ^ m_i) + m_i with m_i = [s_i = -1]: the complement is one XOR a
bit, and the m_i go in as the carry-ins of the sum's adders (an N-input tree has N - 1
adders: each takes the carry its left input brings and passes its right input's up, so a
subtree of L lanes brings one carry and holds L - 1). Lane 0 has none: its s_0 W_0j is
negated as it is (W_BITS + 1 bits, the path above it one bit wider), so the root brings
none. Against a conditional negation a lane (a carry chain each) and a W_BITS + 1-bit tree
this is 858 to 522 LUT4s (a CCU2C as two) at N = 64 (docs/engine.md, "The column engine at
N = 1024 on the 85F"); written ``(Cat(c, a) + Cat(c, b)) >> 1`` (one carry chain for sure)
the adders were 675. A register after every ``per_stage`` adder levels (carries that cross
it are registered with their node): latency ``latency`` cycles, ``valid`` travelling with
the sum.

Members
-------
column: In(N * W_BITS), W_ij of lane i at bits [i W, (i+1) W).
states: In(N), s_i (1 = +1).
valid_in: In(1).
total: Out(signed), c_j, ``latency`` cycles after its column.
valid_out: Out(1).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import NetworkConfig
from ..unstable_set import AdderTree
from .common import check_int

__all__ = ["ColumnSum", "column_sum_latency"]


def column_sum_latency(config: NetworkConfig, per_stage: int = 2) -> int:
    """L: cycles from a column to its sum (the adder tree's log2 N levels, ``per_stage`` of
    them per register)."""
    return -(-max(1, (config.neurons - 1).bit_length()) // per_stage)


class ColumnSum(wiring.Component):
    def __init__(self, config: NetworkConfig, *, per_stage: int = 2):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        check_int("per_stage", per_stage, 1, 64)
        self.config = config
        self.per_stage = per_stage
        self.latency = AdderTree.latency_of(config.neurons, per_stage)
        assert self.latency == column_sum_latency(config, per_stage)
        width = config.weight_bits + 1 + (config.neurons - 1).bit_length()
        super().__init__({
            "column": In(config.neurons * config.weight_bits),
            "states": In(config.neurons),
            "valid_in": In(1),
            "total": Out(signed(width)),
            "valid_out": Out(1),
        })

    def elaborate(self, platform):
        n, wb = self.config.neurons, self.config.weight_bits
        m = Module()
        # (value, carry still to add or None) a node; lane 0 is exact, the others bring m_i
        w0 = self.column[:wb].as_signed()
        nodes = [(Mux(self.states[0], w0, -w0), None)]
        for i in range(1, n):
            x = Signal(signed(wb), name=f"x{i}")
            minus = ~self.states[i]
            m.d.comb += x.eq(self.column[i * wb:(i + 1) * wb] ^ minus.replicate(wb))
            nodes.append((x, minus))
        valid = self.valid_in
        levels = max(1, (n - 1).bit_length())
        for level in range(levels):
            registered = (level + 1) % self.per_stage == 0 or level == levels - 1
            domain = m.d.sync if registered else m.d.comb
            nxt = []
            for i in range(0, len(nodes), 2):
                (a, ca), rest = nodes[i], nodes[i + 1:i + 2]
                if rest:
                    (b, cb), = rest
                    if ca is None:                 # the subtree of lane 0 brings none
                        ca, cb = cb, None
                    assert ca is not None
                    value = a + b + ca
                    width = max(len(a), len(b)) + 1
                else:
                    value, cb, width = a, ca, len(a)
                r = Signal(signed(width), name=f"l{level}_{i // 2}")
                domain += r.eq(value)
                carry = cb
                if cb is not None and registered:
                    carry = Signal(name=f"l{level}_{i // 2}_c")
                    m.d.sync += carry.eq(cb)
                nxt.append((r, carry))
            nodes = nxt
            if registered:
                v = Signal(name=f"l{level}_valid")
                m.d.sync += v.eq(valid)
                valid = v
        (total, carry), = nodes
        assert carry is None
        m.d.comb += [self.total.eq(total), self.valid_out.eq(valid)]
        return m
