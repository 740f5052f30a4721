"""The board driver: load networks, store patterns and recall, on a board or on the CPU.

``Board.open(url)`` opens

- a real serial port (``/dev/ttyUSB1``, or any pyserial URL such as ``socket://``),
- the simulated board (``sim://?neurons=256``, the gateware in a simulator, see
  ``host/simboard.py``), or
- the CPU backend (``cpu://?neurons=256``, the golden model's arithmetic in memory, see
  ``host/cpu_backend.py``; results equal a board's bit for bit, without cycle counts),

and returns a :class:`Board`. The layers (``docs/architecture.md``):

- ``host/link.py`` (:class:`~hopfield_fpga.host.link.Link`): frames, sequence numbers, retries,
  deadlines, trace routing;
- ``host/wire.py``: the binary and graded engine interfaces (``host/engines.py``) as protocol
  requests over a link; ``host/cpu_backend.py``: the same interfaces computed on the host;
- this module: :class:`Board`, a thin facade that checks every input against the board's
  :class:`~hopfield_fpga.config.NetworkConfig` before anything is sent.

Errors: every error derives from :class:`~hopfield_fpga.host.errors.BoardError`. A bad URL
raises BoardURLError; a value that does not fit the board raises ConfigMismatch naming it (or
BadInput / BadInputType for a value that is not valid at all); for weights with
``quantize=True`` finite values are scaled and rounded with a warning. Nothing wraps.

Deadlines: every request ends within ``timeout * (retries + 1)`` plus a fraction of a second,
whatever the port does; runs are sent once (a STORE goes again: the board applies it once).
A run that does not end within ``run_timeout`` is stopped and raises RunTimeout;
:meth:`Board.stop` (from another thread) and Ctrl-C stop a run too.

Default cap: a deterministic run with neither ``max_sweeps`` nor ``max_visits`` ends after
:data:`DEFAULT_MAX_SWEEPS` sweeps (N visits each) with stop reason ``"cap"``, since
asymmetric weights can oscillate forever. A stochastic run needs a cap (it lasts exactly that).

With ``Feature.GRADED`` the board also runs graded-response neurons: :meth:`Board.run_graded`
(and the word-level ``write_u``, ``read_u``, ``read_v``, ``write_table``, ``read_table``,
``graded_status``); on a board without it they raise ConfigMismatch naming the feature. A
graded-only board (built without update orders) has no binary engine: its weights and biases
are read from and written to the graded engine, and the binary methods (``recall``, ``store``,
states, ``status``, ``clear``) raise ConfigMismatch.

Clamped neurons (``recall(..., clamp=mask)``), the synchronous order and the quantized store
(``store(..., quantized=True)``) of ``docs/numerics.md`` §12-§14 run on cpu://; a board built
with the column engine (``engine=column``: sim:// or serial) has clamping
(``engines.COLUMN_EXTRAS``), and the quantized store when built with ``store_patterns`` > 0.
The others refuse them with MissingEngineFeature.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import serial

from hopfield_fpga import protocol as P
from hopfield_fpga.baud import KNOWN_BAUDS, LEGACY_BAUD
from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.numerics import GRADED_V_ONE
from hopfield_fpga.sim import golden, graded
from hopfield_fpga.sim.golden import RunResult
from .engines import RunSpec
from .inputs import (DEFAULT_MAX_SWEEPS, check_matrix, check_symmetric, check_state, check_states,
                     positive_seconds, probe_seeds, require_extra, run_spec)
from .errors import (BadInput, BadInputType, BoardError, BoardTimeout, BoardURLError,
                     ConfigMismatch, LinkError, ProtocolError)
from .link import READ_SLICE, Link
from .results import BoardInfo, BoardStatus, GradedBoardResult
from .urls import default_sim_url, parse_cpu_url, parse_sim_url
from .wire import WireBackend, identify

__all__ = ["Board", "BoardInfo", "BoardStatus", "GradedBoardResult", "DEFAULT_URL",
           "DEFAULT_MAX_SWEEPS", "DEFAULT_TIMEOUT", "SIM_TIMEOUT", "DEFAULT_RUN_TIMEOUT",
           "SIM_RUN_TIMEOUT"]

if "hopfield_fpga.host" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("hopfield_fpga.host")

#: Board.open() without a URL: the simulated 256-neuron board (see urls.default_sim_url).
DEFAULT_URL = None
#: Deadline (seconds) of one attempt of a request on a serial port, and on sim:// (a simulator
#: runs about 1,000 to 20,000 cycles per second, so a 1 KiB request can take seconds).
DEFAULT_TIMEOUT = 2.0
SIM_TIMEOUT = 60.0
#: Default run_timeout (seconds) of recall, recall_many and run_graded: on a board, and on
#: sim:// and cpu:// (a long run in a simulator takes many minutes).
DEFAULT_RUN_TIMEOUT = 60.0
SIM_RUN_TIMEOUT = 600.0


#: Deadline (seconds) of the IDENTIFY tried at each known rate when the baud is not given.
PROBE_TIMEOUT = 0.3


def _board_baud(name: str) -> int:
    """The default baud of the board called ``name`` (the board table needs Amaranth's board
    files, so it is imported only here)."""
    from hopfield_fpga.hw.boards import get_board
    try:
        return get_board(name).baud
    except ValueError as exc:
        raise BoardURLError(str(exc)) from None


def _open_port(url: str, baud: int, timeout: float):
    if url.startswith("sim:"):
        parse_sim_url(url)   # a bad URL fails here, before the simulator is built
    try:
        return serial.serial_for_url(url, baudrate=baud, timeout=min(timeout, READ_SLICE))
    except BoardError:
        raise
    except ValueError as exc:
        raise BoardURLError(f"bad board URL {url!r}: {exc}; expected a serial port "
                            f"(/dev/ttyUSB1), sim://?key=value&... or cpu://?key=value&...") \
            from None
    except (serial.SerialException, OSError) as exc:
        raise BoardURLError(f"cannot open {url!r}: {exc}") from None


class Board:
    """A connection to one board (real, simulated or cpu://). Use :meth:`open`; a context
    manager. ``config`` is the board's NetworkConfig; ``url`` its URL."""

    def __init__(self, port, *, timeout: float = 2.0, retries: int = 2, url: str = "?"):
        """A board behind an open pyserial-like ``port`` (asks it who it is)."""
        self.link = Link(port, timeout=positive_seconds("timeout", timeout),
                         retries=retries, url=url)
        self._init(WireBackend(self.link, identify(self.link)), url)

    def _init(self, backend, url: str) -> None:
        self._engine = backend
        self._info: BoardInfo = backend.info()
        self.config: NetworkConfig = self._info.config
        self.url = url
        self.geometry = P.LinkGeometry(self.config)

    @classmethod
    def open(cls, url: str | None = DEFAULT_URL, *, timeout: float | None = None,
             baud: int | None = None, board: str | None = None,
             retries: int = 2, expect: NetworkConfig | None = None) -> "Board":
        """Open ``url`` and identify the board; ``expect`` raises ConfigMismatch if the board's
        configuration differs. ``timeout`` (seconds; default :data:`DEFAULT_TIMEOUT`, or
        :data:`SIM_TIMEOUT` on sim://) is the deadline of one attempt of a request, ``retries``
        how often a request is sent again. On a serial port the rate is ``baud``, else the
        default of the board named ``board`` (``hw/boards.py``), else the first of
        ``baud.KNOWN_BAUDS`` at which the board answers IDENTIFY."""
        url = default_sim_url() if url is None else url
        if not isinstance(url, str) or not url:
            raise BoardURLError(f"a board URL is a non-empty string, not {url!r}")
        if timeout is None:
            timeout = SIM_TIMEOUT if url.startswith("sim:") else DEFAULT_TIMEOUT
        timeout = positive_seconds("timeout", timeout)
        if baud is not None and (isinstance(baud, bool) or not isinstance(baud, int)
                                 or baud <= 0):
            raise BadInput(f"baud must be a positive integer or None, not {baud!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
            raise BadInput(f"retries must be an integer in [0, 100], not {retries!r}")
        if url.startswith("cpu:"):
            from .cpu_backend import CpuBackend
            opened = cls.__new__(cls)
            opened.link = None
            opened._init(CpuBackend(url=url, **parse_cpu_url(url)), url)
        elif url.startswith("sim:"):
            # the URL's own baud= (or its default) is the simulated UART's; the port has none
            opened = cls._open_at(url, LEGACY_BAUD, timeout, retries)
        elif baud is not None or board is not None:
            opened = cls._open_at(url, baud if baud is not None else _board_baud(board),
                                  timeout, retries)
        else:
            opened = cls._probe(url, timeout, retries)
        if expect is not None and opened.config != expect:
            opened.close()
            raise ConfigMismatch(f"{url}: the board is {opened.config.describe()}, "
                                 f"expected {expect.describe()}")
        return opened

    @classmethod
    def _open_at(cls, url: str, baud: int, timeout: float, retries: int) -> "Board":
        """The board at ``url`` with the port at ``baud`` (the port is closed on failure)."""
        port = _open_port(url, baud, timeout)
        try:
            return cls(port, timeout=timeout, retries=retries, url=url)
        except BaseException:
            port.close()
            raise

    @classmethod
    def _probe(cls, url: str, timeout: float, retries: int) -> "Board":
        """The board at ``url`` at the first of the known rates where it answers IDENTIFY."""
        for rate in KNOWN_BAUDS:
            try:
                opened = cls._open_at(url, rate, min(timeout, PROBE_TIMEOUT), 0)
            except (BoardTimeout, LinkError, ConfigMismatch, ProtocolError):
                continue
            opened.link.timeout, opened.link.retries = timeout, retries
            return opened
        raise BoardTimeout(f"{url}: no IDENTIFY reply at any known rate "
                           f"({', '.join(map(str, KNOWN_BAUDS))} baud); is the board connected "
                           f"and programmed? (give baud= or board= to skip the search)")

    def close(self) -> None:
        self._engine.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _run_timeout(self, value) -> float:
        if value is None:
            return SIM_RUN_TIMEOUT if self.url.startswith(("sim:", "cpu:")) else \
                DEFAULT_RUN_TIMEOUT
        return positive_seconds("run_timeout", value)

    def stop(self) -> None:
        """Stop the run that is going on (call it from another thread): a :meth:`recall` then
        returns with stop reason "stop" (cpu:// raises RunStopped: it has no partial state)."""
        self._engine.stop()

    # -- the link (None on cpu://) ----------------------------------------------------------

    @property
    def port(self):
        """The serial port object (None on cpu://)."""
        return None if self.link is None else self.link.port

    @property
    def bytes_out(self) -> int:
        return 0 if self.link is None else self.link.bytes_out

    @property
    def bytes_in(self) -> int:
        return 0 if self.link is None else self.link.bytes_in

    def request(self, cmd: P.Command, payload: bytes = b"", **kwargs) -> bytes:
        """One raw protocol request (see :meth:`Link.request`); not on cpu://."""
        if self.link is None:
            raise ConfigMismatch(f"{self.url}: the CPU backend speaks no protocol")
        return self.link.request(cmd, payload, **kwargs)

    # -- identify and status ----------------------------------------------------------------

    def info(self) -> BoardInfo:
        return self._info

    @property
    def extras(self) -> frozenset[str]:
        """What this board's binary engine has beyond its configuration (names of
        ``engines.EXTRAS``): everything on cpu://, clamping on a column engine."""
        return self._engine.extras

    def _require_binary(self, what: str) -> None:
        if not self.config.has_binary:
            raise ConfigMismatch(f"{self.url}: {what} needs the binary engine, and this board is "
                                 f"graded-only (built without update orders: "
                                 f"{self.config.describe()}); use run_graded, or a board built "
                                 f"with an order")

    def status(self) -> BoardStatus:
        self._require_binary("status")
        return self._engine.status()

    # -- weights, biases, states, patterns --------------------------------------------------

    def load_weights(self, weights, bias=None, *, quantize: bool = False, progress=None) -> None:
        """Write an N x N weight matrix (and N biases, default zeros) to the board."""
        cfg = self.config
        n = cfg.neurons
        w = check_matrix(self.config, "weights", weights, (n, n), cfg.weight_min, cfg.weight_max,
                               quantize)
        check_symmetric(cfg, w)
        b = check_matrix(self.config, "bias", np.zeros(n, dtype=np.int64) if bias is None else bias,
                               (n,), cfg.bias_min, cfg.bias_max, quantize)
        self._engine.write_weights(w, progress)
        self._engine.write_bias(b)

    def read_weights(self, *, progress=None) -> np.ndarray:
        return self._engine.read_weights(progress)

    def write_bias(self, bias) -> None:
        cfg = self.config
        self._engine.write_bias(check_matrix(self.config, "bias", bias, (cfg.neurons,), cfg.bias_min,
                                                   cfg.bias_max, False))

    def read_bias(self) -> np.ndarray:
        return self._engine.read_bias()

    def write_state(self, state) -> None:
        self._require_binary("write_state")
        self._engine.write_state(check_state(self.config, state))

    def read_state(self) -> np.ndarray:
        self._require_binary("read_state")
        return self._engine.read_state()

    def clear(self) -> None:
        """Zero every weight and bias; the state becomes all -1."""
        self._require_binary("clear")
        self._engine.clear()

    def store(self, patterns, *, quantized: bool = False, scale: float | None = None,
              progress=None) -> None:
        """Store +1/-1 patterns (one vector or a P x N array) with the on-chip Hebbian rule.

        Default: the saturating store, added to the loaded weights pattern by pattern
        (numerics.md §9). ``quantized=True``: the quantized store of §14, which replaces the
        weights with the full Hebbian sum of ``patterns`` scaled (``scale``, default chosen
        from P and the weight width), rounded and clipped: on cpu://, and on a board built
        with ``engine="column"`` and ``store_patterns`` > 0 (at most that many patterns, and
        a scale whose weight levels its threshold table holds: any scale up to 1 does).
        """
        self._require_binary("store")
        if not self.config.has(Feature.HEBBIAN):
            # e.g. the ULX3S-85F's default, built without it to fit N = 1024 (docs/boards.md)
            raise ConfigMismatch(
                f"this board has no on-chip Hebbian store ({self.config.describe()}): compute "
                f"the weights on the host and load them, board.load_weights(golden."
                f"store_hebbian_quantized(patterns, config=board.config)) (the quantized store, "
                f"§14; golden.store_hebbian(np.zeros((N, N), int), patterns, config=board."
                f"config) for the saturating rule), golden being hopfield_fpga.sim.golden")
        if scale is not None and not quantized:
            raise BadInput(f"scale = {scale!r} belongs to the quantized store: pass "
                           f"quantized=True, or no scale")
        patterns = check_states(self.config, patterns, "patterns")
        if not quantized:
            cfg = self.config
            if len(patterns) > cfg.weight_max:
                # each p_i p_j step saturates at +-W_MAX: past W_MAX patterns the weights
                # keep little of them (at W_BITS = 3 and P = 0.1 N a 10% probe no longer
                # recalls its pattern: docs/engine.md, "The benchmark's weights")
                warnings.warn(
                    f"storing {len(patterns)} patterns with the saturating rule, whose "
                    f"{cfg.weight_bits}-bit weights clip at +-{cfg.weight_max}: store them "
                    f"with quantized=True (the quantized store, where the board has it) or "
                    f"load_weights(golden.store_hebbian_quantized(patterns, config=board."
                    f"config)) to keep their full Hebbian sum", stacklevel=2)
            self._engine.store(patterns, progress)
            return
        require_extra(self._engine.extras, "the quantized store", self.url)
        try:
            if self.config.store_patterns:          # the on-chip store's limits
                golden.quantized_store_table(len(patterns), self.config, scale)
            else:
                golden.hebbian_scale(len(patterns), self.config, scale)
        except TypeError as exc:
            raise BadInputType(f"quantized store: {exc}") from None
        except ValueError as exc:
            raise BadInput(f"quantized store: {exc}") from None
        self._engine.store_quantized(patterns, scale)
        if progress:
            progress(len(patterns), len(patterns))

    # -- runs -------------------------------------------------------------------------------

    def _run_spec(self, **kwargs) -> RunSpec:
        self._require_binary("a binary run (recall, recall_many)")
        return run_spec(self.config, extras=self._engine.extras, where=self.url, **kwargs)

    def recall(self, probe, *, order="sequential", seed=1, max_sweeps=None, max_visits=None,
               beta=None, trace=False, clamp=None,
               run_timeout: float | None = None) -> RunResult:
        """Write ``probe``, run, and return the outcome (a golden-model RunResult, with cycles).

        ``order`` is sequential, random, rejection_free or synchronous (numerics.md §13: stops
        at a fixed point or a 2-cycle, stop reason "cycle2" with the other state in
        ``cycle_state``). ``clamp`` (a bool mask of N entries or a list of neuron indices)
        holds those neurons at their probe value (§12). Without ``max_sweeps`` and
        ``max_visits`` a deterministic run ends after :data:`DEFAULT_MAX_SWEEPS` sweeps at most
        (stop reason "cap"). A run longer than ``run_timeout`` seconds is stopped and raises
        RunTimeout.
        """
        spec = self._run_spec(order=order, seed=seed, max_sweeps=max_sweeps,
                              max_visits=max_visits, beta=beta, trace=trace, clamp=clamp)
        probe = check_state(self.config, probe, "probe")
        return self._engine.recall(probe, spec, self._run_timeout(run_timeout))

    def recall_many(self, probes, *, order="sequential", seed=1, max_sweeps=None,
                    max_visits=None, beta=None, clamp=None, run_timeout: float | None = None,
                    progress=None) -> list[RunResult]:
        """Recall each probe (a P x N array) with the same parameters (``clamp``: the same
        neurons held in every run, each at its own probe's value), several per frame, the
        frames in flight (``run_timeout`` applies to the wait for each reply). ``seed`` is one
        integer for every probe, or a sequence of one per probe (each result then equals the
        probe's own recall with its seed; boards of protocol version 8 send them in one
        RECALL_MANY, RunFlags.PROBE_SEEDS). After :meth:`stop` the list is shorter: it ends
        with the probe that was stopped."""
        probes = check_states(self.config, probes, "probes")
        one, seeds = probe_seeds(seed, len(probes))
        spec = self._run_spec(order=order, seed=1 if one is None else one,
                              max_sweeps=max_sweeps, max_visits=max_visits, beta=beta,
                              trace=False, clamp=clamp)
        spec = dataclasses.replace(spec, probe_seeds=seeds)
        return self._engine.recall_many(probes, spec,
                                        self._run_timeout(run_timeout), progress)

    # -- the graded engine (Feature.GRADED) -------------------------------------------------

    def _require_graded(self) -> None:
        if not self.config.has(Feature.GRADED):
            raise ConfigMismatch(f"{self.url}: this board has no graded engine (it was built "
                                 f"without Feature.GRADED: {self.config.describe()}); build it "
                                 f"with the graded feature, e.g. sim://?...&features="
                                 f"trace,graded")

    def write_u(self, u) -> None:
        """Write the N potentials u (fixed point, graded_u_bits two's complement)."""
        self._require_graded()
        cfg = self.config
        bits = cfg.graded_u_bits
        a = np.asarray(u)
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if a.shape != (cfg.neurons,) or a.dtype == bool \
                or not np.issubdtype(a.dtype, np.integer):
            raise ConfigMismatch(f"u must be {cfg.neurons} integers for this board, not "
                                 f"{a.shape} of {a.dtype}")
        if a.size and ((a < lo) | (a > hi)).any():
            bad = a[(a < lo) | (a > hi)][0]
            raise ConfigMismatch(f"u value {bad} does not fit the board: the range is "
                                 f"[{lo}, {hi}] (graded_u_bits = {bits})")
        self._engine.write_u(a.astype(np.int64))

    def read_u(self) -> np.ndarray:
        self._require_graded()
        return self._engine.read_u()

    def read_v(self) -> np.ndarray:
        """The outputs v of the last completed pass (fixed point, GRADED_V_BITS)."""
        self._require_graded()
        return self._engine.read_v()

    def write_table(self, sigmoid) -> None:
        """Load a sigmoid table: a preset name (``atan``, ``tanh``, ``hard``) or entries."""
        self._require_graded()
        try:
            table = graded.sigmoid_table(sigmoid)
        except (TypeError, ValueError) as exc:
            raise BadInput(f"sigmoid: {exc}") from None
        self._engine.write_table(table)

    def read_table(self) -> tuple:
        """The sigmoid table on the board, as (x, y, m) entries."""
        self._require_graded()
        return self._engine.read_table()

    def graded_status(self) -> dict:
        """The graded engine's status (protocol.GRADED_STATUS) as a dict."""
        self._require_graded()
        return self._engine.graded_status()

    def run_graded(self, weights=None, bias=None, *, u0=None, v0=None, gain, dt,
                   leak: float = 1.0, sigmoid="atan", max_steps: int = 10_000, eps: float = 0.0,
                   trace: bool = False, run_timeout: float | None = None) -> GradedBoardResult:
        """Run the graded engine from real ``u0`` or ``v0`` (exactly one), as
        ``sim.graded.run_graded`` does; the result equals ``run_graded_fixed`` bit for bit.

        ``weights`` (N x N integers) and ``bias`` are written first when given (to both
        engines); otherwise the graded engine keeps the weights last written to it. ``gain``,
        ``dt`` (dt/C), ``leak`` (1/R, a power of two), ``sigmoid`` (preset name or table),
        ``max_steps`` and ``eps`` (real units of u) go through ``GradedParams.from_real``.
        """
        self._require_graded()
        cfg = self.config
        trace = bool(trace)
        if trace and not cfg.has(Feature.TRACE):
            raise ConfigMismatch(f"{self.url}: this board has no trace stream "
                                 f"({cfg.describe()})")
        try:
            params = graded.GradedParams.from_real(gain=gain, dt=dt, leak=leak, sigmoid=sigmoid,
                                                   eps=eps, max_steps=max_steps)
        except (TypeError, ValueError) as exc:
            raise BadInput(str(exc)) from None
        if (u0 is None) == (v0 is None):
            raise BadInput("Give exactly one of u0 (potentials) and v0 (outputs)")
        run_timeout = self._run_timeout(run_timeout)
        bits = cfg.graded_u_bits
        if u0 is not None:
            a = np.asarray(u0, dtype=float)
            if a.shape != (cfg.neurons,) or not np.all(np.isfinite(a)):
                raise ConfigMismatch(f"u0 must be {cfg.neurons} finite values for this board, "
                                     f"not {u0!r}")
            u_fixed = np.clip(np.rint(a * GRADED_V_ONE), -(1 << (bits - 1)),
                              (1 << (bits - 1)) - 1).astype(np.int64)
        else:
            try:
                u_fixed = graded.u_from_v(v0, params, cfg)
            except (TypeError, ValueError) as exc:
                raise BadInput(f"v0: {exc}") from None
        if weights is not None:
            self.load_weights(weights, bias)
        elif bias is not None:
            self.write_bias(bias)
        self._engine.write_table(params.table)
        start_v = None
        if trace:
            # the outputs the run starts from: a run with no step computes g(lambda u0)
            self._engine.write_u(u_fixed)
            self._engine.run_graded(dataclasses.replace(params, max_steps=0), False, run_timeout)
            start_v = self._engine.read_v()
        self._engine.write_u(u_fixed)
        st, frames = self._engine.run_graded(params, trace, run_timeout)
        return GradedBoardResult(v=self._engine.read_v(), u=self._engine.read_u(),
                                 steps=st["steps"], converged=st["converged"],
                                 stop_reason=st["stop_reason"], max_du=st["max_du"], cycles=st["cycles"],
                                 params=params, trace=frames, v0=start_v)

