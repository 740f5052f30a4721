"""Find the largest network per board that fits and meets timing, by synthesizing candidates.

For each (weight width, lanes) pair, :func:`sweep` first builds the largest N the fit check
allows (capped at ``MAX_NEURONS``); if that fails it bisects on N (in steps of
``granularity``) with real builds until it has the largest N that places, routes and meets
timing at the board clock.
Every build is recorded (:class:`Attempt`), failures included, so the table in
``docs/boards.md`` can say why the next size up did not make it.

A build takes minutes; a full sweep of one board takes hours on a small machine. It is a
command (``hopfield sweep``), never part of the test suite.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hopfield_fpga.config import NetworkConfig
from .boards import Board
from .build import BuildError, build
from .fit import FitError, largest_fitting_neurons
from .report import BuildReport

__all__ = ["Attempt", "sweep", "markdown_table"]


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One build of the sweep: its report, or why it failed."""
    config: NetworkConfig
    report: BuildReport | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.report is not None and self.report.ok

    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(), "ok": self.ok,
                "report": None if self.report is None else self.report.to_dict(),
                "error": self.error}


def sweep(board: Board, *, weight_bits, lanes, build_root, base: NetworkConfig | None = None,
          granularity: int = 64, log=None, on_attempt=None) -> list[Attempt]:
    """Return every build tried, per (W, K), bisecting on N; see the module docs. ``base``
    (default: the board's default configuration) gives the rest, the engine among it."""
    base = board.default_config if base is None else base
    attempts = []

    def attempt(config: NetworkConfig) -> Attempt:
        build_dir = Path(build_root) / (f"{board.name}-{config.engine}-n{config.neurons}"
                                        f"-w{config.weight_bits}-k{config.lanes}")
        try:
            result = Attempt(config, build(board, config, build_dir=build_dir, log=log))
        except (BuildError, FitError) as exc:
            result = Attempt(config, None, str(exc))
        attempts.append(result)
        if on_attempt is not None:
            on_attempt(result)
        return result

    for w in weight_bits:
        for k in lanes:
            shape = base.with_(neurons=max(base.neurons, k), weight_bits=w, lanes=k,
                               bias_bits=None)
            hi = largest_fitting_neurons(board, shape, granularity) // granularity
            lo = 0  # in units of granularity: lo passes (0 = nothing yet), hi + 1 fails
            # The memories are usually the limit, so the largest N they allow is tried first:
            # when it passes, one build settles the pair instead of log2(hi) of them.
            if hi and attempt(shape.with_(neurons=hi * granularity)).ok:
                lo = hi
            else:
                hi -= 1
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if attempt(shape.with_(neurons=mid * granularity)).ok:
                    lo = mid
                else:
                    hi = mid - 1
    return attempts


def markdown_table(board: Board, attempts: list[Attempt]) -> str:
    """The largest passing configuration per (W, K) as a Markdown table (``docs/boards.md``)."""
    best = {}
    for a in attempts:
        key = (a.config.weight_bits, a.config.lanes)
        if a.ok and (key not in best or a.config.neurons > best[key].config.neurons):
            best[key] = a
    rows = ["| board | N | W | K | clock MHz | Fmax MHz | logic | block RAM | SPRAM | DSP |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for (w, k), a in sorted(best.items()):
        r = a.report
        cells = []
        for name in ("logic cells" if board.family == "ice40" else "LUT4", "block RAM", "SPRAM",
                     "DSP"):
            u = r.resources.get(name)
            cells.append("-" if u is None else f"{u.used}/{u.available} "
                                               f"({100 * u.fraction:.0f}%)")
        rows.append(f"| {board.name} | {a.config.neurons} | {w} | {k} | {r.clk_mhz:g} | "
                    f"{r.fmax_mhz:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
