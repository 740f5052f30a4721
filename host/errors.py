"""Exceptions of the board driver (``host/board.py``).

Every error the driver raises derives from :class:`BoardError`, so ``except BoardError``
catches all of them; the ones about a bad argument also derive from ValueError (or TypeError)
so that code written against the built-in classes keeps working. Every error names what went
wrong and, where it can, what would have been valid.

- :class:`BoardURLError`: the URL (form, scheme, a parameter) or the device it names.
- :class:`BadInput` (ValueError) and :class:`BadInputType` (TypeError): an argument that is
  not valid whatever the board; :class:`ConfigMismatch`: an input that does not fit this
  board (shape, range, a feature it was built without); :class:`MissingEngineFeature`: a
  feature this kind of board's engine does not have yet (clamping, the synchronous order and
  the quantized store exist on cpu:// only).
- :class:`BoardTimeout`: no valid reply in time; :class:`RunTimeout`: a run that did not end
  within ``run_timeout`` (the driver stopped it; ``.result`` holds where it stopped).
- :class:`ProtocolError`: the board refused a request; :class:`LinkError`: the link delivered
  something unusable; :class:`BoardClosed`: a call after :meth:`Board.close`.
"""

from __future__ import annotations

from hopfield_fpga.protocol import Command, Error

__all__ = ["BoardError", "ProtocolError", "BoardTimeout", "RunTimeout", "ConfigMismatch",
           "LinkError", "RunStopped", "BoardURLError", "BadInput", "BadInputType", "BoardClosed",
           "MissingEngineFeature"]


class BoardError(Exception):
    """Base class of every error the board driver raises."""


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
    """No valid reply arrived within the request's deadline (after the retries it allows)."""


class RunTimeout(BoardTimeout):
    """A run did not end within ``run_timeout``: the driver stopped it. ``result`` is the
    outcome at the stop (a RunResult with stop_reason == "stop"), or None when the backend cannot
    give one."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


class RunStopped(BoardError):
    """A run ended by :meth:`Board.stop` on a backend that cannot report where it stopped
    (cpu://): nothing changed."""


class LinkError(BoardError):
    """The link delivered something the driver cannot use (e.g. a reply of the wrong size)."""


class BoardURLError(BoardError, ValueError):
    """The board URL is malformed, names an unknown backend or parameter, a bad value, or a
    device that cannot be opened."""


class BadInput(BoardError, ValueError):
    """An argument is not valid (whatever the board)."""


class BadInputType(BadInput, TypeError):
    """An argument has the wrong type."""


class ConfigMismatch(BadInput):
    """The board's configuration does not match what the caller expected, or an input does not
    fit the board (shape, range, a feature the board was built without)."""


class MissingEngineFeature(ConfigMismatch):
    """The board's engine has no such feature yet, whatever its configuration (e.g. clamped
    neurons on sim:// and serial boards: the gateware and protocol do not carry them yet)."""


class BoardClosed(BoardError):
    """The board was closed: open it again."""
