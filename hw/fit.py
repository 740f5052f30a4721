"""Pre-synthesis fit check: does the weight matrix of a configuration fit the board's RAM?

Synthesis takes minutes; a configuration whose weights cannot possibly fit should fail in
milliseconds with the numbers. The binary engine keeps the weights in one memory of
``N * C`` words of ``K * W_BITS`` bits (word ``j * C + c`` holds W_ij for the K neurons i of
chunk c; ``docs/architecture.md``), and the graded engine (feature ``graded``) has a second one
of the same shape (or the only one, in a graded-only configuration). This module counts the
RAM blocks such a memory takes in the cheapest shape each block supports, which is what
yosys' memory mapping achieves for a plain single-port
memory. The smaller per-neuron memories (biases, fields, states) and the logic are
not predicted here: nextpnr's report is the word on those, and the check only rejects what
cannot fit.
"""

from __future__ import annotations

import dataclasses

from hopfield_fpga.config import MAX_NEURONS, Feature, NetworkConfig
from .boards import Board

__all__ = ["FitError", "WeightPlacement", "check_fit", "weight_memory_shape",
           "weight_memories", "largest_fitting_neurons"]


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
    """(width, depth) of the engine's weight memory: K*W_BITS bits by N*C words."""
    return config.lanes * config.weight_bits, config.neurons * config.chunks


def weight_memories(config: NetworkConfig) -> int:
    """How many weight memories the engines of ``config`` hold (binary, graded or both)."""
    return int(config.has_binary) + int(config.has(Feature.GRADED))


def _place(board: Board, config: NetworkConfig) -> tuple[WeightPlacement | None, list[str]]:
    width, depth = weight_memory_shape(config)
    count = weight_memories(config)
    device = board.device

    def need(ram, blocks, what=""):
        return (f"{blocks} {ram.name} blocks of {ram.bits // 1024} kbit "
                f"(the {device.name} has {ram.count}){what}")

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
    """Largest N (a multiple of ``granularity``, at least K) whose weights fit, or 0."""
    best = 0
    for n in range(granularity, MAX_NEURONS + 1, granularity):
        if n < config.lanes:
            continue
        if _place(board, config.with_(neurons=n))[0] is None:
            break  # the weight memory only grows with N
        best = n
    return best


def check_fit(board: Board, config: NetworkConfig) -> WeightPlacement:
    """Return where the weights of ``config`` go on ``board``, or raise :class:`FitError`.

    On a board whose ``weight_memory`` is "spram" the weights go to SPRAM, else to block RAM.
    """
    placement, options = _place(board, config)
    if placement is not None:
        return placement
    width, depth = weight_memory_shape(config)
    count = weight_memories(config)
    what = ("its weight memory" if count == 1 else
            f"its {count} weight memories (binary and graded engines), each")
    largest = largest_fitting_neurons(board, config)
    hint = (f"at most N={largest} fits with W={config.weight_bits}b and K={config.lanes}"
            if largest else f"no N fits with W={config.weight_bits}b and K={config.lanes}")
    raise FitError(
        f"{config.describe()} does not fit the {board.name}: {what} "
        f"({width} bits x {depth} words = {width * depth / 1024:.0f} kbit) needs "
        f"{' and '.join(options)}; {hint}. Use fewer neurons or weight bits "
        f"(`hopfield boards` lists configurations that fit).")
