"""Euclidean and Mahalanobis distances between rows by the Gram matrix."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from array_api_compat import device

from foundations._array import Array, to_float
from foundations.distances._blocks import _pair_chunks
from foundations.distances._checks import _cholesky, _weights
from foundations.distances._reductions import _safe_root

# Rows of the Gram matrix are processed in blocks of about this many bytes, so
# the elementwise steps after the matrix product run in cache.
_GRAM_BLOCK_BYTES = 2 * 2**20


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
