r"""Training recipes of the practice problems and their test metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from foundations.mlp import MLP
from foundations.problems import datasets
from foundations.problems.datasets import Dataset

__all__ = ["RECIPES", "Recipe", "TrainingResult", "evaluate", "train"]


@dataclass(frozen=True)
class Recipe:
    """Data set, network and training settings of one problem."""

    make_dataset: Callable[[int], Dataset]  # seed -> data set
    layer_sizes: tuple[int, ...]
    activation: str  # hidden activation, a name of foundations.activations
    output: str  # output function: "identity", "sigmoid" or "softmax"
    epochs: int
    eta: float  # learning rate
    momentum: float  # momentum constant alpha
    batch_size: int | None  # None: batch learning; 1: online learning
    a: float = 1.0  # slope parameter of the sigmoid activations
    goal: str = ""  # the metric the recipe is meant to reach, in words


# Settings chosen by trying a few values. Each recipe reaches its goal on
# seeds 0 to 4 (NumPy, float64), in a few seconds on one CPU core.
RECIPES: dict[str, Recipe] = {
    "xor": Recipe(
        make_dataset=lambda seed: datasets.xor(seed=seed),
        layer_sizes=(2, 4, 1),
        activation="tanh_sigmoid",
        a=2.0,  # tanh(v)
        output="sigmoid",
        epochs=300,
        eta=0.5,
        momentum=0.9,
        batch_size=None,
        goal="100 % test accuracy",
    ),
    "spirals": Recipe(
        make_dataset=lambda seed: datasets.two_spirals(seed=seed),
        layer_sizes=(2, 32, 32, 1),
        activation="relu",
        output="sigmoid",
        epochs=60,
        eta=0.05,
        momentum=0.9,
        batch_size=32,
        goal="at least 97 % test accuracy",
    ),
    "function": Recipe(
        make_dataset=lambda seed: datasets.function_approximation(seed=seed),
        layer_sizes=(2, 32, 32, 2),
        activation="gelu",
        output="identity",
        epochs=40,
        eta=0.05,
        momentum=0.9,
        batch_size=16,
        goal="test MSE at most 1e-3",
    ),
    "mackey_glass": Recipe(
        make_dataset=lambda seed: datasets.mackey_glass_forecasting(),
        layer_sizes=(4, 16, 16, 1),
        activation="tanh_sigmoid",
        a=2.0,
        output="identity",
        epochs=100,
        eta=0.1,
        momentum=0.9,
        batch_size=16,
        goal="normalized RMSE below that of the last-value forecast",
    ),
}


@dataclass
class TrainingResult:
    """A trained network with its data, loss history and test metrics."""

    name: str
    model: MLP
    dataset: Dataset
    history: list[float]  # training cost E_av after each epoch
    metrics: dict[str, float] = field(default_factory=dict)


def train(
    name: str, seed: int = 0, epochs: int | None = None, progress: bool = True
) -> TrainingResult:
    """Train the foundations MLP on the problem ``name`` with its recipe.

    Parameters
    ----------
    name : str
        A key of ``RECIPES``: "xor", "spirals", "function" or "mackey_glass".
    seed : int, default 0
        Seed of the data set and of the initial weights.
    epochs : int, optional
        Overrides the recipe's number of epochs.
    progress : bool, default True
        Show a progress bar while training.

    Raises
    ------
    ValueError
        If ``name`` is not a known problem.
    """
    if name not in RECIPES:
        raise ValueError(f"name must be one of {sorted(RECIPES)}, got {name!r}")
    recipe = RECIPES[name]
    data = recipe.make_dataset(seed)
    model = MLP(
        recipe.layer_sizes, recipe.activation, recipe.output, a=recipe.a, seed=seed
    )
    history = model.fit(
        data.X_train,
        data.D_train,
        epochs=recipe.epochs if epochs is None else epochs,
        batch_size=recipe.batch_size,
        eta=recipe.eta,
        momentum=recipe.momentum,
        progress=progress,
    )
    return TrainingResult(name, model, data, history, evaluate(model, data))


def evaluate(model: MLP, data: Dataset) -> dict[str, float]:
    r"""Compute the test metrics of a trained model.

    - classification: ``accuracy`` and ``train_accuracy``, fractions in
      $[0, 1]$;
    - regression: ``mse`` and ``train_mse``, the mean over patterns and
      outputs of $(y - d)^2$;
    - forecasting: ``nrmse``, the root mean squared error divided by the
      standard deviation of the test targets, ``naive_nrmse`` of the
      last-value forecast $\hat x(t + h) = x(t)$ over the horizon $h$ of
      the data set (the last input), and ``rmse``.
    """
    predicted = np.asarray(model.predict(data.X_test))
    if data.task == "classification":
        train_predicted = np.asarray(model.predict(data.X_train))
        return {
            "accuracy": float(np.mean(predicted == data.D_test)),
            "train_accuracy": float(np.mean(train_predicted == data.D_train)),
        }
    if data.task == "regression":
        train_predicted = np.asarray(model.predict(data.X_train))
        return {
            "mse": float(np.mean((predicted - data.D_test) ** 2)),
            "train_mse": float(np.mean((train_predicted - data.D_train) ** 2)),
        }
    rmse = float(np.sqrt(np.mean((predicted - data.D_test) ** 2)))
    naive = data.X_test[:, -1:]
    naive_rmse = float(np.sqrt(np.mean((naive - data.D_test) ** 2)))
    scale = float(np.std(data.D_test))
    return {"nrmse": rmse / scale, "naive_nrmse": naive_rmse / scale, "rmse": rmse}
