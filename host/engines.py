"""The engine interfaces behind :class:`~hopfield_fpga.host.board.Board`.

``Board`` validates every input against the board's NetworkConfig and hands plain numpy
integer arrays to two engine objects: a :class:`BinaryEngineAPI` and a :class:`GradedEngineAPI`.
A binary engine lists in ``extras`` the features of :data:`EXTRAS` it has beyond what a
configuration describes (the Board refuses the others with MissingEngineFeature); a board's
engine has those of :data:`COLUMN_EXTRAS` when its configuration says ``engine="column"``.
Two backends implement them: the protocol engines over a link (``host/wire.py``: real boards
and ``sim://``) and the CPU engine (``host/cpu_backend.py``: ``cpu://``). Neither validates
again; both return the driver's result types (``host/results.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np

from hopfield_fpga.config import Order
from hopfield_fpga.sim.golden import RunResult
from .results import BoardInfo, BoardStatus

__all__ = ["RunSpec", "BinaryEngineAPI", "GradedEngineAPI", "EXTRAS", "COLUMN_EXTRAS"]

#: Engine features that no NetworkConfig field describes yet (``docs/numerics.md`` §12-§14),
#: with the section that defines them: the CPU backend has them all.
EXTRAS = {"clamping": "§12", "the synchronous order": "§13", "the quantized store": "§14"}
#: The extras a board built with the column engine (``engine="column"``) has through the
#: protocol (WRITE_CLAMP); the K-lane engine (``engine="lanes"``) has none. The synchronous
#: order is a configured order on a board (``orders``, column engine only), an extra on cpu://.
#: A column engine built with ``store_patterns`` > 0 also has "the quantized store" (§14,
#: WRITE_PATTERNS / WRITE_THRESHOLDS / STORE_QUANTIZED; ``host/wire.py``).
COLUMN_EXTRAS = frozenset({"clamping"})


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A validated binary run: ``cap`` visits at most (stochastic: exactly), ``schedule`` the
    Q8.8 beta entries (None: deterministic neurons), ``clamp`` the bool mask of held neurons
    (None: none held), ``probe_seeds`` one seed per probe of a recall_many (None: ``seed``
    for every probe)."""
    order: Order
    seed: int
    cap: int
    schedule: tuple[int, ...] | None
    trace: bool
    clamp: np.ndarray | None = None
    probe_seeds: tuple[int, ...] | None = None


class BinaryEngineAPI(Protocol):
    extras: frozenset[str]     # names from EXTRAS

    def info(self) -> BoardInfo: ...
    def write_weights(self, weights: np.ndarray, progress=None) -> None: ...
    def read_weights(self, progress=None) -> np.ndarray: ...
    def write_bias(self, bias: np.ndarray) -> None: ...
    def read_bias(self) -> np.ndarray: ...
    def write_state(self, state: np.ndarray) -> None: ...
    def read_state(self) -> np.ndarray: ...
    def clear(self) -> None: ...
    def store(self, patterns: np.ndarray, progress=None) -> None: ...
    def store_quantized(self, patterns: np.ndarray, scale: float | None) -> None: ...
    def recall(self, probe: np.ndarray, spec: RunSpec, run_timeout: float) -> RunResult: ...
    def recall_many(self, probes: np.ndarray, spec: RunSpec, run_timeout: float,
                    progress=None) -> list[RunResult]: ...
    def status(self) -> BoardStatus: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...


class GradedEngineAPI(Protocol):
    def write_u(self, u: np.ndarray) -> None: ...
    def read_u(self) -> np.ndarray: ...
    def read_v(self) -> np.ndarray: ...
    def write_table(self, table: tuple) -> None: ...
    def read_table(self) -> tuple: ...
    def graded_status(self) -> dict: ...
    def run_graded(self, params, trace: bool, run_timeout: float) -> tuple[dict, list | None]:
        """Run from the u on the board with ``params`` (its table is not written); return the
        status dict and, with ``trace``, one (u, v) pair per step."""
