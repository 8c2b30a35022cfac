r"""Practice problems of the course, solved with ``foundations.mlp.MLP``.

- ``xor``: the XOR truth table, which no single-layer perceptron separates;
- ``spirals``: two interleaved spirals, a hard two-class problem;
- ``function``: approximation of a smooth map $\mathbb{R}^2 \to \mathbb{R}^2$;
- ``mackey_glass``: one-step prediction of the chaotic Mackey-Glass series.

``train(name)`` builds the data set and the network of ``RECIPES[name]``,
trains it and returns the model with its test metrics. The ``plot_*``
functions draw the figures of the documentation, and ``plot_trained(name)``
trains and draws in one call. From the command line,

```
python -m foundations.problems spirals --seed 0 --out out/problems
```

trains, prints the test metrics and saves ``out/problems/spirals.png``.

Examples
--------
>>> result = train("xor", progress=False)
>>> result.metrics["accuracy"]
1.0
"""

from foundations.problems.datasets import (
    Dataset,
    function_approximation,
    mackey_glass,
    mackey_glass_forecasting,
    target_function,
    two_spirals,
    xor,
)
from foundations.problems.plots import (
    plot_decision_boundary,
    plot_forecast,
    plot_function_fit,
    plot_problem,
    plot_trained,
)
from foundations.problems.training import (
    RECIPES,
    Recipe,
    TrainingResult,
    evaluate,
    train,
)

__all__ = [
    "RECIPES",
    "Dataset",
    "Recipe",
    "TrainingResult",
    "evaluate",
    "function_approximation",
    "mackey_glass",
    "mackey_glass_forecasting",
    "plot_decision_boundary",
    "plot_forecast",
    "plot_function_fit",
    "plot_problem",
    "plot_trained",
    "target_function",
    "train",
    "two_spirals",
    "xor",
]
