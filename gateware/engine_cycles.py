"""The engine cycles of the link's operations, for the engine design a configuration names
(``config.engine``): an access write, the on-chip Hebbian store of one pattern, and the refresh
that the first run after a weight or bias write pays.

These are the cycle tables of ``docs/engine.md`` ("Cycle accounting" of each design) as
functions, with the latencies taken from the blocks the engines are built with (the K-lane
engine's adder tree, the column engine's energy unit), so that ``hopfield bench link`` does not
keep a copy of its own. ``tests/test_bench_link.py`` checks the refresh against the
``refresh_cycles`` the simulated boards report, for both designs.

The column engine's runs: ``status.cycles`` of a run as a timeline over its flips
(:func:`column_choose_cycles`, :func:`column_sync_cycles`, :func:`column_stochastic_cycles`),
which ``tests/test_column_engine.py`` checks exactly against the RTL on randomized runs, and
:func:`column_run_cycles`, the same from a run's outcome and its flips (random and
rejection_free order replayed from the run's start), with which ``cpu://?cycles=column`` gives
its runs the column engine's cycles.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hopfield_fpga import numerics
from hopfield_fpga.config import NetworkConfig
from .binary_engine import tree_levels
from .engine.column_engine import DEFAULT_WORDS, SelectTiming
from .engine.energy_unit import energy_latency
from .engine.glauber_unit import GlauberUnit
from .unstable_set import AdderTree

__all__ = ["access_write_cycles", "store_cycles", "refresh_cycles", "column_timing",
           "column_choose_cycles", "column_sync_cycles", "column_stochastic_cycles",
           "column_choose_decisions", "column_random_issue_ends", "column_run_cycles",
           "RunStart"]


def _lanes_latency(config: NetworkConfig) -> int:
    """L of the K-lane engine: its adder tree's latency over the K lanes."""
    return AdderTree.latency_of(config.lanes, tree_levels(config))


def access_write_cycles(config: NetworkConfig) -> int:
    """Cycles of one access write (a weight, bias or state word): 2 in both designs."""
    return 2


def store_cycles(config: NetworkConfig) -> int:
    """Cycles of the on-chip Hebbian store of one pattern: its C chunk writes of 2 cycles,
    then every weight word read and written (``lanes``: 2 N C) or the weight store's N
    columns, one a cycle (``column``: busy N + 1 cycles after the last chunk)."""
    n, c = config.neurons, config.chunks
    chunks = c * access_write_cycles(config)
    return chunks + (n + 1 if config.engine == "column" else 2 * n * c)


def refresh_cycles(config: NetworkConfig) -> int:
    """Cycles of the refresh of the fields and 2E that the first run after a weight or bias
    write (or a store) pays (``status.refresh_cycles``)."""
    n, c = config.neurons, config.chunks
    if config.engine == "column":
        return c + n + energy_latency(config) + 3      # L: the energy unit's, 2E's last term
    lat = _lanes_latency(config)
    # with fewer than 3 chunks the column passes drain between columns
    return n * c + 2 * c + 3 * lat + 9 + ((n - 1) * (lat + 3) if c < 3 else 0)


# -- the column engine's runs (docs/engine.md, "Column-parallel engine", "Cycle accounting") ------

def column_timing(config: NetworkConfig) -> SelectTiming:
    """The selectors' latencies of the column engine a board builds (its default spans)."""
    return SelectTiming(config.neurons)


def _end_cycles(clock, restart, need, tail, energy, timing):
    """The last CHOOSE's cycles: the wait for ``age`` >= ``need`` (``restart``: the cycle
    whose restart made age 0 in the next), ``tail`` decisions that flip nothing (cap, random
    words without a hit), then the finish, not before the last untraced flip's 2E is final
    (cycle ``energy``) and the count tree settled (age >= Lt); status.cycles counts up to
    the finishing cycle included."""
    decide = max(clock, restart + 1 + need) + tail
    return max(decide, energy, restart + 1 + timing.settle) + 1


def column_choose_cycles(config: NetworkConfig, order: str, per_flip, tail: int,
                         trace: bool) -> int:
    """status.cycles of a deterministic sequential, random or rejection_free run without
    trace stalls: ``per_flip`` the CHOOSE decision cycles before each flip (sequential: 1,
    the stable visits are skipped; random and rejection_free: one per G generator words),
    ``tail`` the decisions after the last flip that flip nothing (the cap, random words
    without a hit). CHOOSE decides once the selectors' inputs are ``need`` cycles old
    (sequential Ls, random 1, rejection_free Lt); a flip costs its CHOOSE decisions
    (rejection_free: then RANK_WALK, Lw + 1 cycles) and FLIP (+ L + 1 waiting for 2E and the
    handshake when traced); the run ends as :func:`_end_cycles` says."""
    timing, latency = column_timing(config), energy_latency(config)
    need = timing.choose[order]
    clock, restart, energy = 0, -1, 0               # the run's start restarts the age
    for decisions in per_flip:
        issue = max(clock, restart + 1 + need) + decisions - 1
        if order == "rejection_free":               # the accepted draw restarts the age
            restart = issue
            issue += 1 + timing.walk
        flip = issue + 1
        restart = flip + (latency + 1 if trace else 0)   # FLIP, or TRACE moves pos
        clock = restart + 1
        energy = 0 if trace else flip + latency + 1
    return _end_cycles(clock, restart, need, tail, energy, timing)


def column_sync_cycles(config: NetworkConfig, per_step, trace: bool) -> int:
    """status.cycles of a synchronous run whose steps flipped ``per_step`` neurons each
    (docs/engine.md, "Clamped neurons and the synchronous order"): a step's CHOOSE snapshots
    the pending set (age 0 after it); SYNC_WALK issues a flip once age >= Ls, FLIP follows
    (age 0 after it; traced: L + 1 more cycles for the event), and the SYNC_WALK that finds
    none left ends the step."""
    timing, latency = column_timing(config), energy_latency(config)
    ls = timing.sequential
    clock, restart, energy = 0, -1, 0
    for flips in per_step:
        choose = max(clock, restart + 2)            # the snapshot reads the registered flags
        restart, walk = choose, choose + 1
        for _ in range(flips):
            flip = max(walk, restart + 1 + ls) + 1
            restart = flip + (latency + 1 if trace else 0)   # FLIP, or TRACE moves pos
            walk = restart + 1
            energy = 0 if trace else flip + latency + 1
        clock = max(walk, restart + 1 + ls) + 1
    return _end_cycles(clock, restart, 1, 0, energy, timing)


def column_stochastic_cycles(config: NetworkConfig, visits: int, flip_visits, trace: bool,
                             issue_ends=None) -> int:
    """status.cycles of a stochastic run of ``visits`` visits that flipped at the visits
    ``flip_visits`` (ascending), without trace stalls. Visits are issued one per cycle
    (random order: ``issue_ends[v]``, the cycle that ends visit v's issue counted without the
    flips' cycles, i.e. the running sum of ceil(w / G) for its index draws of w words) after
    CHOOSE, or from an untraced flip's FLIP cycle on, and decided 1 + GlauberUnit.latency
    cycles after their issue; a traced flip is followed by FLIP, L + 1 cycles for its event
    and CHOOSE. The final CHOOSE comes the cycle after the last decision (after an untraced
    flip: after FLIP and one GLAUBER cycle) and ends the run, not before the last untraced
    flip's 2E is final and the count tree has settled (Lt cycles after the run's start or
    the last FLIP). Only the last flip and the last visit shape the end, so this costs no
    loop over the visits: a flip delays every later issue by the same ``shift``."""
    timing, latency = column_timing(config), energy_latency(config)
    depth = 1 + GlauberUnit.latency

    def issued(v):                               # the cycle that ends visit v's issue
        return v + 1 if issue_ends is None else int(issue_ends[v])

    flips = len(flip_visits)
    shift = depth + (latency + 3 if trace else 0)      # what a flip adds to every later issue
    if visits == 0:
        return timing.settle + 1
    last = visits - 1
    decide_last = issued(last) + depth + shift * (flips - (1 if flips and
                                                          flip_visits[-1] == last else 0))
    if not flips:
        return max(decide_last + 1, timing.settle) + 1
    f = int(flip_visits[-1])
    decide_f = issued(f) + depth + shift * (flips - 1)
    if f == last:                                # FLIP; traced: TRACE_WAIT, TRACE, CHOOSE
        final = decide_f + (latency + 3 if trace else 3)
    else:
        final = decide_last + 1
    energy_ready = 0 if trace else decide_f + latency + 2
    settled = decide_f + 2 + timing.settle + (latency + 1 if trace else 0)
    return max(final, energy_ready, settled) + 1


@dataclasses.dataclass(frozen=True)
class RunStart:
    """What a run started from, for the replay of random and rejection_free order's
    generator words on the fields: W, b, the start state, the clamp mask (None: none held)
    and the run's seed."""
    weights: np.ndarray
    bias: np.ndarray | None
    state: np.ndarray
    clamp: np.ndarray | None
    seed: int


def column_choose_decisions(config: NetworkConfig, order: str, start: RunStart, cap: int,
                            flips) -> tuple[list[int], int]:
    """The CHOOSE decision cycles before each flip and after the last one (``tail``) of a
    deterministic run, replayed from ``start`` on its ``flips`` (rows visit, index, value):
    sequential skips the stable visits in one decision; random tests DEFAULT_WORDS generator
    words a cycle (a cycle ends at the word naming an unstable free neuron); rejection_free
    draws its rank with ``numerics.draw_index``, DEFAULT_WORDS words a cycle. ValueError when
    the flips do not follow from the start (not this run's)."""
    n = config.neurons
    w = np.asarray(start.weights, dtype=np.int64)
    s = np.array(start.state, dtype=np.int64)
    h = w @ s + (0 if start.bias is None else np.asarray(start.bias, dtype=np.int64))
    free = np.ones(n, bool) if start.clamp is None else ~np.asarray(start.clamp, dtype=bool)
    flags = (s * h < 0) & free           # the flags the selectors see (§12)
    x = numerics.seed_state(start.seed)
    m = (n - 1).bit_length()
    rows = [tuple(int(v) for v in row[:3]) for row in flips]
    per_flip, visits, cycles = [], 0, 0
    while flags.any() and visits < cap:
        cycles += 1
        if order == "sequential":
            pos = visits % n
            skip = int(np.argmax(np.concatenate((flags[pos:], flags[:pos]))))
            if skip >= cap - visits:
                visits = cap
                continue
            visits += skip
            found = (pos + skip) % n
        elif order == "random":
            stable, found = 0, None
            for _ in range(DEFAULT_WORDS):
                x = numerics.xorshift32(x)
                cand = x >> (32 - m) if m else 0
                if cand < n and flags[cand]:
                    found = cand
                    break
                stable += cand < n
            if stable >= cap - visits:
                visits = cap
                continue
            visits += stable
            if found is None:
                continue
        else:
            k, x, used = numerics.draw_index(x, int(np.count_nonzero(flags)))
            cycles += (used - 1) // DEFAULT_WORDS        # DEFAULT_WORDS words a cycle
            found = int(np.flatnonzero(flags)[k])
        if len(per_flip) == len(rows) or rows[len(per_flip)][:2] != (visits, found):
            raise ValueError(f"the flips do not follow from the run's start: the replay "
                             f"flips neuron {found} at visit {visits}, the run "
                             f"{rows[len(per_flip)][:2] if len(per_flip) < len(rows) else 'none'}")
        _, j, value = rows[len(per_flip)]
        per_flip.append(cycles)
        cycles = 0
        visits += 1
        s[j] = value
        h += 2 * value * w[:, j]
        flags = (s * h < 0) & free
    if len(per_flip) != len(rows):
        raise ValueError(f"the flips do not follow from the run's start: the replay ends after "
                         f"{len(per_flip)} flips, the run made {len(rows)}")
    return per_flip, cycles


def column_random_issue_ends(config: NetworkConfig, seed: int, visits: int) -> list[int]:
    """A stochastic random-order run's issue ends (see :func:`column_stochastic_cycles`):
    each visit draws its index (ceil(w / G) cycles for w words) and then its Glauber word."""
    x, n, end, ends = numerics.seed_state(seed), config.neurons, 0, []
    for _ in range(visits):
        _, x, used = numerics.draw_index(x, n)
        end += -(-used // DEFAULT_WORDS)
        ends.append(end)
        x = numerics.xorshift32(x)           # the Glauber word
    return ends


def column_run_cycles(config: NetworkConfig, *, order: str, stochastic: bool, visits: int,
                      cap: int, stop_reason: str, flips, seed: int = 1,
                      start: RunStart | None = None, trace: bool = False) -> int:
    """status.cycles of a column-engine run (no trace stalls) from its outcome: its order,
    whether it ran the Glauber rule, its visits, cap and stop reason, its flips (rows visit,
    index, value; ascending visits) and its seed; a deterministic random or rejection_free run
    also needs its ``start`` (:func:`column_choose_decisions` replays it)."""
    flips = np.asarray(flips, dtype=np.int64).reshape(len(flips), -1) if len(flips) \
        else np.empty((0, 3), dtype=np.int64)
    flip_visits = flips[:, 0]
    if stochastic:
        if order not in ("sequential", "random"):
            raise ValueError(f"the column engine runs the Glauber rule in sequential and "
                             f"random order, not {order}")
        ends = column_random_issue_ends(config, seed, visits) if order == "random" else None
        return column_stochastic_cycles(config, visits, flip_visits, trace, ends)
    if order == "synchronous":
        n = config.neurons
        per_step = [0] * (visits // n)
        for v in flip_visits:
            per_step[int(v) // n] += 1
        return column_sync_cycles(config, per_step, trace)
    if order == "sequential":
        # one CHOOSE a flip; one more that flips nothing when the cap ends the run among
        # stable visits (not when the last flip used the last visit)
        last = int(flip_visits[-1]) if len(flips) else -1
        tail = 1 if stop_reason == "cap" and last + 1 < cap else 0
        return column_choose_cycles(config, order, [1] * len(flips), tail, trace)
    if start is None:
        raise ValueError(f"the cycles of a {order} run need its start (RunStart): its "
                         f"generator words are replayed on the fields")
    per_flip, tail = column_choose_decisions(config, order, start, cap, flips)
    return column_choose_cycles(config, order, per_flip, tail, trace)
