"""Distances against scipy.spatial.distance, metric axioms and input checks.

Tolerances, float64: 1e-10 relative everywhere. Cosine and correlation also
get 1e-13 absolute, because 1 - r cancels near r = 1 in SciPy and here alike,
leaving an absolute error of a few units of 1e-16.
"""

import doctest
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial import distance as sd
from scipy.spatial.distance import cdist, pdist, squareform

from foundations.distances import (
    METRICS,
    _blocks,
    _gram,
    _pair,
    _pairwise,
    chebyshev,
    cityblock,
    correlation,
    cosine_distance,
    cosine_similarity,
    euclidean,
    mahalanobis,
    minkowski,
    pairwise,
    pearson,
)

RTOL = 1e-10
ATOL_COSINE = 1e-13
EXAMPLES = settings(max_examples=25, deadline=None)

CONVERTERS = {
    "numpy": lambda a: np.asarray(a, dtype=np.float64),
    "torch": lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64)),
}
converters = pytest.mark.parametrize(
    "to_array", CONVERTERS.values(), ids=CONVERTERS.keys()
)


def to_numpy(a):
    return a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


# name -> (ours, SciPy's, absolute tolerance, degenerate input to skip)
PAIR_METRICS = {
    "euclidean": (euclidean, sd.euclidean, 0.0, None),
    "cityblock": (cityblock, sd.cityblock, 0.0, None),
    "chebyshev": (chebyshev, sd.chebyshev, 0.0, None),
    "minkowski_1.5": (
        lambda x, y, w=None: minkowski(x, y, 1.5, w),
        lambda x, y, w=None: sd.minkowski(x, y, 1.5, w),
        0.0,
        None,
    ),
    "minkowski_3": (
        lambda x, y, w=None: minkowski(x, y, 3, w),
        lambda x, y, w=None: sd.minkowski(x, y, 3, w),
        0.0,
        None,
    ),
    "minkowski_inf": (
        lambda x, y, w=None: minkowski(x, y, math.inf, w),
        lambda x, y, w=None: sd.minkowski(x, y, math.inf, w),
        0.0,
        None,
    ),
    "cosine_distance": (cosine_distance, sd.cosine, ATOL_COSINE, "zero"),
    "cosine_similarity": (
        cosine_similarity,
        lambda x, y, w=None: 1 - sd.cosine(x, y, w),
        ATOL_COSINE,
        "zero",
    ),
    "correlation": (correlation, sd.correlation, ATOL_COSINE, "constant"),
    "pearson": (
        pearson,
        lambda x, y, w=None: 1 - sd.correlation(x, y, w),
        ATOL_COSINE,
        "constant",
    ),
}


def is_degenerate(kind, a, w):
    """Tell whether ``a`` is a zero or constant vector on the weighted entries."""
    selected = a if w is None else a[w > 0]
    if kind == "zero":
        return not np.any(selected)
    if kind == "constant":
        return selected.min() == selected.max()
    return False


# Rounded to 6 decimals so that no square or product underflows.
values = st.floats(-1e3, 1e3).map(lambda v: round(v, 6))
weight_values = st.floats(0, 10).map(lambda v: round(v, 6))


@st.composite
def vectors(draw, count, max_size=10, weighted=None):
    n = draw(st.integers(1, max_size))
    arrays = [draw(hnp.arrays(np.float64, n, elements=values)) for _ in range(count)]
    if weighted is None:
        weighted = draw(st.booleans())
    w = draw(hnp.arrays(np.float64, n, elements=weight_values)) if weighted else None
    if w is not None:
        assume(np.any(w > 0))
    return arrays, w


def spd_matrix(n, seed):
    """A well-conditioned symmetric positive-definite matrix."""
    A = np.random.default_rng(seed).normal(size=(n, n))
    return A @ A.T + n * np.eye(n)


def random_rows(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for shape in shapes]


# ------------------------------------------------------------ pair functions


@pytest.mark.parametrize("name", PAIR_METRICS)
@converters
@EXAMPLES
@given(data=vectors(2))
def test_pair_metric_matches_scipy(name, to_array, data):
    ours, reference, atol, degenerate = PAIR_METRICS[name]
    (x, y), w = data
    assume(not is_degenerate(degenerate, x, w))
    assume(not is_degenerate(degenerate, y, w))
    w_in = None if w is None else to_array(w)

    result = ours(to_array(x), to_array(y), w=w_in)

    assert type(result) is type(to_array(x))
    assert result.shape == ()
    np.testing.assert_allclose(to_numpy(result), reference(x, y, w), RTOL, atol)


@converters
@EXAMPLES
@given(data=vectors(2, weighted=False), seed=st.integers(0, 2**32 - 1))
def test_mahalanobis_matches_scipy(to_array, data, seed):
    (x, y), _ = data
    S = spd_matrix(x.shape[0], seed)
    expected = sd.mahalanobis(x, y, np.linalg.inv(S))

    from_cov = mahalanobis(to_array(x), to_array(y), cov=to_array(S))
    from_inverse = mahalanobis(to_array(x), to_array(y), inv_cov=to_array(S))

    np.testing.assert_allclose(to_numpy(from_cov), expected, RTOL)
    np.testing.assert_allclose(to_numpy(from_inverse), sd.mahalanobis(x, y, S), RTOL)


def test_pearson_matches_course_formula():
    x, y = random_rows(0, 20, 20)
    z_x = (x - x.mean()) / x.std()  # population standard deviation
    z_y = (y - y.mean()) / y.std()
    r_course = np.sum(z_x * z_y) / x.shape[0]

    np.testing.assert_allclose(float(pearson(x, y)), r_course, RTOL)
    np.testing.assert_allclose(float(pearson(x, y)), np.corrcoef(x, y)[0, 1], RTOL)


def test_minkowski_special_orders():
    x, y = random_rows(1, 6, 6)
    np.testing.assert_allclose(float(minkowski(x, y, 1)), np.sum(np.abs(x - y)), RTOL)
    np.testing.assert_allclose(
        float(minkowski(x, y, 2)), np.sqrt(np.sum((x - y) ** 2)), RTOL
    )
    assert float(minkowski(x, y, math.inf)) == np.max(np.abs(x - y))


def test_extreme_magnitudes_do_not_overflow():
    # SciPy's minkowski overflows to inf here, but rescaling keeps the exact value.
    x, y = np.array([0.0, 0.0]), np.array([3e200, 4e200])
    np.testing.assert_allclose(
        float(minkowski(x, y, 3)), sd.minkowski(x / 1e200, y / 1e200, 3) * 1e200, RTOL
    )
    # (3e-170)^2 underflows to 0 in float64.
    np.testing.assert_allclose(float(euclidean(x, [3e-170, 4e-170])), 5e-170, RTOL)
    assert float(cosine_similarity([1e-200, 0.0], [1e-200, 1e-200])) == pytest.approx(
        1 / math.sqrt(2), rel=RTOL
    )


# ------------------------------------------------------------ metric axioms

# name -> distance function of (x, y, w)
METRIC_FUNCTIONS = {
    "euclidean": euclidean,
    "cityblock": cityblock,
    "chebyshev": chebyshev,
    "minkowski_1.5": lambda x, y, w=None: minkowski(x, y, 1.5, w),
    "minkowski_4": lambda x, y, w=None: minkowski(x, y, 4, w),
}


@pytest.mark.parametrize("name", METRIC_FUNCTIONS)
@EXAMPLES
@given(data=vectors(3))
def test_metric_axioms(name, data):
    d = METRIC_FUNCTIONS[name]
    (x, y, z), w = data
    d_xy, d_yx = float(d(x, y, w=w)), float(d(y, x, w=w))
    d_xz, d_yz = float(d(x, z, w=w)), float(d(y, z, w=w))

    assert d_xy >= 0
    assert d_xy == d_yx
    assert float(d(x, x, w=w)) == 0
    assert d_xz <= (d_xy + d_yz) * (1 + 1e-12)


@EXAMPLES
@given(data=vectors(3, weighted=False), seed=st.integers(0, 2**32 - 1))
def test_mahalanobis_metric_axioms(data, seed):
    (x, y, z), _ = data
    S = spd_matrix(x.shape[0], seed)

    def d(a, b):
        return float(mahalanobis(a, b, cov=S))

    assert d(x, y) >= 0
    assert d(x, y) == d(y, x)
    assert d(x, x) == 0
    assert d(x, z) <= (d(x, y) + d(y, z)) * (1 + 1e-12)


@pytest.mark.parametrize(
    "d,degenerate",
    [(cosine_distance, "zero"), (correlation, "constant")],
    ids=["cosine", "correlation"],
)
@EXAMPLES
@given(data=vectors(2))
def test_dissimilarity_range_and_symmetry(d, degenerate, data):
    (x, y), w = data
    assume(not is_degenerate(degenerate, x, w))
    assume(not is_degenerate(degenerate, y, w))

    assert 0 <= float(d(x, y, w=w)) <= 2
    assert float(d(x, y, w=w)) == float(d(y, x, w=w))
    assert float(d(x, x, w=w)) == 0


def test_cosine_distance_breaks_triangle_inequality():
    x, y, z = [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]
    d_xz = float(cosine_distance(x, z))
    assert d_xz > float(cosine_distance(x, y)) + float(cosine_distance(y, z))


def test_minkowski_below_one_breaks_triangle_inequality():
    # SciPy accepts p = 0.5. The result is not a metric, so minkowski rejects it.
    x, y, z = [0.0, 0.0], [1.0, 0.0], [1.0, 1.0]
    d_xz = sd.minkowski(x, z, 0.5)
    assert d_xz > sd.minkowski(x, y, 0.5) + sd.minkowski(y, z, 0.5)
    with pytest.raises(ValueError, match="triangle inequality fails"):
        minkowski(x, z, 0.5)


# ------------------------------------------------------------ input checks

SINGULAR = [[1.0, 1.0], [1.0, 1.0]]
INDEFINITE = [[1.0, 2.0], [2.0, 1.0]]

# (id, function, positional arguments, keyword arguments, expected message)
ERROR_CASES = [
    ("cosine zero x", cosine_distance, ([0.0, 0.0], [1.0, 2.0]), {},
     "x must not be the zero vector: cosine similarity divides by its norm"),
    ("cosine zero y", cosine_similarity, ([1.0, 2.0], [0.0, 0.0]), {},
     "y must not be the zero vector"),
    ("cosine zero weighted", cosine_similarity, ([1.0, 0.0], [1.0, 1.0]),
     {"w": [0.0, 1.0]}, "x must not be the zero vector on the entries with positive"),
    ("pearson constant x", pearson, ([3.0, 3.0, 3.0], [1.0, 2.0, 3.0]), {},
     "x must not be constant, got every entry equal to 3.0: Pearson's r divides"),
    ("correlation constant y", correlation, ([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]), {},
     "y must not be constant"),
    ("correlation constant weighted", correlation, ([1.0, 5.0, 5.0], [1.0, 2.0, 3.0]),
     {"w": [0.0, 1.0, 2.0]}, "x must not be constant, got every entry with positive"),
    ("mahalanobis singular", mahalanobis, ([1.0, 2.0], [0.0, 0.0]),
     {"cov": SINGULAR}, "cov must be positive definite, got smallest eigenvalue 0"),
    ("mahalanobis indefinite", mahalanobis, ([1.0, 2.0], [0.0, 0.0]),
     {"cov": INDEFINITE}, r"smallest eigenvalue -1 \(largest 3\)"),
    ("mahalanobis indefinite inverse", mahalanobis, ([1.0, 2.0], [0.0, 0.0]),
     {"inv_cov": INDEFINITE}, "inv_cov must be positive definite"),
    ("mahalanobis asymmetric", mahalanobis, ([1.0, 2.0], [0.0, 0.0]),
     {"cov": [[1.0, 0.5], [0.0, 1.0]]}, r"cov must be symmetric, got max \|S - S\^T\|"),
    ("mahalanobis cov shape", mahalanobis, ([1.0, 2.0], [0.0, 0.0]),
     {"cov": [[1.0]]}, r"cov must have shape \(2, 2\), one row and column per"),
    ("mahalanobis cov nan", mahalanobis, ([1.0, 2.0], [0.0, 0.0]),
     {"cov": [[1.0, math.nan], [math.nan, 1.0]]}, "cov must contain only finite"),
    ("mahalanobis neither", mahalanobis, ([1.0], [0.0]), {},
     "exactly one of cov and inv_cov, got neither"),
    ("mahalanobis both", mahalanobis, ([1.0], [0.0]),
     {"cov": [[1.0]], "inv_cov": [[1.0]]}, "exactly one of cov and inv_cov, got both"),
    ("minkowski p below 1", minkowski, ([1.0], [0.0], 0.5), {},
     r"p must be >= 1, got 0.5. For p < 1 the Minkowski formula is not a metric"),
    ("minkowski p nan", minkowski, ([1.0], [0.0], math.nan), {},
     "p must be >= 1, got nan"),
    ("nan in x", euclidean, ([math.nan, 1.0], [0.0, 0.0]), {},
     "x must contain only finite values, got nan"),
    ("inf in y", cityblock, ([0.0, 1.0], [0.0, math.inf]), {},
     "y must contain only finite values, got inf"),
    ("empty x", euclidean, ([], []), {}, r"x must not be empty, got shape \(0,\)"),
    ("shape mismatch", chebyshev, ([1.0, 2.0], [1.0, 2.0, 3.0]), {},
     r"x and y must have the same shape, got \(2,\) and \(3,\)"),
    ("x not 1-D", euclidean, ([[1.0, 2.0]], [[1.0, 2.0]]), {},
     r"x must be a 1-D vector of shape \(n,\), got shape \(1, 2\)"),
    ("negative weight", euclidean, ([1.0, 2.0], [0.0, 0.0]), {"w": [1.0, -1.0]},
     "w must be non-negative, got -1.0 at index 1"),
    ("weights shape", cityblock, ([1.0, 2.0], [0.0, 0.0]), {"w": [1.0]},
     r"w must have shape \(2,\), one weight per feature, got shape \(1,\)"),
    ("weights zero", cosine_distance, ([1.0, 2.0], [2.0, 1.0]), {"w": [0.0, 0.0]},
     "w must have at least one positive entry, got all zeros"),
    ("weights nan", euclidean, ([1.0, 2.0], [0.0, 0.0]), {"w": [1.0, math.nan]},
     "w must contain only finite values, got nan"),
]  # fmt: skip


def convert_arguments(value, to_array):
    """Convert the nested lists of a case to arrays, leaving numbers as they are."""
    return to_array(value) if isinstance(value, list) else value


@pytest.mark.parametrize(
    "function,args,kwargs,message",
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
@converters
def test_invalid_input_raises(function, args, kwargs, message, to_array):
    args = [convert_arguments(a, to_array) for a in args]
    kwargs = {k: convert_arguments(v, to_array) for k, v in kwargs.items()}
    with pytest.raises(ValueError, match=message):
        function(*args, **kwargs)


def test_p_must_be_a_number():
    with pytest.raises(TypeError, match="p must be a real number, got str"):
        minkowski([1.0], [0.0], "2")


def test_numpy_and_torch_mixed_raise():
    with pytest.raises(TypeError):
        euclidean(np.ones(2), torch.ones(2))


# ------------------------------------------------------------ torch

PAIR_FUNCTIONS = {
    "euclidean": euclidean,
    "cityblock": cityblock,
    "chebyshev": chebyshev,
    "minkowski": lambda x, y: minkowski(x, y, 3),
    "mahalanobis": lambda x, y: mahalanobis(x, y, cov=torch.eye(3) * 2),
    "cosine_similarity": cosine_similarity,
    "cosine_distance": cosine_distance,
    "pearson": pearson,
    "correlation": correlation,
}


@pytest.mark.parametrize("name", PAIR_FUNCTIONS)
def test_float32_tensor_stays_float32(name):
    x = torch.tensor([1.0, 2.0, 4.0])
    y = torch.tensor([0.5, -1.0, 2.0])

    result = PAIR_FUNCTIONS[name](x, y)

    assert isinstance(result, torch.Tensor)
    assert result.dtype == torch.float32
    assert result.shape == ()


WEIGHTS_5 = torch.tensor([1.0, 2.0, 0.0, 3.0, 1.0], dtype=torch.float64)
COV_5 = torch.tensor(spd_matrix(5, 0))

# name -> function of (x, y) differentiable almost everywhere
GRADIENT_CASES = {
    "euclidean": euclidean,
    "euclidean_weighted": lambda x, y: euclidean(x, y, w=WEIGHTS_5),
    "minkowski_3": lambda x, y: minkowski(x, y, 3),
    "cosine_distance": cosine_distance,
    "pearson": pearson,
    "mahalanobis": lambda x, y: mahalanobis(x, y, cov=COV_5),
    "mahalanobis_inverse": lambda x, y: mahalanobis(x, y, inv_cov=COV_5),
}


@pytest.mark.parametrize("name", GRADIENT_CASES)
def test_gradient_matches_finite_differences(name):
    x, y = (torch.tensor(a, requires_grad=True) for a in random_rows(2, 5, 5))
    assert torch.autograd.gradcheck(GRADIENT_CASES[name], (x, y))


def test_euclidean_gradient_at_equal_points():
    x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)

    euclidean(x, x.detach()).backward()

    assert torch.equal(x.grad, torch.zeros(2, dtype=torch.float64))


@pytest.mark.parametrize(
    "metric,params",
    [("euclidean", {}), ("cosine", {}), ("mahalanobis", {}), ("minkowski", {"p": 3})],
)
def test_pairwise_gradient_matches_finite_differences(metric, params):
    X, Y = (torch.tensor(a, requires_grad=True) for a in random_rows(3, (7, 3), (4, 3)))
    assert torch.autograd.gradcheck(
        lambda A, B: pairwise(A, B, metric, **params), (X, Y)
    )


def test_pairwise_self_gradient_is_finite():
    X = torch.tensor(random_rows(4, (6, 3))[0], requires_grad=True)

    pairwise(X).sum().backward()

    assert torch.all(torch.isfinite(X.grad))


# ------------------------------------------------------------ pairwise

# name -> (metric, params, absolute tolerance, degenerate rows to skip)
PAIRWISE_CASES = {
    "euclidean": ("euclidean", {}, 0.0, None),
    "euclidean_weighted": ("euclidean", {"w": True}, 0.0, None),
    "sqeuclidean_weighted": ("sqeuclidean", {"w": True}, 0.0, None),
    "cityblock_weighted": ("cityblock", {"w": True}, 0.0, None),
    "chebyshev_weighted": ("chebyshev", {"w": True}, 0.0, None),
    "minkowski_3_weighted": ("minkowski", {"p": 3, "w": True}, 0.0, None),
    "minkowski_1": ("minkowski", {"p": 1}, 0.0, None),
    "minkowski_2": ("minkowski", {"p": 2}, 0.0, None),
    "cosine_weighted": ("cosine", {"w": True}, ATOL_COSINE, "zero"),
    "correlation_weighted": ("correlation", {"w": True}, ATOL_COSINE, "constant"),
    "mahalanobis_VI": ("mahalanobis", {"VI": True}, 0.0, None),
}


@st.composite
def row_matrices(draw, max_rows=5, max_features=6):
    n = draw(st.integers(1, max_features))
    shapes = (draw(st.integers(1, max_rows)), n), (draw(st.integers(1, max_rows)), n)
    X, Y = (draw(hnp.arrays(np.float64, shape, elements=values)) for shape in shapes)
    w = draw(hnp.arrays(np.float64, n, elements=weight_values))
    assume(np.any(w > 0))
    return X, Y, w


def build_params(params, w, n, seed=0):
    """Replace the placeholders True of a case by weights or a matrix."""
    built = dict(params)
    if "w" in built:
        built["w"] = w
    if "VI" in built:
        built["VI"] = spd_matrix(n, seed)
    return built


@pytest.mark.parametrize("name", PAIRWISE_CASES)
@converters
@EXAMPLES
@given(data=row_matrices())
def test_pairwise_matches_cdist(name, to_array, data):
    metric, params, atol, degenerate = PAIRWISE_CASES[name]
    X, Y, w = data
    weights = params.get("w") and w
    assume(not any(is_degenerate(degenerate, row, weights) for row in [*X, *Y]))
    params = build_params(params, w, X.shape[1])
    converted = {k: v if np.isscalar(v) else to_array(v) for k, v in params.items()}

    result = pairwise(to_array(X), to_array(Y), metric, **converted)

    assert type(result) is type(to_array(X))
    np.testing.assert_allclose(
        to_numpy(result), cdist(X, Y, metric, **params), RTOL, atol
    )


@pytest.mark.parametrize("metric", METRICS)
@converters
def test_pairwise_self_has_exact_zero_diagonal(metric, to_array):
    # Rows far from the origin make the Gram formula cancel.
    (X,) = random_rows(5, (40, 6))
    X = 1e6 + X

    D = to_numpy(pairwise(to_array(X), metric=metric))

    assert np.all(np.diag(D) == 0)
    assert np.all(D >= 0)


@converters
def test_pairwise_large_offset_matches_cdist(to_array):
    X, Y = random_rows(6, (30, 8), (20, 8))
    X, Y = 1e8 + X, 1e8 + Y
    Y[3] = X[2]  # identical rows in X and Y

    D = to_numpy(pairwise(to_array(X), to_array(Y)))
    D_squared = to_numpy(pairwise(to_array(X), to_array(Y), "sqeuclidean"))

    np.testing.assert_allclose(D, cdist(X, Y), RTOL)
    assert D[2, 3] == 0
    assert np.all(D_squared >= 0)


@converters
def test_pairwise_tight_clusters_match_cdist(to_array):
    # Two tight clusters at +-1e4: centring by the common mean leaves norms of
    # 1e4 for distances of 1e-3, so only the recomputed entries reach 1e-10.
    rng = np.random.default_rng(7)
    centres = np.repeat([[1e4] * 5, [-1e4] * 5], 10, axis=0)
    X = centres + 1e-3 * rng.normal(size=centres.shape)
    Y = centres[::2] + 1e-3 * rng.normal(size=centres[::2].shape)
    w = rng.uniform(0.5, 2.0, 5)

    D = to_numpy(pairwise(to_array(X), to_array(Y)))
    np.testing.assert_allclose(D, cdist(X, Y), RTOL)
    D = to_numpy(pairwise(to_array(X), to_array(Y), "sqeuclidean", w=to_array(w)))
    np.testing.assert_allclose(D, cdist(X, Y, "sqeuclidean", w=w), RTOL)
    S = spd_matrix(5, 8)
    D = to_numpy(pairwise(to_array(X), to_array(Y), "mahalanobis", cov=to_array(S)))
    expected = cdist(X, Y, "mahalanobis", VI=np.linalg.inv(S))
    np.testing.assert_allclose(D, expected, RTOL)


@converters
def test_pairwise_mahalanobis_estimates_covariance(to_array):
    X, Y = random_rows(9, (30, 4), (12, 4))

    both = to_numpy(pairwise(to_array(X), to_array(Y), "mahalanobis"))
    twice = to_numpy(pairwise(to_array(X), to_array(X), "mahalanobis"))
    alone = to_numpy(pairwise(to_array(X), metric="mahalanobis"))

    np.testing.assert_allclose(both, cdist(X, Y, "mahalanobis"), RTOL)
    np.testing.assert_allclose(twice, cdist(X, X, "mahalanobis"), RTOL, 1e-13)
    np.testing.assert_allclose(alone, squareform(pdist(X, "mahalanobis")), RTOL, 1e-13)


def test_pairwise_mahalanobis_cov_matches_pair_function():
    X, Y = random_rows(10, (5, 3), (4, 3))
    S = spd_matrix(3, 11)

    D = pairwise(X, Y, "mahalanobis", cov=S)

    expected = [[float(mahalanobis(x, y, cov=S)) for y in Y] for x in X]
    np.testing.assert_allclose(D, expected, RTOL)


def test_pairwise_float32_stays_float32():
    X, Y = random_rows(12, (50, 8), (30, 8))
    X32, Y32 = (
        torch.tensor(X, dtype=torch.float32),
        torch.tensor(Y, dtype=torch.float32),
    )

    for metric in METRICS:
        D = pairwise(X32, Y32, metric)
        assert D.dtype == torch.float32
        expected = cdist(X32.double().numpy(), Y32.double().numpy(), metric)
        np.testing.assert_allclose(D.numpy(), expected, 1e-4, 1e-5)


def test_pairwise_callable_metric():
    X, Y = random_rows(13, (4, 3), (5, 3))

    D = pairwise(X, Y, metric=lambda x, y, p: minkowski(x, y, p), p=3)

    np.testing.assert_allclose(D, cdist(X, Y, "minkowski", p=3), RTOL)


def test_pairwise_default_y_is_x():
    (X,) = random_rows(14, (9, 4))
    for metric in set(METRICS) - {"mahalanobis"}:
        np.testing.assert_allclose(
            pairwise(X, metric=metric), pairwise(X, X, metric), RTOL, ATOL_COSINE
        )


def test_pairwise_small_blocks_match_cdist(monkeypatch):
    # Blocks of a few rows and columns exercise the block boundaries.
    monkeypatch.setattr(_blocks, "_BROADCAST_BYTES", 3 * 4 * 8)
    monkeypatch.setattr(_gram, "_GRAM_BLOCK_BYTES", 3 * 8 * 8)
    X, Y = random_rows(15, (10, 4), (9, 4))

    for metric in ("cityblock", "chebyshev", "euclidean"):
        np.testing.assert_allclose(pairwise(X, Y, metric), cdist(X, Y, metric), RTOL)


PAIRWISE_ERROR_CASES = [
    ("unknown metric", ([[1.0]],), {"metric": "manhattan"},
     "metric must be one of euclidean, sqeuclidean, minkowski, cityblock, "
     "chebyshev, mahalanobis, correlation, cosine or a callable, got 'manhattan'"),
    ("columns differ", ([[1.0, 2.0]], [[1.0, 2.0, 3.0]]), {},
     r"X and Y must have the same number of columns \(features\), got X of shape "
     r"\(1, 2\) and Y of shape \(1, 3\)"),
    ("X not 2-D", ([1.0, 2.0],), {},
     r"X must be a 2-D array of shape \(rows, features\), got shape \(2,\)"),
    ("Y empty", ([[1.0, 2.0]], np.zeros((0, 2))), {},
     r"Y must not be empty, got shape \(0, 2\)"),
    ("nan in X", ([[1.0, math.nan]],), {}, "X must contain only finite values"),
    ("cosine zero row", ([[1.0, 2.0]], [[1.0, 1.0], [0.0, 0.0]]), {"metric": "cosine"},
     "Y row 1 must not be the zero vector"),
    ("correlation constant row", ([[2.0, 2.0], [1.0, 3.0]],),
     {"metric": "correlation"}, "X row 0 must not be constant"),
    ("too few rows for covariance", ([[1.0, 2.0, 3.0]], [[0.0, 1.0, 0.0]]),
     {"metric": "mahalanobis"},
     "mahalanobis needs more rows than features to estimate the covariance, got 2 "
     "rows of 3 features"),
    ("VI and cov", ([[1.0]],), {"metric": "mahalanobis", "VI": [[1.0]], "cov": [[1.0]]},
     "at most one of VI and cov, got both"),
    ("VI singular", ([[1.0, 2.0]],), {"metric": "mahalanobis", "VI": SINGULAR},
     "VI must be positive definite"),
    ("minkowski p", ([[1.0]],), {"metric": "minkowski", "p": 0.9}, "p must be >= 1"),
    ("negative weight", ([[1.0, 2.0]],), {"w": [1.0, -2.0]},
     "w must be non-negative, got -2.0 at index 1"),
]  # fmt: skip


@pytest.mark.parametrize(
    "args,kwargs,message",
    [case[1:] for case in PAIRWISE_ERROR_CASES],
    ids=[case[0] for case in PAIRWISE_ERROR_CASES],
)
@converters
def test_pairwise_invalid_input_raises(args, kwargs, message, to_array):
    args = [to_array(a) for a in args]
    kwargs = {k: convert_arguments(v, to_array) for k, v in kwargs.items()}
    with pytest.raises(ValueError, match=message):
        pairwise(*args, **kwargs)


def test_pairwise_unexpected_parameter_raises():
    with pytest.raises(TypeError, match="metric 'euclidean' takes the parameters w, "):
        pairwise([[1.0]], metric="euclidean", p=3)


@pytest.mark.parametrize("module", [_pair, _pairwise], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize(
    "metric", [["euclidean"], 3, None], ids=["list", "int", "None"]
)
def test_pairwise_metric_of_wrong_type_raises(metric):
    with pytest.raises(
        TypeError,
        match=f"metric must be a string or a callable, got {type(metric).__name__}",
    ):
        pairwise([[1.0]], metric=metric)


CALLABLE_ERROR_CASES = [
    ("vector", lambda x, y: x - y, ValueError,
     r"metric\(X\[0\], Y\[0\]\) must return a scalar, got shape \(2,\)"),
    ("one-element array", lambda x, y: np.ones(1), ValueError,
     r"metric\(X\[0\], Y\[0\]\) must return a scalar, got shape \(1,\)"),
    ("None", lambda x, y: None, TypeError,
     r"metric\(X\[0\], Y\[0\]\) must return a number or a 0-d array, got NoneType"),
    ("nan", lambda x, y: math.nan if y[0] == 3.0 else 1.0, ValueError,
     r"metric\(X\[0\], Y\[1\]\) returned nan, not a distance"),
]  # fmt: skip


@pytest.mark.parametrize(
    "metric,error,message",
    [case[1:] for case in CALLABLE_ERROR_CASES],
    ids=[case[0] for case in CALLABLE_ERROR_CASES],
)
def test_pairwise_callable_bad_value_raises(metric, error, message):
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(error, match=message):
        pairwise(X, metric=metric)


@pytest.mark.parametrize("p", [1.5, 2, 3])
def test_overflowing_difference_gives_inf(p):
    # x - y = 3.4e308 exceeds the largest float64, so cdist returns inf too.
    x, y = np.array([1.7e308, 0.0]), np.array([-1.7e308, 0.0])
    with np.errstate(over="ignore"):
        expected = cdist(x[None], y[None], "minkowski", p=p)[0, 0]
        pair = minkowski(x, y, p)
        matrix = pairwise(x[None], y[None], "minkowski", p=p)

    assert expected == math.inf
    assert float(pair) == math.inf
    assert float(matrix[0, 0]) == math.inf


# (metric, power of the scale in the distance): Mahalanobis with the estimated
# covariance does not change when every row is scaled.
SCALED_METRICS = [("euclidean", 1), ("sqeuclidean", 2), ("mahalanobis", 0)]


@pytest.mark.parametrize(
    "metric,power", SCALED_METRICS, ids=[m for m, _ in SCALED_METRICS]
)
@pytest.mark.parametrize("scale", [1e200, 1e-200])
@converters
def test_pairwise_extreme_magnitudes_match_cdist(metric, power, scale, to_array):
    # Squares of 1e200 overflow and squares of 1e-200 underflow in float64.
    X, Y = random_rows(16, (9, 3), (5, 3))
    # Squared distances of 1e400 are inf and those of 1e-400 are 0.
    with np.errstate(over="ignore", under="ignore"):
        expected = cdist(X, Y, metric) * np.float64(scale) ** power
        D = pairwise(to_array(X * scale), to_array(Y * scale), metric)

    np.testing.assert_allclose(to_numpy(D), expected, RTOL)


def test_pairwise_float32_large_values_match_cdist():
    # Squares of 1e20 overflow float32, whose largest value is 3.4e38.
    X, Y = random_rows(17, (6, 8), (4, 8))
    X32, Y32 = (torch.tensor(1e20 * A, dtype=torch.float32) for A in (X, Y))

    D = pairwise(X32, Y32)

    assert D.dtype == torch.float32
    expected = cdist(X32.double().numpy(), Y32.double().numpy())
    np.testing.assert_allclose(D.numpy(), expected, 1e-5)


HALF_PRECISION = {
    "numpy-float16": (lambda a: np.asarray(a, dtype=np.float16), 2e-3),
    "torch-float16": (lambda a: torch.tensor(a, dtype=torch.float16), 2e-3),
    "torch-bfloat16": (lambda a: torch.tensor(a, dtype=torch.bfloat16), 2e-2),
}


def as_float64(a):
    """Convert to a NumPy float64 array; NumPy has no bfloat16."""
    return to_numpy(a.float() if isinstance(a, torch.Tensor) else a).astype(np.float64)


@pytest.mark.parametrize("name", HALF_PRECISION)
def test_half_precision_gram_metrics_match_cdist(name):
    # Rows of about 30 in 40 features have squared norms beyond float16's
    # largest value, 65504, and linear algebra has no float16 kernels on CPU.
    to_half, rtol = HALF_PRECISION[name]
    X, Y = (to_half(30 * A) for A in random_rows(18, (50, 40), (20, 40)))
    X64, Y64 = (as_float64(A) for A in (X, Y))
    S = spd_matrix(40, 19)
    x, y, cov = to_half(X64[0]), to_half(Y64[0]), to_half(S)

    for metric in ("euclidean", "mahalanobis"):
        D = pairwise(X, Y, metric)
        assert D.dtype == X.dtype
        expected = cdist(X64, Y64, metric)
        np.testing.assert_allclose(as_float64(D), expected, rtol)
    d = mahalanobis(x, y, cov=cov)
    assert d.dtype == x.dtype
    S64 = as_float64(cov)
    expected = sd.mahalanobis(X64[0], Y64[0], np.linalg.inv(S64))
    np.testing.assert_allclose(float(d), expected, rtol)
