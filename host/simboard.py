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
  decodes the ``tx`` pin (8N1) at the configured clock and baud. Slow (``clk/baud`` cycles per
  bit): meant for tests with a small clock-to-baud ratio.

The simulation only advances while there is work: bytes to deliver, the command engine busy, or
reply bytes coming out. A read on a quiet board returns at once (nothing more can arrive), so a
host timeout costs no wall time.

URL query parameters (:func:`parse_sim_url`): ``neurons``, ``weight_bits``, ``bias_bits``,
``lanes``, ``orders`` (comma list; ``none``: no binary engine), ``features`` (comma list),
``clk`` (Hz, default 12 MHz),
``baud`` (default 115200 in ``bytes`` mode, clk/8 in ``bits`` mode), ``uart`` (``bytes`` or
``bits``). Example: ``sim://?neurons=256&weight_bits=8&lanes=8``; with the graded engine
(Feature.GRADED) beside the binary one: ``...&features=stochastic,hebbian,trace,graded``;
graded only: ``...&orders=none&features=trace,graded``.
"""

from __future__ import annotations

import collections
import hashlib
import subprocess
import urllib.parse
from importlib import resources

import serial
from amaranth.sim import Simulator

from hopfield_fpga.cache import cache_dir, locked
from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.gateware.board_top import BoardTop

__all__ = ["SimulatedBoard", "RtlBoard", "SimSerial", "parse_sim_url", "default_sim_url",
           "DEFAULT_SIM_URL", "DEFAULT_CLK", "BACKENDS"]

DEFAULT_CLK = 12_000_000
#: Simulators behind sim://: Amaranth's (in process), or the emitted Verilog compiled by
#: Icarus Verilog or Verilator (``RtlBoard``).
BACKENDS = ("amaranth", "icarus", "verilator")
DEFAULT_BACKEND = "amaranth"
DEFAULT_SIM_URL = "sim://?neurons=256&weight_bits=8&lanes=8"
#: Cycles with nothing going on after which the simulation pauses.
_QUIET_CYCLES = 8

#: The Verilog harness around the board top (package data of hopfield_fpga.sim.tb).
_HARNESS = resources.files("hopfield_fpga.sim.tb") / "simboard_harness.v"

_CONFIG_KEYS = {"neurons": int, "weight_bits": int, "bias_bits": int, "lanes": int}


def default_sim_url() -> str:
    """The default board of the CLI and the demo: N = 256, 8-bit weights, 8 lanes, compiled by
    Icarus Verilog when it is installed (about 15k cycles/s here, against about 2k for
    Amaranth's simulator at this size), else in Amaranth's simulator."""
    import shutil
    backend = "icarus" if shutil.which("iverilog") else "amaranth"
    return f"{DEFAULT_SIM_URL}&backend={backend}"


def parse_sim_url(url: str) -> dict:
    """Split a ``sim://?key=value&...`` URL into ``config`` (NetworkConfig), ``clk``, ``baud``
    and ``uart``; unknown keys and bad values raise ValueError naming them."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "sim":
        raise ValueError(f"not a sim:// URL: {url!r}")
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    cfg = {}
    out = {"clk": DEFAULT_CLK, "baud": None, "uart": "bytes", "backend": DEFAULT_BACKEND}
    for key, values in query.items():
        value = values[-1]
        try:
            if key in _CONFIG_KEYS:
                cfg[key] = int(value)
            elif key in ("orders", "features"):
                cfg[key] = [v for v in value.split(",") if v and v != "none"]
            elif key in ("clk", "baud"):
                out[key] = int(float(value))
            elif key == "backend":
                if value not in BACKENDS:
                    raise ValueError(f"backend must be one of {BACKENDS}, not {value!r}")
                out["backend"] = value
            elif key == "uart":
                if value not in ("bytes", "bits"):
                    raise ValueError(f"uart must be 'bytes' or 'bits', not {value!r}")
                out["uart"] = value
            else:
                known = sorted([*_CONFIG_KEYS, "orders", "features", "clk", "baud", "uart",
                                "backend"])
                raise ValueError(f"unknown sim:// parameter {key!r}; known: {known}")
        except ValueError as exc:
            if "sim://" in str(exc) or "must be" in str(exc):
                raise
            raise ValueError(f"sim:// parameter {key}={value!r}: {exc}") from None
    if out["baud"] is None:
        out["baud"] = 115200 if out["uart"] == "bytes" else out["clk"] // 8
    out["config"] = NetworkConfig.from_dict(cfg) if cfg else NetworkConfig()
    if out["uart"] == "bits" and out["backend"] != "amaranth":
        raise ValueError("uart=bits needs backend=amaranth (the RTL back ends feed bytes)")
    return out


class SimulatedBoard:
    """One simulated board. :meth:`write` queues bytes; :meth:`read` runs the simulation until
    ``size`` bytes came out or the board went quiet."""

    def __init__(self, config: NetworkConfig, *, clk: int = DEFAULT_CLK, baud: int = 115200,
                 uart: str = "bytes"):
        self.config = config
        self.uart = uart
        self.top = BoardTop(config, clk, baud, uart=(uart == "bits"))
        self.divisor = self.top.divisor
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
        d = self.divisor
        rx_bits = collections.deque()   # line levels still to drive, one per bit period
        rx_timer = 0
        tx_state = None                 # None idle, else (countdown to sample, bits so far)
        tx_count, tx_byte, tx_line_prev = 0, 0, 1
        ctx.set(top.rx, 1)
        while True:
            if rx_timer == 0:
                if not rx_bits and self.inbox:
                    b = self.inbox.popleft()
                    rx_bits.extend([0] + [(b >> i) & 1 for i in range(8)] + [1])
                if rx_bits:
                    ctx.set(top.rx, rx_bits.popleft())
                    rx_timer = d
            if rx_timer:
                rx_timer -= 1
            _, _, line, active = await ctx.tick().sample(top.tx, top.active)
            self.cycles += 1
            if tx_state is None:
                if tx_line_prev and not line:
                    tx_state, tx_count, tx_byte = d + d // 2 - 1, 0, 0
            else:
                tx_state -= 1
                if tx_state == 0:
                    if tx_count < 8:
                        tx_byte |= line << tx_count
                        tx_count += 1
                        tx_state = d
                    else:
                        if line:   # stop bit
                            self.outbox.append(tx_byte)
                        tx_state = None
            tx_line_prev = line
            busy = self.inbox or rx_bits or rx_timer or active or tx_state is not None
            self._quiet = 0 if busy else self._quiet + 1

    # -- host side ------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self.inbox.extend(data)
        self._quiet = 0

    @property
    def quiet(self) -> bool:
        """Nothing to deliver, nothing going on, no reply bytes waiting: nothing will come."""
        limit = _QUIET_CYCLES if self.uart == "bytes" else 3 * self.divisor
        return not self.inbox and not self.outbox and self._quiet > limit

    def read(self, size: int) -> bytes:
        sim = self.sim
        limit = _QUIET_CYCLES if self.uart == "bytes" else 3 * self.divisor
        while len(self.outbox) < size:
            if self._quiet > limit and not self.inbox:
                break
            sim.advance()
        out = bytes(self.outbox[:size])
        del self.outbox[:size]
        return out

    @property
    def in_waiting(self) -> int:
        return len(self.outbox)


def _source_digest() -> str:
    """Hash of everything the board's Verilog is made from (to reuse a compiled simulation),
    read through importlib.resources so that it works from a checkout and from a wheel."""
    h = hashlib.sha1()
    gateware = resources.files("hopfield_fpga.gateware")
    shared = resources.files("hopfield_fpga")
    files = sorted((f for f in gateware.iterdir() if f.name.endswith(".py")),
                   key=lambda f: f.name)
    files += [shared / n for n in ("protocol.py", "config.py", "numerics.py")] + [_HARNESS]
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


class RtlBoard:
    """The board top compiled by Icarus Verilog or Verilator, behind a pipe.

    The harness (``sim/tb/simboard_harness.v``) reads a batch of bytes, simulates until the
    board is quiet and prints what came out; the compiled simulation is cached in the user
    cache (``hopfield_fpga.cache``, ``simboard/``) keyed by the configuration and a hash of the
    gateware sources, so only the first use of a configuration pays for the Verilog and the
    compile (locked, so that two processes never build the same one at once).
    """

    def __init__(self, config: NetworkConfig, *, clk: int, baud: int, simulator: str):
        from hopfield_fpga.sim import rtl_runner
        if not rtl_runner.simulator_available(simulator):
            raise RuntimeError(f"simulator {simulator!r} not found (sim:// backend=...)")
        self.config = config
        self.uart = "bytes"
        key = (f"n{config.neurons}w{config.weight_bits}b{config.bias_bits}k{config.lanes}"
               f"o{sum(1 << o for o in config.orders)}f{int(config.features)}"
               f"c{clk}r{baud}-{_source_digest()}")
        build = cache_dir("simboard", key, simulator)
        exe = build / ("simboard.vvp" if simulator == "icarus" else "simboard")
        with locked(build):
            if not exe.exists():
                self._build(config, clk, baud, simulator, build, exe)
        cmd = ["vvp", "-n", str(exe)] if simulator == "icarus" else [str(exe)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1, cwd=build)
        self.pending = bytearray()
        self.outbox = bytearray()
        self.cycles = 0
        self.inbox = ()     # the pysim board's queue; here input waits in ``pending``

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
        self.pending += data

    def _transact(self) -> None:
        data, self.pending = bytes(self.pending), bytearray()
        self.proc.stdin.write(f"{len(data)} " + " ".join(f"{b:02x}" for b in data) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith("Q"):
                self.cycles = int(line.split()[1])
                return
            if line.startswith("E"):
                raise RuntimeError(f"simulated board: {line[1:].strip()}")
            self.outbox.append(int(line, 16))
        raise RuntimeError(f"the simulated board exited (code {self.proc.wait()})")

    def read(self, size: int) -> bytes:
        if len(self.outbox) < size and self.pending:
            self._transact()
        out = bytes(self.outbox[:size])
        del self.outbox[:size]
        return out

    @property
    def quiet(self) -> bool:
        return not self.pending and not self.outbox

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
        return self.board.quiet

    def read(self, size=1):
        if not self.is_open:
            raise serial.PortNotOpenError()
        return self.board.read(size)

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
