"""The interface of the binary engine: access, run, status and trace layouts and the signature.

`BinaryEngine` (``gateware/binary_engine.py``) implements :func:`engine_signature`; the command
engine and the testbenches build and decode the same layouts from :class:`EnginePorts`, so no
width is stated twice. Every width derives from a :class:`~hopfield_fpga.config.NetworkConfig`.

Streams (``amaranth.lib.stream``, valid/ready handshake):

``access`` (In, payload :attr:`EnginePorts.access`)
    One memory operation per transfer (:class:`AccessOp`). Writes are accepted when the engine
    is idle; a read is answered with exactly one ``reply`` transfer, in order. The engine drops
    ``access.ready`` while it is busy (a run, a refresh, a Hebbian store, a clear or the
    incremental work of a state write), so a command engine that only offers a transfer when
    ``status.busy`` is 0 never waits long, and one that does not is merely held back: an access
    during a run is never lost and never corrupts the run.

``reply`` (Out, payload :attr:`EnginePorts.reply`)
    The data of a read, packed like the ``data`` of the corresponding write. Back-pressure is
    honoured (the engine holds the reply until it is taken).

``run`` (In, payload :attr:`EnginePorts.run`)
    Starts a run with the given parameters when the engine is idle (taken only when idle, like
    ``access``). A run first brings the local fields, unstable set and 2E up to date if a
    weight or bias write made them stale (the *refresh*, counted in ``status.refresh_cycles``,
    not in ``status.cycles``), then runs the dynamics of ``docs/numerics.md`` §3-§8.

``trace`` (Out, payload :attr:`EnginePorts.trace`)
    One flip event per flip of a run that asked for it (``run.trace``): the engine waits for
    the consumer (back-pressure), which stalls the run but does not change its result;
    ``status.cycles`` counts the stall cycles too.

``stop`` (In, 1 bit)
    While high during a run, the run ends before its next visit (reason :attr:`StopReason.STOP`).

``status`` (Out, layout :attr:`EnginePorts.status`)
    Always valid. visits, flips, cycles, stop_reason and refresh_cycles describe the last run
    and are held until the next run starts. When ``fields_valid`` is 1, ``energy2``,
    ``unstable`` and ``converged`` (= no unstable neuron) describe the current state (they
    follow state writes too); after a weight, bias or pattern write they are stale until the
    next run's refresh.

A run the configuration cannot do (an order not built in, stochastic without
Feature.STOCHASTIC, stochastic rejection_free) ends at once with stop reason STOP and no
visit; the command engine should refuse it before.

Data packing (weights, biases, states, patterns): chunk ``c`` holds neurons ``c*K .. c*K+K-1``,
lane ``l`` (neuron ``c*K + l``) at bits ``[l*w, (l+1)*w)`` of ``data`` where w is the element
width (W_BITS, B_BITS or 1; states and patterns use bit 1 for +1, §1). Lanes beyond N in the
last chunk are ignored on write and read as 0. Weights are addressed by COLUMN: the word
(``index`` = j, ``chunk`` = c) holds W_ij for the neurons i of chunk c.
"""

from __future__ import annotations

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga import protocol as P
from hopfield_fpga.config import COUNTER_BITS, NetworkConfig, Order
from hopfield_fpga.numerics import BETA_BITS

__all__ = ["AccessOp", "StopReason", "RunOrder", "EnginePorts", "check_engine_config",
           "engine_signature"]


class AccessOp(enum.Enum, shape=4):
    """Operations of the ``access`` stream. ``index``/``chunk`` address as stated."""
    #: Write weight word (index = column j, chunk = c): W_ij for i in chunk c. Makes h stale.
    WRITE_WEIGHTS = 0
    #: Read weight word (j, c).
    READ_WEIGHTS = 1
    #: Write bias chunk c. Makes h stale.
    WRITE_BIAS = 2
    #: Read bias chunk c.
    READ_BIAS = 3
    #: Write state chunk c. When h is up to date the engine keeps it so by applying every
    #: changed bit as a flip (a column pass of C cycles each, the unstable set and 2E follow
    #: exactly); when h is stale the bits are just stored (the next refresh covers them).
    WRITE_STATE = 4
    #: Read state chunk c.
    READ_STATE = 5
    #: Store pattern chunk c (§9). Chunks are collected until the chunk C-1 arrives; then the
    #: whole pattern is added to W with saturation (2 cycles per weight word). Makes h stale.
    STORE_PATTERN = 6
    #: Write beta schedule entry ``index`` (0 .. config.beta_depth - 1), Q8.8 in data.
    WRITE_BETA = 7
    #: Zero every weight, bias and local field and set every state to -1 (one cycle per
    #: weight word); the fields stay valid (h = 0, 2E = 0, no unstable neuron).
    CLEAR = 8
    #: Write clamp chunk c (``docs/numerics.md`` §12; bit 1 = neuron held): the mask stays
    #: until it is written again and applies to every run after it. A held neuron is left out
    #: of the unstable set the selectors see, and a stochastic visit of it draws its words and
    #: never writes. Only :class:`~hopfield_fpga.gateware.engine.ColumnEngine` has it;
    #: ``BinaryEngine`` ignores it (the command engine refuses WRITE_CLAMP there).
    WRITE_CLAMP = 9
    #: Read chunk c of the state before the last synchronous step's flips (§13: after a run
    #: that ended with CYCLE2, the other state of the 2-cycle). ColumnEngine only.
    READ_CYCLE = 10
    #: Write chunk c of pattern ``index`` (0 .. P_MAX-1) of the quantized store's pattern
    #: buffer (``docs/numerics.md`` §14; P_MAX = ``config.store_patterns``). ColumnEngine only.
    WRITE_PATTERN = 11
    #: Write threshold step ``index`` (§14, ``numerics.hebbian_threshold_steps``) from data,
    #: packed by ``protocol.pack_threshold_step`` (delta <= W_MAX: the bits from W_BITS - 1 to
    #: 14 are not kept); (0, no count) ends the table. ColumnEngine only.
    WRITE_THRESHOLD = 12
    #: The quantized store (§14) of buffer patterns 0 .. data-1 with the thresholds written:
    #: replaces every weight, one column after the other; biases untouched, fields stale.
    STORE_QUANTIZED = 13


class StopReason(enum.Enum, shape=3):
    """Why the last run ended (docs/numerics.md §7); NONE before the first run. The values are
    those of :class:`hopfield_fpga.protocol.StopReason` (the status byte carries them)."""
    NONE = P.StopReason.NONE.value
    CONVERGED = P.StopReason.CONVERGED.value
    CAP = P.StopReason.CAP.value
    STOP = P.StopReason.STOP.value
    CYCLE2 = P.StopReason.CYCLE2.value


assert [(r.name, r.value) for r in StopReason] == [(r.name, r.value) for r in P.StopReason]


class RunOrder(enum.Enum, shape=2):
    """The update order field of ``run``: the values of :class:`hopfield_fpga.config.Order`."""
    SEQUENTIAL = int(Order.SEQUENTIAL)
    RANDOM = int(Order.RANDOM)
    REJECTION_FREE = int(Order.REJECTION_FREE)
    SYNCHRONOUS = int(Order.SYNCHRONOUS)     # ColumnEngine only (§13)


def _bits(n: int) -> int:
    return max(1, (n - 1).bit_length())


class EnginePorts:
    """Layouts of the binary engine's streams for one configuration.

    Members
    -------
    access: ``op`` (:class:`AccessOp`), ``index`` (column j or beta entry), ``chunk``, ``data``.
    reply: ``data`` of a read, packed like a write.
    run: ``order`` (:class:`RunOrder`), ``stochastic``, ``trace``, ``seed`` (32 bits: the
        generator's initial state ``numerics.seed_state(user_seed)``, scrambled by the host,
        §5; loaded as it is, a 0 being replaced by XORSHIFT_ZERO_SEED),
        ``max_visits`` (32 bits), ``beta_len`` (schedule entries used, 1..beta_depth; 0
        means 1).
    status: ``busy``, ``converged``, ``stop_reason`` (:class:`StopReason`), ``fields_valid``
        (h, unstable set and 2E are up to date), ``unstable`` (|U|), ``visits``, ``flips``,
        ``cycles`` (from the run's start to its end, the refresh excluded), ``refresh_cycles``
        (the refresh that preceded the last run, 0 if none was needed), ``energy2`` (2E, signed
        ENERGY_BITS).
    trace: ``visit`` (32 bits), ``index``, ``value`` (1 = +1), ``delta_energy2`` (signed
        ACC_BITS + 3, §6).
    """

    def __init__(self, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        self.config = config
        k = config.lanes
        self.index_bits = config.index_bits
        self.chunk_bits = _bits(config.chunks)
        self.addr_bits = max(self.index_bits, _bits(config.beta_depth))
        self.data_bits = max(k * config.weight_bits, k * config.bias_bits, BETA_BITS)
        self.delta_bits = config.acc_bits + 3
        self.access = data.StructLayout({
            "op": AccessOp,
            "index": unsigned(self.addr_bits),
            "chunk": unsigned(self.chunk_bits),
            "data": unsigned(self.data_bits),
        })
        self.reply = data.StructLayout({"data": unsigned(self.data_bits)})
        self.run = data.StructLayout({
            "order": RunOrder,
            "stochastic": unsigned(1),
            "trace": unsigned(1),
            "seed": unsigned(32),
            "max_visits": unsigned(COUNTER_BITS),
            "beta_len": unsigned(_bits(config.beta_depth + 1)),
        })
        self.status = data.StructLayout({
            "busy": unsigned(1),
            "converged": unsigned(1),
            "stop_reason": StopReason,
            "fields_valid": unsigned(1),
            "unstable": unsigned(config.neurons.bit_length()),
            "visits": unsigned(COUNTER_BITS),
            "flips": unsigned(COUNTER_BITS),
            "cycles": unsigned(COUNTER_BITS),
            "refresh_cycles": unsigned(COUNTER_BITS),
            "energy2": signed(config.energy_bits),
        })
        self.trace = data.StructLayout({
            "visit": unsigned(COUNTER_BITS),
            "index": unsigned(self.index_bits),
            "value": unsigned(1),
            "delta_energy2": signed(self.delta_bits),
        })

    # -- packing helpers for drivers (Python integers) ----------------------------------------

    def pack_lanes(self, values, width: int) -> int:
        """Pack up to K integers (two's complement, ``width`` bits each) into a data word."""
        return P.pack_lanes(values, width)

    def unpack_lanes(self, word: int, width: int, *, signed_values: bool = True,
                     count: int | None = None) -> list[int]:
        """Inverse of :meth:`pack_lanes`: ``count`` (default K) lanes of ``width`` bits."""
        return P.unpack_lanes(word, width, self.config.lanes if count is None else count,
                              signed=signed_values)


def check_engine_config(config, *, synchronous: bool = False) -> None:
    """Refuse what no binary engine builds: not a configuration, no update order, or the
    synchronous order in an engine that has not got it (``synchronous``: ColumnEngine has)."""
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a NetworkConfig, not {config!r}")
    if not config.has_binary:
        raise ValueError(f"This configuration builds no binary engine (no update orders): "
                         f"{config.describe()}")
    if Order.SYNCHRONOUS in config.orders and not synchronous:
        raise ValueError(f"the synchronous order (numerics.md §13) has no gateware in the "
                         f"K-lane engine, only in the column engine (engine='column'): use it "
                         f"or drop the order from {config.describe()}")


def engine_signature(config: NetworkConfig) -> wiring.Signature:
    """The signature `BinaryEngine(config)` implements (see the module docstring)."""
    return signature_from_ports(EnginePorts(config))


def signature_from_ports(ports) -> wiring.Signature:
    """The port set every engine shares (access/reply, run/stop, status, trace), built from an
    object with ``access``, ``reply``, ``run``, ``status`` and ``trace`` layouts, so the command
    engine can attach the binary and the graded engine alike."""
    return wiring.Signature({
        "access": In(stream.Signature(ports.access)),
        "reply": Out(stream.Signature(ports.reply)),
        "run": In(stream.Signature(ports.run)),
        "stop": In(1),
        "status": Out(ports.status),
        "trace": Out(stream.Signature(ports.trace)),
    })
