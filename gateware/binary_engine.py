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
        cfg, P = self.config, self.ports
        N, K, C = cfg.neurons, cfg.lanes, cfg.chunks
        WB, BB, A = cfg.weight_bits, cfg.bias_bits, cfg.acc_bits
        NK = C * K
        cnt_bits = N.bit_length()
        term_bits = A + 2
        m = Module()

        # -- memories -------------------------------------------------------------------------
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
        stoch = cfg.has(Feature.STOCHASTIC)
        if stoch:
            m.submodules.betas = betamem = Memory(shape=unsigned(BETA_BITS),
                                                  depth=cfg.beta_depth, init=[])
        w_rd, w_wr = wmem.read_port(), wmem.write_port()
        b_rd, b_wr = bmem.read_port(), bmem.write_port()
        h_rd, h_wr = hmem.read_port(), hmem.write_port()
        # Port A: the pass (chunk issued), the search and single reads; port B: the prefetch
        # of the next visit's word (or of the refresh column's sign).
        # The rejection_free draw in the last chunk's write cycle (the early drain below)
        # reads the word of the search's first probe (or, for C = 1, the select's word): when
        # that is the last chunk, port A must be transparent.
        locate = 1 < C <= LOCATE_MAX_CHUNKS
        search_first = 1 << ((C - 1).bit_length() - 1) if C > 1 and not locate else 0
        chain = chained_flips(cfg)
        # Chained flips finish 2E on a schedule that a one-cycle tree keeps short (K <= 8 is
        # at most three adder levels).
        m.submodules.tree = tree = AdderTree(K, term_bits, per_stage=tree_levels(cfg))
        early = tree.latency <= search_cycles(cfg) + 1 and not chain
        s_wr = smem.write_port()
        s_rda = smem.read_port(
            transparent_for=(s_wr,) if early and not locate and search_first == C - 1 else ())
        s_rdb = smem.read_port()
        if cfg.has(Feature.HEBBIAN):
            pat_rda, pat_rdb, pat_wr = (patmem.read_port(), patmem.read_port(),
                                        patmem.write_port())
        if stoch:
            beta_rd, beta_wr = betamem.read_port(), betamem.write_port()
        # One address for both weight ports: single-port compatible (reads and writes are
        # never enabled in the same cycle).
        waddr = Signal(range(max(2, N * C)))
        m.d.comb += [w_rd.addr.eq(waddr), w_wr.addr.eq(waddr), w_rd.en.eq(0)]

        full_mask = (1 << K) - 1
        last_mask = (1 << (N - (C - 1) * K)) - 1

        def lane_mask(c):
            return Mux(c == C - 1, last_mask, full_mask)

        # -- status registers -----------------------------------------------------------------
        regs = StatusRegisters(cfg)
        n_unst = Signal(cnt_bits)
        regs.drive(m, self.status, n_unst)
        visits, flips, energy2, stop_reason = regs.visits, regs.flips, regs.energy2, regs.stop_reason
        cycles, refresh_cycles = regs.cycles, regs.refresh_cycles
        # dirty: h / unstable set / 2E stale after a weight or bias write
        busy, running, refreshing, dirty = regs.busy, regs.running, regs.refreshing, regs.dirty

        # -- run parameters -------------------------------------------------------------------
        order = Signal(RunOrder)
        stochastic = Signal(name="stochastic") if stoch else Const(0)
        trace_en = Signal()
        max_visits = Signal(COUNTER_BITS)
        beta_last = Signal(range(cfg.beta_depth))
        rng = Signal(32)
        pos = Signal(range(max(2, N)))         # visit number mod N
        beta_idx = Signal(range(cfg.beta_depth))
        if stoch:
            m.d.comb += [beta_rd.addr.eq(beta_idx), beta_rd.en.eq(1)]
        rng_next = Signal(32)
        m.d.comb += rng_next.eq(xorshift32_next(rng))

        # -- flip registers -------------------------------------------------------------------
        j = Signal(range(max(2, N)))
        cj = Signal(range(max(2, C)))
        lj = Signal(range(max(2, K)))
        snew = Signal()                 # s_j' (1 = +1)
        counting = Signal()             # a run's flip (counted, traced) or a state write's
        wbase = Signal(range(max(2, N * C)))
        hj = Signal(signed(A))
        bj = Signal(signed(BB))
        wjj = Signal(signed(WB))
        tacc = Signal(signed(cfg.energy_bits + 1))   # column field c_j, or -2E in FINAL
        hbw = Signal(signed(A + 2))                   # h_j + b_j + 2 W_jj s_j'
        m.d.sync += hbw.eq(hj + bj + Mux(snew, wjj << 1, -(wjj << 1)))
        running_cnt = Signal(cnt_bits)

        # -- the column pass pipeline ---------------------------------------------------------
        issue = Signal()
        issue_c = Signal(range(max(2, C)))
        issue_mode = Signal(PassMode)
        issue_sign = Signal()
        issue_waddr = Signal.like(waddr)

        p1_valid, p1_c, p1_mode, p1_sign = Signal(), Signal.like(issue_c), Signal(PassMode), Signal()
        m.d.sync += [p1_valid.eq(issue), p1_c.eq(issue_c), p1_mode.eq(issue_mode),
                     p1_sign.eq(issue_sign)]


        # Stage 1 -> 2: the per-lane adds (LaneArray); stage 2 writes back h, state and
        # unstable flags and counts the unstable neurons.
        m.submodules.lanes = lanes = LaneArray(cfg, early_flags=chain)
        m.submodules.hebbian = hebb = HebbianLanes(cfg)
        p1_isj = p1_c == cj
        p2_valid, p2_c = Signal(), Signal.like(issue_c)
        m.d.sync += [p2_valid.eq(p1_valid), p2_c.eq(p1_c)]
        m.d.comb += [lanes.mode.eq(p1_mode), lanes.sign.eq(p1_sign), lanes.flip.eq(p1_isj),
                     lanes.flip_lane.eq(lj), lanes.w_word.eq(w_rd.data),
                     lanes.h_word.eq(h_rd.data), lanes.b_word.eq(b_rd.data),
                     # read with the chunk's issue, like h and b
                     lanes.s_word.eq(s_rda.data.state), lanes.mask.eq(lane_mask(p2_c))]
        with m.If(p1_valid & p1_isj):
            m.d.sync += [hj.eq(h_rd.data.word_select(lj, A).as_signed()),
                         bj.eq(b_rd.data.word_select(lj, BB).as_signed()),
                         wjj.eq(w_rd.data.word_select(lj, WB).as_signed())]
        p2_s, p2_um, p2_count = lanes.s_next, lanes.unstable, lanes.count
        if chain:
            # In flip passes, the chunk's flags are registered here already, so the chained
            # select (and HYP's P) starts from registers.
            m.d.comb += lanes.early_mask.eq(lane_mask(p1_c))
            p2_uf, p2_xf = lanes.early_unstable, lanes.early_count
        p3_valid, p3_c = Signal(), Signal.like(issue_c)
        p3_cnt = Signal(range(K + 1))
        p3_s, p3_u = Signal(K), Signal(K)
        m.d.sync += [p3_valid.eq(p2_valid), p3_c.eq(p2_c), p3_s.eq(p2_s), p3_u.eq(p2_um),
                     p3_cnt.eq(p2_count)]
        for l in range(K):
            m.d.comb += tree.inputs[l].eq(lanes.terms[l])
        # A pass's sum restarts with its chunk 0 as that leaves the tree, not when the pass is
        # issued: chained flips issue the next pass before the last one has left the tree.
        m.d.comb += [tree.valid_in.eq(p2_valid), tree.first_in.eq(p2_c == 0)]
        with m.If(tree.valid_out):
            m.d.sync += tacc.eq(Mux(tree.first_out, 0, tacc) + tree.total)

        # Stage 3: the chunk word (states, flags and the exclusive prefix count). A pass never
        # reads a chunk word another pass of the same flip still has to write: flips drain
        # first, and the refresh's back-to-back passes do not change the states.
        # The running count restarts at every pass's chunk 0 (for the same reason as tacc).
        p3_base = Signal(cnt_bits)
        m.d.comb += p3_base.eq(Mux(p3_c == 0, 0, running_cnt))
        m.d.comb += [s_wr.addr.eq(p3_c), s_wr.data.state.eq(p3_s), s_wr.data.flags.eq(p3_u),
                     s_wr.data.prefix.eq(p3_base), s_wr.en.eq(p3_valid)]
        with m.If(p3_valid):
            m.d.sync += running_cnt.eq(p3_base + p3_cnt)
        # The parallel locate's copy of the prefix counts (chunk 0's is always 0). LOCATE runs
        # after the pass has drained, so no bypass of the register being written is needed.
        prefix_regs = ({c: Signal(cnt_bits, name=f"prefix{c}") for c in range(1, C)}
                       if locate else {})
        if chain:
            # Chained flips read chunk C-2's prefix count in the cycle after stage 2 holds it,
            # so there the registers follow a count kept one stage earlier (the same values).
            assert locate
            cnt2 = Signal(cnt_bits)            # unstable neurons so far in this pass, stage 2
            base2 = Signal(cnt_bits)
            m.d.comb += base2.eq(Mux(p2_c == 0, 0, cnt2))
            with m.If(p2_valid):
                m.d.sync += cnt2.eq(base2 + p2_count)
            for c, reg in prefix_regs.items():
                with m.If(p2_valid & (p2_c == c)):
                    m.d.sync += reg.eq(base2)
        else:
            for c, reg in prefix_regs.items():
                with m.If(p3_valid & (p3_c == c)):
                    m.d.sync += reg.eq(p3_base)

        # Pipeline occupancy, so that a pass is complete (drained) before its result is used.
        drain = Signal(range(tree.latency + 4))
        pipe_empty = Signal()
        m.d.comb += pipe_empty.eq(~issue & ~p1_valid & ~p2_valid & ~p3_valid &
                                  ~tree.valid_out & (drain == 0))
        with m.If(p2_valid):
            m.d.sync += drain.eq(tree.latency)
        with m.Elif(drain != 0):
            m.d.sync += drain.eq(drain - 1)

        # -- memory port defaults -------------------------------------------------------------
        m.d.comb += [h_wr.addr.eq(p2_c), h_wr.data.eq(lanes.h_next), h_wr.en.eq(p2_valid)]
        h_rd_addr = Signal.like(issue_c)
        m.d.comb += [h_rd.addr.eq(Mux(issue, issue_c, h_rd_addr)), h_rd.en.eq(1)]
        b_rd_addr = Signal.like(issue_c)
        m.d.comb += [b_rd.addr.eq(Mux(issue, issue_c, b_rd_addr)), b_rd.en.eq(1)]
        sa_addr = Signal.like(issue_c)
        m.d.comb += [s_rda.addr.eq(Mux(issue, issue_c, sa_addr)), s_rda.en.eq(1)]
        with m.If(issue):
            m.d.comb += [waddr.eq(issue_waddr), w_rd.en.eq(~issue_mode.as_value()[1])]

        # -- selection helpers ----------------------------------------------------------------
        m.submodules.draw_n = draw_n = IndexDraw(N)           # random order: n = N
        m.d.comb += [draw_n.word.eq(rng_next), draw_n.n.eq(N)]
        m.submodules.draw_u = draw_u = IndexDraw(N)           # rejection_free: n = |U|
        n_now = Signal(cnt_bits)      # |U| as of this cycle (the drain's last cycle: the new one)
        m.d.comb += [n_now.eq(n_unst), draw_u.word.eq(rng_next), draw_u.n.eq(n_now)]
        rank_k = Signal(range(max(2, N)))
        sc = Signal(range(max(2, C)))
        sbit = Signal(max(1, (C - 1).bit_length()))          # one-hot probe bit
        # sc * K * C, the weight address of the chosen chunk's column 0, kept beside sc: SELECT
        # then adds no multiply between the flags it reads and the weight memory's address
        # (that path was the critical one of the 85F build, with K * C = 1026).
        sc_base = Signal(range(max(2, N * C)))
        m.submodules.rank = rank = RankSelect(K)
        m.d.comb += [rank.bits.eq(s_rda.data.flags),
                     rank.rank.eq(rank_k - s_rda.data.prefix)]

        jdiv, jmod = divmod_const(j, K, max(1, (N - 1).bit_length()))
        if stoch:
            m.submodules.logistic = logistic = Logistic(A + BETA_BITS + 2)
            t_reg = Signal(signed(A + BETA_BITS + 2))
            p_reg = Signal(range(1 << 17))
            r_word = Signal(16)             # the top half of the Glauber word (all §8 uses)
            m.d.comb += logistic.t.eq(t_reg)

        # -- access command registers ---------------------------------------------------------
        cmd = Signal(P.access)
        reply_data = Signal(P.data_bits)
        m.d.comb += self.reply.payload.data.eq(reply_data)
        loop = Signal(range(max(2, N * C + 1)))     # word counter of clear / Hebbian store
        loop_j = Signal(range(max(2, N)))
        loop_c = Signal(range(max(2, C)))
        loop_i0 = Signal(range(max(2, NK + 1)))
        pend = Signal(K)                 # state-write lanes still to apply as flips
        ws_new = Signal(K)               # the state chunk being written
        m.d.comb += ws_new.eq(cmd.data[:K] & lane_mask(cmd.chunk))
        loop_jc = Signal(range(max(2, C + 1)))     # Hebbian column j = loop_jc * K + loop_jl
        loop_jl = Signal(range(max(2, K)))
        s_old = Signal()                 # stochastic visit: s_j before the decision
        rcol = Signal(range(max(2, N + 1)))    # refresh column counter
        pc = Signal(range(max(2, C + 1)))      # pass issue counter
        after_refresh = Signal()               # the refresh was started by a run

        cmd_waddr = Signal.like(waddr)
        m.d.comb += cmd_waddr.eq(cmd.index[:max(1, (N - 1).bit_length())] * C + cmd.chunk)

        trace_p = self.trace.payload
        tr_delta = Signal(signed(P.delta_bits))
        m.d.comb += [trace_p.visit.eq(visits), trace_p.index.eq(j), trace_p.value.eq(snew),
                     trace_p.delta_energy2.eq(tr_delta)]

        order_ok = Signal()
        m.d.comb += order_ok.eq(0)
        for o in cfg.orders:
            with m.If(self.run.payload.order == RunOrder(int(o))):
                m.d.comb += order_ok.eq(1)

        # -- prefetch of the next visit's chunk word (port B) ---------------------------------
        # The neuron visited in the next cycle is known one cycle ahead: pos (+1 when this
        # cycle ends a visit) in sequential order, the candidate of the word after the next
        # xorshift step in random order, the next column in the refresh. Its chunk word is read
        # now, so a stable visit still costs one cycle. After a flip the pipeline has drained
        # before VISIT, and the cycle before it reads the word again.
        pos_adv = Signal()            # this cycle ends a visit (visit_done)
        rng_step = Signal()           # this cycle draws a word
        run_load = Signal()           # this cycle starts a run (IDLE)
        use_rcol = Signal()           # refresh: read the column's sign instead
        rcol_adv = Signal()           # refresh: the next cycle issues the next column
        with m.If(rng_step):
            m.d.sync += rng.eq(rng_next)
        mbits = (N - 1).bit_length()
        rng_future = Mux(run_load, load_state(self.run.payload.seed),
                         Mux(rng_step, rng_next, rng))
        cand_future = xorshift32_next(rng_future)[32 - mbits:] if mbits else Const(0)
        pos_future = Mux(run_load | ~pos_adv, Mux(run_load, 0, pos),
                         Mux(pos == N - 1, 0, pos + 1))
        order_future = Mux(run_load, self.run.payload.order, order)
        next_bits = max(1, N.bit_length(), mbits)
        next_j = Signal(next_bits)
        with m.If(use_rcol):
            m.d.comb += next_j.eq(Mux(rcol_adv, rcol + 1, rcol))
        with m.Elif(order_future == RunOrder.RANDOM):
            m.d.comb += next_j.eq(cand_future)
        with m.Else():
            m.d.comb += next_j.eq(pos_future)
        next_c, next_l = divmod_const(next_j, K, next_bits)
        v_l = Signal(range(max(2, K)))       # lane of the word port B holds
        m.d.sync += v_l.eq(next_l)
        m.d.comb += [s_rdb.addr.eq(next_c), s_rdb.en.eq(1)]
        v_state = s_rdb.data.state.bit_select(v_l, 1)
        v_flag = s_rdb.data.flags.bit_select(v_l, 1)

        def start_flip(index, count, new):
            # Every flip sets s_j' = -s_j (``new``): a deterministic flip by definition, a
            # Glauber or state-write flip because it is taken only when the value changes.
            m.d.sync += [j.eq(index), counting.eq(count), snew.eq(new)]
            m.next = "SETUP"

        def visit_done(prefetch=True):
            """Count one visit that did not flip (or the end of a flip's visit). Chained flips
            (rejection_free: no prefetch) leave the prefetch out of their select cycle's
            paths."""
            if prefetch:
                m.d.comb += pos_adv.eq(1)
            m.d.sync += visits.eq(visits + 1)
            with m.If(pos == N - 1):
                m.d.sync += pos.eq(0)
                with m.If(beta_idx != beta_last):
                    m.d.sync += beta_idx.eq(beta_idx + 1)
            with m.Else():
                m.d.sync += pos.eq(pos + 1)

        # §6: delta(2E) = -2 s_j' (h_j + c_j + b_j + 2 W_jj s_j'); h_j + b_j + 2 W_jj s_j' was
        # summed while the pass drained, so two adds remain (one negation, one add).
        def energy_delta(s_new, hbw_value):
            return Mux(s_new, -((hbw_value + tacc) << 1), (hbw_value + tacc) << 1)

        delta = Signal(signed(cfg.energy_bits + 2))
        m.d.comb += delta.eq(energy_delta(snew, hbw))
        # The early drain (untraced rejection_free flips): |U| is final in the cycle the last
        # chunk's word is written, so the next draw happens there; 2E follows when the adder
        # tree has drained (e_pend), before the next pass can reset tacc (L <= B + 1) and
        # before the run may end (VISIT waits for it).
        e_pend = Signal()
        e_fin = Signal()
        if chain:
            # Chained flips: the next pass is issued two cycles after this one's last chunk,
            # so 2E is finished on a fixed schedule from then (FSEL sets e_count = L + 1):
            # h_j + b_j + 2 W_jj s_j' is latched at e_count = L + 1, before the next pass
            # replaces it, and tacc holds this pass's whole column field at e_count = 1, for
            # that one cycle before the next pass's chunk 0 restarts it.
            e_count = Signal(range(tree.latency + 2))
            hbw_f = Signal.like(hbw)
            snew_f = Signal()
            with m.If(e_count != 0):
                m.d.sync += e_count.eq(e_count - 1)
            with m.If(e_count == tree.latency + 1):
                m.d.sync += hbw_f.eq(hbw)
            delta_f = Signal.like(delta)
            m.d.comb += [delta_f.eq(energy_delta(snew_f, hbw_f)),
                         e_fin.eq(e_pend & (e_count == 1))]
            with m.If(e_fin):
                m.d.sync += [energy2.eq(energy2 + delta_f), e_pend.eq(0)]
        else:
            m.d.comb += e_fin.eq(e_pend & ~tree.valid_out & (drain == 0))
            with m.If(e_fin):
                m.d.sync += [energy2.eq(energy2 + delta), e_pend.eq(0)]
        fin_ok = ~e_pend | e_fin

        if chain:
            # The next flip (DrawLookahead). Its draw is latched every cycle; the one that
            # counts is the cycle after a pass's last issue (HYP: chunk C-2 is in stage 2, so
            # P = base2 + its early count) or, for FIRST, the cycle that starts the run (outside
            # a run the registers hold the whole state). The select reads registers only (the
            # flag and state files and the prefix registers, written from stage 2) but for the
            # last chunk, which is in stage 2 in FSEL. Sources are
            # chosen by registers (running, refreshing, in_first), not by the state decode.
            m.submodules.lookahead = look = DrawLookahead(N, K, DRAW_LOOKAHEAD)
            in_first = Signal()                # this is the FIRST cycle
            m.d.sync += in_first.eq(0)
            flag_file = [Signal(K, name=f"flags{c}") for c in range(C)]
            state_file = [Signal(K, name=f"states{c}") for c in range(C)]
            for c in range(C):
                with m.If(p2_valid & (p2_c == c)):
                    m.d.sync += [flag_file[c].eq(p2_um), state_file[c].eq(p2_s)]
            m.d.comb += look.partial.eq(Mux(running, base2 + p2_xf, prefix_regs[C - 1]))
            # Each word a signal of its own: as an expression, every use of word i would copy
            # the whole chain of steps before it (a tree, not a graph, in the netlist and the
            # simulators; yosys merges the copies, the simulators do not).
            words = [Signal(32, name=f"look_word{i}") for i in range(DRAW_LOOKAHEAD)]
            m.d.comb += words[0].eq(xorshift32_next(Mux(running | refreshing, rng,
                                                        load_state(self.run.payload.seed))))
            for prev, word in zip(words, words[1:]):
                m.d.comb += word.eq(xorshift32_next(prev))
            for i, w in enumerate(words):
                m.d.comb += look.words[i].eq(w)
            for c in range(C - 1):
                m.d.comb += [look.flags[c].eq(flag_file[c]), look.states[c].eq(state_file[c]),
                             look.prefix[c].eq(prefix_regs[c] if c else 0)]
            m.d.comb += [look.last_flags.eq(Mux(in_first, flag_file[C - 1], p2_uf)),
                         look.last_count.eq(Mux(in_first, popcount(m, flag_file[C - 1],
                                                                   "first_count"), p2_xf)),
                         look.last_states.eq(Mux(in_first, state_file[C - 1], p2_s))]
            word_used = words[-1]
            for i in reversed(range(DRAW_LOOKAHEAD - 1)):
                word_used = Mux(look.used == i, words[i], word_used)

            def chained_select(go):
                """Issue the looked-ahead flip's chunk 0 if the draw was decided (FSEL and
                FIRST), else leave the rest to VISIT."""
                with m.If(go & look.accept):
                    m.d.comb += [issue.eq(1), issue_c.eq(0), issue_mode.eq(PassMode.FLIP),
                                 issue_sign.eq(look.new), issue_waddr.eq(look.base)]
                    m.d.sync += [rng.eq(word_used), j.eq(look.index), cj.eq(look.chunk),
                                 lj.eq(look.lane), counting.eq(1), wbase.eq(look.base),
                                 pc.eq(1), snew.eq(look.new)]
                    m.next = "PASS"
                with m.Elif(go):
                    # Every looked-ahead word was rejected: VISIT draws on from there.
                    m.d.sync += rng.eq(words[-1])
                    m.next = "VISIT"
                with m.Else():
                    m.next = "VISIT"      # which ends the run once 2E is final

        def begin_run(n, cap, order_v, stoch_v, trace_v):
            """Go to the run's first cycle: FIRST when the first flip can be looked ahead
            (chained flips; the hypotheses are latched in this cycle), else VISIT."""
            if not chain:
                m.next = "VISIT"
                return
            with m.If((order_v == RunOrder.REJECTION_FREE) & ~stoch_v & ~trace_v & (n != 0) &
                      (cap != 0)):
                m.d.sync += in_first.eq(1)
                m.next = "FIRST"
            with m.Else():
                m.next = "VISIT"

        next_after_draw = "LOCATE" if locate else "SEARCH" if C > 1 else "SELECT"

        def run_goes_on(n, visits_now):
            """A rejection_free run draws its next visit: neurons are unstable, the cap is not
            reached and no stop is asked for."""
            return (n != 0) & (visits_now != max_visits) & ~self.stop

        def rf_draw(visits_now):
            """The first draw of the next rejection_free visit, in the last cycle of the previous
            flip (drain or trace handshake) instead of a VISIT cycle of its own. Where the run
            ends or the word is rejected, VISIT takes over (same checks, same words)."""
            go = ((order == RunOrder.REJECTION_FREE) & ~stochastic &
                  run_goes_on(n_now, visits_now))
            m.d.comb += sa_addr.eq(search_first)
            with m.If(go):
                m.d.comb += rng_step.eq(1)
            with m.If(go & draw_u.accept):
                m.d.sync += [rank_k.eq(draw_u.index), sc.eq(0), sc_base.eq(0),
                             sbit.eq(search_first)]
                m.next = next_after_draw
            with m.Else():
                m.next = "VISIT"

        with m.FSM(name="engine"):
            with m.State("IDLE"):
                m.d.comb += [self.access.ready.eq(1), self.run.ready.eq(~self.access.valid)]
                with m.If(self.access.valid):
                    m.d.sync += [cmd.eq(self.access.payload), busy.eq(1)]
                    m.next = "EXEC"
                with m.Elif(self.run.valid):
                    rp = self.run.payload
                    m.d.comb += run_load.eq(1)
                    bad = ~order_ok
                    if cfg.has(Feature.STOCHASTIC):
                        bad = bad | (rp.stochastic & (rp.order == RunOrder.REJECTION_FREE))
                    else:
                        bad = bad | rp.stochastic
                    m.d.sync += [
                        order.eq(rp.order), *([stochastic.eq(rp.stochastic)] if stoch else []),
                        trace_en.eq(rp.trace if cfg.has(Feature.TRACE) else 0),
                        max_visits.eq(rp.max_visits),
                        beta_last.eq(Mux(rp.beta_len == 0, 0, rp.beta_len - 1)),
                        rng.eq(load_state(rp.seed)), visits.eq(0), flips.eq(0), cycles.eq(0),
                        pos.eq(0), beta_idx.eq(0), busy.eq(1),
                        stop_reason.eq(StopReason.NONE),
                    ]
                    with m.If(bad):
                        m.d.sync += [stop_reason.eq(StopReason.STOP), busy.eq(0),
                                     refresh_cycles.eq(0)]
                    with m.Elif(dirty):
                        m.d.sync += [after_refresh.eq(1), refresh_cycles.eq(0),
                                     refreshing.eq(1), pc.eq(0)]
                        m.next = "R_INIT"
                    with m.Else():
                        m.d.sync += [refresh_cycles.eq(0), running.eq(1)]
                        begin_run(n_unst, rp.max_visits, rp.order,
                                  rp.stochastic if stoch else Const(0),
                                  rp.trace if cfg.has(Feature.TRACE) else Const(0))

            # -- access operations ------------------------------------------------------------
            with m.State("EXEC"):
                with m.Switch(cmd.op):
                    with m.Case(AccessOp.WRITE_WEIGHTS):
                        m.d.comb += [waddr.eq(cmd_waddr),
                                     w_wr.data.eq(cmd.data[:K * WB] & _lane_bits(
                                         lane_mask(cmd.chunk), K, WB)),
                                     w_wr.en.eq(1)]
                        m.d.sync += [dirty.eq(1), busy.eq(0)]
                        m.next = "IDLE"
                    with m.Case(AccessOp.READ_WEIGHTS):
                        m.d.comb += [waddr.eq(cmd_waddr), w_rd.en.eq(1)]
                        m.next = "READ_W"
                    with m.Case(AccessOp.WRITE_BIAS):
                        m.d.comb += [b_wr.addr.eq(cmd.chunk),
                                     b_wr.data.eq(cmd.data[:K * BB] & _lane_bits(
                                         lane_mask(cmd.chunk), K, BB)),
                                     b_wr.en.eq(1)]
                        m.d.sync += [dirty.eq(1), busy.eq(0)]
                        m.next = "IDLE"
                    with m.Case(AccessOp.READ_BIAS):
                        m.d.comb += b_rd_addr.eq(cmd.chunk)
                        m.next = "READ_B"
                    with m.Case(AccessOp.WRITE_STATE):
                        with m.If(dirty):
                            # Flags and prefix counts are stale anyway (the refresh rewrites
                            # them).
                            m.d.comb += [s_wr.addr.eq(cmd.chunk), s_wr.data.eq(0),
                                         s_wr.data.state.eq(ws_new), s_wr.en.eq(1)]
                            m.d.sync += busy.eq(0)
                            m.next = "IDLE"
                        with m.Else():
                            m.d.comb += sa_addr.eq(cmd.chunk)
                            m.next = "WS_READ"
                    with m.Case(AccessOp.READ_STATE):
                        m.d.comb += sa_addr.eq(cmd.chunk)
                        m.next = "READ_S"
                    with m.Case(AccessOp.STORE_PATTERN):
                        if cfg.has(Feature.HEBBIAN):
                            m.d.comb += [pat_wr.addr.eq(cmd.chunk), pat_wr.en.eq(1),
                                         pat_wr.data.eq(cmd.data[:K] & lane_mask(cmd.chunk))]
                            with m.If(cmd.chunk == C - 1):
                                m.d.sync += [loop.eq(0), loop_j.eq(0), loop_c.eq(0),
                                             loop_i0.eq(0), loop_jc.eq(0), loop_jl.eq(0),
                                             dirty.eq(1)]
                                m.next = "HEBB_RD"
                            with m.Else():
                                m.d.sync += busy.eq(0)
                                m.next = "IDLE"
                        else:
                            m.d.sync += busy.eq(0)
                            m.next = "IDLE"
                    with m.Case(AccessOp.WRITE_BETA):
                        if stoch:     # accepted and ignored without the schedule
                            m.d.comb += [beta_wr.addr.eq(cmd.index),
                                         beta_wr.data.eq(cmd.data), beta_wr.en.eq(1)]
                        m.d.sync += busy.eq(0)
                        m.next = "IDLE"
                    with m.Case(AccessOp.CLEAR):
                        m.d.sync += loop.eq(0)
                        m.next = "CLEAR"
                    with m.Default():
                        m.d.sync += busy.eq(0)
                        m.next = "IDLE"

            with m.State("READ_W"):
                m.d.sync += reply_data.eq(w_rd.data)
                m.next = "REPLY"
            with m.State("READ_B"):
                m.d.sync += reply_data.eq(b_rd.data)
                m.next = "REPLY"
            with m.State("READ_S"):
                m.d.sync += reply_data.eq(s_rda.data.state)
                m.next = "REPLY"
            with m.State("WS_READ"):
                m.d.sync += pend.eq(ws_new ^ s_rda.data.state)
                m.next = "WS_NEXT"
            with m.State("REPLY"):
                m.d.comb += self.reply.valid.eq(1)
                with m.If(self.reply.ready):
                    m.d.sync += busy.eq(0)
                    m.next = "IDLE"

            with m.State("CLEAR"):
                m.d.comb += [waddr.eq(loop), w_wr.data.eq(0), w_wr.en.eq(1),
                             b_wr.addr.eq(loop), b_wr.data.eq(0), b_wr.en.eq(loop < C)]
                m.d.comb += [h_wr.addr.eq(loop), h_wr.data.eq(0), h_wr.en.eq(loop < C),
                             s_wr.addr.eq(loop), s_wr.data.eq(0), s_wr.en.eq(loop < C)]
                m.d.sync += loop.eq(loop + 1)
                with m.If(loop == N * C - 1):
                    m.d.sync += [dirty.eq(0), energy2.eq(0), n_unst.eq(0), busy.eq(0)]
                    m.next = "IDLE"

            # On-chip Hebbian store (§9): read a word, then write it back updated.
            with m.State("HEBB_RD"):
                m.d.comb += [waddr.eq(loop), w_rd.en.eq(1)]
                if cfg.has(Feature.HEBBIAN):
                    m.d.comb += [pat_rda.addr.eq(loop_c), pat_rdb.addr.eq(loop_jc)]
                m.next = "HEBB_WR"
            with m.State("HEBB_WR"):
                pj = pat_rdb.data.bit_select(loop_jl, 1) if cfg.has(Feature.HEBBIAN) else 0
                pch = pat_rda.data if cfg.has(Feature.HEBBIAN) else Const(0, K)
                diag = Cat(*(loop_i0 + l == loop_j for l in range(K)))
                m.d.comb += [hebb.w_word.eq(w_rd.data), hebb.p_word.eq(pch),
                             hebb.pattern_j.eq(pj), hebb.keep.eq(~lane_mask(loop_c) | diag)]
                m.d.comb += [waddr.eq(loop), w_wr.data.eq(hebb.w_next), w_wr.en.eq(1)]
                m.d.sync += loop.eq(loop + 1)
                with m.If(loop_c == C - 1):
                    m.d.sync += [loop_c.eq(0), loop_i0.eq(0), loop_j.eq(loop_j + 1)]
                    with m.If(loop_jl == K - 1):
                        m.d.sync += [loop_jl.eq(0), loop_jc.eq(loop_jc + 1)]
                    with m.Else():
                        m.d.sync += loop_jl.eq(loop_jl + 1)
                with m.Else():
                    m.d.sync += [loop_c.eq(loop_c + 1), loop_i0.eq(loop_i0 + K)]
                with m.If(loop == N * C - 1):
                    m.d.sync += busy.eq(0)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "HEBB_RD"

            # A state write with valid fields: apply each changed bit as an (uncounted) flip.
            with m.State("WS_NEXT"):
                low = Signal(range(max(2, K)))
                for l in reversed(range(K)):
                    with m.If(pend[l]):
                        m.d.comb += low.eq(l)
                with m.If(pend == 0):
                    m.d.sync += busy.eq(0)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += pend.eq(pend & ~(1 << low)[:K])
                    start_flip(cmd.chunk * K + low, 0, ws_new.bit_select(low, 1))

            # -- the refresh: h = b, + column j for every j, then the final pass -------------
            with m.State("R_INIT"):
                m.d.comb += [issue.eq(1), issue_c.eq(pc), issue_mode.eq(PassMode.INIT)]
                m.d.sync += pc.eq(pc + 1)
                with m.If(pc == C - 1):
                    m.d.sync += [pc.eq(0), rcol.eq(0), loop.eq(0)]
                    m.next = "R_INIT_DRAIN"
            with m.State("R_INIT_DRAIN"):
                m.d.comb += use_rcol.eq(1)
                with m.If(pipe_empty):
                    m.next = "R_COLS"
            with m.State("R_COLS"):
                # Port B holds the chunk word of column rcol (read the cycle before).
                m.d.comb += [issue.eq(1), issue_c.eq(pc), issue_mode.eq(PassMode.ADDCOL),
                             issue_sign.eq(v_state), issue_waddr.eq(loop),
                             use_rcol.eq(1), rcol_adv.eq(pc == C - 1)]
                m.d.sync += [pc.eq(pc + 1), loop.eq(loop + 1)]
                with m.If(pc == C - 1):
                    m.d.sync += [pc.eq(0), rcol.eq(rcol + 1)]
                    # Back-to-back columns would read a chunk before the previous column's
                    # write of it lands when C < 3; drain between columns then.
                    with m.If(rcol == N - 1):
                        m.next = "R_COLS_DRAIN"
                    elif_small = C < 3
                    if elif_small:
                        with m.Else():
                            m.next = "R_COL_GAP"
            with m.State("R_COL_GAP"):
                m.d.comb += use_rcol.eq(1)
                with m.If(pipe_empty):
                    m.next = "R_COLS"
            with m.State("R_COLS_DRAIN"):
                with m.If(pipe_empty):
                    m.d.sync += pc.eq(0)
                    m.next = "R_FINAL"
            with m.State("R_FINAL"):
                m.d.comb += [issue.eq(1), issue_c.eq(pc), issue_mode.eq(PassMode.FINAL)]
                m.d.sync += pc.eq(pc + 1)
                with m.If(pc == C - 1):
                    m.next = "R_FINAL_DRAIN"
            with m.State("R_FINAL_DRAIN"):
                with m.If(pipe_empty):
                    m.d.sync += [energy2.eq(tacc), n_unst.eq(running_cnt), dirty.eq(0),
                                 refreshing.eq(0)]
                    with m.If(after_refresh):
                        m.d.sync += [after_refresh.eq(0), running.eq(1)]
                        begin_run(running_cnt, max_visits, order, stochastic, trace_en)
                    with m.Else():
                        m.d.sync += busy.eq(0)
                        m.next = "IDLE"

            # -- the run ------------------------------------------------------------------------
            with m.State("VISIT"):
                m.d.comb += sa_addr.eq(search_first)

                def finish(reason):
                    m.d.sync += [stop_reason.eq(reason), running.eq(0), busy.eq(0)]
                    m.next = "IDLE"

                with m.If(~stochastic & (n_unst == 0)):
                    with m.If(fin_ok):
                        finish(StopReason.CONVERGED)
                with m.Elif(visits == max_visits):
                    with m.If(fin_ok):
                        finish(StopReason.CAP)
                with m.Elif(self.stop):
                    with m.If(fin_ok):
                        finish(StopReason.STOP)
                if stoch:
                    with m.Elif(stochastic):
                        with m.If(order == RunOrder.SEQUENTIAL):
                            m.d.sync += j.eq(pos)
                            m.next = "S_DIV"
                        with m.Else():
                            m.d.comb += rng_step.eq(1)
                            with m.If(draw_n.accept):
                                m.d.sync += j.eq(draw_n.index)
                                m.next = "S_DIV"
                with m.Else():
                    with m.Switch(order):
                        with m.Case(RunOrder.SEQUENTIAL):
                            with m.If(v_flag):
                                start_flip(pos, 1, ~v_state)
                            with m.Else():
                                visit_done()
                        with m.Case(RunOrder.RANDOM):
                            m.d.comb += rng_step.eq(1)
                            with m.If(draw_n.accept):
                                with m.If(v_flag):
                                    start_flip(draw_n.index, 1, ~v_state)
                                with m.Else():
                                    visit_done()
                        with m.Case(RunOrder.REJECTION_FREE):
                            m.d.comb += rng_step.eq(1)
                            with m.If(draw_u.accept):
                                m.d.sync += [rank_k.eq(draw_u.index), sc.eq(0),
                                             sc_base.eq(0), sbit.eq(search_first)]
                                m.next = next_after_draw

            # Parallel locate (C <= LOCATE_MAX_CHUNKS): the chunk is the last c whose prefix
            # count is <= k (the counts never decrease with c, so the compares form a
            # thermometer code and its edge is one-hot); its word is read for SELECT. The
            # compares use the registered k, so the draw's path does not grow.
            if locate:
                with m.State("LOCATE"):
                    le = [Const(1)] + [prefix_regs[c] <= rank_k for c in range(1, C)] + [Const(0)]
                    edge = [le[c] & ~le[c + 1] for c in range(C)]
                    sc_loc = Signal.like(sc)
                    m.d.comb += sc_loc.eq(Cat(*(
                        Cat(*(edge[c] for c in range(C) if c >> b & 1)).any()
                        for b in range(len(sc)))))
                    m.d.comb += sa_addr.eq(sc_loc)
                    m.d.sync += [sc.eq(sc_loc),
                                 sc_base.eq(_or_all([Mux(edge[c], c * K * C, 0)
                                                     for c in range(C)]))]
                    m.next = "SELECT"

            # Binary search of the prefix counts for the chunk holding the k-th unstable
            # neuron: one probe bit per cycle (the next address follows the data just read).
            if not locate:
                with m.State("SEARCH"):
                    probe = Signal.like(sc)
                    ok = Signal()
                    m.d.comb += [probe.eq(sc | sbit),
                                 ok.eq((probe < C) & (s_rda.data.prefix <= rank_k))]
                    sc_next = Mux(ok, probe, sc)
                    # (sc | sbit) * K * C from registers, in parallel with the probe's read
                    probe_base = Signal.like(sc_base)
                    m.d.comb += probe_base.eq(sc_base + _or_all(
                        [Mux(sbit[b], (1 << b) * K * C, 0) for b in range(len(sbit))]))
                    m.d.sync += [sc.eq(sc_next), sc_base.eq(Mux(ok, probe_base, sc_base)),
                                 sbit.eq(sbit >> 1)]
                    # The last probe (sbit = 1) reads the chosen chunk's word for SELECT.
                    m.d.comb += sa_addr.eq(sc_next | (sbit >> 1))
                    with m.If(sbit == 1):
                        m.next = "SELECT"
            with m.State("SELECT"):
                # The chunk and lane are known here: set up the pass and issue its chunk 0.
                lane = rank.index
                sel_base = Signal.like(wbase)
                sel_new = Signal()
                # K candidate addresses from registers, then one K:1 choice by the lane
                with m.Switch(lane):
                    for ln in range(K):
                        with m.Case(ln):
                            m.d.comb += sel_base.eq(sc_base + ln * C)
                m.d.comb += [sel_new.eq(~s_rda.data.state.bit_select(lane, 1)),
                             issue.eq(1), issue_c.eq(0), issue_mode.eq(PassMode.FLIP),
                             issue_sign.eq(sel_new), issue_waddr.eq(sel_base)]
                m.d.sync += [j.eq(sc * K + lane), cj.eq(sc), lj.eq(lane), counting.eq(1),
                             wbase.eq(sel_base), pc.eq(1), snew.eq(sel_new)]
                m.next = "PASS" if C > 1 else "DRAIN"

            # -- stochastic visit: h_j, t = 2 beta h_j, p = logistic(t), compare ----------------
            if stoch:
                with m.State("S_DIV"):
                    m.d.sync += [cj.eq(jdiv), lj.eq(jmod)]
                    m.next = "S_READH"
                with m.State("S_READH"):
                    m.d.comb += [h_rd_addr.eq(cj), sa_addr.eq(cj), rng_step.eq(1)]
                    m.d.sync += r_word.eq(rng_next[16:])
                    m.next = "S_T"
                with m.State("S_T"):
                    hsel = h_rd.data.word_select(lj, A).as_signed()
                    m.d.sync += [t_reg.eq((hsel * beta_rd.data) << 1),
                                 s_old.eq(s_rda.data.state.bit_select(lj, 1))]
                    m.next = "S_P"
                with m.State("S_P"):
                    m.d.sync += p_reg.eq(logistic.p)
                    m.next = "S_DEC"
                with m.State("S_DEC"):
                    new = r_word < p_reg
                    with m.If(new != s_old):
                        start_flip(j, 1, new)
                    with m.Else():
                        visit_done()
                        m.next = "VISIT"

            # -- the flip: one column pass -------------------------------------------------------
            with m.State("SETUP"):
                # Set up the pass and issue its chunk 0 (snew was set with j).
                m.d.comb += [issue.eq(1), issue_c.eq(0), issue_mode.eq(PassMode.FLIP),
                             issue_sign.eq(snew), issue_waddr.eq(j * C)]
                m.d.sync += [wbase.eq(j * C), cj.eq(jdiv), lj.eq(jmod), pc.eq(1)]
                m.next = "PASS" if C > 1 else "DRAIN"
            with m.State("PASS"):
                m.d.comb += [issue.eq(1), issue_c.eq(pc), issue_mode.eq(PassMode.FLIP),
                             issue_sign.eq(snew), issue_waddr.eq(wbase + pc)]
                m.d.sync += pc.eq(pc + 1)
                with m.If(pc == C - 1):
                    if chain:
                        with m.If(counting & ~trace_en & ~stochastic &
                                  (order == RunOrder.REJECTION_FREE)):
                            m.next = "HYP"
                        with m.Else():
                            m.next = "DRAIN"
                    else:
                        m.next = "DRAIN"
            if chain:
                with m.State("HYP"):
                    m.next = "FSEL"
                with m.State("FSEL"):
                    # The flip ends here (|U| is final with the last chunk's flags), and the
                    # next one, if the draw was decided, is issued in the same cycle.
                    visit_done(prefetch=False)
                    m.d.sync += [flips.eq(flips + 1), n_unst.eq(look.count), e_pend.eq(1),
                                 e_count.eq(tree.latency + 1), snew_f.eq(snew)]
                    chained_select(run_goes_on(look.count, visits + 1))
                with m.State("FIRST"):
                    # A run's first flip, looked ahead from the files while the run started.
                    chained_select(~self.stop)
            with m.State("DRAIN"):
                last_p3 = p3_valid & ~p2_valid & ~p1_valid
                early_now = Signal()
                if early:
                    m.d.comb += early_now.eq(counting & ~trace_en & ~stochastic &
                                             (order == RunOrder.REJECTION_FREE))
                with m.If(early_now):
                    with m.If(last_p3):
                        n_new = Signal(cnt_bits)
                        m.d.comb += [n_new.eq(p3_base + p3_cnt), n_now.eq(n_new)]
                        m.d.sync += [n_unst.eq(n_new), flips.eq(flips + 1), e_pend.eq(1)]
                        visit_done()
                        rf_draw(visits + 1)
                with m.Elif(pipe_empty):
                    m.d.sync += [energy2.eq(energy2 + delta),
                                 n_unst.eq(running_cnt),
                                 tr_delta.eq(delta)]
                    with m.If(counting):
                        m.d.sync += flips.eq(flips + 1)
                        with m.If(trace_en):
                            # The event's visit number is `visits` until the handshake ends.
                            m.next = "TRACE"
                        with m.Else():
                            visit_done()
                            if early:     # untraced rejection_free flips drained early
                                m.next = "VISIT"
                            else:
                                m.d.comb += n_now.eq(running_cnt)
                                rf_draw(visits + 1)
                    with m.Else():
                        m.next = "WS_NEXT"
            with m.State("TRACE"):
                m.d.comb += self.trace.valid.eq(1)
                with m.If(self.trace.ready):
                    visit_done()
                    rf_draw(visits + 1)
        return m


def _lane_bits(mask, lanes: int, width: int):
    """Expand a per-lane mask to a per-bit mask of ``lanes`` fields of ``width`` bits."""
    return Cat(*(mask[l].replicate(width) for l in range(lanes)))
