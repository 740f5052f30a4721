"""Integer-exact golden model of the binary and stochastic Hopfield dynamics.

This module is ``docs/numerics.md`` sections 1-9 written as numpy: the gateware, the simulated
board and every cocotb testbench are checked against it bit for bit (final state, counts, 2E
and, on request, every flip event). Comments cite the section they implement ("§4").

The entry point is :func:`run_binary`; it returns a :class:`RunResult`, the same type that
``Board.recall`` returns for a run on the hardware (which also fills ``cycles``). The helpers
:func:`energy2`, :func:`local_fields`, :func:`unstable`, :func:`is_fixed_point` evaluate a
state from scratch, and :func:`store_hebbian` is the on-chip saturating Hebbian store (§9).

Inputs are checked against a :class:`~hopfield_fpga.config.NetworkConfig` (by default the
widest one: 16-bit weights, 24-bit biases); a value that does not fit is refused with an error
naming it, never wrapped. States are bipolar integer arrays (+1/-1); bit vectors and 0/1 arrays
go through :func:`state_from_bits` explicitly.

Cost: the local fields are kept up to date per flip with one weight column (§3), so a visit
that does not flip costs O(1) and a flip O(N); the visit loop is plain Python. Deterministic
sequential runs skip over stable neurons in one step (the skipped visits are counted exactly,
they just change nothing).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hopfield_fpga.config import BETA_SCHEDULE_DEPTH, COUNTER_BITS, Feature, NetworkConfig, Order
from hopfield_fpga.numerics import (BETA_BITS, beta_to_fixed, draw_index, glauber_threshold, seed_state,
                        xorshift32)

__all__ = [
    "FlipEvent", "RunResult", "run_binary", "default_config", "energy2", "local_fields",
    "unstable", "is_fixed_point", "store_hebbian", "state_from_bits", "state_to_bits",
    "MAX_VISITS", "check_run_params", "check_patterns",
]

#: Largest max_visits a run accepts (the 32-bit visit counter, §7); also the default cap.
MAX_VISITS = (1 << COUNTER_BITS) - 1


@dataclasses.dataclass(frozen=True)
class FlipEvent:
    """One flip of a run (§6, §7): the visit that made it, the neuron, its new value (+1/-1)
    and the exact change of 2E it caused."""
    visit: int
    index: int
    value: int
    delta_energy2: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, eq=False)
class RunResult:
    """Outcome of one run of the binary dynamics, from the golden model or from a board.

    Members
    -------
    state: final state, read-only ``int8`` array of +1/-1.
    converged: the final state is a fixed point of the deterministic rule (§3). For a
        stochastic run this is reported but did not stop the run (§7).
    visits, flips, sweeps: counts of §7 (sweeps = ceil(visits / N)).
    energy2: exact integer 2E of the final state (§6); :attr:`energy` is E as a float.
    trace: tuple of :class:`FlipEvent`, one per flip in order, if the run asked for it, else None.
    cycles: clock cycles from start to done; None from the golden model, filled by a board.
    stopped: why the run ended: ``"converged"``, ``"cap"`` (max_visits reached; always the case
        for a stochastic run) or ``"stop"`` (the host stopped a board run).
    """
    state: np.ndarray
    converged: bool
    visits: int
    flips: int
    sweeps: int
    energy2: int
    trace: tuple[FlipEvent, ...] | None = None
    cycles: int | None = None
    stopped: str = "converged"

    STOP_REASONS = ("converged", "cap", "stop")

    def __post_init__(self):
        state = np.array(self.state, dtype=np.int8)
        if state.ndim != 1 or not np.all(np.abs(state) == 1):
            raise ValueError(f"RunResult.state must be a vector of +1/-1, not {self.state!r}")
        state.setflags(write=False)
        object.__setattr__(self, "state", state)
        if self.stopped not in self.STOP_REASONS:
            raise ValueError(f"stopped must be one of {self.STOP_REASONS}, not {self.stopped!r}")
        if self.trace is not None:
            object.__setattr__(self, "trace", tuple(self.trace))

    @property
    def energy(self) -> float:
        """E = energy2 / 2 (exact: a half-integer at worst)."""
        return self.energy2 / 2

    def __eq__(self, other):
        if not isinstance(other, RunResult):
            return NotImplemented
        return (np.array_equal(self.state, other.state)
                and all(getattr(self, f.name) == getattr(other, f.name)
                        for f in dataclasses.fields(self) if f.name != "state"))

    __hash__ = None

    def to_dict(self) -> dict:
        """JSON-ready form (state as a list of +1/-1)."""
        return {
            "state": [int(v) for v in self.state],
            "converged": bool(self.converged),
            "visits": self.visits, "flips": self.flips, "sweeps": self.sweeps,
            "energy2": self.energy2, "energy": self.energy,
            "trace": None if self.trace is None else [e.to_dict() for e in self.trace],
            "cycles": self.cycles, "stopped": self.stopped,
        }


# -- input checking -----------------------------------------------------------------------------

def default_config(neurons: int) -> NetworkConfig:
    """The configuration used when none is given: the widest formats, one lane, everything."""
    return NetworkConfig(neurons=neurons, weight_bits=16, bias_bits=24, lanes=1,
                         features=Feature.STOCHASTIC | Feature.HEBBIAN | Feature.TRACE)


def _int_array(name: str, value, shape: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array, not dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, not {arr.shape}")
    if arr.size:
        bad = np.flatnonzero((arr < lo) | (arr > hi))
        if bad.size:
            where = np.unravel_index(bad[0], shape)
            raise ValueError(f"{name}{list(map(int, where))} = {int(arr[where])} does not fit "
                             f"the configured range [{lo}, {hi}] "
                             f"({bad.size} value(s) out of range)")
    return arr.astype(np.int64)


def _check_state(state, n: int) -> np.ndarray:
    arr = np.asarray(state)
    if arr.dtype == np.bool_:
        raise TypeError("state is a bool array; states are +1/-1 integers: convert a bit vector "
                        "with golden.state_from_bits(bits)")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"state must be an integer array of +1/-1, not dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"state must have shape ({n},), not {arr.shape}")
    bad = np.flatnonzero(np.abs(arr) != 1)
    if bad.size:
        hint = (" (a 0/1 vector? convert it with golden.state_from_bits)"
                if np.all((arr == 0) | (arr == 1)) else "")
        raise ValueError(f"state[{bad[0]}] = {int(arr[bad[0]])}: states are +1/-1{hint}")
    return arr.astype(np.int64)


def _check_network(weights, bias, config: NetworkConfig | None):
    w = np.asarray(weights)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"weights must be a square N x N matrix, not shape {w.shape}")
    n = w.shape[0]
    if config is None:
        config = default_config(n)
    elif not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a NetworkConfig or None, not {config!r}")
    elif config.neurons != n:
        raise ValueError(f"weights are {n} x {n} but the configuration has N = {config.neurons}")
    w = _int_array("weights", w, (n, n), config.weight_min, config.weight_max)
    if bias is None:
        b = np.zeros(n, dtype=np.int64)
    else:
        b = _int_array("bias", bias, (n,), config.bias_min, config.bias_max)
    return w, b, config


def state_from_bits(bits) -> np.ndarray:
    """Bipolar state s = 2 x - 1 of a 0/1 (or bool) vector x (§1)."""
    x = np.asarray(bits)
    if x.ndim != 1:
        raise ValueError(f"bits must be a vector, not shape {x.shape}")
    if x.dtype != np.bool_:
        if not np.issubdtype(x.dtype, np.integer):
            raise TypeError(f"bits must be bool or integer 0/1, not dtype {x.dtype}")
        bad = np.flatnonzero((x != 0) & (x != 1))
        if bad.size:
            raise ValueError(f"bits[{bad[0]}] = {int(x[bad[0]])}: bits are 0 or 1")
    return (2 * x.astype(np.int8) - 1).astype(np.int8)


def state_to_bits(state) -> np.ndarray:
    """Bit vector x = (s + 1) / 2 (uint8 0/1) of a bipolar state (§1)."""
    arr = np.asarray(state)
    if arr.ndim != 1:
        raise ValueError(f"state must be a vector, not shape {arr.shape}")
    s = _check_state(arr, arr.shape[0])
    return ((s + 1) // 2).astype(np.uint8)


# -- evaluation from scratch (§3, §6) -----------------------------------------------------------

def local_fields(weights, bias, state, *, config: NetworkConfig | None = None) -> np.ndarray:
    """h_i = sum_j W_ij s_j + b_i (§2), exact, as int64."""
    w, b, config = _check_network(weights, bias, config)
    s = _check_state(state, config.neurons)
    return w @ s + b


def energy2(weights, bias, state, *, config: NetworkConfig | None = None) -> int:
    """2E = -sum_ij W_ij s_i s_j - 2 sum_i b_i s_i = -sum_i s_i (h_i + b_i) (§6), exact."""
    w, b, config = _check_network(weights, bias, config)
    s = _check_state(state, config.neurons)
    return int(-(s @ (w @ s + 2 * b)))


def unstable(weights, bias, state, *, config: NetworkConfig | None = None) -> np.ndarray:
    """Indices, increasing, of the neurons the rule would change: s_i h_i < 0 (§3)."""
    w, b, config = _check_network(weights, bias, config)
    s = _check_state(state, config.neurons)
    return np.flatnonzero(s * (w @ s + b) < 0)


def is_fixed_point(weights, bias, state, *, config: NetworkConfig | None = None) -> bool:
    """True when no neuron is unstable (§3)."""
    return unstable(weights, bias, state, config=config).size == 0


# -- the dynamics (§3-§8) -----------------------------------------------------------------------

def _beta_schedule(beta, beta_fixed) -> list[int] | None:
    """The per-sweep beta_fx table of §8, or None for deterministic neurons."""
    if beta is not None and beta_fixed is not None:
        raise ValueError("give beta (real values) or beta_fixed (Q8.8 integers), not both")
    if beta is None and beta_fixed is None:
        return None
    if beta is not None:
        values = [beta] if np.ndim(beta) == 0 else list(np.asarray(beta, dtype=float))
        table = [beta_to_fixed(float(v)) for v in values]
    else:
        values = [beta_fixed] if np.ndim(beta_fixed) == 0 else list(beta_fixed)
        table = []
        for v in values:
            if isinstance(v, np.integer):
                v = int(v)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < (1 << BETA_BITS):
                raise ValueError(f"beta_fixed entries are integers in [0, {(1 << BETA_BITS) - 1}]"
                                 f" (beta * 256), not {v!r}")
            table.append(v)
    if not 1 <= len(table) <= BETA_SCHEDULE_DEPTH:
        raise ValueError(f"a beta schedule has 1 to {BETA_SCHEDULE_DEPTH} entries, "
                         f"not {len(table)}")
    return table


def _visit_cap(max_sweeps, max_visits, n: int, stochastic: bool) -> int:
    if max_sweeps is not None and max_visits is not None:
        raise ValueError("give max_sweeps or max_visits, not both")
    if max_sweeps is not None:
        if not isinstance(max_sweeps, (int, np.integer)) or isinstance(max_sweeps, bool) \
                or max_sweeps < 0:
            raise ValueError(f"max_sweeps must be a non-negative integer, not {max_sweeps!r}")
        cap = int(max_sweeps) * n
        if cap > MAX_VISITS:
            raise ValueError(f"max_sweeps = {max_sweeps} is {cap} visits; the 32-bit visit "
                             f"counter allows at most {MAX_VISITS // n} sweeps at N = {n}")
        return cap
    if max_visits is not None:
        if not isinstance(max_visits, (int, np.integer)) or isinstance(max_visits, bool) \
                or not 0 <= max_visits <= MAX_VISITS:
            raise ValueError(f"max_visits must be an integer in [0, {MAX_VISITS}], "
                             f"not {max_visits!r}")
        return int(max_visits)
    if stochastic:
        raise ValueError("a stochastic run lasts exactly max_visits visits (numerics.md §7): "
                         "give max_sweeps or max_visits")
    return MAX_VISITS


def check_run_params(config: NetworkConfig, *, order, max_sweeps, max_visits, beta, beta_fixed,
                     trace: bool) -> tuple[Order, list[int] | None, int]:
    """Check a run's parameters against ``config``: returns (order, beta schedule or None, cap).

    The checks of :func:`run_binary` after the network and the state (the seed is checked by
    :func:`~hopfield_fpga.numerics.seed_state`); the compiled engine calls it too, so both
    refuse the same bad input with the same error.
    """
    order = Order.parse(order)
    if order not in config.orders:
        raise ValueError(f"order {order.name.lower()!r} is not built into this configuration "
                         f"(built in: {[o.name.lower() for o in config.orders]})")
    schedule = _beta_schedule(beta, beta_fixed)
    stochastic = schedule is not None
    if stochastic and order is Order.REJECTION_FREE:
        raise ValueError("rejection_free has no stochastic form (numerics.md §8): use "
                         "'sequential' or 'random' with beta, or drop beta")
    if stochastic and not config.has(Feature.STOCHASTIC):
        raise ValueError("stochastic neurons (beta) are not built into this configuration")
    if trace and not config.has(Feature.TRACE):
        raise ValueError("the flip trace is not built into this configuration")
    return order, schedule, _visit_cap(max_sweeps, max_visits, config.neurons, stochastic)


def run_binary(weights, bias, state, *, order="sequential", seed: int = 1,
               max_sweeps: int | None = None, max_visits: int | None = None,
               beta=None, beta_fixed=None, trace: bool = False,
               config: NetworkConfig | None = None) -> RunResult:
    """Run the binary dynamics of ``docs/numerics.md`` from ``state`` and return the outcome.

    Parameters
    ----------
    weights, bias:
        N x N and N integer arrays within the configured widths (``bias=None`` means zeros).
    state:
        Initial state, integers +1/-1 (see :func:`state_from_bits` for bit vectors).
    order:
        ``"sequential"``, ``"random"`` or ``"rejection_free"`` (or an :class:`Order`), §4.
    seed:
        32-bit seed of the run's xorshift32 generator (§5); unused by a deterministic
        sequential run.
    max_sweeps, max_visits:
        The cap (§7), at most one of them. Default: 2**32 - 1 visits for deterministic runs
        (asymmetric weights or a positive diagonal can cycle until then: give a cap); a
        stochastic run needs one and lasts exactly that many visits.
    beta, beta_fixed:
        Stochastic (Glauber) neurons, §8. ``beta`` is a real inverse temperature or a sequence
        of them (one per sweep, the last one holding), each rounded to Q8.8 with
        :func:`~hopfield_fpga.numerics.beta_to_fixed`; ``beta_fixed`` gives the Q8.8 integers
        (beta * 256) exactly. Both None (default): deterministic neurons.
    trace:
        Record every flip as a :class:`FlipEvent`.
    config:
        The :class:`NetworkConfig` whose widths, orders and features the run must respect;
        None means :func:`default_config` (16-bit weights, 24-bit biases).
    """
    w, b, config = _check_network(weights, bias, config)
    n = config.neurons
    s = _check_state(state, n)
    order, schedule, cap = check_run_params(config, order=order, max_sweeps=max_sweeps,
                                            max_visits=max_visits, beta=beta,
                                            beta_fixed=beta_fixed, trace=trace)
    stochastic = schedule is not None
    rng = seed_state(seed)  # §5: loaded at the start of every run

    # Columns of W as contiguous rows: a flip of j reads column j (§3).
    cols = np.ascontiguousarray(w.T)
    diag = np.diagonal(w).copy()
    h = w @ s + b                                    # §2
    e2 = int(-(s @ (h + b)))                         # §6, from scratch
    events: list[FlipEvent] | None = [] if trace else None
    visits = flips = 0

    def flip(j: int, new: int) -> None:
        nonlocal e2, flips
        col = cols[j]
        c_j = int(col @ s)                           # column field, old state (§6)
        d2 = -2 * new * (int(h[j]) + c_j + int(b[j]) + 2 * int(diag[j]) * new)
        s[j] = new
        h[:] += (2 * new) * col                      # §3: h_i += 2 W_ij s_j'
        e2 += d2
        flips += 1
        if events is not None:
            events.append(FlipEvent(visits, j, new, d2))

    if not stochastic:
        # §7: before each visit, a fixed point ends the run (converged), then the cap does.
        unstable_mask = s * h < 0
        n_unstable = int(np.count_nonzero(unstable_mask))
        while True:
            if n_unstable == 0:
                stopped = "converged"
                break
            if visits >= cap:
                stopped = "cap"
                break
            if order is Order.SEQUENTIAL:
                # §4: visit v examines v mod N. Visits to stable neurons change nothing, so
                # jump to the next unstable neuron (cyclically) and count the skipped visits.
                pos = visits % n
                idx = np.flatnonzero(unstable_mask)
                ahead = idx[idx >= pos]
                j = int(ahead[0]) if ahead.size else int(idx[0])
                skip = (j - pos) % n
                if visits + skip >= cap:
                    visits = cap
                    continue
                visits += skip
            elif order is Order.RANDOM:
                j, rng, _ = draw_index(rng, n)       # §5 index draw
                if not unstable_mask[j]:
                    visits += 1
                    continue
            else:  # REJECTION_FREE: the k-th unstable neuron, k uniform in [0, |U|) (§4)
                k, rng, _ = draw_index(rng, n_unstable)
                j = int(np.flatnonzero(unstable_mask)[k])
            flip(j, 1 if h[j] > 0 else -1)           # §3 (unstable, so h_j != 0)
            visits += 1
            np.less(s * h, 0, out=unstable_mask)
            n_unstable = int(np.count_nonzero(unstable_mask))
        converged = stopped == "converged"
    else:
        # §7: a stochastic run lasts exactly `cap` visits; §8: Glauber rule per visit.
        last = len(schedule) - 1
        while visits < cap:
            if order is Order.SEQUENTIAL:
                j = visits % n
            else:
                j, rng, _ = draw_index(rng, n)       # §5: index draw first ...
            rng = xorshift32(rng)                    # ... then the Glauber word
            beta_fx = schedule[min(visits // n, last)]
            new = 1 if (rng >> 16) < glauber_threshold(beta_fx, int(h[j])) else -1
            if new != s[j]:
                flip(j, new)
            visits += 1
        stopped = "cap"
        converged = not np.any(s * h < 0)

    # The incremental 2E must equal the from-scratch value: a cheap self-check of §6.
    e2_scratch = int(-(s @ (h + b)))
    if e2 != e2_scratch:  # pragma: no cover - would be a bug in this module
        raise AssertionError(f"incremental 2E {e2} != recomputed {e2_scratch}")
    return RunResult(state=s.astype(np.int8), converged=bool(converged), visits=visits,
                     flips=flips, sweeps=-(-visits // n), energy2=e2,
                     trace=None if events is None else tuple(events), cycles=None,
                     stopped=stopped)


# -- on-chip Hebbian storing (§9) ---------------------------------------------------------------

def store_hebbian(weights, patterns, *, config: NetworkConfig | None = None) -> np.ndarray:
    """The on-chip ``store pattern`` of §9, applied to each pattern in turn.

    For each pattern p: W_ij <- clamp(W_ij + p_i p_j, W_MIN, W_MAX) for i != j; W_ii unchanged.
    ``patterns`` is one +1/-1 vector or a P x N array of them. Returns a new int64 matrix.
    """
    w, _, config = _check_network(weights, None, config)
    n = config.neurons
    pats = check_patterns(patterns, n)
    w = w.copy()
    off = ~np.eye(n, dtype=bool)
    for p in pats:
        # Each pattern is added at once and clamped (saturating), so order matters at the limits.
        w[off] = np.clip(w + np.outer(p, p), config.weight_min, config.weight_max)[off]
    return w


def check_patterns(patterns, n: int) -> np.ndarray:
    """The patterns of :func:`store_hebbian` (one +1/-1 vector or a P x N array) as a P x N
    int64 array; a bad pattern is refused with an error naming it (shared with the compiled
    engine)."""
    pats = np.asarray(patterns)
    if pats.ndim == 1:
        pats = pats[None, :]
    if pats.ndim != 2:
        raise ValueError(f"patterns must be a vector or a P x N array, not shape {pats.shape}")
    out = np.empty((pats.shape[0], n), dtype=np.int64)
    for mu, p in enumerate(pats):
        try:
            out[mu] = _check_state(p, n)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"pattern {mu}: {exc}") from None
    return out
