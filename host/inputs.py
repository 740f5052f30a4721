"""Input checks of the driver: every value is checked against the board's NetworkConfig
before anything is sent or computed, and a bad one raises a BoardError naming it (and what
would be valid). Nothing wraps: ranges are checked before any conversion.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from hopfield_fpga.config import Feature, NetworkConfig, Order
from hopfield_fpga.sim import golden
from .engines import COLUMN_EXTRAS, EXTRAS, RunSpec
from .errors import BadInput, BadInputType, ConfigMismatch, MissingEngineFeature

__all__ = ["DEFAULT_MAX_SWEEPS", "positive_seconds", "check_matrix", "check_symmetric", "check_state",
           "check_states", "run_spec", "require_extra", "probe_seeds"]

#: Sweeps after which a deterministic run without max_sweeps / max_visits ends ("cap").
DEFAULT_MAX_SWEEPS = 1000


def positive_seconds(name: str, value) -> float:
    """``value`` as float seconds: finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        raise BadInput(f"{name} must be a finite number of seconds > 0, not {value!r}")
    return float(value)


def check_matrix(config: NetworkConfig, name, value, shape, lo, hi, quantize) -> np.ndarray:
    """``value`` as int64 of ``shape`` within [lo, hi]; floats only when integral or with
    ``quantize`` (finite values scaled onto the range, with a warning). Checked before any
    conversion, so nothing wraps."""
    a = np.asarray(value)
    if a.shape != shape:
        raise ConfigMismatch(f"{name} must have shape {shape} for this board "
                             f"({config.describe()}), not {a.shape}")
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer)
                               or np.issubdtype(a.dtype, np.floating)):
        raise BadInputType(f"{name} must be integers (or floats with quantize=True), "
                           f"not dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating):
        bad = ~np.isfinite(a)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise BadInput(f"{name} has a non-finite value {a[where]} at {where}; "
                           f"the board takes finite numbers")
        if quantize:
            peak = float(np.max(np.abs(a))) if a.size else 0.0
            scale = min(hi, -lo) / peak if peak > 0 else 1.0
            warnings.warn(f"{name} quantized to integers in [{lo}, {hi}] "
                          f"(scaled by {scale:.4g})", stacklevel=3)
            a = np.clip(np.round(a * scale), lo, hi)
        elif not np.all(a == np.round(a)):
            raise BadInput(f"{name} has non-integer values; pass integers in "
                           f"[{lo}, {hi}] or quantize=True")
    # range check before any conversion, so that nothing wraps (uint64, 1e30, ...)
    if a.size:
        out = (a < lo) | (a > hi)
        if out.any():
            bad_value = a[out].flat[0]
            raise ConfigMismatch(f"{name} value {bad_value} does not fit the board: the "
                                 f"range is [{lo}, {hi}] ({config.describe()})")
    return a.astype(np.int64)


def check_symmetric(config: NetworkConfig, weights: np.ndarray) -> None:
    """A board built with Feature.SYMMETRIC computes its energy from W = W^T
    (docs/numerics.md §6): asymmetric weights are refused before anything is written."""
    if not config.has(Feature.SYMMETRIC):
        return
    off = np.argwhere(weights != weights.T)
    if off.size:
        i, j = (int(v) for v in off[0])
        raise ConfigMismatch(f"weights must be symmetric on this board (built with the "
                             f"symmetric feature: {config.describe()}), but W[{i}, {j}] = "
                             f"{weights[i, j]} and W[{j}, {i}] = {weights[j, i]}")


def check_state(config: NetworkConfig, state, what: str = "state") -> np.ndarray:
    """A +1/-1 vector of N entries."""
    try:
        return golden._check_state(state, config.neurons)
    except TypeError as exc:
        raise BadInputType(f"{what}: {exc}") from None
    except ValueError as exc:
        raise ConfigMismatch(f"{what}: {exc}") from None


def check_states(config: NetworkConfig, values, what: str) -> np.ndarray:
    """A P x N array of +1/-1 rows (``patterns`` may be one vector)."""
    a = np.asarray(values)
    if a.ndim == 1 and what == "patterns":
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != config.neurons:
        raise ConfigMismatch(f"{what} must be P x {config.neurons} for this board, "
                             f"not shape {a.shape}")
    if np.issubdtype(a.dtype, np.integer) and a.dtype != np.bool_ and (
            a.size == 0 or (a.min() >= -1 and a.max() <= 1)):
        # The whole batch checked at once (recall_many's cost): two reductions and the
        # conversion, then no 0 (half the time of |a| == 1, which makes a temporary array).
        spins = a.astype(np.int8)
        if spins.all():
            return spins
    # Some row is bad: check_state names the first one and what is wrong with it.
    return np.array([check_state(config, p, f"{what[:-1]} {i}") for i, p in enumerate(a)],
                    dtype=np.int8).reshape(a.shape)


def require_extra(extras: frozenset, name: str, where: str) -> None:
    """Refuse ``name`` (a key of engines.EXTRAS) when the engine has not got it."""
    if name not in extras:
        column = (" and boards built with the column engine (engine=column)"
                  if name in COLUMN_EXTRAS else
                  " and boards built with it in the column engine (engine=column, orders "
                  "with synchronous)" if name == "the synchronous order" else "")
        raise MissingEngineFeature(
            f"{where}: this board's engine has no {name} yet (docs/numerics.md "
            f"{EXTRAS[name]}): the golden model, cpu://{column} have it")


def _check_seed(name: str, seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= seed < 2**32:
        raise BadInput(f"{name} must be an integer in [0, 2**32), not {seed!r}")


def probe_seeds(seed, count: int) -> tuple[int | None, tuple[int, ...] | None]:
    """A recall_many's ``seed``: one integer for every probe, or a sequence of ``count``
    integers (one per probe); returns (the seed, None) or (None, the seeds)."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        _check_seed("seed", seed)
        return int(seed), None
    if isinstance(seed, (str, bytes)) or not hasattr(seed, "__len__"):
        raise BadInput(f"seed must be an integer in [0, 2**32) or a sequence of one per "
                       f"probe, not {seed!r}")
    seeds = list(np.asarray(seed).ravel()) if isinstance(seed, np.ndarray) else list(seed)
    if isinstance(seed, np.ndarray) and seed.ndim != 1:
        raise BadInput(f"seed: a sequence of one seed per probe, not an array of shape "
                       f"{seed.shape}")
    if len(seeds) != count:
        raise BadInput(f"seed: {len(seeds)} seeds for {count} probes (give one per probe, "
                       f"or one integer for all)")
    for i, s in enumerate(seeds):
        _check_seed(f"seed[{i}]", s)
    return None, tuple(int(s) for s in seeds)


def run_spec(config: NetworkConfig, *, order, seed, max_sweeps, max_visits, beta,
             trace, clamp=None, extras: frozenset = frozenset(), where: str = "?") -> RunSpec:
    """The validated parameters of a binary run (the default cap filled in); ``extras`` are
    the engine's features of ``engines.EXTRAS`` and ``where`` names the board in errors."""
    cfg = config
    try:
        o = Order.parse(order)
    except (TypeError, ValueError) as exc:
        raise BadInput(str(exc)) from None
    if o is Order.SYNCHRONOUS and o not in cfg.orders:   # built into a column engine board
        require_extra(extras, "the synchronous order", where)
    mask = None
    if clamp is not None:
        require_extra(extras, "clamping", where)
        try:
            mask = golden.check_clamp(clamp, cfg.neurons)
        except TypeError as exc:
            raise BadInputType(str(exc)) from None
        except ValueError as exc:
            raise ConfigMismatch(str(exc)) from None
    if o is not Order.SYNCHRONOUS and o not in cfg.orders:   # synchronous: an engine extra
        hint = ("; a deterministic run in rejection_free order makes the same random "
                "choice among the unstable neurons without the stable visits (not the same "
                "trajectory for a seed), a stochastic one runs in sequential order"
                if o is Order.RANDOM and Order.REJECTION_FREE in cfg.orders else "")
        raise ConfigMismatch(f"order {o.name.lower()} is not built into this board; built "
                             f"in: {', '.join(x.name.lower() for x in cfg.orders)}{hint}")
    _check_seed("seed", seed)
    try:
        schedule = golden._beta_schedule(beta, None, cfg.beta_depth)
        stochastic = schedule is not None
        if max_sweeps is None and max_visits is None and not stochastic:
            max_sweeps = min(DEFAULT_MAX_SWEEPS, golden.MAX_VISITS // cfg.neurons)
        cap = golden._visit_cap(max_sweeps, max_visits, cfg.neurons, stochastic)
    except (TypeError, ValueError) as exc:
        raise BadInput(str(exc)) from None
    if stochastic:
        if not cfg.has(Feature.STOCHASTIC):
            raise ConfigMismatch("this board has no stochastic neurons")
        if o in (Order.REJECTION_FREE, Order.SYNCHRONOUS):
            raise BadInput(f"stochastic runs use the sequential or random order, "
                           f"not {o.name.lower()}")
    trace = bool(trace)
    if trace and not cfg.has(Feature.TRACE):
        raise ConfigMismatch("this board has no trace stream")
    return RunSpec(o, int(seed), cap, None if schedule is None else tuple(schedule), trace,
                   mask)
