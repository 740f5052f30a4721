"""Float reference for graded-response neurons: the continuous ODE of Eq. 5 (Hopfield 1984).

    C du_i/dt = sum_j T_ij V_j - u_i / R + I_i,    V_i = g(lambda u_i)

integrated finely (``scipy.integrate.solve_ivp``, or a float Euler step for comparisons), with
the true sigmoids (``"atan"``: (2/pi) atan(pi x / 2) as in Fig. 3, ``"tanh"``, ``"hard"``:
clamp(x, -1, 1)) or the real piecewise-linear function of a fixed-point table, and the float
energy of Eq. 7. This is what the fixed-point model (``sim/graded.py``) is measured against; it
is not bit-exact to anything.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from hopfield_fpga.numerics import GRADED_SLOPE_FRAC, GRADED_V_ONE

__all__ = ["SIGMOIDS", "sigmoid_function", "table_function", "ode_rhs", "integrate",
           "euler_float", "energy_float", "inverse_integral_float"]


def _atan(x):
    return (2 / math.pi) * np.arctan(math.pi * np.asarray(x, dtype=float) / 2)


def _hard(x):
    return np.clip(np.asarray(x, dtype=float), -1.0, 1.0)


#: The true sigmoids g(x) of the presets, all with g(0) = 0, g'(0) = 1 and asymptotes +-1.
SIGMOIDS: dict[str, Callable] = {"atan": _atan, "tanh": np.tanh, "hard": _hard}


def table_function(table) -> Callable:
    """The real piecewise-linear g of a fixed-point table (no rounding, clamped to [-1, 1])."""
    t = np.array(table, dtype=float)
    x_k = t[:, 0] / GRADED_V_ONE
    y_k = t[:, 1] / GRADED_V_ONE
    m_k = t[:, 2] / (1 << GRADED_SLOPE_FRAC)

    def g(x):
        x = np.asarray(x, dtype=float)
        k = (x[..., None] >= x_k[1:]).sum(axis=-1)
        return np.clip(y_k[k] + m_k[k] * (x - x_k[k]), -1.0, 1.0)
    return g


def sigmoid_function(sigmoid) -> Callable:
    """A preset name gives the true function; a table gives its real PWL function."""
    if isinstance(sigmoid, str):
        try:
            return SIGMOIDS[sigmoid]
        except KeyError:
            raise ValueError(f"Unknown sigmoid {sigmoid!r}; expected one of {sorted(SIGMOIDS)} "
                             "or a table") from None
    if callable(sigmoid):
        return sigmoid
    return table_function(sigmoid)


def ode_rhs(weights, bias, gain: float, leak: float, sigmoid, capacitance: float = 1.0):
    """du/dt of Eq. 5 as a function f(t, u) for solve_ivp (leak = 1/R)."""
    t_mat = np.asarray(weights, dtype=float)
    i_vec = np.zeros(len(t_mat)) if bias is None else np.asarray(bias, dtype=float)
    g = sigmoid_function(sigmoid)

    def f(_t, u):
        return (t_mat @ g(gain * u) - leak * u + i_vec) / capacitance
    return f


def integrate(weights, bias, u0, *, gain: float, leak: float = 1.0, sigmoid="atan",
              t_end: float, t_eval=None, capacitance: float = 1.0, rtol: float = 1e-10,
              atol: float = 1e-12):
    """Integrate Eq. 5 from u0 to t_end with solve_ivp (DOP853, tight tolerances).

    Returns (t, u) with u of shape (len(t), N); t is ``t_eval`` when given, else [0, t_end].
    """
    from scipy.integrate import solve_ivp
    f = ode_rhs(weights, bias, gain, leak, sigmoid, capacitance)
    t_eval = np.array([0.0, t_end]) if t_eval is None else np.asarray(t_eval, dtype=float)
    sol = solve_ivp(f, (0.0, t_end), np.asarray(u0, dtype=float), method="DOP853",
                    t_eval=t_eval, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return sol.t, sol.y.T


def euler_float(weights, bias, u0, *, gain: float, dt: float, steps: int, leak: float = 1.0,
                sigmoid="atan", capacitance: float = 1.0) -> np.ndarray:
    """Synchronous float Euler steps of Eq. 5; returns u after each step (steps x N)."""
    f = ode_rhs(weights, bias, gain, leak, sigmoid, capacitance)
    u = np.asarray(u0, dtype=float).copy()
    out = np.empty((steps, len(u)))
    for s in range(steps):
        u = u + dt * f(0.0, u)
        out[s] = u
    return out


def inverse_integral_float(v, sigmoid) -> np.ndarray:
    """Integral from 0 to V of g^-1 for the true sigmoids, in closed form."""
    v = np.asarray(v, dtype=float)
    if sigmoid == "atan":   # g^-1(V) = (2/pi) tan(pi V / 2)
        return -(4 / math.pi ** 2) * np.log(np.cos(math.pi * v / 2))
    if sigmoid == "tanh":   # g^-1(V) = atanh(V)
        return v * np.arctanh(v) + 0.5 * np.log1p(-v * v)
    if sigmoid == "hard":   # g^-1(V) = V inside (-1, 1)
        return v * v / 2
    raise ValueError(f"No closed-form inverse integral for {sigmoid!r}; expected one of "
                     f"{sorted(SIGMOIDS)}")


def energy_float(weights, bias, v, *, gain: float, leak: float = 1.0, sigmoid="atan") -> float:
    """Eq. 7 in float: -1/2 V.T V - I.V + (1/(R lambda)) sum_i integral_0^V_i g^-1."""
    t_mat = np.asarray(weights, dtype=float)
    v = np.asarray(v, dtype=float)
    i_vec = np.zeros(len(v)) if bias is None else np.asarray(bias, dtype=float)
    return float(-0.5 * v @ t_mat @ v - i_vec @ v
                 + leak / gain * inverse_integral_float(v, sigmoid).sum())
