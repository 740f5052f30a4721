"""The receive queue's parts on their own (Amaranth simulator): the block-RAM FIFO against a
Python deque, and the collision-free read port's contract. The queue as a whole (OVERFLOW,
STOP during held runs) is checked through the board in tests/test_command_engine.py.
"""

from __future__ import annotations

import collections

import pytest
from amaranth.hdl import Fragment, Module
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hopfield_fpga import protocol as P
from hopfield_fpga.gateware.block_ram import NO_RW_CHECK, collision_free_read
from hopfield_fpga.gateware.rx_queue import QueuedByte, RamFifo, RxQueue

DEPTH = 8


def test_ram_fifo_matches_a_deque(rng):
    """Random writes and reads for 3000 cycles (runs of a full and an empty FIFO included):
    entries come out in order, none lost or repeated; ``w.ready`` is low exactly when the RAM
    holds DEPTH entries and ``room2`` high exactly when it has two free."""
    dut = RamFifo(12, DEPTH)
    model = collections.deque()     # entries written, not yet out of the output register
    out: list[int] = []
    written: list[int] = []

    async def bench(ctx):
        for cycle in range(3000):
            phase = (cycle // 300) % 3      # mostly writes, mostly reads, even
            p_write, p_read = ((0.9, 0.2), (0.2, 0.9), (0.5, 0.5))[phase]
            value = int(rng.integers(0, 1 << 12))
            w_valid, r_ready = rng.random() < p_write, rng.random() < p_read
            ctx.set(dut.w.payload, value)
            ctx.set(dut.w.valid, w_valid)
            ctx.set(dut.r.ready, r_ready)
            in_ram = len(model) - ctx.get(dut.r.valid)
            assert ctx.get(dut.w.ready) == (in_ram != DEPTH), (cycle, in_ram)
            assert ctx.get(dut.room2) == (in_ram <= DEPTH - 2), (cycle, in_ram)
            if ctx.get(dut.r.valid) and r_ready:
                out.append(ctx.get(dut.r.payload))
                model.popleft()
            if w_valid and ctx.get(dut.w.ready):
                written.append(value)
                model.append(value)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(out) > 500 and out == written[:len(out)]


@pytest.mark.parametrize("depth", [1, 6, 12, 0.5])
def test_ram_fifo_refuses_a_depth_not_a_power_of_two(depth):
    with pytest.raises(ValueError, match="power of two"):
        RamFifo(8, depth)


@pytest.mark.parametrize("depth", [5, 6, 1024, P.RX_QUEUE_DEPTH - 1])
def test_rx_queue_refuses_a_depth_without_its_output_register(depth):
    with pytest.raises(ValueError, match="power of two plus one"):
        RxQueue(depth)


def test_rx_queue_depth_is_whole_ice40_block_rams():
    """The RAM part is the largest power of two below a longest body, and its entries are
    at most 12 bits: whole 1024 x 4 iCE40 EBRs (three), no read multiplexer."""
    ram = P.RX_QUEUE_DEPTH - 1
    assert ram & (ram - 1) == 0 and ram < P.MAX_BODY <= 2 * ram
    assert QueuedByte.size <= 12 and ram % 1024 == 0


def test_collision_free_read_needs_the_attribute():
    m = Module()
    m.submodules.plain = plain = Memory(shape=8, depth=4, init=[])
    m.submodules.marked = marked = Memory(shape=8, depth=4, init=[], attrs=NO_RW_CHECK)
    with pytest.raises(ValueError, match="NO_RW_CHECK"):
        collision_free_read(m, plain, name="data")
    port, data = collision_free_read(m, marked, name="data")
    assert port.domain == "comb" and len(data) == 8
    Fragment.get(m, None)      # elaborates (and so uses) both memories
