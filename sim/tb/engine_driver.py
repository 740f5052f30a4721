"""Driver, case generator and scoreboard for the binary engine, shared by every simulator.

The same code drives `BinaryEngine` in Amaranth's simulator (``tests/test_binary_engine.py``),
in cocotb on Icarus and Verilator (``sim/tb/binary_engine_tb.py``) and in the engine benchmark
(``sim/bench_engine.py``). It talks to the design through a small *bus* object with four
methods, so that only the bus knows the simulator:

- ``await set(name, value)``: drive an input port (``"access__valid"``, ``"run__payload"``, ...);
- ``await get(name)``: the settled value of a port in the current cycle, as an int;
- ``await tick()``: advance one clock cycle (inputs set before it are seen at that edge);
- ``await idle(cycles)``: advance ``cycles`` cycles without looking (fast polling).

Port names are the flattened names of the emitted Verilog (``engine_ports`` layouts packed as
integers with :meth:`amaranth.lib.data.Layout.const`).
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np

from hopfield_fpga import protocol as P
from hopfield_fpga.config import BETA_SCHEDULE_DEPTH, Feature, NetworkConfig, Order
from hopfield_fpga.gateware.engine_ports import AccessOp, EnginePorts, RunOrder, StopReason
from hopfield_fpga.numerics import seed_state
from hopfield_fpga.sim import golden

__all__ = ["run_comb_cases", "AmaranthBus", "EngineDriver", "EngineCase", "KINDS", "make_case", "expected", "compare",
           "run_case", "CaseMismatch"]


def _raw(layout, fields: dict) -> int:
    return layout.const(fields).as_value().value


class AmaranthBus:
    """The driver's bus over an Amaranth simulator testbench context."""

    def __init__(self, ctx, dut):
        self.ctx = ctx
        self.ports = {
            "access__payload": dut.access.payload.as_value(), "access__valid": dut.access.valid,
            "access__ready": dut.access.ready, "reply__payload": dut.reply.payload.as_value(),
            "reply__valid": dut.reply.valid, "reply__ready": dut.reply.ready,
            "run__payload": dut.run.payload.as_value(), "run__valid": dut.run.valid,
            "run__ready": dut.run.ready, "stop": dut.stop, "status": dut.status.as_value(),
            "trace__payload": dut.trace.payload.as_value(), "trace__valid": dut.trace.valid,
            "trace__ready": dut.trace.ready,
        }

    async def set(self, name, value):
        self.ctx.set(self.ports[name], value)

    async def get(self, name):
        return self.ctx.get(self.ports[name])

    async def tick(self):
        await self.ctx.tick()

    async def idle(self, cycles):
        await self.ctx.tick().repeat(cycles)


class EngineDriver:
    """Loads networks, starts runs and collects results through a simulator bus."""

    def __init__(self, bus, config: NetworkConfig, *, rng: random.Random | None = None):
        self.bus = bus
        self.config = config
        self.ports = EnginePorts(config)
        self.rng = rng or random.Random(0)

    async def reset_inputs(self):
        for name in ("access__valid", "run__valid", "reply__ready", "trace__ready", "stop"):
            await self.bus.set(name, 0)

    async def _send(self, stream: str, raw: int):
        await self.bus.set(f"{stream}__payload", raw)
        await self.bus.set(f"{stream}__valid", 1)
        while True:
            ready = await self.bus.get(f"{stream}__ready")
            await self.bus.tick()
            if ready:
                break
        await self.bus.set(f"{stream}__valid", 0)

    async def access(self, op: AccessOp, *, index: int = 0, chunk: int = 0, data: int = 0):
        """One access; returns the reply data for a read, else None."""
        await self._send("access", _raw(self.ports.access, {
            "op": op, "index": index, "chunk": chunk, "data": data}))
        if op not in (AccessOp.READ_WEIGHTS, AccessOp.READ_BIAS, AccessOp.READ_STATE,
                      AccessOp.READ_CYCLE):
            return None
        await self.bus.set("reply__ready", 1)
        while True:
            valid = await self.bus.get("reply__valid")
            payload = await self.bus.get("reply__payload")
            await self.bus.tick()
            if valid:
                break
        await self.bus.set("reply__ready", 0)
        return self.ports.reply.from_bits(payload).data

    # -- loading ------------------------------------------------------------------------------

    def _chunks(self, values):
        k = self.config.lanes
        for c in range(self.config.chunks):
            yield c, list(values[c * k:(c + 1) * k])

    async def write_weights(self, weights):
        w = np.asarray(weights)
        for j in range(self.config.neurons):
            for c, lanes in self._chunks(w[:, j]):
                await self.access(AccessOp.WRITE_WEIGHTS, index=j, chunk=c,
                                  data=self.ports.pack_lanes(lanes, self.config.weight_bits))

    async def write_bias(self, bias):
        for c, lanes in self._chunks(np.asarray(bias)):
            await self.access(AccessOp.WRITE_BIAS, chunk=c,
                              data=self.ports.pack_lanes(lanes, self.config.bias_bits))

    async def write_state(self, state, *, poll: int = 0):
        bits = (np.asarray(state) > 0).astype(int)
        for c, lanes in self._chunks(bits):
            await self.access(AccessOp.WRITE_STATE, chunk=c, data=self.ports.pack_lanes(lanes, 1))
            if poll:
                await self.wait_idle(poll)

    async def write_clamp(self, mask):
        """The clamp mask (§12, bit 1 = held) chunk by chunk (ColumnEngine only)."""
        bits = np.asarray(mask).astype(int)
        for c, lanes in self._chunks(bits):
            await self.access(AccessOp.WRITE_CLAMP, chunk=c, data=self.ports.pack_lanes(lanes, 1))

    async def store_pattern(self, pattern, *, poll: int = 0):
        """Send a pattern's chunks; with ``poll`` > 0, wait for the store by polling status
        every ``poll`` cycles (instead of cycle by cycle on the next access)."""
        bits = (np.asarray(pattern) > 0).astype(int)
        for c, lanes in self._chunks(bits):
            await self.access(AccessOp.STORE_PATTERN, chunk=c,
                              data=self.ports.pack_lanes(lanes, 1))
        if poll:
            await self.wait_idle(poll)

    async def write_patterns(self, patterns, first: int = 0):
        """Patterns into the quantized store's buffer (§14) from entry ``first`` on."""
        for mu, p in enumerate(np.asarray(patterns).reshape(-1, self.config.neurons), first):
            for c, lanes in self._chunks((p > 0).astype(int)):
                await self.access(AccessOp.WRITE_PATTERN, index=mu, chunk=c,
                                  data=self.ports.pack_lanes(lanes, 1))

    async def commit_quantized(self, count: int, scale=None):
        """The threshold steps of golden.quantized_store_table, then the quantized store of
        buffer entries 0 .. count-1 (returns without waiting for it)."""
        _, _, table = golden.quantized_store_table(count, self.config, scale)
        for k, step in enumerate(table):
            await self.access(AccessOp.WRITE_THRESHOLD, index=k,
                              data=P.pack_threshold_step(*step))
        await self.access(AccessOp.STORE_QUANTIZED, data=count)

    async def store_quantized(self, patterns, scale=None):
        """The quantized store (§14, ColumnEngine with store_patterns) of ``patterns``."""
        pats = np.asarray(patterns).reshape(-1, self.config.neurons)
        await self.write_patterns(pats)
        await self.commit_quantized(len(pats), scale)

    async def wait_idle(self, poll: int = 16):
        while (await self.status()).busy:
            await self.bus.idle(poll)

    async def write_betas(self, schedule):
        for i, beta in enumerate(schedule):
            await self.access(AccessOp.WRITE_BETA, index=i, data=int(beta))

    async def clear(self):
        await self.access(AccessOp.CLEAR)

    async def read_state(self, op: AccessOp = AccessOp.READ_STATE) -> np.ndarray:
        """The state (``op`` READ_CYCLE: the state before the last synchronous step's
        flips, ColumnEngine only)."""
        bits = []
        for c in range(self.config.chunks):
            word = await self.access(op, chunk=c)
            bits += self.ports.unpack_lanes(word, 1, signed_values=False)
        return np.array(bits[:self.config.neurons]) * 2 - 1

    async def read_weights(self) -> np.ndarray:
        n = self.config.neurons
        w = np.zeros((n, n), dtype=np.int64)
        for j in range(n):
            col = []
            for c in range(self.config.chunks):
                word = await self.access(AccessOp.READ_WEIGHTS, index=j, chunk=c)
                col += self.ports.unpack_lanes(word, self.config.weight_bits)
            w[:, j] = col[:n]
        return w

    async def status(self):
        return self.ports.status.from_bits(await self.bus.get("status"))

    # -- running ------------------------------------------------------------------------------

    async def run(self, *, order, seed=1, max_visits, stochastic=False, beta_len=1,
                  trace=False, ready_prob=1.0, stop_after=None, poll=16):
        """Start a run and wait for its end. Returns (status, events).

        With ``trace`` the trace stream is watched every cycle, ``trace__ready`` being high
        with probability ``ready_prob`` (back-pressure); events are (visit, index, value,
        delta). ``stop_after`` raises ``stop`` that many cycles after the start.
        """
        raw = _raw(self.ports.run, {
            "order": RunOrder(int(Order.parse(order))), "stochastic": int(stochastic),
            "trace": int(trace), "seed": seed_state(seed), "max_visits": max_visits,
            "beta_len": beta_len})
        await self._send("run", raw)
        events = []
        cycle = 0
        if not trace and stop_after is None:
            await self.wait_idle(poll)
            return await self.status(), events
        while True:
            if stop_after is not None and cycle >= stop_after:
                await self.bus.set("stop", 1)
            ready = int(self.rng.random() < ready_prob)
            await self.bus.set("trace__ready", ready)
            valid = await self.bus.get("trace__valid")
            if valid and ready:
                ev = self.ports.trace.from_bits(await self.bus.get("trace__payload"))
                events.append(golden.FlipEvent(int(ev.visit), int(ev.index),
                                               1 if ev.value else -1, int(ev.delta_energy2)))
            busy = (await self.status()).busy
            if not busy and not valid:
                break
            await self.bus.tick()
            cycle += 1
        await self.bus.set("trace__ready", 0)
        await self.bus.set("stop", 0)
        return await self.status(), events


# -- randomized cases -----------------------------------------------------------------------------

@dataclasses.dataclass
class EngineCase:
    """One randomized case: a network, a start state and run parameters."""
    seed: int
    kind: str  # one of KINDS
    weights: np.ndarray
    bias: np.ndarray
    state: np.ndarray
    order: str
    run_seed: int
    max_visits: int
    schedule: list | None = None
    patterns: np.ndarray | None = None     # on-chip Hebbian store before the run
    trace: bool = True
    ready_prob: float = 1.0
    clamp: np.ndarray | None = None        # held neurons (§12); None: the engine has no mask
    quantized: bool = False                # patterns stored by the quantized store (§14)

    def describe(self) -> str:
        return (f"case seed={self.seed} kind={self.kind} order={self.order} "
                f"run_seed={self.run_seed} max_visits={self.max_visits} "
                f"schedule={self.schedule} trace={self.trace}"
                + (" quantized store" if self.quantized else "")
                + ("" if self.clamp is None else
                   f" clamp={np.flatnonzero(self.clamp).tolist()}"))


KINDS = ("symmetric", "extreme", "asymmetric", "ties", "stochastic", "hebbian")


def make_case(config: NetworkConfig, seed: int, kind: str | None = None, *,
              clamp: bool = False) -> EngineCase:
    """A random case for ``config`` from ``seed`` (``kind`` picked from KINDS if None). With
    ``clamp`` (an engine with a clamp mask, §12) the case has a mask, in about half the cases
    holding some neurons; the draws before it are those of a case without ``clamp``."""
    r = np.random.default_rng(seed)
    n = config.neurons
    lo, hi = config.weight_min, config.weight_max
    orders = [o.name.lower() for o in config.orders]
    kinds = [k for k in KINDS
             if (k != "stochastic" or config.has(Feature.STOCHASTIC))
             and (k != "hebbian" or config.has(Feature.HEBBIAN))]
    if kind is None:
        kind = kinds[int(r.integers(len(kinds)))]
    order = orders[int(r.integers(len(orders)))]
    schedule = patterns = None
    cap = int(r.integers(0, 6 * n + 20)) if r.random() < 0.3 else 50 * n + 200
    blo, bhi = config.bias_min, config.bias_max
    bias = r.integers(blo // 4, bhi // 4 + 1, n) if r.random() < 0.5 else np.zeros(n, int)
    if kind == "symmetric":
        a = r.integers(lo, hi + 1, (n, n))
        w = np.triu(a, 1)
        w = w + w.T
        w = np.clip(w, lo, hi)
        np.fill_diagonal(w, r.integers(0, hi + 1, n) if r.random() < 0.3 else 0)
    elif kind == "extreme":
        w = r.choice([lo, hi, 0, lo, hi], (n, n))
        w = np.triu(w, 1) + np.triu(w, 1).T
        np.fill_diagonal(w, 0)
        bias = r.choice([blo, bhi, 0], n)
    elif kind == "asymmetric":
        w = r.integers(lo, hi + 1, (n, n))
        cap = int(r.integers(0, 8 * n + 30))
    elif kind == "ties":
        # Small weights and zero biases make h = 0 frequent.
        w = r.integers(max(lo, -1), min(hi, 1) + 1, (n, n))
        w = np.triu(w, 1) + np.triu(w, 1).T
        np.fill_diagonal(w, 0)
        bias = np.zeros(n, int)
    elif kind == "stochastic":
        a = r.integers(lo, hi + 1, (n, n))
        w = np.triu(a, 1) + np.triu(a, 1).T
        w = np.clip(w, lo, hi)
        np.fill_diagonal(w, 0)
        order = [o for o in orders if o not in ("rejection_free", "synchronous")] \
            or ["sequential"]
        order = order[int(r.integers(len(order)))]
        length = int(r.integers(1, BETA_SCHEDULE_DEPTH + 1)) if r.random() < 0.5 \
            else int(r.integers(1, 5))
        big = r.random() < 0.3
        schedule = [int(v) for v in r.integers(0, 1 << 16 if big else 1 << 9, length)]
        cap = int(r.integers(0, 4 * n + 40))
    else:  # hebbian: on-chip store of P patterns (saturating when P > W_MAX)
        w = np.zeros((n, n), int)
        p_count = int(r.integers(1, min(2 * max(1, hi) + 3, 24)))
        patterns = r.choice([-1, 1], (p_count, n))
        bias = np.zeros(n, int)
    quantized = False
    if kind == "hebbian" and config.store_patterns and r.random() < 0.5:
        # the quantized store of §14 instead, P <= P_MAX; it replaces the weights loaded
        # before it (the saturating store adds to them: a mix-up shows)
        quantized = True
        patterns = patterns[:config.store_patterns]
        w = r.integers(lo, hi + 1, (n, n))
    state = r.choice([-1, 1], n)
    if kind == "hebbian" and r.random() < 0.7:
        flip = r.random(n) < 0.2
        state = np.where(flip, -patterns[0], patterns[0])
    w = np.asarray(w, dtype=np.int64)
    if config.has(Feature.SYMMETRIC):
        # a board that takes symmetric weights only (§6): the upper triangle mirrored (an
        # "asymmetric" or quantized case becomes a symmetric one; the draws stay the same)
        w = np.triu(w) + np.triu(w, 1).T
    if order == "synchronous" and kind in ("symmetric", "extreme", "ties") \
            and r.random() < 0.6:
        # Negative couplings: synchronous runs then often end in a 2-cycle (§13).
        w, bias = np.clip(-np.abs(w), lo, hi), np.zeros(n, int)
    held = None
    if clamp:
        held = r.random(n) < (r.uniform(0.1, 0.6) if r.random() < 0.5 else 0.0)
    return EngineCase(clamp=held, quantized=quantized, seed=seed, kind=kind, weights=w,
                      bias=np.asarray(bias, dtype=np.int64),
                      state=np.asarray(state, dtype=np.int64), order=order,
                      run_seed=int(r.integers(0, 1 << 32)) if r.random() < 0.9 else 0,
                      max_visits=cap, schedule=schedule, patterns=patterns,
                      ready_prob=1.0 if r.random() < 0.5 else 0.4,
                      # A quarter untraced: in rejection_free order those runs take the
                      # engine's chained flips (3 <= C <= 24, K <= 8) or its early drain.
                      trace=r.random() >= 0.25)


def expected(config: NetworkConfig, case: EngineCase):
    """(weights after the on-chip stores, golden RunResult) of a case."""
    w = case.weights
    if case.quantized:
        w = golden.store_hebbian_quantized(case.patterns, config=config)
    elif case.patterns is not None:
        w = golden.store_hebbian(w, case.patterns, config=config)
    result = golden.run_binary(w, case.bias, case.state, order=case.order, seed=case.run_seed,
                               max_visits=case.max_visits, beta_fixed=case.schedule,
                               trace=case.trace, clamp=case.clamp, config=config)
    return w, result


class CaseMismatch(AssertionError):
    pass


def compare(case: EngineCase, want, status, events, state, *, cycles_ok=True,
            cycle_state=None) -> None:
    """Raise :class:`CaseMismatch` naming the case seed and the first difference
    (``cycle_state``: the engine's other state of a 2-cycle, checked when given)."""
    head = case.describe()
    if case.trace:
        got = list(events)
        for i, (a, b) in enumerate(zip(want.trace, got)):
            if a != b:
                raise CaseMismatch(f"{head}: first diverging flip #{i}: golden {a}, RTL {b}")
        if len(got) != len(want.trace):
            extra = (want.trace[len(got)] if len(want.trace) > len(got) else got[len(want.trace)])
            raise CaseMismatch(f"{head}: golden has {len(want.trace)} flips, RTL traced "
                               f"{len(got)}; first unmatched: {extra}")
    reason = {"converged": StopReason.CONVERGED, "cap": StopReason.CAP,
              "stop": StopReason.STOP, "cycle2": StopReason.CYCLE2}[want.stop_reason]
    checks = [
        ("state", list(map(int, want.state)), list(map(int, state))),
        ("converged", bool(want.converged), bool(status.converged)),
        ("stop_reason", reason, status.stop_reason),
        ("visits", want.visits, int(status.visits)),
        ("flips", want.flips, int(status.flips)),
        ("energy2", want.energy2, int(status.energy2)),
    ]
    if cycle_state is not None and want.cycle_state is not None:
        checks.append(("cycle_state", list(map(int, want.cycle_state)),
                       list(map(int, cycle_state))))
    for name, a, b in checks:
        if a != b:
            raise CaseMismatch(f"{head}: {name}: golden {a}, RTL {b}")


async def run_case(driver: EngineDriver, case: EngineCase, *, fresh: bool = True):
    """Load a case into the engine, run it and return (status, events, final state)."""
    if fresh:
        await driver.clear()
    await driver.write_weights(case.weights)
    if case.quantized:
        await driver.store_quantized(case.patterns)
    else:
        for p in case.patterns if case.patterns is not None else ():
            await driver.store_pattern(p)
    await driver.write_bias(case.bias)
    await driver.write_state(case.state)
    if case.clamp is not None:
        await driver.write_clamp(case.clamp)
    if case.schedule is not None:
        await driver.write_betas(case.schedule)
    status, events = await driver.run(
        order=case.order, seed=case.run_seed, max_visits=case.max_visits,
        stochastic=case.schedule is not None,
        beta_len=len(case.schedule) if case.schedule else 1, trace=case.trace,
        ready_prob=case.ready_prob)
    state = await driver.read_state()
    return status, events, state


def run_comb_cases(dut, cases, check) -> None:
    """Amaranth simulator: ``await check(ctx, case)`` for each case, in one testbench (for
    combinational components and short sequences)."""
    from amaranth.sim import Simulator
    sim = Simulator(dut)

    async def bench(ctx):
        for case in cases:
            await check(ctx, case)

    sim.add_testbench(bench)
    sim.run()
