"""The ``hopfield`` command line: a thin layer that parses arguments and calls the host API.

Commands live in modules named ``hopfield_fpga.host.cli_<group>``; each exposes
``register(subparsers)`` adding its subcommands with ``set_defaults(func=handler)``, where
``handler(args) -> int`` returns the exit code. They are discovered here, so adding a command
means adding a module, not editing this file. Every command takes ``--json``.

Errors are one line on stderr and a non-zero exit, never a traceback: argparse types below
check every number where it is parsed (exit 2), output paths are checked before a run starts,
driver errors (:class:`~hopfield_fpga.host.errors.BoardError`) exit 2, and Ctrl-C stops the
board's run (the driver sends STOP) and exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import pkgutil
import sys

from hopfield_fpga import host as _host_pkg

__all__ = ["main", "build_parser", "CLIError", "positive_int", "nonnegative_int", "seed32",
           "positive_seconds", "fraction", "output_file"]


class CLIError(Exception):
    """An error the CLI reports as one line on stderr with exit code 2 (no traceback)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``hopfield COMMAND: error: ...`` (exit 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _integer(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {value}")
    return value


def seed32(text: str) -> int:
    """argparse type: a seed, an integer in [0, 2**32)."""
    value = _integer(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"a seed is an integer in [0, 2**32 - 1], not {value}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0."""
    value = _number(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, not {text}")
    return value


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def output_file(text: str) -> str:
    """argparse type: a file that can be written (its folder exists and is writable), checked
    before the run starts."""
    folder = os.path.dirname(os.path.abspath(text))
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file")
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: no folder {folder!r}")
    if not os.access(folder, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: folder {folder!r} is not "
                                         f"writable")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hopfield",
        description="Hopfield networks on FPGAs: drive a board (or the simulated board), "
                    "benchmark the engines, build bitstreams.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(_host_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("cli_"):
            module = importlib.import_module(f"{_host_pkg.__name__}.{info.name}")
            module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .errors import BoardError
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CLIError, BoardError) as exc:
        print(f"hopfield {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # the driver has already stopped the board's run (host/wire.py)
        print(f"hopfield {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (`| head`) went away: not an error of ours. Point stdout at devnull so
        # the interpreter's final flush does not raise again.
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
