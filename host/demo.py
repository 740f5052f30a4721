"""The associative-memory demo: store glyphs, corrupt one, watch the network recall it.

:func:`run_demo` does the work and returns a :class:`DemoResult`; :func:`format_demo` turns
that into terminal text (frames of the state every few flips, the energy going down) and
:meth:`DemoResult.to_dict` into JSON. The CLI command ``hopfield demo`` is a thin layer over
these (``host/cli_demo.py``).

Where the recall runs is a *backend*: any object with

- ``name`` (str), ``config`` (:class:`NetworkConfig`),
- ``load(weights, bias)`` storing an N x N weight matrix and N biases (integers in range),
- ``recall(state, *, order, seed, max_sweeps, trace, clamp) -> RunResult``.

:class:`GoldenBackend` runs the golden model; a board backend (the hardware or the simulated
board behind ``sim://``) only has to provide the same three members. Frames are rebuilt from
the run's flip trace, so they look the same whichever backend ran the recall.

With ``clamp`` (:data:`CLAMP_REGIONS`: ``"top"`` or ``"bottom"``) the probe is that half of the
glyph, held fixed (numerics.md §12), with random pixels in the other half: the network
completes the glyph from a partial cue.
"""

from __future__ import annotations

import dataclasses
import math
import shutil

import numpy as np

from hopfield_fpga.config import NetworkConfig, Order
from hopfield_fpga.sim import golden
from hopfield_fpga.sim.golden import RunResult
from . import glyphs, learning, textart

__all__ = ["GoldenBackend", "BoardBackend", "DemoResult", "plot_demo", "Frame", "run_demo", "format_demo", "demo_config",
           "corrupt", "CLAMP_REGIONS", "clamp_region"]

#: The halves of a glyph that ``run_demo(clamp=...)`` can hold.
CLAMP_REGIONS = ("top", "bottom")


def clamp_region(name: str, side: int = glyphs.SIZE) -> np.ndarray:
    """The indices of the pixels of a ``side`` x ``side`` glyph (row-major) in half ``name``."""
    if name not in CLAMP_REGIONS:
        raise ValueError(f"clamp must be one of {', '.join(CLAMP_REGIONS)}, not {name!r}")
    rows = range(side // 2) if name == "top" else range(side // 2, side)
    return np.array([r * side + c for r in rows for c in range(side)], dtype=np.int64)


def demo_config() -> NetworkConfig:
    """The network the demo uses: 256 neurons (16 x 16 pixels), 8-bit weights, every order."""
    return NetworkConfig(neurons=glyphs.SIZE * glyphs.SIZE, weight_bits=8, lanes=8,
                         orders=tuple(Order))


class GoldenBackend:
    """Recall on the integer-exact golden model (``hopfield_fpga.sim.golden``)."""

    name = "golden model"

    def __init__(self, config: NetworkConfig | None = None):
        self.config = demo_config() if config is None else config
        self._weights = None
        self._bias = None

    def load(self, weights, bias) -> None:
        # Validate now (widths of the configuration), as a board would refuse a bad upload.
        golden.local_fields(weights, bias, np.ones(self.config.neurons, dtype=np.int8),
                            config=self.config)
        self._weights = np.array(weights, dtype=np.int64)
        self._bias = np.array(bias, dtype=np.int64)

    def recall(self, state, *, order="random", seed=1, max_sweeps=100,
               trace=True, clamp=None) -> RunResult:
        if self._weights is None:
            raise RuntimeError("load() the weights before recall()")
        return golden.run_binary(self._weights, self._bias, state, order=order, seed=seed,
                                 max_sweeps=max_sweeps, trace=trace, clamp=clamp,
                                 config=self.config)


class BoardBackend:
    """Recall on a board (real, or simulated behind ``sim://``) through ``host.board.Board``."""

    def __init__(self, board):
        self.board = board
        self.config = board.config
        self.name = f"board {board.url}"

    def load(self, weights, bias) -> None:
        self.board.load_weights(weights, bias)

    def recall(self, state, *, order="random", seed=1, max_sweeps=100,
               trace=True, clamp=None) -> RunResult:
        return self.board.recall(state, order=order, seed=seed, max_sweeps=max_sweeps,
                                 trace=trace, clamp=clamp)


@dataclasses.dataclass(frozen=True)
class Frame:
    """The state after ``flips`` flips (at visit ``visit``), with its 2E."""
    flips: int
    visit: int
    energy2: int
    state: np.ndarray
    changed: np.ndarray          # pixels flipped since the previous frame (bool mask)


@dataclasses.dataclass(frozen=True)
class DemoResult:
    """Everything the demo did: what was stored, the probe, the run and its frames."""
    backend: str
    config: NetworkConfig
    stored: tuple[str, ...]
    glyph: str
    noise: float
    seed: int
    order: str
    corrupted: int
    probe: np.ndarray
    probe_energy2: int
    result: RunResult
    frames: tuple[Frame, ...]
    overlap_probe: float
    overlap_final: float
    recalled: str | None
    quantization: learning.QuantizationReport
    clamp: str | None = None
    held: np.ndarray | None = None          # indices of the held pixels (with clamp)

    @property
    def success(self) -> bool:
        return self.recalled == self.glyph

    def to_dict(self) -> dict:
        return {
            "backend": self.backend, "config": self.config.to_dict(),
            "stored": list(self.stored), "glyph": self.glyph, "noise": self.noise,
            "seed": self.seed, "order": self.order, "corrupted_pixels": self.corrupted,
            "probe": [int(v) for v in self.probe], "probe_energy2": self.probe_energy2,
            "overlap_probe": self.overlap_probe, "overlap_final": self.overlap_final,
            "recalled": self.recalled, "success": self.success,
            "frames": [{"flips": f.flips, "visit": f.visit, "energy2": f.energy2}
                       for f in self.frames],
            "quantization": self.quantization.to_dict(),
            "clamp": self.clamp,
            "held": None if self.held is None else [int(i) for i in self.held],
            "result": self.result.to_dict(),
        }


def corrupt(pattern, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Flip exactly round(noise * N) pixels of ``pattern``, chosen by ``rng``."""
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be a fraction between 0 and 1, not {noise!r}")
    p = np.array(pattern, dtype=np.int8)
    k = int(round(noise * p.size))
    p[rng.choice(p.size, size=k, replace=False)] *= -1
    return p, k


def _frames(probe, probe_e2, result: RunResult, every: int) -> tuple[Frame, ...]:
    state = np.array(probe, dtype=np.int8)
    mark = np.zeros(state.size, dtype=bool)
    e2 = probe_e2
    frames = [Frame(0, 0, e2, state.copy(), mark.copy())]
    events = result.trace or ()
    for k, ev in enumerate(events, 1):
        state[ev.index] = ev.value
        mark[ev.index] = True
        e2 += ev.delta_energy2
        if k % every == 0 or k == len(events):
            frames.append(Frame(k, ev.visit, e2, state.copy(), mark.copy()))
            mark[:] = False
    return tuple(frames)


def run_demo(glyph: str = "A", *, noise: float = 0.2, seed: int = 1, order: str = "random",
             store=glyphs.DEMO_SET, frames: int = 6, max_sweeps: int = 100,
             backend=None, clamp: str | None = None) -> DemoResult:
    """Store ``store`` with the Hebbian rule, corrupt ``glyph`` and recall it.

    The corruption flips exactly round(noise * 256) pixels chosen by numpy's generator seeded
    with ``seed``; the run uses the same ``seed`` for the network's own generator. About
    ``frames`` intermediate frames are kept (one every ceil(flips / frames) flips). With
    ``clamp`` ("top" or "bottom") that half of the glyph is held and the other half of the
    probe is random pixels (``noise`` is not used).
    """
    backend = GoldenBackend() if backend is None else backend
    cfg = backend.config
    stored = tuple(str(n).upper() for n in store)
    target = str(glyph).upper()
    if target not in stored:
        raise ValueError(f"glyph {glyph!r} is not among the stored glyphs {list(stored)}")
    if frames < 1:
        raise ValueError(f"frames must be at least 1, not {frames!r}")
    order_name = Order.parse(order).name.lower()
    patterns = glyphs.stack(stored).astype(np.int64)
    if patterns.shape[1] != cfg.neurons:
        raise ValueError(f"glyphs have {patterns.shape[1]} pixels but the network has "
                         f"N = {cfg.neurons}")
    # Hebbian weights are integers with |W_ij| <= P: scale 1 keeps them exact when they fit.
    weights, report = learning.quantize(learning.hebbian(patterns), cfg, scale=1)
    bias = np.zeros(cfg.neurons, dtype=np.int64)
    backend.load(weights, bias)

    rng = np.random.default_rng(seed)
    clean = glyphs.glyph(target)
    held = None
    if clamp is None:
        probe, k = corrupt(clean, noise, rng)
    else:
        held = clamp_region(clamp)
        probe = rng.choice(np.array([-1, 1], dtype=np.int8), size=clean.size)
        probe[held] = clean[held]
        k = int(np.count_nonzero(probe != clean))
    probe_e2 = golden.energy2(weights, bias, probe, config=cfg)
    result = backend.recall(probe, order=order_name, seed=seed, max_sweeps=max_sweeps,
                            trace=True, clamp=held)
    every = max(1, math.ceil(result.flips / frames))
    overlaps = patterns @ result.state.astype(np.int64) / cfg.neurons
    exact = [stored[i] for i in range(len(stored)) if overlaps[i] == 1.0]
    return DemoResult(
        backend=backend.name, config=cfg, stored=stored, glyph=target, noise=float(noise),
        seed=seed, order=order_name, corrupted=k, probe=probe, probe_energy2=probe_e2,
        result=result, frames=_frames(probe, probe_e2, result, every),
        overlap_probe=float(clean.astype(np.int64) @ probe / cfg.neurons),
        overlap_final=float(clean.astype(np.int64) @ result.state / cfg.neurons),
        recalled=exact[0] if exact else None, quantization=report, clamp=clamp, held=held)


_SPARK = " .:-=+*#%@"


def _sparkline(values, width: int = 60) -> str:
    """ASCII sparkline of at most ``width`` characters (evenly resampled), highest value =
    densest character (here: the start, as the energy falls)."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return ""
    if v.size > width:
        v = v[np.round(np.linspace(0, v.size - 1, width)).astype(int)]
    lo, hi = v.min(), v.max()
    if hi == lo:
        return _SPARK[-1] * v.size
    idx = np.round((v - lo) / (hi - lo) * (len(_SPARK) - 1)).astype(int)
    return "".join(_SPARK[i] for i in idx)


def _count(k: int, noun: str) -> str:
    return f"{k} {noun}{'' if k == 1 else 's'}"


def format_demo(d: DemoResult, *, width: int | None = None) -> str:
    """Terminal text of a demo: setup, frames (flipped pixels marked), energy, verdict."""
    width = shutil.get_terminal_size((110, 24)).columns if width is None else width
    r = d.result
    if d.clamp is None:
        probe = (f"Probe: glyph {d.glyph} with {d.corrupted} of {d.config.neurons} pixels "
                 f"flipped (noise {d.noise:.0%}, seed {d.seed}), overlap "
                 f"{d.overlap_probe:+.3f}. Order: {d.order}.")
    else:
        probe = (f"Probe: the {d.clamp} half of glyph {d.glyph} (neurons {d.held[0]}-"
                 f"{d.held[-1]}, {len(d.held)} pixels) held fixed, random pixels elsewhere "
                 f"({d.corrupted} wrong, seed {d.seed}), overlap {d.overlap_probe:+.3f}. "
                 f"Order: {d.order}.")
    out = [
        f"Hopfield associative memory on the {d.backend}: {d.config.describe()}",
        f"Stored {len(d.stored)} glyphs with the Hebbian rule ({' '.join(d.stored)}); weights "
        f"{'exact' if d.quantization.exact else d.quantization.describe()}.",
        probe,
        "",
    ]
    titles = [("probe" if f.flips == 0 else f"after {_count(f.flips, 'flip')}")
              + f"  E={f.energy2 / 2:g}" for f in d.frames]
    titles[-1] += " (final)" if len(d.frames) > 1 else ""
    blocks = [textart.render_lines(f.state, highlight=f.changed) for f in d.frames]
    per_row = max(1, (width + 3) // (len(blocks[0][0]) + 3))
    for start in range(0, len(blocks), per_row):
        out.append(textart.side_by_side(blocks[start:start + per_row],
                                        titles[start:start + per_row]))
        out.append("")
    out.append("@@/:: mark pixels flipped since the previous frame.")
    if r.trace:
        e = [d.probe_energy2 / 2]
        for ev in r.trace:
            e.append(e[-1] + ev.delta_energy2 / 2)
        rises = sum(ev.delta_energy2 > 0 for ev in r.trace)
        out.append(f"Energy per flip: {e[0]:g} -> {e[-1]:g}  [{_sparkline(e)}]"
                   + ("  (never rose)" if rises == 0 else f"  ({rises} rises)"))
    out.append(f"Run: {_count(r.visits, 'visit')}, {_count(r.flips, 'flip')}, "
               f"{_count(r.sweeps, 'sweep')}, "
               f"{'converged to a fixed point' if r.converged else 'stopped: ' + r.stop_reason}"
               + (f", {r.cycles} cycles" if r.cycles is not None else "") + ".")
    verdict = (f"Recalled {d.glyph} exactly (overlap {d.overlap_final:+.3f})." if d.success
               else f"Did not recall {d.glyph}: final overlap {d.overlap_final:+.3f}"
               + (f", landed on {d.recalled}" if d.recalled else " (a spurious state)") + ".")
    out.append(verdict)
    return "\n".join(out)


def plot_demo(d: DemoResult, path) -> None:
    """Draw the frames (as images) and the energy per flip into ``path`` (PNG) with matplotlib."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    side = int(round(math.sqrt(d.config.neurons)))
    frames = d.frames
    fig = plt.figure(figsize=(2.2 * max(len(frames), 3), 5.2))
    grid = fig.add_gridspec(2, len(frames), height_ratios=[1, 1])
    for i, f in enumerate(frames):
        ax = fig.add_subplot(grid[0, i])
        if side * side == f.state.size:
            ax.imshow(f.state.reshape(side, side), cmap="gray_r", vmin=-1, vmax=1)
        else:
            ax.imshow(f.state[None, :], cmap="gray_r", vmin=-1, vmax=1, aspect="auto")
        ax.set_title("probe" if f.flips == 0 else f"{f.flips} flips", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(grid[1, :])
    e = [d.probe_energy2 / 2]
    for ev in d.result.trace or ():
        e.append(e[-1] + ev.delta_energy2 / 2)
    ax.plot(range(len(e)), e, marker=".", lw=1)
    ax.set_xlabel("flip")
    ax.set_ylabel("energy E")
    ax.set_title(f"recall of {d.glyph} on the {d.backend} ({d.order} order)", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
