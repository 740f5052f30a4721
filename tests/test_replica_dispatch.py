"""ReplicaDispatch (``gateware/replica_dispatch.py``) alone in Amaranth's simulator: every
access the command engine offers reaches exactly its replicas, once each, whatever their
``ready`` does; runs, replies and status come from the selected replica."""

from __future__ import annotations

import random

from amaranth.sim import Simulator

from hopfield_fpga.config import NetworkConfig, Order
from hopfield_fpga.gateware.engine_ports import AccessOp
from hopfield_fpga.gateware.replica_dispatch import BROADCAST_OPS, STORE_WRITE_OPS, \
    ReplicaDispatch

CONFIG = NetworkConfig(neurons=12, weight_bits=3, lanes=5, engine="column", replicas=2,
                       orders=tuple(Order))


def _targets(op: AccessOp, select: int) -> set[int]:
    if op in BROADCAST_OPS:
        return {0, 1}
    if op in STORE_WRITE_OPS:
        return {0}
    return {select}


def test_accesses_reach_their_replicas_once():
    seed = 5
    print(f"seed {seed}")
    rng = random.Random(seed)
    dut = ReplicaDispatch(CONFIG)
    offers = [(rng.choice(list(AccessOp)), rng.randrange(2), rng.randrange(1 << 10))
              for _ in range(60)]
    got = {0: [], 1: []}

    async def bench(ctx):
        for i, (op, select, data) in enumerate(offers):
            ctx.set(dut.select, select)
            ctx.set(dut.front.access.payload.op, op)
            ctx.set(dut.front.access.payload.data, data)
            ctx.set(dut.front.access.valid, 1)
            for cycle in range(40):
                for r in (0, 1):      # each replica takes an access when it likes
                    ctx.set(dut.replica[r].access.ready, rng.random() < 0.4)
                for r in (0, 1):
                    if ctx.get(dut.replica[r].access.valid) and \
                            ctx.get(dut.replica[r].access.ready):
                        assert ctx.get(dut.replica[r].access.payload.data) == data
                        got[r].append(i)
                done = ctx.get(dut.front.access.ready)
                await ctx.tick()
                if done:
                    break
            else:
                raise AssertionError(f"seed {seed}: access {i} ({op}) never done")
            ctx.set(dut.front.access.valid, 0)
            await ctx.tick()
        # the selected replica's status and run handshake, the other's not
        for select in (0, 1):
            ctx.set(dut.select, select)
            ctx.set(dut.replica[select].status.visits, 100 + select)
            ctx.set(dut.replica[1 - select].status.busy, 1)
            ctx.set(dut.replica[select].status.busy, 0)
            ctx.set(dut.front.run.valid, 1)
            ctx.set(dut.replica[select].run.ready, 1)
            ctx.set(dut.replica[1 - select].run.ready, 1)
            assert ctx.get(dut.front.status.visits) == 100 + select
            assert ctx.get(dut.front.status.busy) == 0 and ctx.get(dut.busy) == 1
            assert ctx.get(dut.replica[select].run.valid) == 1
            assert ctx.get(dut.replica[1 - select].run.valid) == 0
            ctx.set(dut.replica[1 - select].status.busy, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    for r in (0, 1):
        want = [i for i, (op, select, _) in enumerate(offers) if r in _targets(op, select)]
        assert got[r] == want, f"seed {seed}: replica {r} took {got[r]}, expected {want}"
