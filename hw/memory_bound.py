"""The weight-read bound: the fewest cycles a flip can take on a device, whatever the engine.

A flip of neuron j changes every field h_i by 2 s_j' W_ij (``docs/numerics.md`` §5), so an
engine that keeps the fields must read column j of W: N weights of W_BITS bits. However the
weights are laid out, each memory block delivers at most its widest read port a cycle (a
DP16KD 36 bits: its pseudo-dual-port shape, or its two 18-bit ports; an iCE40 block RAM or
SPRAM 16), and a block can hold at most its capacity / N bits of each column (it holds its
share of all N columns). With the weights spread evenly, the fewest cycles T a column takes
is the least T >= 1 with

    sum over the blocks of min(capacity / N, width * T) >= N * W_BITS

and a recall of F flips takes at least F * T cycles. The bound leaves out everything else an
engine does (the fields, the choice of the next neuron, the probe's load, the block RAMs the
rest of the design needs), so no engine on the device can beat it: it is the physical limit
``hopfield bench bound`` compares the engines and the CPU with.
"""

from __future__ import annotations

from hopfield_fpga.config import NetworkConfig
from .boards import BlockRAM, Device

__all__ = ["weight_memories", "column_cycles", "WeightsDoNotFit"]


class WeightsDoNotFit(ValueError):
    """N x N weights of W_BITS bits exceed the device's memories."""


def weight_memories(device: Device) -> list[BlockRAM]:
    """The device's memory blocks that can hold weights: block RAM, and SPRAM if it has any."""
    return [m for m in (device.bram, device.spram) if m is not None]


def _read_width(memory: BlockRAM) -> int:
    """Bits a block reads a cycle: its widest shape (a DP16KD's 36 = its two ports' 18)."""
    return max(w for w, _ in memory.shapes)


def column_cycles(device: Device, config: NetworkConfig) -> int:
    """T: the fewest cycles in which ``device``'s memories deliver one column of W (N weights
    of ``config.weight_bits``), with W spread evenly over every block (module docstring)."""
    n, need = config.neurons, config.neurons * config.weight_bits
    shares = [(m.count, m.bits / n, _read_width(m)) for m in weight_memories(device)]
    if sum(count * share for count, share, _ in shares) < need:
        total = sum(m.count * m.bits for m in weight_memories(device))
        raise WeightsDoNotFit(
            f"{n} x {n} weights of {config.weight_bits} bits ({n * need} bits) do not fit in "
            f"the {device.name}'s memories ({total} bits)")
    t = 1
    while sum(count * min(share, width * t) for count, share, width in shares) < need:
        t += 1
    return t
