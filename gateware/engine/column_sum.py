"""The column field c_j = sum_i W_ij s_i of a whole column: the energy term of a flip.

A flip of j changes 2E by -2 s_j' (h_j + c_j + b_j + 2 W_jj s_j') (``docs/numerics.md`` §6),
with c_j the column j of W summed against the OLD state; for asymmetric W it is not
available from the fields, so the column the flip reads anyway is summed here, in the same
cycle the field array takes it (the field array's state changes at that clock edge, so the
first register level sees the old state). The refresh uses it as well:
sum_ij W_ij s_i s_j = sum_j s_j c_j, summed over the columns it adds.

Per lane one conditional negation (s_i W_ij, W_BITS + 1 bits), then an N-input
:class:`~hopfield_fpga.gateware.unstable_set.AdderTree` with a register after every
``per_stage`` adder levels: latency ``latency`` cycles, ``valid`` travelling with the sum.

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
        self._tree = AdderTree(config.neurons, config.weight_bits + 1, per_stage=per_stage)
        self.latency = self._tree.latency
        assert self.latency == column_sum_latency(config, per_stage)
        super().__init__({
            "column": In(config.neurons * config.weight_bits),
            "states": In(config.neurons),
            "valid_in": In(1),
            "total": Out(signed(self._tree.out_width)),
            "valid_out": Out(1),
        })

    def elaborate(self, platform):
        n, wb = self.config.neurons, self.config.weight_bits
        m = Module()
        m.submodules.tree = tree = self._tree
        for i in range(n):
            w = self.column[i * wb:(i + 1) * wb].as_signed()
            term = Signal(signed(wb + 1), name=f"t{i}")
            m.d.comb += [term.eq(Mux(self.states[i], w, -w)), tree.inputs[i].eq(term)]
        m.d.comb += [tree.valid_in.eq(self.valid_in), tree.first_in.eq(0),
                     self.total.eq(tree.total), self.valid_out.eq(tree.valid_out)]
        return m
