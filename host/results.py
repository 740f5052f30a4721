"""What the driver returns: :class:`BoardInfo`, :class:`BoardStatus`, :class:`GradedBoardResult`.

Shared by every backend (the protocol engines of ``host/wire.py`` and the CPU backend of
``host/cpu_backend.py``); re-exported by ``host/board.py``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hopfield_fpga import protocol as P
from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.numerics import GRADED_V_ONE

__all__ = ["BoardInfo", "BoardStatus", "GradedBoardResult", "graded_status_dict"]


@dataclasses.dataclass(frozen=True)
class BoardInfo:
    """What identify reports: protocol version, configuration, clock, baud, payload limit
    (clock, baud and payload limit are 0 on the CPU backend, which has no link)."""
    version: int
    config: NetworkConfig
    clk_freq: int
    baud: int
    max_payload: int
    url: str

    def to_dict(self) -> dict:
        return {"url": self.url, "protocol_version": self.version,
                "config": self.config.to_dict(), "clk_freq": self.clk_freq,
                "baud": self.baud, "max_payload": self.max_payload}


@dataclasses.dataclass(eq=False)
class BoardStatus:
    """The binary engine's status (protocol.STATUS). ``stop_reason`` is the last run's stop
    reason, a name of ``RunResult.STOP_REASONS`` ("converged", "cap", "stop"; "cycle2" after a
    synchronous run: cpu://, or a column-engine board built with the order); ``cycles`` and
    ``refresh_cycles`` are None on the CPU."""

    FIELDS = ("busy", "converged", "stop_reason", "fields_valid", "unstable", "visits", "flips",
              "cycles", "refresh_cycles", "energy2")

    busy: bool
    converged: bool
    stop_reason: str
    fields_valid: bool
    unstable: int
    visits: int
    flips: int
    cycles: int | None
    refresh_cycles: int | None
    energy2: int

    @classmethod
    def unpack(cls, raw: bytes) -> "BoardStatus":
        flags, unstable, visits, flips, cycles, refresh, energy2 = P.STATUS.unpack(raw)
        return cls(busy=bool(flags & P.StatusFlags.BUSY),
                   converged=bool(flags & P.StatusFlags.CONVERGED),
                   stop_reason=P.STOP_REASON_NAMES[
                       P.StopReason((flags >> P.STOP_REASON_SHIFT)
                                    & ((1 << P.STOP_REASON_BITS) - 1))],
                   fields_valid=bool(flags & P.StatusFlags.FIELDS_VALID), unstable=unstable,
                   visits=visits, flips=flips, cycles=cycles, refresh_cycles=refresh,
                   energy2=energy2)

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.FIELDS}


def graded_status_dict(data: bytes) -> dict:
    """protocol.GRADED_STATUS as the dict :meth:`Board.graded_status` returns."""
    flags, steps, max_du, cycles = P.GRADED_STATUS.unpack(data)
    reason = P.StopReason((flags >> P.STOP_REASON_SHIFT) & ((1 << P.STOP_REASON_BITS) - 1))
    return {"busy": bool(flags & P.StatusFlags.BUSY),
            "converged": bool(flags & P.StatusFlags.CONVERGED),
            "stop_reason": P.STOP_REASON_NAMES[reason],
            "steps": steps, "max_du": max_du, "cycles": cycles}


@dataclasses.dataclass(kw_only=True, eq=False)   # eq: numpy arrays do not compare to a bool
class GradedBoardResult:
    """Outcome of :meth:`Board.run_graded`, read back from the board.

    ``v`` and ``u`` are the fixed-point outputs and potentials (as ``sim.graded.GradedResult``);
    ``V`` and ``U`` the real values. ``trace`` (on request) holds one (u, v) pair of arrays per
    step, after that step, and ``v0`` the outputs g(lambda u0) the run started from.
    """

    FIELDS = ("steps", "converged", "stop_reason", "max_du", "cycles")

    v: np.ndarray
    u: np.ndarray
    steps: int
    converged: bool
    stop_reason: str
    max_du: int
    cycles: int | None
    params: object
    trace: list | None = None
    v0: np.ndarray | None = None

    def __post_init__(self):
        self.v = np.asarray(self.v, dtype=np.int64)
        self.u = np.asarray(self.u, dtype=np.int64)
        if self.v0 is not None:
            self.v0 = np.asarray(self.v0, dtype=np.int64)

    @property
    def V(self) -> np.ndarray:
        return self.v.astype(float) / GRADED_V_ONE

    @property
    def U(self) -> np.ndarray:
        return self.u.astype(float) / GRADED_V_ONE

    def to_dict(self) -> dict:
        d = {f: getattr(self, f) for f in self.FIELDS}
        d.update(v=self.v.tolist(), u=self.u.tolist(), V=self.V.tolist(), U=self.U.tolist())
        if self.trace is not None:
            d["trace_v"] = [v.tolist() for _, v in self.trace]
        return d
