"""Time the foundations MLP against scikit-learn's MLPClassifier on two spirals.

Both networks have the same architecture: 2 inputs, two hidden ReLU layers and
one logistic output with binary cross-entropy. Both use the same solver, plain
minibatch SGD with momentum (no Nesterov), with the same learning rate, batch
size and number of epochs, no weight decay and no early stopping. Only the
initial weights and the shuffling differ, because each library draws its own. The script
fits both in the same process with interleaved repeats and prints the test
accuracy of each, their median fit times and the ratio foundations /
scikit-learn (below 1 means foundations is faster).

By default NumPy's BLAS runs on one thread for both, so the ratio compares
implementations rather than core counts. ``--threads 0`` keeps the default.
The foundations MLP also evaluates the training cost on the whole training
set after each epoch for its history, which scikit-learn does not.

    python benchmarks/mlp.py [--epochs 60] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from foundations.mlp import MLP
from foundations.problems import two_spirals

HIDDEN = (32, 32)
ETA, MOMENTUM, BATCH_SIZE = 0.05, 0.9, 32


def fit_foundations(data, epochs: int, seed: int) -> float:
    """Fit the foundations MLP and return its test accuracy."""
    net = MLP((2, *HIDDEN, 1), "relu", "sigmoid", seed=seed)
    net.fit(
        data.X_train,
        data.D_train,
        epochs=epochs,
        batch_size=BATCH_SIZE,
        eta=ETA,
        momentum=MOMENTUM,
        progress=False,
    )
    return float(np.mean(net.predict(data.X_test) == data.D_test))


def fit_sklearn(data, epochs: int, seed: int) -> float:
    """Fit scikit-learn's MLPClassifier with the same settings; return its accuracy."""
    net = MLPClassifier(
        hidden_layer_sizes=HIDDEN,
        activation="relu",
        solver="sgd",
        learning_rate="constant",
        learning_rate_init=ETA,
        momentum=MOMENTUM,
        nesterovs_momentum=False,
        batch_size=BATCH_SIZE,
        max_iter=epochs,
        alpha=0.0,
        shuffle=True,
        early_stopping=False,
        tol=0.0,
        n_iter_no_change=epochs + 1,  # never stop before max_iter
        random_state=seed,
    )
    with warnings.catch_warnings():
        # Reaching max_iter is the plan here, not a failure to converge.
        warnings.simplefilter("ignore", ConvergenceWarning)
        net.fit(data.X_train, data.D_train)
    return float(net.score(data.X_test, data.D_test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60, help="epochs of each fit")
    parser.add_argument("--repeats", type=int, default=3, help="fits per library")
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads, 0 for the default"
    )
    args = parser.parse_args()

    data = two_spirals(seed=0)
    fits = {"foundations": fit_foundations, "scikit-learn": fit_sklearn}
    times: dict[str, list[float]] = {name: [] for name in fits}
    accuracies: dict[str, list[float]] = {name: [] for name in fits}
    with threadpool_limits(limits=args.threads or None):
        for repeat in range(args.repeats):
            for name, fit in fits.items():
                start = time.perf_counter()
                accuracies[name].append(fit(data, args.epochs, seed=repeat))
                times[name].append(time.perf_counter() - start)

    print(
        f"two spirals: {len(data.X_train)} training / {len(data.X_test)} test "
        f"patterns, MLP (2, {HIDDEN[0]}, {HIDDEN[1]}, 1) ReLU, SGD eta={ETA}, "
        f"momentum={MOMENTUM}, batch {BATCH_SIZE}, {args.epochs} epochs, "
        f"threads: {args.threads or 'library default'}"
    )
    print(f"{'library':<14}{'median s':>10}{'test accuracy (each fit)':>36}")
    for name in fits:
        each = ", ".join(f"{a:.3f}" for a in accuracies[name])
        print(f"{name:<14}{statistics.median(times[name]):>10.2f}{each:>36}")
    ratio = statistics.median(times["foundations"]) / statistics.median(
        times["scikit-learn"]
    )
    print(f"time ratio foundations / scikit-learn: {ratio:.2f}")


if __name__ == "__main__":
    main()
