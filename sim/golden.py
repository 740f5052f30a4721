"""Integer-exact golden model of the binary and stochastic Hopfield dynamics.

This module is ``docs/numerics.md`` sections 1-9 and 12-14 written as numpy: the gateware, the simulated
board and every cocotb testbench are checked against it bit for bit (final state, counts, 2E
and, on request, every flip event). Comments cite the section they implement ("§4").

The entry point is :func:`run_binary`; it returns a :class:`RunResult`, the same type that
``Board.recall`` returns for a run on the hardware (which also fills ``cycles``). The helpers
:func:`energy2`, :func:`local_fields`, :func:`unstable`, :func:`is_fixed_point` evaluate a
state from scratch, :func:`store_hebbian` is the on-chip saturating Hebbian store (§9) and
:func:`store_hebbian_quantized` the quantized one (§14). A run may clamp neurons (§12,
:func:`check_clamp`) and use the synchronous order (§13).

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
from hopfield_fpga.numerics import (BETA_BITS, beta_to_fixed, draw_index, factor_to_fixed,
                                    glauber_threshold, hebbian_clip_sigmas,
                                    hebbian_threshold_steps, hebbian_thresholds, seed_state,
                                    xorshift32)

__all__ = [
    "FlipEvent", "RunResult", "run_binary", "default_config", "energy2", "local_fields",
    "unstable", "is_fixed_point", "store_hebbian", "state_from_bits", "state_to_bits",
    "MAX_VISITS", "check_run_params", "check_patterns", "check_clamp", "hebbian_scale",
    "store_hebbian_quantized", "quantized_store_inputs", "quantized_store_table",
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
    stop_reason: why the run ended: ``"converged"``, ``"cap"`` (max_visits reached; always the case
        for a stochastic run), ``"stop"`` (the host stopped a board run) or ``"cycle2"`` (a
        synchronous run reached a 2-cycle, §13).
    cycle_state: with ``"cycle2"``, the other state of the 2-cycle (read-only ``int8``, the
        state one step before the final one); None otherwise.
    """
    state: np.ndarray
    converged: bool
    visits: int
    flips: int
    sweeps: int
    energy2: int
    trace: tuple[FlipEvent, ...] | None = None
    cycles: int | None = None
    stop_reason: str = "converged"
    cycle_state: np.ndarray | None = None

    #: The stop reasons of §7 and §13; the compiled engine reports an index into this tuple.
    STOP_REASONS = ("converged", "cap", "stop", "cycle2")

    def __post_init__(self):
        state = np.array(self.state, dtype=np.int8)
        if state.ndim != 1 or not np.all(np.abs(state) == 1):
            raise ValueError(f"RunResult.state must be a vector of +1/-1, not {self.state!r}")
        state.setflags(write=False)
        object.__setattr__(self, "state", state)
        if self.stop_reason not in self.STOP_REASONS:
            raise ValueError(f"stop_reason must be one of {self.STOP_REASONS}, not {self.stop_reason!r}")
        if self.trace is not None:
            object.__setattr__(self, "trace", tuple(self.trace))
        if (self.cycle_state is None) != (self.stop_reason != "cycle2"):
            raise ValueError(f"cycle_state is given exactly when the run stopped at a 2-cycle "
                             f"(stop_reason = {self.stop_reason!r}, cycle_state = {self.cycle_state!r})")
        if self.cycle_state is not None:
            other = np.array(self.cycle_state, dtype=np.int8)
            if other.shape != state.shape or not np.all(np.abs(other) == 1):
                raise ValueError(f"cycle_state must be a vector of +1/-1 like the state, not "
                                 f"{self.cycle_state!r}")
            other.setflags(write=False)
            object.__setattr__(self, "cycle_state", other)

    @property
    def energy(self) -> float:
        """E = energy2 / 2 (exact: a half-integer at worst)."""
        return self.energy2 / 2

    def __eq__(self, other):
        if not isinstance(other, RunResult):
            return NotImplemented
        arrays = ("state", "cycle_state")
        return (all(np.array_equal(getattr(self, a), getattr(other, a)) for a in arrays)
                and all(getattr(self, f.name) == getattr(other, f.name)
                        for f in dataclasses.fields(self) if f.name not in arrays))

    __hash__ = None

    def to_dict(self) -> dict:
        """JSON-ready form (state as a list of +1/-1)."""
        return {
            "state": [int(v) for v in self.state],
            "converged": bool(self.converged),
            "visits": self.visits, "flips": self.flips, "sweeps": self.sweeps,
            "energy2": self.energy2, "energy": self.energy,
            "trace": None if self.trace is None else [e.to_dict() for e in self.trace],
            "cycles": self.cycles, "stop_reason": self.stop_reason,
            "cycle_state": None if self.cycle_state is None else [int(v) for v in self.cycle_state],
        }


# -- input checking -----------------------------------------------------------------------------

def default_config(neurons: int) -> NetworkConfig:
    """The configuration used when none is given: the widest formats, one lane, every order
    (the synchronous one included), every binary feature."""
    return NetworkConfig(neurons=neurons, weight_bits=16, bias_bits=24, lanes=1,
                         orders=tuple(Order),
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


def check_clamp(clamp, n: int) -> np.ndarray:
    """The clamped neurons of §12 as a bool mask of ``n`` entries (all False for None).

    ``clamp`` is a bool mask of ``n`` entries or a sequence of distinct neuron indices in
    [0, n) (an empty sequence clamps nothing). Anything else is refused naming the bad value.
    """
    mask = np.zeros(n, dtype=bool)
    if clamp is None:
        return mask
    a = np.asarray(clamp)
    if a.ndim != 1:
        raise ValueError(f"clamp must be a bool mask of {n} entries or a list of neuron "
                         f"indices, not an array of shape {a.shape}")
    if a.size == 0:
        return mask
    if a.dtype == np.bool_:
        if a.shape != (n,):
            raise ValueError(f"a clamp mask has one entry per neuron ({n}), not {a.size}")
        return a.copy()
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"clamp must be a bool mask or integer neuron indices, not dtype "
                        f"{a.dtype} ({clamp!r:.60})")
    bad = np.flatnonzero((a < 0) | (a >= n))
    if bad.size:
        raise ValueError(f"clamp index {int(a[bad[0]])} (entry {bad[0]}) is not a neuron: "
                         f"indices are in [0, {n - 1}]")
    values, counts = np.unique(a, return_counts=True)
    if np.any(counts > 1):
        dup = int(values[np.argmax(counts > 1)])
        hint = (" (a 0/1 mask? pass it as a bool array)"
                if a.size == n and np.all((a == 0) | (a == 1)) else "")
        raise ValueError(f"clamp index {dup} is given {int(counts.max())} times; each clamped "
                         f"neuron once{hint}")
    mask[a] = True
    return mask


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

def _beta_schedule(beta, beta_fixed, depth: int = BETA_SCHEDULE_DEPTH) -> list[int] | None:
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
    if not 1 <= len(table) <= depth:
        raise ValueError(f"a beta schedule has 1 to {depth} entries (beta_depth), "
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
    schedule = _beta_schedule(beta, beta_fixed, config.beta_depth)
    stochastic = schedule is not None
    if stochastic and order in (Order.REJECTION_FREE, Order.SYNCHRONOUS):
        raise ValueError(f"{order.name.lower()} has no stochastic form (numerics.md §8, §13): "
                         f"use 'sequential' or 'random' with beta, or drop beta")
    if stochastic and not config.has(Feature.STOCHASTIC):
        raise ValueError("stochastic neurons (beta) are not built into this configuration")
    if trace and not config.has(Feature.TRACE):
        raise ValueError("the flip trace is not built into this configuration")
    return order, schedule, _visit_cap(max_sweeps, max_visits, config.neurons, stochastic)


def run_binary(weights, bias, state, *, order="sequential", seed: int = 1,
               max_sweeps: int | None = None, max_visits: int | None = None,
               beta=None, beta_fixed=None, trace: bool = False, clamp=None,
               config: NetworkConfig | None = None) -> RunResult:
    """Run the binary dynamics of ``docs/numerics.md`` from ``state`` and return the outcome.

    Parameters
    ----------
    weights, bias:
        N x N and N integer arrays within the configured widths (``bias=None`` means zeros).
    state:
        Initial state, integers +1/-1 (see :func:`state_from_bits` for bit vectors).
    order:
        ``"sequential"``, ``"random"``, ``"rejection_free"`` (§4) or ``"synchronous"`` (§13),
        or an :class:`Order`.
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
    clamp:
        Neurons held at their value in ``state`` (§12): a bool mask of N entries or a list of
        distinct indices; None (default) clamps nothing.
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
    held = check_clamp(clamp, n)                     # §12
    free = ~held
    rng = seed_state(seed)  # §5: loaded at the start of every run

    # Columns of W as contiguous rows: a flip of j reads column j (§3).
    cols = np.ascontiguousarray(w.T)
    diag = np.diagonal(w).copy()
    h = w @ s + b                                    # §2
    e2 = int(-(s @ (h + b)))                         # §6, from scratch
    events: list[FlipEvent] | None = [] if trace else None
    visits = flips = 0
    cycle_state = None

    def flip(j: int, new: int, visit: int) -> None:
        nonlocal e2, flips
        col = cols[j]
        c_j = int(col @ s)                           # column field, old state (§6)
        d2 = -2 * new * (int(h[j]) + c_j + int(b[j]) + 2 * int(diag[j]) * new)
        s[j] = new
        h[:] += (2 * new) * col                      # §3: h_i += 2 W_ij s_j'
        e2 += d2
        flips += 1
        if events is not None:
            events.append(FlipEvent(visit, j, new, d2))

    def unstable_now() -> np.ndarray:                # §3 with §12: unclamped and s_i h_i < 0
        return (s * h < 0) & free

    if order is Order.SYNCHRONOUS:
        # §13: before each step, a fixed point ends the run, then a 2-cycle, then the cap.
        before: list[np.ndarray] = []                # s(t-2), s(t-1)
        while True:
            changing = unstable_now()                # the neurons the step flips (h(t) != 0)
            if not changing.any():
                stop_reason = "converged"
                break
            if len(before) == 2 and np.array_equal(s, before[0]):
                stop_reason, cycle_state = "cycle2", before[1].astype(np.int8)
                break
            if visits + n > cap:
                stop_reason = "cap"
                break
            before = [*before[-1:], s.copy()]
            for j in np.flatnonzero(changing):       # decided on h(t), applied in index order
                flip(int(j), -int(s[j]), visits + int(j))
            visits += n
        converged = stop_reason == "converged"
    elif not stochastic:
        # §7: before each visit, a fixed point ends the run (converged), then the cap does.
        unstable_mask = unstable_now()
        n_unstable = int(np.count_nonzero(unstable_mask))
        while True:
            if n_unstable == 0:
                stop_reason = "converged"
                break
            if visits >= cap:
                stop_reason = "cap"
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
            flip(j, 1 if h[j] > 0 else -1, visits)   # §3 (unstable, so h_j != 0)
            visits += 1
            unstable_mask = unstable_now()
            n_unstable = int(np.count_nonzero(unstable_mask))
        converged = stop_reason == "converged"
    else:
        # §7: a stochastic run lasts exactly `cap` visits; §8: Glauber rule per visit.
        last = len(schedule) - 1
        while visits < cap:
            if order is Order.SEQUENTIAL:
                j = visits % n
            else:
                j, rng, _ = draw_index(rng, n)       # §5: index draw first ...
            rng = xorshift32(rng)                    # ... then the Glauber word, drawn
            beta_fx = schedule[min(visits // n, last)]  # even for a clamped neuron (§12)
            new = 1 if (rng >> 16) < glauber_threshold(beta_fx, int(h[j])) else -1
            if new != s[j] and not held[j]:
                flip(j, new, visits)
            visits += 1
        stop_reason = "cap"
        converged = not unstable_now().any()

    # The incremental 2E must equal the from-scratch value: a cheap self-check of §6.
    e2_scratch = int(-(s @ (h + b)))
    if e2 != e2_scratch:  # pragma: no cover - would be a bug in this module
        raise AssertionError(f"incremental 2E {e2} != recomputed {e2_scratch}")
    return RunResult(state=s.astype(np.int8), converged=bool(converged), visits=visits,
                     flips=flips, sweeps=-(-visits // n), energy2=e2,
                     trace=None if events is None else tuple(events), cycles=None,
                     stop_reason=stop_reason, cycle_state=cycle_state)


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


# -- the quantized Hebbian store (§14) ----------------------------------------------------------

def hebbian_scale(count: int, config: NetworkConfig, scale: float | None = None
                  ) -> tuple[int, int]:
    """The factor (m, e), scale = m / 2**e, of the quantized store of ``count`` patterns (§14).

    Default: s = min(1, W_MAX / (c sqrt(P))) with c = ``numerics.hebbian_clip_sigmas(W_BITS)``;
    a given ``scale`` (a positive real) is represented the same way (``factor_to_fixed``).
    """
    hebbian_clip_sigmas(config.weight_bits)           # refuses W_BITS = 1
    if scale is None:
        c = hebbian_clip_sigmas(config.weight_bits)
        scale = min(1.0, config.weight_max / (c * float(np.sqrt(count)))) if count else 1.0
    elif isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise TypeError(f"scale must be a positive real number, not {scale!r}")
    return factor_to_fixed(float(scale), "scale")


def quantized_store_table(count: int, config: NetworkConfig, scale: float | None = None
                          ) -> tuple[int, int, list[tuple[int, bool]]]:
    """What a board's quantized store (§14, on chip) is sent for ``count`` patterns: the factor
    (m, e) of :func:`hebbian_scale` and its threshold table, ``config.store_thresholds`` steps
    (``numerics.hebbian_threshold_steps`` of ``numerics.hebbian_thresholds``, then (0, False),
    the end). Refuses more patterns than the board's buffer holds and a scale that reaches
    more than min(W_MAX, P_MAX) weight levels (only a scale above 1 can)."""
    if not config.store_patterns:
        raise ValueError(f"this board has no quantized store (store_patterns=0): "
                         f"{config.describe()}")
    if not 0 <= count <= config.store_patterns:
        raise ValueError(f"the quantized store holds at most store_patterns="
                         f"{config.store_patterns} patterns, not {count}")
    m, e = hebbian_scale(count, config, scale)
    levels = hebbian_thresholds(m, e, config.weight_max, count)
    most = min(config.weight_max, config.store_patterns)
    if len(levels) > most:
        raise ValueError(f"scale = {scale!r} reaches {len(levels)} weight levels with {count} "
                         f"patterns; the board counts at most {most} (min(W_MAX, "
                         f"store_patterns)): use a scale of at most 1")
    steps = hebbian_threshold_steps(levels, config.weight_max)
    assert len(steps) <= config.store_thresholds, (levels, steps)
    return m, e, steps + [(0, False)] * (config.store_thresholds - len(steps))


def quantized_store_inputs(patterns, config: NetworkConfig | None, scale: float | None):
    """The checked inputs of :func:`store_hebbian_quantized` (shared with the compiled twin):
    (P x N int64 patterns, config, m, e)."""
    pats = np.asarray(patterns)
    n = pats.shape[-1] if pats.ndim else 0
    if config is None:
        config = default_config(n)
    elif not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a NetworkConfig or None, not {config!r}")
    pats = check_patterns(pats, config.neurons) if pats.size else \
        np.zeros((0, config.neurons), dtype=np.int64)
    m, e = hebbian_scale(len(pats), config, scale)
    return pats, config, m, e


def store_hebbian_quantized(patterns, *, config: NetworkConfig | None = None,
                            scale: float | None = None) -> np.ndarray:
    """The quantized Hebbian store of §14: new weights (int64) for ``patterns``.

    W_ij = clamp(round_shift(m S_ij, e), -W_MAX, W_MAX) with S the full Hebbian sum (zero
    diagonal) and (m, e) = :func:`hebbian_scale` (P, config, scale). The result replaces the
    weights; ``patterns`` is one +1/-1 vector or a P x N array (a P of 0 gives zeros).
    """
    pats, config, m, e = quantized_store_inputs(patterns, config, scale)
    s = pats.T @ pats                                  # exact: |S_ij| <= P
    np.fill_diagonal(s, 0)
    z = m * s
    if e:                                              # round_shift, vectorized (§11.2)
        z = (z + (1 << (e - 1)) - (z < 0)) >> e
    return np.clip(z, -config.weight_max, config.weight_max)
