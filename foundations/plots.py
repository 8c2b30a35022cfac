r"""Figures of the course, drawn from the functions of ``foundations``.

Every figure of the documentation site comes from one function of this module,
called at build time with the arguments shown under the figure. Call the same
function with other arguments to redraw it, for example the activations with
another slope parameter:

>>> from foundations.plots import plot_activations
>>> figure = plot_activations(a=2.0)
>>> figure.savefig("activations.png")  # doctest: +SKIP

Each function returns a ``matplotlib.figure.Figure`` built without ``pyplot``,
so it works under any backend and leaves no global state behind.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from foundations import activations

__all__ = ["plot_activations"]


def plot_activations(
    a: float = 1.0, v_min: float = -6.0, v_max: float = 6.0, points: int = 401
) -> Figure:
    r"""Plot the logistic sigmoid, the tanh-sigmoid and ReLU with derivatives.

    The left panel shows $\varphi(v)$ and the right panel $\varphi'(v)$
    against the induced local field $v$, computed by
    :mod:`foundations.activations` (the closed forms
    $a\varphi(1-\varphi)$ and $\tfrac{a}{2}(1-\varphi^2)$ for the
    sigmoids).

    Parameters
    ----------
    a : float, default 1.0
        Slope parameter of both sigmoids.
    v_min, v_max : float
        Range of the induced local field.
    points : int
        Number of sample points.

    Returns
    -------
    matplotlib.figure.Figure
    """
    v = np.linspace(v_min, v_max, points)
    curves = {
        rf"logistic, $a={a:g}$": (
            activations.sigmoid(v, a),
            activations.sigmoid_derivative(v, a),
        ),
        rf"tanh-sigmoid, $a={a:g}$": (
            activations.tanh_sigmoid(v, a),
            activations.tanh_sigmoid_derivative(v, a),
        ),
        "ReLU": (activations.relu(v), activations.relu_derivative(v)),
    }
    figure, (left, right) = _subplots(1, 2, width=9.0, height=3.6)
    for label, (phi, dphi) in curves.items():
        left.plot(v, phi, label=label)
        right.plot(v, dphi, label=label)
    left.set(title=r"$\varphi(v)$", xlabel="$v$", ylim=(-1.2, 2.2))
    right.set(title=r"$\varphi'(v)$", xlabel="$v$", ylim=(-0.1, 1.2))
    left.legend(loc="upper left")
    return figure


def _subplots(rows: int, columns: int, width: float, height: float):
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.axvline(0.0, color="0.6", linewidth=0.8)
    return figure, axes.flatten() if axes.size > 1 else axes[0, 0]
