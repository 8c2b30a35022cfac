"""Distances and similarities between two vectors $x, y$ of shape ``(n,)``."""

from __future__ import annotations

import math

from foundations._array import Array
from foundations.distances._checks import (
    _at_least_float32,
    _check_p,
    _cholesky,
    _vectors,
    _weights,
)
from foundations.distances._reductions import (
    _check_not_constant,
    _cosine,
    _minkowski_last,
    _p_norm,
    _result,
    _weighted_mean,
)


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
