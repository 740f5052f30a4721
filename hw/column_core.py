"""The column engine's datapath core alone, for placement and routing experiments.

:class:`ColumnCore` is what grows with N in the column engine
(:class:`~hopfield_fpga.gateware.engine.column_engine.ColumnEngine`): the weight store, the
field array, the pick of h_j and the two selectors that read every flag (sequential and
rank), wired as the engine wires them, without its control, energy, Glauber and Hebbian
blocks or the board's link. With ``parts`` = 1 these are the engine's own blocks; with
``parts`` = P > 1 the column comes in P parts, one a cycle, from the weight store in parts
(P times deeper and narrower), into
:class:`~hopfield_fpga.gateware.engine.parted_fields.PartedFieldArray` (about N/P lanes;
``storage`` where they keep their fields), and the pick of h_j is an L:1 pick of the lanes'
reads. ``python -m hopfield_fpga.hw.engine_blocks column_core OUT.il --parts P [--storage
lutram]`` writes it with every port registered (docs/engine.md, "The field array in parts",
has the commands and numbers).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.gateware.engine.column_engine import default_spans
from hopfield_fpga.gateware.engine.field_array import (FieldArray, FieldOp, FieldPick,
                                                       decode_field, held_halves, one_hot_pick)
from hopfield_fpga.gateware.engine.parted_fields import PartedFieldArray, part_lanes
from hopfield_fpga.gateware.engine.select_rejection_free import SelectRank
from hopfield_fpga.gateware.engine.select_sequential import SelectSequential
from hopfield_fpga.gateware.engine.weight_store import WeightStore

__all__ = ["ColumnCore"]


class ColumnCore(wiring.Component):
    """Weight store, field array, pick and selectors of N neurons, the column in ``parts``
    parts (see the module docstring). Its ports are the blocks' own: the column read (j
    and, with parts, the part read, which the lanes add a cycle later), a chunk write, the
    field array's operation, the pick's index (j; with parts, j's lane j mod L, while the
    lanes read j's part), the selectors' pos and rank, and their results."""

    def __init__(self, config: NetworkConfig, parts: int = 1, spans=None,
                 storage: str = "registers"):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        n, k, wb = config.neurons, config.lanes, config.weight_bits
        self.config, self.parts, self.storage = config, parts, storage
        self.spans = default_spans(n) if spans is None else spans
        # built here, so that a bad ``parts`` is refused before elaboration
        self.store = WeightStore(config, parts=parts)
        self.lanes = part_lanes(n, parts, k)
        self.chunks = self.lanes // k
        f = config.acc_bits + 1
        super().__init__({
            "read_addr": In(range(n)), "part": In(range(parts)), "flip_part": In(1),
            "write_addr": In(range(n)), "write_part": In(range(parts)),
            "write_chunk": In(range(self.chunks)),
            "write_data": In(k * wb), "write_en": In(1),
            "op": In(FieldOp), "sign": In(1), "chunk": In(range(self.chunks)),
            "fields_in": In(k * f), "states_in": In(k), "held": In(n),
            "pick_index": In(range(n)), "pick_load": In(1),
            "pos": In(range(n)), "rank": In(range(n)),
            "found": Out(1), "index": Out(range(n)), "skip": Out(range(n)),
            "count": Out(range(n + 1)), "rank_index": Out(range(n)),
            "h": Out(config.acc_bits), "s": Out(1),
        })

    def elaborate(self, platform):
        cfg, parts = self.config, self.parts
        n, k, wb = cfg.neurons, cfg.lanes, cfg.weight_bits
        m = Module()
        if parts == 1:
            m.submodules.store = store = self.store
            port = store.ports[0]
            m.submodules.fields = fa = FieldArray(cfg)
            m.submodules.pick = pick = FieldPick(cfg)
            m.d.comb += [port.read_addr.eq(self.read_addr), port.read_en.eq(1),
                         port.write_addr.eq(self.write_addr),
                         port.write_chunk.eq(self.write_chunk),
                         port.write_data.eq(self.write_data), port.write_en.eq(self.write_en),
                         fa.column.eq(port.column[:n * wb]),
                         pick.fields.eq(fa.fields), pick.states.eq(fa.states),
                         pick.held.eq(self.held), pick.index.eq(self.pick_index),
                         pick.load.eq(self.pick_load),
                         fa.index_lo.eq(pick.lines_lo), fa.index_hi.eq(pick.lines_hi),
                         self.h.eq(pick.h), self.s.eq(pick.s)]
        else:
            lanes = self.lanes
            m.submodules.store = store = self.store
            port = store.ports[0]
            m.d.comb += [port.read_addr.eq(self.read_addr), port.read_part.eq(self.part),
                         port.read_en.eq(1),
                         port.write_addr.eq(self.write_addr), port.write_part.eq(self.write_part),
                         port.write_chunk.eq(self.write_chunk),
                         port.write_data.eq(self.write_data), port.write_en.eq(self.write_en)]
            m.submodules.fields = fa = PartedFieldArray(cfg, parts, self.storage)
            f = fa.field_bits
            # the pick of lane j mod L (its decode held, as FieldPick holds j's); the lanes
            # read the part whose column the store reads now a cycle later, j's when the
            # part read the cycle before was j's
            lo, hi = held_halves(m, self.pick_index[:max(1, (lanes - 1).bit_length())],
                                 self.pick_load, "j")
            words = [fa.lane_fields[l * (f + 1):(l + 1) * (f + 1)] for l in range(lanes)]
            picked = Signal(f + 1)
            m.d.comb += [picked.eq(one_hot_pick(words, lo, hi)),
                         fa.column.eq(port.column[:lanes * wb]), fa.next_part.eq(self.part),
                         fa.flip_part.eq(self.flip_part),
                         fa.lane_lo.eq(Cat(*lo)), fa.lane_hi.eq(Cat(*hi)),
                         self.h.eq(decode_field(picked[:f].as_signed(), picked[f])),
                         self.s.eq(picked[f])]
        m.d.comb += [fa.op.eq(self.op), fa.sign.eq(self.sign), fa.chunk.eq(self.chunk),
                     fa.fields_in.eq(self.fields_in), fa.states_in.eq(self.states_in),
                     fa.held.eq(self.held)]
        seq_span, tree_span, walk_span = self.spans
        m.submodules.sel_seq = seq = SelectSequential(n, seq_span)
        m.submodules.sel_rank = rank = SelectRank(n, tree_span, walk_span)
        m.d.comb += [seq.flags.eq(fa.flags), seq.pos.eq(self.pos), rank.flags.eq(fa.flags),
                     rank.rank.eq(self.rank), self.found.eq(seq.found),
                     self.index.eq(seq.index), self.skip.eq(seq.skip),
                     self.count.eq(rank.count), self.rank_index.eq(rank.index)]
        return m
