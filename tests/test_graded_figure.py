"""The Fig. 3 energy map and drawing (host/graded_figure.py), fed here by the golden model."""

import numpy as np
import pytest

from hopfield_fpga.config import Feature, NetworkConfig
from hopfield_fpga.host import graded_figure as gf
from hopfield_fpga.sim import graded
from hopfield_fpga.sim.rtl_runner import missing_tool

CFG2 = NetworkConfig(neurons=2, weight_bits=2, bias_bits=2, lanes=1, features=Feature.ALL)


def _golden_trajectories(params, starts):
    out = []
    for start in starts:
        u0 = graded.u_from_v(list(start), params, CFG2)
        r = graded.run_graded_fixed(gf.FIG3_WEIGHTS, gf.FIG3_BIAS, u0, params, CFG2, trace=True)
        assert r.converged, start
        out.append(gf.trajectory_from_trace(graded.sigmoid_unit(u0, params, CFG2), r.trace))
    return out


def test_energy_map_minima_are_the_stable_states():
    params = gf.fig3_params()
    v, energy = gf.energy_map(gf.FIG3_WEIGHTS, gf.FIG3_BIAS, params, resolution=81)
    assert np.allclose(energy, energy.T, equal_nan=True)          # T symmetric, same g
    b, a = np.unravel_index(np.nanargmin(energy), energy.shape)
    end = _golden_trajectories(params, [(0.4, 0.2)])[0][-1]
    # the grid minimum lies within one grid step of the golden model's stable state
    assert abs(abs(v[a]) - end[0]) <= v[1] - v[0] and v[a] * v[b] > 0
    assert energy[40, 40] == pytest.approx(0.0)                     # E(0, 0) = 0


def test_draw_figure3(tmp_path):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        missing_tool("matplotlib not installed (the plot extra)")
    params = gf.fig3_params()
    trajectories = _golden_trajectories(params, gf.fig3_starts(points=4))
    path = gf.draw_energy_map(tmp_path / "fig3.png", trajectories, params)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ends = np.array([t[-1] for t in trajectories])
    assert np.all(np.sign(ends[:, 0]) == np.sign(ends[:, 1]))
