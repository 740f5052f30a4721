"""The column-parallel binary engine, single-replica version (in progress).

`ColumnEngine(config)` has the signature of
:class:`~hopfield_fpga.gateware.binary_engine.BinaryEngine`
(:func:`~hopfield_fpga.gateware.engine_ports.engine_signature`: access, reply, run, stop,
status, trace) and runs the dynamics of ``docs/numerics.md`` §3-§8 bit for bit like
:func:`hopfield_fpga.sim.golden.run_binary`, in all three orders, the Glauber rule with its beta
schedule, with the exact 2E and the trace, and stores patterns on chip (§9) like
:func:`~hopfield_fpga.sim.golden.store_hebbian`. Beyond ``BinaryEngine`` it holds a clamp mask
(§12, ``AccessOp.WRITE_CLAMP``: held neurons are out of the selectors' flags and a stochastic
visit of one never writes) and builds the synchronous order (§13) when the configuration
lists it: a step snapshots the free unstable flags into a pending set and walks it with the
sequential selector, one flip per column; ``AccessOp.READ_CYCLE`` reads a 2-cycle's other
state. It is built from the blocks of this package:

- :class:`~.weight_store.WeightStore`: a flip reads the whole column j in one cycle;
- :class:`~.field_array.FieldArray`: every h_i and s_i, all updated by the flip at once;
- :class:`~.energy_unit.EnergyUnit`: the exact 2E, a flip's delta following it by L cycles
  (with Feature.SYMMETRIC from h_j alone, no column sum: the refresh then points the one
  pick at each column's own lane as it adds the column);
- :class:`~.select_sequential.SelectSequential`, :class:`~.select_rejection_free.SelectRank`
  with :class:`~.select_random.DrawWords`, :class:`~.select_random.SelectRandom` (its words
  held in registers by :class:`~.select_random.WordWindow`): the next flip after a fixed
  number of cycles (:class:`SelectTiming`), the stable visits and rejected words in between
  counted exactly; only the configured orders' selectors are built (the rank select's count
  tree always: status.unstable);
- :class:`~.glauber_unit.GlauberUnit` in :class:`~.glauber_run.GlauberRun`
  (Feature.STOCHASTIC): stochastic visits issued one per cycle, each decided from h_j, beta
  and its Glauber word; a changed value is flipped like a deterministic flip;
- :class:`~.hebbian_column.HebbianColumn` (Feature.HEBBIAN): the saturating p_i p_j update of
  a whole column in the weight store's write path, one column per cycle;
- :class:`~.quantized_store.QuantizedStoreRun` (``config.store_patterns`` > 0): the quantized
  store of §14 from a pattern buffer, the sums in the field array's lanes, a level count per
  lane (``AccessOp.WRITE_PATTERN``, ``WRITE_THRESHOLD``, ``STORE_QUANTIZED``).

A flip costs the selectors' wait, CHOOSE, then FLIP (the column arrives and every lane adds
it); the energy follows ``EnergyUnit.latency`` (L) cycles later in a pipeline of its own, so
untraced flips do not wait for it. The selectors are pipelined (register stages every few
tree levels, :func:`default_spans`; the sequential select and the rank count tree take the lanes'
flags directly, the random select through a register); since a flip changes the flags
they depend on, their latency is paid once per flip: CHOOSE waits until the selectors' inputs
are old enough (the ``age`` counter, :class:`SelectTiming`). docs/engine.md, "Column-parallel
engine (in progress)" and "Pipelined selectors", has the cycle accounting.

Without Feature.STOCHASTIC or Feature.HEBBIAN their blocks are not built, and WRITE_BETA and
STORE_PATTERN are accepted and ignored as in ``BinaryEngine``. `BoardTop` builds it for a
configuration with ``engine="column"``.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import Out

from hopfield_fpga.config import COUNTER_BITS, Feature, NetworkConfig, Order
from ..engine_ports import (AccessOp, EnginePorts, RunOrder, StopReason, check_engine_config,
                            engine_signature)
from ..xorshift import load_state
from .common import (chunk_and_lane, check_int, sequential_latency, tree_depth, tree_latency,
                     walk_latency)
from .energy_unit import EnergyUnit
from .field_array import FieldArray, FieldOp, FieldPick, encode_field
from .glauber_run import GlauberRun
from .hebbian_column import HebbianColumn
from .quantized_store import QuantizedStoreRun
from .run_status import StatusRegisters
from .select_random import DrawWords, SelectRandom, WordWindow
from .select_rejection_free import SelectRank
from .select_sequential import SelectSequential
from .weight_store import WeightPort, WeightStore

__all__ = ["ColumnEngine", "DEFAULT_WORDS", "default_spans", "SelectTiming"]

#: Generator words tested per cycle in random and rejection_free order.
DEFAULT_WORDS = 4


def default_spans(neurons: int) -> tuple[int, int, int]:
    """Levels per register stage of the selectors at ``neurons`` N: (sequential encoders,
    rank count tree, rank walk); docs/engine.md, "Pipelined selectors", has the measurements
    behind them. Up to N = 256 (5, 3, 2). Above, the whole design's clock is set elsewhere
    and is lower (the ULX3S 85F's N = 1024 default places at 22-27 MHz, grade 6), while the
    selectors alone still pass 56 MHz there with wider stages: the sequential select in one
    stage, its outputs registered (Ls = 1), the count tree 4 levels a stage and the walk 3
    (Lt = 2, Lw = 4 at N = 1024): two cycles less a sequential or synchronous flip, two less
    a rejection_free one, and the whole 85F default 1.2k fewer cells (89% of the device)."""
    check_int("neurons", neurons, 1, 1 << 16)
    depth = tree_depth(neurons)
    return (5, 3, 2) if depth <= 8 else (depth + 1, 4, 3)


class SelectTiming:
    """The selectors' latencies and the waits they impose (docs/engine.md, "Pipelined
    selectors"). ``age`` counts the cycles since the selectors' inputs last changed (0 in
    the cycle after a FLIP, a run's start, a traced flip's TRACE handshake (pos moves), a
    synchronous snapshot or an accepted rank draw). The sequential select and the rank
    select's count tree read the lanes' flags directly (the flags of age 0); random order,
    the synchronous snapshot and its convergence test read them through a register,
    ``flags_r`` (age >= 1):

    - ``sequential`` (Ls): the sequential select's latency; a sequential CHOOSE and
      SYNC_WALK (its flags the snapshot register) decide at age >= Ls;
    - ``tree`` (Lt): the count tree's; rejection_free's draw, and the end of any run
      (status.unstable must be settled), wait for age >= Lt (``settle``);
    - ``walk`` (Lw): the rank walk's; RANK_WALK issues the flip at age >= Lw;
    - random order and the synchronous snapshot read the registered flags: age >= 1.

    ``choose[order]`` is the age a CHOOSE of that order waits for, :meth:`flip_cycles` a
    flip's cycles with the shortest CHOOSE (the benchmark's bound).
    """

    def __init__(self, neurons: int, spans=None):
        if spans is None:
            spans = default_spans(neurons)
        if not isinstance(spans, tuple) or len(spans) != 3:
            raise ValueError(f"spans must be a tuple (sequential, rank tree, rank walk) of "
                             f"levels per register stage, like {default_spans(neurons)}, "
                             f"not {spans!r}")
        self.spans = spans
        seq_span, tree_span, walk_span = spans
        self.sequential = sequential_latency(neurons, seq_span)
        self.tree = tree_latency(neurons, tree_span)
        self.walk = walk_latency(neurons, walk_span)
        self.choose = {"sequential": self.sequential, "random": 1,
                       "rejection_free": self.tree, "synchronous": 1}

    @property
    def settle(self) -> int:
        """The age a run's end waits for: status.unstable (the count tree) settled."""
        return self.tree

    def flip_cycles(self, order: str) -> int:
        """Cycles of an untraced flip with one CHOOSE (docs/engine.md, "Cycle accounting"):
        FLIP, the wait, CHOOSE (rejection_free: then RANK_WALK's Lw and its issue; the
        synchronous order: SYNC_WALK's Ls and its issue, without the steps' own cycles)."""
        if order == "synchronous":
            return 2 + self.sequential
        if order == "rejection_free":
            return 3 + self.tree + self.walk
        return 2 + self.choose[order]


class ColumnEngine(GlauberRun, QuantizedStoreRun, wiring.Component):
    """Binary Hopfield neurons, column-parallel (see the module docstring).

    Members: see :func:`~hopfield_fpga.gateware.engine_ports.engine_signature`; with
    ``shared_store`` (a replica of :class:`~.replicas.ColumnReplicas`) also ``weights``:
    Out(:class:`~.weight_store.WeightPort`), the engine's port of a store outside it (whose
    ``stale`` marks the fields stale), instead of a store of its own.
    """

    def __init__(self, config: NetworkConfig, *, words: int = DEFAULT_WORDS,
                 spans=None, shared_store: bool = False):
        check_engine_config(config, synchronous=True)
        check_int("words", words, 1, 64)
        self.config, self.words = config, words
        self.timing = SelectTiming(config.neurons, spans)
        self.ports = EnginePorts(config)
        self.energy = EnergyUnit(config)
        # A replica (:class:`~.replicas.ColumnReplicas`) reaches a shared store through its
        # ``weights`` port; otherwise the engine owns its store.
        self.shared_store = bool(shared_store)
        members = dict(engine_signature(config).members)
        if self.shared_store:
            members["weights"] = Out(WeightPort(config))
        super().__init__(members)

    def elaborate(self, platform):
        cfg, P = self.config, self.ports
        N, K, C, WB = cfg.neurons, cfg.lanes, cfg.chunks, cfg.weight_bits
        m = Module()
        if self.shared_store:
            ws = self.weights
        else:
            m.submodules.weights = store = WeightStore(cfg)
            ws = store.ports[0]
        m.submodules.fields = fa = FieldArray(cfg)
        m.submodules.energy = eu = self.energy
        m.submodules.biases = bmem = Memory(shape=K * cfg.bias_bits, depth=C, init=[])
        regs = StatusRegisters(cfg)
        stoch, hebb = cfg.has(Feature.STOCHASTIC), cfg.has(Feature.HEBBIAN)
        d = SimpleNamespace(
            ws=ws, fa=fa, eu=eu, b_rd=bmem.read_port(), b_wr=bmem.write_port(),
            regs=regs, column=ws.column[:N * WB],
            states=Cat(fa.states, Const(0, C * K - N)),    # padded to C chunks of K
            # run parameters
            order=Signal(RunOrder), trace_en=Signal(), max_visits=Signal(COUNTER_BITS),
            pos=Signal(range(N)),                          # pos: visits mod N
            # the flip (or the state write's flip) in progress
            j=Signal(range(N)), j_lane=Signal(range(K)),
            snew=Signal(),
            counting=Signal(),                             # a run's flip, not a state write's
            # ``choose_j``: the neuron this state would flip (``_candidate``), whose -s_j one
            # pick gives for every selector
            choose_j=Signal(range(N)),
            # the one chunk pick of the states: the access's chunk, or the refresh's
            # (R_BIAS: the bias chunk loaded; R_COLS: the chunk and lane of the column added)
            s_chunk_at=Signal(range(C)), r_chunk=Signal(range(C)), r_lane=Signal(range(K)),
            # memory addresses of this cycle
            w_addr=Signal(range(N)), w_en=Signal(), b_addr=Signal(range(C)),
            # the access being executed
            cmd=Signal(P.access), reply_data=Signal(P.data_bits), pend=Signal(K),
            # ws_base: the first neuron of a state write's chunk (WS_NEXT)
            ws_new=Signal(K), ws_base=Signal(range(C * K)),
            loop=Signal(range(N + 2)), after_refresh=Signal(),
            tr_delta=Signal(signed(P.delta_bits)),
            # §12: the clamp mask (bit 1 = held), padded to C chunks of K; the selectors see
            # the unstable flags of the free neurons only
            held=Signal(C * K), free_flags=Signal(N),
            # ``flags_r``: the free flags registered (random order and the synchronous
            # snapshot read them; the sequential and rank selects read the lanes' own);
            # ``none_free``: no free unstable neuron, from what the order's CHOOSE reads;
            # ``age`` counts the cycles since the selectors' inputs last changed
            # (``restart``), ``need`` is what CHOOSE waits for (SelectTiming); rank_k is the
            # accepted draw the rank walk descends with
            flags_r=Signal(N), none_free=Signal(), age=Signal(range(self._max_age() + 1)),
            restart=Signal(),
            need=Signal(range(self._max_age() + 1)), rank_k=Signal(range(N)),
            # §13: the last synchronous step's pending set D(t-1), whether it equals D(t-2)
            # (then the state after it equals the one two steps back), whether a step was
            # made, and the end of a step's walk
            sync=Signal(), sync_last=Signal(N), sync_repeat=Signal(), sync_have=Signal(),
            walk_end=Signal(),
            # stochastic runs (§8): the beta entry of the committed visits' sweep
            stochastic=Signal() if stoch else Const(0),
            beta_idx=Signal(range(cfg.beta_depth)),
            beta_last=Signal(range(cfg.beta_depth)))
        # the one N:1 pick of h_j (and s_j, the clamp bit) that the flip's energy term and
        # the Glauber visit share: its j (registered inside) is j in FLIP and the visit in E
        # (GlauberRun), never both in one cycle; ``_pick_next`` sets it for the next cycle
        m.submodules.pick = pick = FieldPick(cfg)
        m.d.comb += [pick.fields.eq(fa.fields), pick.states.eq(fa.states),
                     pick.held.eq(d.held[:N]),
                     # FLIP's j, as the pick holds it (flip-flops: see FieldArray.index_lo)
                     fa.index_lo.eq(pick.lines_lo), fa.index_hi.eq(pick.lines_hi)]
        d.pick = pick
        d.choose_new = ~fa.states.bit_select(d.choose_j, 1)
        d.s_chunk = d.states.word_select(d.s_chunk_at, K)
        d.choose_chunk, d.choose_lane = chunk_and_lane(d.choose_j, K, N)
        self._build_selectors(m, d)
        if stoch:
            self._glauber_build(m, d)
        if hebb:
            m.submodules.hebbian = d.hebbian = HebbianColumn(cfg)
            d.pattern = Signal(C * K)                      # padded to C chunks of K
            d.hebb_select = Signal(N)                      # the column written, one-hot
            d.hebb_pj = Signal()                           # p_j of the column written
        if cfg.store_patterns:                             # §14 (needs Feature.HEBBIAN)
            self._qstore_build(m, d)
        full_mask, last_mask = (1 << K) - 1, (1 << (N - (C - 1) * K)) - 1
        d.chunk_mask = Mux(d.cmd.chunk == C - 1, last_mask, full_mask)
        m.d.comb += [
            fa.column.eq(d.column), eu.column.eq(d.column), eu.states.eq(fa.states),
            fa.held.eq(d.held[:N]), d.free_flags.eq(fa.flags),
            # (a constant 0 without the order: no walk multiplexer before the selector)
            d.sync.eq(d.order == RunOrder.SYNCHRONOUS
                      if Order.SYNCHRONOUS in cfg.orders else 0),
            # The memories read the candidate's column and bias chunk in every cycle, whether
            # or not the state decides to flip it (their addresses and the weights' read
            # enable do not wait for the decision, which was on the routed critical path);
            # only the Hebbian store holds the read port (and READ_WEIGHTS, the refresh and
            # FLIP, which reads column j again for W_jj, set their own address).
            d.w_addr.eq(d.choose_j), d.w_en.eq(1), d.b_addr.eq(d.choose_chunk),
            ws.read_addr.eq(d.w_addr), ws.read_en.eq(d.w_en),
            # W_jj of the last flip, in the cycle after its FLIP, through the weight store's
            # chunk pick (READ_WEIGHTS' own, which loads its chunk in EXEC; ``_choose`` loads
            # j's): FLIP reads column j again
            eu.diag.eq(self._diag(m, d)),
            d.b_rd.addr.eq(d.b_addr), d.b_rd.en.eq(1),
            d.ws_new.eq(d.cmd.data[:K] & d.chunk_mask),
            d.s_chunk_at.eq(d.cmd.chunk),                  # the refresh sets its own
            regs.energy2.eq(eu.energy2),
            self.reply.payload.data.eq(d.reply_data),
            # §13: a synchronous flip's visit is t N + j (visits counts whole steps)
            self.trace.payload.visit.eq(regs.visits + Mux(d.sync, d.j, 0)),
            self.trace.payload.index.eq(d.j),
            self.trace.payload.value.eq(d.snew),
            self.trace.payload.delta_energy2.eq(d.tr_delta),
        ]
        regs.drive(m, self.status, d.n_unst)
        self._select_age(m, d)
        with m.FSM(name="engine", init="BOOT"):
            with m.State("BOOT"):
                # After reset the lanes hold g = 0, which is no field at all (every flag would
                # read unstable): CLEAR's last cycle gives them h = 0, s = -1, the fields of
                # the zeroed weight and bias memories, as cpu:// has them from its start.
                m.d.comb += [d.fa.op.eq(FieldOp.CLEAR), d.eu.clear.eq(1)]
                m.next = "IDLE"
            self._idle(m, d)
            self._access(m, d)
            self._refresh(m, d)
            self._run(m, d)
            if stoch:
                self._glauber_states(m, d)
            if hebb:
                self._store_pattern(m, d)
            if cfg.store_patterns:
                self._qstore_states(m, d)
        if self.shared_store:
            # The weights changed through another replica (idle then): the fields are stale.
            with m.If(ws.stale):
                m.d.sync += regs.dirty.eq(1)
        return m

    def _build_selectors(self, m, d):
        """The selectors of the configured orders only (``d.sel_seq``, ``d.sel_rand`` with
        ``d.window``, ``d.draw_rank``: None when not built). The rank select's count tree is
        always built (status.unstable, and every run's end waits for it); its walk only for
        rejection_free. The draw also serves stochastic random visits."""
        cfg, N, t = self.config, self.config.neurons, self.timing
        d.orders = orders = {RunOrder(int(o)) for o in cfg.orders}
        stoch = cfg.has(Feature.STOCHASTIC)
        seq_span, tree_span, walk_span = t.spans
        rank_free = RunOrder.REJECTION_FREE in orders
        m.submodules.sel_rank = d.sel_rank = rank = SelectRank(N, tree_span, walk_span,
                                                               walk=rank_free)
        d.n_unst = rank.count
        # The count tree and the sequential select take the lanes' flags as they are (their
        # first stage has the slack for the lane's flag logic): one cycle less a flip than
        # through ``flags_r``.
        m.d.comb += [rank.flags.eq(d.free_flags), rank.rank.eq(d.rank_k)]
        d.sel_seq = d.sel_rand = d.window = d.draw_rank = d.gen = None
        if rank_free or stoch:
            # The generator of rejection_free draws and stochastic visits: its next words
            # from registers (the xorshift steps from a state register to the draw's
            # compare were the routed critical path); up to G + 1 words a cycle, the
            # draw's and a stochastic visit's Glauber word.
            m.submodules.gen = d.gen = WordWindow(self.words + 1)
        if orders & {RunOrder.SEQUENTIAL, RunOrder.SYNCHRONOUS}:
            m.submodules.sel_seq = d.sel_seq = seq = SelectSequential(N, seq_span)
            # a synchronous step walks its pending set with the sequential selector
            m.d.comb += [seq.flags.eq(Mux(d.sync, d.sync_last, d.free_flags)),
                         seq.pos.eq(d.pos)]
        if RunOrder.RANDOM in orders:
            m.submodules.sel_rand = d.sel_rand = rand = SelectRandom(N, self.words)
            m.submodules.window = d.window = window = WordWindow(self.words)
            m.d.comb += [rand.flags.eq(d.flags_r), rand.words.eq(window.words)]
        if rank_free or (RunOrder.RANDOM in orders and stoch):
            m.submodules.draw_rank = d.draw_rank = draw = DrawWords(N, self.words)
            # A stochastic random visit draws its index from [0, N) with the same words.
            m.d.comb += [draw.n.eq(Mux(d.stochastic, N, d.n_unst)),
                         draw.words.eq(d.gen.words[:32 * self.words])]

    # -- helpers of the FSM states ---------------------------------------------------------------

    def _max_age(self):
        t = self.timing
        return max(t.sequential, t.tree, t.walk, 1)

    def _select_age(self, m, d):
        """The registered flags, the age of the selectors' inputs and CHOOSE's wait."""
        t, top = self.timing, self._max_age()
        # no free unstable neuron, from what the order's CHOOSE reads (settled at age >= need)
        seq_found = d.sel_seq.found if d.sel_seq is not None else 0
        m.d.sync += [d.flags_r.eq(d.free_flags),
                     d.age.eq(Mux(d.restart, 0, Mux(d.age == top, top, d.age + 1)))]
        with m.Switch(d.order):
            with m.Case(RunOrder.SEQUENTIAL):
                m.d.comb += [d.need.eq(t.choose["sequential"]), d.none_free.eq(~seq_found)]
            with m.Case(RunOrder.REJECTION_FREE):
                m.d.comb += [d.need.eq(t.choose["rejection_free"]),
                             d.none_free.eq(d.n_unst == 0)]
            with m.Default():
                m.d.comb += [d.need.eq(1), d.none_free.eq(~d.flags_r.any())]
        with m.If(d.stochastic):                    # stochastic visits read no flags
            m.d.comb += d.need.eq(0)

    def _candidate(self, m, d, index):
        """The neuron this state flips if it decides to (``choose_j``), set for the whole
        state whatever the decision: its chunk, lane and -s_j (a table lookup and an N:1
        pick) then start from the selectors' registers, not from the decision's logic
        (the flags' OR, the cap compares), which was the routed critical path."""
        m.d.comb += d.choose_j.eq(index)

    def _pick_next(self, m, d, index):
        """The one pick (``d.pick``) reads ``index`` from the next cycle on."""
        m.d.comb += [d.pick.index.eq(index), d.pick.load.eq(1)]

    def _diag(self, m, d):
        """W_jj for the energy unit, in the cycle after its push: the weight store's chunk
        pick of the last flip's column. A SYMMETRIC refresh pushes a column a cycle, so its
        W_tt is taken from the pick in the push cycle and held a cycle (``d.diag_r``)."""
        WB = self.config.weight_bits
        flip_diag = d.ws.chunk_data.word_select(d.j_lane, WB).as_signed()
        if not self.config.has(Feature.SYMMETRIC):
            return flip_diag
        d.diag_r = Signal(signed(WB))
        return Mux(d.regs.refreshing, d.diag_r, flip_diag)

    def _choose(self, m, d, new, count):
        """Issue the flip of ``choose_j`` (``_candidate``) to ``new`` (None: -s_j, a
        deterministic flip): its column and bias chunk are read now (as in every cycle)."""
        self._pick_next(m, d, d.choose_j)
        m.d.comb += [d.ws.chunk.eq(d.choose_chunk), d.ws.chunk_load.eq(1)]
        m.d.sync += [d.j.eq(d.choose_j),
                     d.snew.eq(d.choose_new if new is None else new),
                     d.counting.eq(count), d.j_lane.eq(d.choose_lane)]
        m.next = "FLIP"

    def _advance(self, m, d, count):
        """``count`` more visits (a constant or a signal), pos following them mod N."""
        N = self.config.neurons
        m.d.sync += d.regs.visits.eq(d.regs.visits + count)
        total = d.pos + count
        m.d.sync += d.pos.eq(Mux(total >= N, total - N, total))
        # A new sweep takes the next beta entry, the last one holding (§8).
        with m.If((total >= N) & (d.beta_idx != d.beta_last)):
            m.d.sync += d.beta_idx.eq(d.beta_idx + 1)

    def _next_visit(self, m, d):
        """After a run's flip: the next visit (CHOOSE), or in a synchronous step the walk
        goes on after j. pos moves: the sequential select starts again (``restart``)."""
        N = self.config.neurons
        m.d.comb += d.restart.eq(1)
        if RunOrder.SYNCHRONOUS not in d.orders:
            self._advance(m, d, 1)
            m.next = "CHOOSE"
            return
        with m.If(d.sync):
            m.d.sync += [d.pos.eq(Mux(d.j == N - 1, 0, d.j + 1)), d.walk_end.eq(d.j == N - 1)]
            m.next = "SYNC_WALK"
        with m.Else():
            self._advance(m, d, 1)
            m.next = "CHOOSE"

    def _finish(self, m, d, reason):
        """End the run with ``reason`` once the last flip's 2E is final and the count tree
        (status.unstable) has settled."""
        with m.If(~d.eu.busy & (d.age >= self.timing.settle)):
            m.d.sync += [d.regs.stop_reason.eq(reason), d.regs.running.eq(0),
                         d.regs.busy.eq(0)]
            m.next = "IDLE"

    # -- the FSM states ----------------------------------------------------------------------------

    def _idle(self, m, d):
        cfg, regs = self.config, d.regs
        rp = self.run.payload
        order_ok = Cat(*(rp.order == RunOrder(int(o)) for o in cfg.orders)).any()
        # Stochastic runs need the feature and have no rejection_free or synchronous form (§8).
        bad = ~order_ok | (rp.stochastic & ((rp.order == RunOrder.REJECTION_FREE)
                                            | (rp.order == RunOrder.SYNCHRONOUS))
                           if cfg.has(Feature.STOCHASTIC) else rp.stochastic)
        with m.State("IDLE"):
            m.d.comb += [self.access.ready.eq(1), self.run.ready.eq(~self.access.valid)]
            with m.If(self.access.valid):
                m.d.sync += [d.cmd.eq(self.access.payload), regs.busy.eq(1)]
                m.next = "EXEC"
            with m.Elif(self.run.valid):
                for window in (d.window, d.gen):
                    if window is not None:
                        m.d.comb += [window.load.eq(1),
                                     window.load_state.eq(load_state(rp.seed))]
                m.d.sync += [
                    d.order.eq(rp.order),
                    d.trace_en.eq(rp.trace if cfg.has(Feature.TRACE) else 0),
                    d.max_visits.eq(rp.max_visits),
                    regs.visits.eq(0), regs.flips.eq(0), regs.cycles.eq(0), d.pos.eq(0),
                    regs.busy.eq(1), regs.stop_reason.eq(StopReason.NONE),
                    regs.refresh_cycles.eq(0), d.beta_idx.eq(0),
                    d.sync_have.eq(0), d.sync_repeat.eq(0),
                    d.beta_last.eq(Mux(rp.beta_len == 0, 0, rp.beta_len - 1)),
                ]
                if cfg.has(Feature.STOCHASTIC):
                    m.d.sync += d.stochastic.eq(rp.stochastic)
                with m.If(bad):                             # not built: refused (STOP)
                    m.d.sync += [regs.stop_reason.eq(StopReason.STOP), regs.busy.eq(0)]
                with m.Elif(regs.dirty):
                    m.d.comb += d.eu.clear.eq(1)
                    m.d.sync += [d.after_refresh.eq(1), regs.refreshing.eq(1), d.loop.eq(0)]
                    m.next = "R_BIAS"
                with m.Else():
                    m.d.comb += d.restart.eq(1)
                    m.d.sync += regs.running.eq(1)
                    m.next = "CHOOSE"

    def _access(self, m, d):
        cfg, regs, cmd, ws, fa = self.config, d.regs, d.cmd, d.ws, d.fa
        N, K, C, BB = cfg.neurons, cfg.lanes, cfg.chunks, cfg.bias_bits
        chunk_states = d.s_chunk                            # at cmd.chunk (the default)
        with m.State("EXEC"):
            with m.Switch(cmd.op):
                with m.Case(AccessOp.WRITE_WEIGHTS):
                    m.d.comb += [ws.write_addr.eq(cmd.index), ws.write_chunk.eq(cmd.chunk),
                                 ws.write_data.eq(cmd.data), ws.write_en.eq(1)]
                    m.d.sync += [regs.dirty.eq(1), regs.busy.eq(0)]
                    m.next = "IDLE"
                with m.Case(AccessOp.READ_WEIGHTS):
                    m.d.comb += [d.w_addr.eq(cmd.index), ws.chunk.eq(cmd.chunk),
                                 ws.chunk_load.eq(1)]
                    m.next = "READ_W"
                with m.Case(AccessOp.WRITE_BIAS):
                    lanes = Cat(*(Mux(d.chunk_mask[l], cmd.data[l * BB:(l + 1) * BB], 0)
                                  for l in range(K)))
                    m.d.comb += [d.b_wr.addr.eq(cmd.chunk), d.b_wr.data.eq(lanes),
                                 d.b_wr.en.eq(1)]
                    m.d.sync += [regs.dirty.eq(1), regs.busy.eq(0)]
                    m.next = "IDLE"
                with m.Case(AccessOp.READ_BIAS):
                    m.d.comb += d.b_addr.eq(cmd.chunk)
                    m.next = "READ_B"
                with m.Case(AccessOp.WRITE_STATE):
                    with m.If(regs.dirty):     # just stored: the refresh will cover it
                        m.d.comb += [fa.op.eq(FieldOp.LOAD_STATES), fa.chunk.eq(cmd.chunk),
                                     fa.states_in.eq(d.ws_new)]
                        m.d.sync += regs.busy.eq(0)
                        m.next = "IDLE"
                    with m.Else():
                        # the chunk's first neuron, registered for WS_NEXT's candidate
                        # (chunk * K there was a DSP multiply on the routed critical path)
                        base = sum(cmd.chunk << b for b in range(K.bit_length()) if K >> b & 1)
                        m.d.sync += [d.pend.eq((d.ws_new ^ chunk_states) & d.chunk_mask),
                                     d.ws_base.eq(base)]
                        m.next = "WS_NEXT"
                with m.Case(AccessOp.READ_STATE):
                    m.d.sync += d.reply_data.eq(chunk_states)
                    m.next = "REPLY"
                with m.Case(AccessOp.READ_CYCLE):
                    last = Cat(d.sync_last, Const(0, C * K - N)).word_select(cmd.chunk, K)
                    m.d.sync += d.reply_data.eq(chunk_states ^ last)
                    m.next = "REPLY"
                with m.Case(AccessOp.WRITE_CLAMP):
                    m.d.sync += [d.held.word_select(cmd.chunk, K).eq(d.ws_new),
                                 regs.busy.eq(0)]
                    m.next = "IDLE"
                with m.Case(AccessOp.CLEAR):
                    # the lanes zeroed: CLEAR's last cycle adds g = -1 to them
                    m.d.comb += fa.op.eq(FieldOp.ZERO_FIELDS)
                    m.d.sync += d.loop.eq(0)
                    m.next = "CLEAR"
                with m.Case(AccessOp.STORE_PATTERN):
                    if cfg.has(Feature.HEBBIAN):
                        m.d.sync += d.pattern.word_select(cmd.chunk, K).eq(d.ws_new)
                        with m.If(cmd.chunk == C - 1):      # the whole pattern is here
                            m.d.sync += [d.loop.eq(0), regs.dirty.eq(1), d.hebb_select.eq(1)]
                            m.next = "STORE"
                        with m.Else():
                            m.d.sync += regs.busy.eq(0)
                            m.next = "IDLE"
                    else:                                   # not built: ignored
                        m.d.sync += regs.busy.eq(0)
                        m.next = "IDLE"
                if cfg.store_patterns:
                    self._qstore_access(m, d, cmd)
                with m.Case(AccessOp.WRITE_BETA):
                    if cfg.has(Feature.STOCHASTIC):         # else not built: ignored
                        m.d.comb += [d.beta_wr.addr.eq(cmd.index), d.beta_wr.data.eq(cmd.data),
                                     d.beta_wr.en.eq(1)]
                    m.d.sync += regs.busy.eq(0)
                    m.next = "IDLE"
                with m.Default():
                    m.d.sync += regs.busy.eq(0)
                    m.next = "IDLE"
        with m.State("READ_W"):
            m.d.sync += d.reply_data.eq(ws.chunk_data)
            m.next = "REPLY"
        with m.State("READ_B"):
            m.d.sync += d.reply_data.eq(d.b_rd.data)
            m.next = "REPLY"
        with m.State("REPLY"):
            m.d.comb += self.reply.valid.eq(1)
            with m.If(self.reply.ready):
                m.d.sync += regs.busy.eq(0)
                m.next = "IDLE"
        with m.State("CLEAR"):
            # One zero column per cycle (all its chunks at once), the biases alongside.
            m.d.comb += [ws.write_addr.eq(d.loop), ws.write_column.eq(1),
                         d.b_wr.addr.eq(d.loop), d.b_wr.data.eq(0), d.b_wr.en.eq(d.loop < C)]
            m.d.sync += d.loop.eq(d.loop + 1)
            with m.If(d.loop == N - 1):
                m.d.comb += [fa.op.eq(FieldOp.CLEAR), d.eu.clear.eq(1)]
                m.d.sync += [regs.dirty.eq(0), regs.busy.eq(0)]
                m.next = "IDLE"
        # A state write with valid fields: every changed bit is applied as a flip.
        with m.State("WS_NEXT"):
            low = Signal(range(K))
            for l in reversed(range(K)):
                with m.If(d.pend[l]):
                    m.d.comb += low.eq(l)
            self._candidate(m, d, d.ws_base + low)
            with m.If(d.pend == 0):
                with m.If(~d.eu.busy):
                    m.d.sync += regs.busy.eq(0)
                    m.next = "IDLE"
            with m.Else():
                m.d.sync += d.pend.eq(d.pend & ~(1 << low)[:K])
                self._choose(m, d, d.ws_new.bit_select(low, 1), 0)

    def _refresh(self, m, d):
        """h = b chunk by chunk (and sum_i s_i b_i), then every column added with its sign s_j
        (the energy unit summing sum_j s_j c_j), then 2E."""
        cfg, regs, fa, eu = self.config, d.regs, d.fa, d.eu
        N, K, C, BB, A = cfg.neurons, cfg.lanes, cfg.chunks, cfg.bias_bits, cfg.acc_bits
        symmetric = cfg.has(Feature.SYMMETRIC)
        with m.State("R_BIAS"):
            # Cycle t reads bias chunk t; cycle t + 1 loads it into the lanes (cycle 0 zeroes
            # them).
            m.d.comb += d.b_addr.eq(d.loop)
            m.d.sync += d.loop.eq(d.loop + 1)
            # r_chunk: the chunk read the cycle before (loop - 1) from a register
            m.d.sync += d.r_chunk.eq(d.loop)
            with m.If(d.loop == 0):
                m.d.comb += fa.op.eq(FieldOp.ZERO_FIELDS)   # the loads add to zeroed lanes
            with m.Else():
                m.d.comb += d.s_chunk_at.eq(d.r_chunk)
                s_chunk = d.s_chunk
                lanes = [d.b_rd.data[l * BB:(l + 1) * BB].as_signed() for l in range(K)]
                wide = [Signal(signed(A), name=f"rb{l}") for l in range(K)]
                m.d.comb += [w.eq(lane) for w, lane in zip(wide, lanes)]   # sign-extended
                loads = [Signal(signed(fa.field_bits), name=f"rg{l}") for l in range(K)]
                m.d.comb += [g.eq(encode_field(w, s_chunk[l]))              # g = 2 b + s
                             for l, (g, w) in enumerate(zip(loads, wide))]
                # sum_l s_l b_l as a balanced tree (a chain of K adders was on the routed
                # critical path)
                terms = [Mux(s_chunk[l], lane, -lane) for l, lane in enumerate(lanes)]
                while len(terms) > 1:
                    terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                             for i in range(0, len(terms), 2)]
                total = terms[0]
                m.d.comb += [fa.op.eq(FieldOp.LOAD_FIELDS), fa.chunk.eq(d.r_chunk),
                             fa.fields_in.eq(Cat(*loads)), eu.bias_add.eq(1),
                             eu.bias_sum.eq(total)]
            with m.If(d.loop == C):
                m.d.sync += [d.loop.eq(0), d.r_chunk.eq(0), d.r_lane.eq(0)]
                m.next = "R_COLS"
        with m.State("R_COLS"):
            # Cycle t reads column t; cycle t + 1 adds it with the sign s_t.
            m.d.comb += d.w_addr.eq(d.loop)
            m.d.sync += d.loop.eq(d.loop + 1)
            with m.If(d.loop != 0):
                # s_prev from the chunk pick: (r_chunk, r_lane) follow loop - 1
                m.d.comb += d.s_chunk_at.eq(d.r_chunk)
                sign = d.s_chunk.bit_select(d.r_lane, 1)
                last_lane = d.r_lane == K - 1
                m.d.sync += [d.r_lane.eq(Mux(last_lane, 0, d.r_lane + 1)),
                             d.r_chunk.eq(d.r_chunk + last_lane)]
                m.d.comb += [fa.op.eq(FieldOp.ADD), fa.sign.eq(sign),
                             eu.push.eq(1), eu.refresh.eq(1), eu.sign.eq(sign)]
                if symmetric:
                    # 2 h_t before column t's add (the pick holds t) and W_tt (its chunk
                    # was loaded with the read): the energy's column t (EnergyUnit)
                    m.d.comb += eu.term.eq(d.pick.h << 1)
                    m.d.sync += d.diag_r.eq(
                        d.ws.chunk_data.word_select(d.r_lane, cfg.weight_bits).as_signed())
            if symmetric:
                # column t's index and chunk, read now, for the next cycle's pick of h_t and
                # W_tt (r_chunk, r_lane are t - 1's from cycle 1 on)
                with m.If(d.loop < N):
                    self._pick_next(m, d, d.loop)
                    m.d.comb += [d.ws.chunk.eq(Mux(d.loop == 0, 0,
                                                   d.r_chunk + (d.r_lane == K - 1))),
                                 d.ws.chunk_load.eq(1)]
            with m.If(d.loop == N):
                m.next = "R_DRAIN"
        with m.State("R_DRAIN"):
            with m.If(~eu.busy):
                m.d.comb += eu.finish_refresh.eq(1)
                m.d.sync += [regs.dirty.eq(0), regs.refreshing.eq(0)]
                with m.If(d.after_refresh):
                    m.d.comb += d.restart.eq(1)
                    m.d.sync += [d.after_refresh.eq(0), regs.running.eq(1)]
                    m.next = "CHOOSE"
                with m.Else():
                    m.d.sync += regs.busy.eq(0)
                    m.next = "IDLE"

    def _run(self, m, d):
        cfg, regs, fa = self.config, d.regs, d.fa
        A, BB, WB = cfg.acc_bits, cfg.bias_bits, cfg.weight_bits
        seq, rand, rank, draw = d.sel_seq, d.sel_rand, d.sel_rank, d.draw_rank

        with m.State("CHOOSE"):
            with m.Switch(d.order):                         # the candidate of each order
                if seq is not None:
                    with m.Case(RunOrder.SEQUENTIAL):
                        self._candidate(m, d, seq.index)
                if rand is not None:
                    with m.Case(RunOrder.RANDOM):
                        self._candidate(m, d, rand.index)
            cap_left = Signal(COUNTER_BITS)
            m.d.comb += cap_left.eq(d.max_visits - regs.visits)
            with m.If(d.age < d.need):
                pass                                        # the selectors settle
            # A stochastic run lasts exactly max_visits visits (§7).
            with m.Elif(~d.stochastic & d.none_free):
                self._finish(m, d, StopReason.CONVERGED)
            with m.Elif(d.sync & d.sync_repeat):             # §13: s(t) = s(t-2)
                self._finish(m, d, StopReason.CYCLE2)
            with m.Elif((cap_left == 0) | (d.sync & (cap_left < cfg.neurons))):
                self._finish(m, d, StopReason.CAP)          # synchronous: a whole step
            with m.Elif(self.stop):
                self._finish(m, d, StopReason.STOP)
            if cfg.has(Feature.STOCHASTIC):
                with m.Elif(d.stochastic):
                    self._glauber_choose(m, d)
            with m.Else():
                # only the configured orders' cases (IDLE refuses the others)
                with m.Switch(d.order):
                    if seq is not None:
                        with m.Case(RunOrder.SEQUENTIAL):
                            # The stable visits before the next unstable one cost no cycle.
                            with m.If(seq.skip >= cap_left):
                                m.d.sync += regs.visits.eq(d.max_visits)
                            with m.Else():
                                self._advance(m, d, seq.skip)
                                self._choose(m, d, None, 1)
                    if rand is not None:
                        with m.Case(RunOrder.RANDOM):
                            m.d.comb += d.window.consume.eq(rand.used)
                            # rand.stable comes late (word, flags, hits): it only selects
                            # among compares and sums formed from registers.
                            covered = Signal()
                            with m.Switch(rand.stable):
                                for k in range(self.words + 1):
                                    with m.Case(k):
                                        m.d.comb += covered.eq(cap_left <= k)
                            with m.If(covered):
                                m.d.sync += regs.visits.eq(d.max_visits)
                            with m.Else():
                                with m.Switch(rand.stable):
                                    for k in range(self.words + 1):
                                        with m.Case(k):
                                            self._advance(m, d, k)
                                with m.If(rand.found):
                                    self._choose(m, d, None, 1)
                    if rank.walk:
                        with m.Case(RunOrder.REJECTION_FREE):
                            # k goes to the rank walk, which descends the settled tree.
                            m.d.comb += d.gen.consume.eq(draw.used)
                            with m.If(draw.accept):
                                m.d.comb += d.restart.eq(1)
                                m.d.sync += d.rank_k.eq(draw.index)
                                m.next = "RANK_WALK"
                    if RunOrder.SYNCHRONOUS in d.orders:
                        with m.Case(RunOrder.SYNCHRONOUS):
                            # Snapshot the step's pending set D(t) (decided on h(t)), then
                            # walk it.
                            m.d.comb += d.restart.eq(1)
                            m.d.sync += [d.sync_last.eq(d.flags_r), d.sync_have.eq(1),
                                         d.sync_repeat.eq(d.sync_have
                                                          & (d.flags_r == d.sync_last)),
                                         d.pos.eq(0), d.walk_end.eq(0)]
                            m.next = "SYNC_WALK"
        if rank.walk:
            with m.State("RANK_WALK"):
                self._candidate(m, d, rank.index)
                with m.If(d.age >= self.timing.walk):
                    self._choose(m, d, None, 1)
        if RunOrder.SYNCHRONOUS in d.orders:
            with m.State("SYNC_WALK"):
                self._candidate(m, d, seq.index)
                # The next pending neuron at or after pos flips (its new value is -s_j: no
                # flip of this step changed s_j); none left ends the step, N visits in all.
                with m.If(d.age < self.timing.sequential):
                    pass                                    # the sequential select settles
                with m.Elif(d.walk_end | ~seq.found | (seq.index < d.pos)):
                    m.d.sync += regs.visits.eq(regs.visits + cfg.neurons)
                    m.next = "CHOOSE"
                with m.Else():
                    self._choose(m, d, None, 1)
        with m.State("FLIP"):
            # Column j and the bias chunk of j arrive: every lane adds 2 s_j' W_ij, and the
            # energy unit takes the column with h_j + b_j (h_j before the add); W_jj follows
            # in the next cycle (``eu.diag``, set in elaborate).
            h_j = d.pick.h                                  # the pick's j is j
            b_j = d.b_rd.data.word_select(d.j_lane, BB).as_signed()
            # SYMMETRIC: c_j = h_j - b_j, so h_j + c_j + b_j = 2 h_j (EnergyUnit)
            term = h_j << 1 if cfg.has(Feature.SYMMETRIC) else h_j + b_j
            m.d.comb += [d.w_addr.eq(d.j),                 # column j again, for W_jj
                         fa.op.eq(FieldOp.FLIP), fa.sign.eq(d.snew),
                         d.restart.eq(1), d.eu.push.eq(1), d.eu.sign.eq(d.snew),
                         d.eu.term.eq(term)]
            with m.If(~d.counting):
                m.next = "WS_NEXT"
            with m.Elif(d.trace_en):
                m.d.sync += regs.flips.eq(regs.flips + 1)
                m.next = "TRACE_WAIT"
            with m.Else():
                m.d.sync += regs.flips.eq(regs.flips + 1)
                self._next_visit(m, d)
                if cfg.has(Feature.STOCHASTIC):
                    with m.If(d.stochastic):       # the next visit is issued right here
                        self._glauber_issue(m, d, 1)
                        m.next = "GLAUBER"
        with m.State("TRACE_WAIT"):
            with m.If(d.eu.delta_valid):
                m.d.sync += d.tr_delta.eq(d.eu.delta)
                m.next = "TRACE"
        with m.State("TRACE"):
            m.d.comb += self.trace.valid.eq(1)
            with m.If(self.trace.ready):
                self._next_visit(m, d)

    def _store_pattern(self, m, d):
        """The on-chip Hebbian store (§9): cycle t reads column t, cycle t + 1 writes column t
        back through :class:`~.hebbian_column.HebbianColumn`, N + 1 cycles in all."""
        N, ws, hc, regs = self.config.neurons, d.ws, d.hebbian, d.regs
        prev = Signal(range(N))
        m.d.comb += [prev.eq(d.loop - 1), hc.column.eq(ws.column),
                     hc.select.eq(d.hebb_select), hc.pattern.eq(d.pattern[:N]),
                     hc.pattern_j.eq(d.hebb_pj)]
        with m.State("STORE"):
            m.d.comb += [d.w_addr.eq(d.loop), d.w_en.eq(d.loop != N)]
            # p_j of the column read now, registered beside it (one pick, not one per lane)
            m.d.sync += [d.loop.eq(d.loop + 1), d.hebb_pj.eq(d.pattern.bit_select(d.loop, 1))]
            with m.If(d.loop != 0):
                m.d.comb += [ws.write_addr.eq(prev), ws.write_column.eq(1),
                             ws.column_in.eq(hc.column_out)]
                m.d.sync += d.hebb_select.eq(d.hebb_select << 1)
            with m.If(d.loop == N):
                m.d.sync += regs.busy.eq(0)
                m.next = "IDLE"
