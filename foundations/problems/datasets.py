r"""Seeded data sets of the practice problems, split into training and test sets.

Each function returns a ``Dataset`` of NumPy float64 arrays, drawn from a
``numpy.random.Generator`` seeded with ``seed``, so one seed gives the same
data on every run. Each raises ``ValueError`` when a count is not a positive
integer, a seed is negative, or a scale (noise, turns, times) is negative
or not finite.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Dataset",
    "function_approximation",
    "mackey_glass",
    "mackey_glass_forecasting",
    "two_spirals",
    "xor",
]


@dataclass(frozen=True)
class Dataset:
    """Training and test patterns of one problem.

    Attributes
    ----------
    name : str
    task : {"classification", "regression", "forecasting"}
    X_train, X_test : arrays of shape (N, n_in)
        Input patterns.
    D_train, D_test : arrays
        Desired responses: class indices of shape (N,) for classification,
        values of shape (N, n_out) otherwise.
    time_test : array of shape (N_test,) or None
        Time of each test target, for forecasting.
    description : str
        One line that describes how the data were made.
    """

    name: str
    task: str
    X_train: np.ndarray
    D_train: np.ndarray
    X_test: np.ndarray
    D_test: np.ndarray
    time_test: np.ndarray | None = field(default=None, repr=False)
    description: str = ""


def xor(n_test: int = 200, noise: float = 0.1, seed: int = 0) -> Dataset:
    r"""Return the XOR problem: the four corners of the unit square.

    The training set is the truth table, $d = x_1 \oplus x_2$. The test set
    draws ``n_test`` points around the corners, each corner plus Gaussian
    noise of standard deviation ``noise``, labelled by its corner. It
    checks that the learned boundary separates the corners with a margin.

    Examples
    --------
    >>> data = xor()
    >>> data.X_train.tolist(), data.D_train.tolist()
    ([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 1, 0])
    """
    _check_count(n_test, "n_test")
    _check_real(noise, "noise", positive=False)
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    labels = np.array([0, 1, 1, 0])
    rng = np.random.default_rng(_checked_seed(seed))
    corner = rng.integers(0, 4, size=n_test)
    X_test = corners[corner] + rng.normal(0.0, noise, size=(n_test, 2))
    return Dataset(
        "xor",
        "classification",
        corners,
        labels,
        X_test,
        labels[corner],
        description=f"truth table; test: corners plus N(0, {noise}^2) noise",
    )


def two_spirals(
    n_train: int = 1000,
    n_test: int = 1000,
    turns: float = 2.0,
    noise: float = 0.02,
    seed: int = 0,
) -> Dataset:
    r"""Return two interleaved spirals, one class each, in the disc of radius 1.

    A point of class $k \in \{0, 1\}$ at angle $\theta$ lies at radius
    $r = \theta / (2\pi \cdot \text{turns})$ and angle $\theta + k\pi$,
    plus Gaussian noise of standard deviation ``noise``. $\theta$ is drawn
    as $2\pi \cdot \text{turns} \sqrt{u}$ with $u$ uniform, so the points
    are spread evenly along the arms. Adjacent arms are
    $1 / (2 \cdot \text{turns})$ apart.

    Examples
    --------
    >>> data = two_spirals(n_train=10, n_test=4)
    >>> data.X_train.shape, data.D_test.shape
    ((10, 2), (4,))
    """
    _check_count(n_train, "n_train")
    _check_count(n_test, "n_test")
    _check_real(turns, "turns", positive=True)
    _check_real(noise, "noise", positive=False)
    rng = np.random.default_rng(_checked_seed(seed))
    X, d = _spiral_points(n_train + n_test, turns, noise, rng)
    return Dataset(
        "spirals",
        "classification",
        X[:n_train],
        d[:n_train],
        X[n_train:],
        d[n_train:],
        description=f"two spirals of {turns:g} turns, noise {noise:g}",
    )


def _spiral_points(n, turns, noise, rng):
    labels = rng.integers(0, 2, size=n)
    theta = 2.0 * math.pi * turns * np.sqrt(rng.uniform(0.0, 1.0, size=n))
    radius = theta / (2.0 * math.pi * turns)
    angle = theta + math.pi * labels
    X = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return X + rng.normal(0.0, noise, size=X.shape), labels


def target_function(X: np.ndarray) -> np.ndarray:
    r"""Compute the map $f : \mathbb{R}^2 \to \mathbb{R}^2$ that the network learns.

    $$
    f(x_1, x_2) = \left( \sin(\pi x_1) \cos\!\left(\tfrac{\pi}{2} x_2\right),\;
    e^{-(x_1^2 + x_2^2)} - \tfrac{1}{2} x_1 x_2 \right).
    $$
    """
    x1, x2 = X[:, 0], X[:, 1]
    f1 = np.sin(math.pi * x1) * np.cos(0.5 * math.pi * x2)
    f2 = np.exp(-(x1**2 + x2**2)) - 0.5 * x1 * x2
    return np.stack([f1, f2], axis=1)


def function_approximation(
    n_train: int = 1000, n_test: int = 1000, seed: int = 0
) -> Dataset:
    r"""Return samples of ``target_function`` on the square $[-1, 1]^2$.

    Inputs are uniform on the square and targets are exact (noise-free),
    so the test error measures the approximation alone.
    """
    _check_count(n_train, "n_train")
    _check_count(n_test, "n_test")
    rng = np.random.default_rng(_checked_seed(seed))
    X = rng.uniform(-1.0, 1.0, size=(n_train + n_test, 2))
    D = target_function(X)
    return Dataset(
        "function",
        "regression",
        X[:n_train],
        D[:n_train],
        X[n_train:],
        D[n_train:],
        description="f(x) = (sin(pi x1) cos(pi x2 / 2), exp(-|x|^2) - x1 x2 / 2)",
    )


def mackey_glass(
    t_max: float,
    tau: float = 17.0,
    beta: float = 0.2,
    gamma: float = 0.1,
    n: float = 10.0,
    x0: float = 1.2,
    dt: float = 0.1,
) -> np.ndarray:
    r"""Integrate the Mackey-Glass delay equation and sample it at $t = 0, 1, \dots$.

    $$
    \frac{dx}{dt} = \beta \frac{x(t - \tau)}{1 + x(t - \tau)^n} - \gamma x(t),
    \qquad x(t) = x_0 \text{ for } t \le 0.
    $$

    With the defaults ($\tau = 17$) the solution is chaotic. The
    integrator is the classical Runge-Kutta method of order 4 with step
    ``dt``. Its stages at half steps need the delayed value
    $x(t + dt/2 - \tau)$, between two stored values $x_0, x_1$ with
    derivatives $f_0, f_1$. The cubic Hermite interpolant gives it with an
    error of $O(dt^4)$, the order of the method:

    $$
    x(t + dt/2 - \tau) \approx \frac{x_0 + x_1}{2} + \frac{dt}{8} (f_0 - f_1).
    $$

    Returns
    -------
    array of shape (floor(t_max) + 1,)
        $x(0), x(1), \dots$

    Raises
    ------
    ValueError
        If ``t_max``, ``tau`` or ``x0`` is negative, ``dt`` is not positive,
        ``tau / dt`` is not a whole number, or ``dt`` does not divide 1.
        A negative ``x0`` is rejected because $x$ is a concentration, and
        $x^n$ of a negative $x$ is NaN for a fractional $n$.
    """
    _check_real(t_max, "t_max", positive=False)
    _check_real(tau, "tau", positive=False)
    _check_real(x0, "x0", positive=False)
    _check_real(dt, "dt", positive=True)
    lag = round(tau / dt)
    per_unit = round(1.0 / dt)
    if abs(lag * dt - tau) > 1e-9 or abs(per_unit * dt - 1.0) > 1e-9:
        raise ValueError(
            f"tau and 1 must be multiples of dt, got tau={tau!r}, dt={dt!r}"
        )
    n_steps = int(t_max) * per_unit
    # x[k] is x((k - lag) dt), so x[: lag + 1] is the history on [-tau, 0]
    # and x[k - lag] is the delayed value x(t - tau) at the time of x[k].
    # f[k] is dx/dt there, zero on the constant history.
    x = np.empty(lag + n_steps + 1)
    f = np.zeros_like(x)
    x[: lag + 1] = x0

    def rate(x_now: float, x_delayed: float) -> float:
        return beta * x_delayed / (1.0 + x_delayed**n) - gamma * x_now

    for k in range(lag, lag + n_steps):
        j = k - lag
        f[k] = rate(x[k], x[j])
        # x' jumps at t = 0 from 0 (the constant history) to f[lag], and the
        # delayed interval [-dt, 0] lies on the side of the history.
        f_end = 0.0 if j + 1 == lag else f[j + 1]
        delayed_half = 0.5 * (x[j] + x[j + 1]) + dt / 8.0 * (f[j] - f_end)
        k1 = f[k]
        k2 = rate(x[k] + 0.5 * dt * k1, delayed_half)
        k3 = rate(x[k] + 0.5 * dt * k2, delayed_half)
        k4 = rate(x[k] + dt * k3, x[j + 1])
        x[k + 1] = x[k] + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return x[lag::per_unit]


def mackey_glass_forecasting(
    n_train: int = 500,
    n_test: int = 500,
    lags: tuple[int, ...] = (18, 12, 6, 0),
    horizon: int = 6,
    start: int = 118,
) -> Dataset:
    r"""Return one-step prediction on the Mackey-Glass series ($\tau = 17$).

    Sampled every ``horizon`` time units, the series is predicted one step
    ahead from its last values:

    $$
    \hat x(t + 6) = F\big(x(t - 18),\, x(t - 12),\, x(t - 6),\, x(t)\big),
    $$

    for $t$ = ``start``, ``start`` + 1, ...; the first ``n_train``
    patterns train and the next ``n_test`` test. The series is
    deterministic, so there is no seed. The naive forecast
    $\hat x(t + 6) = x(t)$ is the last column of ``X_test``.

    Raises
    ------
    ValueError
        If a count or ``horizon`` is not a positive integer, a lag is
        negative (it would read the future), or ``start`` is less than the
        largest lag (the inputs would reach before $t = 0$).
    """
    _check_count(n_train, "n_train")
    _check_count(n_test, "n_test")
    _check_count(horizon, "horizon")
    if not all(_is_integer(lag) and lag >= 0 for lag in lags):
        raise ValueError(f"lags must be non-negative integers, got {lags!r}")
    if not (_is_integer(start) and start >= max(lags, default=0)):
        raise ValueError(
            f"start must be at least the largest lag, {max(lags, default=0)}, "
            f"got {start!r}"
        )
    t = np.arange(start, start + n_train + n_test)
    series = mackey_glass(t_max=t[-1] + horizon)
    X = np.stack([series[t - lag] for lag in lags], axis=1)
    D = series[t + horizon][:, None]
    return Dataset(
        "mackey_glass",
        "forecasting",
        X[:n_train],
        D[:n_train],
        X[n_train:],
        D[n_train:],
        time_test=(t + horizon)[n_train:].astype(np.float64),
        description=f"Mackey-Glass, inputs x(t - k) for k in {lags}, "
        f"target x(t + {horizon})",
    )


def _is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_count(value: object, name: str) -> None:
    if not (_is_integer(value) and value >= 1):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_real(value: float, name: str, positive: bool) -> None:
    """Check that ``value`` is finite and positive (or non-negative)."""
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if (
        not (is_number and math.isfinite(value))
        or value < 0
        or (positive and value == 0)
    ):
        sign = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be finite and {sign}, got {value!r}")


def _checked_seed(seed: int) -> int:
    if not (_is_integer(seed) and seed >= 0):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return seed
