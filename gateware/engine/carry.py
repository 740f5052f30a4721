"""a + (b ^ c) + cin in one carry chain: on the ECP5 the XOR rides in the carry cells' LUTs.

An ECP5 carry cell (CCU2C, two bits) computes each bit's propagate with a LUT4 of which an
adder uses two inputs (A, B), and D selects the LUT4's half that is the propagate (yosys'
``arith_map`` ties D to 1 and C to 0). C is free: with the propagate A ^ B ^ C the cell adds
A + (B ^ C) with no LUT of its own for the XOR. yosys does not put logic into carry cells,
so :func:`add_xor` instantiates them when ``cells`` is ``"ecp5"``; otherwise it writes the
sum as an Amaranth ``+`` (simulation, other families), or with ``"model"`` as the same
cells evaluated from their INIT (yosys' ``cells_sim.v`` of CCU2C), so that a test checks
the INIT and the wiring against the ``+``.

The field array's lanes use it: b is the column's operand, c a bus shared by a lane slot of
every chunk (the column's complement for a negative sign, or a value to load), so a load
needs no multiplexer per lane (``field_array.py``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Instance, Module, Mux, Signal

__all__ = ["add_xor", "carry_cells", "CCU2C_XOR_INIT"]

#: CCU2C INIT of a bit of a + (b ^ c). The cell computes S = LUT4 ^ CIN and COUT = LUT4 ?
#: CIN : LUT2(A, B), the LUT2 being INIT[3:0]: the upper half (D = 1) is the propagate
#: A ^ B ^ C, bits [3:0] the generate A (where the propagate is 0, A = B ^ C and the carry
#: out is A).
CCU2C_XOR_INIT = 0b1001_0110_0000_1010


def carry_cells(platform) -> str | None:
    """``"ecp5"`` for an ECP5 platform (Amaranth's ``LatticePlatform`` with family "ecp5"),
    else None: the cells :func:`add_xor` builds."""
    return "ecp5" if getattr(platform, "family", None) == "ecp5" else None


def _half_model(a, b, c, cin):
    """One half of a CCU2C with :data:`CCU2C_XOR_INIT` and D = 1, from its INIT:
    (sum, carry out)."""
    init = Const(CCU2C_XOR_INIT, 16)
    lut4 = init.bit_select(Cat(a, b, c, Const(1, 1)), 1)
    lut2 = init.bit_select(Cat(a, b), 1)
    return lut4 ^ cin, Mux(lut4, cin, lut2)


def add_xor(m: Module, a, b, c, cin, cells: str | None = None, name: str = "add"):
    """(a + (b ^ c) + cin) mod 2^len(a); a, b and c of one width, cin one bit.

    The carry-in enters as a bit below a with A = B = cin and C = 0 (propagate 0, generate
    cin), as yosys maps ``Cat(cin, a) + Cat(cin, b)``; the chain is ceil((len(a) + 1) / 2)
    carry cells."""
    width = len(a)
    if cells is None:
        return (Cat(cin, a) + Cat(cin, b ^ c))[1:width + 1]
    if cells not in ("ecp5", "model"):
        raise ValueError(f"cells must be None, 'ecp5' or 'model', not {cells!r}")
    xa, xb, xc = Cat(cin, a), Cat(cin, b), Cat(Const(0, 1), c)
    total = Signal(width, name=f"{name}_sum")
    sums = []
    carry = Const(0, 1)
    for k in range(0, width + 1, 2):
        if cells == "model":
            for bit in range(k, min(k + 2, width + 1)):
                s, cout = _half_model(xa[bit], xb[bit], xc[bit], carry)
                carry = Signal(name=f"{name}_c{bit + 1}")
                m.d.comb += carry.eq(cout)
                sums.append(s)
            continue
        ports = {}
        s0, s1, cout = (Signal(name=f"{name}_s{k}"), Signal(name=f"{name}_s{k + 1}"),
                        Signal(name=f"{name}_co{k}"))
        for half in (0, 1):
            bit = k + half
            inside = bit <= width
            ports[f"i_A{half}"] = xa[bit] if inside else Const(0, 1)
            ports[f"i_B{half}"] = xb[bit] if inside else Const(0, 1)
            ports[f"i_C{half}"] = xc[bit] if inside else Const(0, 1)
            ports[f"i_D{half}"] = Const(1, 1)
        m.submodules[f"{name}_cc{k // 2}"] = Instance(
            "CCU2C", p_INIT0=Const(CCU2C_XOR_INIT, 16), p_INIT1=Const(CCU2C_XOR_INIT, 16),
            p_INJECT1_0="NO", p_INJECT1_1="NO", i_CIN=carry, o_S0=s0, o_S1=s1,
            o_COUT=cout, **ports)
        sums += [s0, s1]
        carry = cout
    m.d.comb += total.eq(Cat(*sums[1:width + 1]))
    return total
