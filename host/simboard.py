"""The simulated board: ``BoardTop`` running in Amaranth's simulator behind a serial port object.

:class:`SimulatedBoard` holds one simulation of :class:`~hopfield_fpga.gateware.board_top.BoardTop`
and moves bytes in and out of it; :class:`SimSerial` is the pyserial port class of the ``sim://``
URL (``host/protocol_sim.py``), so the driver (``host/board.py``) runs the very code path it runs
on a real port, and the gateware answers every byte.

Two ways of connecting the bytes (``uart=`` in the URL):

- ``bytes`` (default): the UART is left out and bytes go straight into the COBS decoder, one per
  clock cycle, and come out of the encoder the same way; everything from the framing inward is
  the real gateware.
- ``bits``: the whole top, UART included; the host side drives the ``rx`` pin bit by bit and
  decodes the ``tx`` pin (8N1) at the configured clock and baud, with bit edges where a host
  with its own clock puts them (``baud.line_runs``, ``baud.sample_points``: the UART's
  fractional bit timing meets a far end that rounds to whole cycles). Slower (``clk/baud``
  cycles per bit).

The simulation only advances while there is work: bytes to deliver, the command engine busy, or
reply bytes coming out. A read on a quiet board returns at once (nothing more can arrive), so a
host timeout costs no wall time. A board holding the start of a frame that the host never ended
waits for the host, as a real board does: the board top's ``active`` leaves it out, so the board
counts as quiet once nothing else goes on. A read returns at the port's timeout at the latest.

URL query parameters (:func:`parse_sim_url`): ``neurons``, ``weight_bits``, ``bias_bits``,
``lanes``, ``orders`` (comma list; ``none``: no binary engine), ``features`` (comma list),
``clk`` (Hz, default 12 MHz),
``baud`` (default: the fastest rate an FT2232H makes that the UART serves at ``clk``,
``baud.fastest_baud``, as on the boards: 3 Mbaud at 12 MHz), ``uart`` (``bytes`` or ``bits``). Example: ``sim://?neurons=256&weight_bits=8&lanes=8``; with the graded engine
(Feature.GRADED) beside the binary one: ``...&features=stochastic,hebbian,trace,graded``;
graded only: ``...&orders=none&features=trace,graded``.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import select
import signal
import subprocess
import tempfile
import threading
import time
import warnings
from importlib import resources
from pathlib import Path

import serial
from amaranth.sim import Simulator

import hopfield_fpga
from hopfield_fpga.baud import line_runs, sample_points
from hopfield_fpga.cache import cache_dir, locked
from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.gateware.board_top import BoardTop
from .urls import (BACKENDS, DEFAULT_BAUD, DEFAULT_CLK, DEFAULT_SIM_URL,  # noqa: F401
                   default_sim_url, parse_sim_url)

__all__ = ["SimulatedBoard", "RtlBoard", "SimSerial", "parse_sim_url", "default_sim_url",
           "DEFAULT_SIM_URL", "DEFAULT_CLK", "BACKENDS"]

#: Cycles with nothing going on after which the simulation pauses.
_QUIET_CYCLES = 8
#: Bytes the Icarus / Verilator harness takes in one batch (its FIFO depth).
HARNESS_FIFO = 16384
#: Cycles the harness simulates at most before it reports back (a read can then stop a run).
HARNESS_SLICE = 4096
#: Simulation steps between two looks at the wall clock (a read honours the port's timeout).
_CLOCK_CHECK = 256

#: The Verilog harness around the board top (package data of hopfield_fpga.sim.tb).
_HARNESS = resources.files("hopfield_fpga.sim.tb") / "simboard_harness.v"


class _Flag(list):
    """Truthy once a Ctrl-C arrived."""


@contextlib.contextmanager
def _ctrl_c_between_steps():
    """Hold a Ctrl-C (SIGINT) until the simulator is between two steps: a KeyboardInterrupt
    raised inside ``Simulator.advance`` would leave the simulation broken. The interrupt is
    raised on leaving the block (main thread with Python's default handler only)."""
    flag = _Flag()
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield flag
        return
    previous = signal.signal(signal.SIGINT, lambda *_: flag.append(True))
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
    if flag:
        raise KeyboardInterrupt


class SimulatedBoard:
    """One simulated board. :meth:`write` queues bytes; :meth:`read` runs the simulation until
    ``size`` bytes came out or the board went quiet."""

    def __init__(self, config: NetworkConfig, *, clk: int = DEFAULT_CLK,
                 baud: int = DEFAULT_BAUD, uart: str = "bytes"):
        self.config = config
        self.uart = uart
        self.top = BoardTop(config, clk, baud, uart=(uart == "bits"))
        #: Cycles a bit on the line (fractional).
        self.cycles_per_bit = clk / baud
        self.sim = Simulator(self.top)
        self.sim.add_clock(1 / clk)
        self.inbox = collections.deque()
        self.outbox = bytearray()
        self.cycles = 0
        self._quiet = 0
        self.sim.add_testbench(self._bytes_bench if uart == "bytes" else self._bits_bench)

    # -- testbenches (run forever; the driver advances the simulation only when needed) ------

    async def _bytes_bench(self, ctx):
        top = self.top
        ctx.set(top.tx_bytes.ready, 1)
        while True:
            if self.inbox:
                ctx.set(top.rx_bytes.payload, self.inbox[0])
                ctx.set(top.rx_bytes.valid, 1)
            else:
                ctx.set(top.rx_bytes.valid, 0)
            _, _, rx_ready, rx_valid, tx_valid, tx_data, active = await ctx.tick().sample(
                top.rx_bytes.ready, top.rx_bytes.valid, top.tx_bytes.valid,
                top.tx_bytes.payload, top.active)
            self.cycles += 1
            if rx_valid and rx_ready:
                self.inbox.popleft()
            if tx_valid:
                self.outbox.append(tx_data)
            self._quiet = 0 if (self.inbox or active or tx_valid) else self._quiet + 1

    async def _bits_bench(self, ctx):
        top = self.top
        samples = sample_points(self.cycles_per_bit)   # the host's looks at bits 1 .. 9
        rx_runs = collections.deque()   # (level, cycles) runs still to drive
        rx_left = 0
        tx_at = None                    # cycles since the start bit's edge (None: idle)
        tx_bits, tx_line_prev = [], 1
        ctx.set(top.rx, 1)
        while True:
            if rx_left == 0:
                if not rx_runs and self.inbox:
                    rx_runs.extend(line_runs([self.inbox.popleft()], self.cycles_per_bit))
                if rx_runs:
                    level, rx_left = rx_runs.popleft()
                    ctx.set(top.rx, level)
            if rx_left:
                rx_left -= 1
            _, _, line, active = await ctx.tick().sample(top.tx, top.active)
            self.cycles += 1
            if tx_at is None:
                if tx_line_prev and not line:
                    tx_at, tx_bits = 0, []
            else:
                tx_at += 1
                if tx_at in samples:
                    tx_bits.append(line)
                    if len(tx_bits) == len(samples):
                        if line:   # stop bit
                            self.outbox.append(sum(b << i for i, b in enumerate(tx_bits[:8])))
                        tx_at = None
            tx_line_prev = line
            busy = self.inbox or rx_runs or rx_left or active or tx_at is not None
            self._quiet = 0 if busy else self._quiet + 1

    # -- host side ------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if data:
            self.inbox.extend(data)
            self._quiet = 0

    @property
    def quiet(self) -> bool:
        """Nothing to deliver, nothing going on, no reply bytes waiting: nothing will come."""
        limit = _QUIET_CYCLES if self.uart == "bytes" else 3 * round(self.cycles_per_bit)
        return not self.inbox and not self.outbox and self._quiet > limit

    def read(self, size: int, timeout: float | None = None) -> bytes:
        """Up to ``size`` bytes: simulate until they came out, the board went quiet, or
        ``timeout`` seconds (None: no limit) passed."""
        sim = self.sim
        limit = _QUIET_CYCLES if self.uart == "bytes" else 3 * round(self.cycles_per_bit)
        end = None if timeout is None else time.monotonic() + timeout
        steps = 0
        with _ctrl_c_between_steps() as interrupted:
            while len(self.outbox) < size and not interrupted:
                if self._quiet > limit and not self.inbox:
                    break
                sim.advance()
                steps += 1
                if end is not None and steps % _CLOCK_CHECK == 0 and time.monotonic() >= end:
                    break
        out = bytes(self.outbox[:size])
        del self.outbox[:size]
        return out

    @property
    def in_waiting(self) -> int:
        return len(self.outbox)


def _source_files() -> list[tuple[str, resources.abc.Traversable]]:
    """Everything the board's Verilog is made from, read through importlib.resources so that it
    works from a checkout and from a wheel: (name, file) pairs in a fixed order."""
    gateware = resources.files("hopfield_fpga.gateware")
    shared = resources.files("hopfield_fpga")
    def sources(folder, prefix=""):
        # the subpackages too (gateware/engine/: the column engine)
        for f in sorted(folder.iterdir(), key=lambda f: f.name):
            if f.is_dir() and f.name != "__pycache__":
                yield from sources(f, f"{prefix}{f.name}/")
            elif f.name.endswith(".py"):
                yield prefix + f.name, f
    files = list(sources(gateware))
    files += [(n, shared / n) for n in ("protocol.py", "config.py", "numerics.py")]
    files.append((_HARNESS.name, _HARNESS))
    return files


def _source_digest() -> str:
    """Hash of the board's sources (:func:`_source_files`), the key of a compiled simulation."""
    h = hashlib.sha1()
    for name, f in _source_files():
        h.update(name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _sources_changed_since_import() -> list[str]:
    """The board's sources modified after this process imported the package.

    The digest reads the files as they are now, but the Verilog comes from the modules as they
    were imported: after an edit, a compiled simulation cached under the new digest would hold
    the old design (and every later process would run it). Files that are not on a file system
    (a zipped package) cannot be edited under a running process and are left out.
    """
    since = hopfield_fpga.IMPORT_TIME
    changed = []
    for name, f in _source_files():
        if isinstance(f, Path) and f.stat().st_mtime >= since:
            changed.append(name)
    return changed


class RtlBoard:
    """The board top compiled by Icarus Verilog or Verilator, behind a pipe.

    The harness (``sim/tb/simboard_harness.v``) reads a batch of at most :data:`HARNESS_FIFO`
    bytes, simulates until the board is quiet or :data:`HARNESS_SLICE` cycles passed and prints
    what came out; longer writes go in several batches, and a read simulates slice after slice
    until it has its bytes, the board is quiet or the port's timeout passed (so a STOP can be
    sent while a run goes on). The compiled simulation is cached in the user cache
    (``hopfield_fpga.cache``, ``simboard/``) keyed by the configuration and a hash of the
    gateware sources, so only the first use of a configuration pays for the Verilog and the
    compile (locked, so that two processes never build the same one at once).
    """

    def __init__(self, config: NetworkConfig, *, clk: int, baud: int, simulator: str):
        from hopfield_fpga.sim import rtl_runner
        if not rtl_runner.simulator_available(simulator):
            raise RuntimeError(f"simulator {simulator!r} not found (sim:// backend=...)")
        self.config = config
        self.uart = "bytes"
        self._scratch = None    # the uncached build's directory, removed on close
        # the whole configuration's wire form: the engine and store_patterns build other boards
        key = f"{config.encode().hex()}c{clk}r{baud}-{_source_digest()}"
        # after the digest: an edit while it was read is seen here
        changed = _sources_changed_since_import()
        if changed:
            warnings.warn(f"the gateware sources changed after this process imported them "
                          f"({', '.join(changed[:3])}{', ...' if len(changed) > 3 else ''}): "
                          f"the simulated board is built from the modules as imported and not "
                          f"cached", stacklevel=2)
            self._scratch = tempfile.TemporaryDirectory(prefix="hopfield-simboard-")
            build = Path(self._scratch.name)
            exe = build / ("simboard.vvp" if simulator == "icarus" else "simboard")
            self._build(config, clk, baud, simulator, build, exe)
        else:
            build = cache_dir("simboard", key, simulator)
            exe = build / ("simboard.vvp" if simulator == "icarus" else "simboard")
            with locked(build):
                if not exe.exists():
                    self._build(config, clk, baud, simulator, build, exe)
        cmd = ["vvp", "-n", str(exe)] if simulator == "icarus" else [str(exe)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     bufsize=0, cwd=build)
        self._out = bytearray()     # harness output not yet split into lines
        self._in_slice = False      # a batch was sent and its slice has not ended
        self.pending = bytearray()
        self.outbox = bytearray()
        self.cycles = 0
        self.inbox = ()     # the pysim board's queue; here input waits in ``pending``
        self._paused = False    # the last slice ended with the board still working

    @staticmethod
    def _build(config, clk, baud, simulator, build, exe):
        from amaranth.back import verilog

        from hopfield_fpga.sim import rtl_runner
        build.mkdir(parents=True, exist_ok=True)
        top = build / "board_top.v"
        top.write_text(verilog.convert(BoardTop(config, clk, baud, uart=False),
                                       name="board_top", emit_src=False))
        # a copy in the build directory: the package may be a zip file, and the compilers want
        # a path
        harness = build / _HARNESS.name
        harness.write_bytes(_HARNESS.read_bytes())
        if simulator == "icarus":
            cmd = ["iverilog", "-g2005", "-o", str(exe), str(top), str(harness)]
        else:
            rtl_runner.simulator_env()
            cmd = ["verilator", "--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style",
                   "--top-module", "simboard_harness", "-Mdir", str(build / "obj"),
                   "-o", str(exe), "-CFLAGS", "-std=c++20 -fcoroutines",
                   "-MAKEFLAGS", "OPT_FAST=-O1 OPT_SLOW=-O0 OPT_GLOBAL=-O1",
                   "-j", "2", str(top), str(harness)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=build)
        if done.returncode != 0 or not exe.exists():
            raise RuntimeError(f"building the simulated board failed ({' '.join(cmd)}):\n"
                               f"{done.stdout[-2000:]}{done.stderr[-2000:]}")

    def write(self, data: bytes) -> None:
        if data:
            self.pending += data

    def _transact(self, deadline: float | None) -> None:
        """Send one batch (the next HARNESS_FIFO pending bytes, maybe none): one slice."""
        data = bytes(self.pending[:HARNESS_FIFO])
        del self.pending[:HARNESS_FIFO]
        line = f"{len(data)} " + " ".join(f"{b:02x}" for b in data) + "\n"
        try:
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise RuntimeError(f"the simulated board exited (code {self.proc.poll()})") from None
        self._in_slice = True
        self._pump(deadline)

    def _pump(self, deadline: float | None) -> None:
        """Take the harness's output until the slice ends or ``deadline`` passes."""
        fd = self.proc.stdout.fileno()
        while self._in_slice:
            while b"\n" in self._out:
                line, _, rest = bytes(self._out).partition(b"\n")
                self._out = bytearray(rest)
                text = line.decode()
                if text[:1] in ("Q", "P"):
                    self.cycles = int(text.split()[1])
                    self._paused = text[0] == "P"
                    self._in_slice = False
                    return
                if text.startswith("E"):
                    raise RuntimeError(f"simulated board: {text[1:].strip()}")
                self.outbox.append(int(text, 16))
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                return
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"the simulated board exited (code {self.proc.wait()})")
            self._out += chunk

    def read(self, size: int, timeout: float | None = None) -> bytes:
        """Up to ``size`` bytes: simulate until they came out, the board went quiet, or
        ``timeout`` seconds (None: no limit) passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(self.outbox) < size and (self.pending or self._paused or self._in_slice):
            if self._in_slice:
                self._pump(deadline)
            else:
                self._transact(deadline)
            if deadline is not None and time.monotonic() >= deadline:
                break
        out = bytes(self.outbox[:size])
        del self.outbox[:size]
        return out

    @property
    def quiet(self) -> bool:
        return not (self.pending or self.outbox or self._paused or self._in_slice)

    @property
    def in_waiting(self) -> int:
        return len(self.outbox)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None


class SimSerial(serial.SerialBase):
    """pyserial port class for ``sim://`` URLs (see the module docstring)."""

    def open(self):
        if self._port is None:
            raise serial.SerialException("Port must be configured before it can be used.")
        if self.is_open:
            raise serial.SerialException("Port is already open.")
        try:
            opts = parse_sim_url(self._port)
        except ValueError as exc:
            raise serial.SerialException(str(exc)) from None
        if opts["backend"] == "amaranth":
            self.board = SimulatedBoard(opts["config"], clk=opts["clk"], baud=opts["baud"],
                                        uart=opts["uart"])
        else:
            try:
                self.board = RtlBoard(opts["config"], clk=opts["clk"], baud=opts["baud"],
                                      simulator=opts["backend"])
            except RuntimeError as exc:
                raise serial.SerialException(str(exc)) from None
        self.is_open = True

    def from_url(self, url):   # pyserial API: the URL is parsed in open()
        return url

    def _reconfigure_port(self, *args, **kwargs):
        pass

    def close(self):
        if self.is_open and hasattr(self.board, "close"):
            self.board.close()
        self.is_open = False

    @property
    def in_waiting(self):
        return self.board.in_waiting

    @property
    def quiet(self) -> bool:
        """Nothing more will come until the host writes again."""
        return self.board.quiet

    @property
    def cycles(self) -> int:
        """Clock cycles simulated so far."""
        return self.board.cycles

    def read(self, size=1):
        if not self.is_open:
            raise serial.PortNotOpenError()
        return self.board.read(size, self.timeout)

    def write(self, data):
        if not self.is_open:
            raise serial.PortNotOpenError()
        data = bytes(data)
        self.board.write(data)
        return len(data)

    def reset_input_buffer(self):
        self.board.read(0)
        self.board.outbox.clear()

    def reset_output_buffer(self):
        pass

    def flush(self):
        pass
