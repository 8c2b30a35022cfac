"""Tests of foundations.taylor: each claim of the course's Taylor question.

References are NumPy's linear algebra, scipy.optimize.minimize_scalar and
Hessians from torch autograd. Step functions run on NumPy arrays and on torch
tensors.
"""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar

import foundations.taylor as taylor
from foundations.taylor import (
    Trajectory,
    classify_critical_point,
    minimize,
    newton,
    optimal_step,
    steepest_descent,
)


def as_numpy(x: np.ndarray) -> np.ndarray:
    return x


def as_torch(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x)


@pytest.fixture(params=[as_numpy, as_torch], ids=["numpy", "torch"])
def convert(request: pytest.FixtureRequest):
    return request.param


def to_numpy(x) -> np.ndarray:
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def quadratic(n: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return a positive-definite A and a vector b of E(w) = w^T A w / 2 - b^T w."""
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(n, n))
    return M @ M.T + n * np.eye(n), rng.normal(size=n)


def quadratic_cost(A: np.ndarray, b: np.ndarray):
    """Return E(w) = w^T A w / 2 - b^T w for NumPy arrays and torch tensors."""

    def E(w):
        if isinstance(w, torch.Tensor):
            return 0.5 * w @ (torch.from_numpy(A) @ w) - torch.from_numpy(b) @ w
        return 0.5 * w @ (A @ w) - b @ w

    return E


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def autograd_hessian(f, point: list[float]) -> np.ndarray:
    x = torch.tensor(point, dtype=torch.float64)
    return torch.autograd.functional.hessian(f, x).numpy()


def autograd_gradient(f, point: list[float]) -> np.ndarray:
    x = torch.tensor(point, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(f(x), x)
    return g.numpy()


# Steepest descent and Newton's method.


def test_steepest_descent_steps_against_gradient(convert):
    w = np.array([1.0, -2.0, 0.5])
    g = np.array([0.2, 0.4, -1.0])
    result = steepest_descent(convert(w), convert(g), eta=0.1)
    assert type(result) is type(convert(w))
    np.testing.assert_allclose(to_numpy(result), [0.98, -2.04, 0.6], rtol=1e-15)


def test_steepest_descent_keeps_float32(convert):
    w = np.ones(3, dtype=np.float32)
    result = steepest_descent(convert(w), convert(w), eta=0.5)
    assert result.dtype == convert(w).dtype


def test_newton_reaches_quadratic_minimum_in_one_step(convert):
    A, b = quadratic()
    w = np.random.default_rng(1).normal(size=4)
    g = A @ w - b
    result = newton(convert(w), convert(g), convert(A))
    assert type(result) is type(convert(w))
    # The gradient A w - b vanishes at the minimum w* = A^{-1} b.
    np.testing.assert_allclose(to_numpy(result), np.linalg.solve(A, b), rtol=1e-12)


def test_newton_sign_is_minus():
    A, b = quadratic(seed=2)
    E = quadratic_cost(A, b)
    w = np.zeros(4)
    g = A @ w - b
    step = np.linalg.solve(A, g)
    assert E(newton(w, g, A)) < E(w)
    assert E(w + step) > E(w)  # the list's plus sign climbs


def test_newton_keeps_autograd():
    A, b = quadratic(seed=3)
    w = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    g = torch.from_numpy(-b)
    newton(w, g, torch.from_numpy(A)).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.ones(4))


def test_newton_rejects_singular_hessian(convert):
    with pytest.raises(ValueError, match="H must be invertible, got a singular"):
        newton(convert(np.ones(2)), convert(np.ones(2)), convert(np.ones((2, 2))))


ASYMMETRIC_H = np.array([[2.0, 1.0], [0.0, 3.0]])


def test_newton_rejects_asymmetric_hessian(convert):
    # Solving with an asymmetric H does not minimize the quadratic model, which
    # only sees the symmetric part (H + H^T) / 2.
    with pytest.raises(
        ValueError, match=r"H must be symmetric, got max \|H - H\^T\| = 1"
    ):
        newton(convert(np.ones(2)), convert(np.ones(2)), convert(ASYMMETRIC_H))


def test_minimize_names_step_of_asymmetric_hessian(convert):
    with pytest.raises(
        ValueError, match=r"newton failed at step 0: H must be symmetric"
    ):
        minimize(
            lambda x: float((x**2).sum()),
            convert(np.ones(2)),
            method="newton",
            grad=lambda x: 2 * x,
            hess=lambda x: convert(ASYMMETRIC_H),
        )


def float32(convert, x: np.ndarray):
    return convert(x.astype(np.float32))


@pytest.mark.parametrize("step", ["newton", "optimal_step"])
def test_float64_hessian_keeps_float32(convert, step):
    w, g, H = np.ones(2), np.array([2.0, 4.0]), np.diag([2.0, 4.0])
    if step == "newton":
        result = newton(float32(convert, w), float32(convert, g), convert(H))
        expected = np.zeros(2)
    else:
        result = optimal_step(float32(convert, g), convert(H))
        expected = (g @ g) / (g @ H @ g)
    assert type(result) is type(convert(w))
    assert result.dtype == float32(convert, w).dtype
    np.testing.assert_allclose(to_numpy(result), expected, rtol=1e-6)


# The optimal step.


def test_optimal_step_is_inverse_largest_eigenvalue(convert):
    A, _ = quadratic(seed=4)
    eigenvalues, eigenvectors = np.linalg.eigh(A)
    g = 3.0 * eigenvectors[:, -1]
    result = optimal_step(convert(g), convert(A))
    assert type(result) is type(convert(g))
    assert result.shape == ()
    np.testing.assert_allclose(float(result), 1 / eigenvalues[-1], rtol=1e-12)


def test_optimal_step_minimizes_along_gradient(convert):
    A, b = quadratic(seed=5)
    E = quadratic_cost(A, b)
    w = np.random.default_rng(6).normal(size=4)
    g = A @ w - b

    def along_line(eta):
        return E(w - eta * g)

    smallest_eigenvalue = np.linalg.eigvalsh(A)[0]
    line_search = minimize_scalar(
        along_line,
        bounds=(0.0, 2.0 / smallest_eigenvalue),
        method="bounded",
        options={"xatol": 1e-12},
    )
    result = float(optimal_step(convert(g), convert(A)))
    np.testing.assert_allclose(result, line_search.x, rtol=1e-6)
    assert along_line(result) <= line_search.fun


def test_optimal_step_descends_monotonically():
    A, b = quadratic(n=6, seed=7)
    E = quadratic_cost(A, b)
    trajectory = minimize(E, np.full(6, 5.0), method="optimal-step", max_steps=200)
    values = np.array(trajectory.values)
    assert trajectory.converged
    assert trajectory.steps > 2
    assert np.all(np.diff(values) < 0)
    np.testing.assert_allclose(to_numpy(trajectory.x), np.linalg.solve(A, b), atol=1e-6)


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_optimal_step_ignores_gradient_scale(convert, scale):
    # eta* = g^T g / (g^T H g) does not change when g is scaled, but g^T g
    # underflows or overflows when formed directly at these scales.
    g, H = np.array([3.0, 4.0]), np.diag([1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = optimal_step(convert(scale * g), convert(H))
    np.testing.assert_allclose(to_numpy(result), 25.0 / 41.0, rtol=1e-15)


def test_optimal_step_rejects_zero_gradient(convert):
    with pytest.raises(ValueError, match="g must be non-zero, got the zero vector"):
        optimal_step(convert(np.zeros(2)), convert(np.eye(2)))


@pytest.mark.parametrize(
    ("H", "curvature"), [(np.diag([1.0, -1.0]), "0.0"), (-np.eye(2), "-2.0")]
)
def test_optimal_step_rejects_negative_curvature(convert, H, curvature):
    message = (
        rf"g\^T H g must be positive, got {curvature}: H must be positive "
        "definite along g"
    )
    with pytest.raises(ValueError, match=message):
        optimal_step(convert(np.ones(2)), convert(H))


# Critical points.


def x2_minus_y2(x):
    return x[0] ** 2 - x[1] ** 2


def negative_bowl(x):
    return -(x[0] ** 2 + x[1] ** 2)


def x2_plus_y4(x):
    return x[0] ** 2 + x[1] ** 4


def negative_x2_minus_y4(x):
    return -(x[0] ** 2) - x[1] ** 4


def monkey_saddle_with_bowl(x):
    return x[0] ** 2 - x[1] ** 2 + x[2] ** 4


CRITICAL_POINTS = [
    (rosenbrock, [1.0, 1.0], "minimum"),
    (x2_minus_y2, [0.0, 0.0], "saddle"),
    (negative_bowl, [0.0, 0.0], "maximum"),
    (x2_plus_y4, [0.0, 0.0], "degenerate"),
    (negative_x2_minus_y4, [0.0, 0.0], "degenerate"),
    (monkey_saddle_with_bowl, [0.0, 0.0, 0.0], "saddle"),
]


@pytest.mark.parametrize(
    ("f", "point", "expected"),
    CRITICAL_POINTS,
    ids=[f.__name__ for f, _, _ in CRITICAL_POINTS],
)
def test_critical_point_kind(convert, f, point, expected):
    assert not np.any(autograd_gradient(f, point))  # a critical point: g = 0
    H = autograd_hessian(f, point)
    assert classify_critical_point(convert(H)) == expected


def test_classification_ignores_scale(convert):
    H = autograd_hessian(rosenbrock, [1.0, 1.0])
    for scale in [1e-6, 1.0, 1e6]:
        assert classify_critical_point(convert(scale * H)) == "minimum"
        assert classify_critical_point(convert(-scale * H)) == "maximum"


def test_classification_tolerance_is_relative(convert):
    H = np.diag([1e6, 1e-3])
    assert classify_critical_point(convert(H)) == "degenerate"
    assert classify_critical_point(convert(H), tol=1e-12) == "minimum"


def test_zero_hessian_is_degenerate(convert):
    assert classify_critical_point(convert(np.zeros((3, 3)))) == "degenerate"


def test_classification_rejects_asymmetric(convert):
    H = np.array([[1.0, 2.0], [0.0, 1.0]])
    with pytest.raises(
        ValueError, match=r"H must be symmetric, got max \|H - H\^T\| = 2.0"
    ):
        classify_critical_point(convert(H))


def test_classification_rejects_empty(convert):
    with pytest.raises(ValueError, match=r"H must not be empty, got shape \(0, 0\)"):
        classify_critical_point(convert(np.zeros((0, 0))))


@pytest.mark.parametrize("shape", [(2, 3), (4,), (2, 2, 2)])
def test_classification_rejects_non_square(convert, shape):
    message = rf"H must be a square matrix, got shape {shape!r}".replace("(", r"\(")
    with pytest.raises(ValueError, match=message.replace(")", r"\)")):
        classify_critical_point(convert(np.zeros(shape)))


def test_classification_rejects_negative_tol(convert):
    with pytest.raises(ValueError, match=r"tol must be non-negative, got -1.0"):
        classify_critical_point(convert(np.eye(2)), tol=-1.0)


# minimize.


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_newton_minimizes_rosenbrock(convert, dtype):
    x0 = convert(np.array([-1.2, 1.0], dtype=dtype))
    tol = 1e-6 if dtype == np.float64 else 1e-2
    trajectory = minimize(rosenbrock, x0, method="newton", max_steps=50, tol=tol)
    assert trajectory.converged
    assert type(trajectory.points) is type(x0)
    assert trajectory.points.dtype == x0.dtype
    atol = 1e-8 if dtype == np.float64 else 1e-3
    np.testing.assert_allclose(to_numpy(trajectory.x), [1.0, 1.0], atol=atol)


def test_steepest_descent_decreases_rosenbrock(convert):
    x0 = convert(np.array([-1.2, 1.0]))
    trajectory = minimize(rosenbrock, x0, method="steepest", lr=1e-3, max_steps=200)
    assert not trajectory.converged
    assert trajectory.steps == 200
    assert trajectory.values[-1] < trajectory.values[0] / 4
    assert trajectory.step_sizes == [1e-3] * 200


def test_trajectory_records_every_point(convert):
    A, b = quadratic(seed=8)
    E = quadratic_cost(A, b)
    trajectory = minimize(E, convert(np.zeros(4)), method="steepest", lr=0.01)
    points = to_numpy(trajectory.points)
    assert isinstance(trajectory, Trajectory)
    assert trajectory.method == "steepest"
    assert points.shape == (trajectory.steps + 1, 4)
    assert len(trajectory.values) == trajectory.steps + 1
    assert len(trajectory.gradient_norms) == trajectory.steps + 1
    np.testing.assert_allclose(trajectory.values, [E(p) for p in points], rtol=1e-12)
    norms = [np.linalg.norm(A @ p - b) for p in points]
    np.testing.assert_allclose(trajectory.gradient_norms, norms, rtol=1e-12, atol=1e-14)


def test_given_derivatives_match_autograd():
    A, b = quadratic(seed=9)
    E = quadratic_cost(A, b)

    def grad(w):
        return A @ w - b

    def hess(w):
        return A

    x0 = np.full(4, 2.0)
    analytic = minimize(E, x0, method="optimal-step", grad=grad, hess=hess)
    automatic = minimize(E, x0, method="optimal-step")
    assert analytic.steps == automatic.steps
    np.testing.assert_allclose(
        analytic.points, automatic.points, rtol=1e-10, atol=1e-12
    )


def test_newton_rejects_indefinite_hessian(convert):
    with pytest.raises(
        ValueError,
        match=r"newton failed at step 0: the Hessian has eigenvalue -2.0 <= 0, "
        "so it is not positive definite",
    ):
        minimize(x2_minus_y2, convert(np.array([1.0, 1.0])), method="newton")


def test_optimal_step_rejects_zero_curvature_in_minimize(convert):
    with pytest.raises(
        ValueError,
        match=r"optimal-step failed at step 0: g\^T H g must be positive, got 0.0",
    ):
        minimize(x2_minus_y2, convert(np.array([1.0, 1.0])), method="optimal-step")


def test_divergence_names_the_step(convert):
    def quartic(x):
        return (x**4).sum()

    with pytest.raises(
        ValueError, match=r"minimize diverged at step [0-9]+: f\(x\) = "
    ):
        minimize(quartic, convert(np.array([10.0])), lr=1.0, max_steps=100)


def test_minimize_stops_at_zero_steps(convert):
    trajectory = minimize(rosenbrock, convert(np.array([0.0, 0.0])), max_steps=0)
    assert trajectory.steps == 0
    assert trajectory.values == [1.0]
    np.testing.assert_allclose(trajectory.gradient_norms, [2.0], rtol=1e-15)


INVALID_OPTIONS = [
    ({"method": "bfgs"}, r"method must be one of 'steepest', 'optimal-step', 'newton'"),
    ({"lr": 0.0}, "lr must be positive and finite, got 0.0"),
    ({"lr": float("nan")}, "lr must be positive and finite, got nan"),
    ({"max_steps": -1}, "max_steps must be a non-negative integer, got -1"),
    ({"tol": -1.0}, "tol must be non-negative, got -1.0"),
]


@pytest.mark.parametrize(("options", "message"), INVALID_OPTIONS)
def test_minimize_rejects_invalid_options(options, message):
    with pytest.raises(ValueError, match=message):
        minimize(rosenbrock, np.zeros(2), **options)


WRONG_TYPES = [
    (lambda: steepest_descent(np.ones(2), np.ones(2), "0.1"), "eta", "str"),
    (lambda: steepest_descent(np.ones(2), np.ones(2), None), "eta", "NoneType"),
    (lambda: minimize(rosenbrock, np.zeros(2), lr="0.1"), "lr", "str"),
    (lambda: minimize(rosenbrock, np.zeros(2), tol=[1e-6]), "tol", "list"),
    (lambda: classify_critical_point(np.eye(2), tol="0"), "tol", "str"),
]


@pytest.mark.parametrize(("call", "name", "type_name"), WRONG_TYPES)
def test_options_reject_wrong_types(call, name, type_name):
    with pytest.raises(
        TypeError, match=f"{name} must be a real number, got {type_name}"
    ):
        call()


def test_minimize_rejects_boolean_max_steps():
    with pytest.raises(
        ValueError, match="max_steps must be a non-negative integer, got True"
    ):
        minimize(rosenbrock, np.zeros(2), max_steps=True)


def test_numpy_scalar_options_keep_float32(convert):
    x0 = convert(np.ones(2, dtype=np.float32))
    trajectory = minimize(
        lambda x: (x**2).sum(), x0, lr=np.float64(0.1), max_steps=np.int64(3)
    )
    assert trajectory.steps == 3
    assert trajectory.points.dtype == x0.dtype
    step = steepest_descent(x0, x0, np.float64(0.1))
    assert step.dtype == x0.dtype


def test_steepest_descent_takes_zero_dimensional_eta(convert):
    w = convert(np.ones(2))
    result = steepest_descent(w, w, torch.tensor(0.5))
    assert type(result) is type(w)
    np.testing.assert_array_equal(to_numpy(result), [0.5, 0.5])


def test_minimize_rejects_matrix_start():
    with pytest.raises(
        ValueError, match=r"x0 must be a 1-D vector, got shape \(2, 2\)"
    ):
        minimize(rosenbrock, np.zeros((2, 2)))


def test_minimize_rejects_gradient_of_wrong_shape():
    with pytest.raises(
        ValueError, match=r"gradient must return shape \(2,\), got \(3,\)"
    ):
        minimize(rosenbrock, np.zeros(2), grad=lambda x: np.zeros(3))


def test_minimize_rejects_vector_cost(convert):
    with pytest.raises(ValueError, match=r"f must return a scalar, got shape \(2,\)"):
        minimize(lambda x: x**2, convert(np.ones(2)))


def test_minimize_rejects_derivative_of_other_kind(convert):
    def other_kind(x):
        return torch.from_numpy(2 * x) if convert is as_numpy else (2 * x).numpy()

    expected = type(convert(np.ones(2))).__name__
    message = f"gradient must return a {expected} like x0, got"
    with pytest.raises(TypeError, match=message):
        minimize(rosenbrock, convert(np.ones(2)), grad=other_kind)


def test_minimize_rejects_non_torch_cost():
    def numpy_result(x):
        return np.sum(np.array(x.tolist()) ** 2)

    with pytest.raises(TypeError, match="f must return a torch scalar, got float64"):
        minimize(numpy_result, np.ones(2))


@pytest.mark.parametrize("step", [steepest_descent, newton])
def test_step_rejects_shape_mismatch(convert, step):
    last = 0.1 if step is steepest_descent else convert(np.eye(3))
    with pytest.raises(
        ValueError, match=r"g must have the shape of w, \(3,\), got \(2,\)"
    ):
        step(convert(np.ones(3)), convert(np.ones(2)), last)


def test_steepest_descent_rejects_negative_eta(convert):
    with pytest.raises(ValueError, match=r"eta must be positive and finite, got -0.1"):
        steepest_descent(convert(np.ones(2)), convert(np.ones(2)), eta=-0.1)


def test_docstring_examples_pass():
    result = doctest.testmod(taylor)
    assert result.attempted > 0
    assert result.failed == 0
