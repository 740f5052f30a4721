"""The ``hopfield`` command line: a thin layer that parses arguments and calls the host API.

Commands live in modules named ``hopfield_fpga.host.cli_<group>``; each exposes
``register(subparsers)`` adding its subcommands with ``set_defaults(func=handler)``, where
``handler(args) -> int`` returns the exit code. They are discovered here, so adding a command
means adding a module, not editing this file. Every command takes ``--json``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from hopfield_fpga import host as _host_pkg

__all__ = ["main", "build_parser", "CLIError"]


class CLIError(Exception):
    """An error the CLI reports as one line on stderr with exit code 2 (no traceback)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"hopfield {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (`| head`) went away: not an error of ours. Point stdout at devnull so
        # the interpreter's final flush does not raise again.
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
