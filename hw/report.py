"""Resource and timing reports of a build, read from nextpnr's JSON report and its log.

nextpnr writes ``--report FILE`` (``utilization``: used/available per cell type; ``fmax``:
achieved and constrained MHz per clock) when it completes. The logic-cell packing summary of
the iCE40 flow (how many cells hold a flip-flop) and the utilization of a design that could not
be placed are only in its log (``top.tim``), so both are read.

:class:`BuildReport` is what ``hopfield build`` prints and writes to ``report.json``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from hopfield_fpga.config import NetworkConfig
from .boards import Board
from .fit import WeightPlacement

__all__ = ["Usage", "ClockTiming", "BuildReport", "RESOURCE_CELLS", "parse_utilization_log",
           "parse_ice40_ffs", "parse_build", "overused"]

#: Which nextpnr cell types each report line counts, per family.
RESOURCE_CELLS = {
    "ice40": {
        "logic cells": "ICESTORM_LC",
        "block RAM": "ICESTORM_RAM",
        "SPRAM": "ICESTORM_SPRAM",
        "DSP": "ICESTORM_DSP",
        "PLL": "ICESTORM_PLL",
    },
    "ecp5": {
        "LUT4": "TRELLIS_COMB",
        "flip-flops": "TRELLIS_FF",
        "distributed RAM": "TRELLIS_RAMW",
        "block RAM": "DP16KD",
        "DSP": "MULT18X18D",
        "PLL": "EHXPLLL",
    },
}

_UTIL_LINE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)
_LC_LINE = re.compile(r"^Info:\s+(\d+) LCs used as (.+?)\s*$", re.M)


@dataclasses.dataclass(frozen=True)
class Usage:
    used: int
    available: int

    @property
    def fraction(self) -> float:
        return self.used / self.available if self.available else 0.0

    def to_dict(self) -> dict:
        return {"used": self.used, "available": self.available,
                "percent": round(100 * self.fraction, 1)}


@dataclasses.dataclass(frozen=True)
class ClockTiming:
    """nextpnr's timing of one clock net: achieved Fmax against the constraint, in MHz."""
    name: str
    fmax_mhz: float
    target_mhz: float

    @property
    def met(self) -> bool:
        return self.fmax_mhz >= self.target_mhz

    def to_dict(self) -> dict:
        return {"name": self.name, "fmax_mhz": round(self.fmax_mhz, 2),
                "target_mhz": round(self.target_mhz, 3), "met": self.met}


def parse_utilization_log(text: str) -> dict[str, Usage]:
    """The last ``Device utilisation`` table of a nextpnr log, by cell type."""
    usage = {}
    for name, used, available in _UTIL_LINE.findall(text):
        usage[name] = Usage(int(used), int(available))
    return usage


def parse_ice40_ffs(text: str) -> int | None:
    """Flip-flops of an iCE40 design: the logic cells packed with a DFF, from the log."""
    counts = {}
    for n, kind in _LC_LINE.findall(text):
        counts[kind] = int(n)
    if "LUT4 and DFF" not in counts or "DFF only" not in counts:
        return None
    return counts["LUT4 and DFF"] + counts["DFF only"]


def overused(usage: dict[str, Usage]) -> dict[str, Usage]:
    """The cell types whose use exceeds what the device has."""
    return {k: u for k, u in usage.items() if u.used > u.available}


@dataclasses.dataclass(frozen=True)
class BuildReport:
    """Result of one build: resources, timing and where the bitstream is."""
    board: str
    device: str
    family: str
    config: NetworkConfig
    clk_mhz: float
    baud: int
    resources: dict[str, Usage]
    clocks: tuple[ClockTiming, ...]
    weights: WeightPlacement
    bitstream: str | None
    build_dir: str

    @property
    def timing_met(self) -> bool:
        return bool(self.clocks) and all(c.met for c in self.clocks)

    @property
    def fmax_mhz(self) -> float | None:
        """Fmax of the slowest clock."""
        return min((c.fmax_mhz for c in self.clocks), default=None)

    @property
    def ok(self) -> bool:
        return self.timing_met and not overused(self.resources)

    def summary(self) -> str:
        fmax = "no timing" if self.fmax_mhz is None else f"Fmax {self.fmax_mhz:.1f} MHz"
        verdict = "meets" if self.timing_met else "FAILS"
        return f"{fmax}, {verdict} timing at {self.clk_mhz:g} MHz"

    def to_dict(self) -> dict:
        return {
            "board": self.board, "device": self.device, "family": self.family,
            "config": self.config.to_dict(), "clk_mhz": self.clk_mhz, "baud": self.baud,
            "resources": {k: u.to_dict() for k, u in self.resources.items()},
            "clocks": [c.to_dict() for c in self.clocks],
            "fmax_mhz": None if self.fmax_mhz is None else round(self.fmax_mhz, 2),
            "timing_met": self.timing_met, "ok": self.ok,
            "weights": self.weights.to_dict(),
            "bitstream": self.bitstream, "build_dir": self.build_dir,
        }

    def format(self) -> str:
        lines = [f"{self.board} ({self.device}): {self.config.describe()}",
                 f"clock {self.clk_mhz:g} MHz, UART {self.baud} baud; weights in "
                 f"{self.weights.kind} ({self.weights.width} x {self.weights.depth})",
                 "", f"{'resource':<16}{'used':>8}{'available':>11}{'util':>7}"]
        for name, u in self.resources.items():
            lines.append(f"{name:<16}{u.used:>8}{u.available:>11}{100 * u.fraction:>6.0f}%")
        lines += ["", f"{'clock':<20}{'Fmax MHz':>10}{'target MHz':>12}  timing"]
        for c in self.clocks:
            lines.append(f"{c.name:<20}{c.fmax_mhz:>10.2f}{c.target_mhz:>12.2f}  "
                         f"{'PASS' if c.met else 'FAIL'}")
        lines += ["", f"{'OK' if self.ok else 'NOT OK'}: {self.summary()}"]
        if self.bitstream:
            lines.append(f"bitstream: {self.bitstream}")
        return "\n".join(lines)


def parse_build(build_dir: str | Path, *, board: Board, config: NetworkConfig, clk_freq: float,
                baud: int, placement: WeightPlacement, report_file: str,
                name: str = "top") -> BuildReport:
    """Read ``report_file`` and ``{name}.tim`` in ``build_dir`` into a :class:`BuildReport`."""
    build_dir = Path(build_dir)
    report = json.loads((build_dir / report_file).read_text())
    log_path = build_dir / f"{name}.tim"
    log = log_path.read_text() if log_path.exists() else ""
    util = {k: Usage(v["used"], v["available"]) for k, v in report["utilization"].items()}
    resources = {}
    for label, cell in RESOURCE_CELLS[board.family].items():
        if cell in util:
            resources[label] = util[cell]
        if label == "logic cells" and board.family == "ice40":
            ffs = parse_ice40_ffs(log)
            if ffs is not None:
                # An iCE40 logic cell holds one FF, so the cells are the FF budget too.
                resources["flip-flops"] = Usage(ffs, util[cell].available)
    clocks = tuple(ClockTiming(name, v["achieved"], v["constraint"])
                   for name, v in sorted(report.get("fmax", {}).items()))
    ext = {"ice40": "bin", "ecp5": "bit"}[board.family]
    bitstream = build_dir / f"{name}.{ext}"
    return BuildReport(
        board=board.name, device=board.device.name, family=board.family, config=config,
        clk_mhz=clk_freq / 1e6, baud=baud, resources=resources, clocks=clocks,
        weights=placement, bitstream=str(bitstream) if bitstream.exists() else None,
        build_dir=str(build_dir))
