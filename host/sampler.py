"""A dimod sampler over any board: simulated annealing of Ising / QUBO problems on the engine.

:class:`HopfieldSampler` maps a binary quadratic model onto weights and biases
(``host/ising_map.py``: W = -c J, b = -c h, exact when the coefficients allow it, refused or,
with ``quantize=True``, rounded with the worst relative error reported), loads them, and runs
``num_reads`` anneals one after another, each from a random state drawn from ``seed``, with the
stochastic (Glauber) neurons of ``docs/numerics.md`` §8.

The schedule: ``beta_range=(hot, cold)`` in the BQM's units becomes a geometric schedule with
one entry per sweep, as dwave-samplers' annealer builds it (``beta_schedule`` gives the entries
directly). The board holds at most ``config.beta_depth`` entries (sweep k uses entry
min(k, len - 1)), so a read is a chain of runs of at most that many sweeps, each continuing
from the state the previous one ended in with the next part of the schedule: the whole schedule
is applied, one entry per sweep, whatever ``num_sweeps`` is. Betas are divided by the scale c
and rounded to the board's Q8.8 (a positive beta never rounds to 0; one above the format's
largest value is clamped, by which point integer fields make the rule deterministic anyway).

Each run of a read gets its own seed (read r, part k: ``seeds[r, k]``, drawn from ``seed``):
replicas that share their random words coalesce (at high temperature they meet within a few
sweeps), so reads with one seed would not be independent samples. On a board that takes a seed
per probe (protocol version 8, RunFlags.PROBE_SEEDS; cpu:// too) each part of the schedule runs
all the reads at once, one ``Board.recall_many`` with a seed per read, so a board with
replicas (``NetworkConfig.replicas``) anneals R reads at a time; the samples are the same as
those of the reads run one after another (``batch=False``), which is the path of a board
without ``recall_many``.

Energies in the returned SampleSet are recomputed from the samples with the BQM itself
(exact in its own units, whatever the quantization). ``info`` holds the mapping (scale,
exactness, worst relative error), the schedule, and the board's counts: flips, RTL cycles (the
sum of the runs') and the board's time at its clock (None when the board reports no cycles):
``batch_cycles`` / clock, where ``batch_cycles`` places the runs of each recall_many on the
replicas as the command engine serves them (:func:`replica_batch_cycles`; the sum of the runs
on a board with one engine, or when the reads run one after another), and the bytes
the reads and the weight load put on the wire with their time at the board's baud (None on a
board without a link, such as ``cpu://``): the RTL cycles leave out the round trips between
the runs of a read, which a real board pays.

A problem of n variables on a board of N > n neurons leaves N - n padding neurons, with no
coupling and no bias: at any temperature half of their visits would flip them, each flip
costing the engine cycles (3 on the column engine). Where the board clamps (``Board.extras``:
the column engine, cpu://) the padding is held, which changes no sample (the padding couples
to nothing, and a held neuron's visit draws the generator's words all the same:
``docs/numerics.md`` §12), only the cycles (``info["padding_held"]``).
"""

from __future__ import annotations

import time

import dimod
import numpy as np

from hopfield_fpga import protocol as P
from hopfield_fpga.baud import CHARACTER_BITS
from hopfield_fpga.config import BETA_SCHEDULE_DEPTH
from hopfield_fpga.numerics import BETA_BITS, BETA_FRAC
from .ising_map import IsingMapping, default_beta_range, map_ising

__all__ = ["HopfieldSampler", "replica_batch_cycles"]

_BETA_ONE = 1 << BETA_FRAC
_BETA_MAX = (1 << BETA_BITS) - 1
ORDERS = ("sequential", "random")


def replica_batch_cycles(cycles, replicas: int, per_frame: int) -> int:
    """Board cycles of a recall_many whose runs took ``cycles`` (exact RTL cycles, in probe
    order) on a board with ``replicas`` engines and ``per_frame`` probes a RECALL_MANY frame,
    served as the command engine does (docs/engine.md, "Replicas"): probe k runs on replica
    k mod R once the result of probe k - R has been sent, results go out in probe order, and
    a frame's first probe waits for the last result of the frame before. The loads and
    reads between runs are left out, as in a sum of runs (which this is when R = 1)."""
    if replicas < 1 or per_frame < 1:
        raise ValueError(f"replicas and per_frame must be positive, not {replicas}, "
                         f"{per_frame}")
    now = 0                               # the last result sent so far
    for first in range(0, len(cycles), per_frame):
        sent: list[int] = []              # when each result of this frame was sent
        for k, c in enumerate(cycles[first:first + per_frame]):
            start = sent[k - replicas] if k >= replicas else now
            sent.append(max(start + int(c), sent[-1] if sent else now))
        now = sent[-1]
    return now


def board_betas(betas, scale: float) -> np.ndarray:
    """Q8.8 board betas (integers) of real betas in BQM units for a mapping of scale c."""
    fx = np.floor(np.asarray(betas, dtype=float) / scale * _BETA_ONE + 0.5)
    fx = np.where(np.asarray(betas) > 0, np.maximum(fx, 1), 0)
    return np.minimum(fx, _BETA_MAX).astype(np.int64)


class HopfieldSampler(dimod.Sampler):
    """Simulated annealing on a Hopfield board, as a :class:`dimod.Sampler`.

    ``HopfieldSampler(url)`` opens the board on first use (``Board.open(url)``; None is the
    default simulated board) and keeps it open until :meth:`close`; ``board=`` uses an open
    board (anything with ``config``, ``info()``, ``load_weights`` and ``recall``) and leaves
    closing it to the caller. ``num_reads`` and ``num_sweeps`` set the defaults of
    :meth:`sample`.
    """

    def __init__(self, url: str | None = None, *, board=None, num_reads: int = 10,
                 num_sweeps: int = 1000):
        if board is not None and url is not None:
            raise ValueError("give url or board, not both")
        self.url = url
        self._board = board
        self._owns_board = board is None
        self._loaded = None
        self.default_num_reads = check_positive("num_reads", num_reads)
        self.default_num_sweeps = check_positive("num_sweeps", num_sweeps)

    def __repr__(self) -> str:
        # deterministic (no address): dimod's conformance tests are named after it, and
        # pytest-xdist workers must collect the same names
        where = repr(self.url) if self._board is None or self.url is not None \
            else f"board={getattr(self._board, 'url', type(self._board).__name__)!r}"
        return (f"HopfieldSampler({where}, num_reads={self.default_num_reads}, "
                f"num_sweeps={self.default_num_sweeps})")

    # -- the board --------------------------------------------------------------------------

    @property
    def board(self):
        if self._board is None:
            from .board import Board
            self._board = Board.open(self.url)
        return self._board

    def close(self) -> None:
        if self._owns_board and self._board is not None:
            self._board.close()
            self._board = None
            self._loaded = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- dimod API ----------------------------------------------------------------------------

    @property
    def parameters(self) -> dict:
        return {"num_reads": [], "num_sweeps": [], "beta_range": [], "beta_schedule": [],
                "seed": [], "order": [], "greedy_finish": [], "quantize": [],
                "trajectory": [], "progress": [], "batch": []}

    @property
    def properties(self) -> dict:
        cfg = self.board.config
        info = self.board.info()
        return {"num_variables": cfg.neurons, "weight_bits": cfg.weight_bits,
                "bias_bits": cfg.bias_bits, "beta_schedule_depth": cfg.beta_depth,
                "orders": list(ORDERS), "clock_hz": info.clk_freq, "config": cfg.to_dict()}

    def sample(self, bqm, *, num_reads: int | None = None, num_sweeps: int | None = None,
               beta_range=None, beta_schedule=None, seed: int | None = None,
               order: str = "sequential", greedy_finish: bool = False, quantize: bool = False,
               trajectory: bool = False, progress=None,
               batch: bool | None = None) -> dimod.SampleSet:
        """Anneal ``bqm`` ``num_reads`` times and return the samples with exact energies.

        beta_range: (hot, cold) in the BQM's units, default :func:`default_beta_range`;
            beta_schedule: the betas themselves, one per sweep (then num_sweeps is its length).
        order: the board's update order, "sequential" (as dwave-samplers) or "random".
        greedy_finish: after the anneal, a deterministic run to the nearest fixed point.
        quantize: round coefficients that do not fit exactly (else they are refused).
        trajectory: ``info["trajectory"]`` gets the energy of every read after each run; the
            runs are then at most BETA_SCHEDULE_DEPTH (64) sweeps long, so on a board with a
            deeper schedule the reads are split (and seeded) as on a 64-entry board.
        progress: called as progress(reads_done, num_reads).
        batch: run each part of the schedule for all reads in one recall_many (a seed per
            read); None: where the board takes a seed per probe (same samples either way).
        """
        num_reads = self.default_num_reads if num_reads is None else check_positive("num_reads",
                                                                               num_reads)
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
        seed = check_sampler_seed(seed)
        for name, value in (("greedy_finish", greedy_finish), ("quantize", quantize),
                            ("trajectory", trajectory)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, not {value!r}")
        if batch is not None and not isinstance(batch, (bool, np.bool_)):
            raise TypeError(f"batch must be None, True or False, not {batch!r}")
        betas = self._schedule(bqm, num_sweeps, beta_range, beta_schedule)
        rng = np.random.default_rng(seed)
        variables = list(bqm.variables)
        if not variables:   # nothing to run: every sample is the empty one
            return dimod.SampleSet.from_samples_bqm((np.empty((num_reads, 0)), []), bqm,
                                                    info={"beta_schedule": betas.tolist()})
        board = self.board
        mapping = map_ising(bqm, board.config, quantize=quantize)
        wire = _WireCount(board)
        self._load(mapping)
        load_bytes = wire.take()
        # A trajectory has a point at the end of each run: it takes runs of at most
        # BETA_SCHEDULE_DEPTH sweeps even where the board holds more (docs/optimization.md §3)
        depth = board.config.beta_depth
        if trajectory:
            depth = min(depth, BETA_SCHEDULE_DEPTH)
        runs = [slice(k, k + depth) for k in range(0, len(betas), depth)]
        fixed = board_betas(betas, mapping.scale)
        n, cap = len(variables), board.config.neurons
        states = rng.choice(np.array([-1, 1], dtype=np.int8), size=(num_reads, cap))
        seeds = rng.integers(0, 1 << 32, size=(num_reads, len(runs) + 1), dtype=np.uint64)
        flips = np.zeros(num_reads, dtype=np.int64)
        cycles = np.zeros(num_reads, dtype=np.int64)
        path = np.zeros((num_reads, len(runs), n), dtype=np.int8) if trajectory else None
        # The board runs of one read: the schedule in parts of at most beta_depth sweeps (64,
        # or 1024 on the ECP5 boards: one run for 1000 sweeps), each part
        # continuing from the state the last one ended in, then the optional greedy finish.
        held = _padding_mask(board, n)
        plan = [dict(order=order, max_sweeps=len(fixed[part]), clamp=held,
                     beta=[int(v) / _BETA_ONE for v in fixed[part]]) for part in runs]
        if greedy_finish:
            plan.append(dict(order="sequential", clamp=held))
        if batch is None:
            batch = _takes_probe_seeds(board)
        start = time.perf_counter()
        if batch:
            has_cycles, batch_cycles = self._run_batched(plan, states, seeds, flips, cycles,
                                                         path, len(runs), progress)
        else:
            has_cycles = self._run_each(plan, states, seeds, flips, cycles, path, len(runs),
                                        progress)
            batch_cycles = int(cycles.sum())
        wall = time.perf_counter() - start
        info = self._info(mapping, betas, fixed, flips, cycles if has_cycles else None,
                          batch_cycles if has_cycles else None, wall, len(plan))
        info.update(reads_at_once=num_reads if batch else 1,
                    replicas=getattr(board.config, "replicas", 1),
                    padding_held=0 if held is None else cap - n)
        info.update(wire.info(load_bytes, wire.take()))
        samples = states[:, :n]
        if path is not None:
            ends = [min(p.stop, len(betas)) for p in runs]
            energies = bqm.spin.energies((path.reshape(-1, n), mapping.variables))
            info["trajectory"] = {"sweeps": ends,
                                  "energies": energies.reshape(num_reads, len(runs)).tolist()}
        if bqm.vartype is dimod.BINARY:
            samples = (samples + 1) // 2
        vectors = {"flips": flips}
        if has_cycles:
            vectors["cycles"] = cycles
        return dimod.SampleSet.from_samples_bqm((samples, mapping.variables), bqm, info=info,
                                                **vectors)

    # -- the runs -------------------------------------------------------------------------------

    def _run_each(self, plan, states, seeds, flips, cycles, path, anneal_runs,
                  progress) -> bool:
        """The reads one after another, a recall per run; whether the board gave cycles."""
        board, has_cycles = self.board, True
        for r in range(len(states)):
            state = states[r]
            for k, kw in enumerate(plan):
                res = board.recall(state, seed=int(seeds[r, k]), **kw)
                state, has_cycles = res.state, has_cycles and res.cycles is not None
                flips[r] += res.flips
                cycles[r] += res.cycles or 0
                if path is not None and k < anneal_runs:
                    path[r, k] = state[:path.shape[2]]
            states[r] = state
            if progress:
                progress(r + 1, len(states))
        return has_cycles

    def _run_batched(self, plan, states, seeds, flips, cycles, path, anneal_runs,
                     progress) -> tuple[bool, int]:
        """Every read at once, a recall_many per run with a seed per read; whether the board
        gave cycles, and the batches' board cycles (:func:`replica_batch_cycles`)."""
        board, has_cycles, batch_cycles = self.board, True, 0
        reads = len(states)
        replicas = getattr(board.config, "replicas", 1)
        per_frame = P.LinkGeometry(board.config).max_recall_many_seeded
        for k, kw in enumerate(plan):
            results = board.recall_many(states, seed=[int(x) for x in seeds[:, k]], **kw)
            if len(results) != reads:
                raise RuntimeError(f"the board returned {len(results)} results for {reads} "
                                   f"reads (stopped?)")
            has_cycles = has_cycles and all(res.cycles is not None for res in results)
            for r, res in enumerate(results):
                states[r] = res.state
                flips[r] += res.flips
                cycles[r] += res.cycles or 0
            if has_cycles:
                batch_cycles += replica_batch_cycles([res.cycles for res in results],
                                                     replicas, per_frame)
            if path is not None and k < anneal_runs:
                path[:, k] = states[:, :path.shape[2]]
            if progress:
                progress(reads * (k + 1) // len(plan), reads)
        return has_cycles, batch_cycles

    # -- helpers --------------------------------------------------------------------------------

    def _schedule(self, bqm, num_sweeps, beta_range, beta_schedule) -> np.ndarray:
        if beta_schedule is not None:
            if beta_range is not None:
                raise ValueError("give beta_range or beta_schedule, not both")
            betas = np.asarray(beta_schedule, dtype=float)
            if betas.ndim != 1 or betas.size == 0 or not np.all(np.isfinite(betas)) \
                    or np.any(betas < 0):
                raise ValueError(f"beta_schedule must be a non-empty sequence of finite betas "
                                 f">= 0, not {beta_schedule!r}")
            if num_sweeps is not None and num_sweeps != betas.size:
                raise ValueError(f"num_sweeps = {num_sweeps} but beta_schedule has "
                                 f"{betas.size} entries (one per sweep)")
            return betas
        sweeps = self.default_num_sweeps if num_sweeps is None else check_positive("num_sweeps",
                                                                              num_sweeps)
        if beta_range is None:
            beta_range = default_beta_range(bqm)
        try:
            hot, cold = (float(b) for b in beta_range)
        except (TypeError, ValueError):
            raise ValueError(f"beta_range must be (hot, cold), not {beta_range!r}") from None
        if not (0 < hot <= cold < np.inf):
            raise ValueError(f"beta_range must be (hot, cold) with 0 < hot <= cold, not "
                             f"{beta_range!r}")
        return np.geomspace(hot, cold, sweeps)

    def _load(self, mapping: IsingMapping) -> None:
        # Reloading costs a full weight transfer: skip it when the board already holds these.
        key = (mapping.weights.tobytes(), mapping.bias.tobytes())
        if self._loaded != key:
            self._loaded = None
            self.board.load_weights(mapping.weights, mapping.bias)
            self._loaded = key

    def _info(self, mapping, betas, fixed, flips, cycles, batch_cycles, wall,
              runs_per_read) -> dict:
        clk = self.board.info().clk_freq
        info = mapping.to_dict()
        info.update(
            beta_range=(float(betas[0]), float(betas[-1])), num_sweeps=len(betas),
            beta_schedule=betas.tolist(), board_beta_schedule=(fixed / _BETA_ONE).tolist(),
            runs_per_read=runs_per_read, flips=int(flips.sum()), clock_hz=clk,
            cycles=None if cycles is None else int(cycles.sum()), batch_cycles=batch_cycles,
            board_time_s=None if batch_cycles is None else batch_cycles / clk,
            wall_time_s=wall)
        return info


class _WireCount:
    """Bytes a board's link wrote and read since the last :meth:`take` (both ways: one request
    is in flight at a time, so a request and its reply do not overlap on the wire)."""

    def __init__(self, board):
        self.link = board.link            # None on cpu://
        self.baud = board.info().baud
        self._last = self._total()

    def _total(self) -> int | None:
        return None if self.link is None else self.link.bytes_out + self.link.bytes_in

    def take(self) -> int | None:
        total = self._total()
        if total is None:
            return None
        since, self._last = total - self._last, total
        return since

    def info(self, load_bytes: int | None, read_bytes: int | None) -> dict:
        def seconds(n):
            return None if n is None or not self.baud else n * CHARACTER_BITS / self.baud
        return {"baud": self.baud or None, "load_wire_bytes": load_bytes,
                "load_wire_time_s": seconds(load_bytes), "wire_bytes": read_bytes,
                "wire_time_s": seconds(read_bytes)}


def _padding_mask(board, n: int):
    """The clamp mask holding neurons n..N-1 (the padding), or None: no padding, or a board
    that does not clamp (a stand-in object may have no ``extras``)."""
    cap = board.config.neurons
    if n >= cap or "clamping" not in getattr(board, "extras", ()):
        return None
    return np.arange(cap) >= n


def _takes_probe_seeds(board) -> bool:
    """Whether ``board`` runs a recall_many with a seed per probe: every Board does (a host
    refuses a board of another protocol version at IDENTIFY); a stand-in object may not."""
    return callable(getattr(board, "recall_many", None))


def check_sampler_seed(seed):
    """``seed`` as numpy's generator takes it: None (fresh entropy) or an integer >= 0."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be None or a non-negative integer, not {seed!r}")
    return int(seed)


def check_positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return int(value)
