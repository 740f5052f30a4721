"""The xorshift32 step of ``docs/numerics.md`` §5 as combinational logic.

:func:`xorshift32_next` builds the expression for one step from a 32-bit value (three shifts
and XORs, no carry chain), and :func:`load_state` the value loaded at the start of a run. The
run parameter is already the generator state (``numerics.seed_state`` scrambles the user's seed
on the host, §5); only a 0, which the host never sends, is replaced by XORSHIFT_ZERO_SEED so the
generator cannot stick at 0. The shift amounts come from ``numerics.XORSHIFT_SHIFTS``.
"""

from __future__ import annotations

from amaranth.hdl import Mux, Value

from hopfield_fpga.numerics import XORSHIFT_SHIFTS, XORSHIFT_ZERO_SEED

__all__ = ["xorshift32_next", "load_state"]


def xorshift32_next(x: Value) -> Value:
    """The generator state (= the word drawn) after one step from the 32-bit ``x``."""
    a, b, c = XORSHIFT_SHIFTS
    x = x[:32]
    x = (x ^ (x << a))[:32]
    x = (x ^ (x >> b))[:32]
    return (x ^ (x << c))[:32]


def load_state(seed: Value) -> Value:
    """The state loaded at the start of a run: the run's state parameter, or
    XORSHIFT_ZERO_SEED for 0 (= ``numerics.seed_state(0)``)."""
    return Mux(seed[:32] == 0, XORSHIFT_ZERO_SEED, seed[:32])
