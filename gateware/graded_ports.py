"""The interface of the graded engine: access, reply, run, status and trace layouts.

It mirrors the binary engine's (``gateware/engine_ports.py``) so that one command engine can
attach both: the same stream names and handshakes, the same ``access`` fields
(``op``, ``index``, ``chunk``, ``data``) with the same op codes for weights and biases, the same
packing of weight and bias words, and the same :class:`StopReason`. `GradedEngine`
(``gateware/graded_engine.py``) implements :func:`graded_signature`.

``access`` (In, payload :attr:`GradedPorts.access`), one memory operation per transfer
(:class:`GradedAccessOp`), accepted only while idle; a read is answered by one ``reply``:

- WRITE_WEIGHTS / READ_WEIGHTS (index = column j, chunk = c) and WRITE_BIAS / READ_BIAS
  (chunk = c): exactly as the binary engine (lane l = neuron c*K + l at bits [l*w, (l+1)*w);
  lanes beyond N in the last chunk are ignored on write and read as 0).
- WRITE_U / READ_U (index = neuron i): the potential u_i, graded_u_bits two's complement.
- READ_V (index = neuron i): v_i (16 bits two's complement) of the last completed pass.
- WRITE_TABLE / READ_TABLE (index = entry k): a sigmoid table entry packed as
  :data:`~.pwl_sigmoid.SigmoidEntry` (x at bit 0, y at bit 24, m at bit 40).

Out-of-range indices are ignored on write and read as 0.

``run`` (In, :attr:`GradedPorts.run`): the fixed-point run parameters of ``docs/numerics.md``
§11 (gain and dt/C as mantissa/exponent, leak shift, eps, max_steps, trace), taken when idle.

``stop`` (In): while high during a run, the run ends at the end of the current step (reason
STOP; a run in its initial pass ends after that pass).

``status`` (Out, :attr:`GradedPorts.status`): busy, converged, stop_reason (CONVERGED, CAP or
STOP), steps, max_du (max |u' - u| of the last step), cycles (start to end, stalls included).

``trace`` (Out, :attr:`GradedPorts.trace`): if the run asked for it, after each step t one
record (step t, index i, u_i, v_i) per neuron in index order; back-pressure stalls the run.
"""

from __future__ import annotations

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, enum, wiring

from hopfield_fpga import protocol as P
from hopfield_fpga.config import COUNTER_BITS, NetworkConfig
from hopfield_fpga.numerics import (
    GRADED_EPS_BITS, GRADED_EXP_BITS, GRADED_FACTOR_BITS, GRADED_LEAK_SHIFT_BITS, GRADED_SEGMENTS,
    GRADED_V_BITS,
)
from .engine_ports import AccessOp, StopReason, signature_from_ports
from .pwl_sigmoid import SigmoidEntry

__all__ = ["GradedAccessOp", "StopReason", "RunParams", "GradedPorts", "graded_signature",
           "run_params"]


class GradedAccessOp(enum.Enum, shape=4):
    """Operations of the graded engine's ``access`` stream (weights and biases share the
    binary engine's codes)."""
    WRITE_WEIGHTS = AccessOp.WRITE_WEIGHTS.value
    READ_WEIGHTS = AccessOp.READ_WEIGHTS.value
    WRITE_BIAS = AccessOp.WRITE_BIAS.value
    READ_BIAS = AccessOp.READ_BIAS.value
    WRITE_U = 10
    READ_U = 11
    READ_V = 12
    WRITE_TABLE = 13
    READ_TABLE = 14


#: The run parameters of docs/numerics.md §11.1 and §11.5.
RunParams = data.StructLayout({
    "gain_m": unsigned(GRADED_FACTOR_BITS),
    "gain_e": unsigned(GRADED_EXP_BITS),
    "dt_m": unsigned(GRADED_FACTOR_BITS),
    "dt_e": unsigned(GRADED_EXP_BITS),
    "leak_shift": unsigned(GRADED_LEAK_SHIFT_BITS),
    "eps": unsigned(GRADED_EPS_BITS),
    "max_steps": unsigned(COUNTER_BITS),
    "trace": unsigned(1),
})


def run_params(params, *, trace: bool = False) -> dict:
    """A :data:`RunParams` value (dict for ``RunParams.const``) from ``sim.graded.GradedParams``."""
    return {"gain_m": params.gain_m, "gain_e": params.gain_e, "dt_m": params.dt_m,
            "dt_e": params.dt_e, "leak_shift": params.leak_shift, "eps": params.eps,
            "max_steps": params.max_steps, "trace": int(trace)}


def _bits(n: int) -> int:
    return max(1, (n - 1).bit_length())


class GradedPorts:
    """Layouts of the graded engine's streams for one configuration, and packing helpers.

    Members
    -------
    access: ``op`` (:class:`GradedAccessOp`), ``index``, ``chunk``, ``data``.
    reply: ``data`` of a read, packed like the write.
    run: :data:`RunParams`.
    status: ``busy``, ``converged``, ``stop_reason``, ``steps``, ``max_du``, ``cycles``.
    trace: ``step``, ``index``, ``u`` (signed graded_u_bits), ``v`` (signed 16).
    """

    def __init__(self, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        self.config = config
        k = config.lanes
        self.index_bits = max(config.index_bits, _bits(GRADED_SEGMENTS))
        self.chunk_bits = _bits(config.chunks)
        self.data_bits = max(k * config.weight_bits, k * config.bias_bits, config.graded_u_bits,
                             GRADED_V_BITS, SigmoidEntry.size)
        self.access = data.StructLayout({
            "op": GradedAccessOp,
            "index": unsigned(self.index_bits),
            "chunk": unsigned(self.chunk_bits),
            "data": unsigned(self.data_bits),
        })
        self.reply = data.StructLayout({"data": unsigned(self.data_bits)})
        self.run = RunParams
        self.status = data.StructLayout({
            "busy": unsigned(1),
            "converged": unsigned(1),
            "stop_reason": StopReason,
            "steps": unsigned(COUNTER_BITS),
            "max_du": unsigned(config.graded_u_bits + 1),
            "cycles": unsigned(COUNTER_BITS),
        })
        self.trace = data.StructLayout({
            "step": unsigned(COUNTER_BITS),
            "index": unsigned(config.index_bits),
            "u": signed(config.graded_u_bits),
            "v": signed(GRADED_V_BITS),
        })

    # -- packing helpers for drivers (Python integers) ----------------------------------------

    @staticmethod
    def pack_lanes(values, width: int) -> int:
        mask = (1 << width) - 1
        return sum((int(v) & mask) << (lane * width) for lane, v in enumerate(values))

    def weight_words(self, weights) -> list[tuple[int, int, int]]:
        """(index j, chunk c, word) for every weight word of an N x N matrix."""
        cfg = self.config
        n, k = cfg.neurons, cfg.lanes
        return [(j, c, self.pack_lanes([weights[i][j] for i in range(c * k, min(n, c * k + k))],
                                       cfg.weight_bits))
                for j in range(n) for c in range(cfg.chunks)]

    def bias_words(self, bias) -> list[tuple[int, int]]:
        """(chunk c, word) for every bias chunk."""
        cfg = self.config
        n, k = cfg.neurons, cfg.lanes
        return [(c, self.pack_lanes([bias[i] for i in range(c * k, min(n, c * k + k))],
                                    cfg.bias_bits))
                for c in range(cfg.chunks)]

    @staticmethod
    def table_words(table) -> list[int]:
        """The words of a sigmoid table ((x, y, m) entries) in SigmoidEntry bit order."""
        return [P.sigmoid_entry_word(entry) for entry in table]

    def u_word(self, u: int) -> int:
        return int(u) & ((1 << self.config.graded_u_bits) - 1)


def graded_signature(config: NetworkConfig) -> wiring.Signature:
    """The signature `GradedEngine(config)` implements (see the module docstring)."""
    return signature_from_ports(GradedPorts(config))
