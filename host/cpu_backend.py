"""The ``cpu://`` backend: the engine interfaces computed on the host, no bytes, no board.

``Board.open("cpu://?neurons=256&weight_bits=8")`` (parameters as ``sim://``'s configuration
keys: ``neurons``, ``weight_bits``, ``bias_bits``, ``lanes``, ``orders``, ``features``; see
``host/urls.py``) returns a :class:`~hopfield_fpga.host.board.Board` whose engines are a
:class:`CpuBackend`: it holds what a board holds (the binary engine's W, b and state; the
graded engine's W, b, u, v and sigmoid table) and computes runs with the compiled CPU engine
(``hopfield_fpga.sim.cpu_engine``, the numba twin of the golden model), so every result equals
the simulated board's bit for bit, except ``cycles`` (None: there is no clock; with
``cycles=column&clk=HZ`` the column engine's cycles of its untraced runs from its cycle
accounting, see :class:`ColumnCycles`). The Board facade
validates every input first, as for a board. It also has what no board has yet
(``engines.EXTRAS``): clamped neurons, the synchronous order and the quantized store
(``docs/numerics.md`` §12-§14), whatever its configuration (which stays that of the sim://
board of the same URL).

The loaded network is checked and converted once per load (a ``cpu_engine.PreparedNetwork``,
made again when weights, biases or the store change); ``recall_many`` runs its probes, which
the Board has checked, on as many cores as the batch pays for (``PreparedNetwork.run_batch``),
each result independent of the thread count.

Runs execute on a worker thread (one per backend, kept between calls) so that ``run_timeout``,
:meth:`stop` and Ctrl-C end the wait; a run ended that way changes nothing (its result is
dropped) and raises RunTimeout (timeout) or RunStopped (stop) without a result: a CPU run has
no partial state to report.
"""

from __future__ import annotations

import dataclasses
import queue
import threading

import numpy as np

from hopfield_fpga import protocol as P
from hopfield_fpga.config import NetworkConfig, Order
from hopfield_fpga.numerics import GRADED_PRESETS
from hopfield_fpga.sim import cpu_engine as engine   # the compiled twin of the golden model
from hopfield_fpga.sim import golden, graded
from hopfield_fpga.sim.golden import RunResult
from .engines import EXTRAS, RunSpec
from .errors import BoardClosed, ConfigMismatch, RunStopped, RunTimeout
from .results import BoardInfo, BoardStatus

__all__ = ["CpuBackend", "ColumnCycles", "engine"]


class _Runner:
    """A daemon thread that runs a backend's calls one at a time. Starting a thread per call
    cost about 0.1 ms of CPU (measured on the development machine), a tenth of a
    ``recall_many`` of 200 probes at N = 256. It ends when retired (its backend closed, or a
    run it was given timed out or was stopped: it finishes that run, nobody waits for it) or
    after :attr:`IDLE` seconds without a call; :meth:`submit` starts it again then."""

    IDLE = 5.0

    def __init__(self):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._alive = False

    def submit(self, fn) -> tuple[dict, threading.Event]:
        """Queue ``fn``; its value or exception goes into the dict, the event is set after."""
        box: dict = {}
        done = threading.Event()
        with self._lock:
            self._jobs.put((fn, box, done))
            if not self._alive:
                self._alive = True
                threading.Thread(target=self._serve, daemon=True, name="cpu-run").start()
        return box, done

    def retire(self) -> None:
        """End the thread after the call it is running, if any."""
        self._jobs.put(None)

    def _serve(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self.IDLE)
            except queue.Empty:
                with self._lock:                     # submit() cannot queue a call meanwhile
                    if self._jobs.empty():
                        self._alive = False
                        return
                continue
            if job is None:
                return
            fn, box, done = job
            try:
                box["value"] = fn()
            except BaseException as exc:     # handed to the caller's thread
                box["error"] = exc
            done.set()


class ColumnCycles:
    """``cpu://?cycles=column&clk=HZ``: each run carries the cycles the column engine
    (``config.engine == "column"``) takes for it, ``status.cycles`` of the same run on the
    board, from the engine's cycle accounting (``gateware/engine_cycles.column_run_cycles``,
    which the column engine's tests check exactly against the RTL's ``status.cycles``). It
    models the run from its outcome and its flips (random and rejection_free order replayed
    from the run's start, a numpy pass over the fields a flip), so the runs record their flips
    (a run with more than 256 flips runs twice, :func:`engine._run_traced`) and a
    ``recall_many`` runs its probes one after another. Traced runs are refused: on a board
    their cycles include the stalls of the link that carries the events. The time at the
    clock leaves out the link (no bytes are counted)."""

    def __init__(self, config: NetworkConfig):
        # The cycle accounting reads its latencies off the gateware blocks: Amaranth is
        # imported for this option only, as the host needs none for a board.
        from hopfield_fpga.gateware import engine_cycles
        self.config, self._cycles = config, engine_cycles

    def check(self, spec: RunSpec) -> None:
        """Refuse a run the model does not cover, before it runs."""
        if spec.trace:
            raise ConfigMismatch(
                "cpu://?cycles=column gives the cycles of untraced runs: a traced run's "
                "cycles on a board include the stalls of the link that carries its events. "
                "Run it untraced for its cycles, traced on cpu:// without cycles= for its "
                "events, or on sim:// for both")

    def of(self, result: RunResult, flips: np.ndarray, spec: RunSpec, seed: int,
           weights: np.ndarray, bias: np.ndarray, probe: np.ndarray) -> RunResult:
        """``result`` (a run of ``probe`` on ``weights`` and ``bias`` with ``seed``, whose
        flips were ``flips``) with its cycles."""
        ec = self._cycles
        cycles = ec.column_run_cycles(
            self.config, order=spec.order.name.lower(), stochastic=spec.schedule is not None,
            visits=result.visits, cap=spec.cap, stop_reason=result.stop_reason, flips=flips,
            seed=seed, start=ec.RunStart(weights, bias, probe, spec.clamp, seed))
        return dataclasses.replace(result, cycles=cycles)


class CpuBackend:
    """Both engine interfaces (``host/engines.py``) computed in memory (see the module doc)."""

    extras = frozenset(EXTRAS)

    def __init__(self, config: NetworkConfig, url: str, cycles: str | None = None,
                 clk: int = 0):
        self.config = config
        self.url = url
        self.clk = clk
        self.cycle_model = ColumnCycles(config) if cycles == "column" else None
        n = config.neurons
        self.weights = np.zeros((n, n), dtype=np.int64)     # the binary engine's
        self.bias = np.zeros(n, dtype=np.int64)
        self.state = -np.ones(n, dtype=np.int8)
        self.graded_weights = np.zeros((n, n), dtype=np.int64)
        self.graded_bias = np.zeros(n, dtype=np.int64)
        self.u = np.zeros(n, dtype=np.int64)
        self.v = np.zeros(n, dtype=np.int64)
        self.table = tuple(GRADED_PRESETS["atan"])
        self._last: RunResult | None = None
        #: The last run's clamp mask, which a board keeps in its mask register (§12): STATUS's
        #: |U| counts the free neurons only while it holds any.
        self._held: np.ndarray | None = None
        self._net = None         # engine.PreparedNetwork of (weights, bias), made on first use
        self._graded_last: dict | None = None
        self._closed = False
        self._stop = threading.Event()
        self._runner: _Runner | None = None

    def info(self) -> BoardInfo:
        return BoardInfo(P.PROTOCOL_VERSION, self.config, self.clk, 0, 0, self.url)

    def close(self) -> None:
        self._closed = True
        if self._runner is not None:
            self._runner.retire()
            self._runner = None

    def _check_open(self) -> None:
        if self._closed:
            raise BoardClosed(f"{self.url}: the board was closed; open it again")

    def stop(self) -> None:
        """End the run that is going on (its result is dropped); nothing when none is."""
        self._check_open()
        self._stop.set()

    def _call(self, fn, run_timeout: float):
        """``fn()`` on the run thread, waited for at most ``run_timeout`` seconds."""
        self._check_open()
        self._stop.clear()
        if self._runner is None:
            self._runner = _Runner()
        runner = self._runner
        box, done = runner.submit(fn)
        try:
            waited = 0.0
            while not done.wait(0.05):
                waited += 0.05
                if self._stop.is_set():
                    raise RunStopped(f"{self.url}: the run was stopped; a CPU run keeps no "
                                     f"partial state, so nothing changed")
                if waited >= run_timeout:
                    raise RunTimeout(f"{self.url}: the run did not end within run_timeout = "
                                     f"{run_timeout:g} s; nothing changed")
        except BaseException:
            # Stopped, timed out or Ctrl-C: the thread goes on with the dropped run, and the
            # next call gets a new one instead of waiting behind it. The dropped run still
            # updates its prepared network's resident state, so the next call prepares its own.
            runner.retire()
            if self._runner is runner:
                self._runner = None
            self._net = None
            raise
        if "error" in box:
            raise box["error"]
        return box["value"]

    # -- the binary engine ------------------------------------------------------------------

    def write_weights(self, weights: np.ndarray, progress=None) -> None:
        self._check_open()
        self.weights = weights.astype(np.int64).copy()
        self._net = None
        self.graded_weights = self.weights.copy()
        if progress:
            progress(1, 1)

    def read_weights(self, progress=None) -> np.ndarray:
        self._check_open()
        return (self.weights if self.config.has_binary else self.graded_weights).copy()

    def write_bias(self, bias: np.ndarray) -> None:
        self._check_open()
        self.bias = bias.astype(np.int64).copy()
        self._net = None
        self.graded_bias = self.bias.copy()

    def read_bias(self) -> np.ndarray:
        self._check_open()
        return (self.bias if self.config.has_binary else self.graded_bias).copy()

    def write_state(self, state: np.ndarray) -> None:
        self._check_open()
        self.state = state.astype(np.int8).copy()

    def read_state(self) -> np.ndarray:
        self._check_open()
        return self.state.copy()

    def clear(self) -> None:
        self._check_open()
        n = self.config.neurons
        self.weights = np.zeros((n, n), dtype=np.int64)
        self.bias = np.zeros(n, dtype=np.int64)
        self.state = -np.ones(n, dtype=np.int8)
        self._net = None

    def store(self, patterns: np.ndarray, progress=None) -> None:
        self._check_open()
        self.weights = np.asarray(engine.store_hebbian(self.weights, patterns,
                                                       config=self.config), dtype=np.int64)
        self._net = None
        if progress:
            progress(len(patterns), len(patterns))

    def store_quantized(self, patterns: np.ndarray, scale: float | None) -> None:
        self._check_open()
        self.weights = np.asarray(engine.store_hebbian_quantized(patterns, config=self.config,
                                                                 scale=scale), dtype=np.int64)
        self._net = None

    def status(self) -> BoardStatus:
        """The last run's outcome; ``unstable``, ``converged`` (no free neuron unstable) and
        ``energy2`` describe the current W, b and state, as a board's do while its fields are
        valid; ``cycles`` the last run's (0 before a run; None without a cycle model);
        ``refresh_cycles`` None (not modelled)."""
        self._check_open()
        last = self._last
        unstable = self._unstable_free()
        no_run = 0 if self.cycle_model is not None else None
        return BoardStatus(
            busy=False, converged=unstable == 0,
            stop_reason=last.stop_reason if last else P.STOP_REASON_NAMES[P.StopReason.NONE],
            fields_valid=True,
            unstable=unstable,
            visits=last.visits if last else 0, flips=last.flips if last else 0,
            cycles=last.cycles if last else no_run,
            refresh_cycles=None,
            energy2=int(golden.energy2(self.weights, self.bias, self.state, config=self.config)))

    def _unstable_free(self) -> int:
        unstable = golden.unstable(self.weights, self.bias, self.state, config=self.config)
        if self._held is None:
            return len(unstable)
        return int(np.count_nonzero(~self._held[unstable]))

    def _keywords(self, spec: RunSpec) -> dict:
        return dict(order=spec.order, seed=spec.seed, max_visits=spec.cap, clamp=spec.clamp,
                    beta_fixed=None if spec.schedule is None else list(spec.schedule))

    def _network(self):
        """The loaded network, checked and converted once per load (like a board's memories)."""
        if self._net is None:
            # the synchronous order is an extra of this engine, not a configured order
            runs = self.config.with_(orders=(*self.config.orders, Order.SYNCHRONOUS))
            self._net = engine.PreparedNetwork(self.weights, self.bias, runs)
        return self._net

    def recall(self, probe: np.ndarray, spec: RunSpec, run_timeout: float) -> RunResult:
        net = self._network()
        if self.cycle_model is not None:
            self.cycle_model.check(spec)
            result = self._call(lambda: self._counted(net, probe, spec, spec.seed), run_timeout)
        else:
            result = self._call(lambda: net.run(probe, trace=spec.trace,
                                                **self._keywords(spec)), run_timeout)
        self.state = np.asarray(result.state, dtype=np.int8).copy()
        self._last, self._held = result, spec.clamp
        return result

    def _counted(self, net, probe, spec: RunSpec, seed: int) -> RunResult:
        """A run with the cycle model's cycles."""
        kw = dict(self._keywords(spec), seed=seed)
        result, flips = net.run_flips(probe, **kw)
        return self.cycle_model.of(result, flips, spec, seed, self.weights, self.bias, probe)

    def recall_many(self, probes: np.ndarray, spec: RunSpec, run_timeout: float,
                    progress=None) -> list[RunResult]:
        net, kw = self._network(), self._keywords(spec)
        if self.cycle_model is not None:
            self.cycle_model.check(spec)
            seeds = spec.probe_seeds or (spec.seed,) * len(probes)
            results = self._call(lambda: [self._counted(net, p, spec, s)
                                          for p, s in zip(probes, seeds)], run_timeout)
        else:
            results = self._call(lambda: net.run_batch(probes, checked=True,
                                                       seeds=spec.probe_seeds, **kw).results(),
                                 run_timeout)
        if results:
            self.state = np.asarray(results[-1].state, dtype=np.int8).copy()
            self._last, self._held = results[-1], spec.clamp
        if progress:
            progress(len(results), len(results))
        return results

    # -- the graded engine ------------------------------------------------------------------

    def write_u(self, u: np.ndarray) -> None:
        self._check_open()
        self.u = u.astype(np.int64).copy()

    def read_u(self) -> np.ndarray:
        self._check_open()
        return self.u.copy()

    def read_v(self) -> np.ndarray:
        self._check_open()
        return self.v.copy()

    def write_table(self, table: tuple) -> None:
        self._check_open()
        self.table = tuple(tuple(int(x) for x in e) for e in table)

    def read_table(self) -> tuple:
        self._check_open()
        return self.table

    def graded_status(self) -> dict:
        self._check_open()
        last = self._graded_last or {"converged": False, "stop_reason": "converged", "steps": 0,
                                     "max_du": 0}
        return {"busy": False, **last, "cycles": None}

    def run_graded(self, params, trace: bool, run_timeout: float):
        params = dataclasses.replace(params, table=self.table)   # the table on the "board"
        w, b, u0 = self.graded_weights, self.graded_bias, self.u
        run = engine.run_graded_fixed
        res = self._call(lambda: run(w, b, u0, params, self.config, trace=trace), run_timeout)
        self.u = np.asarray(res.u, dtype=np.int64).copy()
        self.v = np.asarray(res.v, dtype=np.int64).copy()
        self._graded_last = {"converged": bool(res.converged),
                             "stop_reason": "converged" if res.converged else "cap",
                             "steps": int(res.steps), "max_du": int(res.max_du)}
        return {"busy": False, **self._graded_last, "cycles": None}, res.trace
