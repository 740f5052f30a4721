"""The supported dev boards: platform, clocks, UART, device budget and default configuration.

Each :class:`Board` names an amaranth-boards platform, the system clock the board top runs at
(made by a PLL from the board oscillator when the two differ), its USB-UART bridge (the UART
speed is the fastest rate the bridge makes that the UART serves at that clock,
``baud.fastest_baud``), the resources of
its FPGA (:class:`Device`, used by the pre-synthesis fit check in :mod:`.fit`) and the
:class:`~hopfield_fpga.config.NetworkConfig` built when ``hopfield build`` is given no sizes,
and the one built with ``--graded``: a configuration with the graded engine that fits.

The configurations come from measured builds (``docs/boards.md``, ``docs/graded.md``): change
one only together with those pages.
"""

from __future__ import annotations

import dataclasses

from amaranth_boards.ecpix5 import ECPIX585Platform
from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.ulx3s import ULX3S_25F_Platform, ULX3S_85F_Platform

from hopfield_fpga.baud import FT231X, FT2232H, Bridge, fastest_baud
from hopfield_fpga.config import MAX_BETA_DEPTH, Feature, NetworkConfig, Order

__all__ = ["Device", "Board", "BOARDS", "get_board"]


@dataclasses.dataclass(frozen=True)
class BlockRAM:
    """One kind of RAM block: its size, the (width, depth) shapes it can be used in and the
    width of its write enables (``enable_bits``: one enable per that many bits of a word in
    its wide shapes; a narrower shape's word has one)."""
    name: str           # the nextpnr cell type, as it appears in the utilization report
    count: int
    shapes: tuple[tuple[int, int], ...]
    enable_bits: int = 1

    @property
    def bits(self) -> int:
        return max(w * d for w, d in self.shapes)

    def blocks_for(self, width: int, depth: int, granularity: int | None = None) -> int:
        """Blocks a ``width`` x ``depth`` memory takes in the cheapest shape (tiling both ways).

        ``granularity``: the memory is written that many bits at a time (a divisor of
        ``width``), each field with its own write enable; a field then takes whole enables of
        the block (a 12-bit field takes 18 bits of a DP16KD with 9-bit byte enables), which is
        how yosys maps it."""
        if granularity is None:
            granularity = width
        if granularity < 1 or width % granularity:
            raise ValueError(f"the write granularity must divide the width {width}, "
                             f"not {granularity!r}")

        def field_bits(w):
            unit = min(w, self.enable_bits)
            return -(-granularity // unit) * unit
        return min(-(-(width // granularity * field_bits(w)) // w) * -(-depth // d)
                   for w, d in self.shapes)


@dataclasses.dataclass(frozen=True)
class Device:
    """Resources of one FPGA, as nextpnr counts them (used only by the pre-synthesis check)."""
    name: str
    family: str             # "ice40" or "ecp5": selects the toolchain
    logic_cells: int        # iCE40 logic cells (LUT4 + FF) or ECP5 LUT4s
    bram: BlockRAM
    dsp: int
    spram: BlockRAM | None = None   # iCE40 UltraPlus single-port RAM (256 kbit each)


ICE40_UP5K = Device(
    name="iCE40UP5K", family="ice40", logic_cells=5280, dsp=8,
    # SB_RAM40_4K masks single bits; SB_SPRAM256KA writes nibbles (MASKWREN).
    bram=BlockRAM("ICESTORM_RAM", 30, ((16, 256), (8, 512), (4, 1024), (2, 2048))),
    spram=BlockRAM("ICESTORM_SPRAM", 4, ((16, 16384),), enable_bits=4),
)

# DP16KD in true dual-port shapes; 36 x 512 is the pseudo dual-port (one write, one read) shape.
# Its byte enables cover 9 bits each in the 18- and 36-bit shapes.
_DP16KD_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
_DP16KD_ENABLE_BITS = 9

ECP5_85F = Device(
    name="LFE5U-85F", family="ecp5", logic_cells=83640, dsp=156,
    bram=BlockRAM("DP16KD", 208, _DP16KD_SHAPES, _DP16KD_ENABLE_BITS),
)

ECP5_25F = Device(
    name="LFE5U-25F", family="ecp5", logic_cells=24288, dsp=28,
    bram=BlockRAM("DP16KD", 56, _DP16KD_SHAPES, _DP16KD_ENABLE_BITS),
)


@dataclasses.dataclass(frozen=True)
class Board:
    """A supported board.

    ``sys_clk_freq`` is the frequency of the ``sync`` domain the design runs in; when it differs
    from the oscillator (``platform_cls.default_clk``) the top makes it with the device PLL.
    ``clock_basis`` says what that clock rests on (the measured Fmax of the default's build,
    less a margin), for every place that prints FPGA times at it.
    ``weight_memory`` says where the weight matrix lives ("spram" or "bram"); the flow forces
    it there. ``graded_config`` is the measured configuration with the graded engine.
    """
    name: str
    title: str
    platform_cls: type
    device: Device
    sys_clk_freq: float
    clock_basis: str
    default_config: NetworkConfig
    graded_config: NetworkConfig
    weight_memory: str = "bram"
    #: The USB-UART bridge between the host and the FPGA's UART pins.
    bridge: Bridge = FT2232H
    #: (environment variable, default command, how to install it) of the programmer that the
    #: platform's ``toolchain_program`` runs.
    programmer: tuple[str, str, str] = ("OPENFPGALOADER", "openFPGALoader",
                                        "apt install openfpgaloader")
    #: Empty when a build of ``default_config`` has finished routing (``clock_basis`` then
    #: names its Fmax); else why it has not, and what routes instead: ``hopfield build``
    #: prints it before a build of that default.
    unrouted: str = ""

    @property
    def baud(self) -> int:
        """The UART speed of the board top unless ``--baud`` says otherwise: the fastest rate
        of the bridge that the UART serves at the design clock."""
        return fastest_baud(round(self.sys_clk_freq), self.bridge)

    @property
    def family(self) -> str:
        return self.device.family

    @property
    def osc_freq(self) -> float:
        """Frequency of the board oscillator (the platform's default clock)."""
        return self.platform().default_clk_frequency

    def platform(self):
        return self.platform_cls()

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "device": self.device.name,
            "family": self.family,
            "osc_mhz": self.osc_freq / 1e6,
            "sys_clk_mhz": self.sys_clk_freq / 1e6,
            "clock_basis": self.clock_basis,
            "unrouted": self.unrouted,
            "baud": self.baud,
            "bridge": self.bridge.name,
            "weight_memory": self.weight_memory,
            "default_config": self.default_config.to_dict(),
            "graded_config": self.graded_config.to_dict(),
        }


_ALL_BINARY = Feature.STOCHASTIC | Feature.HEBBIAN | Feature.TRACE
#: Both engines: the ECP5 boards hold the graded engine beside the binary one.
_BOTH = _ALL_BINARY | Feature.GRADED
#: The beta schedule of the ECP5 boards' defaults: 1024 x 16 bits, one DP16KD, so that an
#: anneal of up to 1024 sweeps is one run (the iCE40 keeps config.BETA_SCHEDULE_DEPTH).
_ECP5_BETAS = MAX_BETA_DEPTH
#: The column engine on the 85F device (docs/boards.md, "The column engine on the boards"):
#: every order the column engine has, clamping and the quantized store of P_MAX = 0.1 N
#: patterns, at the N whose routed build has room on the device.
_COLUMN_85F = NetworkConfig(neurons=256, weight_bits=3, lanes=6, features=_ALL_BINARY,
                            orders=tuple(Order), engine="column", store_patterns=26,
                            beta_depth=_ECP5_BETAS)

#: The column engine at N = 1024 on the ULX3S's 85F (docs/boards.md, "The ULX3S 85F's
#: default"): its pack needs three levers, no on-chip Hebbian store (Board.store raises
#: ConfigMismatch: the host computes the weights and loads them), no random order and
#: symmetric weights only (Feature.SYMMETRIC: no column sum, about 9 LUT4s a neuron;
#: Board.load_weights refuses asymmetric W); the rest as on the lanes engine it replaces
#: (3-bit weights, a 6-lane access word, the stochastic rule and the trace).
_COLUMN_1024 = NetworkConfig(neurons=1024, weight_bits=3, lanes=6,
                             features=Feature.STOCHASTIC | Feature.TRACE | Feature.SYMMETRIC,
                             orders=(Order.SEQUENTIAL, Order.REJECTION_FREE, Order.SYNCHRONOUS),
                             engine="column", beta_depth=_ECP5_BETAS)
#: The ULX3S-85F's system clock, made by the PLL from its 25 MHz oscillator. Chosen from
#: nextpnr's estimate after placing _COLUMN_1024 (2026-12-02: 25.8 MHz asked for 40, 26.8 asked
#: for 20; 91-92% of the TRELLIS_COMB) less the margin the other boards keep (the 25F: 40
#: against 49.9 MHz), the ECPIX-5's rule before its routed build. The current design's own
#: placement (2026-12-03, the wider selector stages) estimates 22.35 MHz and passes at 20, a
#: thinner margin. Its routing has not finished on the development machine (docs/boards.md):
#: the clock is set again from the routed Fmax.
ULX3S_85F_CLOCK = 20e6

BOARDS: dict[str, Board] = {b.name: b for b in [
    Board(
        name="icebreaker",
        title="1BitSquared iCEBreaker (iCE40 UP5K)",
        platform_cls=ICEBreakerPlatform,
        device=ICE40_UP5K,
        sys_clk_freq=12e6,
        clock_basis="the oscillator; its default routed at 17.5 MHz",
        # K = 2 from measured builds (docs/boards.md): K = 4 needs ~5610 of the 5280 logic
        # cells, K = 2 leaves a margin; the weights (16-bit words) fill two SPRAMs in depth.
        default_config=NetworkConfig(neurons=256, weight_bits=8, lanes=2, features=_ALL_BINARY),
        # The graded engine alone (no binary engine, no trace), narrow: 98% of the logic cells
        # (docs/graded.md). Its weights go to block RAM (8 of the 30 blocks).
        graded_config=NetworkConfig(neurons=64, weight_bits=4, bias_bits=8, lanes=1, orders=(),
                                    features=Feature.GRADED),
        weight_memory="spram",
        bridge=FT2232H,
        programmer=("ICEPROG", "iceprog", "apt install fpga-icestorm"),
    ),
    Board(
        name="ulx3s-85f",
        title="Radiona ULX3S with LFE5U-85F (ECP5)",
        platform_cls=ULX3S_85F_Platform,
        device=ECP5_85F,
        # The column engine at N = 1024 (_COLUMN_1024) from the PLL at ULX3S_85F_CLOCK.
        sys_clk_freq=ULX3S_85F_CLOCK,
        clock_basis="its default's placement estimates, 22.4-26.8 MHz, less a margin; "
                    "not yet routed",
        default_config=_COLUMN_1024,
        # Both engines keep a copy of the weights: N = 256 at 8 bits (docs/graded.md).
        graded_config=NetworkConfig(neurons=256, weight_bits=8, lanes=8, features=_BOTH),
        bridge=FT231X,
        unrouted="nextpnr's router stalls on it with wires overused (docs/boards.md, \"The "
                 "ULX3S 85F's default\"), so its build may run for hours and end without a "
                 "bitstream. The lanes engine at N = 1024 routed at 25 MHz: hopfield build "
                 "--board ulx3s-85f --engine lanes --features stochastic,hebbian,trace "
                 "--orders sequential,random,rejection_free --clock-mhz 25",
    ),
    Board(
        # The smallest ECP5 board here: its default builds in minutes, so CI synthesizes it.
        name="ulx3s-25f",
        title="Radiona ULX3S with LFE5U-25F (ECP5)",
        platform_cls=ULX3S_25F_Platform,
        device=ECP5_25F,
        # Measured: Fmax 49.9 MHz at N=256 and 41.0 MHz at the largest N, 320 (docs/boards.md).
        sys_clk_freq=40e6,
        clock_basis="its default routed at 49.4 MHz, less a margin",
        default_config=NetworkConfig(neurons=256, weight_bits=8, lanes=4, features=_ALL_BINARY,
                                     beta_depth=_ECP5_BETAS),
        graded_config=NetworkConfig(neurons=128, weight_bits=8, lanes=4, features=_BOTH),
        bridge=FT231X,
    ),
    Board(
        name="ecpix5-85f",
        title="LambdaConcept ECPIX-5 with LFE5UM5G-85F (ECP5)",
        platform_cls=ECPIX585Platform,
        device=ECP5_85F,
        # The column engine's board (docs/boards.md): its own builds of _COLUMN_85F routed at
        # 54.2 and (the current design) 57.1 MHz (speed grade 8, 2026-12-01). 40 MHz keeps a
        # 26-30% margin (the 25F's rule: 40 against 49.9) and gives the FT2232H's 6 Mbaud at
        # 6 2/3 cycles a bit.
        # The ULX3S 85F runs N = 1024 on the column engine without the on-chip Hebbian store.
        sys_clk_freq=40e6,
        clock_basis="its default routed at 58.7 MHz, less a margin",
        default_config=_COLUMN_85F,
        graded_config=NetworkConfig(neurons=256, weight_bits=8, lanes=8, features=_BOTH),
        bridge=FT2232H,
    ),
]}


def get_board(name: str) -> Board:
    """Return the board called ``name``; the error lists the known boards."""
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"Unknown board {name!r}; known boards: {', '.join(BOARDS)}") from None
