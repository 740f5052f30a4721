"""Compiled CPU engine: the golden model's dynamics in numba, bit-exact and at native speed.

Every public function has the signature and result type of its golden twin, so one can be
swapped for the other:

- :func:`run_binary` = :func:`hopfield_fpga.sim.golden.run_binary` (a :class:`~golden.RunResult`
  equal in every field, the flip trace included);
- :func:`store_hebbian` = :func:`golden.store_hebbian` (§9, saturating) and
  :func:`store_hebbian_quantized` = :func:`golden.store_hebbian_quantized` (§14);
- :func:`run_graded_fixed` = :func:`hopfield_fpga.sim.graded.run_graded_fixed` (§11);
- :func:`run_binary_many` runs many probes on the cores the batch pays for; each probe's
  result is that of :func:`run_binary` on it, whatever the number of threads.

Inputs go through the golden model's own checkers, so bad input gets the same error. The
arithmetic follows ``docs/numerics.md`` exactly: the xorshift32 generator, the seed scrambling,
the index draw and the Glauber threshold have compiled twins (``*_c``) of the functions in
:mod:`hopfield_fpga.numerics`, built from its constants (frozen by numba at compile time).

Cost, as in the hardware: the local fields h are kept up to date per flip with one weight
column, so a visit that does not flip costs O(1) and a flip O(N). Weights are held in the
narrowest integer type that the configuration's W_BITS fits (int8 or int16), transposed so that
a column is contiguous. The states and fields are int16 when the network's own bound on |h|
(max_i sum_j |W_ij| + |b_i|, which holds in every state) fits, else int32, which holds every
configuration (checked at import): half the bytes per flip, twice the numbers per vector.

:class:`PreparedNetwork` checks and converts a network once and then recalls probes the way a
board does: it keeps the last final state and its fields resident, and loads the next probe as
the changed bits (or from the all +1 / all -1 state, whichever is fewest columns), so a recall
costs O(N) per changed bit, not O(N^2). :func:`run_binary_many` and the benchmark use it; a
batch's thread keeps its last distinct fixed points too (``_RECENT``) and loads each probe
from the nearest.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import os

import numba
import numpy as np

from hopfield_fpga.cache import cache_dir
from hopfield_fpga.config import MAX_BIAS_BITS, MAX_NEURONS, MAX_WEIGHT_BITS, NetworkConfig, Order
from hopfield_fpga.numerics import (
    FMIX32_MULTIPLIERS, FMIX32_SHIFTS, GRADED_SLOPE_FRAC, GRADED_V_FRAC, GRADED_V_ONE,
    GRADED_X_BITS, LOGISTIC_BREAKPOINTS, LOGISTIC_ONE, LOGISTIC_VALUES, XORSHIFT_SHIFTS,
    XORSHIFT_ZERO_SEED, seed_state,
)
from . import golden, graded
from .cpu_simd import WORD, flip_word, negative_word, popcount, trailing_zeros, unstable_word
from .golden import FlipEvent, RunResult

__all__ = [
    "run_binary", "run_binary_many", "store_hebbian", "store_hebbian_quantized",
    "run_graded_fixed", "PreparedNetwork",
    "BatchResult", "default_threads",
    "xorshift32_c", "fmix32_c", "seed_state_c", "draw_index_c", "logistic_p16_c",
    "glauber_threshold_c",
]

# numba's compiled-code cache goes to the user cache, never beside the installed sources (a wheel
# must not write into site-packages); NUMBA_CACHE_DIR, when the user set it, wins. The decorators
# below read numba.config.CACHE_DIR, so it is set before them.
if not numba.config.CACHE_DIR:
    numba.config.CACHE_DIR = str(cache_dir("numba"))

# -- spec constants, frozen into the compiled code ----------------------------------------------

_WORD_BITS = 32                                  # xorshift32's word (numerics.md §5)
_MASK32 = (1 << _WORD_BITS) - 1
_XS_A, _XS_B, _XS_C = XORSHIFT_SHIFTS
_ZERO_SEED = XORSHIFT_ZERO_SEED
_FM_S0, _FM_S1, _FM_S2 = FMIX32_SHIFTS
_FM_M0, _FM_M1 = (np.uint64(m) for m in FMIX32_MULTIPLIERS)
_LOG_BP = np.array(LOGISTIC_BREAKPOINTS, dtype=np.int64)
_LOG_VAL = np.array(LOGISTIC_VALUES, dtype=np.int64)
# Every segment of the logistic is a power of two wide: its interpolation divides by a shift.
_LOG_SHIFT = np.array([(b - a).bit_length() - 1 for a, b in
                       zip(LOGISTIC_BREAKPOINTS, LOGISTIC_BREAKPOINTS[1:])], dtype=np.int64)
_LOG_ONE = LOGISTIC_ONE
# §8: the Glauber comparison uses the top bits of a word, as many as p has fractional bits.
_GLAUBER_SHIFT = _WORD_BITS - (LOGISTIC_ONE.bit_length() - 1)
_SEQUENTIAL, _RANDOM, _REJECTION_FREE, _SYNCHRONOUS = int(Order.SEQUENTIAL), \
    int(Order.RANDOM), int(Order.REJECTION_FREE), int(Order.SYNCHRONOUS)
_STOP_CODES = RunResult.STOP_REASONS             # the kernel reports an index into these
_CONVERGED, _CAP, _CYCLE2 = (_STOP_CODES.index(r) for r in ("converged", "cap", "cycle2"))

# h and the column sums are int32 for every configuration the spec allows (§2: field_bound).
_WIDEST = NetworkConfig(neurons=MAX_NEURONS, weight_bits=MAX_WEIGHT_BITS,
                        bias_bits=MAX_BIAS_BITS, lanes=1)
assert _WIDEST.acc_bits <= np.iinfo(np.int32).bits, "local fields no longer fit int32"
# Counts of neurons are taken in the fields' type, int16 at the narrowest (_load_probe).
assert MAX_NEURONS <= np.iinfo(np.int16).max, "a count of neurons no longer fits int16"


def _weight_dtype(config: NetworkConfig):
    """The narrowest signed integer type that holds W_BITS-bit weights."""
    return np.int8 if config.weight_bits <= np.iinfo(np.int8).bits else np.int16


def _field_dtype(w: np.ndarray, b: np.ndarray):
    """The narrowest signed type that holds every local field this network can have (§2)."""
    bound = int((np.abs(w).sum(axis=1) + np.abs(b)).max(initial=0))
    return np.int16 if bound <= np.iinfo(np.int16).max else np.int32


def default_threads() -> int:
    """Threads :func:`run_binary_many` uses by default: the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


#: The kernels that take arrays and allocate none (nor return a view of one) are compiled
#: without numba's reference counting (NRT): a call that LLVM does not inline (any function
#: with a branch around a loop) would otherwise incref and decref every array argument on
#: entry and exit, calls into the runtime each. Measured on the unstable flags of N = 256
#: (:func:`_unstable_words`, a loop and the partial word's branch): 173 ns a call with them,
#: 44 ns without. Such a kernel must not keep, allocate or return an array.
_leaf = numba.njit(cache=True, nogil=True, _nrt=False)


# -- compiled twins of hopfield_fpga.numerics (§5, §8) ------------------------------------------

@numba.njit(cache=True, nogil=True)
def xorshift32_c(x):
    """One step of xorshift32 on a 32-bit state held in an int64 (numerics.xorshift32)."""
    x ^= (x << _XS_A) & _MASK32
    x ^= x >> _XS_B
    x ^= (x << _XS_C) & _MASK32
    return x


@numba.njit(cache=True, nogil=True)
def fmix32_c(x):
    """MurmurHash3's finalizer (numerics.fmix32), in uint64 so the products wrap harmlessly."""
    mask = np.uint64(_MASK32)
    y = np.uint64(x)
    y ^= y >> np.uint64(_FM_S0)
    y = (y * _FM_M0) & mask
    y ^= y >> np.uint64(_FM_S1)
    y = (y * _FM_M1) & mask
    y ^= y >> np.uint64(_FM_S2)
    return np.int64(y)


@numba.njit(cache=True, nogil=True)
def seed_state_c(seed):
    """numerics.seed_state for a seed already known to be in [0, 2**32)."""
    return fmix32_c(seed) if seed != 0 else np.int64(_ZERO_SEED)


@numba.njit(cache=True, nogil=True)
def _bit_length(v):
    m = 0
    while v:
        m += 1
        v >>= 1
    return m


@numba.njit(cache=True, nogil=True)
def draw_index_c(x, n):
    """numerics.draw_index: (index uniform in [0, n), new state, words drawn)."""
    m = _bit_length(n - 1)
    words = 0
    while True:
        x = xorshift32_c(x)
        words += 1
        idx = x >> (_WORD_BITS - m) if m else 0
        if idx < n:
            return idx, x, words


@numba.njit(cache=True, nogil=True)
def logistic_p16_c(t):
    """numerics.logistic_p16: the PWL logistic, P(+1) * 65536, for the fixed-point t."""
    a = -t if t < 0 else t
    last = len(_LOG_BP) - 1
    if a >= _LOG_BP[last]:
        p = _LOG_ONE
    else:
        k = 0
        while _LOG_BP[k + 1] <= a:
            k += 1
        p = _LOG_VAL[k] + (((_LOG_VAL[k + 1] - _LOG_VAL[k]) * (a - _LOG_BP[k])) >> _LOG_SHIFT[k])
    return _LOG_ONE - p if t < 0 else p


@numba.njit(cache=True, nogil=True)
def glauber_threshold_c(beta_fixed, h):
    """numerics.glauber_threshold: s becomes +1 iff (word >> 16) < this."""
    return logistic_p16_c(2 * beta_fixed * h)


# -- the binary dynamics (§3-§8) ----------------------------------------------------------------

@_leaf
def _fields(cols, b, s, h):
    """h = W s + b from scratch (§2), a column at a time."""
    n = len(b)
    for i in range(n):
        h[i] = b[i]
    for j in range(n):
        col = cols[j]
        sj = s[j]
        for i in range(n):
            h[i] += sj * col[i]


@_leaf
def _load_probe(cols, h_plus, h_minus, s, h, probe, work):
    """Make (s, h) the probe and its fields, starting from whichever known state is closest:
    the resident (s, h), all +1 (h = ``h_plus``) or all -1 (h = ``h_minus``), both in h's
    type. Exact (§3). ``work`` is scratch (:func:`_scratch`)."""
    n = len(s)
    T = h.dtype.type
    # The counts in T (n <= MAX_NEURONS fits it): in int64 or even int32, LLVM left this loop
    # scalar, 8x slower.
    differ = T(0)
    plus = T(0)
    for i in range(n):
        differ = T(differ + T(probe[i] != s[i]))
        plus = T(plus + T(probe[i] > 0))
    if differ == 0:
        return
    if plus < differ or n - plus < differ:
        base = 1 if n - plus <= plus else -1        # the all-equal state with fewer changes
        start = h_plus if base > 0 else h_minus
        for i in range(n):
            s[i] = base
            h[i] = start[i]
    # The changed columns four per pass over h: a quarter of h's loads and stores. The sums
    # are taken in h's type T: they may wrap on the way, but the result (a field) fits T, and
    # wrapping sums are exact modulo 2**bits.
    changed = work                               # its first n entries
    m = 0
    for j in range(n):                           # branch-free: a changed bit is unpredictable
        changed[m] = j
        m += probe[j] != s[j]
    k = 0
    while k + 4 <= m:
        j0, j1, j2, j3 = changed[k], changed[k + 1], changed[k + 2], changed[k + 3]
        t0, t1 = T(2 * probe[j0]), T(2 * probe[j1])
        t2, t3 = T(2 * probe[j2]), T(2 * probe[j3])
        for i in range(n):
            h[i] = T(h[i] + T(t0 * cols[j0, i]) + T(t1 * cols[j1, i]) + T(t2 * cols[j2, i])
                     + T(t3 * cols[j3, i]))
        k += 4
    for t in range(k, m):
        j = changed[t]
        step = T(2 * probe[j])
        for i in range(n):
            h[i] = T(h[i] + T(step * cols[j, i]))
    for t in range(m):
        s[changed[t]] = probe[changed[t]]


# _CALLS: the steps of a flip (the scan, the flip) are ordinary compiled calls, one copy each.
# numba's own inliner (``inline="always"``, on its IR) made the run loop slower, not faster:
# the loop then holds extra reference counting of the arrays the inlined call takes (more
# NRT_incref/NRT_decref calls in its assembly). Measured on the sequential loop alone (N = 256,
# 30% noise, 81 flips, from given fields; docs/engine.md, "Where the 2x went"): 7.25 us a run
# with the flip inlined so, 2.48 us with it called, 1.77 us with its code written in the loop.

#: Neurons that :func:`_first_unstable` tests one by one before it goes a block at a time.
_NEAR = 8

#: Neurons per block of the sequential scan's vector loop.
_BLOCK = 64


@numba.njit(cache=True, nogil=True)
def _scratch_size(n):
    """Entries of the kernels' scratch: the changed bits of a probe (n), then the unstable
    flags in words of WORD neurons, then the free (unclamped) neurons' bits in the same
    words."""
    return n + 2 * ((n + WORD - 1) // WORD)


def _scratch(n: int) -> np.ndarray:
    return np.empty(_scratch_size(n), dtype=np.int64)


#: Rows of a traced run's first buffer; a run with more flips runs again with room for all.
_TRACE_ROWS = 256


@_leaf
def _free_words(free, n, freew):
    """The free (unclamped, §12) neurons as bits of WORD-neuron words into ``freew``.
    ``free`` is 1 for a free neuron and 0 for a clamped one, in h's type, or empty when no
    neuron is clamped (every bit set); bit t of word k is neuron WORD k + t. The unstable
    flags are taken with these (:func:`_unstable_words`)."""
    for k in range(len(freew)):
        freew[k] = -1
    if len(free):
        for i in range(n):
            if free[i] == 0:
                freew[i // WORD] &= ~(np.int64(1) << (i % WORD))


@_leaf
def _tail_word(s, h, lo):
    """The unstable flags of neurons lo..N-1 (fewer than WORD: the last, partial word): the
    word of the last WORD neurons shifted down past the ones before lo when N >= WORD (a
    loop of a neuron at a time costs 4x a whole vector word), else one neuron at a time, the
    product in the fields' type T like the vector words'."""
    n = len(s)
    if n >= WORD:
        return np.int64(np.uint64(unstable_word(s, h, n - WORD)) >> np.uint64(WORD - (n - lo)))
    T = h.dtype.type
    w = np.int64(0)
    for i in range(lo, n):
        w |= np.int64(T(s[i] * h[i]) < 0) << (i - lo)
    return w


@_leaf
def _unstable_words(s, h, freew, words):
    """|U| (§3; §12: unclamped neurons only, ``freew`` from :func:`_free_words`), and the
    unstable flags themselves as bits of ``words`` (bit t of word k: neuron WORD k + t), a
    vector compare per word (:mod:`cpu_simd`). Rejection-free order draws its k-th unstable
    neuron from these (:func:`_kth_unstable`)."""
    n = len(s)
    full = n // WORD
    total = np.int64(0)
    for k in range(full):
        w = unstable_word(s, h, k * WORD) & freew[k]
        words[k] = w
        total += popcount(w)
    if full < len(words):
        w = _tail_word(s, h, full * WORD) & freew[full]
        words[full] = w
        total += popcount(w)
    return total


@_leaf
def _kth_unstable(words, k):
    """The k-th unstable unclamped neuron in increasing index order (§4, §12), from the flag
    words of :func:`_unstable_words`: the word by the bit counts of the words before it, then
    its k lowest set bits cleared and the next one's index: O(N / WORD + WORD)."""
    b = 0
    c = popcount(words[0])
    while k >= c:
        k -= c
        b += 1
        c = popcount(words[b])
    w = words[b]
    for _ in range(k):
        w &= w - 1
    return b * WORD + trailing_zeros(w)


@_leaf                     # see _CALLS
def _first_unstable(s, h, free, lo, hi):
    """The first unstable unclamped neuron among lo..hi-1, or -1 (``free`` as in
    :func:`_free_words`): a vector loop tells whether a block of _BLOCK neurons has one,
    and only that block is searched one neuron at a time. The first few neurons are tested
    one by one before: between two flips a sequential run passes N / (flips a sweep) stable
    ones, about 8 in the benchmark's recalls, fewer than a block's vector loop costs."""
    T = h.dtype.type
    near = min(hi, lo + _NEAR)
    for i in range(lo, near):
        if T(s[i] * h[i]) < 0 and (len(free) == 0 or free[i]):
            return i
    lo = near
    while lo < hi:
        end = min(hi, lo + _BLOCK)
        c = T(0)
        if len(free) == 0:
            for i in range(np.uint64(lo), np.uint64(end)):
                c = T(c + (T(s[i] * h[i]) < 0))
        else:
            for i in range(np.uint64(lo), np.uint64(end)):
                c = T(c + (T(s[i] * h[i] * free[i]) < 0))
        if c:
            for i in range(lo, end):
                if s[i] * h[i] < 0 and (len(free) == 0 or free[i]):
                    return i
        lo = end
    return -1



@_leaf
def _all_free(free):
    """No neuron clamped (``free`` as in :func:`_free_words`): a count in free's own type
    without an early exit, one vector loop (a loop that stopped at the first 0 ran a neuron at
    a time: 114 ns at N = 256, 401 ns at N = 1024, each run)."""
    T = free.dtype.type
    held = T(0)
    for i in range(len(free)):
        held = T(held | T(free[i] ^ T(1)))
    return held == 0


@_leaf
def _delta2(cols, diag, b, s, h, j, new, symmetric):
    """The exact delta 2E (§6) of flipping neuron j to ``new`` from (s, h), before the flip."""
    hj = np.int64(h[j])
    if symmetric:
        c_j = hj - b[j]                      # §6: for symmetric W, c_j = h_j - b_j
    else:
        c = 0
        for i in range(len(s)):
            c += cols[j, i] * s[i]           # column field of the old state
        c_j = np.int64(c)
    return -2 * new * (hj + c_j + b[j] + 2 * np.int64(diag[j]) * new)


@_leaf                     # see _CALLS
def _flip(cols, diag, b, s, h, j, new, symmetric):
    """Flip neuron j to ``new`` (§3): update s and h, return the exact delta 2E (§6).

    Simple separate loops: each one vectorizes, a fused loop does not.
    """
    d2 = _delta2(cols, diag, b, s, h, j, new, symmetric)
    s[j] = new
    # In h's own type T: numba would compute h + step * col in int64, four numbers per AVX2
    # vector instead of sixteen (the sums may wrap on the way; the fields fit T, see
    # _load_probe).
    T = h.dtype.type
    step = T(2 * new)
    for i in range(len(s)):
        h[i] = T(h[i] + T(step * cols[j, i]))
    return d2


@_leaf
def _flip_words(cols, diag, b, s, h, j, new, symmetric, freew, words):
    """:func:`_flip` and then :func:`_unstable_words` in one pass over h: each word's block
    of fields is updated and its flags taken while in registers (:func:`cpu_simd.flip_word`).
    Returns (delta 2E, |U| after the flip)."""
    d2 = _delta2(cols, diag, b, s, h, j, new, symmetric)
    s[j] = new
    n = len(s)
    T = h.dtype.type
    step = T(2 * new)
    full = n // WORD
    total = np.int64(0)
    for k in range(full):
        w = flip_word(cols, j * n + k * WORD, step, s, h, k * WORD) & freew[k]
        words[k] = w
        total += popcount(w)
    if full < len(words):
        for i in range(full * WORD, n):
            h[i] = T(h[i] + T(step * cols[j, i]))
        w = _tail_word(s, h, full * WORD) & freew[full]
        words[full] = w
        total += popcount(w)
    return d2, total


@_leaf
def _energy2(b, s, h):
    """2E = -sum_i s_i (h_i + b_i) (§6); s is +1/-1, so a select, not a 64-bit product (which
    AVX2 cannot vectorize)."""
    e2 = np.int64(0)
    for i in range(len(s)):
        v = np.int64(h[i]) + b[i]
        e2 += -v if s[i] > 0 else v
    return e2


@_leaf
def _record(events, flips, visits, j, new, d2):
    """Row ``flips`` of the trace, if ``events`` has it (else the run is traced again, see
    :func:`_run_traced`). The buffer never grows inside a run: a run loop that reassigned
    its trace array (to grow it) was 10-25% slower a run, traced or not (docs/engine.md)."""
    if flips < len(events):
        events[flips, 0] = visits
        events[flips, 1] = j
        events[flips, 2] = new
        events[flips, 3] = d2


@numba.njit(cache=True, nogil=True)
def _run_synchronous(cols, diag, b, s, h, free, cap, want_trace, symmetric, other, events):
    """A synchronous run (§13), as :func:`_run`: before each step a fixed point ends it, then a
    2-cycle (the state equals the one two steps back; its other state goes to ``other``), then
    the cap (a step of N visits must fit). A step flips every unclamped unstable neuron, decided
    on the fields before the step, applied in index order (so the trace's delta 2E are those of
    §6 on the partly updated state)."""
    n = len(s)
    e2 = _energy2(b, s, h)
    changing = np.empty(n, dtype=np.int64)
    back1 = s.copy()                                 # s(t-1) and s(t-2), valid from step 1, 2
    back2 = s.copy()
    visits = np.int64(0)
    flips = np.int64(0)                              # never a literal: one _record
    steps = 0
    while True:
        m = 0
        for i in range(n):
            if s[i] * h[i] * free[i] < 0:
                changing[m] = i
                m += 1
        if m == 0:
            stop = _CONVERGED
            break
        if steps >= 2:
            same = True
            for i in range(n):
                if s[i] != back2[i]:
                    same = False
                    break
            if same:
                for i in range(n):
                    other[i] = back1[i]
                stop = _CYCLE2
                break
        if visits + n > cap:
            stop = _CAP
            break
        back2[:] = back1
        back1[:] = s
        for t in range(m):
            j = changing[t]
            new = -1 if s[j] > 0 else 1
            d2 = _flip(cols, diag, b, s, h, j, new, symmetric)
            if want_trace:
                _record(events, flips, visits + j, j, new, d2)
            e2 += d2
            flips += 1
        visits += n
        steps += 1
    return visits, flips, e2, stop, stop == _CONVERGED, events[:flips]


@_leaf
def _random_visits(s, h, free, rng, m, visits, cap, quiet):
    """Random-order visits (§5: the index draw, ``m`` bits a word) from visit ``visits`` on,
    while ``visits`` < ``cap`` and fewer than N in a row (``quiet`` so far) found a stable
    neuron: returns (the unstable unclamped neuron drawn, or -1 when the cap or N stable
    visits in a row came first; the generator state; visits; quiet). A small loop of its own:
    inside the whole run LLVM made it 3-4x slower."""
    n = len(s)
    # One limit instead of two tests a visit; the generator in 32-bit words (xorshift32 as is:
    # in the int64 of xorshift32_c every left shift needs a mask, 8 dependent steps, not 6).
    end = min(cap, visits + (n - quiet))
    start = visits
    x = np.uint32(rng)
    shift = np.uint32(_WORD_BITS - m)
    T = h.dtype.type
    while visits < end:
        while True:
            x ^= np.uint32(x << np.uint32(_XS_A))
            x ^= np.uint32(x >> np.uint32(_XS_B))
            x ^= np.uint32(x << np.uint32(_XS_C))
            j = np.int64(x >> shift) if m else np.int64(0)
            if j < n:
                break
        if T(s[j] * h[j] * free[j]) < 0:
            return j, np.int64(x), visits, quiet + (visits - start)
        visits += 1
    return -1, np.int64(x), visits, quiet + (visits - start)


@numba.njit(cache=True, nogil=True)
def _run(cols, diag, b, s, h, free, order, rng, cap, schedule, want_trace, symmetric, other,
         work, events):
    """One run from (s, h), in place. Returns (visits, flips, 2E, stop code, converged,
    events): events is a (flips x 4) array (visit, index, value, delta 2E) if ``want_trace``.

    ``schedule`` empty means deterministic neurons; ``rng`` is the loaded generator state;
    ``free`` is 0 for the clamped neurons (§12), 1 for the others; a synchronous run that ends
    at a 2-cycle writes the cycle's other state into ``other``. ``work`` is scratch
    (:func:`_scratch`), made by the caller once per batch (an allocation costs as much as a
    short recall); ``events`` the trace's buffer: a run with more flips than its rows records
    the first ones only (:func:`_run_traced` runs it again).
    """
    if order == _SYNCHRONOUS:
        return _run_synchronous(cols, diag, b, s, h, free, cap, want_trace, symmetric, other,
                                events)
    n = len(s)
    mask = free[:0] if _all_free(free) else free     # the counts' fast loop when none is held
    e2 = _energy2(b, s, h)
    words_n = (n + WORD - 1) // WORD
    words = work[n:n + words_n]                      # the unstable flags (_unstable_words)
    freew = work[n + words_n:n + 2 * words_n]
    _free_words(mask, n, freew)
    visits = np.int64(0)
    flips = np.int64(0)                              # never a literal: one _record
    stop = 1                                         # cap, unless a fixed point ends the run
    if len(schedule) == 0 and order == _REJECTION_FREE:
        # The flags are kept up to date in the flip's own pass over h (_flip_words), so a
        # flip reads h once, and the k-th unstable neuron is found from the flag words.
        n_unstable = _unstable_words(s, h, freew, words)
        while True:
            if n_unstable == 0:                      # §7: the fixed point before the cap
                stop = 0
                break
            if visits >= cap:
                break
            k, rng, _ = draw_index_c(rng, n_unstable)
            j = _kth_unstable(words, k)
            new = 1 if h[j] > 0 else -1
            d2, n_unstable = _flip_words(cols, diag, b, s, h, j, new, symmetric, freew, words)
            if want_trace:
                _record(events, flips, visits, j, new, d2)
            e2 += d2
            flips += 1
            visits += 1
        converged = stop == 0
    elif len(schedule) == 0:
        # §7 checks for a fixed point before every visit. Counting the unstable neurons after
        # every flip would double a flip's cost; the state changes only at flips, so if it is
        # a fixed point after the last flip, the run ended right there (visits = after_flip)
        # and every later visit finds a stable neuron.
        # - Sequential order (§4): the visits between two flips are stable neurons, so the run
        #   scans for the next unstable one (a block per vector loop) and counts the stable ones
        #   it passed as visits. A scan that finds none in a whole sweep is the fixed point.
        #   Otherwise the cap ends the run if it falls before that neuron's visit.
        # - Random order (§5): every visit draws its index; the unstable neurons are counted
        #   after n stable visits in a row and at the cap.
        # A fixed point from the start: the sequential scan finds it in its first sweep; for
        # random order the first unstable neuron tells (usually after a few, not n, tests).
        if order != _SEQUENTIAL and _unstable_words(s, h, freew, words) == 0:
            stop = 0
        m = _bit_length(n - 1)
        after_flip = np.int64(0)
        quiet = 0
        pos = np.int64(0)                       # not a literal: one _first_unstable
        while stop != 0:
            if order == _SEQUENTIAL:
                j = _first_unstable(s, h, mask, pos, n)
                if j < 0:                            # the sweep's wrap
                    j = _first_unstable(s, h, mask, np.int64(0), pos)
                if j < 0:
                    stop = 0
                    visits = after_flip
                    break
                stable = j - pos if j >= pos else j + n - pos
                if visits + stable >= cap:
                    visits = np.int64(cap)
                    break
                visits += stable
            else:
                j, rng, visits, quiet = _random_visits(s, h, free, rng, m, visits, cap, quiet)
                if j < 0 and visits >= cap:
                    if flips and _unstable_words(s, h, freew, words) == 0:
                        stop = 0
                        visits = after_flip
                    break
                if j < 0:                            # n stable visits in a row
                    quiet = 0
                    if _unstable_words(s, h, freew, words) == 0:
                        stop = 0
                        visits = after_flip
                    continue
            new = 1 if h[j] > 0 else -1
            d2 = _flip(cols, diag, b, s, h, j, new, symmetric)
            if want_trace:
                _record(events, flips, visits, j, new, d2)
            e2 += d2
            flips += 1
            visits += 1
            after_flip = visits
            quiet = 0
            pos = j + 1 if j + 1 < n else np.int64(0)
        converged = stop == 0
    else:
        last = len(schedule) - 1
        sweep = 0
        pos = 0
        while visits < cap:
            if order == _SEQUENTIAL:
                j = pos
            else:
                j, rng, _ = draw_index_c(rng, n)     # §5: the index draw first ...
            rng = xorshift32_c(rng)                  # ... then the Glauber word
            beta_fx = schedule[sweep if sweep < last else last]
            new = 1 if (rng >> _GLAUBER_SHIFT) < glauber_threshold_c(beta_fx, h[j]) else -1
            if new != s[j] and free[j]:              # §12: the word is drawn anyway
                d2 = _flip(cols, diag, b, s, h, j, new, symmetric)
                if want_trace:
                    _record(events, flips, visits, j, new, d2)
                e2 += d2
                flips += 1
            visits += 1
            pos += 1
            if pos == n:                             # the sweep of §8's schedule
                pos = 0
                sweep += 1
        converged = _unstable_words(s, h, freew, words) == 0
    return visits, flips, e2, stop, converged, events[:flips]


def _run_traced(cols, diag, b, s, h, free, order, rng, cap, schedule, trace, symmetric, other,
                work):
    """:func:`_run` with its trace buffer: a run with more flips than the first buffer's rows
    runs again from the same (s, h) with a row for every flip (runs are deterministic)."""
    if not trace:
        return _run(cols, diag, b, s, h, free, order, rng, cap, schedule, trace, symmetric,
                    other, work, np.empty((0, 4), dtype=np.int64))
    start = (s.copy(), h.copy())
    events = np.empty((_TRACE_ROWS, 4), dtype=np.int64)
    out = _run(cols, diag, b, s, h, free, order, rng, cap, schedule, trace, symmetric, other,
               work, events)
    if out[1] > len(events):
        s[:], h[:] = start
        out = _run(cols, diag, b, s, h, free, order, rng, cap, schedule, trace, symmetric,
                   other, work, np.empty((out[1], 4), dtype=np.int64))
    return out


#: Fixed points a batch's thread keeps with their fields (the last ones, each once): a probe
#: loads from the nearest of them (or all +1 / all -1, :func:`_load_probe`). Noisy probes of
#: stored patterns mostly end at a few fixed points, and a probe's distance to its own
#: pattern's (10% noise: ~N/10 columns) is far below that to the last probe's (another
#: pattern's: ~N/2). Its cost when none is near: a Hamming distance to each, in words.
_RECENT = 128


@_leaf
def _nearest(x, bits, table, count):
    """(row, Hamming distance) of the row of ``table[:count]`` nearest to the state ``x``,
    the first one of the least distance, or (-1, more than N) when count is 0. The rows and
    ``bits`` (x's, written here) hold a state's -1 entries as bits of WORD-neuron words (as
    the unstable flags, :func:`_unstable_words`): a distance is a popcount per word."""
    n = len(x)
    full = n // WORD
    for k in range(full):
        bits[k] = negative_word(x, k * WORD)
    if full < len(bits):
        lo = full * WORD
        if n >= WORD:                                # the last WORD entries, shifted down
            w = np.int64(np.uint64(negative_word(x, n - WORD)) >> np.uint64(WORD - (n - lo)))
        else:
            w = np.int64(0)
            for i in range(lo, n):
                w |= np.int64(x[i] < 0) << (i - lo)
        bits[full] = w
    best, least = -1, len(bits) * WORD + 1
    for r in range(count):
        d = 0
        for k in range(len(bits)):
            d += popcount(bits[k] ^ table[r, k])
        if d < least:
            best, least = r, d
    return best, least


@numba.njit(cache=True, nogil=True)
def _run_block(cols, diag, h_plus, h_minus, b, symmetric, probes, rngs, free, order, cap,
               schedule, states, others, counts, s, h, lo, hi, no_trace):
    """Probes lo..hi-1 one after the other on one resident (s, h) (this thread's own arrays,
    their contents overwritten): the work of one thread. Each probe starts from the nearest
    of the last _RECENT distinct fixed points of this block (their fields kept beside them),
    then from all +1 / all -1 if nearer (:func:`_load_probe`); every start is exact, so each
    result is :func:`_run`'s from the probe whatever the block. ``no_trace`` is False, passed
    in so that :func:`_run` is called with a bool, not the literal False (numba would compile
    a second copy of it for the literal)."""
    n = len(b)
    for i in range(n):
        s[i] = 1
        h[i] = h_plus[i]
    work = np.empty(_scratch_size(n), dtype=np.int64)
    events = np.empty((0, 4), dtype=np.int64)
    words_n = (n + WORD - 1) // WORD
    seen_s = np.empty((_RECENT, n), dtype=s.dtype)   # a ring of fixed points, each once
    seen_h = np.empty((_RECENT, n), dtype=h.dtype)
    seen_bits = np.empty((_RECENT, words_n), dtype=np.int64)
    bits = np.empty(words_n, dtype=np.int64)
    # resident: the ring's row equal to s; not literals (one compiled _nearest)
    seen, slot, resident = np.int64(0), np.int64(0), np.int64(-1)
    for p in range(lo, hi):
        probe = probes[p]
        if seen:
            row, _ = _nearest(probe, bits, seen_bits, seen)
            if row != resident:                     # loops: a slice copy compiles slower
                for i in range(n):
                    s[i] = seen_s[row, i]
                    h[i] = seen_h[row, i]
                resident = row
        _load_probe(cols, h_plus, h_minus, s, h, probe, work)
        visits, flips, e2, stop, converged, _ = _run(cols, diag, b, s, h, free, order, rngs[p],
                                                     cap, schedule, no_trace, symmetric, others[p],
                                                     work, events)
        for i in range(n):
            states[p, i] = s[i]
        counts[p, 0] = visits
        counts[p, 1] = flips
        counts[p, 2] = e2
        counts[p, 3] = stop
        counts[p, 4] = converged
        # Keep the fixed point unless the ring has it (fields are a function of the state).
        row, d = _nearest(s, bits, seen_bits, seen)
        if d == 0:
            resident = row
        else:
            for i in range(n):
                seen_s[slot, i] = s[i]
                seen_h[slot, i] = h[i]
            for k in range(words_n):
                seen_bits[slot, k] = bits[k]
            resident = slot
            slot = (slot + 1) % _RECENT
            seen = min(seen + 1, _RECENT)


@numba.njit(cache=True, nogil=True)
def _first_non_spin(rows, out):
    """The index of the first row of ``rows`` (signed integers) with an entry that is not +1
    or -1, or -1 if there is none; the rows before it are copied into ``out`` (the fields'
    type): one compiled pass (numpy's check took three, as long as a short recall, and a
    conversion after the check one more)."""
    T = out.dtype.type
    for p in range(rows.shape[0]):
        bad = np.int8(0)
        for i in range(rows.shape[1]):
            v = rows[p, i]
            out[p, i] = T(v)
            bad = np.int8(bad | np.int8((v != 1) & (v != -1)))
        if bad:
            return p
    return -1


# -- the public API ------------------------------------------------------------------------------

def _result(n: int, state: np.ndarray, visits, flips, e2, stop, converged,
            events=None, other=None) -> RunResult:
    """A :class:`~golden.RunResult` built without its ``__post_init__`` check (which costs
    more than a whole recall): the kernel's state is +1/-1 by construction. ``state`` must be
    a read-only int8 array that nothing writes afterwards (as the checked constructor keeps
    it); ``visits`` ... ``converged`` Python numbers; ``other`` is the 2-cycle's other state,
    used when ``stop`` is the cycle2 code. The instance's dict is set whole (a frozen
    dataclass has no cheaper way in): for a batch of short recalls this was the largest cost
    after the kernel."""
    result = _new(RunResult)
    _set(result, "__dict__", {
        "state": state, "converged": converged, "visits": visits, "flips": flips,
        "sweeps": -(-visits // n), "energy2": e2,
        "trace": None if events is None else tuple(
            FlipEvent(v, i, x, d) for v, i, x, d in events.tolist()),
        "cycles": None, "stop_reason": _STOP_CODES[stop],
        "cycle_state": _frozen(other) if stop == _CYCLE2 else None})
    return result


_new, _set = object.__new__, object.__setattr__
# _result names every field of RunResult (and no other): checked here, once.
assert list(_result(1, np.ones(1, np.int8), 0, 0, 0, 0, True).__dict__) == \
    [f.name for f in dataclasses.fields(RunResult)], "RunResult's fields changed: see _result"


def _frozen(values: np.ndarray) -> np.ndarray:
    """A read-only int8 copy."""
    out = np.array(values, dtype=np.int8)
    out.setflags(write=False)
    return out


def _schedule_array(schedule) -> np.ndarray:
    return np.zeros(0, dtype=np.int64) if schedule is None else np.array(schedule, np.int64)


@dataclasses.dataclass(frozen=True)
class BatchResult:
    """Results of many runs as arrays (``PreparedNetwork.run_batch``): row p is probe p.

    ``states`` P x N int8 (+1/-1); ``visits``, ``flips``, ``energy2`` int64; ``converged`` bool;
    ``stop_reason`` the index into ``RunResult.STOP_REASONS``; ``cycle_states`` P x N int8, row
    p the other state of probe p's 2-cycle where its stop reason is cycle2 (else unspecified).
    """
    states: np.ndarray
    visits: np.ndarray
    flips: np.ndarray
    energy2: np.ndarray
    converged: np.ndarray
    stop_reason: np.ndarray
    cycle_states: np.ndarray

    def results(self) -> list[RunResult]:
        """One :class:`~golden.RunResult` per probe."""
        n = self.states.shape[1]
        states = _frozen(self.states)                # the results' states are read-only views
        return [_result(n, state, visits, flips, e2, stop, converged, None, other)
                for state, other, visits, flips, e2, stop, converged in zip(
                    states, self.cycle_states, self.visits.tolist(), self.flips.tolist(),
                    self.energy2.tolist(), self.stop_reason.tolist(),
                    self.converged.tolist())]


class PreparedNetwork:
    """A network checked and converted once, recalled many times (like a loaded board).

    ``PreparedNetwork(weights, bias, config=None)`` takes the arguments of
    :func:`golden.run_binary` and refuses the same bad values. :meth:`run` and
    :meth:`run_batch` give :func:`golden.run_binary`'s results for each probe. The network keeps
    the last final state and its fields, so a probe close to it loads in O(N) per changed bit.
    Not thread-safe: one run at a time per instance (:meth:`run_batch` threads internally).
    """

    def __init__(self, weights, bias=None, config: NetworkConfig | None = None):
        w, b, config = golden._check_network(weights, bias, config)
        self.config = config
        self.cols = np.ascontiguousarray(w.T, dtype=_weight_dtype(config))
        self.diag = np.ascontiguousarray(np.diagonal(w), dtype=np.int64)
        self.bias = b
        rowsum = w.sum(axis=1)
        self.field_dtype = _field_dtype(w, b)
        self.symmetric = bool(np.array_equal(w, w.T))
        n = config.neurons
        self._s = np.ones(n, dtype=self.field_dtype)
        # the fields of the all +1 and all -1 states, where a distant probe loads from
        self.h_plus = (b + rowsum).astype(self.field_dtype)
        self.h_minus = (b - rowsum).astype(self.field_dtype)
        self._h = self.h_plus.copy()

    def _params(self, seed, kw):
        clamp = kw.pop("clamp")
        order, schedule, cap = golden.check_run_params(self.config, **kw)
        free = _free(golden.check_clamp(clamp, self.config.neurons), self.field_dtype)
        return int(order), _schedule_array(schedule), cap, free

    def run(self, state, *, order="sequential", seed: int = 1, max_sweeps=None,
            max_visits=None, beta=None, beta_fixed=None, trace: bool = False,
            clamp=None) -> RunResult:
        """:func:`golden.run_binary` of this network from ``state``."""
        return self._run(state, seed, dict(
            order=order, max_sweeps=max_sweeps, max_visits=max_visits, beta=beta,
            beta_fixed=beta_fixed, trace=trace, clamp=clamp), trace, trace)[0]

    def run_flips(self, state, *, order="sequential", seed: int = 1, max_sweeps=None,
                  max_visits=None, beta=None, beta_fixed=None, trace: bool = False,
                  clamp=None) -> tuple[RunResult, np.ndarray]:
        """:meth:`run`, and its flips as an F x 4 array of rows (visit, index, new value,
        delta 2E): the trace, recorded even when ``trace`` is False, without building its
        events."""
        return self._run(state, seed, dict(
            order=order, max_sweeps=max_sweeps, max_visits=max_visits, beta=beta,
            beta_fixed=beta_fixed, trace=trace, clamp=clamp), True, trace)

    def _run(self, state, seed, kw, record: bool, trace: bool):
        """One run from ``state``; ``record``: the kernel records the flips (returned as its
        rows), ``trace``: the result carries them as events."""
        n = self.config.neurons
        probe = golden._check_state(state, n)
        order, schedule, cap, free = self._params(seed, kw)
        rng = seed_state(seed)
        work = _scratch(n)
        _load_probe(self.cols, self.h_plus, self.h_minus, self._s, self._h,
                    probe.astype(self.field_dtype), work)
        other = np.empty(n, dtype=np.int8)
        visits, flips, e2, stop, converged, events = _run_traced(
            self.cols, self.diag, self.bias, self._s, self._h, free, order, rng, cap, schedule,
            record, self.symmetric, other, work)
        result = _result(n, _frozen(self._s), int(visits), int(flips), int(e2), int(stop),
                         bool(converged), events if trace else None, other)
        return result, events if record else None

    def _check_states(self, states) -> np.ndarray:
        n = self.config.neurons
        arr = np.asarray(states)
        if arr.ndim == 2 and arr.shape[1] == n and arr.dtype.kind == "i":
            out = np.empty(arr.shape, dtype=self.field_dtype)
            if _first_non_spin(np.ascontiguousarray(arr), out) < 0:
                return out
        if arr.ndim != 2:
            raise ValueError(f"states must be a P x {n} array of +1/-1, not shape {arr.shape}")
        for p, row in enumerate(arr):                # golden's error for the first bad probe
            try:
                golden._check_state(row, n)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"probe {p}: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _seeds(self, seeds, seed, count: int) -> np.ndarray:
        if seeds is None:
            return np.full(count, seed_state(seed), dtype=np.int64)
        arr = np.asarray(seeds)
        ok = (arr.shape == (count,) and np.issubdtype(arr.dtype, np.integer)
              and arr.dtype != np.bool_ and np.all((arr >= 0) & (arr <= _MASK32)))
        if not ok:
            if np.ndim(arr) != 1 or len(arr) != count:
                raise ValueError(f"seeds must be one seed per probe ({count}), not shape "
                                 f"{np.shape(arr)}")
            for p, value in enumerate(arr.tolist()):   # seed_state's error for the bad one
                try:
                    seed_state(value)
                except ValueError as exc:
                    raise ValueError(f"seeds[{p}]: {exc}") from None
        return np.array([seed_state(int(v)) for v in arr], dtype=np.int64)

    def run_batch(self, states, *, seeds=None, order="sequential", seed: int = 1,
                  max_sweeps=None, max_visits=None, beta=None, beta_fixed=None,
                  clamp=None, threads: int | None = None, checked: bool = False) -> BatchResult:
        """Untraced runs of every probe (a P x N array), split over ``threads`` threads
        (default: the cores the batch pays for, :func:`_blocks`); the arrays of
        :class:`BatchResult` do not depend on it. ``clamp`` holds the same neurons in every
        run, each at its own probe's value. ``checked``: ``states`` is a P x N integer array
        of +1/-1 already (``Board.recall_many`` checked it), not checked again."""
        if checked:
            probes = np.asarray(states, dtype=self.field_dtype)
        else:
            probes = self._check_states(states)
        order, schedule, cap, free = self._params(seed, dict(
            order=order, max_sweeps=max_sweeps, max_visits=max_visits, beta=beta,
            beta_fixed=beta_fixed, trace=False, clamp=clamp))
        rngs = self._seeds(seeds, seed, len(probes))
        count, n = probes.shape
        blocks = _blocks(threads, count, n)
        states_out = np.empty((count, n), dtype=np.int8)
        others = np.zeros((count, n), dtype=np.int8)
        counts = np.empty((count, 5), dtype=np.int64)
        args = (self.cols, self.diag, self.h_plus, self.h_minus, self.bias, self.symmetric,
                probes, rngs, free, order, cap, schedule, states_out, others, counts)

        def work(lo, hi):
            s = np.empty(n, dtype=self.field_dtype)
            _run_block(*args, s, np.empty_like(s), lo, hi, False)
        # Contiguous blocks, the first on this thread and one per worker thread for the
        # others; the kernel releases the GIL. Every probe's result is exact whichever state
        # its block's resident fields start from.
        edges = [count * k // blocks for k in range(blocks + 1)]
        others_done = [_pool(blocks - 1).submit(work, lo, hi)
                       for lo, hi in zip(edges[1:], edges[2:])] if blocks > 1 else []
        work(edges[0], edges[1])
        for f in others_done:
            f.result()
        return BatchResult(states_out, counts[:, 0], counts[:, 1], counts[:, 2],
                           counts[:, 4].astype(bool), counts[:, 3], others)


#: Probes x neurons a batch gives each thread at least, when its caller leaves the thread count
#: open. A thread's block starts with no fixed points of its own to load probes from (the
#: first probes of each stored pattern load ~N/2 columns) and handing it over costs tens of
#: us, so a split pays only for longer batches: measured quiet on the 2-core development
#: machine (2026-12-02, `recall_many`'s workload, 10% noise, sequential), two threads took
#: longer in wall time than one at N = 256 up to 200 probes (5.2 against 3.9 us a probe) and
#: less from 400 (2.4 against 2.9), at N = 1024 less from 100 probes (19 against 31). So a
#: thread takes 128 probes at N = 256, 32 at N = 1024.
_WORK_PER_THREAD = 32768


def _blocks(threads, count: int, n: int) -> int:
    """The blocks (threads) a batch of ``count`` probes of ``n`` neurons runs in: ``threads``
    if given (at most one a probe), else every core the work pays for (_WORK_PER_THREAD)."""
    if threads is None:
        return max(1, min(default_threads(), count * n // _WORK_PER_THREAD))
    return max(1, min(_check_threads(threads), count))


def _free(held: np.ndarray, dtype) -> np.ndarray:
    """The kernels' form of a clamp mask (§12): 1 for a free neuron, 0 for a clamped one, in
    the fields' type (a product with s_i h_i)."""
    return (~held).astype(dtype)


@functools.lru_cache(maxsize=8)
def _pool(threads: int) -> concurrent.futures.ThreadPoolExecutor:
    """A pool of ``threads`` worker threads, kept: starting threads costs more than a recall."""
    return concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="cpu_engine")


def _check_threads(threads) -> int:
    if threads is None:
        return default_threads()
    if not isinstance(threads, (int, np.integer)) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive integer, not {threads!r}")
    return int(threads)


def run_binary(weights, bias, state, *, order="sequential", seed: int = 1,
               max_sweeps: int | None = None, max_visits: int | None = None,
               beta=None, beta_fixed=None, trace: bool = False, clamp=None,
               config: NetworkConfig | None = None) -> RunResult:
    """:func:`golden.run_binary`, compiled: the same arguments, checks and result."""
    w, b, config = golden._check_network(weights, bias, config)
    n = config.neurons
    dtype = _field_dtype(w, b)
    s = golden._check_state(state, n).astype(dtype)
    order, schedule, cap = golden.check_run_params(
        config, order=order, max_sweeps=max_sweeps, max_visits=max_visits, beta=beta,
        beta_fixed=beta_fixed, trace=trace)
    free = _free(golden.check_clamp(clamp, n), dtype)
    rng = seed_state(seed)
    cols = np.ascontiguousarray(w.T, dtype=_weight_dtype(config))
    diag = np.ascontiguousarray(np.diagonal(w))
    h = np.empty(n, dtype=dtype)
    _fields(cols, b, s, h)
    other = np.empty(n, dtype=np.int8)
    visits, flips, e2, stop, converged, events = _run_traced(
        cols, diag, b, s, h, free, int(order), rng, cap, _schedule_array(schedule), trace,
        bool(np.array_equal(w, w.T)), other, _scratch(n))
    return _result(n, _frozen(s), int(visits), int(flips), int(e2), int(stop), bool(converged),
                   events if trace else None, other)


def run_binary_many(weights, bias, states, *, seeds=None, order="sequential", seed: int = 1,
                    max_sweeps: int | None = None, max_visits: int | None = None,
                    beta=None, beta_fixed=None, trace: bool = False, clamp=None,
                    config: NetworkConfig | None = None,
                    threads: int | None = None) -> list[RunResult]:
    """:func:`run_binary` of every probe of ``states`` (P x N), on ``threads`` threads.

    ``seeds`` gives one seed per probe; None runs every probe with ``seed`` (as
    ``Board.recall_many`` does). Result p equals ``run_binary(weights, bias, states[p],
    seed=seeds[p], ...)`` for any ``threads`` (default: the cores the batch pays for). With
    ``trace`` the probes run one after the other on one thread (each keeps its flip trace).
    """
    net = PreparedNetwork(weights, bias, config)
    if trace:
        probes = net._check_states(states)
        net._seeds(seeds, seed, len(probes))         # refuses bad seeds before any run
        per = [seed] * len(probes) if seeds is None else [int(v) for v in np.asarray(seeds)]
        return [net.run(p, order=order, seed=sd, max_sweeps=max_sweeps, max_visits=max_visits,
                        beta=beta, beta_fixed=beta_fixed, trace=True, clamp=clamp)
                for p, sd in zip(probes, per)]
    return net.run_batch(states, seeds=seeds, order=order, seed=seed, max_sweeps=max_sweeps,
                         max_visits=max_visits, beta=beta, beta_fixed=beta_fixed,
                         clamp=clamp, threads=threads).results()


# -- on-chip Hebbian storing (§9) ---------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _hebbian(w, pats, lo, hi):
    n = w.shape[0]
    for p in pats:
        for i in range(n):
            pi = p[i]
            row = w[i]
            for j in range(n):
                if j != i:
                    v = row[j] + pi * p[j]
                    row[j] = lo if v < lo else (hi if v > hi else v)


def store_hebbian(weights, patterns, *, config: NetworkConfig | None = None) -> np.ndarray:
    """:func:`golden.store_hebbian`, compiled: saturating per pattern, W_ii unchanged."""
    w, _, config = golden._check_network(weights, None, config)
    pats = golden.check_patterns(patterns, config.neurons)
    w = w.copy()
    _hebbian(w, pats, config.weight_min, config.weight_max)
    return w


# -- the quantized Hebbian store (§14) ----------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _hebbian_quantized(cols, m, e, wmax):
    """clamp(round_shift(m S_ij, e), -wmax, wmax) with S_ij = sum_mu p_i p_j (i != j) from the
    N x P pattern columns; half the pairs computed, the matrix is symmetric."""
    n, count = cols.shape
    w = np.zeros((n, n), dtype=np.int64)
    half = np.int64(1) << (e - 1) if e else np.int64(0)
    for i in range(n):
        for j in range(i + 1, n):
            s = np.int64(0)
            for mu in range(count):
                s += cols[i, mu] * cols[j, mu]
            z = m * s
            if e:
                z = (z + half - (1 if z < 0 else 0)) >> e    # round_shift (§11.2)
            z = -wmax if z < -wmax else (wmax if z > wmax else z)
            w[i, j] = z
            w[j, i] = z
    return w


def store_hebbian_quantized(patterns, *, config: NetworkConfig | None = None,
                            scale: float | None = None) -> np.ndarray:
    """:func:`golden.store_hebbian_quantized`, compiled: the same arguments, checks, result."""
    pats, config, m, e = golden.quantized_store_inputs(patterns, config, scale)
    return _hebbian_quantized(np.ascontiguousarray(pats.T), np.int64(m), np.int64(e),
                              np.int64(config.weight_max))


# -- graded-response neurons (§11) --------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _rnd(z, s):
    """numerics.round_shift: z / 2**s rounded half away from zero."""
    if s == 0:
        return z
    return (z + (np.int64(1) << (s - 1)) - (1 if z < 0 else 0)) >> s


@numba.njit(cache=True, nogil=True)
def _sat(z, lo, hi):
    return lo if z < lo else (hi if z > hi else z)


@numba.njit(cache=True, nogil=True)
def _sigmoid(u, gain_m, gain_e, table):
    """§11.3: x = sat_X(round_shift(gain_m u, gain_e)), then the PWL table."""
    x_lo, x_hi = -(np.int64(1) << (GRADED_X_BITS - 1)), (np.int64(1) << (GRADED_X_BITS - 1)) - 1
    x = _sat(_rnd(u * gain_m, gain_e), x_lo, x_hi)
    k = 0
    for m in range(1, len(table)):
        k += x >= table[m, 0]
    v = table[k, 1] + _rnd(table[k, 2] * (x - table[k, 0]), GRADED_SLOPE_FRAC)
    return _sat(v, -GRADED_V_ONE, GRADED_V_ONE)


@numba.njit(cache=True, nogil=True)
def _graded_v0(u, v, gain_m, gain_e, table):
    for i in range(len(u)):
        v[i] = _sigmoid(u[i], gain_m, gain_e, table)


@numba.njit(cache=True, nogil=True)
def _euler(w, b, u, v, u_new, v_new, gain_m, gain_e, dt_m, dt_e, ls, table, u_lo, u_hi):
    """§11.4: one synchronous step into (u_new, v_new); returns max |u' - u|."""
    n = len(u)
    delta = np.int64(0)
    for i in range(n):
        f = np.int64(b[i]) << GRADED_V_FRAC
        row = w[i]
        for j in range(n):
            f += np.int64(row[j]) * v[j]
        r = (f << ls) - u[i]
        ui = _sat(u[i] + _rnd(r * dt_m, dt_e + ls), u_lo, u_hi)
        u_new[i] = ui
        v_new[i] = _sigmoid(ui, gain_m, gain_e, table)
        d = ui - u[i]
        d = -d if d < 0 else d
        if d > delta:
            delta = d
    return delta


@numba.njit(cache=True, nogil=True)
def _graded_run(w, b, u, v, gain_m, gain_e, dt_m, dt_e, ls, table, eps, max_steps, u_lo,
                u_hi):
    """§11.5 without trace: steps until max |du| <= eps or max_steps; u, v updated in place."""
    u2 = np.empty_like(u)
    v2 = np.empty_like(v)
    steps = 0
    converged = False
    delta = np.int64(0)
    while steps < max_steps:
        delta = _euler(w, b, u, v, u2, v2, gain_m, gain_e, dt_m, dt_e, ls, table, u_lo, u_hi)
        u[:] = u2
        v[:] = v2
        steps += 1
        if delta <= eps:
            converged = True
            break
    return steps, converged, delta


def run_graded_fixed(weights, bias, u0, params: graded.GradedParams, config: NetworkConfig, *,
                     trace: bool = False) -> graded.GradedResult:
    """:func:`graded.run_graded_fixed`, compiled: the same arguments, checks and result.

    Configurations whose products exceed int64 (``graded._dtype`` is ``object``: fields wider
    than 2**24 units) run on the golden model's Python integers instead.
    """
    if graded._dtype(config) is not np.int64:
        return graded.run_graded_fixed(weights, bias, u0, params, config, trace=trace)
    w, b = graded._check_network(weights, bias, config)
    u = graded.check_u0(u0, config)
    lo, hi = graded._signed_range(config.graded_u_bits)
    w_narrow = np.ascontiguousarray(w, dtype=_weight_dtype(config))
    table = np.array(params.table, dtype=np.int64)
    v = np.empty_like(u)
    gp = (params.gain_m, params.gain_e)
    _graded_v0(u, v, *gp, table)
    step_args = (*gp, params.dt_m, params.dt_e, params.leak_shift, table)
    if not trace:
        steps, converged, delta = _graded_run(w_narrow, b, u, v, *step_args, params.eps,
                                              params.max_steps, lo, hi)
        frames = None
    else:
        steps, converged, delta, frames = 0, False, 0, []
        u2, v2 = np.empty_like(u), np.empty_like(v)
        while steps < params.max_steps:
            delta = _euler(w_narrow, b, u, v, u2, v2, *step_args, lo, hi)
            u, u2, v, v2 = u2, u, v2, v
            steps += 1
            frames.append((u.copy(), v.copy()))
            if delta <= params.eps:
                converged = True
                break
    return graded.GradedResult(v.astype(np.int64), u.astype(np.int64), int(steps),
                               bool(converged), int(delta), params, config, w, b, frames)
