r"""Test problems of the optimizer study, with a registry to add more.

Each problem is a cost $E(w)$ on a vector $w$, with a gradient that may be a
mini-batch estimate, a starting point, the minimal cost $E^\star$ and a
tolerance. A run reaches the tolerance at the first step from which
$E(w_t) - E^\star \le$ tolerance is true until the end of the run. With
mini-batch gradients $E(w_t)$ fluctuates, so there the mean of $E$ over the
last ``averaged_steps`` steps is tested instead.

To add a problem, register a factory that builds it, for example::

    @register_problem("two-spirals")
    def two_spirals(quick: bool) -> Problem: ...

The factory takes ``quick`` (a shorter run for smoke tests) and returns a
``Problem`` whose ``x0`` is a 1-D float64 array. A network's weights are
flattened into one vector for this.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

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


# NOTE: the two-spirals MLP is not registered yet. A factory for it would
# flatten the weights of a foundations.mlp network into x0 and return the
# cross-entropy and its backpropagated gradient on that vector.
