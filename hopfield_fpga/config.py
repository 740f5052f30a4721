"""The network configuration: the one definition of N, widths, lanes and built-in features.

Gateware, golden model, host driver and board tops all take a :class:`NetworkConfig`; nothing
else in the project states a width or a size. Every derived width (accumulator, energy,
counters) is a property computed here from the rules in ``docs/numerics.md`` so that the
gateware and the golden model cannot disagree about it.

A configuration travels to the host in the reply to the identify command: :meth:`to_dict`
and :meth:`from_dict` are the serialized form, and :meth:`encode` / :meth:`decode` the byte
form used on the wire.
"""

from __future__ import annotations

import dataclasses
import enum
import struct

__all__ = ["Order", "Feature", "BINARY_FEATURES", "ENGINES", "NetworkConfig", "MAX_NEURONS",
           "MAX_REPLICAS", "BETA_SCHEDULE_DEPTH", "MAX_BETA_DEPTH"]

#: Largest N the gateware and the protocol support (addresses are 16 bits on the wire).
MAX_NEURONS = 4096
#: Weight widths allowed by the spec (signed two's complement).
MIN_WEIGHT_BITS, MAX_WEIGHT_BITS = 1, 16
MAX_BIAS_BITS = 24
MAX_LANES = 64
#: The counters (visits, flips, cycles) are this wide; a run stops before they would wrap.
COUNTER_BITS = 32
#: Entries of the on-chip beta schedule (one per sweep; the last one holds) by default
#: (``NetworkConfig.beta_depth``), and the most a configuration may have (1024 x 16 bits:
#: one ECP5 DP16KD; a 1000-sweep anneal is then one run).
BETA_SCHEDULE_DEPTH = 64
MAX_BETA_DEPTH = 1024
#: Most replicas of the column engine: one chain per port of a block RAM (docs/engine.md).
MAX_REPLICAS = 2


class Order(enum.IntEnum):
    """Update orders of the binary dynamics (``docs/numerics.md``, section "Update orders")."""
    SEQUENTIAL = 0
    RANDOM = 1
    REJECTION_FREE = 2
    SYNCHRONOUS = 3       # every neuron at once (Little); gateware: the column engine only

    @classmethod
    def parse(cls, value: "Order | str | int") -> "Order":
        if isinstance(value, Order):
            return value
        if isinstance(value, str):
            try:
                return cls[value.upper().replace("-", "_")]
            except KeyError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        names = ", ".join(repr(o.name.lower()) for o in cls)
        raise ValueError(f"Unknown update order {value!r}; expected one of {names}")


class Feature(enum.IntFlag):
    """Optional blocks of the gateware. The host learns which are built in from identify."""
    STOCHASTIC = 1 << 0   # Glauber neurons with a beta schedule
    HEBBIAN = 1 << 1      # on-chip Hebbian storing of patterns
    TRACE = 1 << 2        # flip-event stream (index, new value, energy change)
    GRADED = 1 << 3       # graded-response (1984) engine
    #: Not a block but a contract that saves one: the binary weights are symmetric (W = W^T),
    #: so the column engine takes the energy's column field c_j = h_j - b_j (docs/numerics.md
    #: §6) instead of summing the column (its ColumnSum, about 9 LUT4s a neuron, is not built)
    #: and the host refuses asymmetric weights. Column engine only.
    SYMMETRIC = 1 << 4
    #: Every block (SYMMETRIC restricts the weights, so it is not among them).
    ALL = STOCHASTIC | HEBBIAN | TRACE | GRADED


#: Every flag a configuration may carry.
_KNOWN_FEATURES = int(Feature.ALL | Feature.SYMMETRIC)

#: Designs of the binary engine, in their wire numbering (docs/engine.md): ``"lanes"`` reads K
#: weights a cycle and passes a column in C = ceil(N / K) cycles (``gateware/binary_engine.py``);
#: ``"column"`` reads a whole column a cycle into N field lanes (``gateware/engine/``).
ENGINES = ("lanes", "column")

#: Features that only the binary engine has (a graded-only configuration cannot build them).
BINARY_FEATURES = Feature.STOCHASTIC | Feature.HEBBIAN


def _check_int(name: str, value, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, not {value!r}")


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Size, number formats and features of one Hopfield network instance.

    Parameters
    ----------
    neurons:
        N, the number of neurons, 1 to :data:`MAX_NEURONS` (any value, not only powers of two).
    weight_bits:
        W_BITS, width of a signed two's complement weight, 1 to 16.
    bias_bits:
        B_BITS, width of a signed bias, 1 to 24. Defaults to ``weight_bits + 8``.
    lanes:
        K, weights handled per cycle by the engines (1 to 64, at most N).
    orders:
        Update orders built into the binary engine. None (an empty tuple) builds no binary
        engine: a graded-only instance, which needs Feature.GRADED and cannot have the binary
        engine's features (STOCHASTIC, HEBBIAN).
    features:
        Optional blocks built in (:class:`Feature`).
    engine:
        Design of the binary engine, one of :data:`ENGINES`. With ``"column"``, K is only the
        width of the host's access word (a chunk of K neurons), not the weights read a cycle.
    store_patterns:
        P_MAX, the patterns the on-chip quantized Hebbian store (``docs/numerics.md`` §14) holds
        at once, 0 to N; 0 (the default) builds no such store. It needs ``engine="column"``,
        Feature.HEBBIAN and W_BITS >= 2.
    replicas:
        R, the independent chains of the binary engine that share its weight store (1 or
        :data:`MAX_REPLICAS`; docs/engine.md, "Replicas"): RECALL_MANY runs R probes at once.
        R = 2 needs ``engine="column"`` (one chain per port of the store's block RAMs).
    beta_depth:
        Entries of the beta schedule memory (a power of two from :data:`BETA_SCHEDULE_DEPTH`
        to :data:`MAX_BETA_DEPTH`): the longest schedule a run takes.
    """

    neurons: int = 64
    weight_bits: int = 8
    bias_bits: int | None = None
    lanes: int = 8
    orders: tuple[Order, ...] = (Order.SEQUENTIAL, Order.RANDOM, Order.REJECTION_FREE)
    features: Feature = Feature.STOCHASTIC | Feature.HEBBIAN | Feature.TRACE
    engine: str = "lanes"
    store_patterns: int = 0
    replicas: int = 1
    beta_depth: int = BETA_SCHEDULE_DEPTH

    def __post_init__(self):
        _check_int("neurons", self.neurons, 1, MAX_NEURONS)
        _check_int("weight_bits", self.weight_bits, MIN_WEIGHT_BITS, MAX_WEIGHT_BITS)
        if self.bias_bits is None:
            object.__setattr__(self, "bias_bits", min(self.weight_bits + 8, MAX_BIAS_BITS))
        _check_int("bias_bits", self.bias_bits, 1, MAX_BIAS_BITS)
        _check_int("lanes", self.lanes, 1, min(MAX_LANES, self.neurons))
        orders = tuple(sorted({Order.parse(o) for o in self.orders}))
        object.__setattr__(self, "orders", orders)
        # int(): ~ on an IntFlag stays inside the known flags, so it would hide stray bits.
        if not isinstance(self.features, int) or int(self.features) & ~_KNOWN_FEATURES:
            raise ValueError(f"features must be a combination of Feature flags, not {self.features!r}")
        object.__setattr__(self, "features", Feature(self.features))
        if not orders:
            if not self.features & Feature.GRADED:
                raise ValueError("A configuration without update orders builds no binary engine, "
                                 "so it must build the graded one: add Feature.GRADED or an order")
            binary_only = self.features & BINARY_FEATURES
            if binary_only:
                names = ", ".join(f.name.lower() for f in Feature
                                  if f in BINARY_FEATURES and binary_only & f)
                raise ValueError(f"Feature(s) {names} belong to the binary engine, which a "
                                 f"configuration without update orders does not build")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, "
                             f"not {self.engine!r}")
        if self.engine != "lanes" and not orders:
            raise ValueError(f"engine={self.engine!r} designs the binary engine, which a "
                             f"configuration without update orders does not build")
        if self.features & Feature.SYMMETRIC and self.engine != "column":
            raise ValueError(f"Feature.SYMMETRIC (symmetric weights, the energy without a "
                             f"column sum) needs engine='column', not {self.engine!r}")
        self._check_store_patterns()
        _check_int("replicas", self.replicas, 1, MAX_REPLICAS)
        if self.replicas > 1 and self.engine != "column":
            raise ValueError(f"replicas={self.replicas} needs engine='column' (not "
                             f"{self.engine!r}): only the column engine's weight store has a "
                             f"port per replica; replicas=1 builds one chain")
        _check_int("beta_depth", self.beta_depth, BETA_SCHEDULE_DEPTH, MAX_BETA_DEPTH)
        if self.beta_depth & (self.beta_depth - 1):
            raise ValueError(f"beta_depth must be a power of two from {BETA_SCHEDULE_DEPTH} to "
                             f"{MAX_BETA_DEPTH}, not {self.beta_depth}")

    def _check_store_patterns(self) -> None:
        """The quantized store (§14): a pattern buffer of P_MAX <= N patterns in the column
        engine, next to the Hebbian store, with W_MAX >= 1."""
        _check_int("store_patterns", self.store_patterns, 0, self.neurons)
        if not self.store_patterns:
            return
        needs = [why for bad, why in (
            (self.engine != "column", f"engine='column' (not {self.engine!r})"),
            (not self.features & Feature.HEBBIAN, "Feature.HEBBIAN"),
            (self.weight_bits < 2, f"weight_bits >= 2 (not {self.weight_bits})")) if bad]
        if needs:
            raise ValueError(f"store_patterns={self.store_patterns} (the quantized Hebbian "
                             f"store, numerics.md §14) needs {' and '.join(needs)}; "
                             f"store_patterns=0 builds none")

    # -- derived numbers (docs/numerics.md, "Widths") --------------------------------------

    @property
    def weight_min(self) -> int:
        return -(1 << (self.weight_bits - 1))

    @property
    def weight_max(self) -> int:
        return (1 << (self.weight_bits - 1)) - 1

    @property
    def bias_min(self) -> int:
        return -(1 << (self.bias_bits - 1))

    @property
    def bias_max(self) -> int:
        return (1 << (self.bias_bits - 1)) - 1

    @property
    def field_bound(self) -> int:
        """Largest |h_i| = |sum_j W_ij s_j + b_i| any state can produce."""
        return self.neurons * (1 << (self.weight_bits - 1)) + (1 << (self.bias_bits - 1))

    @property
    def acc_bits(self) -> int:
        """Signed width of the local-field accumulator: holds +-field_bound, so never overflows."""
        return self.field_bound.bit_length() + 1

    @property
    def energy_bound(self) -> int:
        """Largest |2E| = |sum_ij W_ij s_i s_j + 2 sum_i b_i s_i| any state can produce."""
        n = self.neurons
        return n * n * (1 << (self.weight_bits - 1)) + 2 * n * (1 << (self.bias_bits - 1))

    @property
    def energy_bits(self) -> int:
        """Signed width of the register that holds 2E exactly."""
        return self.energy_bound.bit_length() + 1

    @property
    def chunks(self) -> int:
        """C = ceil(N / K): words of K lanes per weight column; cycles of one flip pass."""
        return -(-self.neurons // self.lanes)

    @property
    def store_thresholds(self) -> int:
        """E = min(W_MAX, P_MAX) + ceil(P_MAX / W_MAX): the steps the quantized store's
        threshold table holds (§14, ``numerics.hebbian_threshold_steps``; 0 without it): the
        levels of any scale up to 1 and the steps of W_MAX between them."""
        if not self.store_patterns:
            return 0
        return min(self.weight_max, self.store_patterns) \
            + -(-self.store_patterns // self.weight_max)

    @property
    def index_bits(self) -> int:
        """Bits of a neuron index (at least 1)."""
        return max(1, (self.neurons - 1).bit_length())

    @property
    def graded_acc_bits(self) -> int:
        """Signed width of the graded field sum_j T_ij v_j + b_i 2**GRADED_V_FRAC (never overflows)."""
        from .numerics import GRADED_V_FRAC
        return self.acc_bits + GRADED_V_FRAC

    @property
    def graded_u_bits(self) -> int:
        """Signed width of the graded potential u (saturating): twice the largest field."""
        return self.graded_acc_bits + 1

    @property
    def has_binary(self) -> bool:
        """Whether the binary engine is built (it is unless the configuration has no orders)."""
        return bool(self.orders)

    def has(self, feature: Feature) -> bool:
        return bool(self.features & feature)

    def with_(self, **changes) -> "NetworkConfig":
        """Return a copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    # -- serialized forms -------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "neurons": self.neurons,
            "weight_bits": self.weight_bits,
            "bias_bits": self.bias_bits,
            "lanes": self.lanes,
            "orders": [o.name.lower() for o in self.orders],
            "features": [f.name.lower() for f in Feature if f is not Feature.ALL and self.features & f],
            "engine": self.engine,
            "store_patterns": self.store_patterns,
            "replicas": self.replicas,
            "beta_depth": self.beta_depth,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"Unknown configuration keys {sorted(unknown)}; known: {sorted(known)}")
        d = dict(d)
        if "orders" in d:
            d["orders"] = tuple(Order.parse(o) for o in d["orders"])
        if "features" in d and not isinstance(d["features"], int):
            flags = Feature(0)
            for name in d["features"]:
                try:
                    flags |= Feature[str(name).upper()]
                except KeyError:
                    raise ValueError(f"Unknown feature {name!r}; expected one of "
                                     f"{[f.name.lower() for f in Feature if f is not Feature.ALL]}") from None
            d["features"] = flags
        return cls(**d)

    #: Byte form: N (u16), W_BITS, B_BITS, K, order mask, feature mask, engine (index into
    #: ENGINES) (u8 each), store_patterns (u16), replicas (u8), beta_depth (u16); little-endian.
    _WIRE = struct.Struct("<HBBBBBBHBH")
    WIRE_SIZE = _WIRE.size

    def encode(self) -> bytes:
        order_mask = sum(1 << o for o in self.orders)
        return self._WIRE.pack(self.neurons, self.weight_bits, self.bias_bits, self.lanes,
                               order_mask, int(self.features), ENGINES.index(self.engine),
                               self.store_patterns, self.replicas, self.beta_depth)

    @classmethod
    def decode(cls, data: bytes) -> "NetworkConfig":
        if len(data) != cls.WIRE_SIZE:
            raise ValueError(f"A configuration is {cls.WIRE_SIZE} bytes, not {len(data)}")
        n, w, b, k, order_mask, features, engine, store_patterns, replicas, beta_depth = \
            cls._WIRE.unpack(data)
        if engine >= len(ENGINES):
            raise ValueError(f"Unknown engine number {engine}; known: "
                             f"{', '.join(f'{i} ({e})' for i, e in enumerate(ENGINES))}")
        orders = tuple(o for o in Order if order_mask >> o & 1)
        return cls(neurons=n, weight_bits=w, bias_bits=b, lanes=k, orders=orders,
                   features=Feature(features), engine=ENGINES[engine],
                   store_patterns=store_patterns, replicas=replicas, beta_depth=beta_depth)

    def describe(self) -> str:
        return (f"N={self.neurons} W={self.weight_bits}b B={self.bias_bits}b K={self.lanes} "
                f"acc={self.acc_bits}b orders={'/'.join(o.name.lower() for o in self.orders) or 'none'} "
                f"features={'/'.join(self.to_dict()['features']) or 'none'} engine={self.engine}"
                + (f" store_patterns={self.store_patterns}" if self.store_patterns else "")
                + (f" replicas={self.replicas}" if self.replicas > 1 else "")
                + (f" beta_depth={self.beta_depth}" if self.beta_depth != BETA_SCHEDULE_DEPTH
                   else ""))

