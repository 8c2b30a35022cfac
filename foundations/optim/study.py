r"""Compare SGD, momentum, AdaGrad, RMSProp and Adam on the same problems.

Run it with::

    python -m foundations.optim.study [--out DIR] [--quick]

Every optimizer runs the update rules of :mod:`foundations.optim` with torch's
default hyperparameters except the learning rate, which a sweep chooses per
optimizer and problem. The sweep runs each rate of ``LEARNING_RATES``, or of
the part of it that a problem names, and the rate that reaches the problem's
tolerance in the fewest steps wins. When none reaches it, the one with the
lowest final cost wins. On the quadratic, steepest descent with the optimal
step $\eta^\star = g^T g / (g^T H g)$ and Newton's method from
:mod:`foundations.taylor` run as well, with no rate to tune.

The problems are an ill-conditioned quadratic, Rosenbrock's function, logistic
regression on rare features, noisy linear regression, and the two-spirals MLP
of :mod:`foundations.problems`, whose gradients come from the course's
backpropagation in :mod:`foundations.mlp`.

The command writes to ``DIR`` (default ``out/optim-study``):

- ``results.csv`` and ``results.md``: per problem and optimizer, the chosen
  hyperparameters, the steps to reach the tolerance, the final cost, the test
  accuracy where a problem has held-out data, and the wall time of the run;
- ``sweep.csv``: the same for every learning rate tried;
- ``quadratic.png``, ``rosenbrock.png``, ``loss-curves.png`` (all problems)
  and ``two-spirals.png`` (the loss curves of the MLP alone).

The figures come from :func:`plot_quadratic_trajectories`,
:func:`plot_rosenbrock_trajectories` and :func:`plot_loss_curves`, which take
the :class:`StudyResult` of :func:`run_study`, so the documentation build can
redraw them. ``--quick`` shortens every run and sweeps three rates, to check
that the pipeline works; its numbers support no conclusion.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from foundations.optim import adagrad, adam, rmsprop, sgd
from foundations.optim._study_plots import (
    plot_loss_curves,
    plot_quadratic_trajectories,
    plot_rosenbrock_trajectories,
)
from foundations.optim._study_problems import PROBLEMS, Problem, register_problem

__all__ = [
    "LEARNING_RATES",
    "OPTIMIZERS",
    "PROBLEMS",
    "Problem",
    "Run",
    "StudyResult",
    "main",
    "plot_loss_curves",
    "plot_quadratic_trajectories",
    "plot_rosenbrock_trajectories",
    "register_problem",
    "run_optimizer",
    "run_study",
    "swept_learning_rates",
    "write_tables",
]

logger = logging.getLogger(__name__)

Rule = Callable[..., tuple[np.ndarray, object]]

OPTIMIZERS: dict[str, tuple[Rule, dict[str, object]]] = {
    "SGD": (sgd, {}),
    "SGD + momentum": (sgd, {"momentum": 0.9}),
    "AdaGrad": (adagrad, {}),
    "RMSProp": (rmsprop, {}),
    "Adam": (adam, {}),
}
"""Label -> (update rule, hyperparameters other than ``lr``: torch's defaults)."""

LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)
"""The learning rates swept for every optimizer and problem."""

QUICK_LEARNING_RATES = (1e-3, 1e-2, 1e-1)

DIVERGENCE_FACTOR = 1e6  # a run diverged once E exceeds this multiple of E(x0)


@dataclass
class Run:
    """One run of one optimizer with one setting on one problem."""

    problem: str
    optimizer: str
    hyperparameters: dict[str, object]
    losses: np.ndarray  # E(w_t) for t = 0 .. last step reached
    points: np.ndarray  # (len(losses), n) iterates, or (0, n) if not kept
    wall_time: float  # seconds for the steps, gradients and costs
    diverged: bool
    averaged_steps: int = 1  # final_loss is the mean of E over this many steps
    steps_to_tolerance: int | None = None
    test_accuracy: float | None = None  # of the last iterate, where the problem has one

    @property
    def final_loss(self) -> float:
        """Mean cost over the last ``averaged_steps`` steps; ``inf`` if diverged."""
        if self.diverged:
            return math.inf
        return float(np.mean(self.losses[-self.averaged_steps :]))


@dataclass
class StudyResult:
    """Everything a study computed: problems, chosen runs and the full sweep."""

    problems: dict[str, Problem]
    best: list[Run]  # one per problem and optimizer, in table order
    sweep: list[Run] = field(default_factory=list)  # every run, chosen or not
    quick: bool = False

    def runs_of(self, problem: str) -> list[Run]:
        """Return the chosen runs on ``problem``, in table order."""
        return [run for run in self.best if run.problem == problem]


def run_optimizer(
    problem: Problem,
    rule: Rule,
    hyperparameters: dict[str, object],
    label: str,
    keep_points: bool = False,
    seed: int = 0,
) -> Run:
    """Run ``rule`` on ``problem`` for ``problem.steps`` steps.

    Mini-batches come from a generator seeded with ``seed``, so every
    optimizer and learning rate gets the same sequence. The run stops early,
    marked diverged, if the cost or the gradient stops being finite or the
    cost exceeds ``DIVERGENCE_FACTOR`` times its start.
    """
    rng = np.random.default_rng(seed)
    w, state = problem.x0.copy(), None
    losses, points = [problem.loss(w)], [w]
    limit = DIVERGENCE_FACTOR * max(1.0, abs(losses[0]))
    diverged = False

    start = time.perf_counter()
    # Overflow is the expected sign of a too large rate; it is detected below.
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(problem.steps):
            g = problem.gradient(w, rng)
            if not np.all(np.isfinite(g)):
                diverged = True
                break
            w, state = rule(w, g, state, **hyperparameters)
            loss = problem.loss(w)
            if not (math.isfinite(loss) and loss <= limit):
                diverged = True
                break
            losses.append(loss)
            if keep_points:
                points.append(w)
    wall_time = time.perf_counter() - start

    iterates = np.array(points) if keep_points else np.empty((0, w.shape[0]))
    run = Run(
        problem.name,
        label,
        hyperparameters,
        np.array(losses),
        iterates,
        wall_time,
        diverged,
        problem.averaged_steps,
    )
    if not diverged:
        run.steps_to_tolerance = _steps_to_tolerance(run.losses, problem)
        if problem.test_accuracy is not None:
            run.test_accuracy = problem.test_accuracy(w)
    return run


def _steps_to_tolerance(losses: np.ndarray, problem: Problem) -> int | None:
    """Return the step from which E - E* stays within tolerance to the end."""
    window = problem.averaged_steps
    if window > 1:
        # trailing means; the first window - 1 steps average what exists so far
        sums = np.cumsum(losses)
        counts = np.minimum(np.arange(1, len(losses) + 1), window)
        sums[window:] = sums[window:] - sums[:-window]
        losses = sums / counts
    outside = np.flatnonzero(losses - problem.optimum > problem.tolerance)
    if outside.size == 0:
        return 0
    first_inside_for_good = int(outside[-1]) + 1
    return first_inside_for_good if first_inside_for_good < len(losses) else None


def _rank(run: Run) -> tuple[float, float]:
    # Sort key: the minimum steps to the tolerance, then the minimum final cost.
    steps = math.inf if run.steps_to_tolerance is None else run.steps_to_tolerance
    return (steps, run.final_loss)


def swept_learning_rates(problem: Problem, quick: bool) -> tuple[float, ...]:
    """Return the rates swept on ``problem``: its own part of the grid, or all of it.

    ``quick`` sweeps ``QUICK_LEARNING_RATES`` on every problem.
    """
    if quick:
        return QUICK_LEARNING_RATES
    return problem.learning_rates or LEARNING_RATES


def sweep_learning_rates(
    problem: Problem,
    label: str,
    learning_rates: Iterable[float],
    progress: tqdm | None = None,
) -> tuple[Run, list[Run]]:
    """Run optimizer ``label`` at each rate; return the best run and all runs."""
    rule, fixed = OPTIMIZERS[label]
    runs = []
    for lr in learning_rates:
        runs.append(run_optimizer(problem, rule, {**fixed, "lr": lr}, label))
        if progress is not None:
            progress.update()
    best = min(runs, key=_rank)
    # Rerun the winner keeping its iterates, for the trajectory figures.
    if problem.x0.shape[0] == 2:
        best = run_optimizer(problem, rule, best.hyperparameters, label, True)
    return best, runs


def run_taylor_methods(problem: Problem) -> list[Run]:
    """Run steepest descent with the optimal step and Newton's method.

    Both come from :func:`foundations.taylor.minimize` and need
    ``problem.hessian``.
    """
    from foundations import taylor

    runs = []
    for label, method in (
        ("Steepest descent, optimal step", "optimal-step"),
        ("Newton", "newton"),
    ):
        start = time.perf_counter()
        trajectory = taylor.minimize(
            problem.loss,
            problem.x0,
            method=method,
            max_steps=problem.steps,
            tol=1e-12,  # stop at a gradient norm below any tolerance of the table
            grad=lambda w: problem.gradient(w, None),
            hess=problem.hessian,
        )
        wall_time = time.perf_counter() - start
        losses = np.array(trajectory.values)
        run = Run(
            problem.name,
            label,
            {"method": method},
            losses,
            np.asarray(trajectory.points),
            wall_time,
            False,
        )
        run.steps_to_tolerance = _steps_to_tolerance(losses, problem)
        runs.append(run)
    return runs


def run_study(
    quick: bool = False,
    problems: Iterable[str] | None = None,
    show_progress: bool | None = None,
) -> StudyResult:
    """Run every optimizer of ``OPTIMIZERS`` on every problem, with the sweep.

    Parameters
    ----------
    quick : bool, default False
        Use the short runs of each problem and ``QUICK_LEARNING_RATES``.
    problems : iterable of str, optional
        Names from ``PROBLEMS``; all of them by default.
    show_progress : bool or None, default None
        Show a tqdm bar; ``None`` shows it only on a terminal.

    Returns
    -------
    StudyResult

    Notes
    -----
    BLAS runs on one thread during the study when threadpoolctl is installed,
    because on a busy machine BLAS threads that wait for a free core inflate
    the wall times.
    """
    names = list(PROBLEMS) if problems is None else list(problems)
    unknown = [name for name in names if name not in PROBLEMS]
    if unknown:
        raise ValueError(
            f"problems not registered: {unknown}; choose from {list(PROBLEMS)}"
        )
    built = {name: PROBLEMS[name](quick) for name in names}
    for name, problem in built.items():
        if problem.name != name:
            raise ValueError(
                f"the factory registered as {name!r} built a problem named "
                f"{problem.name!r}; the two names must be equal"
            )

    result = StudyResult(built, [], [], quick)
    total = len(OPTIMIZERS) * sum(
        len(swept_learning_rates(problem, quick)) for problem in built.values()
    )
    disable = None if show_progress is None else not show_progress
    progress = tqdm(total=total, desc="optimizer study", disable=disable)
    with progress, _one_blas_thread():
        for problem in built.values():
            learning_rates = swept_learning_rates(problem, quick)
            for label in OPTIMIZERS:
                best, runs = sweep_learning_rates(
                    problem, label, learning_rates, progress
                )
                result.best.append(best)
                result.sweep.extend(runs)
            if problem.hessian is not None:
                result.best.extend(run_taylor_methods(problem))
    return result


COLUMNS = (
    "problem",
    "optimizer",
    "hyperparameters",
    "tolerance",
    "steps_to_tolerance",
    "final_loss",
    "final_gap",
    "test_accuracy",
    "wall_time_s",
    "diverged",
)


def _row(run: Run, problem: Problem) -> dict[str, object]:
    finite = not run.diverged
    return {
        "problem": run.problem,
        "optimizer": run.optimizer,
        "hyperparameters": _format_hyperparameters(run.hyperparameters),
        "tolerance": problem.tolerance,
        "steps_to_tolerance": _blank_if_none(run.steps_to_tolerance),
        "final_loss": f"{run.final_loss:.6g}" if finite else "",
        "final_gap": f"{run.final_loss - problem.optimum:.3g}" if finite else "",
        "test_accuracy": _blank_if_none(run.test_accuracy),
        "wall_time_s": f"{run.wall_time:.3f}",
        "diverged": run.diverged,
    }


def _format_hyperparameters(hyperparameters: dict[str, object]) -> str:
    return " ".join(f"{key}={value}" for key, value in hyperparameters.items())


def _blank_if_none(value: object) -> object:
    return "" if value is None else value


def write_csv(runs: list[Run], problems: dict[str, Problem], path: Path) -> None:
    """Write one row per run; blank cells mark a tolerance never reached."""
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        for run in runs:
            writer.writerow(_row(run, problems[run.problem]))


def write_markdown(result: StudyResult, path: Path) -> None:
    """Write the results table, one section per problem, with its settings."""
    rates = QUICK_LEARNING_RATES if result.quick else LEARNING_RATES
    lines = [
        "# Optimizer study",
        "",
        "Produced by `python -m foundations.optim.study"
        + (
            " --quick`: shortened runs, for checking the pipeline only."
            if result.quick
            else "`."
        ),
        "",
        "Every optimizer uses torch.optim's defaults except the learning rate,",
        f"chosen from {', '.join(map(str, rates))} as the one that reaches the",
        "tolerance in the fewest steps (lowest final cost if none does). A run",
        "reaches the tolerance at the first step from which E - E* stays",
        "within it until the last step; a run that diverges never does.",
        "With mini-batch gradients, E is averaged over the last 20 steps both",
        "for the tolerance test and for the final E. Wall time covers all the",
        "steps of the run, with a cost evaluation on all the data at each.",
        "A problem may sweep only a part of these rates, which its section",
        "lists. A rate marked (grid end) is the smallest or largest of the",
        "rates swept on its problem, so a wider sweep might find a better one.",
    ]
    for name, problem in result.problems.items():
        swept = swept_learning_rates(problem, result.quick)
        lines += _markdown_section(result.runs_of(name), problem, swept, rates)
    path.write_text("\n".join(lines) + "\n")


def _markdown_section(
    runs: list[Run],
    problem: Problem,
    learning_rates: tuple[float, ...],
    study_learning_rates: tuple[float, ...],
) -> list[str]:
    """Return the lines of one problem's table, with a test accuracy column if any.

    ``learning_rates`` are those swept on ``problem``, listed when they are not
    the ``study_learning_rates`` of the header.
    """
    accuracy = problem.test_accuracy is not None
    ends = (min(learning_rates), max(learning_rates))
    lines = [
        "",
        f"## {problem.title}",
        "",
        f"Tolerance: E - E* <= {problem.tolerance:g}, with E* = "
        f"{problem.optimum:.6g}; {problem.steps} steps"
        + (", mini-batch gradients." if problem.stochastic else "."),
    ]
    if learning_rates != study_learning_rates:
        lines += ["", f"Learning rates swept: {', '.join(map(str, learning_rates))}."]
    if problem.note:
        lines += ["", problem.note]
    lines += [
        "",
        "| optimizer | hyperparameters | steps to tolerance | final E "
        + ("| test accuracy " if accuracy else "")
        + "| wall time (s) |",
        "|---|---|---:|---:|" + ("---:|" if accuracy else "") + "---:|",
    ]
    for run in runs:
        row = _row(run, problem)
        steps = row["steps_to_tolerance"]
        steps = "not reached" if steps == "" else steps
        final = row["final_loss"] or "diverged"
        edge = " (grid end)" if run.hyperparameters.get("lr") in ends else ""
        cells = [run.optimizer, f"{row['hyperparameters']}{edge}", steps, final]
        if accuracy:
            cells.append(_format_accuracy(run.test_accuracy))
        cells.append(row["wall_time_s"])
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return lines


def _format_accuracy(accuracy: float | None) -> str:
    return "" if accuracy is None else f"{100 * accuracy:.1f} %"


def write_tables(result: StudyResult, out: Path) -> None:
    """Write ``results.csv``, ``results.md`` and ``sweep.csv`` into ``out``."""
    write_csv(result.best, result.problems, out / "results.csv")
    write_csv(result.sweep, result.problems, out / "sweep.csv")
    write_markdown(result, out / "results.md")


def main(argv: list[str] | None = None) -> int:
    """Run the study from the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m foundations.optim.study",
        description="Compare SGD, momentum, AdaGrad, RMSProp and Adam on the "
        "same problems and write a table and figures.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out/optim-study"),
        help="directory for the tables and figures (default: out/optim-study)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short runs and three learning rates, to check the pipeline",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    start = time.perf_counter()
    result = run_study(quick=args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    write_tables(result, args.out)
    if "quadratic" in result.problems:
        plot_quadratic_trajectories(result, args.out / "quadratic.png")
    if "rosenbrock" in result.problems:
        plot_rosenbrock_trajectories(result, args.out / "rosenbrock.png")
    plot_loss_curves(result, args.out / "loss-curves.png")
    if "two-spirals" in result.problems:
        plot_loss_curves(result, args.out / "two-spirals.png", ["two-spirals"])
    logger.info(
        "wrote the study to %s in %.1f s", args.out, time.perf_counter() - start
    )
    return 0


def _one_blas_thread() -> contextlib.AbstractContextManager:
    """Return a context that limits BLAS to one thread, if threadpoolctl is installed.

    The study's matrices are small (at most 2000 by 50). On a 2-core machine
    shared with other jobs, one two-spirals run took about 6 times as long with
    OpenBLAS's default threads as with one, and one sparse-logistic run about
    1.5 times as long.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        # NOTE: threadpoolctl is only a dev dependency, so without it BLAS keeps
        # its default number of threads.
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


if __name__ == "__main__":
    raise SystemExit(main())
