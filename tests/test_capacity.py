"""Recall quality against load alpha = P / N: the Hebbian network's known collapse near 0.14.

Random patterns at N = 256, Hebbian weights (exact integers), probes with 10% of the entries
flipped, recall on the golden model (rejection-free order, so no visit is wasted). At
alpha = 0.05 recall is essentially perfect; at alpha = 0.25, well past the ~0.14 capacity, the
stored patterns are no longer attractors and the mean overlap falls clearly.
"""

from __future__ import annotations

import numpy as np

from hopfield_fpga.host import learning
from hopfield_fpga.sim import golden

N = 256
NOISE = 0.10


def mean_overlap(alpha: float, seed: int, probes: int = 24) -> float:
    rng = np.random.default_rng(seed)
    p = round(alpha * N)
    x = rng.choice([-1, 1], size=(p, N))
    w = learning.hebbian(x)
    overlaps = []
    for k in range(probes):
        mu = k % p
        probe = x[mu].copy()
        probe[rng.choice(N, size=round(NOISE * N), replace=False)] *= -1
        r = golden.run_binary(w, None, probe, order="rejection_free", seed=seed + k,
                              max_sweeps=50)
        overlaps.append(float(x[mu] @ r.state) / N)
    return float(np.mean(overlaps))


def test_low_load_recalls():
    for seed in (11, 12):
        m = mean_overlap(0.05, seed)
        print(f"alpha 0.05 seed {seed}: mean overlap {m:.4f}")
        assert m >= 0.99, f"seed {seed}: mean overlap {m} at alpha = 0.05"


def test_overload_degrades():
    for seed in (21, 22):
        m = mean_overlap(0.25, seed)
        print(f"alpha 0.25 seed {seed}: mean overlap {m:.4f}")
        assert m <= 0.85, f"seed {seed}: mean overlap {m} at alpha = 0.25 is not degraded"


def test_overlap_falls_across_the_transition():
    # Monotone trend over a coarse sweep (one seed, few probes): a sanity check of the curve.
    curve = [mean_overlap(a, 31, probes=12) for a in (0.05, 0.10, 0.20, 0.30)]
    print("alpha 0.05 0.10 0.20 0.30 ->", " ".join(f"{m:.3f}" for m in curve))
    assert curve[0] >= 0.99 and curve[-1] < curve[0] - 0.2
