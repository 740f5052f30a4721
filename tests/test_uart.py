"""The 8N1 UART of the board link (``gateware/uart.py``) in Amaranth's simulator.

TX: the exact line waveform (start bit, 8 data bits LSB first, stop bit, ``divisor`` cycles each).
RX: bytes driven at the nominal baud and at +-2% baud error, a glitch shorter than half a bit
refused as a start bit, a low stop bit dropped with ``framing_error``, and a TX -> RX loopback of
random bytes. Random cases use fixed seeds named in every failure message.
"""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from hopfield_fpga.gateware.uart import UartRx, UartTx, uart_divisor


def _frame_bits(byte: int, stop: int = 1) -> list[int]:
    """Line levels of one 8N1 character: start, data LSB first, stop."""
    return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]


def _run(dut, *benches):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for bench in benches:
        sim.add_testbench(bench)
    sim.run()


# -- transmitter ---------------------------------------------------------------------------------

@pytest.mark.parametrize("divisor", [4, 13, 16])
def test_tx_waveform_is_8n1_at_the_divisor(divisor):
    seed = 100 + divisor
    rng = random.Random(seed)
    data = [0x00, 0xFF, 0x55, 0xA5] + [rng.randrange(256) for _ in range(8)]
    dut = UartTx(divisor)
    line: list[int] = []
    limit = len(data) * 10 * divisor + 20 * divisor

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
    t = 0
    for n, b in enumerate(data):
        while t < len(line) and line[t] == 1:
            t += 1
        assert t < len(line), f"seed {seed}: byte {n} ({b:#04x}) never started"
        for i, level in enumerate(_frame_bits(b)):
            got = line[t + i * divisor:t + (i + 1) * divisor]
            assert got == [level] * divisor, (
                f"seed {seed} divisor {divisor}: byte {n} ({b:#04x}) bit {i} should be {level} "
                f"for {divisor} cycles from cycle {t + i * divisor}, line was {got}")
        t += 10 * divisor
    assert all(v == 1 for v in line[t:]), f"seed {seed}: the line did not return to idle"


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


def _serialize(data, period: float, gaps) -> list[tuple[int, int]]:
    """Runs of line levels for ``data`` sent with a (fractional) bit period in cycles; bit edges
    fall on the cycle nearest the ideal time, as a sender with another clock would place them."""
    runs = []
    t = 0.0
    for b, gap in zip(data, gaps):
        runs.append((1, gap))
        start = round(t)
        for i, level in enumerate(_frame_bits(b)):
            end = round(t + (i + 1) * period)
            runs.append((level, end - start))
            start = end
        t += 10 * period
        t = float(round(t))
    return runs


@pytest.mark.parametrize("error", [0.0, -0.02, +0.02])
@pytest.mark.parametrize("divisor", [8, 16])
def test_rx_decodes_at_nominal_and_off_baud(divisor, error):
    seed = 7 + divisor + int(error * 1000)
    rng = random.Random(seed)
    data = [0x00, 0xFF, 0x01, 0x80] + [rng.randrange(256) for _ in range(28)]
    # gaps of 0 (back to back, stop bit straight into the next start bit) up to a bit time
    gaps = [divisor] + [rng.choice([0, 0, 1, divisor // 2, divisor]) for _ in data[1:]]
    dut = UartRx(divisor)
    received, errors = [], []
    period = divisor / (1 + error)        # the sender's baud is off by ``error``
    _run(dut, _rx_bench(dut, _serialize(data, period, gaps), received, errors, 3 * divisor))
    assert not errors, f"seed {seed} divisor {divisor} error {error:+.0%}: framing errors {errors}"
    first = next((i for i, (a, b) in enumerate(zip(received, data)) if a != b), None)
    assert received == data, (
        f"seed {seed} divisor {divisor} baud error {error:+.0%}: received {len(received)} bytes "
        f"of {len(data)}, first divergence at {first}")


@pytest.mark.parametrize("divisor", [8, 16])
def test_rx_ignores_glitch_shorter_than_half_a_bit(divisor):
    runs = [(1, 2 * divisor)]
    for width in range(1, divisor // 2):
        runs += [(0, width), (1, 2 * divisor)]
    dut = UartRx(divisor)
    received, errors = [], []
    runs += _serialize([0xC3], divisor, [divisor])
    _run(dut, _rx_bench(dut, runs, received, errors, 3 * divisor))
    assert received == [0xC3], (f"divisor {divisor}: glitches of 1..{divisor // 2 - 1} cycles "
                                f"were taken for start bits: received {received}")
    assert not errors, f"divisor {divisor}: framing errors at cycles {errors}"


@pytest.mark.parametrize("divisor", [8, 16])
def test_rx_drops_a_byte_with_a_low_stop_bit(divisor):
    runs = [(1, divisor)]
    runs += [(level, divisor) for level in _frame_bits(0x5A, stop=0)]
    runs += _serialize([0x3C], divisor, [2 * divisor])
    dut = UartRx(divisor)
    received, errors = [], []
    _run(dut, _rx_bench(dut, runs, received, errors, 3 * divisor))
    assert received == [0x3C], f"divisor {divisor}: received {received}"
    assert len(errors) == 1, f"divisor {divisor}: framing_error pulses at {errors}"


# -- loopback ------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2])
def test_loopback_random_bytes(seed):
    rng = random.Random(seed)
    divisor = uart_divisor(12_000_000, 1_500_000)   # 8 cycles per bit
    data = [rng.randrange(256) for _ in range(48)]
    m = Module()
    m.submodules.tx = tx = UartTx(divisor)
    m.submodules.rx = rx = UartRx(divisor)
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
