"""Replicas: R = 2 column engines, independent chains, sharing one weight store.

`ColumnReplicas(config)` builds two :class:`~.column_engine.ColumnEngine` datapaths (each
its own field array, selectors, Glauber unit, energy unit, bias memory, beta schedule, clamp
mask and status registers) on one :class:`~.weight_store.WeightStore` with two ports: each
replica reads whole columns through its own port of the same block RAMs, so the weights are
stored once. Each replica runs exactly as a lone ``ColumnEngine`` would: the same dynamics,
the same result for its probe and seed as :func:`hopfield_fpga.sim.golden.run_binary`, the
same cycle accounting (``status.cycles``).

Weights are written (WRITE_WEIGHTS, CLEAR, the Hebbian STORE_PATTERN and the quantized
store) through replica 0 only, while replica 1 is idle: replica 0's port owns the store's
write path (the block RAMs' port B, which replica 1 reads through otherwise), and replica
1's writes are not performed. The caller (the command engine, docs/engine.md, "Replicas")
keeps to this rule; a weight write through replica 1 only marks its fields stale (a CLEAR
through it clears its biases, not the weights). After a write through replica 0, replica 1's
fields are stale (``status.fields_valid`` low) and its next run refreshes them, as after a
write of its own. Biases, states, clamp masks, beta schedules and runs are per
replica.

Members
-------
replica: Out(engine_signature(config)).array(replicas): replica r's engine ports (access,
reply, run, stop, status, trace), as
:func:`~hopfield_fpga.gateware.engine_ports.engine_signature` describes them.

`SelectedReplica(config)` is what a board builds (``config.replicas`` > 1): the replicas behind
a :class:`~hopfield_fpga.gateware.replica_dispatch.ReplicaDispatch`, so one engine's ports
(``engine``) reach the replica that ``select`` names, with the broadcasts and the weight
rule of the dispatch, and ``busy`` says whether any replica is busy.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import NetworkConfig
from ..engine_ports import engine_signature
from ..replica_dispatch import ReplicaDispatch
from .column_engine import DEFAULT_WORDS, ColumnEngine
from .weight_store import WeightStore

__all__ = ["ColumnReplicas", "SelectedReplica"]


class ColumnReplicas(wiring.Component):
    """Column engines sharing one weight store (see the module docstring)."""

    def __init__(self, config: NetworkConfig, replicas: int = 2, *,
                 words: int = DEFAULT_WORDS, spans=None):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        if replicas not in (1, 2):
            raise ValueError(f"replicas must be 1 or 2 (one per block RAM port), "
                             f"not {replicas!r}")
        self.config, self.replicas = config, replicas
        self.engines = [ColumnEngine(config, words=words, spans=spans, shared_store=True)
                        for _ in range(replicas)]
        super().__init__({"replica": Out(engine_signature(config)).array(replicas)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.weights = store = WeightStore(self.config, read_ports=self.replicas)
        for r, engine in enumerate(self.engines):
            m.submodules[f"replica{r}"] = engine
            wiring.connect(m, engine.weights, store.ports[r])
            # The replica's engine ports are this component's, member for member.
            _forward(m, engine_signature(self.config), self.replica[r], engine)
        return m


class SelectedReplica(wiring.Component):
    """``ColumnReplicas`` seen through a ``ReplicaDispatch`` (see the module docstring).

    Members
    -------
    engine: Out(engine_signature(config)): a lone engine's ports, reaching replica ``select``.
    select: In(range(config.replicas)). busy: Out(1): some replica is busy.
    """

    def __init__(self, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        self.config = config
        self.replicas = ColumnReplicas(config, config.replicas)
        self.dispatch = ReplicaDispatch(config)     # refuses config.replicas = 1
        super().__init__({"engine": Out(engine_signature(config)),
                          "select": In(range(config.replicas)), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.replicas, m.submodules.dispatch = self.replicas, self.dispatch
        for inner, outer in zip(self.dispatch.replica, self.replicas.replica):
            wiring.connect(m, inner, outer)
        _forward(m, engine_signature(self.config), self.engine, self.dispatch.front)
        m.d.comb += [self.dispatch.select.eq(self.select), self.busy.eq(self.dispatch.busy)]
        return m


def _forward(m: Module, signature: wiring.Signature, outer, inner) -> None:
    """Join ``outer`` (a port of this component) to ``inner`` (the same port of a
    submodule), both of ``signature`` and the same direction, member for member."""
    for (path, member, value), (_, _, inner_value) in zip(signature.flatten(outer),
                                                          signature.flatten(inner)):
        if member.flow == wiring.In:
            m.d.comb += inner_value.eq(value)
        else:
            m.d.comb += value.eq(inner_value)
