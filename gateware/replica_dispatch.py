"""The command engine's view of R engine replicas: one engine's ports, the replica chosen.

`ReplicaDispatch(config)` sits between the command engine and
:class:`~hopfield_fpga.gateware.engine.replicas.ColumnReplicas`. Its ``front`` port is a lone
binary engine's (``engine_ports.engine_signature``), so the command engine drives it as it
drives one engine; ``select`` picks the replica behind it:

- a run, a state write, every read, the reply and the trace go to (come from) replica
  ``select``; ``front.status`` is replica ``select``'s status, its ``busy`` included;
- the writes every chain needs are broadcast, the transfer done once every replica has taken
  it: biases, beta schedule entries and clamp masks (each replica has its own copies) and
  CLEAR (replica 0 clears the weights and its biases, the others their biases);
- the weight store's writes (WRITE_WEIGHTS, STORE_PATTERN, the quantized store's buffer,
  table and STORE_QUANTIZED) go to replica 0 whatever ``select`` is: ``ColumnReplicas``
  performs weight writes through replica 0 only (the others' fields go stale and their next
  run refreshes them). The caller writes only while no replica runs (the command engine
  answers BUSY meanwhile), as ``ColumnReplicas`` requires;
- ``front.stop`` reaches every replica.

Members
-------
front: Out(engine_signature(config))
    An engine's ports, for the command engine's ``engine`` port.
replica: In(engine_signature(config)).array(replicas)
    The replicas' ports, for ``ColumnReplicas.replica`` (both joined with ``wiring.connect``).
select: In(range(replicas))
    The replica of runs, state writes and reads; the command engine's replica register.
busy: Out(1)
    Some replica is busy (the OR of their ``status.busy``): the command engine's "a run goes
    on", which ``front.status.busy`` alone (the selected replica) does not say.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import MAX_REPLICAS, NetworkConfig
from .engine_ports import AccessOp, engine_signature

__all__ = ["ReplicaDispatch", "BROADCAST_OPS", "STORE_WRITE_OPS"]

#: Accesses every replica takes (each keeps its own biases, schedule and clamp mask).
BROADCAST_OPS = (AccessOp.WRITE_BIAS, AccessOp.WRITE_BETA, AccessOp.WRITE_CLAMP, AccessOp.CLEAR)
#: Accesses that write the shared weight store (or the quantized store's inputs, which live
#: in replica 0): replica 0 only.
STORE_WRITE_OPS = (AccessOp.WRITE_WEIGHTS, AccessOp.STORE_PATTERN, AccessOp.WRITE_PATTERN,
                   AccessOp.WRITE_THRESHOLD, AccessOp.STORE_QUANTIZED)


class ReplicaDispatch(wiring.Component):
    """Presents replica ``select`` of ``replicas`` engines as one engine (see the module
    docstring)."""

    def __init__(self, config: NetworkConfig, replicas: int | None = None):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        replicas = config.replicas if replicas is None else replicas
        if not isinstance(replicas, int) or not 2 <= replicas <= MAX_REPLICAS:
            raise ValueError(f"replicas must be an integer from 2 to {MAX_REPLICAS} (one "
                             f"replica needs no dispatch), not {replicas!r}")
        self.config, self.replicas = config, replicas
        signature = engine_signature(config)
        super().__init__({
            "front": Out(signature),
            "replica": In(signature).array(replicas),
            "select": In(range(replicas)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        front, R = self.front, self.replicas
        op = front.access.payload.op

        # the replicas an access goes to (a bit each), and those that took it already
        broadcast = Const(0, 1)
        for o in BROADCAST_OPS:
            broadcast = broadcast | (op == o)
        store_write = Const(0, 1)
        for o in STORE_WRITE_OPS:
            store_write = store_write | (op == o)
        targets = Signal(R)
        with m.If(broadcast):
            m.d.comb += targets.eq((1 << R) - 1)
        with m.Elif(store_write):
            m.d.comb += targets.eq(1)
        with m.Else():
            m.d.comb += targets.eq(1 << self.select)
        taken = Signal(R)       # took the access in an earlier cycle of this transfer
        pending = targets & ~taken
        takes = Cat(pending[r] & self.replica[r].access.ready for r in range(R))
        done = (pending & ~takes) == 0
        m.d.comb += front.access.ready.eq(done)
        with m.If(front.access.valid):
            # a transfer done clears the record for the next one
            m.d.sync += taken.eq(Mux(done, 0, taken | takes))

        for r, rep in enumerate(self.replica):
            chosen = self.select == r
            m.d.comb += [
                rep.access.payload.eq(front.access.payload),
                rep.access.valid.eq(front.access.valid & pending[r]),
                rep.run.payload.eq(front.run.payload),
                rep.run.valid.eq(front.run.valid & chosen),
                rep.stop.eq(front.stop),
                rep.reply.ready.eq(front.reply.ready & chosen),
                rep.trace.ready.eq(front.trace.ready & chosen),
            ]
            with m.If(chosen):
                m.d.comb += [
                    front.run.ready.eq(rep.run.ready),
                    front.reply.valid.eq(rep.reply.valid),
                    front.reply.payload.eq(rep.reply.payload),
                    front.trace.valid.eq(rep.trace.valid),
                    front.trace.payload.eq(rep.trace.payload),
                    front.status.eq(rep.status),
                ]
        m.d.comb += self.busy.eq(Cat(rep.status.busy for rep in self.replica).any())
        return m

