"""Distances between every row of ``X`` and every row of ``Y``, like ``cdist``."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from array_api_compat import device, is_array_api_obj

from foundations._array import Array, as_float_array, namespace
from foundations.distances._blocks import _pairwise_broadcast
from foundations.distances._checks import (
    _as_like,
    _at_least_float32,
    _check_finite_nonempty,
    _check_p,
    _weights,
)
from foundations.distances._gram import (
    _estimated_cov,
    _pairwise_euclidean,
    _pairwise_mahalanobis,
    _pairwise_sqeuclidean,
    _scaled_rows,
)
from foundations.distances._reductions import _minkowski_last, _weighted_mean


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
    array of shape (m, k), of the namespace of ``X`` and the dtype that ``X``
    and ``Y`` promote to.

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
