"""Text rendering of square binary states (e.g. N = 256 as 16 x 16) for terminals.

A pixel is two characters wide so that the picture keeps its aspect ratio in a terminal:
``##`` for +1 and `` .`` for -1 by default (plain ASCII, so it survives logs and pipes).
:func:`side_by_side` lays several titled frames out in one block of lines.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["render", "render_lines", "side_by_side", "ON", "OFF"]

ON = "##"
OFF = " ."


def _side(n: int) -> int:
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"a state of N = {n} is not square; text art needs N = side**2")
    return side


def render_lines(state, *, on: str = ON, off: str = OFF, highlight=None) -> list[str]:
    """Rows of text for a square +1/-1 ``state``.

    ``highlight`` is an optional boolean mask (same length) of pixels to mark: they are drawn
    with ``@@`` (on) or ``::`` (off), e.g. the neurons that flipped since the last frame.
    """
    s = np.asarray(state).ravel()
    if s.size == 0 or not np.all(np.abs(s) == 1):
        raise ValueError("text art renders +1/-1 states")
    side = _side(s.size)
    mark = np.zeros(s.size, dtype=bool) if highlight is None else np.asarray(highlight, bool)
    cells = [("@@" if v > 0 else "::") if m else (on if v > 0 else off) for v, m in zip(s, mark)]
    return ["".join(cells[r * side:(r + 1) * side]) for r in range(side)]


def render(state, **kw) -> str:
    """The state as one string of ``side`` lines (see :func:`render_lines`)."""
    return "\n".join(render_lines(state, **kw))


def side_by_side(frames, titles=None, *, gap: int = 3, **kw) -> str:
    """Several states next to each other, each under its title.

    ``frames`` are states or already rendered line lists; titles longer than a frame widen
    its column rather than being cut.
    """
    blocks = [f if isinstance(f, list) else render_lines(f, **kw) for f in frames]
    titles = [""] * len(blocks) if titles is None else [str(t) for t in titles]
    if len(titles) != len(blocks):
        raise ValueError(f"{len(blocks)} frames but {len(titles)} titles")
    widths = [max(len(t), max(len(line) for line in b)) for t, b in zip(titles, blocks)]
    height = max(len(b) for b in blocks)
    sep = " " * gap
    out = []
    if any(titles):
        out.append(sep.join(t.ljust(w) for t, w in zip(titles, widths)).rstrip())
    for r in range(height):
        out.append(sep.join((b[r] if r < len(b) else "").ljust(w)
                            for b, w in zip(blocks, widths)).rstrip())
    return "\n".join(out)
