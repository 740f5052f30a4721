"""Several generator words per cycle: the random order's visits and the rejection_free draw.

Both orders consume xorshift32 words (``docs/numerics.md`` §5) whose count depends on the
words themselves (a rejected candidate costs a word and no visit; in random order a stable
neuron costs a word and a visit). The next ``words`` states of the generator are a linear
function of the current one (XORs only), so they are all computed in one cycle and tested in
parallel:

- :class:`SelectRandom` (random order, n = N): the first word whose candidate is accepted
  and names an unstable neuron is the visit that flips; the accepted words before it are
  stable visits (counted, they change nothing).
- :class:`DrawWords` (rejection_free order, n = |U|): the first accepted word gives k.

Each reports how many words it used and the generator state after them, so the run
continues exactly where the golden model's draw loop would. Combinational.

:class:`WordWindow` keeps the generator's next words in registers, so that
:class:`SelectRandom` and :class:`DrawWords`, which take their words from one, have no
xorshift steps between a state register and their compares (the 85F's 49.5 MHz path at
N = 1024 was four chained xorshift words and then the flag multiplexers; the engine's
48.86 MHz path at N = 64, grade 6, the same steps before the draw's ``cand < n``).

Members (SelectRandom)
----------------------
words: In(words * 32), the generator's next ``words`` states (word g at bits [32 g, 32 g + 32),
    word 0 one step ahead), from a :class:`WordWindow`.
flags: In(N), the unstable flags.
found: Out(1), a word named an unstable neuron.
index: Out(range(N)), that neuron.
stable: Out(range(words + 1)), accepted words before it (all accepted words if not found):
    the stable visits this cycle makes.
used: Out(range(words + 1)), words consumed (up to and including the found one, else all).
next_state: Out(32), the generator state after ``used`` words.

Members (WordWindow)
--------------------
load: In(1), load_state: In(32): the generator state becomes load_state (a run's start;
    it wins over ``consume``).
consume: In(range(most + 1)), words used this cycle (``most`` defaults to ``words``): the
    state advances by as many.
words: Out(words * 32), the next ``words`` states after the current one, from registers.

Members (DrawWords)
-------------------
words: In(words * 32), the generator's next states as for SelectRandom (a
    :class:`WordWindow`'s); n: In(range(max_n + 1)), the size of the range (0 is never
    accepted).
accept: Out(1); index: Out(range(max_n)), the first accepted candidate; used, next_state as
above.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..index_draw import draw_candidate
from ..xorshift import xorshift32_next
from .common import check_int

__all__ = ["SelectRandom", "WordWindow", "DrawWords", "generator_words"]


def generator_words(m: Module, state, count: int, name: str = "word"):
    """The next ``count`` generator states after ``state`` (word 0 is one step ahead)."""
    words = []
    x = state
    for g in range(count):
        w = Signal(32, name=f"{name}{g}")
        m.d.comb += w.eq(xorshift32_next(x))
        words.append(w)
        x = w
    return words


def _first(m: Module, hits, words, name: str):
    """(any, position) of the first true entry of ``hits``, and the state after the words up
    to it (after all of them when none is true): a priority chain over a few words."""
    count = len(hits)
    used = Signal(range(count + 1), name=f"{name}_used")
    state = Signal(32, name=f"{name}_state")
    m.d.comb += [used.eq(count), state.eq(words[-1])]
    for g in reversed(range(count)):
        with m.If(hits[g]):
            m.d.comb += [used.eq(g + 1), state.eq(words[g])]
    any_hit = Signal(name=f"{name}_any")
    m.d.comb += any_hit.eq(Const(0, 1) if not count else _or(hits))
    return any_hit, used, state


def _or(values):
    result = values[0]
    for v in values[1:]:
        result = result | v
    return result


class SelectRandom(wiring.Component):
    def __init__(self, neurons: int, words: int):
        check_int("neurons", neurons, 1, 1 << 16)
        check_int("words", words, 1, 64)
        self.neurons, self.count = neurons, words
        super().__init__({
            "words": In(words * 32),
            "flags": In(neurons),
            "found": Out(1),
            "index": Out(range(neurons)),
            "stable": Out(range(words + 1)),
            "used": Out(range(words + 1)),
            "next_state": Out(32),
        })

    def elaborate(self, platform):
        n, count = self.neurons, self.count
        mbits = (n - 1).bit_length()
        m = Module()
        words = [self.words[32 * g:32 * (g + 1)] for g in range(count)]
        cands, accepted, hits = [], [], []
        for g, w in enumerate(words):
            cand = Signal(range(n), name=f"cand{g}")
            m.d.comb += cand.eq(w[32 - mbits:] if mbits else 0)
            acc = Signal(name=f"acc{g}")
            m.d.comb += acc.eq(cand < n)        # constant true for a power-of-two N
            hit = Signal(name=f"hit{g}")
            # A candidate >= N reads a flag beyond the array: the select yields 0 there.
            m.d.comb += hit.eq(acc & self.flags.bit_select(cand, 1))
            cands.append(cand)
            accepted.append(acc)
            hits.append(hit)
        found, used, state = _first(m, hits, words, "sel")
        index = Signal(range(n))
        m.d.comb += index.eq(0)
        for g in reversed(range(count)):
            with m.If(hits[g]):
                m.d.comb += index.eq(cands[g])
        # Stable visits: accepted words before the first hit (all of them without a hit).
        stable = Const(0, range(count + 1))
        for g in range(count):
            stable = stable + (accepted[g] & ~_or(hits[:g + 1]))
        m.d.comb += [self.found.eq(found), self.index.eq(index), self.used.eq(used),
                     self.next_state.eq(state), self.stable.eq(stable)]
        return m


class WordWindow(wiring.Component):
    def __init__(self, words: int, most: int | None = None):
        check_int("words", words, 1, 64)
        most = words if most is None else most
        check_int("most", most, 1, 64)
        self.count, self.most = words, most
        super().__init__({
            "load": In(1), "load_state": In(32), "consume": In(range(most + 1)),
            "words": Out(words * 32),
        })

    def elaborate(self, platform):
        g, most = self.count, self.most
        m = Module()
        # x^k(state) for k = 0 .. G: after consuming u <= most words, the next window is
        # x^(u+k) for k = 0 .. G, of which those beyond G are at most ``most`` steps past the
        # last register: the steps run from registers, beside the late ``consume``.
        held = [Signal(32, name=f"held{k}") for k in range(g + 1)]
        ahead = held + generator_words(m, held[-1], most, "ahead")
        loaded = [self.load_state] + generator_words(m, self.load_state, g, "loaded")
        with m.If(self.load):
            m.d.sync += [h.eq(v) for h, v in zip(held, loaded)]
        with m.Else():
            with m.Switch(self.consume):
                for u in range(1, most + 1):
                    with m.Case(u):
                        m.d.sync += [h.eq(ahead[u + k]) for k, h in enumerate(held)]
        for k in range(g):
            m.d.comb += self.words[32 * k:32 * (k + 1)].eq(held[k + 1])
        return m


class DrawWords(wiring.Component):
    def __init__(self, max_n: int, words: int):
        check_int("max_n", max_n, 1, (1 << 32) - 1)
        check_int("words", words, 1, 64)
        self.max_n, self.count = max_n, words
        self.mbits = (max_n - 1).bit_length()
        super().__init__({
            "words": In(words * 32),
            "n": In(range(max_n + 1)),
            "accept": Out(1),
            "index": Out(range(max_n)),
            "used": Out(range(words + 1)),
            "next_state": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        nm1 = Signal(range(self.max_n + 1))
        m.d.comb += nm1.eq(self.n - 1)
        words = [self.words[32 * g:32 * (g + 1)] for g in range(self.count)]
        cands, hits = [], []
        for g, w in enumerate(words):
            cand = draw_candidate(m, w, nm1, self.mbits, name=f"cand{g}")
            hit = Signal(name=f"hit{g}")
            m.d.comb += hit.eq((self.n != 0) & (cand < self.n))
            cands.append(cand)
            hits.append(hit)
        accept, used, state = _first(m, hits, words, "draw")
        index = Signal(range(self.max_n))
        m.d.comb += index.eq(0)
        for g in reversed(range(self.count)):
            with m.If(hits[g]):
                m.d.comb += index.eq(cands[g])
        m.d.comb += [self.accept.eq(accept), self.index.eq(index), self.used.eq(used),
                     self.next_state.eq(state)]
        return m
