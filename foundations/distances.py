r"""Distances and similarities between vectors, and between the rows of matrices.

The pair functions take two 1-D vectors $x, y$ of shape ``(n,)`` and return a
0-d array of their namespace: a NumPy ``ndarray`` or a torch tensor, so torch
autograd flows through the result. ``pairwise(X, Y)`` takes matrices of shape
``(m, n)`` and ``(k, n)`` and returns the ``(m, k)`` matrix of distances
between their rows, like ``scipy.spatial.distance.cdist``.

Every function agrees with ``scipy.spatial.distance`` (SciPy 1.17) to about
$10^{-10}$ relative in float64, weights ``w`` included. Cosine and correlation
distances near 0 agree to $10^{-13}$ absolute instead, because $1 - r$ cancels
there in both libraries.

There are two deliberate differences. First, degenerate input raises
``ValueError`` where SciPy returns NaN or a wrong number. Such input is a zero
vector for cosine, a constant vector for correlation, a singular covariance,
``p < 1``, NaN or infinity, empty or mismatched shapes, negative weights, or
weights that are all zero. Second, Minkowski, Euclidean and cosine rescale the
vectors first, so squares do not overflow or underflow. A distance larger than the
largest float of the dtype is inf, as in ``cdist``. ``mahalanobis`` and
``pairwise`` compute float16 and bfloat16 input in float32 and round the result
back.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
from array_api_compat import device, is_array_api_obj

from foundations._array import (
    Array,
    as_float_array,
    check_finite,
    check_not_empty,
    namespace,
    to_float,
)

__all__ = [
    "METRICS",
    "chebyshev",
    "cityblock",
    "correlation",
    "cosine_distance",
    "cosine_similarity",
    "euclidean",
    "mahalanobis",
    "minkowski",
    "pairwise",
    "pearson",
]

# Upper bound on the bytes of one temporary of the broadcasting metrics. Blocks
# of a few MiB stay in a typical L2 or L3 cache. On 2,000 x 2,000 rows of 64
# features, they ran cityblock about 3 times faster than 64 MiB blocks.
_BROADCAST_BYTES = 2 * 2**20
# Rows of the Gram matrix are processed in blocks of about this many bytes, so
# the elementwise steps after the matrix product run in cache.
_GRAM_BLOCK_BYTES = 2 * 2**20


# ---------------------------------------------------------------- input checks


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


# ----------------------------------------------------- reductions on the last axis


def _safe_root(total: Array, p: float, xp: Any) -> Array:
    """Return ``total ** (1/p)`` with a torch gradient of 0, not NaN, at 0."""
    root = xp.sqrt if p == 2 else (lambda t: t ** (1.0 / p))
    if not getattr(total, "requires_grad", False):
        return root(total)
    positive = total > 0
    return xp.where(positive, root(xp.where(positive, total, 1.0)), 0.0)


def _root_weights(w: Array | None, p: float, xp: Any) -> Array | None:
    r"""Return $w^{1/p}$, so that $\sum_i w_i |d_i|^p = \sum_i (w_i^{1/p}|d_i|)^p$."""
    if w is None:
        return None
    if p == math.inf:
        return xp.astype(w > 0, w.dtype)
    return w ** (1.0 / p)


def _p_norm(a: Array, p: float, xp: Any) -> Array:
    """Return the p-norm over the last axis of the non-negative array ``a``.

    ``a`` is divided by its maximum first, so ``a ** p`` cannot overflow or
    underflow to zero for representable distances. The norm is inf where ``a``
    contains inf.
    """
    if p == math.inf:
        return xp.max(a, axis=-1)
    m = xp.max(a, axis=-1, keepdims=True)
    # A difference that overflowed to inf leaves a unscaled, so the norm is inf
    # as in cdist, not inf / inf = NaN.
    scaled = a / xp.where((m > 0) & (m < math.inf), m, 1.0)
    return _safe_root(xp.sum(scaled**p, axis=-1), p, xp) * m[..., 0]


def _minkowski_last(d: Array, p: float, w: Array | None, xp: Any) -> Array:
    """Weighted Minkowski distance over the last axis of the differences ``d``."""
    a = xp.abs(d)
    root_w = _root_weights(w, p, xp)
    if root_w is not None:
        a = a * root_w
    if p == 1:
        return xp.sum(a, axis=-1)
    return _p_norm(a, p, xp)


def _cosine(
    u: Array, v: Array, w: Array | None, names: tuple[str, str], xp: Any
) -> Array:
    r"""Return $u^\top W v / \sqrt{u^\top W u \; v^\top W v}$ for 1-D $u, v$.

    Each vector is rescaled by its largest weighted entry first, so the dot
    products neither overflow nor underflow. The result is clipped to [-1, 1].
    """
    root_w = 1.0 if w is None else xp.sqrt(w)
    scaled = []
    for vector, name in zip((u, v), names, strict=True):
        b = vector * root_w
        m = xp.max(xp.abs(b))
        if not bool(m > 0):
            where = "" if w is None else " on the entries with positive weight"
            raise ValueError(
                f"{name} must not be the zero vector{where}: cosine similarity "
                "divides by its norm, which is 0"
            )
        scaled.append(b / m)
    bu, bv = scaled
    r = xp.sum(bu * bv) / xp.sqrt(xp.sum(bu * bu) * xp.sum(bv * bv))
    return xp.clip(r, min=-1.0, max=1.0)


def _check_not_constant(a: Array, w: Array | None, name: str, xp: Any) -> None:
    selected = a if w is None else a[w > 0]
    if bool(xp.max(selected) == xp.min(selected)):
        where = "" if w is None else " with positive weight"
        raise ValueError(
            f"{name} must not be constant, got every entry{where} equal to "
            f"{float(selected[0])}: Pearson's r divides by the standard "
            "deviation, which is 0"
        )


def _weighted_mean(a: Array, w: Array | None, xp: Any) -> Array:
    """Mean over the last axis, weighted by ``w`` when given."""
    if w is None:
        return xp.mean(a, axis=-1, keepdims=True)
    return xp.sum(a * w, axis=-1, keepdims=True) / xp.sum(w)


def _result(value: Array) -> Array:
    """Return NumPy scalars, which NumPy reductions give, as 0-d arrays."""
    return np.asarray(value) if isinstance(value, np.generic) else value


# ------------------------------------------------------------- pair functions


def minkowski(x: Array, y: Array, p: float = 2.0, w: Array | None = None) -> Array:
    r"""Minkowski distance of order $p \ge 1$.

    $$
    d_p(x, y) = \|x - y\|_p = \Big(\sum_{i=1}^{n} w_i\,|x_i - y_i|^p\Big)^{1/p},
    $$

    with $w_i = 1$ by default and the limit $\max_{i: w_i > 0} |x_i - y_i|$ at
    $p = \infty$. In the course, $p = 1$ is the city block distance and $p = 2$
    the Euclidean one. Fits best when choosing how much one large coordinate
    difference should dominate many small ones (larger $p$, more dominance).

    Parameters
    ----------
    x, y : array of shape (n,)
        The two vectors.
    p : float, default 2.0
        Order $p$, at least 1, or ``math.inf``.
    w : array of shape (n,), optional
        Non-negative weights $w_i$, as in ``scipy.spatial.distance.minkowski``.

    Returns
    -------
    0-d array of the namespace of ``x``.

    Raises
    ------
    ValueError
        If ``p < 1``: the formula then breaks the triangle inequality, so it is
        not a metric. Also for the invalid inputs listed in the module notes.

    Examples
    --------
    >>> float(minkowski([0, 0], [3, 4], p=1))
    7.0
    >>> float(minkowski([0, 0], [3, 4], p=2))
    5.0
    """
    p = _check_p(p)
    xp, x, y = _vectors(x, y)
    w = _weights(w, x.shape[0], x, xp)
    return _result(_minkowski_last(x - y, p, w, xp))


def euclidean(x: Array, y: Array, w: Array | None = None) -> Array:
    r"""Euclidean distance, the Minkowski distance with $p = 2$.

    $$
    d(x, y) = \|x - y\|_2 = \sqrt{\sum_{i=1}^{n} w_i\,(x_i - y_i)^2}.
    $$

    Fits best for clustering and nearest neighbours in low dimension, on
    features measured in the same unit and scale.

    Parameters
    ----------
    x, y : array of shape (n,)
        The two vectors.
    w : array of shape (n,), optional
        Non-negative weights $w_i$ (default 1).

    Returns
    -------
    0-d array of the namespace of ``x``. Its torch gradient is 0 where
    $x = y$, not NaN.

    Examples
    --------
    >>> float(euclidean([0, 0], [3, 4]))
    5.0
    >>> float(euclidean([0, 0], [3, 4], w=[1, 0]))
    3.0
    """
    return minkowski(x, y, 2.0, w)


def cityblock(x: Array, y: Array, w: Array | None = None) -> Array:
    r"""City block (Manhattan) distance, the Minkowski distance with $p = 1$.

    $$
    d(x, y) = \|x - y\|_1 = \sum_{i=1}^{n} w_i\,|x_i - y_i|.
    $$

    Fits best on grid-like or high-dimensional data, where it is less driven
    by a single large difference than the Euclidean distance.

    Parameters
    ----------
    x, y : array of shape (n,)
        The two vectors.
    w : array of shape (n,), optional
        Non-negative weights $w_i$ (default 1).

    Returns
    -------
    0-d array of the namespace of ``x``.

    Examples
    --------
    >>> float(cityblock([0, 0], [3, 4]))
    7.0
    """
    return minkowski(x, y, 1.0, w)


def chebyshev(x: Array, y: Array, w: Array | None = None) -> Array:
    r"""Chebyshev distance, the limit $p \to \infty$ of the Minkowski distance.

    $$
    d(x, y) = \|x - y\|_\infty = \max_{i:\, w_i > 0} |x_i - y_i|.
    $$

    As in SciPy, a weight only selects a coordinate (when $w_i > 0$) and does
    not scale it. Fits best when the worst single coordinate matters, as in
    tolerances or the moves of a king on a chessboard.

    Parameters
    ----------
    x, y : array of shape (n,)
        The two vectors.
    w : array of shape (n,), optional
        Non-negative weights; coordinates with $w_i = 0$ are ignored.

    Returns
    -------
    0-d array of the namespace of ``x``.

    Examples
    --------
    >>> float(chebyshev([0, 0], [3, 4]))
    4.0
    """
    return minkowski(x, y, math.inf, w)


def mahalanobis(
    x: Array, y: Array, cov: Array | None = None, inv_cov: Array | None = None
) -> Array:
    r"""Mahalanobis distance under the covariance matrix $S$.

    $$
    d(x, y) = \sqrt{(x - y)^\top S^{-1} (x - y)} = \|L^{-1}(x - y)\|_2,
    \qquad S = L L^\top,
    $$

    in the course notation, with $S$ the covariance matrix of the data. Fits
    best for correlated features on different scales: it is the Euclidean
    distance after whitening the data.

    Parameters
    ----------
    x, y : array of shape (n,)
        The two vectors.
    cov : array of shape (n, n), optional
        The covariance $S$. The distance solves $L z = x - y$ with its
        Cholesky factor $L$; it never forms $S^{-1}$.
    inv_cov : array of shape (n, n), optional
        The inverse $S^{-1}$ (SciPy's ``VI``). With its Cholesky factor
        $S^{-1} = M M^\top$, the distance is $\|M^\top (x - y)\|_2$.

    Returns
    -------
    0-d array of the namespace of ``x``.

    Raises
    ------
    ValueError
        Unless exactly one of ``cov`` and ``inv_cov`` is given, or if it is
        not symmetric positive definite (checked by its eigenvalues).

    Examples
    --------
    >>> float(mahalanobis([2, 1], [0, 1], cov=[[4, 0], [0, 1]]))
    1.0
    >>> float(mahalanobis([2, 1], [0, 1], inv_cov=[[0.25, 0], [0, 1]]))
    1.0
    """
    xp, x, y = _vectors(x, y)
    dtype = x.dtype
    x, y = _at_least_float32(x, xp), _at_least_float32(y, xp)
    n = x.shape[0]
    if (cov is None) == (inv_cov is None):
        got = "neither" if cov is None else "both"
        raise ValueError(f"mahalanobis needs exactly one of cov and inv_cov, got {got}")
    if cov is not None:
        L = _cholesky(cov, "cov", n, x, xp)
        z = xp.linalg.solve(L, x - y)
    else:
        M = _cholesky(inv_cov, "inv_cov", n, x, xp)
        z = (x - y) @ M
    return _result(xp.astype(_p_norm(xp.abs(z), 2.0, xp), dtype, copy=False))


def cosine_similarity(x: Array, y: Array, w: Array | None = None) -> Array:
    r"""Cosine of the angle between $x$ and $y$.

    $$
    \cos(x, y) = \frac{\sum_i w_i x_i y_i}
    {\sqrt{\sum_i w_i x_i^2}\,\sqrt{\sum_i w_i y_i^2}} \in [-1, 1].
    $$

    Fits best for text and recommendation vectors (word counts, embeddings,
    ratings), where the direction matters and the length does not.

    Parameters
    ----------
    x, y : array of shape (n,)
        The two vectors; neither may be the zero vector.
    w : array of shape (n,), optional
        Non-negative weights $w_i$ of the inner product (default 1).

    Returns
    -------
    0-d array of the namespace of ``x``, clipped to [-1, 1].

    Examples
    --------
    >>> float(cosine_similarity([1, 0], [0, 2]))
    0.0
    >>> round(float(cosine_similarity([1, 0], [1, 1])), 4)
    0.7071
    """
    xp, x, y = _vectors(x, y)
    w = _weights(w, x.shape[0], x, xp)
    return _result(_cosine(x, y, w, ("x", "y"), xp))


def cosine_distance(x: Array, y: Array, w: Array | None = None) -> Array:
    r"""Cosine distance $1 - \cos(x, y)$, SciPy's ``cosine``.

    $$
    d(x, y) = 1 - \frac{x \cdot y}{\|x\|_2\,\|y\|_2} \in [0, 2].
    $$

    Fits best for text and recommendation vectors. It is not a metric: the
    triangle inequality can fail.

    Parameters
    ----------
    x, y : array of shape (n,)
        The two vectors; neither may be the zero vector.
    w : array of shape (n,), optional
        Non-negative weights of the inner product (default 1).

    Returns
    -------
    0-d array of the namespace of ``x``.

    Examples
    --------
    >>> float(cosine_distance([1, 0], [0, 2]))
    1.0
    >>> float(cosine_distance([1, 1], [-3, -3]))
    2.0
    """
    return _result(1.0 - cosine_similarity(x, y, w))


def pearson(x: Array, y: Array, w: Array | None = None) -> Array:
    r"""Pearson correlation coefficient $r_{xy}$.

    In the course notation, with $z$ the values standardised by the mean and
    the population standard deviation ($\sigma^2 = \frac{1}{N}\sum (x_i -
    \bar x)^2$):

    $$
    r_{xy} = \frac{1}{N} \sum_{i=1}^{N} z_{x,i}\, z_{y,i}
    = \frac{\sum_i (x_i - \bar x)(y_i - \bar y)}
    {\sqrt{\sum_i (x_i - \bar x)^2}\,\sqrt{\sum_i (y_i - \bar y)^2}},
    $$

    the cosine of the centred vectors. With weights, the means and sums are
    weighted, as in SciPy's ``correlation``. Fits best for comparing profiles
    or trends regardless of their offset and scale (ratings of two users,
    gene expression, time series).

    Parameters
    ----------
    x, y : array of shape (n,)
        The two vectors; neither may be constant.
    w : array of shape (n,), optional
        Non-negative weights $w_i$ of the observations (default 1).

    Returns
    -------
    0-d array of the namespace of ``x``, clipped to [-1, 1].

    Examples
    --------
    >>> float(pearson([1, 2, 3], [2, 4, 6]))
    1.0
    >>> float(pearson([1, 2, 3], [3, 2, 1]))
    -1.0
    """
    xp, x, y = _vectors(x, y)
    w = _weights(w, x.shape[0], x, xp)
    _check_not_constant(x, w, "x", xp)
    _check_not_constant(y, w, "y", xp)
    x_centred = x - _weighted_mean(x, w, xp)
    y_centred = y - _weighted_mean(y, w, xp)
    return _result(_cosine(x_centred, y_centred, w, ("x", "y"), xp))


def correlation(x: Array, y: Array, w: Array | None = None) -> Array:
    r"""Correlation distance $1 - r_{xy}$, SciPy's ``correlation``.

    $$
    d(x, y) = 1 - r_{xy} \in [0, 2],
    $$

    with $r_{xy}$ the Pearson coefficient of :func:`pearson`. Fits best for
    clustering profiles by shape (gene expression, user ratings). It is not a
    metric: the triangle inequality can fail.

    Parameters
    ----------
    x, y : array of shape (n,)
        The two vectors; neither may be constant.
    w : array of shape (n,), optional
        Non-negative weights of the observations (default 1).

    Returns
    -------
    0-d array of the namespace of ``x``.

    Examples
    --------
    >>> float(correlation([1, 2, 3], [3, 2, 1]))
    2.0
    """
    return _result(1.0 - pearson(x, y, w))


# ------------------------------------------------------------------- pairwise


def _matrices(X: Array, Y: Array | None) -> tuple[Any, Array, Array]:
    """Validate the row matrices of ``pairwise``, using ``X`` when ``Y`` is None."""
    X = as_float_array(X, "X")
    Y = X if Y is None else as_float_array(Y, "Y")
    xp = namespace(X, Y)
    for a, name in ((X, "X"), (Y, "Y")):
        if a.ndim != 2:
            raise ValueError(
                f"{name} must be a 2-D array of shape (rows, features), got shape "
                f"{tuple(a.shape)}"
            )
        _check_finite_nonempty(a, name, xp)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            "X and Y must have the same number of columns (features), got X of "
            f"shape {tuple(X.shape)} and Y of shape {tuple(Y.shape)}"
        )
    dtype = xp.result_type(X, Y)
    return xp, xp.astype(X, dtype, copy=False), xp.astype(Y, dtype, copy=False)


def _refinement_threshold(n: int, dtype: Any, xp: Any) -> float:
    r"""Return the threshold $\rho$ below which Gram entries are recomputed.

    An entry with $d^2 \le \rho\,(\|a\|^2 + \|b\|^2)$ is recomputed from the
    differences. In $n$ features, the Gram formula
    $\|a\|^2 + \|b\|^2 - 2 a \cdot b$ has an absolute rounding error of at
    most about $2 (n + 2) \epsilon (\|a\|^2 + \|b\|^2)$. So an entry that is
    kept has a relative error in $d$ of at most $(n + 2) \epsilon / \rho$.
    With $\rho = \min(0.1, (n + 2)\,\epsilon^{1/3})$ that bound is
    $\max(\epsilon^{2/3}, 10 (n + 2) \epsilon)$, which is $3.7 \cdot 10^{-11}$
    in float64 up to about 16,000 features.
    """
    eps = xp.finfo(dtype).eps
    return min(0.1, (n + 2) * eps ** (1.0 / 3.0))


def _pair_chunks(
    rows: Array, cols: Array, n: int, itemsize: int, f: Callable, xp: Any
) -> Array:
    """Apply ``f(rows, cols)`` to chunks of index pairs with bounded memory."""
    size = max(1, _BROADCAST_BYTES // (n * itemsize))
    parts = [
        f(rows[start : start + size], cols[start : start + size])
        for start in range(0, rows.shape[0], size)
    ]
    return xp.concat(parts, axis=0)


def _gram_distances(
    A: Array, B: Array, exact: Callable, squared: bool, xp: Any, scale: float = 1.0
) -> Array:
    r"""Euclidean distances between the rows of ``A`` and ``B`` by the Gram matrix.

    $d_{ij}^2 = \|a_i\|^2 + \|b_j\|^2 - 2\, a_i \cdot b_j$, computed by row
    blocks. Entries at risk of cancellation (see ``_refinement_threshold``) are
    replaced by ``exact(rows, cols)``, the squared distances computed from the
    differences, and the rest is clipped at 0. The distances are multiplied by
    ``scale``, the factor that ``_scaled_rows`` divided the rows by.
    """
    m, k, n = A.shape[0], B.shape[0], A.shape[1]
    norms_a = xp.sum(A * A, axis=1)
    norms_b = xp.sum(B * B, axis=1)
    rho = _refinement_threshold(n, A.dtype, xp)
    max_b = xp.max(norms_b)
    minus_two_b = -2.0 * B.T  # (features, k). Multiplying by -2 is exact.
    block = max(1, _GRAM_BLOCK_BYTES // (k * A.dtype.itemsize))
    # Blocks are written into one output because, in a trial with torch 2.13 on
    # one thread, torch.cat of 16 blocks took 1.5 to 3 times as long.
    out = xp.empty((m, k), dtype=A.dtype, device=device(A))
    for start in range(0, m, block):
        na = norms_a[start : start + block]
        d2 = A[start : start + block] @ minus_two_b  # (block, k)
        d2 += na[:, None]
        d2 += norms_b[None, :]

        # A bound per row first, because comparing with one number is cheap.
        candidates = d2 <= rho * (na[:, None] + max_b)
        if bool(xp.any(candidates)):
            rows, cols = xp.nonzero(candidates)
            keep = d2[rows, cols] <= rho * (na[rows] + norms_b[cols])
            rows, cols = rows[keep], cols[keep]
            if rows.shape[0] > 0:
                d2[rows, cols] = exact(rows + start, cols)

        d2 = xp.clip(d2, min=0.0)
        d = d2 if squared else _safe_root(d2, 2.0, xp)
        if scale != 1.0:
            # Two products for d^2, because scale**2 may overflow where the
            # distance does not.
            d = d * scale * scale if squared else d * scale
        out[start : start + block] = d
    return out


def _scaled_rows(X: Array, Y: Array, xp: Any) -> tuple[Array, Array, float]:
    r"""Divide ``X`` and ``Y`` by a power of two $s$ if their magnitude is extreme.

    Returns the rows and $s$. The rows are left as they are ($s = 1$) when their
    largest magnitude is within $2^{\pm L}$, with $L$ a quarter of the dtype's
    largest binary exponent (256 in float64, 32 in float32), because the squares
    of the Gram formula then neither overflow nor lose precision to underflow.
    Otherwise $s$ brings the largest magnitude into [1, 2); dividing by a power
    of two is exact. ``Y is X`` stays true when it was.
    """
    largest = to_float(xp.max(xp.abs(X)))
    if Y is not X:
        largest = max(largest, to_float(xp.max(xp.abs(Y))))
    exponent = math.frexp(largest)[1] - 1  # 2^exponent <= largest < 2^(exponent+1)
    limit = math.frexp(float(xp.finfo(X.dtype).max))[1] // 4
    if largest == 0 or abs(exponent) <= limit:
        return X, Y, 1.0
    scale = math.ldexp(1.0, exponent)
    X_scaled = X / scale
    return X_scaled, X_scaled if Y is X else Y / scale, scale


def _pairwise_euclidean(
    X: Array, Y: Array, xp: Any, w: Any = None, squared: bool = False
) -> Array:
    w = _weights(w, X.shape[1], X, xp)
    X, Y, scale = _scaled_rows(X, Y, xp)
    mean = _stacked_mean(X, Y, xp)
    root_w = 1.0 if w is None else xp.sqrt(w)
    weights = 1.0 if w is None else w

    def exact(rows: Array, cols: Array) -> Array:
        def f(r: Array, c: Array) -> Array:
            return xp.sum(weights * (X[r] - Y[c]) ** 2, axis=1)

        return _pair_chunks(rows, cols, X.shape[1], X.dtype.itemsize, f, xp)

    # Centring by a common mean changes no distance but shrinks the norms, and
    # so the cancellation. The weights are applied after centring, so the
    # rounding of each entry is relative to its centred value.
    A = (X - mean) * root_w
    B = A if Y is X else (Y - mean) * root_w
    return _gram_distances(A, B, exact, squared, xp, scale)


def _stacked_mean(X: Array, Y: Array, xp: Any) -> Array:
    total = xp.sum(X, axis=0) + (0.0 if Y is X else xp.sum(Y, axis=0))
    count = X.shape[0] + (0 if Y is X else Y.shape[0])
    return total / count


def _pairwise_sqeuclidean(X: Array, Y: Array, xp: Any, w: Any = None) -> Array:
    return _pairwise_euclidean(X, Y, xp, w, squared=True)


def _estimated_cov(X: Array, Y: Array | None, xp: Any) -> Array:
    """Sample covariance (divisor N - 1) of the rows of X, stacked on Y's if given."""
    Z = X if Y is None else xp.concat([X, Y], axis=0)
    count, n = Z.shape
    if count <= n:
        raise ValueError(
            f"mahalanobis needs more rows than features to estimate the "
            f"covariance, got {count} rows of {n} features; pass cov or VI"
        )
    Z = Z - xp.mean(Z, axis=0)
    return Z.T @ Z / (count - 1)


def _pairwise_mahalanobis(
    X: Array, Y: Array, xp: Any, VI: Any = None, cov: Any = None
) -> Array:
    n = X.shape[1]
    if VI is not None and cov is not None:
        raise ValueError("mahalanobis needs at most one of VI and cov, got both")
    if VI is not None:
        M = _cholesky(VI, "VI", n, X, xp)

        def whiten(D: Array) -> Array:  # D: (rows, features)
            return D @ M

    else:
        assert cov is not None, "pairwise estimates cov when neither is given"
        L = _cholesky(cov, "cov", n, X, xp)

        def whiten(D: Array) -> Array:
            return xp.linalg.solve(L, D.T).T

    def exact(rows: Array, cols: Array) -> Array:
        def f(r: Array, c: Array) -> Array:
            return xp.sum(whiten(X[r] - Y[c]) ** 2, axis=1)

        return _pair_chunks(rows, cols, n, X.dtype.itemsize, f, xp)

    # With S = L L^T the distance is Euclidean between whitened rows L^{-1} x.
    # NOTE: whitening rounds with an error of about cond(L) eps relative to the
    # whitened norms, which the refinement threshold leaves out, so the 1e-10
    # agreement with cdist is only tested for well-conditioned covariances.
    # Whitening is linear, so the rows are scaled before it and the distances
    # after it.
    X, Y, scale = _scaled_rows(X, Y, xp)
    mean = _stacked_mean(X, Y, xp)
    A = whiten(X - mean)
    B = A if Y is X else whiten(Y - mean)
    return _gram_distances(A, B, exact, False, xp, scale)


def _unit_rows(A: Array, w: Array | None, name: str, xp: Any) -> Array:
    """Scale each row of ``A`` (times sqrt(w)) to unit Euclidean norm."""
    B = A if w is None else A * xp.sqrt(w)
    m = xp.max(xp.abs(B), axis=1, keepdims=True)
    if bool(xp.any(m == 0)):
        row = int(xp.nonzero(m[:, 0] == 0)[0][0])
        raise ValueError(
            f"{name} row {row} must not be the zero vector: cosine similarity "
            "divides by its norm, which is 0"
        )
    B = B / m  # rescaled first so the squares neither overflow nor underflow
    return B / xp.sqrt(xp.sum(B * B, axis=1, keepdims=True))


def _pairwise_cosine(X: Array, Y: Array, xp: Any, w: Any = None) -> Array:
    w = _weights(w, X.shape[1], X, xp)
    U = _unit_rows(X, w, "X", xp)
    V = U if Y is X else _unit_rows(Y, w, "Y", xp)
    D = 1.0 - xp.clip(U @ V.T, min=-1.0, max=1.0)
    if Y is X:
        index = xp.arange(X.shape[0], device=device(X))
        D[index, index] = 0.0  # 1 - cos(x, x) is 0 but may round to 1e-16
    return D


def _pairwise_correlation(X: Array, Y: Array, xp: Any, w: Any = None) -> Array:
    w = _weights(w, X.shape[1], X, xp)
    for A, name in ((X, "X"), (Y, "Y")):
        selected = A if w is None else A[:, w > 0]
        constant = xp.max(selected, axis=1) == xp.min(selected, axis=1)
        if bool(xp.any(constant)):
            row = int(xp.nonzero(constant)[0][0])
            raise ValueError(
                f"{name} row {row} must not be constant, got every entry equal "
                f"to {float(selected[row, 0])}: Pearson's r divides by the "
                "standard deviation, which is 0"
            )
    X_centred = X - _weighted_mean(X, w, xp)
    Y_centred = X_centred if Y is X else Y - _weighted_mean(Y, w, xp)
    return _pairwise_cosine(X_centred, Y_centred, xp, w)


def _pairwise_broadcast(X: Array, Y: Array, reduce: Callable, xp: Any) -> Array:
    """Apply ``reduce`` to the differences of all row pairs, block by block.

    Each block of differences, of shape (rows, cols, features), fits in
    ``_BROADCAST_BYTES`` unless a single row of features is larger.
    """
    (m, n), k = X.shape, Y.shape[0]
    row_bytes = n * X.dtype.itemsize
    cols = max(1, min(k, _BROADCAST_BYTES // row_bytes))
    rows = max(1, _BROADCAST_BYTES // (cols * row_bytes))
    out = xp.empty((m, k), dtype=X.dtype, device=device(X))
    for i in range(0, m, rows):
        X_block = X[i : i + rows, None, :]
        for j in range(0, k, cols):
            out[i : i + rows, j : j + cols] = reduce(X_block - Y[None, j : j + cols, :])
    return out


def _pairwise_minkowski(
    X: Array, Y: Array, xp: Any, p: float = 2.0, w: Any = None
) -> Array:
    p = _check_p(p)
    if p == 2:
        return _pairwise_euclidean(X, Y, xp, w)
    w = _weights(w, X.shape[1], X, xp)
    return _pairwise_broadcast(X, Y, lambda D: _minkowski_last(D, p, w, xp), xp)


def _pairwise_cityblock(X: Array, Y: Array, xp: Any, w: Any = None) -> Array:
    return _pairwise_minkowski(X, Y, xp, 1.0, w)


def _pairwise_chebyshev(X: Array, Y: Array, xp: Any, w: Any = None) -> Array:
    return _pairwise_minkowski(X, Y, xp, math.inf, w)


# metric name -> (implementation, its keyword parameters), SciPy's cdist names
_PAIRWISE: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "euclidean": (_pairwise_euclidean, ("w",)),
    "sqeuclidean": (_pairwise_sqeuclidean, ("w",)),
    "minkowski": (_pairwise_minkowski, ("p", "w")),
    "cityblock": (_pairwise_cityblock, ("w",)),
    "chebyshev": (_pairwise_chebyshev, ("w",)),
    "mahalanobis": (_pairwise_mahalanobis, ("VI", "cov")),
    "correlation": (_pairwise_correlation, ("w",)),
    "cosine": (_pairwise_cosine, ("w",)),
}
METRICS: tuple[str, ...] = tuple(_PAIRWISE)


def _metric_value(value: Any, i: int, j: int, X: Array, xp: Any) -> Array:
    """Convert the value of a callable metric on rows ``i, j`` to a 0-d array."""
    where = f"metric(X[{i}], Y[{j}])"
    if not (isinstance(value, numbers.Real) or is_array_api_obj(value)):
        raise TypeError(
            f"{where} must return a number or a 0-d array, got {type(value).__name__}"
        )
    value = _as_like(value, where, X, xp)
    if value.ndim != 0:
        raise ValueError(
            f"{where} must return a scalar, got shape {tuple(value.shape)}"
        )
    return value


def _pairwise_callable(X: Array, Y: Array, metric: Callable, xp: Any, **params):
    rows = []
    for i, x in enumerate(X):
        values = [metric(x, y, **params) for y in Y]
        rows.append(
            xp.stack([_metric_value(v, i, j, X, xp) for j, v in enumerate(values)])
        )
    D = xp.stack(rows)
    nan = xp.isnan(D)
    if bool(xp.any(nan)):
        i, j = (int(index[0]) for index in xp.nonzero(nan))
        raise ValueError(f"metric(X[{i}], Y[{j}]) returned nan, not a distance")
    return D


def pairwise(
    X: Array,
    Y: Array | None = None,
    metric: str | Callable[..., Any] = "euclidean",
    **params: Any,
) -> Array:
    r"""Distances between every row of ``X`` and every row of ``Y``.

    $$
    D_{ij} = d(x_i, y_j), \qquad X \in \mathbb{R}^{m \times n},\;
    Y \in \mathbb{R}^{k \times n},\; D \in \mathbb{R}^{m \times k},
    $$

    like ``scipy.spatial.distance.cdist(X, Y, metric, **params)``. Fits best
    for nearest-neighbour search, clustering and kernel matrices.

    Parameters
    ----------
    X : array of shape (m, n)
        One observation per row.
    Y : array of shape (k, n), optional
        Defaults to ``X``. The diagonal of ``pairwise(X)`` is then exactly 0.
    metric : str or callable, default "euclidean"
        One of :data:`METRICS` ("euclidean", "sqeuclidean", "minkowski",
        "cityblock", "chebyshev", "mahalanobis", "correlation", "cosine"), or
        a function ``metric(x, y, **params)`` of two rows, called per pair,
        that returns a number or a 0-d array.
    **params
        ``w`` (weights) for all but "mahalanobis"; ``p`` for "minkowski";
        ``VI`` (SciPy's inverse covariance) or ``cov`` for "mahalanobis".
        Without either, the covariance is estimated, as SciPy does, from the
        rows of ``X`` stacked on those of ``Y`` (from ``X`` alone when ``Y`` is
        None, as ``pdist`` does), with divisor N - 1.

    Returns
    -------
    array of shape (m, k), of the namespace and dtype of ``X``.

    Raises
    ------
    ValueError
        If ``metric`` is unknown, for the invalid inputs of the pair functions,
        when the covariance estimate is singular, and when a callable
        ``metric`` returns an array that is not 0-d, or NaN.
    TypeError
        If ``metric`` is neither a string nor a callable, or ``params``
        contains a parameter that ``metric`` does not take.

    Notes
    -----
    "euclidean", "sqeuclidean" and "mahalanobis" use the Gram matrix after
    centring the rows by their common mean. Rows with magnitudes beyond
    $2^{\pm 256}$ in float64 ($2^{\pm 32}$ in float32) are first divided by a
    power of two, so the squares do not overflow or underflow. Entries small
    enough for the cancellation to matter are recomputed from the differences,
    so in float64 every entry agrees with ``cdist`` to about $10^{-10}$
    relative, even for rows like $10^8 + \text{noise}$. "cosine" and
    "correlation" are one matrix product of normalised rows and agree to
    $10^{-10}$ relative or $10^{-13}$ absolute, because $1 - r$ cancels near
    $r = 1$ in both.
    "minkowski", "cityblock" and "chebyshev" broadcast the differences in
    blocks of at most 2 MiB.

    Examples
    --------
    >>> pairwise([[0, 0], [3, 4]]).tolist()
    [[0.0, 5.0], [5.0, 0.0]]
    >>> pairwise([[0, 0]], [[3, 4], [1, 1]], metric="cityblock").tolist()
    [[7.0, 2.0]]
    """
    xp, X_checked, Y_checked = _matrices(X, Y)
    Y_checked = X_checked if Y is None else Y_checked
    if callable(metric):
        return _pairwise_callable(X_checked, Y_checked, metric, xp, **params)
    if not isinstance(metric, str):
        raise TypeError(
            f"metric must be a string or a callable, got {type(metric).__name__}"
        )
    if metric not in _PAIRWISE:
        raise ValueError(
            f"metric must be one of {', '.join(METRICS)} or a callable, got {metric!r}"
        )
    implementation, accepted = _PAIRWISE[metric]
    dtype, same = X_checked.dtype, Y_checked is X_checked
    X_checked = _at_least_float32(X_checked, xp)
    Y_checked = X_checked if same else _at_least_float32(Y_checked, xp)
    unexpected = sorted(set(params) - set(accepted))
    if unexpected:
        raise TypeError(
            f"metric {metric!r} takes the parameters {', '.join(accepted)}, "
            f"got unexpected {', '.join(unexpected)}"
        )
    if (
        metric == "mahalanobis"
        and params.get("VI") is None
        and params.get("cov") is None
    ):
        # Scaling the rows scales their covariance by the square and leaves the
        # distances as they are, so the estimate from scaled rows cannot overflow.
        X_checked, Y_checked, _ = _scaled_rows(X_checked, Y_checked, xp)
        params["cov"] = _estimated_cov(X_checked, None if Y is None else Y_checked, xp)
    D = implementation(X_checked, Y_checked, xp, **params)
    return xp.astype(D, dtype, copy=False)
