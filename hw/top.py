"""Board top: puts the board-independent design on a board's clock, UART pins and LED.

:class:`BoardDesign` is what ``platform.build()`` elaborates. It

- makes the ``sync`` domain at ``board.sys_clk_freq``: straight from the oscillator when the two
  are equal, otherwise from the device PLL (iCE40 ``SB_PLL40_PAD``, ECP5 ``EHXPLLL``), held in
  reset until the PLL locks;
- instantiates :class:`~hopfield_fpga.gateware.board_top.BoardTop` (UART, framing, command
  engine, engines) for the configuration, clock and baud rate, and wires its ``rx``/``tx`` to
  the board's USB-UART pins through Amaranth io buffers;
- drives a status LED: short blinks about once a second (the clock runs), lit steadily while
  ``BoardTop.led`` says a frame is being handled or a run is going on.

The PLL parameter searches (:func:`ice40_pll`, :func:`ecp5_pll`) follow the limits used by
icepll and ecppll and return the achieved frequency, which is what the design is told.
"""

from __future__ import annotations

import dataclasses

from amaranth.hdl import ClockDomain, Elaboratable, Instance, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.gateware.board_top import BoardTop
from hopfield_fpga.gateware.uart import uart_timing
from .boards import Board

__all__ = ["PLLParams", "ice40_pll", "ecp5_pll", "BoardDesign"]

#: Largest relative error of a PLL output frequency we accept without complaint.
PLL_TOLERANCE = 0.01


@dataclasses.dataclass(frozen=True)
class PLLParams:
    """Divider settings of one PLL and the output frequency they achieve (Hz)."""
    f_in: float
    f_out: float
    params: dict


def _pick(f_in, f_out, candidates) -> PLLParams:
    best = min(candidates, key=lambda c: abs(c[0] - f_out), default=None)
    if best is None or abs(best[0] - f_out) > PLL_TOLERANCE * f_out:
        got = "nothing" if best is None else f"{best[0] / 1e6:.3f} MHz"
        raise ValueError(f"No PLL setting makes {f_out / 1e6:.3f} MHz from {f_in / 1e6:.3f} MHz "
                         f"within {PLL_TOLERANCE:.0%} (closest: {got})")
    return PLLParams(f_in, best[0], best[1])


def ice40_pll(f_in: float, f_out: float) -> PLLParams:
    """Settings of an iCE40 ``SB_PLL40_*`` in SIMPLE feedback mode (limits of icepll)."""
    def candidates():
        for divr in range(16):
            f_pfd = f_in / (divr + 1)
            if not 10e6 <= f_pfd <= 133e6:
                continue
            for divf in range(128):
                f_vco = f_pfd * (divf + 1)
                if not 533e6 <= f_vco <= 1066e6:
                    continue
                for divq in range(1, 7):
                    filter_range = next(i + 1 for i, lim in enumerate((17, 26, 44, 66, 101, 1e9))
                                        if f_pfd < lim * 1e6)
                    yield f_vco / 2 ** divq, {"DIVR": divr, "DIVF": divf, "DIVQ": divq,
                                              "FILTER_RANGE": filter_range}
    return _pick(f_in, f_out, candidates())


def ecp5_pll(f_in: float, f_out: float) -> PLLParams:
    """Settings of an ECP5 ``EHXPLLL`` with CLKOP feedback (limits of ecppll)."""
    def candidates():
        for clki_div in range(1, 129):
            f_pfd = f_in / clki_div
            if f_pfd < 3.125e6:
                break
            for clkfb_div in range(1, 81):
                out = f_pfd * clkfb_div
                if not 3.125e6 <= out <= 400e6:
                    continue
                # The output divider that puts the VCO nearest the middle of its range.
                divs = [d for d in range(1, 129) if 400e6 <= out * d <= 800e6]
                if divs:
                    op_div = min(divs, key=lambda d: abs(out * d - 600e6))
                    yield out, {"CLKI_DIV": clki_div, "CLKFB_DIV": clkfb_div, "CLKOP_DIV": op_div}
    return _pick(f_in, f_out, candidates())


class BoardDesign(Elaboratable):
    """The whole design for one board.

    Parameters
    ----------
    board:
        The :class:`~.boards.Board`.
    config:
        The network configuration built into the engines.
    baud:
        UART speed (defaults to the board's).
    core:
        The board-independent design to wrap (a component with ``rx`` In(1), ``tx`` Out(1) and
        ``led`` Out(1)); defaults to ``BoardTop(config, clk_freq, baud)``.
    """

    def __new__(cls, board: Board, config: NetworkConfig, *, baud: int | None = None,
                core=None):
        # Bad parameters are refused before the object exists: a design that was made and
        # never elaborated would draw Amaranth's UnusedElaboratable warning.
        cls._plan(board, config, baud)
        # src_loc_at=1: the warning of a design never elaborated names the caller's line (and
        # honours the caller's file's linter pragma), not this one
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, board: Board, config: NetworkConfig, *, baud: int | None = None,
                 core=None):
        self.board = board
        self.config = config
        self.baud, self.pll, clk_freq = self._plan(board, config, baud)
        #: The design clock in Hz (what the PLL achieves, rounded to an integer).
        self.clk_freq = clk_freq
        self._core = core

    @staticmethod
    def _plan(board: Board, config: NetworkConfig,
              baud: int | None) -> tuple[int, PLLParams | None, int]:
        """Check the parameters; return the baud rate, the PLL (None: the oscillator is the
        design clock) and the design clock in Hz."""
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        baud = board.baud if baud is None else baud
        f_in, f_out = board.osc_freq, board.sys_clk_freq
        pll = (None if f_in == f_out
               else {"ice40": ice40_pll, "ecp5": ecp5_pll}[board.family](f_in, f_out))
        clk_freq = round(f_in if pll is None else pll.f_out)
        uart_timing(clk_freq, baud)      # the UART's own check of the rate
        return baud, pll, clk_freq

    def make_core(self):
        if self._core is not None:
            return self._core
        return BoardTop(self.config, self.clk_freq, self.baud)

    def elaborate(self, platform):
        m = Module()
        if self.pll is not None:
            self._elaborate_pll(m, platform)
        # else: the platform creates "sync" from the oscillator with a reset synchronizer.

        m.submodules.core = core = self.make_core()

        # Only rx and tx are used; the other subsignals (rts, dtr on the ULX3S) stay unbuffered.
        uart_res = platform.lookup("uart", 0)
        uart = platform.request("uart", 0, dir={sub.name: "-" for sub in uart_res.ios})
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [core.rx.eq(rx_buf.i), tx_buf.o.eq(core.tx)]

        # A counter as wide as the clock frequency wraps about once a second at any clock.
        heartbeat = Signal(range(int(self.clk_freq)), name="heartbeat")
        m.d.sync += heartbeat.eq(heartbeat + 1)
        led = self._request_led(platform)
        m.submodules.led_buf = led_buf = io.Buffer("o", led)
        # Short blinks: the clock runs; steady: BoardTop's link or engine is busy.
        m.d.comb += led_buf.o.eq((heartbeat[-1] & heartbeat[-3]) | core.led)
        return m

    def _request_led(self, platform):
        if any(r.name == "led" for r in platform.resources.values()):
            return platform.request("led", 0, dir="-")
        return platform.request("rgb_led", 0, dir={"r": "-", "g": "-", "b": "-"}).g

    def _elaborate_pll(self, m, platform):
        clk_port = platform.request(platform.default_clk, dir="-")
        m.domains.sync = cd_sync = ClockDomain("sync")
        clk, locked = cd_sync.clk, Signal()
        p = self.pll.params
        if self.board.family == "ice40":
            # The UP5K PLL takes the oscillator straight from its package pin (no buffer).
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE",
                p_DIVR=p["DIVR"], p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"],
                p_FILTER_RANGE=p["FILTER_RANGE"],
                i_PACKAGEPIN=clk_port.io,
                i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=clk,
                o_LOCK=locked)
        else:
            m.submodules.clk_buf = clk_buf = io.Buffer("i", clk_port)
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=f"{self.pll.f_in / 1e6:g}",
                a_FREQUENCY_PIN_CLKOP=f"{self.pll.f_out / 1e6:g}",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8",
                a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
                p_CLKI_DIV=p["CLKI_DIV"], p_CLKFB_DIV=p["CLKFB_DIV"],
                p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p["CLKOP_DIV"],
                p_CLKOP_CPHASE=(p["CLKOP_DIV"] - 1) // 2, p_CLKOP_FPHASE=0,
                p_FEEDBK_PATH="CLKOP",
                i_CLKI=clk_buf.i, o_CLKOP=clk, i_CLKFB=clk,
                i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1,
                i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
                o_LOCK=locked)
        platform.add_clock_constraint(clk, self.pll.f_out)
        m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")
