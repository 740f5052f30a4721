"""Plain-text tables of the benchmarks: columns right-aligned to their widest cell."""

from __future__ import annotations

__all__ = ["right_aligned"]


def right_aligned(head, lines) -> str:
    """``head`` (column titles) and ``lines`` (rows of cell strings) as text, one row a line,
    each column right-aligned to its widest cell, two spaces between columns."""
    rows = [tuple(head), *(tuple(line) for line in lines)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows)
