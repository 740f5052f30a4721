"""The weight store: one whole column of W per read, K-lane words for the host, one read
port per replica (one or two) on the same memory.

Word j of the memory is column j of W: W_ij of neuron i at bits [i W, (i+1) W), chunk c
(neurons cK .. cK+K-1, the host's access word, ``engine_ports``) at bits [c K W, (c+1) K W).
With ``parts`` = P > 1 (for :class:`~.parted_fields.PartedFieldArray`) column j is the P
words j P + p, p = 0 .. P-1: word j P + p holds the L = :func:`~.parted_fields.part_lanes`
neurons p L .. p L + L - 1 (L a multiple of K, so a host chunk lies in one part: chunk
c_p = c mod (L / K) of part p = c // (L / K)), and ``column`` is the part read.
The memory is written with a granularity of one chunk, so a host write touches only its K
lanes and no read-modify-write is needed. Synthesis splits the word into block RAMs side by
side: on the ECP5 85F default (N = 1024, W_BITS = 3, K = 6) a chunk is 18 bits, exactly one
DP16KD port, so each of the C = 171 blocks holds one chunk of every column and its write
enable is the chunk's (docs/engine.md, "Column-parallel engine").

Each user (an engine, a replica) has a :class:`WeightPort`: its reads are synchronous (one
cycle from ``read_addr`` to ``column``), enabled by ``read_en``, which keeps the data while
low; ``chunk_data`` selects one chunk of the column last read (the chunk ``chunk`` was in the
last cycle with ``chunk_load``: its decode is registered, an AND-OR pick reads it,
:func:`~.field_array.one_hot_pick`), for the host's READ_WEIGHTS and the engine's W_jj.
Lanes beyond N in the last chunk are written as 0, so they read as 0.

With one port (``read_ports=1``, an engine that owns its store) the memory has a read port
and a write port, each with its own address: the block RAMs' two ports, one reading, one
writing, so a Hebbian store can read column t while it writes column t - 1.

With two ports (``read_ports=2``, :class:`~.replicas.ColumnReplicas`) the weights are stored
once and each block RAM port serves one replica: block RAM port A is port 0's reads alone;
block RAM port B is port 1's reads, or port 0's write while port 0 writes (the write's
address replaces port 1's read address: one address signal drives the write and the read,
so synthesis makes them one read-write port). Weights are written through port 0 only, and
only while port 1's user is idle (its reads then return other columns). ``stale`` tells port
1's user that the weights changed (its fields must be refreshed); port 1's own writes are not
performed and only raise its ``stale``. Port 0 keeps both of its addresses, so the engine
behind it reads and writes in the same cycle exactly as with one port.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import Feature, NetworkConfig
from .field_array import held_halves, one_hot_pick
from .parted_fields import part_lanes

__all__ = ["WeightPort", "WeightStore"]


class WeightPort(wiring.Signature):
    """One user's port of the weight store, seen from the user (an engine drives the
    addresses and reads ``column``). C' is the chunks of a part (C with one part), P the
    parts (``parts``); with one part the ``*_part`` members have no bits.

    Members
    -------
    read_addr: Out(range(N)), column j to read; read_part: Out(range(P)), its part;
    read_en: Out(1).
    column: In(C' * K * W_BITS), the column (part) read (the cycle after read_en).
    chunk: Out(range(C')), chunk_load: Out(1); chunk_data: In(K * W_BITS), the chunk of
    ``column`` that ``chunk`` was in the last cycle with ``chunk_load`` (0 after reset).
    write_addr: Out(range(N)), write_part: Out(range(P)), write_chunk: Out(range(C')),
    write_data: Out(K * W_BITS), write_en: Out(1): W_ij <- the lanes of write_data for the
    neurons i of chunk write_chunk of part write_part.
    write_column: Out(1), column_in: Out(C' * K * W_BITS): the whole column (part)
    write_addr <- column_in (instead of the chunk write): the clear (zeros) and the Hebbian
    store (the updated column, :class:`~.hebbian_column.HebbianColumn`); lanes beyond N
    must be 0.
    Without Feature.HEBBIAN (and so without the quantized store) column_in is not read: a
    whole-column write writes zeros (the clear; no N W_BITS-bit choice before the memory).
    stale: In(1), high in a cycle the weights are written through another port.
    """

    def __init__(self, config: NetworkConfig, parts: int = 1):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        self.config, self.parts = config, parts
        n = config.neurons
        c = part_lanes(n, parts, config.lanes) // config.lanes
        word = config.lanes * config.weight_bits
        super().__init__({
            "read_addr": Out(range(n)),
            "read_part": Out(range(parts)),
            "read_en": Out(1),
            "column": In(c * word),
            "chunk": Out(range(c)),
            "chunk_load": Out(1),
            "chunk_data": In(word),
            "write_addr": Out(range(n)),
            "write_part": Out(range(parts)),
            "write_chunk": Out(range(c)),
            "write_data": Out(word),
            "write_en": Out(1),
            "write_column": Out(1),
            "column_in": Out(c * word),
            "stale": In(1),
        })

    def __eq__(self, other):
        return (type(other) is WeightPort and other.config == self.config
                and other.parts == self.parts)

    def __repr__(self):
        return f"WeightPort({self.config!r}, parts={self.parts})"


class WeightStore(wiring.Component):
    """The weights, one column a word (see the module docstring).

    Members
    -------
    ports: In(WeightPort(config)).array(read_ports), port r for user r; writes through
    port 0 only.
    """

    def __init__(self, config: NetworkConfig, read_ports: int = 1, parts: int = 1):
        if read_ports not in (1, 2):
            raise ValueError(f"read_ports must be 1 or 2 (a block RAM has two ports), "
                             f"not {read_ports!r}")
        if not isinstance(parts, int) or parts < 1 or parts & (parts - 1):
            raise ValueError(f"parts must be a power of 2 (a part's address is j P + p), "
                             f"not {parts!r}")
        self.config, self.read_ports, self.parts = config, read_ports, parts
        super().__init__({"ports": In(WeightPort(config, parts)).array(read_ports)})

    def elaborate(self, platform):
        cfg, parts = self.config, self.parts
        n, k, wb = cfg.neurons, cfg.lanes, cfg.weight_bits
        c = part_lanes(n, parts, k) // k                  # chunks of a part
        word = k * wb
        m = Module()
        # A read and a write of one address in one cycle are never used (the engines read
        # the next column while they write, and port 1's user is idle while port 0
        # writes). Saying so (``no_rw_check``) spares yosys the emulation of the read's
        # old-data ordering: with one user, a register of the written column and a bypass
        # multiplexer, about 7 LUT4s and 6 flip-flops a neuron (docs/engine.md, "Where the
        # LUT4s a neuron go"); with two, it lets yosys map port 1's read and the write to
        # one block RAM port instead of duplicating the memory ("Replicas").
        m.submodules.memory = mem = Memory(shape=c * word, depth=n * parts, init=[],
                                           attrs={"no_rw_check": 1})
        writer = self.ports[0]
        wr = mem.write_port(granularity=word)
        # The last chunk's lanes beyond N are stored as 0.
        last_part, last_chunk = divmod(cfg.chunks - 1, c)
        valid_last = (n - (cfg.chunks - 1) * k) * wb
        chunk_in = Signal(word)
        is_last = (writer.write_chunk == last_chunk) & (writer.write_part == last_part)
        m.d.comb += chunk_in.eq(Mux(is_last, writer.write_data[:valid_last],
                                    writer.write_data))
        writing = Signal()
        if cfg.has(Feature.HEBBIAN):
            data = Mux(writer.write_column, writer.column_in, chunk_in.replicate(c))
        else:                               # only the clear writes whole columns: zeros
            data = Mux(writer.write_column, 0, chunk_in).replicate(c)
        m.d.comb += [writing.eq(writer.write_en | writer.write_column), wr.data.eq(data),
                     wr.en.eq(Mux(writer.write_column, (1 << c) - 1,
                                  Mux(writer.write_en, 1 << writer.write_chunk, 0)))]
        addrs = [Cat(port.read_part, port.read_addr) for port in self.ports]   # j P + p
        write_addr = Cat(writer.write_part, writer.write_addr)
        if self.read_ports == 1:
            m.d.comb += wr.addr.eq(write_addr)
        else:
            # Block RAM port B: one address for port 1's read and port 0's write.
            shared = Signal(range(n * parts))
            other = self.ports[1]
            # Port 1's own writes are not performed: they only mark its fields stale (a
            # CLEAR through it then refreshes them from the weights, which it did not clear).
            m.d.comb += [shared.eq(Mux(writing, write_addr, addrs[1])),
                         wr.addr.eq(shared),
                         other.stale.eq(writing | other.write_en | other.write_column)]
            addrs[1] = shared
        m.d.comb += writer.stale.eq(0)                     # no one else writes
        for r, (port, addr) in enumerate(zip(self.ports, addrs)):
            # A synchronous read, written as an asynchronous read and its data register:
            # yosys then merges the register into the port and only then reads
            # ``no_rw_check`` (of a synchronous read port it emulates the ordering anyway).
            rd = mem.read_port(domain="comb")
            data = Signal(c * word, name=f"data{r}")
            m.d.comb += rd.addr.eq(addr)
            with m.If(port.read_en):
                m.d.sync += data.eq(rd.data)
            lo, hi = held_halves(m, port.chunk, port.chunk_load, f"chunk{r}")
            words = [data[i * word:(i + 1) * word] for i in range(c)]
            m.d.comb += [port.column.eq(data), port.chunk_data.eq(one_hot_pick(words, lo, hi))]
        return m
