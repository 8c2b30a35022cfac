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

# The API page lists the functions in the order of these imports, the course's.
from foundations.distances._pair import (  # noqa: I001
    minkowski,
    euclidean,
    cityblock,
    chebyshev,
    mahalanobis,
    cosine_similarity,
    cosine_distance,
    pearson,
    correlation,
)
from foundations.distances._pairwise import METRICS, pairwise

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
