"""Out-of-context measurement of the column-parallel engine's blocks (``gateware/engine/``).

:func:`registered` wraps a block so that every input and output passes through a register:
nextpnr's Fmax of the wrapper is then the block's own register-to-register delay, as it will
be inside the engine (whose inputs come from registers or block RAM). ``python -m
hopfield_fpga.hw.engine_blocks BLOCK OUT.il`` writes the RTLIL of one wrapped block for the
default configuration of the ULX3S-85F (N = 1024, W_BITS = 3, K = 6), elaborated for the
board's platform (so the field lanes' ECP5 carry cells are in it), ``--board`` another
board's default (``ecpix5-85f``: the column engine), ``--neurons`` another N, ``--without
hebbian`` and ``--orders sequential,rejection_free`` the configuration levers of
docs/engine.md ("The column engine at N = 1024 on the 85F") and ``--spans S,T,W`` other
selector stages (default: the engine's, ``default_spans(N)``); ``column_core`` takes
``--parts P`` and ``--storage lutram`` (hw/column_core.py);
docs/engine.md, "Column-parallel engine (in progress)" and "Pipelined selectors", gives the
yosys and nextpnr commands and the numbers.
"""

from __future__ import annotations

import argparse

from amaranth.back import rtlil
from amaranth.hdl import Module, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.gateware.engine.column_engine import ColumnEngine, default_spans
from hopfield_fpga.gateware.engine.column_sum import ColumnSum
from hopfield_fpga.gateware.engine.field_array import FieldArray, FieldPick
from hopfield_fpga.gateware.engine.glauber_unit import GlauberUnit
from hopfield_fpga.gateware.engine.hebbian_column import HebbianColumn
from hopfield_fpga.gateware.engine.parted_fields import STORAGES
from hopfield_fpga.gateware.engine.replicas import ColumnReplicas
from hopfield_fpga.gateware.engine.select_random import DrawWords, SelectRandom, WordWindow
from hopfield_fpga.gateware.engine.select_rejection_free import SelectRank
from hopfield_fpga.gateware.engine.select_sequential import SelectSequential
from hopfield_fpga.gateware.engine.weight_store import WeightStore
from hopfield_fpga.config import Feature, Order
from .boards import BOARDS
from .column_core import ColumnCore

__all__ = ["registered", "BLOCKS", "UNWRAPPED", "main"]

#: Random and rejection_free words tested per cycle in the measured selectors.
MEASURED_WORDS = 4


def registered(block: wiring.Component) -> wiring.Component:
    """``block`` with a register on every port (same flat port names and widths; a port of a
    nested signature, like the engine's streams, is named by its path joined with ``__``)."""
    ports = {"__".join(map(str, path)): (member.flow, Value.cast(value))
             for path, member, value in block.signature.flatten(block)}
    members = {name: (In if flow == wiring.In else Out)(len(value))
               for name, (flow, value) in ports.items()}

    class Registered(wiring.Component):
        def elaborate(self, platform):
            m = Module()
            m.submodules.block = block
            for name, (flow, inner) in ports.items():
                outer = getattr(self, name)
                if flow == wiring.In:
                    m.d.sync += inner.eq(outer)
                else:
                    m.d.sync += outer.eq(inner)
            return m

    return Registered(members)


def _config(board: str = "ulx3s-85f"):
    return BOARDS[board].default_config


#: Each block from (configuration, selector spans: sequential, rank tree, rank walk).
BLOCKS = {
    "field_array": lambda c, spans: FieldArray(c),
    "field_pick": lambda c, spans: FieldPick(c),
    "column_sum": lambda c, spans: ColumnSum(c),
    "select_sequential": lambda c, spans: SelectSequential(c.neurons, spans[0]),
    "select_rank": lambda c, spans: SelectRank(c.neurons, spans[1], spans[2]),
    "select_random": lambda c, spans: SelectRandom(c.neurons, MEASURED_WORDS),
    "draw_words": lambda c, spans: DrawWords(c.neurons, MEASURED_WORDS),
    "word_window": lambda c, spans: WordWindow(MEASURED_WORDS),
    "weight_store": lambda c, spans: WeightStore(c),
    # Two replicas' store (gateware/engine/replicas.py; docs/engine.md, "Replicas").
    "weight_store_replicas": lambda c, spans: WeightStore(c, read_ports=2),
    "column_replicas": lambda c, spans: ColumnReplicas(c.with_(engine="column"), spans=spans),
    "glauber_unit": lambda c, spans: GlauberUnit(c),
    "hebbian_column": lambda c, spans: HebbianColumn(c),
    # The whole engine, for yosys' per-block split (synth_ecp5 -noflatten; docs/engine.md).
    "column_engine": lambda c, spans: ColumnEngine(c.with_(engine="column"), spans=spans),
    # The datapath that grows with N, the column in ``parts`` parts (hw/column_core.py).
    "column_core": lambda c, spans, parts=1, storage="registers":
        ColumnCore(c, parts, spans, storage),
}
#: Blocks written as they are: their ports are registered inside, or are a memory's.
UNWRAPPED = ("weight_store", "weight_store_replicas", "column_engine", "column_replicas")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("block", choices=sorted(BLOCKS))
    parser.add_argument("output", help="RTLIL file to write")
    parser.add_argument("--board", default="ulx3s-85f", choices=sorted(BOARDS),
                        help="whose default configuration (default %(default)s; ecpix5-85f "
                             "is the column engine's)")
    parser.add_argument("--neurons", type=int, default=None,
                        help="N (default: the board's default configuration's)")
    parser.add_argument("--registered", action="store_true",
                        help="register the ports of the blocks otherwise written as they are "
                             "(column_engine): nextpnr's Fmax of the block alone")
    parser.add_argument("--bias-bits", type=int, default=None,
                        help="B_BITS (a smaller N with a wider bias keeps the lanes' ACC_BITS)")
    parser.add_argument("--store-patterns", type=int, default=None,
                        help="the quantized store's pattern buffer (store_patterns; default: "
                             "the configuration's)")
    parser.add_argument("--without", default="",
                        help="features left out, comma-separated (e.g. hebbian)")
    parser.add_argument("--orders", default=None,
                        help="the update orders built, comma-separated (default: the "
                             "configuration's)")
    parser.add_argument("--spans", default=None,
                        help="levels per register stage of the sequential select, the rank "
                             "count tree and the rank walk (0: combinational; default: the "
                             "engine's at this N, e.g. 11,4,3 at N = 1024)")
    parser.add_argument("--parts", type=int, default=None,
                        help="column_core only: the column in this many parts, one a cycle "
                             "(the field array in parts; default 1, the engine's own blocks)")
    parser.add_argument("--storage", choices=STORAGES, default=None,
                        help="column_core with --parts only: where a lane keeps its fields "
                             "(default registers)")
    args = parser.parse_args(argv)
    if (args.parts is not None or args.storage is not None) and args.block != "column_core":
        parser.error("--parts and --storage are parameters of the column_core block only")
    core = {name: value for name, value in (("parts", args.parts), ("storage", args.storage))
            if value is not None}
    try:
        spans = None if args.spans is None else tuple(int(v) for v in args.spans.split(","))
        if spans is not None and (len(spans) != 3 or min(spans) < 0):
            raise ValueError
    except ValueError:
        parser.error(f"--spans must be three integers >= 0 like 3,3,2, not {args.spans!r}")
    config = _config(args.board)
    try:
        without = [Feature[name.strip().upper()] for name in args.without.split(",") if name]
    except KeyError:
        parser.error(f"--without takes feature names out of "
                     f"{', '.join(f.name.lower() for f in Feature if f != Feature.ALL)}, "
                     f"not {args.without!r}")
    for feature in without:
        config = config.with_(features=config.features & ~feature)
    if args.orders is not None:
        try:
            config = config.with_(orders=tuple(Order.parse(o) for o in args.orders.split(",")))
        except ValueError as e:
            parser.error(f"--orders: {e}")
    if args.neurons is not None:
        config = config.with_(neurons=args.neurons, lanes=min(config.lanes, args.neurons))
    if args.bias_bits is not None:
        config = config.with_(bias_bits=args.bias_bits)
    if args.store_patterns is not None:
        config = config.with_(engine="column", store_patterns=args.store_patterns)
    if spans is None:
        spans = default_spans(config.neurons)
    print(f"{args.block}: N = {config.neurons}, W_BITS = {config.weight_bits}, "
          f"B_BITS = {config.bias_bits}, ACC_BITS = {config.acc_bits}, K = {config.lanes}, "
          f"store_patterns = {config.store_patterns}, spans = {','.join(map(str, spans))}, "
          f"features = {config.features!r}, orders = "
          f"{','.join(o.name.lower() for o in config.orders)}"
          + "".join(f", {name} = {value}" for name, value in core.items()))
    try:
        block = BLOCKS[args.block](config, spans, **core)
    except ValueError as e:
        parser.error(str(e))
    top = block if args.block in UNWRAPPED and not args.registered else registered(block)
    # The board's platform: the blocks use its family's cells (the field lanes' carry cells).
    with open(args.output, "w") as f:
        f.write(rtlil.convert(top, name="top", platform=BOARDS[args.board].platform()))


if __name__ == "__main__":
    main()
