r"""Figures of the practice problems: decision boundary, fitted function, forecast.

Each function takes a trained model (anything with the ``predict`` and, for
classification, ``predict_proba`` of ``foundations.mlp.MLP``) and a
``Dataset``, returns a ``matplotlib.figure.Figure`` drawn on the Agg canvas
without ``pyplot``, and saves it as PNG when ``path`` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from foundations.problems.datasets import Dataset
from foundations.problems.training import evaluate, train

__all__ = [
    "plot_decision_boundary",
    "plot_forecast",
    "plot_function_fit",
    "plot_problem",
    "plot_trained",
]


def plot_decision_boundary(
    model: Any, dataset: Dataset, path: str | Path | None = None, resolution: int = 200
) -> Figure:
    """Plot the class probability over the input plane, with the test patterns.

    The color is the output for class 1 (the sigmoid output, or the second
    softmax output), the black line its 0.5 level, the decision boundary.
    Test patterns are dots colored by class; misclassified ones are crosses.

    Raises
    ------
    ValueError
        If the inputs are not two-dimensional.
    """
    _check_two_inputs(dataset)
    grid, xx, yy = _grid(dataset.X_test, resolution)
    proba = np.asarray(model.predict_proba(grid))
    p = (proba[:, 0] if proba.shape[1] == 1 else proba[:, 1]).reshape(xx.shape)

    figure, ax = _figure(1, 1, (5.5, 5.0))
    filled = ax.contourf(xx, yy, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r")
    ax.contour(xx, yy, p, levels=[0.5], colors="black", linewidths=1.2)
    figure.colorbar(filled, ax=ax, label="output for class 1")

    X, d = dataset.X_test, dataset.D_test
    wrong = np.asarray(model.predict(X)) != d
    colors = np.where(d == 1, "tab:red", "tab:blue")
    ax.scatter(X[~wrong, 0], X[~wrong, 1], c=colors[~wrong], s=8, edgecolors="none")
    ax.scatter(X[wrong, 0], X[wrong, 1], c="black", marker="x", s=30)
    accuracy = evaluate(model, dataset)["accuracy"]
    ax.set(
        title=f"{dataset.name}: test accuracy {accuracy:.1%}",
        xlabel="$x_1$",
        ylabel="$x_2$",
        aspect="equal",
    )
    return _finish(figure, path)


def plot_function_fit(
    model: Any, dataset: Dataset, path: str | Path | None = None, resolution: int = 100
) -> Figure:
    """Plot each output of a fitted map of two inputs, and predicted against desired.

    One row per output: the network's output over the input square, and the
    test predictions against the desired responses (on the diagonal when
    exact).

    Raises
    ------
    ValueError
        If the inputs are not two-dimensional.
    """
    _check_two_inputs(dataset)
    grid, xx, yy = _grid(dataset.X_train, resolution, margin=0.0)
    surface = np.asarray(model.predict(grid))
    predicted = np.asarray(model.predict(dataset.X_test))
    n_out = surface.shape[1]

    figure, axes = _figure(n_out, 2, (9.0, 4.0 * n_out))
    axes = np.atleast_2d(axes)
    for j in range(n_out):
        filled = axes[j, 0].contourf(xx, yy, surface[:, j].reshape(xx.shape), 20)
        figure.colorbar(filled, ax=axes[j, 0])
        axes[j, 0].set(
            title=f"network output $y_{j + 1}$", xlabel="$x_1$", ylabel="$x_2$"
        )

        d = dataset.D_test[:, j]
        mse = float(np.mean((predicted[:, j] - d) ** 2))
        axes[j, 1].scatter(d, predicted[:, j], s=4)
        axes[j, 1].plot([d.min(), d.max()], [d.min(), d.max()], color="black", lw=0.8)
        axes[j, 1].set(
            title=f"test: MSE {mse:.2e}",
            xlabel=f"desired $d_{j + 1}$",
            ylabel=f"predicted $y_{j + 1}$",
        )
    return _finish(figure, path)


def plot_forecast(
    model: Any, dataset: Dataset, path: str | Path | None = None
) -> Figure:
    """Plot the one-step forecast of the test series with its error.

    The top panel shows the series, the network's forecast and the naive
    last-value forecast; the bottom panel shows both errors.
    """
    t = (
        dataset.time_test
        if dataset.time_test is not None
        else np.arange(len(dataset.D_test))
    )
    actual = dataset.D_test[:, 0]
    predicted = np.asarray(model.predict(dataset.X_test))[:, 0]
    naive = dataset.X_test[:, -1]
    metrics = evaluate(model, dataset)

    figure, (top, bottom) = _figure(2, 1, (9.0, 6.0), sharex=True)
    top.plot(t, actual, color="black", lw=1.0, label="series")
    top.plot(t, predicted, color="tab:red", lw=1.0, ls="--", label="MLP forecast")
    top.plot(t, naive, color="tab:gray", lw=0.8, alpha=0.7, label="last value")
    top.set(
        title=(
            f"{dataset.name}: NRMSE {metrics['nrmse']:.3f} "
            f"(last value: {metrics['naive_nrmse']:.3f})"
        ),
        ylabel="$x(t)$",
    )
    top.legend(loc="upper right", fontsize="small")
    bottom.plot(t, predicted - actual, color="tab:red", lw=0.8, label="MLP")
    bottom.plot(t, naive - actual, color="tab:gray", lw=0.8, label="last value")
    bottom.set(xlabel="$t$", ylabel="forecast error")
    bottom.legend(loc="upper right", fontsize="small")
    return _finish(figure, path)


def plot_problem(
    model: Any, dataset: Dataset, path: str | Path | None = None
) -> Figure:
    """Draw the figure that fits the task of ``dataset``."""
    if dataset.task == "classification":
        return plot_decision_boundary(model, dataset, path)
    if dataset.task == "regression":
        return plot_function_fit(model, dataset, path)
    return plot_forecast(model, dataset, path)


def plot_trained(
    name: str,
    seed: int = 0,
    epochs: int | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Train the problem ``name`` with its recipe and draw its figure.

    The one call that a documentation build needs per problem, e.g.
    ``plot_trained("spirals")``. Training runs without a progress bar.

    Raises
    ------
    ValueError
        If ``name`` is not a key of ``RECIPES``.
    """
    result = train(name, seed=seed, epochs=epochs, progress=False)
    return plot_problem(result.model, result.dataset, path)


def _figure(rows: int, columns: int, size: tuple[float, float], **kwargs: Any):
    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, columns, squeeze=True, **kwargs)


def _grid(X: np.ndarray, resolution: int, margin: float = 0.1):
    """Return a grid of points (resolution**2, 2) over the extent of ``X``."""
    low, high = X.min(axis=0), X.max(axis=0)
    pad = margin * (high - low)
    x1 = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    x2 = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    xx, yy = np.meshgrid(x1, x2)
    return np.stack([xx.ravel(), yy.ravel()], axis=1), xx, yy


def _check_two_inputs(dataset: Dataset) -> None:
    if dataset.X_test.shape[1] != 2:
        raise ValueError(
            f"the plot needs two inputs, got data set {dataset.name!r} with "
            f"{dataset.X_test.shape[1]}"
        )


def _finish(figure: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    return figure
