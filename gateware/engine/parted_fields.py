"""The field array in parts: N/P lanes, each holding the fields of P neurons and one adder.

:class:`~.field_array.FieldArray` gives every neuron an adder of its own, so a flip takes one
cycle, but at N = 1024 on the ECP5 85F the whole column engine (1024 lanes, the N:1 pick of
h_j, the 3072-bit column bus) places at 91% of the device and does not route
(docs/boards.md, "The ULX3S 85F's default"). Here a column arrives in P parts, one a cycle
(a weight store P times deeper and P times narrower), and lane l adds part p's weight to the
field of neuron i = p L + l (L = :func:`part_lanes`, about N / P): a flip costs P cycles of
the array instead of one, for a quarter of the adders and of the column bus at P = 4.

The cycle's part is a register that every lane reads (its RAM's address, its write enable):
at L = 258 lanes its two bits drive some 2000 LUT inputs, which on the 85F was the routed
critical path (11 ns of routing). So the array holds it in copies, one per
:data:`PART_GROUP` lanes, loaded from ``next_part``; on the ECP5 each copy is a TRELLIS_FF
with ``keep``, since yosys merges flip-flops of equal inputs.

Lane l keeps g_i = 2 h_i + s_i of its P neurons (``storage``):

- ``"registers"``: in flip-flops, read through a P:1 multiplexer into its adder (the
  multiplexer costs about as many LUT4s as the adders saved: docs/engine.md, "The field
  array in parts");
- ``"lutram"``: in a P-deep LUT RAM (on the ECP5, ceil(F / 4) TRELLIS_DPR16X4 a lane), read
  asynchronously at ``part`` and written at the clock edge, so the RAM is the multiplexer.
  Each neuron's s_i and the sign of its g_i are flip-flops beside it, so that the unstable
  flags stay combinational for all N neurons; there is no ``fields`` output.

The adder is g + (x ^ c) + negate (:func:`~.carry.add_xor`), and the sum is written back to
part ``part`` only. The lane's read of part ``part``, ``lane_fields``, is the first level of
the engine's pick of h_j: with ``part`` at j's part, an L:1 pick of lane j mod L gives g_j and
s_j.

Every operation of :class:`~.field_array.FieldOp` acts on part ``part`` (a LUT RAM writes one
word a cycle, and the flip-flops do the same, so both storages behave alike):

- FLIP (j, ``sign``): the lanes add s_j' (4 W_ij + 2 [i = j]); neuron j's s becomes ``sign``
  in the cycle of its own part (``flip_part``). A whole flip is P cycles, parts 0 .. P-1.
- ADD: 2 s_j W_ij (one part of a refresh column).
- LOAD_FIELDS: ``fields_in`` added to the K lanes of ``chunk`` (after ZERO_FIELDS);
  LOAD_STATES: their states.
- CLEAR: g -= 1 and s = -1 for every lane (after ZERO_FIELDS: h = 0).
- ZERO_FIELDS: g = 0 for every lane.

Members
-------
column: In(L * W_BITS), part ``part`` of the column: W_ij of neuron i = part L + l at bits
    [l W, (l+1) W).
next_part: In(range(P)), the part of the next cycle; part: Out(range(P)), this cycle's
    (0 after reset).
op: In(:class:`~.field_array.FieldOp`), sign: In(1), chunk: In(range(L / K)),
fields_in: In(K * F), states_in: In(K): as :class:`~.field_array.FieldArray`'s, per part.
lane_lo: In(Ll), lane_hi: In(Lh): j mod L as its two-level decode
    (:func:`~.field_array.decode_lines` of L), from flip-flops; flip_part: In(1), the part of
    this cycle is j's (so lane j mod L adds 2 more and writes s_j).
held: In(N): the clamp mask (bit 1 = held).
fields: Out(N * F) (``"registers"`` only), states: Out(N), flags: Out(N): every g_i, s_i and
    unstable flag s_i h_i < 0 of the free neurons, neuron i at bit (or field) i.
lane_fields: Out(L * (F + 1)): each lane's g and s of part ``part`` (its g read as 0 in
    ZERO_FIELDS).
"""

from __future__ import annotations

from amaranth.hdl import (Cat, ClockSignal, Const, Instance, Module, Mux, ResetSignal, Signal,
                          signed)
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import NetworkConfig
from .carry import add_xor, carry_cells
from .common import check_int
from .field_array import FieldOp, decode_lines, lane_controls, lane_operand

__all__ = ["PartedFieldArray", "part_lanes", "STORAGES", "PART_GROUP"]

#: Lanes that read one copy of the part register.
PART_GROUP = 16

#: Where a lane keeps its P fields (see the module docstring).
STORAGES = ("registers", "lutram")


def part_lanes(neurons: int, parts: int, lanes: int) -> int:
    """L: the lanes of a column in ``parts`` parts, neuron i in lane i mod L of part i // L;
    K ceil(N / (P K)), a multiple of the host's chunk of K = ``lanes`` neurons, so that a
    chunk lies in one part (``weight_store``). Every part holds a neuron."""
    check_int("parts", parts, 1, neurons)
    check_int("lanes", lanes, 1, 1 << 16)
    count = lanes * -(-neurons // (parts * lanes))
    if (parts - 1) * count >= neurons:
        raise ValueError(f"{parts} parts of {count} lanes (whole chunks of K = {lanes}) leave "
                         f"the last part without a neuron at N = {neurons}: use fewer parts")
    return count


class PartedFieldArray(wiring.Component):
    """Every h_i and s_i, N/P adders shared by P neurons each (see the module docstring)."""

    def __init__(self, config: NetworkConfig, parts: int, storage: str = "registers"):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {', '.join(STORAGES)}, not {storage!r}")
        self.config, self.parts, self.storage = config, parts, storage
        self.lanes = L = part_lanes(config.neurons, parts, config.lanes)
        self.chunks = L // config.lanes
        #: F: a lane's g = 2 h + s, one bit wider than h.
        self.field_bits = f = config.acc_bits + 1
        n, k = config.neurons, config.lanes
        lo, hi = decode_lines(L)
        members = {
            "column": In(L * config.weight_bits),
            "next_part": In(range(parts)),
            "part": Out(range(parts)),
            "op": In(FieldOp),
            "sign": In(1),
            "lane_lo": In(lo), "lane_hi": In(hi), "flip_part": In(1),
            "chunk": In(range(self.chunks)),
            "fields_in": In(k * f),
            "states_in": In(k),
            "held": In(n),
            "states": Out(n),
            "flags": Out(n),
            "lane_fields": Out(L * (f + 1)),
        }
        if storage == "registers":
            members["fields"] = Out(n * f)
        super().__init__(members)

    def elaborate(self, platform):
        cfg, P, L = self.config, self.parts, self.lanes
        k, f, wb = cfg.lanes, self.field_bits, cfg.weight_bits
        m = Module()
        cells = carry_cells(platform)
        flip = self.op == FieldOp.FLIP
        update = flip | (self.op == FieldOp.ADD)
        negate = update & ~self.sign             # subtract: add the complement, carry in 1
        clear, zero = self.op == FieldOp.CLEAR, self.op == FieldOp.ZERO_FIELDS
        load = clear | (self.op == FieldOp.LOAD_FIELDS)
        # ZERO_FIELDS writes the sum 0 + 0: the lane's read masked (in the registers' P:1
        # multiplexer that is a spare LUT input), the operand and the bus 0
        quiet = load | zero                      # the operand is 0
        plain = ~flip & ~quiet                   # the operand is 2 W_ij (ADD)
        # lane l's flip line: j mod L = l, and this cycle is j's part
        lines = len(self.lane_lo)
        his = [Signal(name=f"flip_hi{b}") for b in range(len(self.lane_hi))]
        m.d.comb += [hi.eq(flip & self.flip_part & self.lane_hi[b])
                     for b, hi in enumerate(his)]
        flips = [self.lane_lo[l % lines] & his[l // lines] for l in range(L)]
        # this cycle's part: a copy a group of lanes, and its decode
        groups = [self._part_copy(m, g, cells) for g in range(-(-L // PART_GROUP))]
        m.d.comb += self.part.eq(groups[0])
        ats = []
        for g, part in enumerate(groups):
            at = [Signal(name=f"at{p}_{g}") for p in range(P)]
            m.d.comb += [a.eq(part == p) for p, a in enumerate(at)]
            ats.append(at)
        buses, takes, state_loads = lane_controls(m, self, self.chunks, update, negate, load,
                                                  clear)
        for l in range(L):
            chunk, slot = divmod(l, k)
            part, at = groups[l // PART_GROUP], ats[l // PART_GROUP]
            ss = [Signal(name=f"s{p}_{l}") for p in range(P)]
            s_sel = Signal(name=f"ssel{l}")
            m.d.comb += s_sel.eq(Cat(*ss).bit_select(part, 1))
            g_sel = Signal(signed(f), name=f"gsel{l}")       # part ``part``'s g
            g_in = Signal(signed(f), name=f"gin{l}")         # the adder's: 0 in ZERO_FIELDS
            write = Signal(name=f"write{l}")                  # g of part ``part`` <- the sum
            wide = lane_operand(m, self.column[l * wb:(l + 1) * wb].as_signed(), flips[l],
                                flip, plain, quiet, f, f"{l}")
            m.d.comb += [g_in.eq(Mux(zero, 0, g_sel)), write.eq(zero | takes[chunk])]
            total = add_xor(m, g_in, wide, buses[slot], negate, cells, f"lane{l}")
            signs = self._storage(m, l, part, g_sel, total, write, at)
            for p in range(P):
                i = p * L + l
                with m.If(clear & at[p]):
                    m.d.sync += ss[p].eq(0)
                with m.Elif(flips[l] & at[p]):
                    m.d.sync += ss[p].eq(self.sign)
                with m.Elif(state_loads[chunk] & at[p]):
                    m.d.sync += ss[p].eq(self.states_in[slot])
                if i < cfg.neurons:
                    # unstable: s = +1 and g < 0, or s = -1 and g > 0 (g is never 0)
                    m.d.comb += [self.states[i].eq(ss[p]),
                                 self.flags[i].eq((signs[p] ^ ~ss[p]) & ~self.held[i])]
            m.d.comb += self.lane_fields[l * (f + 1):(l + 1) * (f + 1)].eq(Cat(g_in, s_sel))
        return m

    def _part_copy(self, m, group, cells):
        """Group ``group``'s copy of the part register (one register off the ECP5, where
        yosys would merge the copies anyway)."""
        if cells != "ecp5":
            if group == 0:
                self._part_reg = Signal(range(self.parts), name="part_r")
                m.d.sync += self._part_reg.eq(self.next_part)
            return self._part_reg
        copy = Signal(range(self.parts), name=f"part_copy{group}")
        for b in range(len(copy)):
            m.submodules[f"part_ff{group}_{b}"] = Instance(
                "TRELLIS_FF", p_GSR="DISABLED", p_CEMUX="1", p_CLKMUX="CLK", p_LSRMUX="LSR",
                p_SRMODE="LSR_OVER_CE", p_REGSET="RESET", a_keep=1, i_CLK=ClockSignal(),
                i_LSR=ResetSignal(), i_CE=Const(1, 1), i_DI=self.next_part[b], o_Q=copy[b])
        return copy

    def _storage(self, m, lane, part, g_sel, g_new, write, at):
        """Lane ``lane``'s P fields: ``g_sel`` reads part ``part``, which takes ``g_new`` at the
        clock edge when ``write``; returns each part's sign bit (for its flag)."""
        P, L, f = self.parts, self.lanes, self.field_bits
        if self.storage == "registers":
            gs = [Signal(signed(f), name=f"g{p}_{lane}") for p in range(P)]
            with m.Switch(part):
                for p in range(P):
                    with m.Case(p):
                        m.d.comb += g_sel.eq(gs[p])
            for p, g in enumerate(gs):
                with m.If(write & at[p]):
                    m.d.sync += g.eq(g_new)
                i = p * L + lane
                if i < self.config.neurons:
                    m.d.comb += self.fields[i * f:(i + 1) * f].eq(g)
            return [g[-1] for g in gs]
        ram = Memory(shape=signed(f), depth=P, init=[])
        m.submodules[f"ram{lane}"] = ram
        rd, wr = ram.read_port(domain="comb"), ram.write_port()
        m.d.comb += [rd.addr.eq(part), g_sel.eq(rd.data),
                     wr.addr.eq(part), wr.data.eq(g_new), wr.en.eq(write)]
        signs = [Signal(name=f"sign{p}_{lane}") for p in range(P)]
        for p, sign in enumerate(signs):
            with m.If(write & at[p]):
                m.d.sync += sign.eq(g_new[-1])
        return signs
