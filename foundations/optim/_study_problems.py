r"""Test problems of the optimizer study, with a registry to add more.

Each problem is a cost $E(w)$ on a vector $w$, with a gradient that may be a
mini-batch estimate, a starting point, the minimal cost $E^\star$ and a
tolerance. A run reaches the tolerance at the first step from which
$E(w_t) - E^\star \le$ tolerance is true until the end of the run. With
mini-batch gradients $E(w_t)$ fluctuates, so there the mean of $E$ over the
last ``averaged_steps`` steps is tested instead.

To add a problem, register a factory that builds it, for example::

    @register_problem("two-spirals")
    def two_spirals_mlp(quick: bool) -> Problem: ...

The factory takes ``quick`` (a shorter run for smoke tests) and returns a
``Problem`` whose ``x0`` is a 1-D float64 array. A network's weights are
flattened into one vector for this, as ``FlatMLP`` does for the two-spirals
MLP.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from foundations.mlp import MLP, costs
from foundations.mlp.layer import bias_gradient, weight_gradient
from foundations.problems.training import RECIPES

Vector = np.ndarray
GradientFunction = Callable[[Vector, np.random.Generator], Vector]


@dataclass(frozen=True)
class Problem:
    """One test problem of the study: a cost, its gradient and a target."""

    name: str  # registry key, also the file-name stem of its outputs
    title: str  # one line for tables and figure titles
    loss: Callable[[Vector], float]  # E(w) on all the data
    gradient: GradientFunction  # g(w); draws mini-batches from the generator
    x0: Vector  # starting point, shape (n,)
    optimum: float  # E* = min E, exact or from Newton's method
    tolerance: float  # reached when E(w) - E* <= tolerance
    steps: int  # steps per run
    stochastic: bool = False  # True when the gradient is a mini-batch estimate
    averaged_steps: int = 1  # E is averaged over this many steps before testing
    hessian: Callable[[Vector], np.ndarray] | None = None  # H(w), where cheap
    window: tuple[float, float, float, float] | None = None  # 2-D plot limits
    test_accuracy: Callable[[Vector], float] | None = None  # on held-out data
    learning_rates: tuple[float, ...] | None = None  # None: the study's whole grid
    note: str = ""  # text printed under the problem's table heading


PROBLEMS: dict[str, Callable[[bool], Problem]] = {}
"""Problem factories by name, in the order of the study's tables."""


def register_problem(
    name: str,
) -> Callable[[Callable[[bool], Problem]], Callable[[bool], Problem]]:
    """Return a decorator that adds a problem factory to ``PROBLEMS``."""

    def register(factory: Callable[[bool], Problem]) -> Callable[[bool], Problem]:
        if name in PROBLEMS:
            raise ValueError(f"a problem named {name!r} is already registered")
        PROBLEMS[name] = factory
        return factory

    return register


QUADRATIC_EIGENVALUES = (1.0, 100.0)  # condition number 100
QUADRATIC_ANGLE = math.pi / 6  # rotation of the eigenvectors from the axes


def quadratic_hessian() -> np.ndarray:
    r"""Return $H = R \operatorname{diag}(1, 100) R^T$, $R$ a rotation by 30°.

    The rotation keeps the eigenvectors off the coordinate axes, so the
    per-coordinate scaling of AdaGrad, RMSProp and Adam cannot undo the
    conditioning for free.
    """
    c, s = math.cos(QUADRATIC_ANGLE), math.sin(QUADRATIC_ANGLE)
    rotation = np.array([[c, -s], [s, c]])
    return rotation @ np.diag(QUADRATIC_EIGENVALUES) @ rotation.T


@register_problem("quadratic")
def quadratic(quick: bool) -> Problem:
    r"""$E(w) = \tfrac12 w^T H w$ with condition number 100, from $(-4, 3)$."""
    H = quadratic_hessian()
    return Problem(
        name="quadratic",
        title="Ill-conditioned quadratic (condition number 100)",
        loss=lambda w: 0.5 * float(w @ H @ w),
        gradient=lambda w, rng: H @ w,
        x0=np.array([-4.0, 3.0]),
        optimum=0.0,
        tolerance=1e-6,
        steps=200 if quick else 2000,
        hessian=lambda w: H,
        window=(-5.0, 5.0, -4.0, 4.0),
    )


def rosenbrock_surface(x: Vector, y: Vector) -> Vector:
    r"""Return $(1 - x)^2 + 100 (y - x^2)^2$ element by element."""
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


def rosenbrock_loss(w: Vector) -> float:
    r"""Return $E(w) = (1 - w_1)^2 + 100 (w_2 - w_1^2)^2$."""
    return float(rosenbrock_surface(w[0], w[1]))


def rosenbrock_gradient(w: Vector) -> Vector:
    """Return the gradient of ``rosenbrock_loss``."""
    valley = w[1] - w[0] ** 2
    return np.array([-2.0 * (1.0 - w[0]) - 400.0 * w[0] * valley, 200.0 * valley])


@register_problem("rosenbrock")
def rosenbrock(quick: bool) -> Problem:
    """Rosenbrock's valley from the classic start (-1.2, 1); minimum at (1, 1)."""
    return Problem(
        name="rosenbrock",
        title="Rosenbrock function from (-1.2, 1)",
        loss=rosenbrock_loss,
        gradient=lambda w, rng: rosenbrock_gradient(w),
        x0=np.array([-1.2, 1.0]),
        optimum=0.0,
        tolerance=1e-4,
        steps=600 if quick else 5000,
        window=(-2.0, 2.0, -1.0, 3.0),
    )


def _log_loss(z: Vector, y: Vector) -> Vector:
    # log(1 + e^z) - y z; logaddexp computes log(e^0 + e^z) without overflow
    return np.logaddexp(0.0, z) - y * z


def _sigmoid(z: Vector) -> Vector:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _newton_minimum(
    loss: Callable[[Vector], float],
    gradient: Callable[[Vector], Vector],
    hessian: Callable[[Vector], np.ndarray],
    n: int,
) -> float:
    """Return min E of a smooth strictly convex cost by Newton's method."""
    w = np.zeros(n)
    for _ in range(50):
        step = np.linalg.solve(hessian(w), gradient(w))
        w = w - step
        if np.linalg.norm(step) <= 1e-12 * (1.0 + np.linalg.norm(w)):
            break
    return loss(w)


@register_problem("sparse-logistic")
def sparse_logistic(quick: bool) -> Problem:
    r"""Logistic regression where the informative features are rare.

    Ten common features (present in half of the samples) carry no signal;
    forty rare ones (present in 2% of the samples) have weights $\pm 4$.
    Mini-batches of 32 rarely contain a rare feature, so its coordinate gets a
    gradient seldom and small: the case AdaGrad was designed for. A ridge term
    $10^{-3} \lVert w \rVert^2 / 2$ makes the minimum finite; Newton's method
    on all the data gives $E^\star$.
    """
    rng = np.random.default_rng(1)
    samples, common, rare, batch = (500 if quick else 2000), 10, 40, 32
    X = np.hstack(
        [
            rng.random((samples, common)) < 0.5,
            rng.random((samples, rare)) < 0.02,
        ]
    ).astype(float)
    w_true = np.concatenate([np.zeros(common), rng.choice([-4.0, 4.0], rare)])
    y = (rng.random(samples) < _sigmoid(X @ w_true)).astype(float)
    ridge = 1e-3

    def loss(w: Vector) -> float:
        return float(np.mean(_log_loss(X @ w, y)) + 0.5 * ridge * (w @ w))

    def batch_gradient(w: Vector, rows: Vector | slice) -> Vector:
        Xb, yb = X[rows], y[rows]
        return Xb.T @ (_sigmoid(Xb @ w) - yb) / len(yb) + ridge * w

    def hessian(w: Vector) -> np.ndarray:
        p = _sigmoid(X @ w)
        return (X.T * (p * (1 - p))) @ X / samples + ridge * np.eye(X.shape[1])

    def full_gradient(w: Vector) -> Vector:
        return batch_gradient(w, slice(None))

    return Problem(
        name="sparse-logistic",
        title="Logistic regression on rare informative features (batch 32)",
        loss=loss,
        gradient=lambda w, rng: batch_gradient(w, rng.integers(0, samples, batch)),
        x0=np.zeros(X.shape[1]),
        optimum=_newton_minimum(loss, full_gradient, hessian, X.shape[1]),
        tolerance=2e-2,
        steps=300 if quick else 3000,
        stochastic=True,
        averaged_steps=20,
    )


@register_problem("noisy-regression")
def noisy_regression(quick: bool) -> Problem:
    r"""Linear regression with mini-batch gradients of batch size 16.

    $E(w) = \frac{1}{2N}\lVert Xw - y\rVert^2$ on $N$ samples with 20 features
    of scales 0.5 to 2, and noise of standard deviation 0.5, so the gradient
    noise never vanishes and a constant learning rate ends in a noise floor.
    $E^\star$ is the least-squares fit.
    """
    rng = np.random.default_rng(2)
    samples, features, batch = (500 if quick else 2000), 20, 16
    X = rng.standard_normal((samples, features)) * np.linspace(0.5, 2.0, features)
    y = X @ rng.standard_normal(features) + 0.5 * rng.standard_normal(samples)
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]

    def loss(w: Vector) -> float:
        r = X @ w - y
        return float(0.5 * (r @ r) / samples)

    def gradient(w: Vector, rng: np.random.Generator) -> Vector:
        rows = rng.integers(0, samples, batch)
        return X[rows].T @ (X[rows] @ w - y[rows]) / batch

    return Problem(
        name="noisy-regression",
        title="Linear regression with noisy mini-batch gradients (batch 16)",
        loss=loss,
        gradient=gradient,
        x0=np.zeros(features),
        optimum=loss(w_star),
        tolerance=5e-3,
        steps=300 if quick else 2000,
        stochastic=True,
        averaged_steps=20,
    )


class FlatMLP:
    r"""An ``MLP`` whose weights and biases are read from one vector $w$.

    $w$ lists each layer's weight matrix, row by row, then its bias, input
    layer first. ``loss``, ``gradient`` and ``accuracy`` load $w$ into the
    layers as views, with no copy, and run the network on a batch.

    Parameters
    ----------
    model : MLP
        A network on the NumPy backend. ``flatten()`` returns its current
        weights, for example as the starting point $w_0$.
    """

    def __init__(self, model: MLP) -> None:
        self.model = model
        self.shapes = [(layer.weight.shape, layer.bias.shape) for layer in model.layers]

    def flatten(self) -> Vector:
        """Return the current weights and biases as one vector of shape (n,)."""
        parts = [
            part.ravel()
            for layer in self.model.layers
            for part in (layer.weight, layer.bias)
        ]
        return np.concatenate(parts)

    def load(self, w: Vector) -> None:
        """Make each layer's weight and bias a view into ``w``."""
        start = 0
        for layer, (weight_shape, bias_shape) in zip(
            self.model.layers, self.shapes, strict=True
        ):
            end = start + math.prod(weight_shape)
            layer.weight = w[start:end].reshape(weight_shape)
            start, end = end, end + bias_shape[0]
            layer.bias = w[start:end]
            start = end

    def loss(self, w: Vector, X: Vector, D: Vector) -> float:
        r"""Return the model's cost $E_\text{av}$ of the patterns ``X`` (N, n_in).

        ``D`` of shape (N, n_out) contains the desired responses.
        """
        self.load(w)
        self.model.forward(X)
        out = self.model.layers[-1]
        model = self.model
        return float(costs.cost(model.output, model.loss_name, out.v, out.y, D))

    def gradient(self, w: Vector, X: Vector, D: Vector) -> Vector:
        r"""Return $\partial E_\text{av} / \partial w$ by backpropagation.

        The layers keep the course's local gradients
        $\delta = -\partial E / \partial v$, so the gradient of a weight
        matrix is $-\frac{1}{N} \sum_n \delta(n)\, y(n)^\top$ and that of a
        bias $-\frac{1}{N} \sum_n \delta(n)$, as in ``MLP.gradients``,
        without its input checks.
        """
        self.load(w)
        self.model.forward(X)
        self.model.backward(D)
        parts = []
        for layer in self.model.layers:
            parts.append(weight_gradient(layer.delta, layer.x).ravel())
            parts.append(bias_gradient(layer.delta))
        return -np.concatenate(parts) / X.shape[0]

    def accuracy(self, w: Vector, X: Vector, d: Vector) -> float:
        """Return the fraction of the patterns ``X`` whose class ``d`` is predicted."""
        self.load(w)
        return float(np.mean(self.model.predict(X) == d))


SPIRALS_STEPS = 800  # about 26 epochs of the 1000 training points in batches of 32
SPIRALS_TOLERANCE = 0.1  # training cross-entropy, in nats per pattern
# A part of the study's grid, to keep the sweep short. In one sweep of the whole
# grid for 2000 steps, no optimizer reached the tolerance at a rate below 3e-3
# or at 3, and each optimizer's best rate lay between 3e-3 and 0.3.
SPIRALS_LEARNING_RATES = (3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


@register_problem("two-spirals")
def two_spirals_mlp(quick: bool) -> Problem:
    r"""Return the training of the two-spirals MLP of ``foundations.problems``.

    The data set (1000 training and 1000 test points, seed 0), the network
    (2, 32, 32, 1) with ReLU hidden units and a sigmoid output, its initial
    weights (seed 0) and the batch size 32 are those of its recipe "spirals".
    $E(w)$ is the binary cross-entropy on all the training points, and the
    gradient is backpropagated through a mini-batch drawn with replacement.
    The recipe instead shuffles the data once per epoch. The cross-entropy has no
    minimum on separable data: it tends to $E^\star = 0$, so the final gap
    is the cost itself.
    """
    recipe = RECIPES["spirals"]
    data = recipe.make_dataset(0)
    model = MLP(
        recipe.layer_sizes, recipe.activation, recipe.output, a=recipe.a, seed=0
    )
    network = FlatMLP(model)
    # (N, 1) float targets of the single sigmoid output neuron
    X, D = data.X_train, data.D_train.astype(np.float64)[:, None]
    samples, batch = X.shape[0], recipe.batch_size

    def gradient(w: Vector, rng: np.random.Generator) -> Vector:
        rows = rng.integers(0, samples, batch)
        return network.gradient(w, X[rows], D[rows])

    return Problem(
        name="two-spirals",
        title=f"Two spirals: {recipe.layer_sizes} MLP, {recipe.activation}, "
        f"cross-entropy (batch {batch})",
        loss=lambda w: network.loss(w, X, D),
        gradient=gradient,
        x0=network.flatten(),
        optimum=0.0,
        tolerance=SPIRALS_TOLERANCE,
        steps=50 if quick else SPIRALS_STEPS,
        stochastic=True,
        averaged_steps=20,
        learning_rates=SPIRALS_LEARNING_RATES,
        test_accuracy=lambda w: network.accuracy(w, data.X_test, data.D_test),
        note=(
            f"E is the training cross-entropy of {samples} points. E* = 0 is its "
            f"infimum, so the final gap is E itself. Test accuracy is that of the "
            f"last iterate on {data.X_test.shape[0]} held-out points."
        ),
    )
