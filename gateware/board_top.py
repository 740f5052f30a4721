"""The board-independent top: UART, COBS framing, receive queue, command engine and binary
engine (the design ``config.engine`` names: `BinaryEngine` or the column-parallel
`ColumnEngine`; and the graded engine beside it when the configuration has ``Feature.GRADED``;
the graded engine alone when it has no update orders). With ``config.replicas`` = 2 the binary
engine is `ColumnReplicas` (two chains on one weight store), which the command engine reaches
through a `ReplicaDispatch` (`SelectedReplica`).

``BoardTop(config, clk_freq, baud)`` has the pins ``rx`` (In), ``tx`` (Out) and ``led`` (Out:
lit while the board has work that needs nothing more from the host: a request served or
waiting whole in the receive queue, or a run going on). The board
tops in ``hw/`` wrap it. With ``uart=False`` the UART is left out and the raw byte streams are
ports instead (``rx_bytes`` In, ``tx_bytes`` Out): the simulated board feeds bytes that way,
one per cycle, which is the same byte sequence the UART would deliver, only faster.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect

from hopfield_fpga.config import Feature, NetworkConfig
from .binary_engine import BinaryEngine
from .engine.column_engine import ColumnEngine
from .engine.replicas import SelectedReplica
from .cobs import CobsDecoder, CobsEncoder
from .command_engine import CommandEngine
from .rx_queue import RxQueue
from .graded_engine import GradedEngine
from .uart import UartRx, UartTx, uart_timing

__all__ = ["BoardTop", "BINARY_ENGINES"]

#: The binary engine's class for each design of ``config.ENGINES``.
BINARY_ENGINES = {"lanes": BinaryEngine, "column": ColumnEngine}


class BoardTop(wiring.Component):
    """Members
    -------
    rx: In(1), tx: Out(1) (with ``uart=True``), or rx_bytes: In(stream of bytes), tx_bytes:
    Out(stream of bytes) (with ``uart=False``). led: Out(1). active: Out(1) (same as led).
    """

    def __init__(self, config: NetworkConfig, clk_freq: int, baud: int, *, uart: bool = True):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        self.timing = uart_timing(clk_freq, baud)   # refuses a rate the UART cannot serve
        self.config = config
        self.clk_freq = clk_freq
        self.baud = baud
        self.uart = uart
        members = {"led": Out(1), "active": Out(1)}
        if uart:
            members.update({"rx": In(1, init=1), "tx": Out(1, init=1)})
        else:
            members.update({"rx_bytes": In(stream.Signature(8)),
                            "tx_bytes": Out(stream.Signature(8))})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.decoder = dec = CobsDecoder()
        m.submodules.encoder = enc = CobsEncoder()
        m.submodules.rx_queue = queue = RxQueue()
        m.submodules.command = cmd = CommandEngine(self.config, self.clk_freq, self.baud)
        connect(m, dec.o, queue.i)
        connect(m, queue.o, cmd.rx)
        m.d.comb += cmd.stop_now.eq(queue.stop)
        connect(m, cmd.tx, enc.i)
        if self.config.replicas > 1:
            m.submodules.engine = eng = SelectedReplica(self.config)
            connect(m, cmd.engine, eng.engine)
            m.d.comb += [eng.select.eq(cmd.replica), cmd.replicas_busy.eq(eng.busy)]
        elif self.config.has_binary:
            m.submodules.engine = eng = BINARY_ENGINES[self.config.engine](self.config)
            connect(m, cmd.engine, eng)
        if self.config.has(Feature.GRADED):
            m.submodules.graded = graded = GradedEngine(self.config)
            connect(m, cmd.graded, graded)
        if self.uart:
            m.submodules.uart_rx = urx = UartRx(self.timing)
            m.submodules.uart_tx = utx = UartTx(self.timing)
            m.d.comb += urx.rx.eq(self.rx)
            connect(m, urx.stream, dec.i)
            connect(m, enc.o, utx.stream)
            m.d.comb += self.tx.eq(utx.tx)
        else:
            connect(m, wiring.flipped(self.rx_bytes), dec.i)
            connect(m, enc.o, wiring.flipped(self.tx_bytes))
        # work that needs nothing more from the host: bytes queued are work (the command engine
        # takes them at once unless it serves a request); a frame cut short, taken into the
        # command engine's buffer, waits for the host
        active = cmd.active | queue.o.valid
        m.d.comb += [self.led.eq(active), self.active.eq(active)]
        return m
