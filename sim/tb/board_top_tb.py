"""cocotb testbench of the whole board top through its UART pins, against the golden model.

Started by ``tests/test_board_top_cocotb.py`` through
:func:`hopfield_fpga.sim.rtl_runner.run_cocotb` with the parameters

- ``config``: the :class:`NetworkConfig` as a dict (the design was built from it);
- ``clk_freq``, ``baud``: the design's clock and baud (a bit lasts clk_freq / baud cycles);
- ``seed``: the seed of the random network, patterns and probes.

A bit-level 8N1 driver on ``rx`` and a monitor on ``tx`` carry real protocol frames
(:mod:`hopfield_fpga.protocol`): identify, weight load and read-back, on-chip store, traced
recalls compared bit for bit with ``golden.run_binary``, and garbage and a corrupted frame that
must not keep the next good frame from being answered; a stochastic RECALL_MANY with a seed per
probe (RunFlags.PROBE_SEEDS). Failures name the seed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from hopfield_fpga import protocol as P
from hopfield_fpga.baud import BAUD_TOLERANCE, line_runs, sample_points
from hopfield_fpga.config import NetworkConfig, Order
from hopfield_fpga.numerics import seed_state
from hopfield_fpga.sim import golden
from hopfield_fpga.sim.rtl_runner import tb_params

#: Byte times without a reply after which a request counts as unanswered.
REPLY_TIMEOUT_BYTES = 400


class UartLink:
    """The host side of the link at bit level: drives ``rx``, decodes ``tx`` into frames."""

    def __init__(self, dut, cycles_per_bit: float, config: NetworkConfig, seed: int):
        self.dut = dut
        #: The host's bit period in clock cycles (fractional: the board's UART rounds its own).
        self.cycles_per_bit = cycles_per_bit
        self.divisor = round(cycles_per_bit)     # cycles of one bit, for waits and timeouts
        self.config = config
        self.seed = seed
        self.k = config.lanes
        self.state_size = P.LinkGeometry(config).state_bytes
        self.weight_word = P.word_bytes(self.k * config.weight_bits)
        self.bias_word = P.word_bytes(self.k * config.bias_bits)
        self.raw = bytearray()          # bytes seen on tx, not yet split into frames
        self.seq = 0
        #: The host's baud error when it sends (its bit period is 1 / (1 + error) nominal).
        self.rate_error = 0.0
        dut.rx.value = 1
        cocotb.start_soon(self._monitor())

    async def _monitor(self):
        """8N1 receiver on ``tx``: samples the middle of each bit (``baud.sample_points``),
        checks the stop bit."""
        clk, tx = self.dut.clk, self.dut.tx
        half = round(self.cycles_per_bit / 2)
        points = sample_points(self.cycles_per_bit)
        while True:
            await RisingEdge(clk)
            if int(tx.value) != 0:
                continue
            await ClockCycles(clk, half)
            assert int(tx.value) == 0, f"seed {self.seed}: tx start bit shorter than half a bit"
            bits, at = [], half
            for point in points:
                await ClockCycles(clk, point - at)
                at = point
                bits.append(int(tx.value))
            byte = sum(b << i for i, b in enumerate(bits[:8]))
            assert bits[8] == 1, f"seed {self.seed}: tx stop bit is 0 (byte {byte:#04x})"
            self.raw.append(byte)

    async def send_bytes(self, data: bytes):
        for level, cycles in line_runs(data, self.cycles_per_bit / (1 + self.rate_error)):
            self.dut.rx.value = level
            await ClockCycles(self.dut.clk, cycles)

    async def next_frame(self, timeout_cycles: int) -> bytes | None:
        """The next raw frame (without its delimiter), or None after ``timeout_cycles``."""
        for _ in range(timeout_cycles // self.divisor + 1):
            i = self.raw.find(P.DELIMITER)
            if i >= 0:
                frame = bytes(self.raw[:i])
                del self.raw[:i + 1]
                return frame
            await ClockCycles(self.dut.clk, self.divisor)
        return None

    async def request(self, cmd: int, payload: bytes = b"", *, expect_error=P.Error.OK,
                      traces: list | None = None, timeout_cycles: int | None = None,
                      again: bool = False) -> bytes:
        """Send one request and return the reply payload; TRACE payloads go to ``traces``.
        ``again``: with the previous request's seq (a repeat, as the driver sends a STORE)."""
        if not again:
            self.seq = self.seq % 255 + 1
        await self.send_bytes(P.encode_frame(bytes([self.seq, cmd]) + payload))
        timeout = timeout_cycles or REPLY_TIMEOUT_BYTES * 10 * self.divisor
        while True:
            raw = await self.next_frame(timeout)
            assert raw is not None, \
                f"seed {self.seed}: no reply to command {cmd:#04x} (seq {self.seq})"
            body = P.decode_frame(raw)     # a bad frame from the board fails the test
            assert body[0] == self.seq, f"seed {self.seed}: reply seq {body[0]} != {self.seq}"
            if body[1] == P.Command.TRACE:
                assert traces is not None, f"seed {self.seed}: unexpected TRACE frame"
                traces.append(body[3:])
                continue
            assert body[1] == cmd, f"seed {self.seed}: reply to {body[1]:#04x}, sent {cmd:#04x}"
            assert body[2] == expect_error, \
                f"seed {self.seed}: command {cmd:#04x} error {body[2]}, expected {expect_error}"
            return body[3:]

    # -- packing of access words (chunk c holds neurons c*K .. c*K+K-1) ------------------------

    def pack(self, values, width: int, nbytes: int) -> bytes:
        padded = np.zeros(self.config.chunks * self.k, dtype=np.int64)
        padded[:len(values)] = values
        return P.pack_words(padded, width, self.k, nbytes)

    def unpack(self, data: bytes, width: int, nbytes: int, *, signed=True) -> list[int]:
        return P.unpack_words(data, width, self.k, nbytes, signed=signed)

    def state_bytes(self, state) -> bytes:
        """A state as packed bits (protocol.pack_bits)."""
        return P.pack_bits((np.asarray(state) > 0).astype(np.int64))

    def state_from(self, data: bytes) -> np.ndarray:
        return np.array(P.unpack_bits(data, self.config.neurons), dtype=np.int8) * 2 - 1

    async def read_weights(self) -> np.ndarray:
        cfg, n = self.config, self.config.neurons
        w = np.zeros((n, n), dtype=np.int64)
        for j in range(n):
            data = await self.request(P.Command.READ_WEIGHTS,
                                      P.WEIGHT_RANGE.pack(j, 0, cfg.chunks))
            assert len(data) == cfg.chunks * self.weight_word
            w[:, j] = self.unpack(data, cfg.weight_bits, self.weight_word)[:n]
        return w

    async def recall(self, probe, *, order: Order, seed: int):
        """RECALL with a trace; returns (status tuple, state, list of FlipEvent)."""
        cfg = self.config
        params = P.RUN_PARAMS.pack(int(order), int(P.RunFlags.TRACE), seed_state(seed),
                                   golden._visit_cap(None, None, cfg.neurons, False), 1)
        traces = []
        data = await self.request(P.Command.RECALL, params + self.state_bytes(probe),
                                  traces=traces, timeout_cycles=REPLY_TIMEOUT_BYTES * 40
                                  * self.divisor * max(1, cfg.neurons // 4))
        assert len(data) == P.STATUS.size + self.state_size
        status = P.STATUS.unpack(data[:P.STATUS.size])
        events = []
        for t in traces:
            visit, index, value, delta = P.TRACE_EVENT.unpack(t)
            events.append(golden.FlipEvent(visit, index, 1 if value else -1, delta))
        return status, self.state_from(data[P.STATUS.size:]), events


    async def recall_many_seeded(self, probes, seeds, *, order: Order, beta_fixed, sweeps: int):
        """A stochastic RECALL_MANY with a seed per probe (RunFlags.PROBE_SEEDS) after
        WRITE_BETA; returns one (status tuple, state) per probe."""
        cfg = self.config
        await self.request(P.Command.WRITE_BETA, P.BETA_RANGE.pack(0, len(beta_fixed))
                           + b"".join(int(v).to_bytes(2, "little") for v in beta_fixed))
        flags = P.RunFlags.STOCHASTIC | P.RunFlags.PROBE_SEEDS
        header = P.RECALL_MANY_PARAMS.pack(int(order), int(flags), 0, sweeps * cfg.neurons,
                                           len(beta_fixed), len(probes))
        data = await self.request(
            P.Command.RECALL_MANY, header + P.pack_probes(
                [self.state_bytes(p) for p in probes], [seed_state(s) for s in seeds]),
            timeout_cycles=REPLY_TIMEOUT_BYTES * 40 * self.divisor * len(probes)
            * max(1, cfg.neurons // 4))
        size = P.STATUS.size + self.state_size
        assert len(data) == size * len(probes), f"RECALL_MANY: {len(data)} bytes"
        return [(P.STATUS.unpack(data[i * size:i * size + P.STATUS.size]),
                 self.state_from(data[i * size + P.STATUS.size:(i + 1) * size]))
                for i in range(len(probes))]


async def _start(dut):
    params = tb_params()
    config = NetworkConfig.from_dict(params["config"])
    cycles_per_bit = params["clk_freq"] / params["baud"]
    divisor = round(cycles_per_bit)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 3 * divisor)
    return params, config, UartLink(dut, cycles_per_bit, config, params["seed"])


def _check_run(seed, what, status, state, events, want):
    flags, _, visits, flips, cycles, _, e2 = status
    got = {"converged": bool(flags & P.StatusFlags.CONVERGED), "visits": visits, "flips": flips,
           "energy2": e2}
    for field, value in got.items():
        assert value == getattr(want, field), \
            f"seed {seed} {what}: {field} board {value} golden {getattr(want, field)}"
    assert np.array_equal(state, want.state), \
        f"seed {seed} {what}: state board {state.tolist()} golden {want.state.tolist()}"
    for i, (a, b) in enumerate(zip(events, want.trace)):
        assert a == b, f"seed {seed} {what}: flip {i} board {a} golden {b}"
    assert len(events) == len(want.trace), \
        f"seed {seed} {what}: {len(events)} flip events, golden {len(want.trace)}"
    assert cycles > 0


@cocotb.test()
async def identify_load_recall(dut):
    """Identify, load weights and bias, read them back, traced recalls in every order."""
    params, cfg, link = await _start(dut)
    seed = params["seed"]
    rng = np.random.default_rng(seed)
    data = await link.request(P.Command.IDENTIFY)
    version, wire_cfg, clk, baud, max_payload = P.IDENTIFY_REPLY.unpack(data)
    assert version == P.PROTOCOL_VERSION
    assert NetworkConfig.decode(wire_cfg) == cfg, f"identify: {NetworkConfig.decode(wire_cfg)}"
    assert (clk, baud, max_payload) == (params["clk_freq"], params["baud"], P.MAX_PAYLOAD)

    n = cfg.neurons
    w = rng.integers(cfg.weight_min, cfg.weight_max + 1, (n, n))
    w = np.clip((w + w.T) // 2, cfg.weight_min, cfg.weight_max)
    np.fill_diagonal(w, 0)
    b = rng.integers(cfg.bias_min // 8, cfg.bias_max // 8 + 1, n)
    words = b"".join(link.pack(w[:, j], cfg.weight_bits, link.weight_word) for j in range(n))
    await link.request(P.Command.WRITE_WEIGHTS, P.WEIGHT_RANGE.pack(0, 0, n * cfg.chunks) + words)
    await link.request(P.Command.WRITE_BIAS, P.CHUNK_RANGE.pack(0, cfg.chunks)
                       + link.pack(b, cfg.bias_bits, link.bias_word))
    got = await link.read_weights()
    assert np.array_equal(got, w), f"seed {seed}: weights read back differ"
    data = await link.request(P.Command.READ_BIAS, P.CHUNK_RANGE.pack(0, cfg.chunks))
    assert link.unpack(data, cfg.bias_bits, link.bias_word)[:n] == b.tolist(), \
        f"seed {seed}: bias read back differs"

    for case, order in enumerate((Order.SEQUENTIAL, Order.RANDOM, Order.REJECTION_FREE)):
        probe = rng.choice([-1, 1], n)
        run_seed = int(rng.integers(1, 2**32))
        status, state, events = await link.recall(probe, order=order, seed=run_seed)
        want = golden.run_binary(w, b, probe, order=order, seed=run_seed, trace=True, config=cfg)
        _check_run(seed, f"recall {case} ({order.name.lower()})", status, state, events, want)
        dut._log.info(f"recall {case} ({order.name.lower()}): {want.visits} visits, "
                      f"{len(events)} flips, 2E {want.energy2}: equal to golden")

    # a stochastic RECALL_MANY with a seed per probe: each result is its probe's golden run
    probes = rng.choice([-1, 1], (3, n))
    seeds = [int(s) for s in rng.integers(0, 2**32, 3)]
    beta_fixed = [64, 256, 1024]
    for order in (Order.RANDOM, Order.SEQUENTIAL):
        got = await link.recall_many_seeded(probes, seeds, order=order, beta_fixed=beta_fixed,
                                            sweeps=3)
        for i, ((status, state), p, s) in enumerate(zip(got, probes, seeds)):
            want = golden.run_binary(w, b, p, order=order, seed=s, beta_fixed=beta_fixed,
                                     max_sweeps=3, trace=True, config=cfg)
            _check_run(seed, f"recall_many probe {i} seed {s} ({order.name.lower()})", status,
                       state, [], dataclasses.replace(want, trace=()))
    dut._log.info("recall_many with a seed per probe: equal to golden")


@cocotb.test()
async def store_recall_and_garbage(dut):
    """Clear, on-chip store of patterns, recall of a corrupted pattern; garbage and a corrupted
    frame on the line are followed by a good frame that is answered."""
    params, cfg, link = await _start(dut)
    seed = params["seed"]
    rng = np.random.default_rng(seed + 1)
    n = cfg.neurons
    await link.request(P.Command.CLEAR)
    patterns = rng.choice([-1, 1], (3, n))

    def store(pats, flags):
        return P.STORE_PARAMS.pack(len(pats), flags) + b"".join(map(link.state_bytes, pats))

    # a chain of two STOREs (protocol.Repeat): the first one repeated (same seq: answered OK,
    # applied once), one out of order (SEQUENCE, not applied), then the second one
    first = store(patterns[:2], P.StoreFlags.FIRST)
    await link.request(P.Command.STORE, first)
    await link.request(P.Command.STORE, first, again=True)
    link.seq += 1
    await link.request(P.Command.STORE, store(patterns[2:], 0), expect_error=P.Error.SEQUENCE)
    link.seq -= 2
    await link.request(P.Command.STORE, store(patterns[2:], 0))
    w = golden.store_hebbian(np.zeros((n, n), dtype=np.int64), patterns, config=cfg)
    got = await link.read_weights()
    assert np.array_equal(got, w), f"seed {seed}: stored weights differ from golden (each " \
        f"pattern applied once)"

    # Garbage without a delimiter, then a frame with one flipped bit: the board either drops it
    # or answers with a CRC error; either way the next good frame is answered.
    await link.send_bytes(bytes(rng.integers(1, 256, 7).tolist()))
    bad = bytearray(P.encode_frame(bytes([0x55, P.Command.READ_STATUS])))
    bad[1] ^= 0x10 if bad[1] != 0x10 else 0x20
    await link.send_bytes(bytes(bad))
    await ClockCycles(dut.clk, 40 * 10 * link.divisor)
    while (raw := await link.next_frame(0)) is not None:
        body = P.decode_frame(raw)
        assert body[2] != P.Error.OK, f"seed {seed}: a corrupted frame was served: {body.hex()}"
    data = await link.request(P.Command.IDENTIFY)
    assert NetworkConfig.decode(P.IDENTIFY_REPLY.unpack(data)[1]) == cfg

    probe = patterns[0].copy()
    probe[rng.choice(n, 2, replace=False)] *= -1
    run_seed = int(rng.integers(1, 2**32))
    status, state, events = await link.recall(probe, order=Order.RANDOM, seed=run_seed)
    want = golden.run_binary(w, None, probe, order=Order.RANDOM, seed=run_seed, trace=True,
                             config=cfg)
    _check_run(seed, "recall after store", status, state, events, want)
    dut._log.info(f"recall after store: {want.visits} visits, {len(events)} flips, "
                  f"2E {want.energy2}: equal to golden")


@cocotb.test()
async def receiver_margin(dut):
    """The board's receiver takes frames sent back to back by a host whose baud is off by
    +-BAUD_TOLERANCE (2%): random bias words written at each rate read back equal (at the
    nominal rate; the monitor samples the board's bits at their middle)."""
    params, cfg, link = await _start(dut)
    seed = params["seed"]
    rng = np.random.default_rng(seed + 2)
    for error in (-BAUD_TOLERANCE, +BAUD_TOLERANCE):
        bias = rng.integers(cfg.bias_min, cfg.bias_max + 1, cfg.neurons)
        link.rate_error = error
        await link.request(P.Command.WRITE_BIAS, P.CHUNK_RANGE.pack(0, cfg.chunks)
                           + link.pack(bias, cfg.bias_bits, link.bias_word))
        link.rate_error = 0.0
        data = await link.request(P.Command.READ_BIAS, P.CHUNK_RANGE.pack(0, cfg.chunks))
        got = link.unpack(data, cfg.bias_bits, link.bias_word)[:cfg.neurons]
        assert got == bias.tolist(), \
            f"seed {seed}: host baud {error:+.0%}: bias read back {got}, sent {bias.tolist()}"
