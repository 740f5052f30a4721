"""8N1 UART receiver and transmitter with byte streams, for the board link.

The bit timing is a :class:`~hopfield_fpga.baud.UartTiming` (``hopfield_fpga/baud.py``): a
fractional divisor, clk_freq / baud cycles a bit in 1/2**FRACTION_BITS steps, each bit a whole
number of cycles (floor or ceil of the period) without the error adding up over a character;
``uart_timing`` accepts exactly the rates it serves.

The receiver synchronizes ``rx`` through two flip-flops, waits for a falling edge, checks that
the line is still low half a bit later (a glitch shorter than half a bit is not a start bit),
samples the 8 data bits (LSB first) and the stop bit in the middle of their periods, and
delivers the byte only if the stop bit is high (a framing error drops the byte; the next
falling edge starts a new one, so the receiver resynchronizes on its own). A byte the consumer
has not taken when the next one completes is dropped (``overrun`` pulses): the link protocol's
CRC and COBS framing turn any lost byte into a dropped frame that the host sends again. The
transmitter sends characters back to back (the next start bit follows the stop bit at once)."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.baud import FRACTION_BITS, UartTiming, uart_timing

__all__ = ["UartTiming", "uart_timing", "UartRx", "UartTx"]


def _check_timing(timing) -> None:
    if not isinstance(timing, UartTiming):
        raise TypeError(f"timing must be a UartTiming (from uart_timing), not {timing!r}")


class _BitTimer:
    """A whole-cycle countdown and the fraction of a cycle carried to the next bit: each bit
    lasts floor or ceil of the period, and the error never adds up."""

    def __init__(self, m: Module, timing: UartTiming):
        self.m = m
        self.period = timing.period
        self.half = timing.half
        one = 2**FRACTION_BITS
        # sized for this timing: a count is at most the period's ceiling less one
        self.count = Signal(range(-(-timing.period // one) + 1))
        # a whole number of cycles a bit and a half carries no fraction: no register for it
        self.fractional = bool(timing.period % one or timing.half % one)
        self.frac = Signal(FRACTION_BITS) if self.fractional else Const(0, FRACTION_BITS)
        self.done = self.count == 0

    def load(self):
        """Expire one period (carried fraction added) from now: ``done`` is high in the cycle
        it ends."""
        total = self.frac + self.period
        self.m.d.sync += self.count.eq((total >> FRACTION_BITS) - 1)
        if self.fractional:
            self.m.d.sync += self.frac.eq(total[:FRACTION_BITS])

    def load_half(self):
        """Expire half a period from now, the carried fraction dropped (a start bit's edge)."""
        self.m.d.sync += self.count.eq((self.half >> FRACTION_BITS) - 1)
        if self.fractional:
            self.m.d.sync += self.frac.eq(self.half % 2**FRACTION_BITS)

    def tick(self):
        with self.m.If(~self.done):
            self.m.d.sync += self.count.eq(self.count - 1)


class UartRx(wiring.Component):
    """8N1 receiver.

    Members
    -------
    rx: In(1), the line (idle high).
    stream: Out(stream of 8-bit bytes).
    overrun: Out(1), pulses when a received byte was dropped because ``stream`` was not taken.
    framing_error: Out(1), pulses when a stop bit was low.
    """

    def __init__(self, timing: UartTiming):
        _check_timing(timing)
        self.timing = timing
        super().__init__({"rx": In(1, init=1), "stream": Out(stream.Signature(8)),
                          "overrun": Out(1), "framing_error": Out(1)})

    def elaborate(self, platform):
        m = Module()
        sync0 = Signal(init=1)
        line = Signal(init=1)
        m.d.sync += [sync0.eq(self.rx), line.eq(sync0)]
        timer = _BitTimer(m, self.timing)
        bits = Signal(range(10))
        shreg = Signal(8)
        m.d.sync += [self.overrun.eq(0), self.framing_error.eq(0)]
        with m.If(self.stream.ready):
            m.d.sync += self.stream.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    # the middle of the start bit: half a period from the edge, no carry
                    timer.load_half()
                    m.next = "START"
            with m.State("START"):
                timer.tick()
                with m.If(timer.done):
                    with m.If(line):   # not low in the middle of the start bit: a glitch
                        m.next = "IDLE"
                    with m.Else():
                        timer.load()
                        m.d.sync += bits.eq(0)
                        m.next = "DATA"
            with m.State("DATA"):
                timer.tick()
                with m.If(timer.done):
                    timer.load()
                    m.d.sync += [shreg.eq(shreg[1:] | (line << 7)), bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                timer.tick()
                with m.If(timer.done):
                    with m.If(line):
                        with m.If(self.stream.valid & ~self.stream.ready):
                            m.d.sync += self.overrun.eq(1)
                        with m.Else():
                            m.d.sync += [self.stream.payload.eq(shreg),
                                         self.stream.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.framing_error.eq(1)
                        m.next = "BREAK"
            with m.State("BREAK"):
                # Wait for the line to go idle again before looking for a start bit.
                with m.If(line):
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """8N1 transmitter: sends each byte of ``stream`` (start bit, 8 data bits LSB first, stop bit),
    back to back while bytes keep coming.

    Members
    -------
    stream: In(stream of 8-bit bytes).
    tx: Out(1), the line (idle high).
    """

    def __init__(self, timing: UartTiming):
        _check_timing(timing)
        self.timing = timing
        super().__init__({"stream": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        timer = _BitTimer(m, self.timing)
        shreg = Signal(10, init=0x3FF)
        bits = Signal(range(11))       # bits of the character still to send (0: idle)
        m.d.comb += self.tx.eq(shreg[0])
        # a new character may start when the line is idle or the stop bit ends now
        free = (bits == 0) | ((bits == 1) & timer.done)
        m.d.comb += self.stream.ready.eq(free)
        with m.If(free & self.stream.valid):
            timer.load()
            m.d.sync += [shreg.eq((self.stream.payload << 1) | (1 << 9)), bits.eq(10)]
        with m.Elif(bits != 0):
            timer.tick()
            with m.If(timer.done):
                timer.load()
                m.d.sync += [shreg.eq((shreg >> 1) | (1 << 9)), bits.eq(bits - 1)]
        return m
