"""Baud rates of the board link: the UART's bit timing and the USB-UART bridges' rates.

Plain Python (no Amaranth), shared by the gateware (``gateware/uart.py`` builds its bit timer
from :class:`UartTiming`), the board table (``hw/boards.py``: each board's default baud is
:func:`fastest_baud` of its bridge at its clock) and the host driver (the rates it tries on
IDENTIFY when nobody names the board: :data:`KNOWN_BAUDS`).

The UART's bit period is clk_freq / baud clock cycles in steps of 1/2**:data:`FRACTION_BITS` of
a cycle (a fractional divisor), so that 3 Mbaud at 25 MHz (8 1/3 cycles a bit) is as exact as
3 Mbaud at 12 MHz. Each bit lasts a whole number of cycles, floor or ceil of the period, and
bit k starts floor(k * period) cycles after the first: the error never adds up over a
character. :func:`uart_timing` accepts exactly the rates this generator serves: at least
:data:`MIN_CYCLES_PER_BIT` cycles a bit, a bit timer that fits :data:`MAX_CYCLES_PER_BIT`, and
sampling points that stay inside every bit of a character sent up to :data:`BAUD_TOLERANCE`
too fast or too slow (checked cycle by cycle, :meth:`UartTiming.margin`).
"""

from __future__ import annotations

import dataclasses

__all__ = ["FRACTION_BITS", "MIN_CYCLES_PER_BIT", "MAX_CYCLES_PER_BIT", "BAUD_TOLERANCE",
           "CHARACTER_BITS", "UartTiming", "uart_timing", "Bridge", "FT2232H", "FT231X",
           "BRIDGES", "MIN_DEFAULT_BAUD", "LEGACY_BAUD", "fastest_baud", "KNOWN_BAUDS",
           "character_bits", "line_runs", "sample_points"]

#: The bit period is counted in 1/2**FRACTION_BITS of a clock cycle.
FRACTION_BITS = 8
#: Fewest clock cycles per bit (the receiver's start-bit check and sampling need them).
MIN_CYCLES_PER_BIT = 4
#: Largest whole part of the bit period (the width of the bit timer).
MAX_CYCLES_PER_BIT = 2**16 - 1
#: The far end's baud may be off by this much (each way): the receiver must still sample every
#: bit of a character inside that bit.
BAUD_TOLERANCE = 0.02
#: Bits of an 8N1 character: start, 8 data, stop.
CHARACTER_BITS = 10


@dataclasses.dataclass(frozen=True)
class UartTiming:
    """The bit timing of the UART at one clock and baud (made by :func:`uart_timing`).

    ``period`` is the bit period in 1/2**FRACTION_BITS cycles, ``half`` the delay from the
    start bit's falling edge (as the receiver sees it) to the middle of the start bit.
    """
    clk_freq: int
    baud: int
    period: int

    @property
    def half(self) -> int:
        return self.period // 2

    @property
    def cycles_per_bit(self) -> float:
        return self.period / 2**FRACTION_BITS

    @property
    def rate(self) -> float:
        """The baud the generator makes (clk_freq / cycles_per_bit)."""
        return self.clk_freq / self.cycles_per_bit

    def sample_cycles(self) -> list[int]:
        """Cycles from the falling edge's detection to the receiver's look at bit k, for the
        start bit (k = 0), the 8 data bits and the stop bit."""
        return [(self.half + k * self.period) >> FRACTION_BITS for k in range(CHARACTER_BITS)]

    def bit_starts(self, phase: int = 0) -> list[int]:
        """Cycles from a character's first cycle to the start of each of its bits and to its
        end, for the transmitter's fractional phase ``phase`` at the start."""
        return [(phase + k * self.period) >> FRACTION_BITS for k in range(CHARACTER_BITS + 1)]

    def margin(self, error: float = BAUD_TOLERANCE) -> float:
        """The least distance, in bits, between a sampling point and the edges of its bit, for
        a sender whose baud is off by +-``error``: the falling edge arrives somewhere in the
        cycle before its detection, so bit k is sampled (k_cycles, k_cycles + 1] cycles after
        it. Negative: some bit could be sampled outside itself."""
        worst = float("inf")
        for e in (-error, error):
            sender = self.clk_freq / (self.baud * (1 + e))     # the sender's bit, in cycles
            for k, n in enumerate(self.sample_cycles()):
                worst = min(worst, n - k * sender, (k + 1) * sender - (n + 1))
        return worst / (self.clk_freq / self.baud)


def uart_timing(clk_freq: int, baud: int) -> UartTiming:
    """The UART's bit timing for ``baud`` at ``clk_freq``; refuses, naming the reason and the
    limits, every rate the generator cannot serve (see the module docstring)."""
    if isinstance(clk_freq, bool) or not isinstance(clk_freq, int) or clk_freq <= 0:
        raise ValueError(f"clk_freq must be a positive integer (Hz), not {clk_freq!r}")
    if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
        raise ValueError(f"baud must be a positive integer, not {baud!r}")
    timing = UartTiming(clk_freq, baud, round(clk_freq * 2**FRACTION_BITS / baud))
    cycles = timing.cycles_per_bit
    if cycles < MIN_CYCLES_PER_BIT:
        raise ValueError(f"baud {baud} is too fast for a {clk_freq} Hz clock: {cycles:.3g} "
                         f"cycles per bit, at least {MIN_CYCLES_PER_BIT} needed (at most "
                         f"{clk_freq // MIN_CYCLES_PER_BIT} baud)")
    if cycles >= MAX_CYCLES_PER_BIT + 1:
        raise ValueError(f"baud {baud} is too slow for a {clk_freq} Hz clock: {cycles:.0f} "
                         f"cycles per bit, at most {MAX_CYCLES_PER_BIT} (at least "
                         f"{-(-clk_freq // MAX_CYCLES_PER_BIT)} baud)")
    if timing.margin() <= 0:
        raise ValueError(f"baud {baud} at {clk_freq} Hz ({cycles:.3f} cycles per bit): the "
                         f"receiver's sampling points leave no margin for a "
                         f"+-{BAUD_TOLERANCE:.0%} baud error; use a slower rate or a faster "
                         f"clock")
    return timing


@dataclasses.dataclass(frozen=True)
class Bridge:
    """A USB-UART bridge chip: it makes ``base`` / n baud exactly for whole n."""
    name: str
    base: int

    def rates(self, floor: int) -> list[int]:
        """The whole-number rates base / n down to ``floor``, fastest first."""
        return [self.base // n for n in range(1, self.base // floor + 1)
                if self.base % n == 0]


#: FTDI FT2232H (iCEBreaker, ECPIX-5): up to 12 Mbaud.
FT2232H = Bridge("FT2232H", 12_000_000)
#: FTDI FT231X (ULX3S): up to 3 Mbaud.
FT231X = Bridge("FT231X", 3_000_000)
BRIDGES = (FT2232H, FT231X)
#: No board's default is slower.
MIN_DEFAULT_BAUD = 1_000_000
#: The default of the boards built before the fast rates (docs/protocol.md): still tried.
LEGACY_BAUD = 115_200


def fastest_baud(clk_freq: int, bridge: Bridge) -> int:
    """The fastest rate ``bridge`` makes that the UART serves at ``clk_freq``, at least
    :data:`MIN_DEFAULT_BAUD`."""
    for rate in bridge.rates(MIN_DEFAULT_BAUD):
        try:
            uart_timing(clk_freq, rate)
        except ValueError:
            continue
        return rate
    raise ValueError(f"no rate of the {bridge.name} from {MIN_DEFAULT_BAUD} baud up works at "
                     f"{clk_freq} Hz (at least {MIN_CYCLES_PER_BIT * MIN_DEFAULT_BAUD} Hz "
                     f"needed)")


#: The rates a host tries on IDENTIFY when it is not told the board (fastest first): every
#: bridge's from MIN_DEFAULT_BAUD up, then the legacy default.
KNOWN_BAUDS = tuple(sorted({r for b in BRIDGES for r in b.rates(MIN_DEFAULT_BAUD)},
                           reverse=True)) + (LEGACY_BAUD,)


# -- the far end of the line, for testbenches and the simulated board's bit-level port ---------

def character_bits(byte: int, stop: int = 1) -> list[int]:
    """Line levels of one 8N1 character: start, data LSB first, stop."""
    return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]


def line_runs(data, cycles_per_bit: float) -> list[tuple[int, int]]:
    """(level, cycles) runs of the line for the bytes ``data`` sent back to back with a
    (fractional) bit period: each character starts on a whole cycle and its bit edges fall on
    the cycle nearest their ideal time, as a sender with another clock places them."""
    runs = []
    for byte in data:
        for i, level in enumerate(character_bits(byte)):
            runs.append((level, round((i + 1) * cycles_per_bit) - round(i * cycles_per_bit)))
    return runs


def sample_points(cycles_per_bit: float) -> list[int]:
    """Cycles from the first low cycle of a start bit to the middle of the 8 data bits and the
    stop bit, as a far-end receiver samples them."""
    return [round((k + 0.5) * cycles_per_bit) for k in range(1, CHARACTER_BITS)]
