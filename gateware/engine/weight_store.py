"""The weight store: one whole column of W per read, K-lane words for the host.

Word j of the memory is column j of W: W_ij of neuron i at bits [i W, (i+1) W), chunk c
(neurons cK .. cK+K-1, the host's access word, ``engine_ports``) at bits [c K W, (c+1) K W).
The memory is written with a granularity of one chunk, so a host write touches only its K
lanes and no read-modify-write is needed. Synthesis splits the word into block RAMs side by
side: on the ECP5 85F default (N = 1024, W_BITS = 3, K = 6) a chunk is 18 bits, exactly one
DP16KD port, so each of the C = 171 blocks holds one chunk of every column and its write
enable is the chunk's (docs/engine.md, "Column-parallel engine").

The read port is synchronous (one cycle from ``read_addr`` to ``column``) and enabled by
``read_en``, which keeps its data while low. ``chunk_data`` selects one chunk of the column
last read, for the host's READ_WEIGHTS. Lanes beyond N in the last chunk are written as 0, so
they read as 0.

Members
-------
read_addr: In(range(N)), column j to read; read_en: In(1).
column: Out(C * K * W_BITS), the column read (the cycle after read_en).
chunk: In(range(C)); chunk_data: Out(K * W_BITS), chunk ``chunk`` of ``column``.
write_addr: In(range(N)), write_chunk: In(range(C)), write_data: In(K * W_BITS),
write_en: In(1): W_ij <- the lanes of write_data for the neurons i of chunk write_chunk.
write_column: In(1), column_in: In(C * K * W_BITS): the whole column write_addr <- column_in
(instead of the chunk write): the clear (zeros) and the Hebbian store (the updated column,
:class:`~.hebbian_column.HebbianColumn`); lanes beyond N must be 0.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import NetworkConfig

__all__ = ["WeightStore"]


class WeightStore(wiring.Component):
    def __init__(self, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        self.config = config
        n, c = config.neurons, config.chunks
        word = config.lanes * config.weight_bits
        super().__init__({
            "read_addr": In(range(n)),
            "read_en": In(1),
            "column": Out(c * word),
            "chunk": In(range(c)),
            "chunk_data": Out(word),
            "write_addr": In(range(n)),
            "write_chunk": In(range(c)),
            "write_data": In(word),
            "write_en": In(1),
            "write_column": In(1),
            "column_in": In(c * word),
        })

    def elaborate(self, platform):
        cfg = self.config
        n, k, c, wb = cfg.neurons, cfg.lanes, cfg.chunks, cfg.weight_bits
        word = k * wb
        m = Module()
        m.submodules.memory = mem = Memory(shape=c * word, depth=n, init=[])
        rd = mem.read_port()
        wr = mem.write_port(granularity=word)
        m.d.comb += [rd.addr.eq(self.read_addr), rd.en.eq(self.read_en),
                     self.column.eq(rd.data),
                     self.chunk_data.eq(rd.data.word_select(self.chunk, word))]
        # The last chunk's lanes beyond N are stored as 0.
        valid_last = (n - (c - 1) * k) * wb
        data = Signal(word)
        m.d.comb += data.eq(Mux(self.write_chunk == c - 1,
                                self.write_data[:valid_last], self.write_data))
        m.d.comb += [wr.addr.eq(self.write_addr),
                     wr.data.eq(Mux(self.write_column, self.column_in, data.replicate(c))),
                     wr.en.eq(Mux(self.write_column, (1 << c) - 1,
                                  Mux(self.write_en, 1 << self.write_chunk, 0)))]
        return m
