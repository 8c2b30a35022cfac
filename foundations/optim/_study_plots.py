"""Figures of the optimizer study, drawn with matplotlib's Agg canvas.

Each function takes the ``StudyResult`` of ``foundations.optim.study.run_study``
and a path, writes one PNG there and returns the figure. No ``pyplot`` state is
touched, so the functions work inside a documentation build.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from foundations.optim._study_problems import quadratic_hessian, rosenbrock_surface

if TYPE_CHECKING:
    from foundations.optim.study import Run, StudyResult

GAP_FLOOR = 1e-16  # E - E* is drawn on a log scale, so it is clipped here
MAX_POINTS = 400  # drawn per curve; log-spaced, as early steps change most
MAX_MARKERS = 60  # iterates marked per trajectory


def plot_rosenbrock_trajectories(result: StudyResult, path: str | Path) -> Figure:
    r"""Draw each optimizer's path over the contours of Rosenbrock's function.

    One panel per optimizer, at the learning rate the sweep chose, and a last
    panel with the cost gaps $E - E^\star$ of all of them against the step.
    """
    return _plot_trajectories(result, "rosenbrock", _rosenbrock_grid, path)


def plot_quadratic_trajectories(result: StudyResult, path: str | Path) -> Figure:
    """Draw each method's path over the contours of the ill-conditioned quadratic.

    The methods are the swept optimizers plus steepest descent with the
    optimal step and Newton's method; the last panel shows the cost gaps.
    """
    return _plot_trajectories(result, "quadratic", _quadratic_grid, path)


def plot_loss_curves(
    result: StudyResult, path: str | Path, problems: Iterable[str] | None = None
) -> Figure:
    r"""Plot $E(w_t) - E^\star$ against the step $t$, one panel per problem.

    A dashed line marks each problem's tolerance. ``problems`` names the
    panels, all the problems of ``result`` by default.
    """
    names = list(result.problems) if problems is None else list(problems)
    columns = min(2, len(names))
    rows = math.ceil(len(names) / columns)
    figure = Figure(figsize=(6.0 * columns, 4.0 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    for index, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, index + 1)
        _draw_gaps(axes, result, name)
        axes.set_title(result.problems[name].title, fontsize=10)
    figure.savefig(path, dpi=100)
    return figure


def _plot_trajectories(
    result: StudyResult,
    name: str,
    grid: Callable[[tuple[float, float, float, float]], tuple],
    path: str | Path,
) -> Figure:
    problem = result.problems[name]
    runs = [run for run in result.runs_of(name) if len(run.points)]
    columns = 4
    rows = math.ceil((len(runs) + 1) / columns)
    figure = Figure(figsize=(4.0 * columns, 3.6 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    x, y, levels = grid(problem.window)

    for index, run in enumerate(runs):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.contour(x, y, levels, levels=15, cmap="Greys", linewidths=0.6)
        _draw_path(axes, run)
        axes.set_title(_run_label(run), fontsize=9)
        axes.set_xlim(problem.window[:2])
        axes.set_ylim(problem.window[2:])

    axes = figure.add_subplot(rows, columns, len(runs) + 1)
    _draw_gaps(axes, result, name)
    figure.suptitle(problem.title)
    figure.savefig(path, dpi=100)
    return figure


def _thinned_steps(count: int) -> np.ndarray:
    """Return at most ``MAX_POINTS`` indices of ``count`` steps, keeping both ends."""
    if count <= MAX_POINTS:
        return np.arange(count)
    return np.unique(np.geomspace(1, count, MAX_POINTS).astype(int) - 1)


def _draw_path(axes, run: Run) -> None:
    points = run.points[_thinned_steps(len(run.points))]
    every = max(1, len(points) // MAX_MARKERS)
    axes.plot(points[:, 0], points[:, 1], color="tab:blue", linewidth=0.8)
    axes.plot(points[::every, 0], points[::every, 1], ".", color="tab:blue", ms=3)
    axes.plot(*points[0], "o", color="tab:green", label="start")
    axes.plot(*points[-1], "x", color="tab:red", label="end")


def _draw_gaps(axes, result: StudyResult, name: str) -> None:
    problem = result.problems[name]
    for run in result.runs_of(name):
        steps = _thinned_steps(len(run.losses))
        gaps = np.maximum(run.losses[steps] - problem.optimum, GAP_FLOOR)
        axes.semilogy(steps, gaps, linewidth=1.0, label=run.optimizer)
    axes.axhline(problem.tolerance, color="black", linestyle="--", linewidth=0.8)
    axes.set_xlabel("step t")
    axes.set_ylabel("E(w_t) - E*")
    axes.legend(fontsize=7)


def _run_label(run: Run) -> str:
    lr = run.hyperparameters.get("lr")
    title = f"{run.optimizer} (lr={lr:g})" if lr is not None else run.optimizer
    steps = run.steps_to_tolerance
    reached = (
        f"tolerance at step {steps}" if steps is not None else "tolerance not reached"
    )
    return f"{title}\n{reached}"


def _rosenbrock_grid(window: tuple[float, float, float, float]) -> tuple:
    x, y = np.meshgrid(
        np.linspace(window[0], window[1], 200), np.linspace(window[2], window[3], 200)
    )
    # log10 spreads the contours over the valley floor as well as the walls.
    return x, y, np.log10(rosenbrock_surface(x, y) + 1e-3)


def _quadratic_grid(window: tuple[float, float, float, float]) -> tuple:
    x, y = np.meshgrid(
        np.linspace(window[0], window[1], 200), np.linspace(window[2], window[3], 200)
    )
    H = quadratic_hessian()
    energy = 0.5 * (H[0, 0] * x**2 + 2 * H[0, 1] * x * y + H[1, 1] * y**2)
    return x, y, np.log10(energy + 1e-3)
