"""Exceptions of the board driver (``host/board.py``).

Every error names what went wrong and, where it can, what would have been valid.
"""

from __future__ import annotations

from hopfield_fpga.protocol import Command, Error

__all__ = ["BoardError", "ProtocolError", "BoardTimeout", "ConfigMismatch", "LinkError"]


class BoardError(Exception):
    """Base class of the driver's errors."""


class ProtocolError(BoardError):
    """The board answered a request with an error code (it changed nothing)."""

    def __init__(self, command: int, code: int, detail: str = ""):
        self.command = command
        self.code = code
        try:
            cname = Command(command).name
        except ValueError:
            cname = f"0x{command:02x}"
        try:
            ename = Error(code).name
        except ValueError:
            ename = f"unknown error {code}"
        self.error = ename
        msg = f"the board refused {cname}: {ename}"
        super().__init__(msg + (f" ({detail})" if detail else ""))


class BoardTimeout(BoardError):
    """No valid reply arrived in time (after the retries the command allows)."""


class LinkError(BoardError):
    """The link delivered something the driver cannot use (e.g. a reply of the wrong size)."""


class ConfigMismatch(BoardError):
    """The board's configuration does not match what the caller expected, or an input does not
    fit the board (shape, range)."""
