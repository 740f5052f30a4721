"""The binary neuron engine: asynchronous bipolar neurons in fixed point (``docs/numerics.md``).

`BinaryEngine(config)` owns the memories of one network and runs the dynamics of §3-§8 bit for
bit like :func:`hopfield_fpga.sim.golden.run_binary`. Its interface is
:func:`~hopfield_fpga.gateware.engine_ports.engine_signature` (read that module's docstring for
the access/run/status/trace contract); ``docs/engine.md`` has the architecture and the cycle
accounting.

Storage:

- weights: ONE ``lib.memory.Memory`` of K*W_BITS bits by N*C words (C = ceil(N/K)); word
  j*C + c holds column j, chunk c: W_ij for the K neurons i of chunk c. Every access reads
  or writes (never both in one cycle) through one shared address, so the memory maps onto a
  single-port RAM (iCE40 SPRAM) as well as onto block RAM.
- biases (K*B_BITS x C) and local fields h (K*ACC_BITS x C): 1R1W memories by chunk.
- chunk words (C words of 2K + bitlen(N) bits): the K states of a chunk, their unstable
  flags and the chunk's exclusive prefix count (unstable neurons in the chunks before it), all
  written by the pass's last stage; two read ports (the pass and search; the next visit's
  prefetch). With 1 < C <= LOCATE_MAX_CHUNKS the prefix counts are also kept in registers
  for the one-cycle parallel locate of the rejection_free order (else: a binary search).
  The Hebbian pattern: C words of K bits. No per-neuron register, so no N:1 multiplexer.
- beta schedule (16 x config.beta_depth), with the rest of the Glauber datapath (logistic,
  beta multiply) only with Feature.STOCHASTIC.

The column pass is the one datapath: it streams the C words of a weight column with the h,
bias and chunk words through a three-stage pipeline (read; add; write back h, then the chunk
word with the states, unstable flags and prefix count) and feeds a pipelined K-input adder
tree. A flip of j adds 2 W_ij s_j' to every h_i and sums W_ij s_i (the column field c_j of §6)
for the exact delta(2E). The refresh after weight or bias writes uses the same pass: h = b,
then one pass per column j adding W_ij s_j, then a final pass computing the unstable flags, the
prefix counts and 2E = -sum_i s_i (h_i + b_i).

Untraced rejection_free runs with few chunks chain their flips (:func:`chained_flips`): the
next flip is looked ahead (:class:`~.draw_lookahead.DrawLookahead`) while the last chunk is
still in the pipeline, so the next pass follows one cycle after the previous one's last issue.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory

from hopfield_fpga.config import COUNTER_BITS, Feature, NetworkConfig, Order
from hopfield_fpga.numerics import BETA_BITS
from .engine_ports import (AccessOp, EnginePorts, RunOrder, StopReason, check_engine_config,
                           engine_signature)
from .draw_lookahead import DrawLookahead
from .engine.run_status import StatusRegisters
from .index_draw import IndexDraw
from .lane_array import HebbianLanes, LaneArray, PassMode
from .logistic import Logistic
from .unstable_set import AdderTree, RankSelect, popcount
from .xorshift import load_state, xorshift32_next

__all__ = ["BinaryEngine", "divmod_const", "LOCATE_MAX_CHUNKS", "search_cycles",
           "FAST_MAX_CHUNKS", "FAST_MAX_LANES", "chained_flips", "DRAW_LOOKAHEAD",
           "tree_levels"]

# The parallel locate (the chunk of the k-th unstable neuron found by C - 1 compares in one
# cycle instead of a binary search of ceil(log2 C) cycles) keeps the chunks' prefix counts in
# registers: (C - 1) * bitlen(N) flip-flops and C - 1 comparators. Beyond 64 chunks that
# outgrows what it saves (at most ceil(log2 C) - 1 cycles of a flip that costs more than C),
# and the iCE40 default (C = 128) has no room for it.
LOCATE_MAX_CHUNKS = 64


def search_cycles(config: NetworkConfig) -> int:
    """B of docs/engine.md: cycles from the draw of k to the select in rejection_free order
    (1 with the parallel locate, ceil(log2 C) with the binary search, 0 for one chunk)."""
    C = config.chunks
    if C == 1:
        return 0
    return 1 if C <= LOCATE_MAX_CHUNKS else (C - 1).bit_length()

# Chained rejection_free flips (docs/engine.md, "Chained flips"): with few chunks the drain,
# draw, locate and select after a pass (about 4 cycles) weigh heavily on a flip of C + 4
# cycles. For 3 <= C <= FAST_MAX_CHUNKS and K <= FAST_MAX_LANES the engine instead draws,
# in the cycle after the pass's last issue, for every possible unstable count of the last
# chunk (K + 1 hypotheses, each trying DRAW_LOOKAHEAD words), and locates and issues the next
# pass's chunk 0 one cycle later, when that count is known: C + 1 cycles per flip. The
# hypotheses and the per-chunk rank tables grow with K and C, which is why the limits are
# small; from C = 22 on, the ordinary drain already stays within 20% of C.
FAST_MAX_CHUNKS = 24
FAST_MAX_LANES = 8
DRAW_LOOKAHEAD = 3


def tree_levels(config: NetworkConfig) -> int:
    """Adder levels per register stage of the engine's adder tree over the K lanes: three with
    chained flips (K <= 8 is at most three levels: a one-cycle tree keeps 2E's schedule
    short), else two."""
    return 3 if chained_flips(config) else 2


def chained_flips(config: NetworkConfig) -> bool:
    """Whether untraced deterministic rejection_free flips are chained (C + 1 cycles each)."""
    return (3 <= config.chunks <= FAST_MAX_CHUNKS and config.lanes <= FAST_MAX_LANES
            and Order.REJECTION_FREE in config.orders)

def _or_all(values):
    """The OR of ``values`` (at most one of them non-zero: a one-hot choice of constants)."""
    result = values[0]
    for v in values[1:]:
        result = result | v
    return result


def divmod_const(value, divisor: int, bits: int):
    """(value // divisor, value % divisor) for an unsigned ``bits``-wide ``value`` and a
    constant divisor, by a multiply with the rounded-up reciprocal (exact, checked here for
    every value below 2**bits)."""
    if divisor & (divisor - 1) == 0:
        shift = divisor.bit_length() - 1
        return value >> shift, value & (divisor - 1)
    s = bits + divisor.bit_length()
    mult = -(-(1 << s) // divisor)
    for v in range(1 << bits):
        if (v * mult) >> s != v // divisor:  # pragma: no cover - the bound above is enough
            raise AssertionError(f"reciprocal division by {divisor} wrong for {v}")
    q = ((value * mult) >> s)[:max(1, bits)]
    return q, (value - q * divisor)[:max(1, divisor.bit_length())]


class BinaryEngine(wiring.Component):
    """Asynchronous binary Hopfield neurons for one :class:`NetworkConfig`.

    Members: see :func:`~hopfield_fpga.gateware.engine_ports.engine_signature`.

    Limits: orders not in ``config.orders``, a stochastic run without Feature.STOCHASTIC and a
    stochastic rejection_free run (no such form, §8) end at once with stop reason STOP and no
    visit (the command engine refuses them before). Without Feature.TRACE no event is sent;
    without Feature.HEBBIAN a STORE_PATTERN access is accepted and ignored.
    """

    def __new__(cls, config: NetworkConfig):
        # Refused before Elaboratable.__new__ registers the object: a refused engine never
        # existed, so it cannot warn that it was not elaborated.
        check_engine_config(config)
        return super().__new__(cls, config, src_loc_at=1)

    def __init__(self, config: NetworkConfig):
        self.config = config
        self.ports = EnginePorts(config)
        super().__init__(engine_signature(config))

    def elaborate(self, platform):
        # The blocks and the FSM's phases are methods sharing their signals through ``r``, in
        # the order of the original single elaborate (a later comb assignment wins).
        m = Module()
        r = SimpleNamespace()
        self._memories(m, r)
        self._registers(m, r)
        self._column_pass(m, r)
        self._port_defaults(m, r)
        self._selection(m, r)
        self._access_registers(m, r)
        self._prefetch(m, r)
        self._energy(m, r)
        if r.chain:
            self._lookahead(m, r)
        with m.FSM(name="engine"):
            self._idle_state(m, r)
            self._exec_state(m, r)
            self._access_states(m, r)
            self._refresh_states(m, r)
            self._visit_state(m, r)
            self._select_states(m, r)
            self._stochastic_states(m, r)
            self._flip_states(m, r)
            self._drain_states(m, r)
        return m

    def _lane_mask(self, c):
        """The real neurons of chunk ``c`` (all K lanes but in the last chunk)."""
        N, K, C = self.config.neurons, self.config.lanes, self.config.chunks
        return Mux(c == C - 1, (1 << (N - (C - 1) * K)) - 1, (1 << K) - 1)

    def _memories(self, m: Module, r: SimpleNamespace):
        """The memories and their ports; the engine's structural choices (r.locate, r.chain...)."""
        cfg = self.config
        N, K, C = cfg.neurons, cfg.lanes, cfg.chunks
        WB, BB, A = cfg.weight_bits, cfg.bias_bits, cfg.acc_bits
        cnt_bits = N.bit_length()
        term_bits = A + 2
        m.submodules.weights = wmem = Memory(shape=unsigned(K * WB), depth=N * C, init=[])
        m.submodules.biases = bmem = Memory(shape=unsigned(K * BB), depth=C, init=[])
        m.submodules.fields = hmem = Memory(shape=unsigned(K * A), depth=C, init=[])
        # One word per chunk: the K states, the K unstable flags and the exclusive prefix count
        # (written together at the end of the pass pipeline). The search's last probe reads the
        # word of the chosen chunk, so the rank select gets its flags with no extra read.
        chunk_layout = data.StructLayout({"state": K, "flags": K, "prefix": cnt_bits})
        m.submodules.chunks = smem = Memory(shape=chunk_layout, depth=C, init=[])
        if cfg.has(Feature.HEBBIAN):
            m.submodules.pattern = patmem = Memory(shape=unsigned(K), depth=C, init=[])
        # Without Feature.STOCHASTIC no Glauber datapath is built (beta schedule, logistic,
        # the beta multiply, the S_* states): such runs are refused at the start anyway.
        r.stoch = cfg.has(Feature.STOCHASTIC)
        if r.stoch:
            m.submodules.betas = betamem = Memory(shape=unsigned(BETA_BITS),
                                                  depth=cfg.beta_depth, init=[])
        r.w_rd = wmem.read_port()
        r.w_wr = wmem.write_port()
        r.b_rd = bmem.read_port()
        r.b_wr = bmem.write_port()
        r.h_rd = hmem.read_port()
        r.h_wr = hmem.write_port()
        # Port A: the pass (chunk issued), the search and single reads; port B: the prefetch
        # of the next visit's word (or of the refresh column's sign).
        # The rejection_free draw in the last chunk's write cycle (the early drain below)
        # reads the word of the search's first probe (or, for C = 1, the select's word): when
        # that is the last chunk, port A must be transparent.
        r.locate = 1 < C <= LOCATE_MAX_CHUNKS
        r.search_first = 1 << ((C - 1).bit_length() - 1) if C > 1 and not r.locate else 0
        r.chain = chained_flips(cfg)
        # Chained flips finish 2E on a schedule that a one-cycle tree keeps short (K <= 8 is
        # at most three adder levels).
        m.submodules.tree = r.tree = AdderTree(K, term_bits, per_stage=tree_levels(cfg))
        r.early = r.tree.latency <= search_cycles(cfg) + 1 and not r.chain
        r.next_after_draw = "LOCATE" if r.locate else "SEARCH" if C > 1 else "SELECT"
        r.s_wr = smem.write_port()
        r.s_rda = smem.read_port(
            transparent_for=((r.s_wr,) if r.early and not r.locate and r.search_first == C - 1
                             else ()))
        r.s_rdb = smem.read_port()
        if cfg.has(Feature.HEBBIAN):
            r.pat_rda = patmem.read_port()
            r.pat_rdb = patmem.read_port()
            r.pat_wr = patmem.write_port()
        if r.stoch:
            r.beta_rd = betamem.read_port()
            r.beta_wr = betamem.write_port()
        # One address for both weight ports: single-port compatible (reads and writes are
        # never enabled in the same cycle).
        r.waddr = Signal(range(max(2, N * C)))
        m.d.comb += [r.w_rd.addr.eq(r.waddr), r.w_wr.addr.eq(r.waddr), r.w_rd.en.eq(0)]

    def _registers(self, m: Module, r: SimpleNamespace):
        """Status, run and flip registers."""
        cfg = self.config
        N, K, C = cfg.neurons, cfg.lanes, cfg.chunks
        WB, BB, A = cfg.weight_bits, cfg.bias_bits, cfg.acc_bits
        cnt_bits = N.bit_length()
        regs = StatusRegisters(cfg)
        r.n_unst = Signal(cnt_bits)
        regs.drive(m, self.status, r.n_unst)
        r.visits, r.flips, r.energy2 = regs.visits, regs.flips, regs.energy2
        r.stop_reason = regs.stop_reason
        r.cycles, r.refresh_cycles = regs.cycles, regs.refresh_cycles
        # dirty: h / unstable set / 2E stale after a weight or bias write
        r.busy, r.running, r.refreshing = regs.busy, regs.running, regs.refreshing
        r.dirty = regs.dirty

        # -- run parameters -------------------------------------------------------------------
        r.order = Signal(RunOrder)
        r.stochastic = Signal(name="stochastic") if r.stoch else Const(0)
        r.trace_en = Signal()
        r.max_visits = Signal(COUNTER_BITS)
        r.beta_last = Signal(range(cfg.beta_depth))
        r.rng = Signal(32)
        r.pos = Signal(range(max(2, N)))         # visit number mod N
        r.beta_idx = Signal(range(cfg.beta_depth))
        if r.stoch:
            m.d.comb += [r.beta_rd.addr.eq(r.beta_idx), r.beta_rd.en.eq(1)]
        r.rng_next = Signal(32)
        m.d.comb += r.rng_next.eq(xorshift32_next(r.rng))

        # -- flip registers -------------------------------------------------------------------
        r.j = Signal(range(max(2, N)))
        r.cj = Signal(range(max(2, C)))
        r.lj = Signal(range(max(2, K)))
        r.snew = Signal()                 # s_j' (1 = +1)
        r.counting = Signal()             # a run's flip (counted, traced) or a state write's
        r.wbase = Signal(range(max(2, N * C)))
        r.hj = Signal(signed(A))
        r.bj = Signal(signed(BB))
        r.wjj = Signal(signed(WB))
        r.tacc = Signal(signed(cfg.energy_bits + 1))   # column field c_j, or -2E in FINAL
        r.hbw = Signal(signed(A + 2))                   # h_j + b_j + 2 W_jj s_j'
        m.d.sync += r.hbw.eq(r.hj + r.bj + Mux(r.snew, r.wjj << 1, -(r.wjj << 1)))
        r.running_cnt = Signal(cnt_bits)

    def _column_pass(self, m: Module, r: SimpleNamespace):
        """The column pass pipeline: issue, the lanes (stage 1 -> 2), the adder tree, the chunk
        word (stage 3), the prefix registers and the drain count."""
        cfg = self.config
        N, K, C = cfg.neurons, cfg.lanes, cfg.chunks
        WB, BB, A = cfg.weight_bits, cfg.bias_bits, cfg.acc_bits
        cnt_bits = N.bit_length()
        r.issue = Signal()
        r.issue_c = Signal(range(max(2, C)))
        r.issue_mode = Signal(PassMode)
        r.issue_sign = Signal()
        r.issue_waddr = Signal.like(r.waddr)

        r.p1_valid = Signal()
        p1_c, p1_mode, p1_sign = Signal.like(r.issue_c), Signal(PassMode), Signal()
        m.d.sync += [r.p1_valid.eq(r.issue), p1_c.eq(r.issue_c), p1_mode.eq(r.issue_mode),
                     p1_sign.eq(r.issue_sign)]

        # Stage 1 -> 2: the per-lane adds (LaneArray); stage 2 writes back h, state and
        # unstable flags and counts the unstable neurons.
        m.submodules.lanes = r.lanes = LaneArray(cfg, early_flags=r.chain)
        m.submodules.hebbian = r.hebb = HebbianLanes(cfg)
        p1_isj = p1_c == r.cj
        r.p2_valid = Signal()
        r.p2_c = Signal.like(r.issue_c)
        m.d.sync += [r.p2_valid.eq(r.p1_valid), r.p2_c.eq(p1_c)]
        m.d.comb += [r.lanes.mode.eq(p1_mode), r.lanes.sign.eq(p1_sign), r.lanes.flip.eq(p1_isj),
                     r.lanes.flip_lane.eq(r.lj), r.lanes.w_word.eq(r.w_rd.data),
                     r.lanes.h_word.eq(r.h_rd.data), r.lanes.b_word.eq(r.b_rd.data),
                     # read with the chunk's issue, like h and b
                     r.lanes.s_word.eq(r.s_rda.data.state),
                     r.lanes.mask.eq(self._lane_mask(r.p2_c))]
        with m.If(r.p1_valid & p1_isj):
            m.d.sync += [r.hj.eq(r.h_rd.data.word_select(r.lj, A).as_signed()),
                         r.bj.eq(r.b_rd.data.word_select(r.lj, BB).as_signed()),
                         r.wjj.eq(r.w_rd.data.word_select(r.lj, WB).as_signed())]
        r.p2_s, r.p2_um, p2_count = r.lanes.s_next, r.lanes.unstable, r.lanes.count
        if r.chain:
            # In flip passes, the chunk's flags are registered here already, so the chained
            # select (and HYP's P) starts from registers.
            m.d.comb += r.lanes.early_mask.eq(self._lane_mask(p1_c))
            r.p2_uf, r.p2_xf = r.lanes.early_unstable, r.lanes.early_count
        r.p3_valid = Signal()
        p3_c = Signal.like(r.issue_c)
        r.p3_cnt = Signal(range(K + 1))
        p3_s, p3_u = Signal(K), Signal(K)
        m.d.sync += [r.p3_valid.eq(r.p2_valid), p3_c.eq(r.p2_c), p3_s.eq(r.p2_s), p3_u.eq(r.p2_um),
                     r.p3_cnt.eq(p2_count)]
        for l in range(K):
            m.d.comb += r.tree.inputs[l].eq(r.lanes.terms[l])
        # A pass's sum restarts with its chunk 0 as that leaves the tree, not when the pass is
        # issued: chained flips issue the next pass before the last one has left the tree.
        m.d.comb += [r.tree.valid_in.eq(r.p2_valid), r.tree.first_in.eq(r.p2_c == 0)]
        with m.If(r.tree.valid_out):
            m.d.sync += r.tacc.eq(Mux(r.tree.first_out, 0, r.tacc) + r.tree.total)

        # Stage 3: the chunk word (states, flags and the exclusive prefix count). A pass never
        # reads a chunk word another pass of the same flip still has to write: flips drain
        # first, and the refresh's back-to-back passes do not change the states.
        # The running count restarts at every pass's chunk 0 (for the same reason as tacc).
        r.p3_base = Signal(cnt_bits)
        m.d.comb += r.p3_base.eq(Mux(p3_c == 0, 0, r.running_cnt))
        m.d.comb += [r.s_wr.addr.eq(p3_c), r.s_wr.data.state.eq(p3_s), r.s_wr.data.flags.eq(p3_u),
                     r.s_wr.data.prefix.eq(r.p3_base), r.s_wr.en.eq(r.p3_valid)]
        with m.If(r.p3_valid):
            m.d.sync += r.running_cnt.eq(r.p3_base + r.p3_cnt)
        # The parallel locate's copy of the prefix counts (chunk 0's is always 0). LOCATE runs
        # after the pass has drained, so no bypass of the register being written is needed.
        r.prefix_regs = ({c: Signal(cnt_bits, name=f"prefix{c}") for c in range(1, C)}
                       if r.locate else {})
        if r.chain:
            # Chained flips read chunk C-2's prefix count in the cycle after stage 2 holds it,
            # so there the registers follow a count kept one stage earlier (the same values).
            assert r.locate
            cnt2 = Signal(cnt_bits)            # unstable neurons so far in this pass, stage 2
            r.base2 = Signal(cnt_bits)
            m.d.comb += r.base2.eq(Mux(r.p2_c == 0, 0, cnt2))
            with m.If(r.p2_valid):
                m.d.sync += cnt2.eq(r.base2 + p2_count)
            for c, reg in r.prefix_regs.items():
                with m.If(r.p2_valid & (r.p2_c == c)):
                    m.d.sync += reg.eq(r.base2)
        else:
            for c, reg in r.prefix_regs.items():
                with m.If(r.p3_valid & (p3_c == c)):
                    m.d.sync += reg.eq(r.p3_base)

        # Pipeline occupancy, so that a pass is complete (drained) before its result is used.
        r.drain = Signal(range(r.tree.latency + 4))
        r.pipe_empty = Signal()
        m.d.comb += r.pipe_empty.eq(~r.issue & ~r.p1_valid & ~r.p2_valid & ~r.p3_valid &
                                  ~r.tree.valid_out & (r.drain == 0))
        with m.If(r.p2_valid):
            m.d.sync += r.drain.eq(r.tree.latency)
        with m.Elif(r.drain != 0):
            m.d.sync += r.drain.eq(r.drain - 1)

    def _port_defaults(self, m: Module, r: SimpleNamespace):
        """Memory port defaults: the pass's addresses while it issues, else the FSM's."""
        m.d.comb += [r.h_wr.addr.eq(r.p2_c), r.h_wr.data.eq(r.lanes.h_next),
                     r.h_wr.en.eq(r.p2_valid)]
        r.h_rd_addr = Signal.like(r.issue_c)
        m.d.comb += [r.h_rd.addr.eq(Mux(r.issue, r.issue_c, r.h_rd_addr)), r.h_rd.en.eq(1)]
        r.b_rd_addr = Signal.like(r.issue_c)
        m.d.comb += [r.b_rd.addr.eq(Mux(r.issue, r.issue_c, r.b_rd_addr)), r.b_rd.en.eq(1)]
        r.sa_addr = Signal.like(r.issue_c)
        m.d.comb += [r.s_rda.addr.eq(Mux(r.issue, r.issue_c, r.sa_addr)), r.s_rda.en.eq(1)]
        with m.If(r.issue):
            m.d.comb += [r.waddr.eq(r.issue_waddr), r.w_rd.en.eq(~r.issue_mode.as_value()[1])]

    def _selection(self, m: Module, r: SimpleNamespace):
        """Selection helpers: the index draws, the rank select, j's chunk and lane, the Glauber
        datapath."""
        cfg = self.config
        N, K, C = cfg.neurons, cfg.lanes, cfg.chunks
        A = cfg.acc_bits
        cnt_bits = N.bit_length()
        m.submodules.draw_n = r.draw_n = IndexDraw(N)           # random order: n = N
        m.d.comb += [r.draw_n.word.eq(r.rng_next), r.draw_n.n.eq(N)]
        m.submodules.draw_u = r.draw_u = IndexDraw(N)           # rejection_free: n = |U|
        r.n_now = Signal(cnt_bits)   # |U| as of this cycle (the drain's last cycle: the new one)
        m.d.comb += [r.n_now.eq(r.n_unst), r.draw_u.word.eq(r.rng_next), r.draw_u.n.eq(r.n_now)]
        r.rank_k = Signal(range(max(2, N)))
        r.sc = Signal(range(max(2, C)))
        r.sbit = Signal(max(1, (C - 1).bit_length()))          # one-hot probe bit
        # sc * K * C, the weight address of the chosen chunk's column 0, kept beside sc: SELECT
        # then adds no multiply between the flags it reads and the weight memory's address
        # (that path was the critical one of the 85F build, with K * C = 1026).
        r.sc_base = Signal(range(max(2, N * C)))
        m.submodules.rank = r.rank = RankSelect(K)
        m.d.comb += [r.rank.bits.eq(r.s_rda.data.flags),
                     r.rank.rank.eq(r.rank_k - r.s_rda.data.prefix)]

        r.jdiv, r.jmod = divmod_const(r.j, K, max(1, (N - 1).bit_length()))
        if r.stoch:
            m.submodules.logistic = r.logistic = Logistic(A + BETA_BITS + 2)
            r.t_reg = Signal(signed(A + BETA_BITS + 2))
            r.p_reg = Signal(range(1 << 17))
            r.r_word = Signal(16)             # the top half of the Glauber word (all §8 uses)
            m.d.comb += r.logistic.t.eq(r.t_reg)

    def _access_registers(self, m: Module, r: SimpleNamespace):
        """Access command registers, the reply and the trace payload."""
        cfg = self.config
        P = self.ports
        N, K, C = cfg.neurons, cfg.lanes, cfg.chunks
        NK = C * K
        r.cmd = Signal(P.access)
        r.reply_data = Signal(P.data_bits)
        m.d.comb += self.reply.payload.data.eq(r.reply_data)
        r.loop = Signal(range(max(2, N * C + 1)))     # word counter of clear / Hebbian store
        r.loop_j = Signal(range(max(2, N)))
        r.loop_c = Signal(range(max(2, C)))
        r.loop_i0 = Signal(range(max(2, NK + 1)))
        r.pend = Signal(K)                 # state-write lanes still to apply as flips
        r.ws_new = Signal(K)               # the state chunk being written
        m.d.comb += r.ws_new.eq(r.cmd.data[:K] & self._lane_mask(r.cmd.chunk))
        r.loop_jc = Signal(range(max(2, C + 1)))     # Hebbian column j = loop_jc * K + loop_jl
        r.loop_jl = Signal(range(max(2, K)))
        r.s_old = Signal()                 # stochastic visit: s_j before the decision
        r.rcol = Signal(range(max(2, N + 1)))    # refresh column counter
        r.pc = Signal(range(max(2, C + 1)))      # pass issue counter
        r.after_refresh = Signal()               # the refresh was started by a run

        r.cmd_waddr = Signal.like(r.waddr)
        m.d.comb += r.cmd_waddr.eq(r.cmd.index[:max(1, (N - 1).bit_length())] * C + r.cmd.chunk)

        trace_p = self.trace.payload
        r.tr_delta = Signal(signed(P.delta_bits))
        m.d.comb += [trace_p.visit.eq(r.visits), trace_p.index.eq(r.j), trace_p.value.eq(r.snew),
                     trace_p.delta_energy2.eq(r.tr_delta)]

        r.order_ok = Signal()
        m.d.comb += r.order_ok.eq(0)
        for o in cfg.orders:
            with m.If(self.run.payload.order == RunOrder(int(o))):
                m.d.comb += r.order_ok.eq(1)

    def _prefetch(self, m: Module, r: SimpleNamespace):
        """The prefetch of the next visit's chunk word (port B)."""
        cfg = self.config
        N, K = cfg.neurons, cfg.lanes
        # The neuron visited in the next cycle is known one cycle ahead: pos (+1 when this
        # cycle ends a visit) in sequential order, the candidate of the word after the next
        # xorshift step in random order, the next column in the refresh. Its chunk word is read
        # now, so a stable visit still costs one cycle. After a flip the pipeline has drained
        # before VISIT, and the cycle before it reads the word again.
        r.pos_adv = Signal()            # this cycle ends a visit (visit_done)
        r.rng_step = Signal()           # this cycle draws a word
        r.run_load = Signal()           # this cycle starts a run (IDLE)
        r.use_rcol = Signal()           # refresh: read the column's sign instead
        r.rcol_adv = Signal()           # refresh: the next cycle issues the next column
        with m.If(r.rng_step):
            m.d.sync += r.rng.eq(r.rng_next)
        mbits = (N - 1).bit_length()
        rng_future = Mux(r.run_load, load_state(self.run.payload.seed),
                         Mux(r.rng_step, r.rng_next, r.rng))
        cand_future = xorshift32_next(rng_future)[32 - mbits:] if mbits else Const(0)
        pos_future = Mux(r.run_load | ~r.pos_adv, Mux(r.run_load, 0, r.pos),
                         Mux(r.pos == N - 1, 0, r.pos + 1))
        order_future = Mux(r.run_load, self.run.payload.order, r.order)
        next_bits = max(1, N.bit_length(), mbits)
        next_j = Signal(next_bits)
        with m.If(r.use_rcol):
            m.d.comb += next_j.eq(Mux(r.rcol_adv, r.rcol + 1, r.rcol))
        with m.Elif(order_future == RunOrder.RANDOM):
            m.d.comb += next_j.eq(cand_future)
        with m.Else():
            m.d.comb += next_j.eq(pos_future)
        next_c, next_l = divmod_const(next_j, K, next_bits)
        v_l = Signal(range(max(2, K)))       # lane of the word port B holds
        m.d.sync += v_l.eq(next_l)
        m.d.comb += [r.s_rdb.addr.eq(next_c), r.s_rdb.en.eq(1)]
        r.v_state = r.s_rdb.data.state.bit_select(v_l, 1)
        r.v_flag = r.s_rdb.data.flags.bit_select(v_l, 1)

    def _start_flip(self, m: Module, r: SimpleNamespace, index, count, new):
        # Every flip sets s_j' = -s_j (``new``): a deterministic flip by definition, a
        # Glauber or state-write flip because it is taken only when the value changes.
        m.d.sync += [r.j.eq(index), r.counting.eq(count), r.snew.eq(new)]
        m.next = "SETUP"

    def _visit_done(self, m: Module, r: SimpleNamespace, prefetch=True):
        cfg = self.config
        N = cfg.neurons
        """Count one visit that did not flip (or the end of a flip's visit). Chained flips
        (rejection_free: no prefetch) leave the prefetch out of their select cycle's
        paths."""
        if prefetch:
            m.d.comb += r.pos_adv.eq(1)
        m.d.sync += r.visits.eq(r.visits + 1)
        with m.If(r.pos == N - 1):
            m.d.sync += r.pos.eq(0)
            with m.If(r.beta_idx != r.beta_last):
                m.d.sync += r.beta_idx.eq(r.beta_idx + 1)
        with m.Else():
            m.d.sync += r.pos.eq(r.pos + 1)

    def _energy_delta(self, m: Module, r: SimpleNamespace, s_new, hbw_value):
        return Mux(s_new, -((hbw_value + r.tacc) << 1), (hbw_value + r.tacc) << 1)

    def _energy(self, m: Module, r: SimpleNamespace):
        """delta(2E) of the flip, and when 2E takes it (e_pend: the early drain, chained flips)."""
        cfg = self.config
        r.delta = Signal(signed(cfg.energy_bits + 2))
        m.d.comb += r.delta.eq(self._energy_delta(m, r, r.snew, r.hbw))
        # The early drain (untraced rejection_free flips): |U| is final in the cycle the last
        # chunk's word is written, so the next draw happens there; 2E follows when the adder
        # tree has drained (e_pend), before the next pass can reset tacc (L <= B + 1) and
        # before the run may end (VISIT waits for it).
        r.e_pend = Signal()
        e_fin = Signal()
        if r.chain:
            # Chained flips: the next pass is issued two cycles after this one's last chunk,
            # so 2E is finished on a fixed schedule from then (FSEL sets e_count = L + 1):
            # h_j + b_j + 2 W_jj s_j' is latched at e_count = L + 1, before the next pass
            # replaces it, and tacc holds this pass's whole column field at e_count = 1, for
            # that one cycle before the next pass's chunk 0 restarts it.
            r.e_count = Signal(range(r.tree.latency + 2))
            hbw_f = Signal.like(r.hbw)
            r.snew_f = Signal()
            with m.If(r.e_count != 0):
                m.d.sync += r.e_count.eq(r.e_count - 1)
            with m.If(r.e_count == r.tree.latency + 1):
                m.d.sync += hbw_f.eq(r.hbw)
            delta_f = Signal.like(r.delta)
            m.d.comb += [delta_f.eq(self._energy_delta(m, r, r.snew_f, hbw_f)),
                         e_fin.eq(r.e_pend & (r.e_count == 1))]
            with m.If(e_fin):
                m.d.sync += [r.energy2.eq(r.energy2 + delta_f), r.e_pend.eq(0)]
        else:
            m.d.comb += e_fin.eq(r.e_pend & ~r.tree.valid_out & (r.drain == 0))
            with m.If(e_fin):
                m.d.sync += [r.energy2.eq(r.energy2 + r.delta), r.e_pend.eq(0)]
        r.fin_ok = ~r.e_pend | e_fin

    def _lookahead(self, m: Module, r: SimpleNamespace):
        """Chained flips: the next flip, looked ahead (DrawLookahead) from the flag/state files."""
        cfg = self.config
        N, K, C = cfg.neurons, cfg.lanes, cfg.chunks
        # The next flip (DrawLookahead). Its draw is latched every cycle; the one that
        # counts is the cycle after a pass's last issue (HYP: chunk C-2 is in stage 2, so
        # P = base2 + its early count) or, for FIRST, the cycle that starts the run (outside
        # a run the registers hold the whole state). The select reads registers only (the
        # flag and state files and the prefix registers, written from stage 2) but for the
        # last chunk, which is in stage 2 in FSEL. Sources are
        # chosen by registers (running, refreshing, in_first), not by the state decode.
        m.submodules.lookahead = r.look = DrawLookahead(N, K, DRAW_LOOKAHEAD)
        r.in_first = Signal()                # this is the FIRST cycle
        m.d.sync += r.in_first.eq(0)
        flag_file = [Signal(K, name=f"flags{c}") for c in range(C)]
        state_file = [Signal(K, name=f"states{c}") for c in range(C)]
        for c in range(C):
            with m.If(r.p2_valid & (r.p2_c == c)):
                m.d.sync += [flag_file[c].eq(r.p2_um), state_file[c].eq(r.p2_s)]
        m.d.comb += r.look.partial.eq(Mux(r.running, r.base2 + r.p2_xf, r.prefix_regs[C - 1]))
        # Each word a signal of its own: as an expression, every use of word i would copy
        # the whole chain of steps before it (a tree, not a graph, in the netlist and the
        # simulators; yosys merges the copies, the simulators do not).
        r.words = [Signal(32, name=f"look_word{i}") for i in range(DRAW_LOOKAHEAD)]
        m.d.comb += r.words[0].eq(xorshift32_next(Mux(r.running | r.refreshing, r.rng,
                                                      load_state(self.run.payload.seed))))
        for prev, word in zip(r.words, r.words[1:]):
            m.d.comb += word.eq(xorshift32_next(prev))
        for i, w in enumerate(r.words):
            m.d.comb += r.look.words[i].eq(w)
        for c in range(C - 1):
            m.d.comb += [r.look.flags[c].eq(flag_file[c]), r.look.states[c].eq(state_file[c]),
                         r.look.prefix[c].eq(r.prefix_regs[c] if c else 0)]
        m.d.comb += [r.look.last_flags.eq(Mux(r.in_first, flag_file[C - 1], r.p2_uf)),
                     r.look.last_count.eq(Mux(r.in_first, popcount(m, flag_file[C - 1],
                                                                 "first_count"), r.p2_xf)),
                     r.look.last_states.eq(Mux(r.in_first, state_file[C - 1], r.p2_s))]
        r.word_used = r.words[-1]
        for i in reversed(range(DRAW_LOOKAHEAD - 1)):
            r.word_used = Mux(r.look.used == i, r.words[i], r.word_used)

    def _chained_select(self, m: Module, r: SimpleNamespace, go):
        """Issue the looked-ahead flip's chunk 0 if the draw was decided (FSEL and
        FIRST), else leave the rest to VISIT."""
        with m.If(go & r.look.accept):
            m.d.comb += [r.issue.eq(1), r.issue_c.eq(0), r.issue_mode.eq(PassMode.FLIP),
                         r.issue_sign.eq(r.look.new), r.issue_waddr.eq(r.look.base)]
            m.d.sync += [r.rng.eq(r.word_used), r.j.eq(r.look.index), r.cj.eq(r.look.chunk),
                         r.lj.eq(r.look.lane), r.counting.eq(1), r.wbase.eq(r.look.base),
                         r.pc.eq(1), r.snew.eq(r.look.new)]
            m.next = "PASS"
        with m.Elif(go):
            # Every looked-ahead word was rejected: VISIT draws on from there.
            m.d.sync += r.rng.eq(r.words[-1])
            m.next = "VISIT"
        with m.Else():
            m.next = "VISIT"      # which ends the run once 2E is final

    def _begin_run(self, m: Module, r: SimpleNamespace, n, cap, order_v, stoch_v, trace_v):
        """Go to the run's first cycle: FIRST when the first flip can be looked ahead
        (chained flips; the hypotheses are latched in this cycle), else VISIT."""
        if not r.chain:
            m.next = "VISIT"
            return
        with m.If((order_v == RunOrder.REJECTION_FREE) & ~stoch_v & ~trace_v & (n != 0) &
                  (cap != 0)):
            m.d.sync += r.in_first.eq(1)
            m.next = "FIRST"
        with m.Else():
            m.next = "VISIT"

    def _run_goes_on(self, m: Module, r: SimpleNamespace, n, visits_now):
        """A rejection_free run draws its next visit: neurons are unstable, the cap is not
        reached and no stop is asked for."""
        return (n != 0) & (visits_now != r.max_visits) & ~self.stop

    def _rf_draw(self, m: Module, r: SimpleNamespace, visits_now):
        """The first draw of the next rejection_free visit, in the last cycle of the previous
        flip (drain or trace handshake) instead of a VISIT cycle of its own. Where the run
        ends or the word is rejected, VISIT takes over (same checks, same words)."""
        go = ((r.order == RunOrder.REJECTION_FREE) & ~r.stochastic &
              self._run_goes_on(m, r, r.n_now, visits_now))
        m.d.comb += r.sa_addr.eq(r.search_first)
        with m.If(go):
            m.d.comb += r.rng_step.eq(1)
        with m.If(go & r.draw_u.accept):
            m.d.sync += [r.rank_k.eq(r.draw_u.index), r.sc.eq(0), r.sc_base.eq(0),
                         r.sbit.eq(r.search_first)]
            m.next = r.next_after_draw
        with m.Else():
            m.next = "VISIT"

    def _idle_state(self, m: Module, r: SimpleNamespace):
        """IDLE: take an access, or start a run (through the refresh if dirty)."""
        cfg = self.config
        with m.State("IDLE"):
            m.d.comb += [self.access.ready.eq(1), self.run.ready.eq(~self.access.valid)]
            with m.If(self.access.valid):
                m.d.sync += [r.cmd.eq(self.access.payload), r.busy.eq(1)]
                m.next = "EXEC"
            with m.Elif(self.run.valid):
                rp = self.run.payload
                m.d.comb += r.run_load.eq(1)
                bad = ~r.order_ok
                if cfg.has(Feature.STOCHASTIC):
                    bad = bad | (rp.stochastic & (rp.order == RunOrder.REJECTION_FREE))
                else:
                    bad = bad | rp.stochastic
                m.d.sync += [
                    r.order.eq(rp.order), *([r.stochastic.eq(rp.stochastic)] if r.stoch else []),
                    r.trace_en.eq(rp.trace if cfg.has(Feature.TRACE) else 0),
                    r.max_visits.eq(rp.max_visits),
                    r.beta_last.eq(Mux(rp.beta_len == 0, 0, rp.beta_len - 1)),
                    r.rng.eq(load_state(rp.seed)), r.visits.eq(0), r.flips.eq(0), r.cycles.eq(0),
                    r.pos.eq(0), r.beta_idx.eq(0), r.busy.eq(1),
                    r.stop_reason.eq(StopReason.NONE),
                ]
                with m.If(bad):
                    m.d.sync += [r.stop_reason.eq(StopReason.STOP), r.busy.eq(0),
                                 r.refresh_cycles.eq(0)]
                with m.Elif(r.dirty):
                    m.d.sync += [r.after_refresh.eq(1), r.refresh_cycles.eq(0),
                                 r.refreshing.eq(1), r.pc.eq(0)]
                    m.next = "R_INIT"
                with m.Else():
                    m.d.sync += [r.refresh_cycles.eq(0), r.running.eq(1)]
                    self._begin_run(m, r, r.n_unst, rp.max_visits, rp.order,
                              rp.stochastic if r.stoch else Const(0),
                              rp.trace if cfg.has(Feature.TRACE) else Const(0))

    def _exec_state(self, m: Module, r: SimpleNamespace):
        """EXEC: the access operation's first cycle (a write is done in it)."""
        cfg = self.config
        K, C = cfg.lanes, cfg.chunks
        WB, BB = cfg.weight_bits, cfg.bias_bits
        with m.State("EXEC"):
            with m.Switch(r.cmd.op):
                with m.Case(AccessOp.WRITE_WEIGHTS):
                    m.d.comb += [r.waddr.eq(r.cmd_waddr),
                                 r.w_wr.data.eq(r.cmd.data[:K * WB] & _lane_bits(
                                     self._lane_mask(r.cmd.chunk), K, WB)),
                                 r.w_wr.en.eq(1)]
                    m.d.sync += [r.dirty.eq(1), r.busy.eq(0)]
                    m.next = "IDLE"
                with m.Case(AccessOp.READ_WEIGHTS):
                    m.d.comb += [r.waddr.eq(r.cmd_waddr), r.w_rd.en.eq(1)]
                    m.next = "READ_W"
                with m.Case(AccessOp.WRITE_BIAS):
                    m.d.comb += [r.b_wr.addr.eq(r.cmd.chunk),
                                 r.b_wr.data.eq(r.cmd.data[:K * BB] & _lane_bits(
                                     self._lane_mask(r.cmd.chunk), K, BB)),
                                 r.b_wr.en.eq(1)]
                    m.d.sync += [r.dirty.eq(1), r.busy.eq(0)]
                    m.next = "IDLE"
                with m.Case(AccessOp.READ_BIAS):
                    m.d.comb += r.b_rd_addr.eq(r.cmd.chunk)
                    m.next = "READ_B"
                with m.Case(AccessOp.WRITE_STATE):
                    with m.If(r.dirty):
                        # Flags and prefix counts are stale anyway (the refresh rewrites
                        # them).
                        m.d.comb += [r.s_wr.addr.eq(r.cmd.chunk), r.s_wr.data.eq(0),
                                     r.s_wr.data.state.eq(r.ws_new), r.s_wr.en.eq(1)]
                        m.d.sync += r.busy.eq(0)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += r.sa_addr.eq(r.cmd.chunk)
                        m.next = "WS_READ"
                with m.Case(AccessOp.READ_STATE):
                    m.d.comb += r.sa_addr.eq(r.cmd.chunk)
                    m.next = "READ_S"
                with m.Case(AccessOp.STORE_PATTERN):
                    if cfg.has(Feature.HEBBIAN):
                        m.d.comb += [r.pat_wr.addr.eq(r.cmd.chunk), r.pat_wr.en.eq(1),
                                     r.pat_wr.data.eq(r.cmd.data[:K] &
                                                      self._lane_mask(r.cmd.chunk))]
                        with m.If(r.cmd.chunk == C - 1):
                            m.d.sync += [r.loop.eq(0), r.loop_j.eq(0), r.loop_c.eq(0),
                                         r.loop_i0.eq(0), r.loop_jc.eq(0), r.loop_jl.eq(0),
                                         r.dirty.eq(1)]
                            m.next = "HEBB_RD"
                        with m.Else():
                            m.d.sync += r.busy.eq(0)
                            m.next = "IDLE"
                    else:
                        m.d.sync += r.busy.eq(0)
                        m.next = "IDLE"
                with m.Case(AccessOp.WRITE_BETA):
                    if r.stoch:     # accepted and ignored without the schedule
                        m.d.comb += [r.beta_wr.addr.eq(r.cmd.index),
                                     r.beta_wr.data.eq(r.cmd.data), r.beta_wr.en.eq(1)]
                    m.d.sync += r.busy.eq(0)
                    m.next = "IDLE"
                with m.Case(AccessOp.CLEAR):
                    m.d.sync += r.loop.eq(0)
                    m.next = "CLEAR"
                with m.Default():
                    m.d.sync += r.busy.eq(0)
                    m.next = "IDLE"

    def _access_states(self, m: Module, r: SimpleNamespace):
        """The access operations' further cycles: the reads, CLEAR, the Hebbian store, the
        state write's flips."""
        cfg = self.config
        N, K, C = cfg.neurons, cfg.lanes, cfg.chunks
        with m.State("READ_W"):
            m.d.sync += r.reply_data.eq(r.w_rd.data)
            m.next = "REPLY"
        with m.State("READ_B"):
            m.d.sync += r.reply_data.eq(r.b_rd.data)
            m.next = "REPLY"
        with m.State("READ_S"):
            m.d.sync += r.reply_data.eq(r.s_rda.data.state)
            m.next = "REPLY"
        with m.State("WS_READ"):
            m.d.sync += r.pend.eq(r.ws_new ^ r.s_rda.data.state)
            m.next = "WS_NEXT"
        with m.State("REPLY"):
            m.d.comb += self.reply.valid.eq(1)
            with m.If(self.reply.ready):
                m.d.sync += r.busy.eq(0)
                m.next = "IDLE"

        with m.State("CLEAR"):
            m.d.comb += [r.waddr.eq(r.loop), r.w_wr.data.eq(0), r.w_wr.en.eq(1),
                         r.b_wr.addr.eq(r.loop), r.b_wr.data.eq(0), r.b_wr.en.eq(r.loop < C)]
            m.d.comb += [r.h_wr.addr.eq(r.loop), r.h_wr.data.eq(0), r.h_wr.en.eq(r.loop < C),
                         r.s_wr.addr.eq(r.loop), r.s_wr.data.eq(0), r.s_wr.en.eq(r.loop < C)]
            m.d.sync += r.loop.eq(r.loop + 1)
            with m.If(r.loop == N * C - 1):
                m.d.sync += [r.dirty.eq(0), r.energy2.eq(0), r.n_unst.eq(0), r.busy.eq(0)]
                m.next = "IDLE"

        # On-chip Hebbian store (§9): read a word, then write it back updated.
        with m.State("HEBB_RD"):
            m.d.comb += [r.waddr.eq(r.loop), r.w_rd.en.eq(1)]
            if cfg.has(Feature.HEBBIAN):
                m.d.comb += [r.pat_rda.addr.eq(r.loop_c), r.pat_rdb.addr.eq(r.loop_jc)]
            m.next = "HEBB_WR"
        with m.State("HEBB_WR"):
            pj = r.pat_rdb.data.bit_select(r.loop_jl, 1) if cfg.has(Feature.HEBBIAN) else 0
            pch = r.pat_rda.data if cfg.has(Feature.HEBBIAN) else Const(0, K)
            diag = Cat(*(r.loop_i0 + l == r.loop_j for l in range(K)))
            m.d.comb += [r.hebb.w_word.eq(r.w_rd.data), r.hebb.p_word.eq(pch),
                         r.hebb.pattern_j.eq(pj),
                         r.hebb.keep.eq(~self._lane_mask(r.loop_c) | diag)]
            m.d.comb += [r.waddr.eq(r.loop), r.w_wr.data.eq(r.hebb.w_next), r.w_wr.en.eq(1)]
            m.d.sync += r.loop.eq(r.loop + 1)
            with m.If(r.loop_c == C - 1):
                m.d.sync += [r.loop_c.eq(0), r.loop_i0.eq(0), r.loop_j.eq(r.loop_j + 1)]
                with m.If(r.loop_jl == K - 1):
                    m.d.sync += [r.loop_jl.eq(0), r.loop_jc.eq(r.loop_jc + 1)]
                with m.Else():
                    m.d.sync += r.loop_jl.eq(r.loop_jl + 1)
            with m.Else():
                m.d.sync += [r.loop_c.eq(r.loop_c + 1), r.loop_i0.eq(r.loop_i0 + K)]
            with m.If(r.loop == N * C - 1):
                m.d.sync += r.busy.eq(0)
                m.next = "IDLE"
            with m.Else():
                m.next = "HEBB_RD"

        # A state write with valid fields: apply each changed bit as an (uncounted) flip.
        with m.State("WS_NEXT"):
            low = Signal(range(max(2, K)))
            for l in reversed(range(K)):
                with m.If(r.pend[l]):
                    m.d.comb += low.eq(l)
            with m.If(r.pend == 0):
                m.d.sync += r.busy.eq(0)
                m.next = "IDLE"
            with m.Else():
                m.d.sync += r.pend.eq(r.pend & ~(1 << low)[:K])
                self._start_flip(m, r, r.cmd.chunk * K + low, 0, r.ws_new.bit_select(low, 1))

    def _refresh_states(self, m: Module, r: SimpleNamespace):
        """The refresh R_*: h = b, + column j for every j, then the final pass."""
        cfg = self.config
        N, C = cfg.neurons, cfg.chunks
        with m.State("R_INIT"):
            m.d.comb += [r.issue.eq(1), r.issue_c.eq(r.pc), r.issue_mode.eq(PassMode.INIT)]
            m.d.sync += r.pc.eq(r.pc + 1)
            with m.If(r.pc == C - 1):
                m.d.sync += [r.pc.eq(0), r.rcol.eq(0), r.loop.eq(0)]
                m.next = "R_INIT_DRAIN"
        with m.State("R_INIT_DRAIN"):
            m.d.comb += r.use_rcol.eq(1)
            with m.If(r.pipe_empty):
                m.next = "R_COLS"
        with m.State("R_COLS"):
            # Port B holds the chunk word of column rcol (read the cycle before).
            m.d.comb += [r.issue.eq(1), r.issue_c.eq(r.pc), r.issue_mode.eq(PassMode.ADDCOL),
                         r.issue_sign.eq(r.v_state), r.issue_waddr.eq(r.loop),
                         r.use_rcol.eq(1), r.rcol_adv.eq(r.pc == C - 1)]
            m.d.sync += [r.pc.eq(r.pc + 1), r.loop.eq(r.loop + 1)]
            with m.If(r.pc == C - 1):
                m.d.sync += [r.pc.eq(0), r.rcol.eq(r.rcol + 1)]
                # Back-to-back columns would read a chunk before the previous column's
                # write of it lands when C < 3; drain between columns then.
                with m.If(r.rcol == N - 1):
                    m.next = "R_COLS_DRAIN"
                elif_small = C < 3
                if elif_small:
                    with m.Else():
                        m.next = "R_COL_GAP"
        with m.State("R_COL_GAP"):
            m.d.comb += r.use_rcol.eq(1)
            with m.If(r.pipe_empty):
                m.next = "R_COLS"
        with m.State("R_COLS_DRAIN"):
            with m.If(r.pipe_empty):
                m.d.sync += r.pc.eq(0)
                m.next = "R_FINAL"
        with m.State("R_FINAL"):
            m.d.comb += [r.issue.eq(1), r.issue_c.eq(r.pc), r.issue_mode.eq(PassMode.FINAL)]
            m.d.sync += r.pc.eq(r.pc + 1)
            with m.If(r.pc == C - 1):
                m.next = "R_FINAL_DRAIN"
        with m.State("R_FINAL_DRAIN"):
            with m.If(r.pipe_empty):
                m.d.sync += [r.energy2.eq(r.tacc), r.n_unst.eq(r.running_cnt), r.dirty.eq(0),
                             r.refreshing.eq(0)]
                with m.If(r.after_refresh):
                    m.d.sync += [r.after_refresh.eq(0), r.running.eq(1)]
                    self._begin_run(m, r, r.running_cnt, r.max_visits, r.order, r.stochastic,
                                    r.trace_en)
                with m.Else():
                    m.d.sync += r.busy.eq(0)
                    m.next = "IDLE"

    @staticmethod
    def _finish(m: Module, r: SimpleNamespace, reason):
        """End the run with ``reason``."""
        m.d.sync += [r.stop_reason.eq(reason), r.running.eq(0), r.busy.eq(0)]
        m.next = "IDLE"

    def _visit_state(self, m: Module, r: SimpleNamespace):
        """VISIT: end the run, or visit the next neuron (a deterministic visit in one cycle)."""
        with m.State("VISIT"):
            m.d.comb += r.sa_addr.eq(r.search_first)

            with m.If(~r.stochastic & (r.n_unst == 0)):
                with m.If(r.fin_ok):
                    self._finish(m, r, StopReason.CONVERGED)
            with m.Elif(r.visits == r.max_visits):
                with m.If(r.fin_ok):
                    self._finish(m, r, StopReason.CAP)
            with m.Elif(self.stop):
                with m.If(r.fin_ok):
                    self._finish(m, r, StopReason.STOP)
            if r.stoch:
                with m.Elif(r.stochastic):
                    with m.If(r.order == RunOrder.SEQUENTIAL):
                        m.d.sync += r.j.eq(r.pos)
                        m.next = "S_DIV"
                    with m.Else():
                        m.d.comb += r.rng_step.eq(1)
                        with m.If(r.draw_n.accept):
                            m.d.sync += r.j.eq(r.draw_n.index)
                            m.next = "S_DIV"
            with m.Else():
                with m.Switch(r.order):
                    with m.Case(RunOrder.SEQUENTIAL):
                        with m.If(r.v_flag):
                            self._start_flip(m, r, r.pos, 1, ~r.v_state)
                        with m.Else():
                            self._visit_done(m, r)
                    with m.Case(RunOrder.RANDOM):
                        m.d.comb += r.rng_step.eq(1)
                        with m.If(r.draw_n.accept):
                            with m.If(r.v_flag):
                                self._start_flip(m, r, r.draw_n.index, 1, ~r.v_state)
                            with m.Else():
                                self._visit_done(m, r)
                    with m.Case(RunOrder.REJECTION_FREE):
                        m.d.comb += r.rng_step.eq(1)
                        with m.If(r.draw_u.accept):
                            m.d.sync += [r.rank_k.eq(r.draw_u.index), r.sc.eq(0),
                                         r.sc_base.eq(0), r.sbit.eq(r.search_first)]
                            m.next = r.next_after_draw

    def _select_states(self, m: Module, r: SimpleNamespace):
        """rejection_free: the chunk of the k-th unstable neuron (LOCATE or SEARCH), SELECT."""
        cfg = self.config
        K, C = cfg.lanes, cfg.chunks
        # Parallel locate (C <= LOCATE_MAX_CHUNKS): the chunk is the last c whose prefix
        # count is <= k (the counts never decrease with c, so the compares form a
        # thermometer code and its edge is one-hot); its word is read for SELECT. The
        # compares use the registered k, so the draw's path does not grow.
        if r.locate:
            with m.State("LOCATE"):
                le = [Const(1)] + [r.prefix_regs[c] <= r.rank_k for c in range(1, C)] + [Const(0)]
                edge = [le[c] & ~le[c + 1] for c in range(C)]
                sc_loc = Signal.like(r.sc)
                m.d.comb += sc_loc.eq(Cat(*(
                    Cat(*(edge[c] for c in range(C) if c >> b & 1)).any()
                    for b in range(len(r.sc)))))
                m.d.comb += r.sa_addr.eq(sc_loc)
                m.d.sync += [r.sc.eq(sc_loc),
                             r.sc_base.eq(_or_all([Mux(edge[c], c * K * C, 0)
                                                 for c in range(C)]))]
                m.next = "SELECT"

        # Binary search of the prefix counts for the chunk holding the k-th unstable
        # neuron: one probe bit per cycle (the next address follows the data just read).
        if not r.locate:
            with m.State("SEARCH"):
                probe = Signal.like(r.sc)
                ok = Signal()
                m.d.comb += [probe.eq(r.sc | r.sbit),
                             ok.eq((probe < C) & (r.s_rda.data.prefix <= r.rank_k))]
                sc_next = Mux(ok, probe, r.sc)
                # (sc | sbit) * K * C from registers, in parallel with the probe's read
                probe_base = Signal.like(r.sc_base)
                m.d.comb += probe_base.eq(r.sc_base + _or_all(
                    [Mux(r.sbit[b], (1 << b) * K * C, 0) for b in range(len(r.sbit))]))
                m.d.sync += [r.sc.eq(sc_next), r.sc_base.eq(Mux(ok, probe_base, r.sc_base)),
                             r.sbit.eq(r.sbit >> 1)]
                # The last probe (sbit = 1) reads the chosen chunk's word for SELECT.
                m.d.comb += r.sa_addr.eq(sc_next | (r.sbit >> 1))
                with m.If(r.sbit == 1):
                    m.next = "SELECT"
        with m.State("SELECT"):
            # The chunk and lane are known here: set up the pass and issue its chunk 0.
            lane = r.rank.index
            sel_base = Signal.like(r.wbase)
            sel_new = Signal()
            # K candidate addresses from registers, then one K:1 choice by the lane
            with m.Switch(lane):
                for ln in range(K):
                    with m.Case(ln):
                        m.d.comb += sel_base.eq(r.sc_base + ln * C)
            m.d.comb += [sel_new.eq(~r.s_rda.data.state.bit_select(lane, 1)),
                         r.issue.eq(1), r.issue_c.eq(0), r.issue_mode.eq(PassMode.FLIP),
                         r.issue_sign.eq(sel_new), r.issue_waddr.eq(sel_base)]
            m.d.sync += [r.j.eq(r.sc * K + lane), r.cj.eq(r.sc), r.lj.eq(lane), r.counting.eq(1),
                         r.wbase.eq(sel_base), r.pc.eq(1), r.snew.eq(sel_new)]
            m.next = "PASS" if C > 1 else "DRAIN"

    def _stochastic_states(self, m: Module, r: SimpleNamespace):
        """The stochastic visit S_*: h_j, t = 2 beta h_j, p = logistic(t), compare."""
        cfg = self.config
        A = cfg.acc_bits
        if r.stoch:
            with m.State("S_DIV"):
                m.d.sync += [r.cj.eq(r.jdiv), r.lj.eq(r.jmod)]
                m.next = "S_READH"
            with m.State("S_READH"):
                m.d.comb += [r.h_rd_addr.eq(r.cj), r.sa_addr.eq(r.cj), r.rng_step.eq(1)]
                m.d.sync += r.r_word.eq(r.rng_next[16:])
                m.next = "S_T"
            with m.State("S_T"):
                hsel = r.h_rd.data.word_select(r.lj, A).as_signed()
                m.d.sync += [r.t_reg.eq((hsel * r.beta_rd.data) << 1),
                             r.s_old.eq(r.s_rda.data.state.bit_select(r.lj, 1))]
                m.next = "S_P"
            with m.State("S_P"):
                m.d.sync += r.p_reg.eq(r.logistic.p)
                m.next = "S_DEC"
            with m.State("S_DEC"):
                new = r.r_word < r.p_reg
                with m.If(new != r.s_old):
                    self._start_flip(m, r, r.j, 1, new)
                with m.Else():
                    self._visit_done(m, r)
                    m.next = "VISIT"

    def _flip_states(self, m: Module, r: SimpleNamespace):
        """The flip: one column pass (SETUP, PASS), and the chained flips' HYP, FSEL, FIRST."""
        cfg = self.config
        C = cfg.chunks
        with m.State("SETUP"):
            # Set up the pass and issue its chunk 0 (snew was set with j).
            m.d.comb += [r.issue.eq(1), r.issue_c.eq(0), r.issue_mode.eq(PassMode.FLIP),
                         r.issue_sign.eq(r.snew), r.issue_waddr.eq(r.j * C)]
            m.d.sync += [r.wbase.eq(r.j * C), r.cj.eq(r.jdiv), r.lj.eq(r.jmod), r.pc.eq(1)]
            m.next = "PASS" if C > 1 else "DRAIN"
        with m.State("PASS"):
            m.d.comb += [r.issue.eq(1), r.issue_c.eq(r.pc), r.issue_mode.eq(PassMode.FLIP),
                         r.issue_sign.eq(r.snew), r.issue_waddr.eq(r.wbase + r.pc)]
            m.d.sync += r.pc.eq(r.pc + 1)
            with m.If(r.pc == C - 1):
                if r.chain:
                    with m.If(r.counting & ~r.trace_en & ~r.stochastic &
                              (r.order == RunOrder.REJECTION_FREE)):
                        m.next = "HYP"
                    with m.Else():
                        m.next = "DRAIN"
                else:
                    m.next = "DRAIN"
        if r.chain:
            with m.State("HYP"):
                m.next = "FSEL"
            with m.State("FSEL"):
                # The flip ends here (|U| is final with the last chunk's flags), and the
                # next one, if the draw was decided, is issued in the same cycle.
                self._visit_done(m, r, prefetch=False)
                m.d.sync += [r.flips.eq(r.flips + 1), r.n_unst.eq(r.look.count), r.e_pend.eq(1),
                             r.e_count.eq(r.tree.latency + 1), r.snew_f.eq(r.snew)]
                self._chained_select(m, r, self._run_goes_on(m, r, r.look.count, r.visits + 1))
            with m.State("FIRST"):
                # A run's first flip, looked ahead from the files while the run started.
                self._chained_select(m, r, ~self.stop)

    def _drain_states(self, m: Module, r: SimpleNamespace):
        """The pass drains (DRAIN): the flip's results; the trace event (TRACE)."""
        cfg = self.config
        N = cfg.neurons
        cnt_bits = N.bit_length()
        with m.State("DRAIN"):
            last_p3 = r.p3_valid & ~r.p2_valid & ~r.p1_valid
            early_now = Signal()
            if r.early:
                m.d.comb += early_now.eq(r.counting & ~r.trace_en & ~r.stochastic &
                                         (r.order == RunOrder.REJECTION_FREE))
            with m.If(early_now):
                with m.If(last_p3):
                    n_new = Signal(cnt_bits)
                    m.d.comb += [n_new.eq(r.p3_base + r.p3_cnt), r.n_now.eq(n_new)]
                    m.d.sync += [r.n_unst.eq(n_new), r.flips.eq(r.flips + 1), r.e_pend.eq(1)]
                    self._visit_done(m, r)
                    self._rf_draw(m, r, r.visits + 1)
            with m.Elif(r.pipe_empty):
                m.d.sync += [r.energy2.eq(r.energy2 + r.delta),
                             r.n_unst.eq(r.running_cnt),
                             r.tr_delta.eq(r.delta)]
                with m.If(r.counting):
                    m.d.sync += r.flips.eq(r.flips + 1)
                    with m.If(r.trace_en):
                        # The event's visit number is `visits` until the handshake ends.
                        m.next = "TRACE"
                    with m.Else():
                        self._visit_done(m, r)
                        if r.early:     # untraced rejection_free flips drained early
                            m.next = "VISIT"
                        else:
                            m.d.comb += r.n_now.eq(r.running_cnt)
                            self._rf_draw(m, r, r.visits + 1)
                with m.Else():
                    m.next = "WS_NEXT"
        with m.State("TRACE"):
            m.d.comb += self.trace.valid.eq(1)
            with m.If(self.trace.ready):
                self._visit_done(m, r)
                self._rf_draw(m, r, r.visits + 1)



def _lane_bits(mask, lanes: int, width: int):
    """Expand a per-lane mask to a per-bit mask of ``lanes`` fields of ``width`` bits."""
    return Cat(*(mask[l].replicate(width) for l in range(lanes)))
