"""Where generated files go: one per-user cache directory, never the installed package.

Compiled simulations (cocotb builds, the ``sim://`` RTL boards) and synthesis output land under
:func:`cache_dir`, so an installed wheel never writes into ``site-packages`` and a checkout
stays clean. The directory is, first match wins:

1. ``$HOPFIELD_FPGA_CACHE`` (:data:`CACHE_ENV`), e.g. a per-job folder in CI;
2. ``$XDG_CACHE_HOME/hopfield-fpga``;
3. ``~/.cache/hopfield-fpga``.

Everything below it is keyed by content (a hash of the Verilog, of the gateware sources), so
it is safe to share between checkouts and versions and to delete at any time. Processes that
may fill the same entry at once (pytest-xdist workers, two ``sim://`` boards) hold
:func:`locked` on it while they build.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_dir", "locked"]

#: Environment variable that overrides the cache directory.
CACHE_ENV = "HOPFIELD_FPGA_CACHE"


def cache_dir(*parts: str) -> Path:
    """The cache directory (see the module docstring), joined with ``parts``; not created."""
    root = os.environ.get(CACHE_ENV)
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "hopfield-fpga"
    return base.expanduser().joinpath(*parts)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``directory`` (created if missing) for the with-block: another
    process waits, then finds the entry complete instead of building it a second time."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield directory
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
