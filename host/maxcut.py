"""Max-cut as an Ising problem: G-set / rudy files, generated instances, cuts, time to target.

Max-cut of a weighted graph asks for a split of the nodes into two sides (s_i = ±1) that
maximizes the weight of the edges across. With W = sum of all edge weights,

    cut(s) = sum_(ij) w_ij (1 - s_i s_j) / 2 = (W - E(s)) / 2,   E(s) = sum_(ij) w_ij s_i s_j,

so the Ising problem J_ij = w_ij, h = 0 has its ground states at the maximum cuts.

The rudy format (the G-set's): a first line ``N E``, then E lines ``i j w`` with 1-based nodes.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

__all__ = ["Graph", "read_rudy", "write_rudy", "random_pm1_graph", "complete_pm1_graph",
           "maxcut_bqm", "cut_values", "time_to_target", "MaxcutRun", "run_sampler"]


@dataclasses.dataclass(frozen=True, eq=False)
class Graph:
    """N nodes and E weighted edges (0-based ``i < j`` arrays ``u``, ``v``, weights ``w``)."""
    nodes: int
    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    name: str = ""

    @property
    def edges(self) -> int:
        return len(self.w)


def read_rudy(path: str | Path) -> Graph:
    """Read a G-set / rudy file; errors name the line and what was expected."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text edge list (byte {err.start} is not ASCII)") \
            from None
    lines = [(k + 1, ln.split()) for k, ln in enumerate(text.splitlines())]
    lines = [(k, f) for k, f in lines if f]
    if not lines:
        raise ValueError(f"{path}: empty file; expected a first line 'N E'")
    k, first = lines[0]
    try:
        n, e = (int(x) for x in first)
    except ValueError:
        raise ValueError(f"{path}:{k}: expected 'N E' (two integers), not {' '.join(first)!r}") \
            from None
    body = lines[1:]
    if len(body) != e:
        raise ValueError(f"{path}: the first line announces {e} edges, the file has {len(body)}")
    u, v, w = np.zeros(e, dtype=np.int64), np.zeros(e, dtype=np.int64), np.zeros(e)
    for idx, (k, f) in enumerate(body):
        try:
            i, j, weight = int(f[0]), int(f[1]), float(f[2])
            if len(f) != 3 or not np.isfinite(weight):
                raise ValueError
        except (ValueError, IndexError):
            raise ValueError(f"{path}:{k}: expected 'i j w' (a finite weight), not {' '.join(f)!r}") from None
        if not (1 <= i <= n and 1 <= j <= n) or i == j:
            raise ValueError(f"{path}:{k}: nodes must be distinct and in 1..{n}, not {i} {j}")
        u[idx], v[idx], w[idx] = min(i, j) - 1, max(i, j) - 1, weight
    return Graph(n, u, v, w, name=path.stem)


def write_rudy(graph: Graph, path: str | Path) -> None:
    lines = [f"{graph.nodes} {graph.edges}"]
    lines += [f"{i + 1} {j + 1} {w:g}" for i, j, w in zip(graph.u, graph.v, graph.w)]
    Path(path).write_text("\n".join(lines) + "\n")


def random_pm1_graph(nodes: int, density: float, seed: int) -> Graph:
    """Each of the N (N-1)/2 pairs is an edge with probability ``density``, weight ±1 (G-set
    toroidal/random graphs like G1 have N = 800 and 6% density, there with weight 1)."""
    rng = np.random.default_rng(seed)
    u, v = np.triu_indices(nodes, 1)
    keep = rng.random(len(u)) < density
    u, v = u[keep], v[keep]
    w = rng.choice([-1.0, 1.0], len(u))
    return Graph(nodes, u, v, w, name=f"random{nodes}-d{density:g}-s{seed}")


def complete_pm1_graph(nodes: int, seed: int) -> Graph:
    """Every pair an edge, weight ±1 (K2000's shape: N = 2000)."""
    rng = np.random.default_rng(seed)
    u, v = np.triu_indices(nodes, 1)
    return Graph(nodes, u, v, rng.choice([-1.0, 1.0], len(u)), name=f"complete{nodes}-s{seed}")


def maxcut_bqm(graph: Graph):
    """The spin BQM with J_ij = w_ij (repeated edges add up), h = 0, over nodes 0..N-1."""
    import dimod
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(
        np.zeros(graph.nodes), (graph.u, graph.v, graph.w), 0.0, dimod.SPIN)
    return bqm


def cut_values(graph: Graph, samples: np.ndarray) -> np.ndarray:
    """cut(s) = sum over edges of w (1 - s_i s_j) / 2, for each row of ±1 ``samples`` (nodes
    in order 0..N-1)."""
    s = np.asarray(samples, dtype=np.int64)
    return ((1 - s[:, graph.u] * s[:, graph.v]) * graph.w).sum(axis=1) / 2


def time_to_target(cuts, seconds_per_read: float | None, target: float) -> float | None:
    """Expected time until a read reaches ``target``: (time of one read) / (fraction of reads
    that reached it), the reads being independent. inf if none did; None without a time."""
    if seconds_per_read is None:
        return None
    hits = float(np.mean(np.asarray(cuts) >= target - 1e-9))
    return seconds_per_read / hits if hits > 0 else math.inf


@dataclasses.dataclass(frozen=True, eq=False)
class MaxcutRun:
    """One solver on one graph: the cut of every read and the time the reads took."""
    solver: str
    graph: str
    cuts: np.ndarray
    sweeps: int
    wall_s: float
    board_s: float | None = None        # at the board's clock, from its RTL cycles
    wire_s: float | None = None         # the reads' bytes on the link at the board's baud
    trajectory: dict | None = None      # {"sweeps": [...], "cuts": reads x points}

    @property
    def best(self) -> float:
        return float(np.max(self.cuts))

    @property
    def mean(self) -> float:
        return float(np.mean(self.cuts))

    @property
    def reads(self) -> int:
        return len(self.cuts)

    def to_dict(self, target: float | None = None) -> dict:
        d = {"solver": self.solver, "graph": self.graph, "reads": self.reads,
             "sweeps": self.sweeps, "best_cut": self.best, "mean_cut": self.mean,
             "wall_s": self.wall_s, "board_s": self.board_s, "wire_s": self.wire_s}
        if target is not None:
            d["target"] = target
            d["time_to_target_board_s"] = _finite(time_to_target(
                self.cuts, None if self.board_s is None else self.board_s / self.reads, target))
            d["time_to_target_wall_s"] = _finite(time_to_target(
                self.cuts, self.wall_s / self.reads, target))
        return d


def _finite(x):
    return None if x is None else (x if math.isfinite(x) else "not reached")


def run_sampler(sampler, graph: Graph, *, num_reads: int, num_sweeps: int, seed: int,
                beta_range=None, trajectory: bool = False, progress=None,
                solver: str = "board") -> MaxcutRun:
    """Anneal ``graph``'s max-cut problem on a :class:`~hopfield_fpga.host.sampler.HopfieldSampler`."""
    bqm = maxcut_bqm(graph)
    ss = sampler.sample(bqm, num_reads=num_reads, num_sweeps=num_sweeps, seed=seed,
                        beta_range=beta_range, trajectory=trajectory, progress=progress)
    samples = ss.record.sample[:, [ss.variables.index(i) for i in range(graph.nodes)]]
    traj = None
    if trajectory:
        t = ss.info["trajectory"]
        traj = {"sweeps": t["sweeps"],
                "cuts": ((graph.w.sum() - np.asarray(t["energies"])) / 2).tolist()}
    return MaxcutRun(solver, graph.name, cut_values(graph, samples), num_sweeps,
                     ss.info["wall_time_s"], board_s=ss.info["board_time_s"],
                     wire_s=ss.info["wire_time_s"], trajectory=traj)
