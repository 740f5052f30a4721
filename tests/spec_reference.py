"""The spec's text as a reference: ``docs/numerics.md`` §3-§8 and §12-§13 written as directly as
possible (every field and every 2E recomputed from scratch at every visit, no skipping), for
the golden model's tests (``tests/test_golden_binary.py``, ``tests/test_recall_features.py``).
"""

from __future__ import annotations

import numpy as np

from hopfield_fpga.numerics import draw_index, glauber_threshold, seed_state, xorshift32
from hopfield_fpga.sim import golden
from hopfield_fpga.sim.golden import FlipEvent


def naive_run(w, b, s, held=None, *, order, seed, cap, schedule=None):
    """The spec's text, O(N^2) per visit: (state, visits, trace, stop_reason, cycle_state), with
    ``held`` the clamp mask (None: nothing clamped)."""
    w = np.asarray(w, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    s = np.array(s, dtype=np.int64)
    n = len(s)
    held = np.zeros(n, dtype=bool) if held is None else np.asarray(held, dtype=bool)
    x = seed_state(seed)
    trace, v, history = [], 0, []

    def apply(j, new, visit):
        e_old = golden.energy2(w, b, s)
        s[j] = new
        trace.append(FlipEvent(visit, j, int(new), golden.energy2(w, b, s) - e_old))

    while True:
        h = w @ s + b
        uns = np.flatnonzero((s * h < 0) & ~held)
        if schedule is None and uns.size == 0:
            return s, v, trace, "converged", None
        if order == "synchronous":
            if len(history) >= 2 and np.array_equal(s, history[-2]):
                return s, v, trace, "cycle2", history[-1]
            if v + n > cap:
                return s, v, trace, "cap", None
            history.append(s.copy())
            new = np.where(h > 0, 1, np.where(h < 0, -1, s))
            for j in range(n):
                if new[j] != s[j] and not held[j]:
                    apply(j, new[j], v + j)
            v += n
            continue
        if v >= cap:
            return s, v, trace, "cap", None
        if order == "sequential":
            j = v % n
        elif order == "random":
            j, x, _ = draw_index(x, n)
        else:
            k, x, _ = draw_index(x, uns.size)
            j = int(uns[k])
        if schedule is None:
            new = 1 if h[j] > 0 else -1 if h[j] < 0 else s[j]
        else:
            x = xorshift32(x)
            beta = schedule[min(v // n, len(schedule) - 1)]
            new = 1 if (x >> 16) < glauber_threshold(beta, int(h[j])) else -1
        if new != s[j] and not held[j]:
            apply(j, new, v)
        v += 1
