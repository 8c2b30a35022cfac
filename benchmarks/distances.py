"""Time ``foundations.distances.pairwise`` against SciPy's ``cdist``.

For each metric, the script times ``cdist`` and ``pairwise`` on NumPy arrays and
on torch CPU tensors in the same process, with interleaved repeats. It prints
the median times, the ratio pairwise / cdist (below 1 means pairwise is faster)
and the largest relative difference from ``cdist``. By default every library
runs on one thread, as ``cdist`` does, so the ratio compares algorithms rather
than core counts. ``--threads 0`` keeps each library's default.

    python benchmarks/distances.py [--rows 2000] [--features 64] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy.spatial.distance import cdist
from threadpoolctl import threadpool_limits

from foundations.distances import pairwise

# (metric, parameters, slow). In a trial, cdist's Minkowski with p = 3 ran about
# 40 times slower than its Euclidean, and its Mahalanobis evaluates an n x n
# quadratic form per pair, so those two run on fewer rows.
CASES = [
    ("euclidean", {}, False),
    ("sqeuclidean", {}, False),
    ("cosine", {}, False),
    ("correlation", {}, False),
    ("cityblock", {}, False),
    ("chebyshev", {}, False),
    ("minkowski", {"p": 3}, True),
    ("mahalanobis", {}, True),
]


def median_times(functions: dict[str, Callable], repeats: int) -> dict[str, float]:
    """Return the median seconds of each function, with the repeats interleaved."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def run_case(metric: str, params: dict, rows: int, features: int, repeats: int):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(rows, features)), rng.normal(size=(rows, features))
    X_torch, Y_torch = torch.from_numpy(X), torch.from_numpy(Y)
    functions = {
        "cdist": lambda: cdist(X, Y, metric, **params),
        "numpy": lambda: pairwise(X, Y, metric, **params),
        "torch": lambda: pairwise(X_torch, Y_torch, metric, **params),
    }
    times = median_times(functions, repeats)
    reference = cdist(X, Y, metric, **params)
    error = np.max(np.abs(pairwise(X, Y, metric, **params) - reference) / reference)
    return times, error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="rows of X and of Y")
    parser.add_argument(
        "--slow-rows", type=int, default=300, help="rows for the slow metrics"
    )
    parser.add_argument("--features", type=int, default=64, help="columns of X and Y")
    parser.add_argument(
        "--repeats", type=int, default=7, help="timed calls per function"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per library, 0 for the default"
    )
    args = parser.parse_args()

    limit = args.threads or None
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"threads: {args.threads or 'library default'}, features: {args.features}")
    print(
        f"{'metric':<14}{'rows':>6}{'cdist ms':>10}{'numpy ms':>10}{'torch ms':>10}"
        f"{'numpy/cdist':>13}{'torch/cdist':>13}{'max rel diff':>14}"
    )
    with threadpool_limits(limits=limit):
        for metric, params, slow in CASES:
            rows = args.slow_rows if slow else args.rows
            times, error = run_case(metric, params, rows, args.features, args.repeats)
            label = metric + "".join(f" {k}={v}" for k, v in params.items())
            print(
                f"{label:<14}{rows:>6}{times['cdist'] * 1e3:>10.1f}"
                f"{times['numpy'] * 1e3:>10.1f}{times['torch'] * 1e3:>10.1f}"
                f"{times['numpy'] / times['cdist']:>13.2f}"
                f"{times['torch'] / times['cdist']:>13.2f}{error:>14.1e}"
            )


if __name__ == "__main__":
    main()
