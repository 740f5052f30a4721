"""A block RAM read port that yosys need not guard against read-during-write collisions.

A synchronous ``lib.memory`` read port reaches yosys as a read-first port, which the iCE40 and
ECP5 block RAMs do not have: yosys emulates it with a register of the write data and address
and a comparator (about 30 iCE40 logic cells a RAM). A RAM that never uses what it reads while
the same entry is written needs none of it. :func:`collision_free_read` builds its read port as
a combinational read and a register, which yosys' ``memory_dff`` merges into a block RAM port,
with the RAM's ``no_rw_check`` attribute: a collision then returns an unspecified value, and the
emulation is left out. In simulation the port reads first, as a synchronous port does.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib.memory import Memory

__all__ = ["NO_RW_CHECK", "CollisionFreeReadPort", "collision_free_read"]

#: The attributes of a RAM read through :func:`collision_free_read`.
NO_RW_CHECK = {"no_rw_check": 1}


def collision_free_read(m: Module, ram: Memory, *, name: str, en=1):
    """A read port of ``ram`` (made with ``attrs=NO_RW_CHECK``) with a registered output:
    returns ``(port, data)``; set ``port.addr``, and ``data`` holds that entry one cycle later
    (in the cycles where ``en`` is high; else it keeps its value). Only for RAMs whose users
    never rely on a read of the entry being written."""
    if ram.attrs.get("no_rw_check") != 1:
        raise ValueError(f"the RAM must be made with attrs=NO_RW_CHECK, not {dict(ram.attrs)!r}")
    port = ram.read_port(domain="comb")
    data = Signal(ram.shape, name=name)
    with m.If(en):
        m.d.sync += data.eq(port.data)
    return port, data


class CollisionFreeReadPort:
    """:func:`collision_free_read` with the fields of a synchronous read port: ``addr``, ``en``
    (1 unless driven) and ``data``, for code written against ``Memory.read_port()``."""

    def __init__(self, m: Module, ram: Memory, *, name: str):
        self.en = Signal(init=1, name=f"{name}_en")
        port, self.data = collision_free_read(m, ram, name=f"{name}_data", en=self.en)
        self.addr = port.addr
