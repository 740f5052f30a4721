"""Fixed-point building blocks shared by the graded datapath (``docs/numerics.md`` s. 11.2).

Pure expression builders (no state): :func:`round_shift` is the spec's rounding (nearest, halves
away from zero) by a constant or run-time shift, :func:`saturate` the clamp to a signed width,
:func:`times` a product by a constant without a multiplier.
Amaranth widens every arithmetic result to hold all its values, so nothing here wraps.
"""

from __future__ import annotations

from amaranth.hdl import Const, Mux, Value, signed

__all__ = ["round_shift", "saturate", "signed_limits", "times"]


def signed_limits(bits: int) -> tuple[int, int]:
    """(lo, hi) of a signed ``bits``-wide integer."""
    if not isinstance(bits, int) or bits < 1:
        raise ValueError(f"A signed width must be a positive integer, not {bits!r}")
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def round_shift(z, s) -> Value:
    """z / 2**s rounded to nearest, halves away from zero; exactly z when s = 0.

    ``z`` must be signed; ``s`` is an unsigned value or a non-negative integer. Computed as the
    spec writes it: (z + 2**(s-1) - [z < 0]) >> s with an arithmetic shift.
    """
    z = Value.cast(z)
    if not z.shape().signed:
        raise TypeError(f"round_shift needs a signed value, not {z.shape()!r}")
    if isinstance(s, int):
        if s < 0:
            raise ValueError(f"Shift must be non-negative, not {s!r}")
        if s == 0:
            return z
        return (z + (1 << (s - 1)) - (z < 0)).shift_right(s)
    s = Value.cast(s)
    half = Mux(s == 0, 0, (Const(1, 1) << s)[1:])     # 2**(s-1), or 0 for s = 0
    neg = (z < 0) & (s != 0)
    return (z + half - neg) >> s


def saturate(z, bits: int) -> Value:
    """Clamp signed ``z`` to the signed ``bits``-wide range; the result is ``signed(bits)``."""
    lo, hi = signed_limits(bits)
    z = Value.cast(z)
    if len(z) <= bits and z.shape().signed:
        return z
    return Mux(z > hi, Const(hi, signed(bits)),
               Mux(z < lo, Const(lo, signed(bits)), z[:bits].as_signed()))


def times(value, k: int) -> Value:
    """``value * k`` for a constant ``k`` >= 0, as shifts and adds: yosys maps a multiplication,
    even by a constant, to a DSP block on the iCE40, and the UP5K has only 8."""
    if not isinstance(k, int) or k < 0:
        raise ValueError(f"times needs a non-negative integer constant, not {k!r}")
    value = Value.cast(value)
    terms = [value << i for i in range(k.bit_length()) if k >> i & 1]
    return sum(terms[1:], terms[0]) if terms else Const(0, 1)
