"""Input checks of the distances: vectors, row matrices, weights, p and covariances."""

from __future__ import annotations

import math
import numbers
from typing import Any

from array_api_compat import device

from foundations._array import (
    Array,
    as_float_array,
    check_finite,
    check_not_empty,
    namespace,
)


def _as_like(value: Any, name: str, like: Array, xp: Any) -> Array:
    """Convert a parameter to a floating array of the namespace and dtype of ``like``.

    Lists and numbers are created on the device of ``like``. An array of another
    namespace, such as a NumPy array next to a torch tensor, raises TypeError.
    """
    if isinstance(value, (list, tuple, int, float)):
        return xp.asarray(value, dtype=like.dtype, device=device(like))
    value = as_float_array(value, name)
    namespace(like, value)
    return xp.astype(value, like.dtype, copy=False)


def _at_least_float32(a: Array, xp: Any) -> Array:
    """Return a float16 or bfloat16 array in float32, and other arrays as they are.

    NumPy and torch on CPU have no linear algebra in half precision, and the
    squares of the Gram formula overflow float16 beyond 256, so those
    computations run in float32 and their results are rounded back.
    """
    if xp.finfo(a.dtype).bits >= 32:
        return a
    return xp.astype(a, xp.float32)


def _check_finite_nonempty(a: Array, name: str, xp: Any) -> None:
    check_not_empty(a, name)
    check_finite(a, name, xp)


def _vectors(x: Array, y: Array) -> tuple[Any, Array, Array]:
    """Validate two 1-D vectors of the same shape and promote them to one dtype."""
    x, y = as_float_array(x, "x"), as_float_array(y, "y")
    xp = namespace(x, y)
    for a, name in ((x, "x"), (y, "y")):
        if a.ndim != 1:
            raise ValueError(
                f"{name} must be a 1-D vector of shape (n,), got shape {tuple(a.shape)}"
            )
        _check_finite_nonempty(a, name, xp)
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same shape, got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    dtype = xp.result_type(x, y)
    return xp, xp.astype(x, dtype, copy=False), xp.astype(y, dtype, copy=False)


def _weights(w: Any, n: int, like: Array, xp: Any) -> Array | None:
    """Validate weights of shape ``(n,)``: finite, non-negative, not all zero."""
    if w is None:
        return None
    w = _as_like(w, "w", like, xp)
    if tuple(w.shape) != (n,):
        raise ValueError(
            f"w must have shape ({n},), one weight per feature, got shape "
            f"{tuple(w.shape)}"
        )
    check_finite(w, "w", xp)
    if bool(xp.any(w < 0)):
        index = int(xp.nonzero(w < 0)[0][0])
        raise ValueError(
            f"w must be non-negative, got {float(w[index])} at index {index}"
        )
    if not bool(xp.any(w > 0)):
        raise ValueError("w must have at least one positive entry, got all zeros")
    return w


def _check_p(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"p must be a real number, got {type(p).__name__}")
    if not p >= 1:  # also catches NaN
        raise ValueError(
            f"p must be >= 1, got {p}. For p < 1 the Minkowski formula is not a "
            "metric because the triangle inequality fails."
        )
    return float(p)


def _cholesky(matrix: Any, name: str, n: int, like: Array, xp: Any) -> Array:
    r"""Return the lower Cholesky factor $L$ of ``matrix`` $= L L^\top$.

    Raises ``ValueError`` unless ``matrix`` is an ``(n, n)`` finite symmetric
    positive-definite matrix. Symmetry is checked to $\sqrt{\epsilon}$ relative,
    so a numerically computed inverse passes, and the symmetric part is used.
    """
    S = _as_like(matrix, name, like, xp)
    if tuple(S.shape) != (n, n):
        raise ValueError(
            f"{name} must have shape ({n}, {n}), one row and column per feature, "
            f"got shape {tuple(S.shape)}"
        )
    check_finite(S, name, xp)
    eps = xp.finfo(S.dtype).eps

    # The checks compare arrays, so a torch S that requires grad converts to
    # float only for the message.
    scale, asymmetry = xp.max(xp.abs(S)), xp.max(xp.abs(S - S.T))
    if bool(asymmetry > math.sqrt(eps) * scale):
        raise ValueError(
            f"{name} must be symmetric, got max |S - S^T| = {float(asymmetry):.3g} "
            f"for max |S| = {float(scale):.3g}"
        )
    S = (S + S.T) / 2
    eigenvalues = xp.linalg.eigvalsh(S)  # ascending
    smallest, largest = eigenvalues[0], eigenvalues[-1]
    if bool(smallest <= n * eps * xp.abs(largest)):
        raise ValueError(
            f"{name} must be positive definite, got smallest eigenvalue "
            f"{float(smallest):.3g} (largest {float(largest):.3g}). A singular "
            "covariance, from fewer observations than features or from a constant "
            "or linearly dependent feature, has no inverse."
        )
    return xp.linalg.cholesky(S)
