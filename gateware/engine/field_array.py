"""The field array: every neuron's local field h_i and state s_i in a lane of its own.

A flip of neuron j reads the whole column j of W (``weight_store``) and every lane adds
2 s_j' W_ij to its h_i in the same cycle (``docs/numerics.md`` §3); the refresh adds s_j W_ij
column by column after the lanes were loaded with the biases. The unstable flags
s_i h_i < 0 (§3) are combinational outputs of the lane registers, so the selectors see the
new set one cycle after the column arrives.

A lane is kept lean: h_i (ACC_BITS flip-flops), s_i (one), one adder whose operand
(W_ij or 2 W_ij, complemented for a negative sign, the carry-in folded into the adder) costs
one LUT per bit, and the flag (sign bit and an OR of the field's bits). Loading goes by
chunks of K lanes (the host's and the bias memory's word), so no lane has more than a 2:1
input choice.

Members
-------
column: In(N * W_BITS), W_ij of lane i at bits [i W, (i+1) W) (the weight store's read data).
op: In(:class:`FieldOp`), the operation of this cycle (applied at the clock edge).
sign: In(1), the sign (1 = +1) of the column for FLIP and ADD: s_j' for FLIP, s_j for ADD.
index: In(range(N)), j for FLIP (its state becomes ``sign``).
chunk: In(range(C)), the chunk of LOAD_FIELDS and LOAD_STATES.
fields_in: In(K * ACC_BITS), the h of the chunk's K lanes (lane l at bits [l A, (l+1) A)).
states_in: In(K), the states of the chunk's K lanes (bit 1 = +1).
fields: Out(N * ACC_BITS), every h_i, signed, lane i at bits [i A, (i+1) A).
states: Out(N), every s_i (1 = +1).
held: In(N), the clamp mask (§12, bit 1 = held): a held neuron's flag is 0.
flags: Out(N), the unstable flags s_i h_i < 0 of the free neurons, combinational from the
    registers (the mask in the flag's own LUT).
nonzero: Out(N), h_i != 0 (the flags' zero test, which the quantized store's level count
    shares).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import NetworkConfig

__all__ = ["FieldOp", "FieldArray", "unstable_flag", "one_hot"]


class FieldOp(enum.Enum, shape=3):
    """What the field array does at the next clock edge."""
    #: Nothing.
    HOLD = 0
    #: h_i += 2 sign W_ij for every lane, s_index <- sign (a flip of j, §3).
    FLIP = 1
    #: h_i += sign W_ij for every lane (one column of the refresh, sign = s_j).
    ADD = 2
    #: h_i <- fields_in for the K lanes of ``chunk`` (the refresh's h = b, or a restore).
    LOAD_FIELDS = 3
    #: s_i <- states_in for the K lanes of ``chunk`` (a state write while h is stale).
    LOAD_STATES = 4
    #: h_i <- 0 and s_i <- -1 for every lane.
    CLEAR = 5
    #: h_i <- 0 for every lane, s_i kept (the quantized store's sum starts from it, §14).
    ZERO_FIELDS = 6


def unstable_flag(state, field, nonzero=None):
    """s h < 0 of one lane (§3), spelled as sign bit and non-zero test (``nonzero``: the
    field's, if already computed): ``> 0`` would be a subtraction's carry chain."""
    negative = field[-1]
    return Mux(state, negative, ~negative & (field.any() if nonzero is None else nonzero))


def one_hot(m: Module, index, n: int, enable, name: str = "sel"):
    """``enable & (index == i)`` for i in [0, n), by a two-level decode: the index's low and
    high halves each decoded once (2 x sqrt(n) lines), then one 2-input AND a line. An
    ``index == i`` per line is a ceil(log2 n)-input compare each: about 4 LUT4s a line at
    n = 1024 against 1."""
    bits = len(index)
    lo_bits = bits // 2
    lo = [Signal(name=f"{name}_lo{a}") for a in range(1 << lo_bits)]
    hi = [Signal(name=f"{name}_hi{b}") for b in range(1 << (bits - lo_bits))]
    m.d.comb += [line.eq(index[:lo_bits] == a) for a, line in enumerate(lo)]
    m.d.comb += [line.eq(enable & (index[lo_bits:] == b)) for b, line in enumerate(hi)]
    lines = []
    for i in range(n):
        line = Signal(name=f"{name}{i}")
        m.d.comb += line.eq(lo[i & ((1 << lo_bits) - 1)] & hi[i >> lo_bits])
        lines.append(line)
    return lines


class FieldArray(wiring.Component):
    def __init__(self, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        self.config = config
        n, k, a = config.neurons, config.lanes, config.acc_bits
        super().__init__({
            "column": In(n * config.weight_bits),
            "op": In(FieldOp),
            "sign": In(1),
            "index": In(range(n)),
            "chunk": In(range(config.chunks)),
            "fields_in": In(k * a),
            "states_in": In(k),
            "held": In(n),
            "fields": Out(n * a),
            "states": Out(n),
            "flags": Out(n),
            "nonzero": Out(n),
        })

    def elaborate(self, platform):
        cfg = self.config
        n, k, a, wb = cfg.neurons, cfg.lanes, cfg.acc_bits, cfg.weight_bits
        m = Module()
        flip = self.op == FieldOp.FLIP
        negate = ~self.sign                      # subtract: add the complement, carry in 1
        flips = one_hot(m, self.index, n, flip, "flip")
        for i in range(n):
            h = Signal(signed(a), name=f"h{i}")
            s = Signal(name=f"s{i}")
            w = self.column[i * wb:(i + 1) * wb].as_signed()
            operand = Signal(signed(a), name=f"w{i}")       # sign-extended
            m.d.comb += operand.eq(Mux(flip, w << 1, w))
            operand_c = Signal(a, name=f"x{i}")
            m.d.comb += operand_c.eq(operand ^ negate.replicate(a))
            # h + operand_c + negate as ONE adder: the low bits (negate + negate) carry
            # ``negate`` into bit 1.
            total = (Cat(negate, h) + Cat(negate, operand_c))[1:a + 1]
            in_chunk = self.chunk == i // k
            lane = i % k
            with m.Switch(self.op):
                with m.Case(FieldOp.FLIP, FieldOp.ADD):
                    m.d.sync += h.eq(total)
                with m.Case(FieldOp.LOAD_FIELDS):
                    with m.If(in_chunk):
                        m.d.sync += h.eq(self.fields_in[lane * a:(lane + 1) * a])
                with m.Case(FieldOp.CLEAR):
                    m.d.sync += [h.eq(0), s.eq(0)]
                with m.Case(FieldOp.ZERO_FIELDS):
                    m.d.sync += h.eq(0)
            with m.If(flips[i]):
                m.d.sync += s.eq(self.sign)
            with m.If((self.op == FieldOp.LOAD_STATES) & in_chunk):
                m.d.sync += s.eq(self.states_in[lane])
            m.d.comb += [self.fields[i * a:(i + 1) * a].eq(h), self.states[i].eq(s),
                         self.nonzero[i].eq(h.any()),
                         self.flags[i].eq(unstable_flag(s, h, self.nonzero[i])
                                          & ~self.held[i])]
        return m
