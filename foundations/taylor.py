r"""Descent methods derived from the Taylor expansion of a cost.

Around a point $w$, with gradient $g$ and Hessian $H$ of the cost $E$,

$$
E(w + \Delta w) = E(w) + g^T \Delta w + \frac{1}{2} \Delta w^T H \Delta w
+ O(\lVert \Delta w \rVert^3).
$$

The first-order term gives steepest descent, the second-order model gives
Newton's method and the optimal step along $-g$, and the eigenvalues of
$H$ at a point where $g = 0$ classify it. ``minimize`` runs any of the
three methods and records the trajectory, with derivatives from torch autograd
when none are given.

The step functions take NumPy arrays or torch tensors and return the same
type and dtype. Torch inputs keep autograd working.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np
import torch

from foundations._array import (
    Array,
    as_float_array,
    check_finite,
    check_not_empty,
    is_torch,
    namespace,
    to_float,
)

__all__ = [
    "METHODS",
    "Trajectory",
    "classify_critical_point",
    "minimize",
    "newton",
    "optimal_step",
    "steepest_descent",
]

METHODS = ("steepest", "optimal-step", "newton")


def steepest_descent(w: Array, g: Array, eta: float) -> Array:
    r"""Take one steepest-descent step $w(n+1) = w(n) - \eta\, g(w(n))$.

    Keeping only the first-order term, $E(w + \Delta w) \approx E(w) +
    g^T \Delta w$. For a step of fixed length, $g^T \Delta w$ is most
    negative when $\Delta w$ points along $-g$, so the step is
    $\Delta w = -\eta g$ with learning rate $\eta > 0$.

    Parameters
    ----------
    w : array or tensor, shape (n,)
        Current point $w(n)$.
    g : array or tensor, shape (n,)
        Gradient $g$ of the cost at ``w``.
    eta : float
        Learning rate $\eta$, positive.

    Returns
    -------
    array or tensor, shape (n,)
        The next point $w(n+1)$.

    Raises
    ------
    ValueError
        If ``eta`` is not positive and finite, or ``w`` and ``g`` are not
        finite vectors of the same shape.
    TypeError
        If ``eta`` is not a real number or a zero-dimensional array.

    Examples
    --------
    >>> import numpy as np
    >>> steepest_descent(np.array([1.0, 2.0]), np.array([2.0, 4.0]), eta=0.5)
    array([0., 0.])
    """
    xp = namespace(w, g)
    w, g = _point_and_gradient(w, g, xp)
    eta = _check_positive(eta, "eta")
    return w - eta * g


def newton(w: Array, g: Array, H: Array) -> Array:
    r"""Take one Newton step $w(n+1) = w(n) - H^{-1} g$.

    Minimizing the quadratic model $E(w) + g^T \Delta w + \frac{1}{2}
    \Delta w^T H \Delta w$ over $\Delta w$ sets its gradient
    $g + H \Delta w$ to zero, so $H \Delta w = -g$. The sign is minus:
    the course's exercise list prints $w(n) + H^{-1} g$, which climbs
    along the model instead of descending.

    Parameters
    ----------
    w : array or tensor, shape (n,)
        Current point $w(n)$.
    g : array or tensor, shape (n,)
        Gradient at ``w``.
    H : array or tensor, shape (n, n)
        Symmetric Hessian at ``w``, cast to the dtype of ``w``. The step
        descends when $H$ is positive definite. With an indefinite $H$ it
        goes to the saddle point of the model, which ``minimize`` rejects.

    Returns
    -------
    array or tensor, shape (n,)
        The next point $w(n+1)$.

    Raises
    ------
    ValueError
        If ``H`` is singular, is not symmetric (within the square root of
        its dtype's machine epsilon, relative to $\max |H|$), or the shapes
        do not match. Only the symmetric part of $H$ enters the quadratic
        model, so solving with an asymmetric one would not minimize it.

    Notes
    -----
    The step solves $H \Delta w = -g$ with ``linalg.solve`` and never forms
    $H^{-1}$, which is both slower and less accurate.

    Examples
    --------
    >>> import numpy as np
    >>> newton(np.array([1.0, 1.0]), np.array([2.0, 4.0]), np.diag([2.0, 4.0]))
    array([0., 0.])
    """
    xp = namespace(w, g, H)
    w, g = _point_and_gradient(w, g, xp)
    H = _square_matrix(H, "H", w.shape[0], xp, w.dtype)
    _check_symmetric(H, _relative_tolerance(None, H, xp), xp)
    return w + _solve(H, -g, xp)


def optimal_step(g: Array, H: Array) -> Array:
    r"""Compute the step $\eta^* = g^T g / (g^T H g)$ that is optimal along $-g$.

    On the quadratic model, $E(w - \eta g) \approx E(w) - \eta\, g^T g +
    \frac{1}{2} \eta^2 g^T H g$. Its derivative in $\eta$ vanishes at
    $\eta^* = g^T g / (g^T H g)$, a minimum when $g^T H g > 0$. The
    course's exercise list prints the numerator as $g g^T$, an outer product
    and so a matrix. That is a slip: the step is the scalar $g^T g$ over
    $g^T H g$. When $g$ is an eigenvector of the largest eigenvalue
    $\lambda_{\max}$, $\eta^* = 1 / \lambda_{\max}$.

    Parameters
    ----------
    g : array or tensor, shape (n,)
        Gradient, non-zero.
    H : array or tensor, shape (n, n)
        Hessian, cast to the dtype of ``g``.

    Returns
    -------
    array or tensor, shape ()
        $\eta^*$, of the dtype of ``g``.

    Raises
    ------
    ValueError
        If ``g`` is zero, or $g^T H g \le 0$, which means $H$ is not
        positive definite along $g$ and the model has no minimum on the line.

    Examples
    --------
    >>> import numpy as np
    >>> optimal_step(np.array([1.0, 0.0]), np.diag([4.0, 1.0]))
    array(0.25)
    """
    xp = namespace(g, H)
    g = _vector(g, "g", xp)
    H = _square_matrix(H, "H", g.shape[0], xp, g.dtype)
    scale = xp.max(xp.abs(g))
    if to_float(scale) == 0:
        raise ValueError(
            "g must be non-zero, got the zero vector: the optimal step is "
            "undefined at a critical point"
        )

    # eta* does not change when g is scaled, and u = g / max|g| keeps u^T u
    # from overflowing or underflowing where g^T g would.
    u = g / scale
    curvature = xp.sum(u * (H @ u))
    if not to_float(curvature) > 0:
        # Python floats give inf rather than an error if g^T H g overflows.
        reported = to_float(curvature) * to_float(scale) * to_float(scale)
        raise ValueError(
            f"g^T H g must be positive, got {reported}: H must be "
            "positive definite along g for the optimal step to exist"
        )
    return _as_array(xp.sum(u * u) / curvature, xp)


def classify_critical_point(H: Array, tol: float | None = None) -> str:
    r"""Classify a critical point ($g = 0$) by the eigenvalues of its Hessian.

    Near a critical point, $E(w + \Delta w) - E(w) \approx \frac{1}{2}
    \Delta w^T H \Delta w = \frac{1}{2} \sum_i \lambda_i (u_i^T \Delta w)^2$,
    with $\lambda_i$ and $u_i$ the eigenvalues and eigenvectors of $H$.

    - ``"minimum"``: every $\lambda_i > 0$;
    - ``"maximum"``: every $\lambda_i < 0$;
    - ``"saddle"``: some $\lambda_i > 0$ and some $\lambda_i < 0$, whether
      or not another one is zero;
    - ``"degenerate"``: some $\lambda_i = 0$ and the others share one sign,
      so the second-order test is inconclusive (higher terms decide).

    Parameters
    ----------
    H : array or tensor, shape (n, n)
        Symmetric Hessian at the critical point.
    tol : float, optional
        Relative tolerance $\tau$. An eigenvalue counts as zero when
        $|\lambda_i| \le \tau \max_j |\lambda_j|$. The same tolerance bounds
        the asymmetry $\max |H - H^T|$ against $\max |H|$. Default: the square
        root of the machine epsilon of ``H``'s dtype, about ``1.5e-8`` for
        float64 and ``3.5e-4`` for float32.

    Returns
    -------
    {"minimum", "maximum", "saddle", "degenerate"}
        The kind of critical point. A zero Hessian is ``"degenerate"``.

    Raises
    ------
    ValueError
        If ``H`` is not a finite, non-empty square matrix, is not symmetric
        within ``tol``, or ``tol`` is negative.
    TypeError
        If ``tol`` is not a real number.

    Examples
    --------
    >>> import numpy as np
    >>> classify_critical_point(np.diag([2.0, -2.0]))
    'saddle'
    >>> classify_critical_point(np.diag([2.0, 0.0]))
    'degenerate'
    """
    xp = namespace(H)
    H = as_float_array(H, "H", xp)
    if H.ndim != 2 or H.shape[0] != H.shape[1]:
        raise ValueError(f"H must be a square matrix, got shape {tuple(H.shape)}")
    check_not_empty(H, "H")
    H = _square_matrix(H, "H", H.shape[0], xp)
    tol = _relative_tolerance(tol, H, xp)
    _check_symmetric(H, tol, xp)

    eigenvalues = xp.linalg.eigvalsh(H)
    threshold = tol * to_float(xp.max(xp.abs(eigenvalues)))
    has_positive = bool(xp.any(eigenvalues > threshold))
    has_negative = bool(xp.any(eigenvalues < -threshold))
    has_zero = bool(xp.any(xp.abs(eigenvalues) <= threshold))
    if has_positive and has_negative:
        return "saddle"
    if has_zero:
        return "degenerate"
    return "minimum" if has_positive else "maximum"


@dataclass
class Trajectory:
    r"""Record of a run of ``minimize``: every point and what was measured there.

    ``points``, ``values`` and ``gradient_norms`` have one entry per visited
    point, starting at ``x0``. ``step_sizes`` has one entry per step: the
    learning rate for ``"steepest"``, $\eta^*$ for ``"optimal-step"`` and 1
    for ``"newton"`` (the full step $-H^{-1} g$).
    """

    points: Array  # (steps + 1, n), of the array type and dtype of x0
    values: list[float]  # E at each point
    gradient_norms: list[float]  # ||g||_2 at each point
    step_sizes: list[float]  # the multiplier of each step's direction
    converged: bool  # whether ||g||_2 <= tol at the last point
    method: str

    @property
    def x(self) -> Array:
        """Last point, shape (n,)."""
        return self.points[-1]

    @property
    def steps(self) -> int:
        """Number of steps taken."""
        return len(self.step_sizes)


def minimize(
    f: Callable[[Array], Any],
    x0: Array,
    method: str = "steepest",
    *,
    lr: float = 1e-3,
    max_steps: int = 1000,
    tol: float = 1e-6,
    grad: Callable[[Array], Array] | None = None,
    hess: Callable[[Array], Array] | None = None,
) -> Trajectory:
    r"""Minimize ``f`` from ``x0`` by one of the course's descent methods.

    - ``"steepest"``: $w \leftarrow w - \eta g$ with $\eta$ = ``lr``;
    - ``"optimal-step"``: $w \leftarrow w - \eta^* g$, with
      $\eta^* = g^T g / (g^T H g)$ from ``optimal_step``;
    - ``"newton"``: $w \leftarrow w - H^{-1} g$.

    Parameters
    ----------
    f : callable
        The cost $E$. Takes a 1-D array or tensor and returns a scalar.
    x0 : array or tensor, shape (n,)
        Starting point. The trajectory keeps its array type and dtype.
    method : {"steepest", "optimal-step", "newton"}, default "steepest"
        Descent method.
    lr : float, default 1e-3
        Learning rate $\eta$ of ``"steepest"``. The other methods ignore it.
    max_steps : int, default 1000
        Maximum number of steps.
    tol : float, default 1e-6
        Tolerance $\tau$ on the gradient: stop when
        $\lVert g \rVert_2 \le \tau$.
    grad, hess : callable, optional
        Gradient $g(x)$, shape (n,), and Hessian $H(x)$, shape (n, n), as
        functions of an array of the type of ``x0``. When one is not given,
        torch autograd computes it, and then ``f`` must also accept a torch
        tensor and return a torch scalar.

    Returns
    -------
    Trajectory
        The visited points and the values, gradient norms and step sizes,
        with ``converged`` telling whether the gradient norm reached ``tol``.

    Raises
    ------
    ValueError
        If an argument is invalid or ``f`` returns more than one value. If
        a value, gradient or Hessian stops being finite, the error names the
        step, and a smaller ``lr`` usually helps. With ``"optimal-step"``,
        if $g^T H g \le 0$ at some point. With ``"newton"``, if the Hessian
        at some point is not symmetric or not positive definite, because the
        step may then climb. There is no fallback to another method, and the
        error names the smallest eigenvalue so the caller can choose one.
    TypeError
        If ``lr`` or ``tol`` is not a real number, ``grad`` or ``hess``
        returns a NumPy array for a torch ``x0`` (or the reverse), or ``f``
        does not return a torch scalar for a torch input when autograd
        computes a derivative.

    Notes
    -----
    Torch points are detached: the trajectory does not carry autograd.

    Examples
    --------
    >>> import numpy as np
    >>> def bowl(x):
    ...     return (x**2).sum()
    >>> result = minimize(bowl, np.array([3.0, -4.0]), method="newton")
    >>> result.x, result.steps, result.converged
    (array([0., 0.]), 1, True)
    """
    lr, tol = _check_minimize_options(method, lr, max_steps, tol)
    xp = namespace(x0)
    x = _vector(_detached(x0), "x0", xp)
    gradient = grad or _autograd_gradient(f)
    hessian = hess or _autograd_hessian(f)

    points, values, gradient_norms, step_sizes = [x], [], [], []
    # NumPy overflow becomes inf or NaN, which the checks below turn into
    # a ValueError that names the step, so its warnings would only repeat it.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for step in range(max_steps + 1):
            values.append(_finite_value(f, x, step))
            g = _evaluate(gradient, x, "gradient", (x.shape[0],), step, xp)
            gradient_norms.append(to_float(xp.linalg.vector_norm(g)))
            if gradient_norms[-1] <= tol or step == max_steps:
                break
            x, eta = _descent_step(method, x, g, hessian, lr, step, xp)
            points.append(x)
            step_sizes.append(eta)

    converged = gradient_norms[-1] <= tol
    return Trajectory(
        xp.stack(points), values, gradient_norms, step_sizes, converged, method
    )


def _descent_step(
    method: str,
    x: Array,
    g: Array,
    hessian: Callable[[Array], Array],
    lr: float,
    step: int,
    xp: Any,
) -> tuple[Array, float]:
    """Take one step of ``method`` and return the new point and step size."""
    if method == "steepest":
        return x - lr * g, lr

    n = x.shape[0]
    H = _evaluate(hessian, x, "Hessian", (n, n), step, xp)
    if method == "optimal-step":
        try:
            eta = to_float(optimal_step(g, H))
        except ValueError as error:
            raise ValueError(f"optimal-step failed at step {step}: {error}") from error
        return x - eta * g, eta

    try:
        _check_symmetric(H, _relative_tolerance(None, H, xp), xp)
    except ValueError as error:
        raise ValueError(f"newton failed at step {step}: {error}") from error
    smallest = to_float(xp.min(xp.linalg.eigvalsh(H)))
    if not smallest > 0:
        raise ValueError(
            f"newton failed at step {step}: the Hessian has eigenvalue "
            f"{smallest} <= 0, so it is not positive definite and the Newton "
            "step need not descend; use method='steepest' or 'optimal-step', "
            "or start closer to a minimum"
        )
    return newton(x, g, H), 1.0


def _autograd_gradient(f: Callable[[Array], Any]) -> Callable[[Array], Array]:
    def gradient(x: Array) -> Array:
        x_torch = _to_torch(x).requires_grad_(True)
        with torch.enable_grad():
            value = _torch_scalar(f(x_torch))
            (g,) = torch.autograd.grad(value, x_torch)
        return _like(g, x)

    return gradient


def _autograd_hessian(f: Callable[[Array], Any]) -> Callable[[Array], Array]:
    def hessian(x: Array) -> Array:
        def f_torch(t: torch.Tensor) -> torch.Tensor:
            return _torch_scalar(f(t))

        H = torch.autograd.functional.hessian(f_torch, _to_torch(x))
        return _like(H, x)

    return hessian


def _torch_scalar(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise TypeError(
            f"f must return a torch scalar, got {type(value).__name__}: without "
            "grad or hess, minimize calls f on a torch tensor for autograd"
        )
    return value.reshape(())


def _to_torch(x: Array) -> torch.Tensor:
    return x.detach() if is_torch(x) else torch.from_numpy(np.asarray(x))


def _like(t: torch.Tensor, x: Array) -> Array:
    """Return the torch result ``t`` as the array type of ``x``."""
    return t.detach() if is_torch(x) else t.detach().numpy()


def _detached(x: Array) -> Array:
    return x.detach() if is_torch(x) else x


def _finite_value(f: Callable[[Array], Any], x: Array, step: int) -> float:
    if is_torch(x):
        with torch.no_grad():
            result = f(x)
    else:
        result = f(x)
    shape = tuple(getattr(result, "shape", ()))
    if math.prod(shape) != 1:
        raise ValueError(f"f must return a scalar, got shape {shape}")
    value = to_float(result)
    if not math.isfinite(value):
        raise ValueError(
            f"minimize diverged at step {step}: f(x) = {value}; use a smaller "
            "lr, another method or another x0"
        )
    return value


def _evaluate(
    function: Callable[[Array], Array],
    x: Array,
    name: str,
    shape: tuple[int, ...],
    step: int,
    xp: Any,
) -> Array:
    """Call a derivative at ``x`` and check its kind, shape and finiteness."""
    result = function(x)
    if array_api_compat.is_array_api_obj(result) and is_torch(result) != is_torch(x):
        raise TypeError(
            f"{name} must return a {type(x).__name__} like x0, got "
            f"{type(result).__name__}"
        )
    result = xp.astype(as_float_array(result, name, xp), x.dtype)
    if tuple(result.shape) != shape:
        raise ValueError(f"{name} must return shape {shape}, got {tuple(result.shape)}")
    if not bool(xp.all(xp.isfinite(result))):
        raise ValueError(
            f"minimize diverged at step {step}: the {name} is not finite; use a "
            "smaller lr, another method or another x0"
        )
    return result


def _check_minimize_options(
    method: str, lr: float, max_steps: int, tol: float
) -> tuple[float, float]:
    """Check the options of ``minimize`` and return ``lr`` and ``tol`` as floats."""
    if method not in METHODS:
        raise ValueError(
            f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}"
        )
    lr = _check_positive(lr, "lr")
    is_integer = isinstance(max_steps, numbers.Integral) and not isinstance(
        max_steps, bool
    )
    if not is_integer or max_steps < 0:
        raise ValueError(f"max_steps must be a non-negative integer, got {max_steps!r}")
    tol = _real_number(tol, "tol")
    if not tol >= 0:
        raise ValueError(f"tol must be non-negative, got {tol}")
    return lr, tol


def _real_number(value: Any, name: str) -> float:
    """Return a real number or a zero-dimensional array as a Python float.

    A Python float cannot promote float32 arrays the way a NumPy float64 can.
    """
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (is_number or getattr(value, "ndim", None) == 0):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return to_float(value)


def _check_positive(value: float, name: str) -> float:
    value = _real_number(value, name)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value}")
    return value


def _vector(x: Array, name: str, xp: Any) -> Array:
    x = as_float_array(x, name, xp)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector, got shape {tuple(x.shape)}")
    check_not_empty(x, name)
    check_finite(x, name, xp)
    return x


def _point_and_gradient(w: Array, g: Array, xp: Any) -> tuple[Array, Array]:
    w = _vector(w, "w", xp)
    g = _vector(g, "g", xp)
    if g.shape != w.shape:
        raise ValueError(
            f"g must have the shape of w, {tuple(w.shape)}, got {tuple(g.shape)}"
        )
    return w, xp.astype(g, w.dtype)


def _square_matrix(H: Array, name: str, n: int, xp: Any, dtype: Any = None) -> Array:
    """Check that ``H`` is a finite (n, n) matrix and cast it to ``dtype``."""
    H = as_float_array(H, name, xp)
    if tuple(H.shape) != (n, n):
        raise ValueError(f"{name} must have shape ({n}, {n}), got {tuple(H.shape)}")
    check_finite(H, name, xp)
    return H if dtype is None else xp.astype(H, dtype)


def _solve(H: Array, b: Array, xp: Any) -> Array:
    """Solve ``H x = b``, raising ValueError when ``H`` is singular."""
    try:
        x = xp.linalg.solve(H, b)
    except (np.linalg.LinAlgError, torch.linalg.LinAlgError) as error:
        raise ValueError(
            f"H must be invertible, got a singular matrix: {error}"
        ) from error
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError(
            "H must be invertible, got a matrix that is numerically singular"
        )
    return x


def _relative_tolerance(tol: float | None, H: Array, xp: Any) -> float:
    if tol is None:
        return math.sqrt(xp.finfo(H.dtype).eps)
    tol = _real_number(tol, "tol")
    if not tol >= 0:
        raise ValueError(f"tol must be non-negative, got {tol}")
    return tol


def _check_symmetric(H: Array, tol: float, xp: Any) -> None:
    asymmetry = to_float(xp.max(xp.abs(H - H.T)))
    scale = to_float(xp.max(xp.abs(H)))
    if asymmetry > tol * scale:
        raise ValueError(
            f"H must be symmetric, got max |H - H^T| = {asymmetry} against "
            f"max |H| = {scale} (tol={tol})"
        )


def _as_array(x: Array, xp: Any) -> Array:
    """Turn a NumPy scalar, which NumPy reductions return, into a 0-d array."""
    return xp.asarray(x) if isinstance(x, np.generic) else x
