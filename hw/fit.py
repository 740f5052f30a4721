"""Pre-synthesis fit check: do the weight matrix and the lanes of a configuration fit the board?

Synthesis takes minutes; a configuration that cannot possibly fit should fail in milliseconds
with the numbers. The K-lane binary engine (``engine="lanes"``) keeps the weights in one
memory of ``N * C`` words of ``K * W_BITS`` bits (word ``j * C + c`` holds W_ij for the K
neurons i of chunk c; ``docs/architecture.md``); the column engine (``engine="column"``) in
one of N words of ``C * K * W_BITS`` bits, a whole column a word, written a chunk of K
weights at a time (``gateware/engine/weight_store.py``), so each chunk takes whole write
enables of the block RAM. The graded engine (feature ``graded``) has a second memory of the
lanes engine's shape (or the only one, in a graded-only configuration). This module counts the
RAM blocks such a memory takes in the cheapest shape each block supports, which is what
yosys' memory mapping achieves.

The column engine's logic grows with N (a field lane and selector logic per neuron), so its
LUT4s are estimated from measured builds (:data:`COLUMN_LUTS_PER_NEURON`) and a configuration
whose estimate exceeds the device is refused. The lanes engine's logic, the
smaller per-neuron memories (biases, states) and the rest of the design are not predicted:
nextpnr's report is the word on those, and the check only rejects what cannot fit.
"""

from __future__ import annotations

import dataclasses

from hopfield_fpga.config import MAX_NEURONS, Feature, NetworkConfig, Order
from .boards import BlockRAM, Board

__all__ = ["FitError", "WeightPlacement", "check_fit", "weight_memory_shape",
           "weight_memories", "largest_fitting_neurons", "COLUMN_LUTS_PER_NEURON",
           "COLUMN_LUTS_PER_NEURON_BUILT", "COLUMN_HEBBIAN_LUTS_PER_NEURON",
           "COLUMN_RANDOM_LUTS_PER_NEURON", "COLUMN_SUM_LUTS_PER_NEURON", "column_logic_estimate", "replica_cost"]

#: The column engine's LUT4s (nextpnr's TRELLIS_COMB) in a whole board top, measured on two
#: ULX3S-25F builds at W_BITS = 3, K = 6, every order and feature (docs/boards.md, "The column
#: engine on the boards"): 22661 at N = 128 and 40711 at N = 256, so about 141 a neuron (the
#: field lane, its share of the selectors, the column sum, the Hebbian column and the N:1
#: picks) on top of a fixed part (UART, framing, command engine, control, generators).
COLUMN_LUTS_PER_NEURON_BUILT = 141
COLUMN_LUTS_FIXED = 4613
#: The estimate a neuron: the builds' figure less what the engine lost since, by the yosys
#: counts of docs/engine.md: "Where the LUT4s a neuron go" (synth_ecp5 -noflatten of the
#: ColumnEngine at N = 32 and 64: 139.5 LUT4s a neuron in the design those builds had, 120.2
#: after) and "The column engine at N = 1024 on the 85F" (the same at N = 256 in its widths,
#: LUT4s plus two a CCU2C: 35323 before the field lanes kept 2h + s and the weight store lost
#: its read-first emulation, 34460 after, 3.4 a neuron fewer; then 26400 before the h_j pick
#: and the weight store's chunk pick read registered decodes through an AND-OR and the
#: column sum took the -1 states as its adders' carry-ins, 24187 after, 8.6 fewer, measured
#: without Feature.HEBBIAN and the random order, which these changes do not touch); then
#: 24417 before the field lanes lost their load multiplexer (loads through the adder's
#: carry cells), the sequential select its second N-lane priority encoder and the lanes'
#: flip line its index compares, 19879 after, 17.7 fewer (same configuration, "The field
#: lanes' load and the sequential select's second encoder, cut"), until a board build
#: measures it again.
COLUMN_LUTS_PER_NEURON = round(COLUMN_LUTS_PER_NEURON_BUILT - (139.5 - 120.2)
                               - (35323 - 34460) / 256 - (26400 - 24187) / 256
                               - (24417 - 19879) / 256)
#: Feature.HEBBIAN's and Order.RANDOM's shares, left out of the estimate without them: the
#: slopes (LUT4s plus two a CCU2C, N = 64 to 256) of the ColumnEngine in the 85F's widths
#: with every feature and the orders sequential, random and rejection_free (110.4 a neuron,
#: 6195 fixed), without Feature.HEBBIAN (91.8, 5974: the Hebbian column, the weight store's
#: choice of its write data, the pattern and column registers) and without the random order
#: too (86.9, 3790: the random select, its word window and their control); docs/engine.md,
#: "The column engine at N = 1024 on the 85F".
COLUMN_HEBBIAN_LUTS_PER_NEURON = 18.6
#: Feature.SYMMETRIC's saving: the column sum (``energy.sum``) it does not build, the slope of
#: its LUT4s plus two a CCU2C from N = 128 to 256 in the 85F default's widths (1146 and 2284;
#: ``synth_ecp5 -noflatten``, docs/engine.md, "Symmetric weights: the column sum left out").
COLUMN_SUM_LUTS_PER_NEURON = 8.9
COLUMN_RANDOM_LUTS_PER_NEURON = 4.9
COLUMN_RANDOM_LUTS_FIXED = 2184
#: The quantized store's share of a neuron when it is built (``store_patterns`` > 0): the
#: sign, level count and step of each lane, 540 LUT4 + 36 CCU2C (two LUT4s each) more at
#: N = 32 (yosys synth_ecp5 -noflatten of the whole ColumnEngine, ``python -m
#: hopfield_fpga.hw.engine_blocks column_engine X.il --neurons 32 --store-patterns 8``,
#: docs/engine.md).
COLUMN_QSTORE_LUTS_PER_NEURON = 19.1
#: The weight store's LUT4s a neuron with one read port and what a second port adds (its
#: chunk pick and read path), from the yosys counts of docs/engine.md ("Replicas",
#: ``weight_store`` and ``weight_store_replicas`` at N = 256 in the ECPIX-5's widths, after the
#: chunk pick became an AND-OR over a registered decode: 1476 and 3149 LUT4).
COLUMN_STORE_LUTS_PER_NEURON = 1476 / 256
COLUMN_STORE_PORT_LUTS_PER_NEURON = (3149 - 1476) / 256


class FitError(ValueError):
    """A configuration that cannot fit the board; the message carries the numbers."""


@dataclasses.dataclass(frozen=True)
class WeightPlacement:
    """Where the weight memory goes and how many blocks of which kind it takes."""
    width: int
    depth: int
    kind: str           # nextpnr cell type of the blocks (ICESTORM_SPRAM, ICESTORM_RAM, DP16KD)
    blocks: int         # for all weight memories together
    available: int
    memories: int = 1   # weight memories of this shape (2 with both engines)

    @property
    def bits(self) -> int:
        return self.width * self.depth * self.memories

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"bits": self.bits}


def weight_memory_shape(config: NetworkConfig) -> tuple[int, int]:
    """(width, depth) of the binary engine's weight memory: K*W_BITS bits by N*C words (the
    lanes engine, and the graded engine's copy), C*K*W_BITS bits by N words (the column
    engine)."""
    chunk = config.lanes * config.weight_bits
    if config.engine == "column":     # only with orders (NetworkConfig refuses it without)
        return config.chunks * chunk, config.neurons
    return chunk, config.neurons * config.chunks


def column_logic_estimate(config: NetworkConfig) -> int:
    """LUT4s of a board top with the column engine (:data:`COLUMN_LUTS_PER_NEURON`), 0 for a
    configuration without it (the lanes engine's logic is not estimated)."""
    if config.engine != "column":
        return 0
    fixed, per_neuron = _column_logic_parts(config)
    return round(fixed + config.neurons * per_neuron)


def _column_logic_parts(config: NetworkConfig) -> tuple[int, float]:
    """(fixed LUT4s, LUT4s a neuron) of a board top with the column engine."""
    per_neuron, fixed = COLUMN_LUTS_PER_NEURON, COLUMN_LUTS_FIXED
    if not config.has(Feature.HEBBIAN):
        per_neuron -= COLUMN_HEBBIAN_LUTS_PER_NEURON
    if config.has(Feature.SYMMETRIC):
        per_neuron -= COLUMN_SUM_LUTS_PER_NEURON
    if Order.RANDOM not in config.orders:
        per_neuron -= COLUMN_RANDOM_LUTS_PER_NEURON
        fixed -= COLUMN_RANDOM_LUTS_FIXED
    if config.store_patterns:
        per_neuron += COLUMN_QSTORE_LUTS_PER_NEURON
    per_neuron, _ = replica_cost(config, per_neuron)
    return fixed, per_neuron


def replica_cost(config: NetworkConfig, per_neuron: float, bram: BlockRAM | None = None):
    """(LUT4s a neuron, block RAM kind) of ``config.replicas`` column engines on one weight
    store (docs/engine.md, "Replicas"), from one engine's ``per_neuron`` and ``bram``: each
    further replica costs the engine's neuron again less the store (which is built once) plus
    the store's second port; and each replica reads through a port of its own, so a block
    gives it at most half its widest shape (an ECP5 DP16KD: 18 of its 36 bits, true dual port)."""
    extra = config.replicas - 1
    if extra and bram is not None:
        widest = max(w for w, _ in bram.shapes)
        bram = dataclasses.replace(bram, shapes=tuple(
            (w, d) for w, d in bram.shapes if w <= widest // config.replicas))
    return per_neuron * config.replicas - extra * (
        COLUMN_STORE_LUTS_PER_NEURON - COLUMN_STORE_PORT_LUTS_PER_NEURON), bram


def weight_memories(config: NetworkConfig) -> int:
    """How many weight memories the engines of ``config`` hold (binary, graded or both)."""
    return int(config.has_binary) + int(config.has(Feature.GRADED))


def _logic_problem(board: Board, config: NetworkConfig) -> str | None:
    luts = column_logic_estimate(config)
    if luts <= board.device.logic_cells:
        return None
    chains = f" in each of {config.replicas} replicas" if config.replicas > 1 else ""
    fixed, per_neuron = _column_logic_parts(config)
    return (f"the column engine's {config.neurons} lanes{chains} need about {luts} LUT4s "
            f"({fixed} + about {per_neuron:.0f} a neuron, measured), and the "
            f"{board.device.name} has {board.device.logic_cells}")


def _place(board: Board, config: NetworkConfig) -> tuple[WeightPlacement | None, list[str]]:
    """The weights' placement, or None and what does not fit (the weights, the logic)."""
    placement, options = _place_weights(board, config)
    problems = []
    if options:
        width, depth = weight_memory_shape(config)
        count = weight_memories(config)
        what = ("its weight memory" if count == 1 else
                f"its {count} weight memories (binary and graded engines), each")
        problems.append(f"{what} ({width} bits x {depth} words = "
                        f"{width * depth / 1024:.0f} kbit) needs {' and '.join(options)}")
    logic = _logic_problem(board, config)
    if logic is not None:
        problems.append(logic)
    return (None if problems else placement), problems


def _place_weights(board: Board,
                   config: NetworkConfig) -> tuple[WeightPlacement | None, list[str]]:
    width, depth = weight_memory_shape(config)
    count = weight_memories(config)
    device = board.device
    column = config.engine == "column"

    def need(ram, blocks, what=""):
        return (f"{blocks} {ram.name} blocks of {ram.bits // 1024} kbit "
                f"(the {device.name} has {ram.count}){what}")

    if column:
        # A column a word, written a chunk at a time; the graded engine's copy (if any) has the
        # lanes engine's shape. SPRAM cannot take it: the Hebbian store reads one column and
        # writes another in the same cycle.
        _, bram = replica_cost(config, 0, device.bram)
        blocks = bram.blocks_for(width, depth, config.lanes * config.weight_bits)
        if count > 1:
            blocks += device.bram.blocks_for(*weight_memory_shape(config.with_(engine="lanes")))
        if blocks <= device.bram.count:
            return WeightPlacement(width, depth, device.bram.name, blocks, device.bram.count,
                                   count), []
        return None, [need(device.bram, blocks)]
    if board.weight_memory != "spram":
        blocks = count * device.bram.blocks_for(width, depth)
        if blocks <= device.bram.count:
            return WeightPlacement(width, depth, device.bram.name, blocks, device.bram.count,
                                   count), []
        return None, [need(device.bram, blocks)]
    # The flow forces the binary engine's weights into SPRAM (hw/build.py); the graded
    # engine's copy cannot go there (it reads and writes at different addresses) and takes
    # block RAM.
    spram = device.spram.blocks_for(width, depth) if config.has_binary else 0
    graded = count - int(config.has_binary)
    bram = graded * device.bram.blocks_for(width, depth)
    missing = []
    if spram > device.spram.count:
        missing.append(need(device.spram, spram))
    if bram > device.bram.count:
        missing.append(need(device.bram, bram, " for the graded engine's weights, which cannot "
                                               "go to SPRAM"))
    if missing:
        return None, missing
    if not config.has_binary:
        return WeightPlacement(width, depth, device.bram.name, bram, device.bram.count, 1), []
    return WeightPlacement(width, depth, device.spram.name, spram, device.spram.count, 1), []


def largest_fitting_neurons(board: Board, config: NetworkConfig, granularity: int = 1) -> int:
    """Largest N (a multiple of ``granularity``, at least K) whose weights (and the column
    engine's lanes) fit, or 0."""
    best = 0
    for n in range(granularity, MAX_NEURONS + 1, granularity):
        if n < max(config.lanes, config.store_patterns):   # a valid configuration
            continue
        if _place(board, config.with_(neurons=n))[0] is None:
            break  # the weight memory and the lanes only grow with N
        best = n
    return best


def check_fit(board: Board, config: NetworkConfig) -> WeightPlacement:
    """Return where the weights of ``config`` go on ``board``, or raise :class:`FitError`.

    On a board whose ``weight_memory`` is "spram" the lanes engine's weights go to SPRAM, else
    to block RAM; the column engine's always go to block RAM, and its lanes must fit the
    device's LUT4s (:func:`column_logic_estimate`).
    """
    placement, problems = _place(board, config)
    if placement is not None:
        return placement
    largest = largest_fitting_neurons(board, config)
    hint = (f"at most N={largest} fits with W={config.weight_bits}b and K={config.lanes}"
            if largest else f"no N fits with W={config.weight_bits}b and K={config.lanes}")
    raise FitError(
        f"{config.describe()} does not fit the {board.name}: {'; '.join(problems)}; {hint}. "
        f"Use fewer neurons or weight bits (`hopfield boards` lists configurations that fit).")
