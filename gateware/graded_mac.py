"""The graded engine's multiply-accumulate: K lanes sum the fields of one chunk at a time.

:class:`GradedMac` walks the chunks of a step (``docs/numerics.md`` §11.4): for chunk c it
reads the column words j*C + c for j = 0..N-1 and, one cycle later (the memories' latency),
adds w_ij v_j into lane i's accumulator (one W_BITS x 16 signed multiply a lane). Then it
waits until the issuer has sent every neuron of the previous chunk and hands the K sums over
(``hand_over``, a pulse with ``chunk`` = c and the sums in ``fields``), and starts the next
chunk. A chunk costs N + 3 cycles when the issuer is not behind (docs in
:mod:`~.graded_engine`).

Members
-------
go: In(1), pulse: start chunk 0 of a step.
w_addr: Out(range), w_data: In(K * W_BITS): the weight memory's read port.
v_addr: Out(range(N + 1)): j, the address of v_j in the current bank; v: In(signed(16)),
    v_j one cycle after its address.
issuer_idle: In(1): the issuer has sent every neuron of the previous chunk.
hand_over: Out(1), pulse: ``fields`` hold chunk ``chunk``'s sums (without the biases).
chunk: Out(range(C + 1)): the chunk being summed (the bias memory's read address).
fields: Out(signed(graded_acc_bits)).array(K).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hopfield_fpga.config import NetworkConfig
from hopfield_fpga.numerics import GRADED_V_BITS

__all__ = ["GradedMac"]


class GradedMac(wiring.Component):
    def __init__(self, config: NetworkConfig):
        self.config = config
        n, k, c = config.neurons, config.lanes, config.chunks
        super().__init__({
            "go": In(1),
            "w_addr": Out(range(n * c + c)), "w_data": In(k * config.weight_bits),
            "v_addr": Out(range(n + 1)), "v": In(signed(GRADED_V_BITS)),
            "issuer_idle": In(1),
            "hand_over": Out(1), "chunk": Out(range(c + 1)),
            "fields": Out(signed(config.graded_acc_bits)).array(k),
        })

    def elaborate(self, platform):
        cfg = self.config
        n, k_lanes, chunks, wb = cfg.neurons, cfg.lanes, cfg.chunks, cfg.weight_bits
        m = Module()
        c_mac, j, waddr, acc = self.chunk, self.v_addr, self.w_addr, self.fields
        mac_valid = Signal()

        with m.FSM(name="mac"):
            with m.State("IDLE"):
                with m.If(self.go):
                    m.d.sync += c_mac.eq(0)
                    m.next = "START"
            with m.State("START"):
                m.d.sync += [j.eq(0), waddr.eq(c_mac), mac_valid.eq(0)]
                m.d.sync += [a.eq(0) for a in acc]
                m.next = "RUN"
            with m.State("RUN"):
                with m.If(j < n):
                    m.d.sync += [j.eq(j + 1), waddr.eq(waddr + chunks), mac_valid.eq(1)]
                with m.Else():
                    # the last product is accumulated on the cycle that leaves this state
                    m.d.sync += mac_valid.eq(0)
                    m.next = "HAND_OVER"
            with m.State("HAND_OVER"):
                with m.If(self.issuer_idle):
                    m.d.comb += self.hand_over.eq(1)
                    m.d.sync += c_mac.eq(c_mac + 1)
                    with m.If(c_mac == chunks - 1):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "START"

        # the lanes accumulate one cycle after the addresses were issued
        with m.If(mac_valid):
            for lane in range(k_lanes):
                w_l = self.w_data[lane * wb:(lane + 1) * wb].as_signed()
                m.d.sync += acc[lane].eq(acc[lane] + w_l * self.v)
        return m
