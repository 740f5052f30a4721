"""The 8N1 UART of the board link (``gateware/uart.py``, timing from ``hopfield_fpga/baud.py``)
in Amaranth's simulator, at the boards' default rates (fractional bit periods among them).

Timing: ``uart_timing`` accepts a rate exactly when its sampling points keep a margin for a
+-2% baud error, and refuses the rest naming the reason. TX: the exact line waveform (start
bit, 8 data bits LSB first, stop bit; bit j of a back-to-back stream ends floor((j+1) * period)
cycles after the first). RX: bytes sent at the nominal baud and at +-2% baud error with each
data and stop bit at its level only near the sender's mid-bit (0.2 bit + 1 cycle each way) and
at the opposite level elsewhere, so a byte arrives only if every sample falls there; a glitch
shorter than half a bit refused as a start bit, a low stop bit dropped with ``framing_error``,
and a TX -> RX loopback of random bytes. Random cases use fixed seeds named in every failure.
"""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from hopfield_fpga.baud import (BAUD_TOLERANCE, FRACTION_BITS, MIN_CYCLES_PER_BIT,
                                character_bits, line_runs)
from hopfield_fpga.gateware.uart import UartRx, UartTx, uart_timing
from hopfield_fpga.hw.boards import BOARDS

#: (clock, baud) of every board's default: 4, 8 1/3, 13 1/3 and 4 1/6 cycles a bit.
BOARD_RATES = sorted({(round(b.sys_clk_freq), b.baud) for b in BOARDS.values()})
RATE_IDS = [f"{clk / 1e6:g}MHz-{baud / 1e6:g}Mbaud" for clk, baud in BOARD_RATES]


def _run(dut, *benches):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for bench in benches:
        sim.add_testbench(bench)
    sim.run()


# -- timing --------------------------------------------------------------------------------------

def test_timing_accepts_exactly_the_rates_with_a_margin():
    for clk in (12_000_000, 25_000_000, 40_000_000):
        for baud in range(clk // 60, clk // 3, clk // 997):
            cycles = clk / baud
            try:
                t = uart_timing(clk, baud)
            except ValueError as exc:
                assert cycles < MIN_CYCLES_PER_BIT + 0.01 or "margin" in str(exc), (clk, baud)
                continue
            assert t.cycles_per_bit >= MIN_CYCLES_PER_BIT and t.margin() > 0, (clk, baud)
            assert abs(t.rate - baud) <= baud / (2 * t.period) + 1e-9, (clk, baud, t.rate)
    for clk, baud in BOARD_RATES:
        assert uart_timing(clk, baud).margin(BAUD_TOLERANCE) > 0.05


@pytest.mark.parametrize("clk,baud,match", [
    (12_000_000, 4_000_000, "too fast for a 12000000 Hz clock: 3 cycles per bit, at least 4 "
                            "needed \\(at most 3000000 baud\\)"),
    (25_000_000, 12_000_000, "at most 6250000 baud"),
    (40_000_000, 300, "too slow .*\\(at least 611 baud\\)"),
    (12_000_000, 0, "baud must be a positive integer, not 0"),
    (12_000_000, 1e6, "baud must be a positive integer, not 1000000.0"),
    (-1, 115200, "clk_freq must be a positive integer"),
])
def test_timing_refusals_name_the_value_and_the_limit(clk, baud, match):
    with pytest.raises(ValueError, match=match):
        uart_timing(clk, baud)


# -- transmitter ---------------------------------------------------------------------------------

@pytest.mark.parametrize("clk,baud", BOARD_RATES, ids=RATE_IDS)
def test_tx_waveform_is_8n1_at_the_fractional_period(clk, baud):
    timing = uart_timing(clk, baud)
    seed = baud // 1000 + clk // 10**6
    rng = random.Random(seed)
    data = [0x00, 0xFF, 0x55, 0xA5] + [rng.randrange(256) for _ in range(8)]
    dut = UartTx(timing)
    line: list[int] = []
    bits = [level for b in data for level in character_bits(b)]
    # bit j of the back-to-back stream ends floor((j + 1) * period) cycles after the first one
    ends = [((j + 1) * timing.period) >> FRACTION_BITS for j in range(len(bits))]
    limit = ends[-1] + 40

    async def feed(ctx):
        for b in data:
            ctx.set(dut.stream.payload, b)
            ctx.set(dut.stream.valid, 1)
            await ctx.tick().until(dut.stream.ready)
        ctx.set(dut.stream.valid, 0)

    async def watch(ctx):
        for _ in range(limit):
            line.append(ctx.get(dut.tx))
            await ctx.tick()

    _run(dut, feed, watch)
    assert line[0] == 1, f"seed {seed}: the line is not idle high after reset"
    t0 = line.index(0)
    start = 0
    for j, (level, end) in enumerate(zip(bits, ends)):
        got = line[t0 + start:t0 + end]
        assert got == [level] * (end - start), (
            f"seed {seed} {clk} Hz {baud} baud: bit {j % 10} of byte {j // 10} "
            f"({data[j // 10]:#04x}) should be {level} for cycles {start}..{end - 1}, was {got}")
        # within a cycle of the ideal time (and the period's rounding to 1/256 of a cycle)
        assert abs(end - (j + 1) * clk / baud) < 1 + (j + 1) / 2**FRACTION_BITS, (j, end)
        start = end
    assert all(v == 1 for v in line[t0 + ends[-1]:]), f"seed {seed}: not idle at the end"


# -- receiver ------------------------------------------------------------------------------------

def _rx_bench(dut, segments, received, errors, tail_cycles):
    """Testbench driving ``rx`` from ``segments``: a list of (level, cycles) runs; collects every
    delivered byte (``ready`` held high) and every framing_error pulse (as the cycle number)."""

    async def bench(ctx):
        ctx.set(dut.stream.ready, 1)
        cycle = 0

        async def step():
            nonlocal cycle
            await ctx.tick()
            cycle += 1
            if ctx.get(dut.stream.valid):
                received.append(ctx.get(dut.stream.payload))
            if ctx.get(dut.framing_error):
                errors.append(cycle)

        for level, cycles in segments:
            ctx.set(dut.rx, level)
            for _ in range(cycles):
                await step()
        ctx.set(dut.rx, 1)
        for _ in range(tail_cycles):
            await step()

    return bench


def _serialize(data, period: float, gaps, window: float | None = None) -> list[tuple[int, int]]:
    """Runs of line levels for ``data`` sent with a (fractional) bit period in cycles, after the
    idle ``gaps``; bit edges fall on the cycle nearest the ideal time, as a sender with another
    clock would place them. With ``window`` each data and stop bit holds its level only within
    ``window`` cycles of its middle and the opposite level elsewhere (the stop bit: before)."""
    runs = []
    for b, gap in zip(data, gaps):
        runs.append((1, gap))
        for k, level in enumerate(character_bits(b)):
            lo, hi = round(k * period), round((k + 1) * period)
            if window is None or k == 0:
                runs.append((level, hi - lo))
                continue
            mid = (k + 0.5) * period
            for c in range(lo, hi):
                near = abs(c - mid) <= window
                runs.append((level if near or (k == 9 and c > mid) else 1 - level, 1))
    return runs


@pytest.mark.parametrize("error", [0.0, -BAUD_TOLERANCE, +BAUD_TOLERANCE])
@pytest.mark.parametrize("clk,baud", BOARD_RATES, ids=RATE_IDS)
def test_rx_samples_near_mid_bit_at_nominal_and_off_baud(clk, baud, error):
    timing = uart_timing(clk, baud)
    d = clk / baud
    seed = 7 + baud // 1000 + int(error * 1000)
    rng = random.Random(seed)
    data = [0x00, 0xFF, 0x01, 0x80, 0x55, 0xAA] + [rng.randrange(256) for _ in range(26)]
    # gaps of 0 (back to back, stop bit straight into the next start bit) up to a bit time
    gaps = [round(d)] + [rng.choice([0, 0, 1, round(d / 2), round(d)]) for _ in data[1:]]
    dut = UartRx(timing)
    received, errors = [], []
    period = d / (1 + error)              # the sender's baud is off by ``error``
    window = 0.2 * d + 1                  # the drift of a 2% error over 10 bits, and a cycle
    _run(dut, _rx_bench(dut, _serialize(data, period, gaps, window), received, errors,
                        3 * round(d)))
    what = f"seed {seed} {clk} Hz {baud} baud, baud error {error:+.0%}"
    assert not errors, f"{what}: framing errors {errors}"
    first = next((i for i, (a, b) in enumerate(zip(received, data)) if a != b), None)
    assert received == data, (f"{what}: received {len(received)} bytes of {len(data)}, "
                              f"first divergence at {first}")


@pytest.mark.parametrize("clk,baud", [(12_000_000, 1_500_000), (25_000_000, 3_000_000)])
def test_rx_ignores_glitch_shorter_than_half_a_bit(clk, baud):
    timing = uart_timing(clk, baud)
    d = round(clk / baud)
    half = timing.sample_cycles()[0]      # the start bit's check, half a period after the edge
    runs = [(1, 2 * d)]
    for width in range(1, half):
        runs += [(0, width), (1, 2 * d)]
    dut = UartRx(timing)
    received, errors = [], []
    runs += line_runs([0xC3], clk / baud)
    _run(dut, _rx_bench(dut, runs, received, errors, 3 * d))
    assert received == [0xC3], (f"{clk} Hz {baud} baud: glitches of 1..{half - 1} cycles were "
                                f"taken for start bits: received {received}")
    assert not errors, f"{clk} Hz {baud} baud: framing errors at cycles {errors}"


@pytest.mark.parametrize("clk,baud", [(12_000_000, 1_500_000), (25_000_000, 3_000_000)])
def test_rx_drops_a_byte_with_a_low_stop_bit(clk, baud):
    d = clk / baud
    runs = [(1, round(d))]
    runs += [(level, round((k + 1) * d) - round(k * d))
             for k, level in enumerate(character_bits(0x5A, stop=0))]
    runs += _serialize([0x3C], d, [round(2 * d)])
    dut = UartRx(uart_timing(clk, baud))
    received, errors = [], []
    _run(dut, _rx_bench(dut, runs, received, errors, 3 * round(d)))
    assert received == [0x3C], f"{clk} Hz {baud} baud: received {received}"
    assert len(errors) == 1, f"{clk} Hz {baud} baud: framing_error pulses at {errors}"


# -- loopback ------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2])
def test_loopback_random_bytes(seed):
    rng = random.Random(seed)
    timing = uart_timing(25_000_000, 3_000_000)   # 8 1/3 cycles per bit
    divisor = round(timing.cycles_per_bit)
    data = [rng.randrange(256) for _ in range(48)]
    m = Module()
    m.submodules.tx = tx = UartTx(timing)
    m.submodules.rx = rx = UartRx(timing)
    m.d.comb += rx.rx.eq(tx.tx)
    received = []
    limit = (len(data) + 4) * 10 * divisor * 2

    async def feed(ctx):
        for b in data:
            ctx.set(tx.stream.payload, b)
            ctx.set(tx.stream.valid, 1)
            # the sender pauses now and then, so both idle gaps and back to back bytes occur
            await ctx.tick().until(tx.stream.ready)
            ctx.set(tx.stream.valid, 0)
            await ctx.tick().repeat(rng.choice([1, 1, 1, divisor * 3]))

    async def take(ctx):
        for _ in range(limit):
            ready = rng.random() < 0.8    # a consumer that hesitates a little
            ctx.set(rx.stream.ready, ready)
            if ready and ctx.get(rx.stream.valid):     # taken at this clock edge
                received.append(ctx.get(rx.stream.payload))
            await ctx.tick()
            if ctx.get(rx.overrun):
                raise AssertionError(f"seed {seed}: overrun after {len(received)} bytes")
            if len(received) == len(data):
                return

    _run(m, feed, take)
    first = next((i for i, (a, b) in enumerate(zip(received, data)) if a != b), None)
    assert received == data, (f"seed {seed}: received {len(received)} of {len(data)} bytes, "
                              f"first divergence at {first}")
