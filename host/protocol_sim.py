"""pyserial URL handler for ``sim://``: the simulated board behind a serial port object.

Registered by :mod:`hopfield_fpga.host.board` (``serial.protocol_handler_packages``), so that
``serial.serial_for_url("sim://?neurons=256&weight_bits=8&lanes=8")`` returns a port whose
bytes go to :class:`~hopfield_fpga.host.simboard.SimulatedBoard`. Query parameters are those
of :func:`~hopfield_fpga.host.simboard.parse_sim_url`.
"""

from __future__ import annotations

from .simboard import SimSerial as Serial

__all__ = ["Serial"]
