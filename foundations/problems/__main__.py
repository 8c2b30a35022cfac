"""Command line: train the MLP on one practice problem and save its figure.

Usage: ``python -m foundations.problems NAME [--seed N] [--out DIR] [--epochs N]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from foundations.problems.plots import plot_problem
from foundations.problems.training import RECIPES, TrainingResult, train


class OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser that reports a usage error in one line on stderr."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the command line."""
    parser = OneLineErrorParser(
        prog="python -m foundations.problems",
        description="Train the foundations MLP on a practice problem, print its "
        "test metrics and save a figure as PNG.",
    )
    parser.add_argument("name", choices=sorted(RECIPES), help="the problem to solve")
    parser.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        help="seed of the data and the initial weights (default: 0)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out/problems"),
        help="folder of the figure NAME.png (default: out/problems)",
    )
    parser.add_argument(
        "--epochs",
        type=_non_negative_int,
        default=None,
        help="epochs of training (default: the recipe's)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Checked before training, so a bad --out does not cost a training run.
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(f"argument --out: cannot create folder {args.out}: {error}")
    result = train(args.name, seed=args.seed, epochs=args.epochs)
    path = args.out / f"{args.name}.png"
    try:
        plot_problem(result.model, result.dataset, path)
    except OSError as error:
        parser.exit(1, f"{parser.prog}: error: cannot write {path}: {error}\n")
    print(report(result))
    print(f"figure: {path}")
    return 0


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"must be a non-negative integer, got {text!r}"
        )
    return value


def report(result: TrainingResult) -> str:
    """Format the data, the network, the final training cost and the test metrics."""
    recipe = RECIPES[result.name]
    data, metrics = result.dataset, result.metrics
    lines = [
        f"{result.name}: {len(data.X_train)} training and {len(data.X_test)} test "
        f"patterns ({data.description})",
        f"network: {result.model!r}, {len(result.history)} epochs, "
        f"eta={recipe.eta:g}, momentum={recipe.momentum:g}, "
        f"batch_size={recipe.batch_size}",
    ]
    if result.history:
        lines.append(f"final training cost E_av: {result.history[-1]:.4g}")
    if "accuracy" in metrics:
        lines.append(
            f"test accuracy: {metrics['accuracy']:.2%} "
            f"(training: {metrics['train_accuracy']:.2%})"
        )
    elif "mse" in metrics:
        lines.append(
            f"test MSE: {metrics['mse']:.3e} (training: {metrics['train_mse']:.3e})"
        )
    else:
        lines.append(
            f"test NRMSE: {metrics['nrmse']:.4f}, naive last-value forecast: "
            f"{metrics['naive_nrmse']:.4f} (RMSE {metrics['rmse']:.4g})"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
