"""Vector building blocks of the CPU engine that numba cannot express: 64 neurons' unstable
flags as the bits of one word, and the bit counts on such words.

numba has no vector types, and LLVM does not turn a loop of ``w |= flag << t`` into a vector
compare and a mask move (it widens every flag to 64 bits and shifts each one: 5x slower than
a count of the same flags). These intrinsics write the LLVM IR directly: 64 lanes of the
fields' type, one ``icmp slt`` to a ``<64 x i1>``, bitcast to an ``i64``, which LLVM lowers to
a mask compare on AVX-512 (``vpcmpw`` + ``kmov``) or to compares and a byte mask move on AVX2,
and to whatever the target has elsewhere. The arithmetic is that of the engine's loops: the
products and sums truncated to the fields' type (``cpu_engine._count_unstable``), so the flags
are the same bits.

Each block is read whole: callers pass a block start ``lo`` with ``lo + 64 <= len``.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["WORD", "popcount", "trailing_zeros", "negative_word", "unstable_word", "flip_word"]

#: Neurons per flag word (the bits of an int64).
WORD = 64

_I64 = ir.IntType(64)


@intrinsic
def popcount(typingctx, x):
    """The set bits of an int64 (LLVM's ctpop: one popcnt where the CPU has it)."""
    if x != types.int64:
        return None

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.ctpop", [_I64])
        return builder.call(fn, [args[0]])
    return types.int64(types.int64), codegen


@intrinsic
def trailing_zeros(typingctx, x):
    """The index of the lowest set bit of a nonzero int64 (LLVM's cttz, zero undefined)."""
    if x != types.int64:
        return None

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.cttz", [_I64, ir.IntType(1)])
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 1)])
    return types.int64(types.int64), codegen


def _same_type_fields(s, h) -> bool:
    return (isinstance(s, types.Array) and isinstance(h, types.Array) and s.ndim == h.ndim == 1
            and s.dtype == h.dtype and isinstance(h.dtype, types.Integer) and h.dtype.signed)


def _block(context, builder, aty, arr, index):
    """Pointer to WORD consecutive elements of a C-contiguous array from the flat ``index``."""
    data = context.make_array(aty)(context, builder, value=arr).data
    vec = ir.VectorType(context.get_data_type(aty.dtype), WORD)
    return builder.bitcast(builder.gep(data, [index]), vec.as_pointer())


def _unstable_bits(builder, s_vec, h_vec):
    """The word of flags s_i * h_i < 0, the product in the fields' own type."""
    negative = builder.icmp_signed("<", builder.mul(s_vec, h_vec), ir.Constant(h_vec.type, None))
    return builder.bitcast(negative, _I64)


@intrinsic
def negative_word(typingctx, a, lo):
    """Bit t of the result: a[lo + t] < 0 (a state's -1 neurons, for its Hamming distances)."""
    if not (_same_type_fields(a, a) and isinstance(lo, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        aty, loty = signature.args
        lo_v = context.cast(builder, args[1], loty, types.intp)
        vec = builder.load(_block(context, builder, aty, args[0], lo_v), align=1)
        negative = builder.icmp_signed("<", vec, ir.Constant(vec.type, None))
        return builder.bitcast(negative, _I64)
    return types.int64(a, lo), codegen


@intrinsic
def unstable_word(typingctx, s, h, lo):
    """Bit t of the result: neuron lo + t is unstable, T(s * h) < 0 (T: the fields' type)."""
    if not (_same_type_fields(s, h) and isinstance(lo, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        sty, hty, loty = signature.args
        sa, ha, lo_v = args
        lo_v = context.cast(builder, lo_v, loty, types.intp)
        s_vec = builder.load(_block(context, builder, sty, sa, lo_v), align=1)
        h_vec = builder.load(_block(context, builder, hty, ha, lo_v), align=1)
        return _unstable_bits(builder, s_vec, h_vec)
    return types.int64(s, h, lo), codegen


@intrinsic
def flip_word(typingctx, cols, off, step, s, h, lo):
    """h[lo:lo+64] += step * the column's elements from the flat offset ``off`` of ``cols``
    (sign-extended, the sums truncated to the fields' type T like the engine's flip), then
    :func:`unstable_word` of the updated block: a flip's field update and the flags it
    changes in one pass over h."""
    ok = (_same_type_fields(s, h) and isinstance(cols, types.Array) and cols.layout == "C"
          and isinstance(cols.dtype, types.Integer) and cols.dtype.signed
          and cols.dtype.bitwidth <= h.dtype.bitwidth
          and all(isinstance(v, types.Integer) for v in (off, step, lo)))
    if not ok:
        return None

    def codegen(context, builder, signature, args):
        cty, offty, stepty, sty, hty, loty = signature.args
        ca, off_v, step_v, sa, ha, lo_v = args
        off_v = context.cast(builder, off_v, offty, types.intp)
        lo_v = context.cast(builder, lo_v, loty, types.intp)
        field = context.get_data_type(hty.dtype)
        vec = ir.VectorType(field, WORD)
        col = builder.load(_block(context, builder, cty, ca, off_v), align=1)
        if col.type != vec:
            col = builder.sext(col, vec)
        step_t = context.cast(builder, step_v, stepty, hty.dtype)
        step_vec = builder.insert_element(ir.Constant(vec, ir.Undefined), step_t,
                                          ir.Constant(ir.IntType(32), 0))
        step_vec = builder.shuffle_vector(step_vec, ir.Constant(vec, ir.Undefined),
                                          ir.Constant(ir.VectorType(ir.IntType(32), WORD), None))
        h_ptr = _block(context, builder, hty, ha, lo_v)
        h_vec = builder.add(builder.load(h_ptr, align=1), builder.mul(col, step_vec))
        builder.store(h_vec, h_ptr, align=1)
        s_vec = builder.load(_block(context, builder, sty, sa, lo_v), align=1)
        return _unstable_bits(builder, s_vec, h_vec)
    return types.int64(cols, off, step, s, h, lo), codegen
