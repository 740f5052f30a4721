"""8N1 UART receiver and transmitter with byte streams, for the board link.

The bit period is ``divisor = round(clk_freq / baud)`` clock cycles (at least 4). The receiver
synchronizes ``rx`` through two flip-flops, waits for a falling edge, checks that the line is
still low half a bit later (a glitch shorter than half a bit is not a start bit), samples the
8 data bits (LSB first) and the stop bit in the middle of their periods, and delivers the
byte only if the stop bit is high (a framing error drops the byte; the next falling edge
starts a new one, so the receiver resynchronizes on its own). A byte the consumer has not
taken when the next one completes is dropped (``overrun`` pulses): the link protocol's CRC
and COBS framing turn any lost byte into a dropped frame that the host sends again.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["uart_divisor", "UartRx", "UartTx"]


def uart_divisor(clk_freq: int, baud: int) -> int:
    """Clock cycles per bit; refuses rates the receiver cannot sample (< 4 cycles per bit)
    or that are off by more than 2% after rounding."""
    if not isinstance(clk_freq, int) or clk_freq <= 0:
        raise ValueError(f"clk_freq must be a positive integer (Hz), not {clk_freq!r}")
    if not isinstance(baud, int) or baud <= 0:
        raise ValueError(f"baud must be a positive integer, not {baud!r}")
    divisor = round(clk_freq / baud)
    if divisor < 4:
        raise ValueError(f"baud {baud} is too fast for a {clk_freq} Hz clock: at most "
                         f"{clk_freq // 4} (4 cycles per bit)")
    if abs(clk_freq / divisor - baud) > 0.02 * baud:
        raise ValueError(f"baud {baud} is off by more than 2% at {clk_freq} Hz "
                         f"(nearest: {clk_freq // divisor})")
    return divisor


class UartRx(wiring.Component):
    """8N1 receiver.

    Members
    -------
    rx: In(1), the line (idle high).
    stream: Out(stream of 8-bit bytes).
    overrun: Out(1), pulses when a received byte was dropped because ``stream`` was not taken.
    framing_error: Out(1), pulses when a stop bit was low.
    """

    def __init__(self, divisor: int):
        if not isinstance(divisor, int) or divisor < 4:
            raise ValueError(f"divisor must be an integer >= 4, not {divisor!r}")
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "stream": Out(stream.Signature(8)),
                          "overrun": Out(1), "framing_error": Out(1)})

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        sync0 = Signal(init=1)
        line = Signal(init=1)
        m.d.sync += [sync0.eq(self.rx), line.eq(sync0)]
        timer = Signal(range(d + 1))
        bits = Signal(range(10))
        shreg = Signal(8)
        m.d.sync += [self.overrun.eq(0), self.framing_error.eq(0)]
        with m.If(self.stream.ready):
            m.d.sync += self.stream.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):   # not low in the middle of the start bit: a glitch
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [timer.eq(d - 1), bits.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [timer.eq(d - 1), shreg.eq(shreg[1:] | (line << 7)),
                                 bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
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
    """8N1 transmitter: sends each byte of ``stream`` (start bit, 8 data bits LSB first, stop bit).

    Members
    -------
    stream: In(stream of 8-bit bytes).
    tx: Out(1), the line (idle high).
    """

    def __init__(self, divisor: int):
        if not isinstance(divisor, int) or divisor < 4:
            raise ValueError(f"divisor must be an integer >= 4, not {divisor!r}")
        self.divisor = divisor
        super().__init__({"stream": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        timer = Signal(range(d))
        shreg = Signal(10, init=0x3FF)
        bits = Signal(range(11))
        m.d.comb += self.tx.eq(shreg[0])
        with m.If(bits == 0):
            m.d.comb += self.stream.ready.eq(1)
            with m.If(self.stream.valid):
                m.d.sync += [shreg.eq((self.stream.payload << 1) | (1 << 9)), bits.eq(10),
                             timer.eq(d - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [shreg.eq((shreg >> 1) | (1 << 9)), bits.eq(bits - 1), timer.eq(d - 1)]
        return m
