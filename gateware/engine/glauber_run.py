"""The stochastic (Glauber) visits of :class:`~.column_engine.ColumnEngine`, one per cycle.

Which neuron a stochastic visit examines and which words it draws do not depend on the
state (``docs/numerics.md`` §5, §8): sequential visits neuron v mod N, random draws its
index from [0, N), and both then take the Glauber word. So the visits are issued one per
cycle (random: one per ceil(w / G) cycles for an index draw of w words, G words tested per
cycle) into a pipeline of 1 + ``GlauberUnit.latency`` stages:

- I (issue, state GLAUBER): j, the Glauber word, beta of the visit's sweep (the schedule in
  a synchronous-read memory, a block RAM, addressed with the entry the next cycle has) and the
  generator state after the visit are registered;
- E: h_j and beta enter the Glauber unit; h_j, s_j and the clamp bit come from the
  engine's one N:1 pick (``d.pick``, whose j the issue sets: the flip's
  FLIP uses the same pick, and never in an E cycle, since a flip drops the visits in
  flight); s_j and the clamp bit travel beside the visit to D;
- D, ``latency`` cycles later: the decision. A visit that keeps s_j commits (visits, pos and
  the beta entry advance); one that changes it flips like a deterministic flip (FLIP), and
  the visits behind it, issued with fields from before that flip, are dropped: the issue
  restarts at the next visit with the generator state the flipping visit left (carried
  through the pipeline), in the FLIP cycle itself (its E stage comes after the lanes took
  the column), or from CHOOSE after a traced flip.

A run reaches its cap, or sees ``stop``, in GLAUBER: no further visit is issued, the ones
in flight are decided, then CHOOSE ends the run (docs/engine.md, "Column-parallel engine",
has the cycle accounting).
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib.memory import Memory

from hopfield_fpga.config import COUNTER_BITS
from hopfield_fpga.numerics import BETA_BITS
from ..engine_ports import RunOrder
from .glauber_unit import GlauberUnit

__all__ = ["GlauberRun"]


class GlauberRun:
    """Mixin of :class:`~.column_engine.ColumnEngine`: the Glauber datapath and its states.
    The engine calls :meth:`_glauber_build` in ``elaborate`` (with Feature.STOCHASTIC),
    :meth:`_glauber_choose` from CHOOSE in a stochastic run, :meth:`_glauber_issue` from an
    untraced stochastic flip's FLIP and :meth:`_glauber_states` inside its FSM."""

    def _glauber_build(self, m: Module, d) -> None:
        """The beta schedule (written by WRITE_BETA through ``d.beta_wr``), the Glauber unit
        and the issue and pipeline registers (``d.g``)."""
        cfg = self.config
        N = cfg.neurons
        m.submodules.betas = betas = Memory(shape=BETA_BITS, depth=cfg.beta_depth, init=[])
        m.submodules.glauber = gu = GlauberUnit(cfg)
        stages = 1 + gu.latency                       # E, then the unit's stages to D

        def chain(name, shape):
            return [Signal(shape, name=f"g_{name}{k}") for k in range(stages)]

        d.beta_wr = betas.write_port()
        d.g = g = SimpleNamespace(
            unit=gu, beta_rd=betas.read_port(),
            # issue side: the next visit's count, position and beta entry; the entry is set
            # through beta_next (its value in the next cycle), which addresses the schedule's
            # synchronous read port, so the entry's beta is there with beta_idx (a block RAM
            # however deep the schedule)
            count=Signal(COUNTER_BITS), pos=Signal(range(N)),
            beta_idx=Signal(range(cfg.beta_depth)), beta_next=Signal(range(cfg.beta_depth)),
            # per stage (0 = E, last = D): valid, j, generator state after the visit
            valid=chain("valid", 1), j=chain("j", range(N)), rng=chain("rng", 32),
            # s_j and the clamp bit picked in E (stage 0: the pick itself)
            s=[d.pick.s] + chain("s", 1)[1:], held=[d.pick.held_j] + chain("held", 1)[1:],
            word=Signal(16), beta=Signal(BETA_BITS))
        m.d.comb += g.beta_next.eq(g.beta_idx)      # kept, unless an issue step sets it
        m.d.sync += g.beta_idx.eq(g.beta_next)
        m.d.comb += [g.beta_rd.addr.eq(g.beta_next),
                     gu.valid.eq(g.valid[0]), gu.word.eq(g.word), gu.beta.eq(g.beta),
                     gu.h.eq(d.pick.h)]
        for k in range(1, stages):
            m.d.sync += [g.valid[k].eq(g.valid[k - 1]), g.j[k].eq(g.j[k - 1]),
                         g.rng[k].eq(g.rng[k - 1]), g.s[k].eq(g.s[k - 1]),
                         g.held[k].eq(g.held[k - 1])]

    def _glauber_choose(self, m: Module, d) -> None:
        """CHOOSE of a stochastic run (cap and stop already checked): the issue restarts at
        the next uncommitted visit."""
        m.d.sync += [d.g.count.eq(d.regs.visits), d.g.pos.eq(d.pos)]
        m.d.comb += d.g.beta_next.eq(d.beta_idx)
        m.next = "GLAUBER"

    def _glauber_issue(self, m: Module, d, allow) -> None:
        """Stage I: issue the next visit when ``allow``, the cap and ``stop`` permit (random:
        when its index draw ends in this cycle, else the generator steps over the words)."""
        N, g, draw = self.config.neurons, d.g, d.draw_rank
        can = Signal()
        m.d.comb += can.eq(allow & (g.count != d.max_visits) & ~self.stop)
        issue = Signal()
        j_i = Signal(range(N))
        drawn = Signal(range(self.words + 1))         # words the index draw took
        with m.If(d.order == RunOrder.SEQUENTIAL):
            m.d.comb += [issue.eq(can), j_i.eq(g.pos)]
        if RunOrder.RANDOM in d.orders:               # (the draw is built with it)
            with m.Else():
                m.d.comb += [issue.eq(can & draw.accept), j_i.eq(draw.index)]
                with m.If(can):
                    m.d.comb += [drawn.eq(draw.used), d.gen.consume.eq(draw.used)]
        # the visit's Glauber word, the one after the draw's: a pick of the window's
        # registers (the generator state after the visit)
        word = d.gen.words.word_select(drawn, 32)
        m.d.sync += g.valid[0].eq(issue)
        with m.If(issue):
            wrap = g.pos == N - 1
            self._pick_next(m, d, j_i)
            m.d.comb += d.gen.consume.eq(drawn + 1)
            m.d.sync += [g.j[0].eq(j_i), g.rng[0].eq(word),
                         g.word.eq(word[16:]),
                         g.beta.eq(g.beta_rd.data),
                         g.count.eq(g.count + 1), g.pos.eq(Mux(wrap, 0, g.pos + 1))]
            with m.If(wrap & (g.beta_idx != d.beta_last)):
                m.d.comb += g.beta_next.eq(g.beta_idx + 1)

    def _glauber_states(self, m: Module, d) -> None:
        N, g, gu = self.config.neurons, d.g, d.g.unit
        with m.State("GLAUBER"):
            # D: the oldest visit in flight is decided.
            j_d, valid_d = g.j[-1], g.valid[-1]
            self._candidate(m, d, j_d)
            flip = Signal()
            # A held neuron's visit (§12) drew its words like any other and never writes.
            m.d.comb += flip.eq(valid_d & (gu.up != g.s[-1]) & ~g.held[-1])
            can_issue = (g.count != d.max_visits) & ~self.stop
            self._glauber_issue(m, d, ~flip)
            with m.If(flip):
                # The visits behind it saw the fields before this flip: dropped, and the
                # generator goes back to the state this visit left.
                # The issue goes on from the visit after it (in FLIP).
                m.d.comb += [d.gen.load.eq(1), d.gen.load_state.eq(g.rng[-1])]
                m.d.sync += [*(v.eq(0) for v in g.valid),
                             g.count.eq(d.regs.visits + 1),
                             g.pos.eq(Mux(d.pos == N - 1, 0, d.pos + 1))]
                with m.If((d.pos == N - 1) & (d.beta_idx != d.beta_last)):
                    m.d.comb += g.beta_next.eq(d.beta_idx + 1)
                with m.Else():
                    m.d.comb += g.beta_next.eq(d.beta_idx)
                self._choose(m, d, gu.up, 1)
            with m.Else():
                with m.If(valid_d):
                    self._advance(m, d, 1)
                # Nothing left to decide and nothing to issue: CHOOSE ends the run.
                with m.If(~_any(g.valid[:-1]) & ~can_issue):
                    m.next = "CHOOSE"


def _any(values):
    result = values[0]
    for v in values[1:]:
        result = result | v
    return result
