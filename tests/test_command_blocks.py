"""The command engine's blocks alone: STORE chains against ``protocol.chain_verdict``, the reply
CRC against ``protocol.crc16``, run control's STOP (the whole engine: tests/test_command_engine.py).
Randomized with the ``rng`` fixture's seed (printed on failure)."""

from __future__ import annotations

from amaranth.sim import Simulator

from hopfield_fpga import protocol as P
from hopfield_fpga.gateware.reply_sender import ReplySender
from hopfield_fpga.gateware.run_control import RunControl
from hopfield_fpga.gateware.store_chain import StoreChain


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_store_chain_decides_as_chain_verdict(rng):
    dut = StoreChain()
    # seqs near the last one applied (repeats, next, window edges) and anywhere
    steps = []
    for _ in range(400):
        kind = int(rng.integers(0, 4))
        steps.append((kind, int(rng.integers(0, 256)), bool(rng.integers(0, 2))))

    async def bench(ctx):
        chained, last = False, 0
        for i, (kind, far, first) in enumerate(steps):
            if kind == 0:           # another request checked: the chain closes
                ctx.set(dut.close, 1)
                await ctx.tick()
                ctx.set(dut.close, 0)
                chained = False
                continue
            seq = {1: last, 2: (last + 1) % 256, 3: far}[kind]
            ctx.set(dut.seq, seq)
            ctx.set(dut.first, first)
            expect = P.chain_verdict(chained, last, seq, first)
            got = ("repeat" if ctx.get(dut.repeat)
                   else "refuse" if ctx.get(dut.refuse) else "apply")
            assert got == expect, (i, chained, last, seq, first)
            if got == "apply":
                ctx.set(dut.apply, 1)
                await ctx.tick()
                ctx.set(dut.apply, 0)
                chained, last = True, seq
    _run(dut, bench)


def test_reply_sender_appends_the_crc(rng):
    dut = ReplySender()
    replies = [bytes(rng.integers(0, 256, int(rng.integers(3, 20))).tolist()) for _ in range(6)]
    stalls = rng.integers(0, 2, 2000).tolist()

    async def source(ctx):
        for body in replies:
            for b in body:
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, b)
                await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)
            ctx.set(dut.seal, 1)
            await ctx.tick().until(dut.sealed)
            ctx.set(dut.seal, 0)

    async def sink(ctx):
        got, frame = [], []
        t = 0
        while len(got) < len(replies):
            ready = stalls[t % len(stalls)]
            t += 1
            ctx.set(dut.tx.ready, ready)
            _, _, valid, data, last = await ctx.tick().sample(
                dut.tx.valid, dut.tx.payload.data, dut.tx.payload.last)
            if valid and ready:
                frame.append(data)
                if last:
                    got.append(bytes(frame))
                    frame = []
        for body, frame in zip(replies, got):
            assert frame == body + P.crc16(body).to_bytes(P.CRC_BYTES, "big")

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()


def test_run_control_stop_and_stops_pending():
    dut = RunControl()

    async def bench(ctx):
        # a run starts; busy follows a cycle later
        ctx.set(dut.started, 1)
        await ctx.tick()
        ctx.set(dut.started, 0)
        assert ctx.get(dut.running) and ctx.get(dut.just_started)
        ctx.set(dut.busy, 1)
        await ctx.tick()
        assert ctx.get(dut.running) and not ctx.get(dut.halt)
        # a STOP served while it runs halts it until it ends
        ctx.set(dut.stop, 1)
        await ctx.tick()
        ctx.set(dut.stop, 0)
        assert ctx.get(dut.halt)
        ctx.set(dut.busy, 0)
        await ctx.tick()
        assert not ctx.get(dut.running) and not ctx.get(dut.halt)
        # a STOP frame queued halts every run until that STOP is served
        ctx.set(dut.stop_now, 1)
        await ctx.tick()
        ctx.set(dut.stop_now, 0)
        for _ in range(3):
            assert ctx.get(dut.halt)
            await ctx.tick()
        ctx.set(dut.stop, 1)      # served while no run goes on
        await ctx.tick()
        ctx.set(dut.stop, 0)
        assert not ctx.get(dut.halt)
    _run(dut, bench)
