r"""Figures of the course, drawn from the functions of ``foundations``.

Every figure of the documentation site comes from one function of this module,
called at build time with the arguments shown under the figure. Call the same
function with other arguments to redraw it.

Each function returns a ``matplotlib.figure.Figure`` built without ``pyplot``,
so it works under any backend and leaves no global state behind.

Examples
--------
Redraw the activations with another slope parameter:

>>> from foundations.plots import plot_activations
>>> figure = plot_activations(a=2.0)
>>> figure.savefig("activations.png")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from foundations import activations, distances, losses, outputs, problems, taylor

__all__ = [
    "plot_activations",
    "plot_critical_points",
    "plot_descent_paths",
    "plot_mahalanobis",
    "plot_optimizer_study",
    "plot_output_gradients",
    "plot_practice_problem",
    "plot_training_curves",
    "plot_unit_balls",
]


def plot_activations(
    a: float = 1.0, v_min: float = -6.0, v_max: float = 6.0, points: int = 401
) -> Figure:
    r"""Plot the logistic sigmoid, the tanh-sigmoid and ReLU with derivatives.

    The left panel shows $\varphi(v)$ and the right panel $\varphi'(v)$
    against the induced local field $v$, computed by
    ``foundations.activations`` (the closed forms
    $a\varphi(1-\varphi)$ and $\tfrac{a}{2}(1-\varphi^2)$ for the
    sigmoids).

    Parameters
    ----------
    a : float, default 1.0
        Slope parameter of both sigmoids.
    v_min : float, default -6.0
        Lower end of the induced local field $v$.
    v_max : float, default 6.0
        Upper end of the induced local field $v$.
    points : int, default 401
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
    _draw_axes(left, right)
    return figure


def plot_output_gradients(
    y: float = 1.0, z_min: float = -8.0, z_max: float = 8.0
) -> Figure:
    r"""Plot the gradient at the logit of a sigmoid output under two costs.

    Binary cross-entropy gives $\partial\ell/\partial z = p - y$, while the squared
    error $\tfrac{1}{2}(p - y)^2$ gives $(p - y)\,p(1 - p)$, which vanishes
    where the sigmoid saturates, even when the prediction is wrong.

    Parameters
    ----------
    y : float, default 1.0
        Target, 0 or 1.
    z_min : float, default -8.0
        Lower end of the logit $z$.
    z_max : float, default 8.0
        Upper end of the logit $z$.

    Returns
    -------
    matplotlib.figure.Figure
    """
    z = np.linspace(z_min, z_max, 401)
    target = np.full_like(z, y)
    p = outputs.sigmoid(z)
    matched = losses.binary_cross_entropy_with_logits_gradient(
        z, target, reduction="sum"
    )
    mismatched = losses.sum_squared_error_gradient(p, target) * p * (1.0 - p)
    figure, ax = _subplots(1, 1, width=6.0, height=3.6)
    ax.plot(z, matched, label="sigmoid + cross-entropy: $p - y$")
    ax.plot(z, mismatched, label="sigmoid + squared error: $(p - y)p(1 - p)$")
    ax.set(
        title=rf"$\partial \ell / \partial z$ for target $y = {y:g}$",
        xlabel="logit $z$",
    )
    ax.legend(loc="best")
    _draw_axes(ax)
    return figure


def plot_unit_balls(ps: tuple[float, ...] = (1.0, 1.5, 2.0, 4.0, np.inf)) -> Figure:
    r"""Draw the unit circles $\{x : \lVert x \rVert_p = 1\}$ in the plane.

    The boundary point in direction $u$ is $u / \lVert u \rVert_p$, with the
    norm computed by ``foundations.distances.pairwise`` as the
    Minkowski distance to the origin.

    Parameters
    ----------
    ps : tuple of float
        Orders $p \ge 1$. ``numpy.inf`` draws the Chebyshev square.

    Returns
    -------
    matplotlib.figure.Figure
    """
    angle = np.linspace(0.0, 2.0 * np.pi, 721)
    u = np.stack([np.cos(angle), np.sin(angle)], axis=1)  # (directions, 2)
    origin = np.zeros((1, 2))
    figure, ax = _subplots(1, 1, width=5.6, height=4.6)
    for p in ps:
        norm = distances.pairwise(u, origin, metric="minkowski", p=p)[:, 0]
        boundary = u / norm[:, None]
        label = r"$p = \infty$" if np.isinf(p) else f"$p = {p:g}$"
        ax.plot(boundary[:, 0], boundary[:, 1], label=label)
    ax.set(aspect="equal", xlim=(-1.3, 1.3), ylim=(-1.3, 1.3), title="Unit balls")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
    return figure


def plot_mahalanobis(
    correlation: float = 0.9, radius: float = 2.0, samples: int = 400, seed: int = 0
) -> Figure:
    r"""Compare Euclidean and Mahalanobis circles on correlated samples.

    Draws samples of a standard bivariate normal with the given correlation,
    the circle of Euclidean radius ``radius`` around the mean and the ellipse
    of Mahalanobis radius ``radius`` under the true covariance
    $S = \begin{pmatrix} 1 & \rho \\ \rho & 1 \end{pmatrix}$, computed by
    ``foundations.distances.pairwise``.

    Parameters
    ----------
    correlation : float, default 0.9
        $\rho$, in $(-1, 1)$.
    radius : float, default 2.0
        Distance of both curves from the mean.
    samples : int, default 400
        Number of points.
    seed : int, default 0
        Seed of the NumPy generator.

    Returns
    -------
    matplotlib.figure.Figure
    """
    cov = np.array([[1.0, correlation], [correlation, 1.0]])
    points = np.random.default_rng(seed).multivariate_normal([0.0, 0.0], cov, samples)
    angle = np.linspace(0.0, 2.0 * np.pi, 361)
    u = np.stack([np.cos(angle), np.sin(angle)], axis=1)  # (directions, 2)
    origin = np.zeros((1, 2))
    euclidean = distances.pairwise(u, origin)[:, 0]
    mahalanobis = distances.pairwise(u, origin, metric="mahalanobis", cov=cov)[:, 0]
    figure, ax = _subplots(1, 1, width=5.0, height=5.0)
    ax.scatter(points[:, 0], points[:, 1], s=6, color="0.55")
    for norm, label in ((euclidean, "Euclidean"), (mahalanobis, "Mahalanobis")):
        boundary = radius * u / norm[:, None]
        ax.plot(
            boundary[:, 0], boundary[:, 1], linewidth=2, label=f"{label} = {radius:g}"
        )
    ax.set(aspect="equal", xlim=(-4, 4), ylim=(-4, 4))
    ax.set_title(rf"Correlated features, $\rho = {correlation:g}$")
    ax.legend(loc="upper left")
    return figure


def plot_descent_paths(
    hessian: tuple[tuple[float, ...], ...] = ((3.0, 1.0), (1.0, 3.0)),
    start: tuple[float, ...] = (2.0, 0.0),
    lr: float = 0.1,
    steps: int = 12,
) -> Figure:
    r"""Draw the paths of the Taylor-derived methods on a quadratic.

    Minimizes $E(w) = \tfrac{1}{2} w^\top H w$ with
    ``foundations.taylor.minimize`` by steepest descent with a fixed
    learning rate, steepest descent with the optimal step
    $\eta^\star = g^\top g / (g^\top H g)$, and Newton's method.

    Parameters
    ----------
    hessian : 2x2 nested tuple, default ((3, 1), (1, 3))
        The positive-definite Hessian $H$.
    start : (float, float), default (2, 0)
        Starting point $w(0)$.
    lr : float, default 0.1
        Learning rate of the fixed-step method.
    steps : int, default 12
        Maximum number of steps of each method.

    Returns
    -------
    matplotlib.figure.Figure
    """
    H = np.array(hessian, dtype=float)
    w0 = np.array(start, dtype=float)

    def cost(w: np.ndarray) -> float:
        return 0.5 * float(w @ H @ w)

    figure, ax = _subplots(1, 1, width=5.6, height=5.0)
    limit = 1.2 * float(np.abs(w0).max())

    def quadratic(w: np.ndarray) -> tuple[np.ndarray, None]:
        return 0.5 * np.einsum("i...,ij,j...->...", w, H, w), None

    _draw_contours(ax, quadratic, (-limit, limit, -limit, limit))
    runs = {
        f"steepest, $\\eta = {lr:g}$": {"method": "steepest", "lr": lr},
        "optimal step $\\eta^\\star$": {"method": "optimal-step"},
        "Newton": {"method": "newton"},
    }
    for label, options in runs.items():
        run = taylor.minimize(
            cost, w0, grad=lambda w: H @ w, hess=lambda w: H, max_steps=steps, **options
        )
        ax.plot(
            run.points[:, 0], run.points[:, 1], marker="o", markersize=3, label=label
        )
    ax.set(aspect="equal", xlabel="$w_1$", ylabel="$w_2$", title="Descent paths")
    ax.legend(loc="lower left", fontsize="small")
    return figure


def plot_critical_points(
    hessians: tuple[tuple[tuple[float, ...], ...], ...] = (
        ((2.0, 0.0), (0.0, 1.0)),
        ((-2.0, 0.0), (0.0, -1.0)),
        ((1.0, 2.0), (2.0, 1.0)),
        ((1.0, 0.0), (0.0, 0.0)),
    ),
) -> Figure:
    r"""Draw the quadratic model near critical points with several Hessians.

    Each panel shows the contours of $\tfrac{1}{2}\,\Delta w^\top H
    \Delta w$, the change of $E$ near a point where $g = 0$, titled by
    ``foundations.taylor.classify_critical_point``.

    Parameters
    ----------
    hessians : tuple of 2x2 nested tuples
        Symmetric Hessians, one per panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    figure, axes = _subplots(1, len(hessians), width=3.0 * len(hessians), height=3.2)
    axes = np.atleast_1d(axes)
    grid = np.linspace(-1.0, 1.0, 101)
    x, y = np.meshgrid(grid, grid)
    levels = np.linspace(-1.2, 1.2, 13)  # shared, so colours compare across panels
    for ax, hessian in zip(axes, hessians, strict=True):
        H = np.array(hessian, dtype=float)
        change = 0.5 * (H[0, 0] * x * x + 2.0 * H[0, 1] * x * y + H[1, 1] * y * y)
        filled = ax.contourf(x, y, change, levels=levels, cmap="RdBu_r", extend="both")
        ax.contour(x, y, change, levels=[0.0], colors="black", linewidths=0.8)
        eigenvalues = np.linalg.eigvalsh(H)
        kind = taylor.classify_critical_point(H)
        ax.set_title(f"{kind}\n$\\lambda = {eigenvalues[0]:g}, {eigenvalues[1]:g}$")
        ax.set(aspect="equal", xticks=[], yticks=[])
    figure.colorbar(filled, ax=list(axes), shrink=0.8, label="change of $E$")
    return figure


def plot_practice_problem(name: str, seed: int = 0) -> Figure:
    """Train a practice problem with its recipe and draw the result.

    Trains ``foundations.problems.train(name, seed)`` and draws
    ``foundations.problems.plot_problem``: the decision boundary of a
    classification problem, the fitted surfaces of function approximation, or
    the forecast of the time series, each titled with its test metric.

    Parameters
    ----------
    name : {"xor", "spirals", "function", "mackey_glass"}
        A key of ``foundations.problems.RECIPES``.
    seed : int, default 0
        Seed of the data set and of the initial weights.

    Returns
    -------
    matplotlib.figure.Figure
    """
    result = _trained_problem(name, seed)
    return problems.plot_problem(result.model, result.dataset)


def plot_training_curves(
    names: tuple[str, ...] = ("xor", "spirals", "function", "mackey_glass"),
    seed: int = 0,
) -> Figure:
    r"""Plot the training cost $E_{\text{av}}$ per epoch of practice problems.

    Each problem is trained with its recipe by
    ``foundations.problems.train``. Each problem gets one panel, with the
    cost on a logarithmic axis.

    Parameters
    ----------
    names : tuple of str
        Keys of ``foundations.problems.RECIPES``.
    seed : int, default 0
        Seed of the data sets and of the initial weights.

    Returns
    -------
    matplotlib.figure.Figure
    """
    figure, axes = _subplots(1, len(names), width=3.2 * len(names), height=3.0)
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        history = _trained_problem(name, seed).history
        ax.semilogy(np.arange(1, len(history) + 1), history)
        ax.set(title=name, xlabel="epoch")
    np.atleast_1d(axes)[0].set_ylabel(r"training cost $E_{\mathrm{av}}$")
    return figure


def plot_optimizer_study(
    problem: str = "quadratic", learning_rates: dict[str, float] | None = None
) -> Figure:
    """Draw the paths of the optimizer study on one of its 2-D problems.

    Runs every optimizer of ``foundations.optim.study.OPTIMIZERS`` on the
    study's problem at the given learning rates, plus the Taylor methods where
    the problem has a Hessian, and draws one panel per run with a last panel
    of the cost gaps, as ``python -m foundations.optim.study`` does.

    Parameters
    ----------
    problem : {"quadratic", "rosenbrock"}, default "quadratic"
        A 2-D problem of ``foundations.optim.study.PROBLEMS``.
    learning_rates : dict, optional
        Optimizer label -> learning rate, for example the rates that the study
        chose. Without it the study's full learning-rate sweep runs first,
        which takes tens of seconds.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``problem`` is not a 2-D problem of the study.
    """
    from foundations.optim import study

    if problem not in ("quadratic", "rosenbrock"):
        raise ValueError(
            f"problem must be 'quadratic' or 'rosenbrock', the study's 2-D problems, "
            f"got {problem!r}"
        )
    if learning_rates is None:
        result = study.run_study(problems=[problem], show_progress=False)
    else:
        built = study.PROBLEMS[problem](False)
        runs = []
        for label, (rule, fixed) in study.OPTIMIZERS.items():
            settings = {**fixed, "lr": learning_rates[label]}
            runs.append(study.run_optimizer(built, rule, settings, label, True))
        if built.hessian is not None:
            runs.extend(study.run_taylor_methods(built))
        result = study.StudyResult({problem: built}, runs)
    draw = {
        "quadratic": study.plot_quadratic_trajectories,
        "rosenbrock": study.plot_rosenbrock_trajectories,
    }[problem]
    # The study's plotting functions also save the figure to a file.
    with tempfile.TemporaryDirectory() as folder:
        return draw(result, Path(folder) / f"{problem}.png")


# Both problem figures of a page use the same trained networks, so each
# problem trains once per process and seed.
@functools.cache
def _trained_problem(name: str, seed: int) -> problems.TrainingResult:
    return problems.train(name, seed=seed, progress=False)


def _draw_axes(*axes) -> None:
    for ax in axes:
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.axvline(0.0, color="0.6", linewidth=0.8)


def _draw_contours(ax, cost, window) -> None:
    x, y = np.meshgrid(
        np.linspace(window[0], window[1], 200), np.linspace(window[2], window[3], 200)
    )
    values = cost(np.stack([x, y]))[0]
    levels = np.quantile(values, np.linspace(0.0, 0.9, 14) ** 2)
    ax.contour(x, y, values, levels=np.unique(levels), colors="0.75", linewidths=0.7)


def _subplots(rows: int, columns: int, width: float, height: float):
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
    return figure, axes.flatten() if axes.size > 1 else axes[0, 0]
