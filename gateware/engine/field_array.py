"""The field array: every neuron's local field h_i and state s_i in a lane of its own.

A flip of neuron j reads the whole column j of W (``weight_store``) and every lane adds
2 s_j' W_ij to its h_i in the same cycle (``docs/numerics.md`` §3); the refresh adds s_j W_ij
column by column after the lanes were loaded with the biases. The unstable flags
s_i h_i < 0 (§3) are combinational outputs of the lane registers, so the selectors see the
new set one cycle after the column arrives.

A lane keeps g_i = 2 h_i + s_i (s_i as +-1; ACC_BITS + 1 flip-flops), not h_i: g_i is odd,
never 0, so the flag is g_i's sign bit against s_i (s h < 0 iff s g < 0: h = 0 gives g = s),
one LUT4 with the clamp bit, where h_i's sign needed a zero test of ACC_BITS bits (about 5
LUT4s a lane). A flip of j adds s_j' (4 W_ij + 2 [i = j]) (lane j's own s_j turns from -s_j'
to s_j': 2 s_j' more), the refresh's column 2 s_j W_ij. The adder is one bit wider, which on
the ECP5's two-bit carry cells is free at the 85F's ACC_BITS = 14 (docs/engine.md, "The
column engine at N = 1024 on the 85F", has the counts). :func:`decode_field` gives h from g
and s (an increment, after the engine's one N:1 pick of h_j, :class:`FieldPick`).

The lane has one adder, g + (x ^ c) + negate (:func:`~.carry.add_xor`): x the operand (a
shifted W_ij, one LUT per low bit; zero in a load), c a bus shared by lane l of every chunk
(K buses of F bits): the complement for a negative sign in FLIP and ADD, the value to load
in LOAD_FIELDS and CLEAR. On the ECP5 the XOR rides in the carry cells' free LUT input, so
a load costs no multiplexer per lane: it is an add to a lane zeroed before
(ZERO_FIELDS, the flip-flops' synchronous reset), the chunk's lanes enabled. Before, a 2:1
choice per bit between the adder and the load took F LUT4s a lane (docs/engine.md, "The
column engine at N = 1024 on the 85F", has the counts).

Members
-------
column: In(N * W_BITS), W_ij of lane i at bits [i W, (i+1) W) (the weight store's read data).
op: In(:class:`FieldOp`), the operation of this cycle (applied at the clock edge).
sign: In(1), the sign (1 = +1) of the column for FLIP and ADD: s_j' for FLIP, s_j for ADD.
index_lo: In(L), index_hi: In(H), j for FLIP (its state becomes ``sign``; it must differ
    from s_j) as its two-level decode (:func:`decode_lines`: lane i's lines are
    ``index_lo[i % L]`` and ``index_hi[i // L]``), from flip-flops: the engine's
    :class:`FieldPick` holds j's (its ``lines_lo``, ``lines_hi``). Decoded in front of the
    lanes, ABC merged the index compares into each lane's operand (a LUT7, 3 L6MUX21 a lane).
chunk: In(range(C)), the chunk of LOAD_FIELDS and LOAD_STATES.
fields_in: In(K * F), what LOAD_FIELDS adds to the chunk's K lanes (lane l at bits
    [l F, (l+1) F), F = ``field_bits`` = ACC_BITS + 1): after ZERO_FIELDS their g
    (:func:`encode_field`).
states_in: In(K), the states of the chunk's K lanes (bit 1 = +1).
fields: Out(N * F), every g_i, signed, lane i at bits [i F, (i+1) F).
states: Out(N), every s_i (1 = +1).
held: In(N), the clamp mask (§12, bit 1 = held): a held neuron's flag is 0.
flags: Out(N), the unstable flags s_i h_i < 0 of the free neurons, combinational from the
    registers (the mask in the flag's own LUT).
nonzero: Out(N), built only with the quantized store (``store_patterns`` > 0): g_i != 0.
    After ZERO_FIELDS and ADDs a lane holds g = 2 S (no s in it): S's sign is g's sign bit
    and S != 0 this test.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import NetworkConfig
from .carry import add_xor, carry_cells

__all__ = ["FieldOp", "FieldArray", "FieldPick", "decode_lines", "held_halves", "one_hot_pick",
           "encode_field", "decode_field", "lane_controls", "lane_operand"]


class FieldOp(enum.Enum, shape=3):
    """What the field array does at the next clock edge."""
    #: Nothing.
    HOLD = 0
    #: h_i += 2 sign W_ij for every lane, s_index <- sign (a flip of j, §3).
    FLIP = 1
    #: h_i += sign W_ij for every lane (one column of the refresh, sign = s_j).
    ADD = 2
    #: g_i += fields_in for the K lanes of ``chunk``: after ZERO_FIELDS, the load of the
    #: refresh's g = 2 b + s.
    LOAD_FIELDS = 3
    #: s_i <- states_in for the K lanes of ``chunk`` (a state write while h is stale: g is
    #: not changed).
    LOAD_STATES = 4
    #: g_i -= 1 and s_i <- -1 for every lane: after ZERO_FIELDS, h_i = 0 and s_i = -1.
    CLEAR = 5
    #: g_i <- 0 for every lane (the flip-flops' synchronous reset), s_i kept: before
    #: LOAD_FIELDS and CLEAR, and the quantized store's sum starts from it (§14; ADDs then
    #: leave g = 2 S).
    ZERO_FIELDS = 6


def encode_field(h, s):
    """g = 2 h + s of a lane (s: bit 1 = +1), as :data:`FieldOp.LOAD_FIELDS` takes it:
    2 h + 1 = Cat(1, h) and 2 h - 1 = Cat(1, h - 1)."""
    return Cat(Const(1, 1), Mux(s, h, h - 1))


def decode_field(g, s):
    """h of a lane from its g = 2 h + s and s (bit 1 = +1): g >> 1 is h for s = +1 and
    h - 1 for s = -1."""
    return g[1:].as_signed() + ~s


def _halves(m: Module, index, enable, name: str):
    """The two-level decode of ``index``: its low half decoded into 2^lo lines, its high half
    (with ``enable``) into 2^(bits - lo) lines; line i of the whole decode is
    ``lo[i % len(lo)] & hi[i // len(lo)]``."""
    bits = len(index)
    lo_bits = bits // 2
    lo = [Signal(name=f"{name}_lo{a}") for a in range(1 << lo_bits)]
    hi = [Signal(name=f"{name}_hi{b}") for b in range(1 << (bits - lo_bits))]
    m.d.comb += [line.eq(index[:lo_bits] == a) for a, line in enumerate(lo)]
    m.d.comb += [line.eq(enable & (index[lo_bits:] == b)) for b, line in enumerate(hi)]
    return lo, hi


def decode_lines(n: int) -> tuple[int, int]:
    """(L, H): the low and high lines of the two-level decode of an index below ``n``
    (:func:`held_halves`)."""
    bits = (n - 1).bit_length()
    return 1 << (bits // 2), 1 << (bits - bits // 2)


def held_halves(m: Module, index, load, name: str):
    """:func:`_halves` of ``index`` (enable 1), each line registered when ``load``: the
    decode of the index of the last cycle with ``load`` (of 0 after reset), the lines that
    :func:`one_hot_pick` reads."""
    def held(line, first):
        reg = Signal(name=f"{name}_{line.name}", init=int(first))
        with m.If(load):
            m.d.sync += reg.eq(line)
        return reg
    lo, hi = _halves(m, index, Const(1, 1), f"{name}_next")
    return [held(line, a == 0) for a, line in enumerate(lo)], \
        [held(line, b == 0) for b, line in enumerate(hi)]


def _or_tree(values):
    """The OR of ``values`` as a balanced tree (a chain would give ABC a deep cone)."""
    while len(values) > 1:
        values = [values[i] | values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


def one_hot_pick(words, lo, hi):
    """``words[i]`` for the one i whose low line ``lo[i % len(lo)]`` and high line
    ``hi[i // len(lo)]`` are set (:func:`_halves`' lines), as an AND-OR: word i ANDed with its
    low line, two of them a LUT4 ((a & la) | (b & lb)), their OR a group of one high line,
    the groups ANDed with their high lines and ORed. With the lines from flip-flops that is
    about 2/3 of a LUT4 a word a bit (N/2 + N/6); decoded in front of it, ABC maps across the
    decode (0.82 a word a bit at N = 256), and yosys' ECP5 mapping of a binary N:1
    multiplexer is about 0.9 (one 2:1 multiplexer a LUT4; docs/engine.md)."""
    width = len(words[0])
    groups = []
    for b, high in enumerate(hi):
        terms = [word & lo[a].replicate(width)
                 for a, word in enumerate(words[b * len(lo):(b + 1) * len(lo)])]
        if terms:
            groups.append(_or_tree(terms) & high.replicate(width))
    return _or_tree(groups)


def lane_controls(m: Module, array, chunks: int, update, negate, load, clear):
    """What a field array's lanes share, from its ``op``, ``chunk``, ``fields_in`` and
    ``field_bits`` (FieldArray's, or a part's lanes in PartedFieldArray): the K buses
    (lane slot l of every chunk: the complement for a negative sign, the value to load, -1
    in CLEAR), and per chunk whether its lanes take the sum and whether they load
    ``states_in``. Returns (buses, takes, state_loads)."""
    f, k = array.field_bits, len(array.states_in)
    buses = [Signal(f, name=f"bus{l}") for l in range(k)]
    m.d.comb += [bus.eq(Mux(load, Mux(clear, Const(-1, f), array.fields_in[l * f:(l + 1) * f]),
                            negate.replicate(f)))
                 for l, bus in enumerate(buses)]
    takes, state_loads = [], []
    for c in range(chunks):
        here = array.chunk == c
        take, state = Signal(name=f"take{c}"), Signal(name=f"load_state{c}")
        m.d.comb += [take.eq(update | clear | ((array.op == FieldOp.LOAD_FIELDS) & here)),
                     state.eq((array.op == FieldOp.LOAD_STATES) & here)]
        takes.append(take)
        state_loads.append(state)
    return buses, takes, state_loads


def lane_operand(m: Module, w, flip_line, flip, plain, quiet, width: int, name: str):
    """A lane's operand from its weight ``w`` (signed W_BITS): FLIP 4 W_ij + 2 [i = j]
    (``flip_line``), ADD (``plain``) 2 W_ij, 0 when ``quiet`` (the loads). At its own width,
    then sign-extended to ``width`` (wires); the bus complements it for a negative sign.
    (bit 1: the flip line, or W_0 outside FLIP and the loads: 4 inputs a LUT4)"""
    wb = len(w)
    operand = Signal(signed(wb + 2), name=f"w{name}")
    m.d.comb += operand.eq(Cat(Const(0, 1), flip_line | (plain & w[0]),
                               Mux(flip, w, Cat(w[1:], w[-1]) & ~quiet.replicate(wb))))
    wide = Signal(signed(width), name=f"x{name}")
    m.d.comb += wide.eq(operand)
    return wide


class FieldArray(wiring.Component):
    def __init__(self, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        self.config = config
        #: F: a lane's g = 2 h + s, one bit wider than h.
        self.field_bits = f = config.acc_bits + 1
        n, k = config.neurons, config.lanes
        members = {
            "column": In(n * config.weight_bits),
            "op": In(FieldOp),
            "sign": In(1),
            "index_lo": In(decode_lines(n)[0]), "index_hi": In(decode_lines(n)[1]),
            "chunk": In(range(config.chunks)),
            "fields_in": In(k * f),
            "states_in": In(k),
            "held": In(n),
            "fields": Out(n * f),
            "states": Out(n),
            "flags": Out(n),
        }
        if config.store_patterns:
            members["nonzero"] = Out(n)
        super().__init__(members)

    def elaborate(self, platform):
        cfg = self.config
        n, k, f, wb = cfg.neurons, cfg.lanes, self.field_bits, cfg.weight_bits
        m = Module()
        cells = carry_cells(platform)
        flip = self.op == FieldOp.FLIP
        update = flip | (self.op == FieldOp.ADD)
        negate = update & ~self.sign             # subtract: add the complement, carry in 1
        # lane i's flip line: its low line and its high line gated with FLIP (shared)
        lines = len(self.index_lo)
        his = [Signal(name=f"flip_hi{b}") for b in range(len(self.index_hi))]
        m.d.comb += [hi.eq(flip & self.index_hi[b]) for b, hi in enumerate(his)]
        flips = [self.index_lo[i % lines] & his[i // lines] for i in range(n)]
        # A load adds the bus to a zeroed lane with the operand 0: LOAD_FIELDS the chunk's
        # word, CLEAR -1 to every lane.
        clear, zero = self.op == FieldOp.CLEAR, self.op == FieldOp.ZERO_FIELDS
        load = clear | (self.op == FieldOp.LOAD_FIELDS)
        plain = ~flip & ~load                    # the operand is 2 W_ij (ADD)
        buses, takes, states_in = lane_controls(m, self, cfg.chunks, update, negate, load, clear)
        for i in range(n):
            # 0 after reset, the value ZERO_FIELDS sets: the flip-flops' one synchronous
            # reset (LSR) serves both. An ECP5 flip-flop has one set/reset value, so a reset to
            # -1 beside ZERO_FIELDS's 0 put a LUT4 in front of every bit (15 a lane at
            # N = 1024, 15k LUT4s: the 85F default no longer fitted); the engine's first
            # cycle applies CLEAR instead (ColumnEngine, state BOOT).
            g = Signal(signed(f), name=f"g{i}")
            s = Signal(name=f"s{i}")
            wide = lane_operand(m, self.column[i * wb:(i + 1) * wb].as_signed(), flips[i],
                                flip, plain, load, f, f"{i}")
            chunk, lane = divmod(i, k)
            total = add_xor(m, g, wide, buses[lane], negate, cells, f"lane{i}")
            with m.If(zero):
                m.d.sync += g.eq(0)
            with m.Elif(takes[chunk]):
                m.d.sync += g.eq(total)
            with m.If(clear):
                m.d.sync += s.eq(0)
            with m.Elif(flips[i]):
                m.d.sync += s.eq(self.sign)
            with m.Elif(states_in[chunk]):
                m.d.sync += s.eq(self.states_in[lane])
            # unstable: s = +1 and g < 0, or s = -1 and g > 0 (g is never 0)
            m.d.comb += [self.fields[i * f:(i + 1) * f].eq(g), self.states[i].eq(s),
                         self.flags[i].eq((g[-1] ^ ~s) & ~self.held[i])]
            if cfg.store_patterns:
                m.d.comb += self.nonzero[i].eq(g.any())
        return m


class FieldPick(wiring.Component):
    """One lane's h_j, s_j and clamp bit at j: the engine's one N:1 pick (a flip's energy term
    and a stochastic visit share it). A block of its own so that yosys counts it apart
    (``synth_ecp5 -noflatten``: an F + 2-bit N:1 pick, the largest part of the engine's own
    logic that grows with N). j is held as its two-level decode (:func:`held_halves`,
    2 sqrt(N) flip-flops), taken from ``index`` at the clock edge of a cycle with ``load``: the pick
    (:func:`one_hot_pick`) then reads flip-flops only. The outputs are combinational from
    those lines and the lanes.

    Members
    -------
    fields: In(N * F), states: In(N), held: In(N): the field array's g, s and the clamp mask.
    index: In(range(N)), load: In(1): j, registered when ``load`` (j = 0 after reset).
    lines_lo: Out(L), lines_hi: Out(H): j's decode as held (:func:`decode_lines`), which the
    field array's FLIP reads.
    h: Out(signed(ACC_BITS)), h_j (:func:`decode_field` of g_j).
    s: Out(1), s_j; held_j: Out(1), the clamp bit of j.
    """

    def __init__(self, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        self.config = config
        self.field_bits = config.acc_bits + 1
        n = config.neurons
        super().__init__({
            "fields": In(n * self.field_bits), "states": In(n), "held": In(n),
            "index": In(range(n)), "load": In(1),
            "lines_lo": Out(decode_lines(n)[0]), "lines_hi": Out(decode_lines(n)[1]),
            "h": Out(signed(config.acc_bits)), "s": Out(1), "held_j": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        f = self.field_bits
        lo, hi = held_halves(m, self.index, self.load, "j")
        m.d.comb += [self.lines_lo.eq(Cat(*lo)), self.lines_hi.eq(Cat(*hi))]
        words = [Cat(self.fields[i * f:(i + 1) * f], self.states[i], self.held[i])
                 for i in range(self.config.neurons)]
        picked = Signal(f + 2)
        m.d.comb += picked.eq(one_hot_pick(words, lo, hi))
        g_j, s_j = picked[:f].as_signed(), picked[f]
        m.d.comb += [self.s.eq(s_j), self.held_j.eq(picked[f + 1]),
                     self.h.eq(decode_field(g_j, s_j))]
        return m
