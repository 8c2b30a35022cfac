"""Tests of foundations.losses against torch.nn.functional and torch autograd.

Values must agree with torch to 1e-12 in float64, and every gradient function
with torch autograd. Each case runs on NumPy arrays and on torch tensors.
"""

from __future__ import annotations

import doctest
import itertools
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import foundations.losses as losses
from foundations.losses import (
    binary_cross_entropy,
    binary_cross_entropy_gradient,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_gradient,
    cross_entropy,
    cross_entropy_gradient,
    mean_squared_error,
    mean_squared_error_gradient,
    sum_squared_error,
    sum_squared_error_gradient,
)
from foundations.outputs import sigmoid, softmax

TOLERANCE = 1e-12  # float64 agreement with torch, absolute and relative
REDUCTIONS = ["mean", "sum", "none"]


def as_numpy(x: np.ndarray) -> np.ndarray:
    return x


def as_torch(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x)


@pytest.fixture(params=[as_numpy, as_torch], ids=["numpy", "torch"])
def convert(request: pytest.FixtureRequest):
    return request.param


def to_numpy(x) -> np.ndarray:
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def tensor(x: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(x, requires_grad=requires_grad)


def assert_close(actual, expected) -> None:
    np.testing.assert_allclose(
        to_numpy(actual), to_numpy(expected), rtol=TOLERANCE, atol=TOLERANCE
    )


def assert_same_kind(result, like) -> None:
    """Check that a result has the array type and dtype of an input."""
    assert type(result) is type(like)
    assert result.dtype == like.dtype


def torch_gradient(loss_function, x: np.ndarray, reduction: str) -> np.ndarray:
    """Differentiate a torch loss in its first argument with autograd."""
    x = tensor(x, requires_grad=True)
    loss = loss_function(x)
    (loss.sum() if reduction == "none" else loss).backward()
    return x.grad.numpy()


# Binary cross-entropy.


def binary_data(shape=(4, 3), seed=0):
    """Return probabilities, logits, soft targets and positive weights."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, size=shape)
    z = rng.normal(scale=4.0, size=shape)
    y = rng.uniform(0.0, 1.0, size=shape)
    y[0] = np.round(y[0])  # one row of hard labels
    pos_weight = rng.uniform(0.5, 3.0, size=shape[-1:])
    return p, z, y, pos_weight


BINARY_WEIGHTS = {
    "none": None,
    "elementwise": lambda shape: np.linspace(0.5, 2.0, np.prod(shape)).reshape(shape),
    "per_column": lambda shape: np.linspace(0.5, 2.0, shape[-1]),
}
BINARY_CASES = list(itertools.product(REDUCTIONS, BINARY_WEIGHTS))


def binary_weight(kind: str, shape: tuple[int, ...]) -> np.ndarray | None:
    make = BINARY_WEIGHTS[kind]
    return None if make is None else make(shape)


@pytest.mark.parametrize(("reduction", "weight_kind"), BINARY_CASES)
def test_bce_matches_torch(convert, reduction, weight_kind):
    p, _, y, _ = binary_data()
    weight = binary_weight(weight_kind, p.shape)
    w = None if weight is None else convert(weight)
    torch_w = None if weight is None else tensor(weight)

    result = binary_cross_entropy(convert(p), convert(y), weight=w, reduction=reduction)
    expected = F.binary_cross_entropy(
        tensor(p), tensor(y), weight=torch_w, reduction=reduction
    )
    assert_same_kind(result, convert(p))
    assert result.shape == expected.shape
    assert_close(result, expected)

    gradient = binary_cross_entropy_gradient(
        convert(p), convert(y), weight=w, reduction=reduction
    )

    def torch_loss(x):
        return F.binary_cross_entropy(x, tensor(y), weight=torch_w, reduction=reduction)

    assert_same_kind(gradient, convert(p))
    assert_close(gradient, torch_gradient(torch_loss, p, reduction))


@pytest.mark.parametrize(("reduction", "weight_kind"), BINARY_CASES)
@pytest.mark.parametrize("use_pos_weight", [False, True], ids=["", "pos_weight"])
def test_bce_with_logits_matches_torch(convert, reduction, weight_kind, use_pos_weight):
    _, z, y, pos_weight = binary_data(seed=1)
    weight = binary_weight(weight_kind, z.shape)
    pos_weight = pos_weight if use_pos_weight else None
    options = {
        "weight": None if weight is None else convert(weight),
        "pos_weight": None if pos_weight is None else convert(pos_weight),
        "reduction": reduction,
    }
    torch_options = {
        "weight": None if weight is None else tensor(weight),
        "pos_weight": None if pos_weight is None else tensor(pos_weight),
        "reduction": reduction,
    }

    result = binary_cross_entropy_with_logits(convert(z), convert(y), **options)
    expected = F.binary_cross_entropy_with_logits(tensor(z), tensor(y), **torch_options)
    assert_same_kind(result, convert(z))
    assert_close(result, expected)

    gradient = binary_cross_entropy_with_logits_gradient(
        convert(z), convert(y), **options
    )

    def torch_loss(x):
        return F.binary_cross_entropy_with_logits(x, tensor(y), **torch_options)

    assert_close(gradient, torch_gradient(torch_loss, z, reduction))


def test_bce_clamps_log_like_torch(convert):
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-50])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    result = binary_cross_entropy(convert(p), convert(y), reduction="none")
    expected = F.binary_cross_entropy(tensor(p), tensor(y), reduction="none")
    np.testing.assert_array_equal(to_numpy(result), [100.0, 100.0, 0.0, 0.0, 100.0])
    assert_close(result, expected)


def test_bce_gradient_at_endpoints_matches_torch(convert):
    p = np.array([0.0, 1.0, 1e-15])
    y = np.array([1.0, 0.0, 1.0])

    def torch_loss(x):
        return F.binary_cross_entropy(x, tensor(y), reduction="sum")

    gradient = binary_cross_entropy_gradient(convert(p), convert(y), reduction="sum")
    assert_close(gradient, torch_gradient(torch_loss, p, "sum"))


@pytest.mark.parametrize("z", [1000.0, -1000.0, 50.0, -50.0, 0.0])
@pytest.mark.parametrize("y", [0.0, 0.3, 1.0])
def test_bce_with_logits_exact_for_large_logits(convert, z, y):
    z_array, y_array = np.array([z]), np.array([y])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = binary_cross_entropy_with_logits(convert(z_array), convert(y_array))
    expected = F.binary_cross_entropy_with_logits(tensor(z_array), tensor(y_array))
    # The loss is (1 - y) z + log(1 + exp(-z)), computed here by NumPy.
    exact = (1 - y) * z + np.logaddexp(0.0, -z)
    assert_close(result, expected)
    np.testing.assert_allclose(to_numpy(result), exact, rtol=1e-15, atol=1e-15)


def test_bce_with_logits_gradient_is_sigmoid_minus_target(convert):
    _, z, y, _ = binary_data(seed=2)
    gradient = binary_cross_entropy_with_logits_gradient(convert(z), convert(y))
    expected = (1 / (1 + np.exp(-z)) - y) / z.size
    np.testing.assert_allclose(to_numpy(gradient), expected, rtol=1e-12, atol=0)


def test_bce_of_sigmoid_has_gradient_p_minus_y():
    _, z, y, _ = binary_data(seed=3)
    z = tensor(z, requires_grad=True)
    loss = binary_cross_entropy(sigmoid(z), tensor(y), reduction="sum")
    loss.backward()
    p = torch.sigmoid(z.detach())
    assert_close(z.grad, p - tensor(y))


# Categorical cross-entropy.

CLASSES = 5


def class_data(
    shape: tuple[int, ...], targets: str, ignore_index: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Return logits of ``shape`` and targets of the requested kind.

    Index targets have ``ignore_index`` at a few positions. Probability targets
    are softmax outputs of random logits, one row of them one-hot.
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=shape)
    class_axis = 0 if len(shape) == 1 else 1
    if targets == "probability":
        y = rng.normal(scale=2.0, size=shape)
        y = np.exp(y) / np.exp(y).sum(axis=class_axis, keepdims=True)
        if len(shape) > 1:
            y[0] = np.eye(shape[1])[2].reshape((shape[1],) + (1,) * (len(shape) - 2))
        return z, y
    index_shape = shape[:class_axis] + shape[class_axis + 1 :]
    y = rng.integers(0, shape[class_axis], size=index_shape)
    if len(shape) > 1:
        y.reshape(-1)[::3] = ignore_index
    return z, y


CE_SHAPES = {"batch": (6, CLASSES), "spatial": (3, CLASSES, 2, 2), "single": (CLASSES,)}
# Every option on (N, C) inputs, and a few on the other shapes.
CE_CASES = [
    ("batch", targets, ignore_index, *options)
    for targets, ignore_index in [("index", -100), ("index", 2), ("probability", -100)]
    for options in itertools.product(
        REDUCTIONS, [0.0, 0.2], [False, True], [True, False]
    )
] + [
    (shape, targets, -100, reduction, 0.2, True, from_logits)
    for shape in ["spatial", "single"]
    for targets in ["index", "probability"]
    for reduction in REDUCTIONS
    for from_logits in [True, False]
]


def ce_arguments(shape_name, targets, ignore, weighted, from_logits, seed=0):
    """Return (input, target, weight) as NumPy arrays, and the torch input."""
    z, y = class_data(CE_SHAPES[shape_name], targets, ignore, seed=seed)
    weight = np.linspace(0.5, 2.0, CLASSES) if weighted else None
    class_axis = 0 if z.ndim == 1 else 1
    if from_logits:
        return z, y, weight, z
    p = np.exp(z) / np.exp(z).sum(axis=class_axis, keepdims=True)
    # log_softmax(log p) = log p when p sums to one, so torch gets log p
    return p, y, weight, np.log(p)


@pytest.mark.parametrize(
    (
        "shape_name",
        "targets",
        "ignore_index",
        "reduction",
        "label_smoothing",
        "weighted",
        "from_logits",
    ),
    CE_CASES,
)
def test_cross_entropy_matches_torch(
    convert,
    shape_name,
    targets,
    ignore_index,
    reduction,
    label_smoothing,
    weighted,
    from_logits,
):
    x, y, weight, torch_input = ce_arguments(
        shape_name, targets, ignore_index, weighted, from_logits
    )
    options = {
        "ignore_index": ignore_index,
        "reduction": reduction,
        "label_smoothing": label_smoothing,
    }
    ours = {
        "weight": None if weight is None else convert(weight),
        "from_logits": from_logits,
        **options,
    }
    theirs = {"weight": None if weight is None else tensor(weight), **options}

    result = cross_entropy(convert(x), convert(y), **ours)
    expected = F.cross_entropy(tensor(torch_input), tensor(y), **theirs)
    assert_same_kind(result, convert(x))
    assert result.shape == expected.shape
    assert_close(result, expected)

    gradient = cross_entropy_gradient(convert(x), convert(y), **ours)
    assert_same_kind(gradient, convert(x))
    if from_logits:

        def torch_loss(t):
            return F.cross_entropy(t, tensor(y), **theirs)

    else:
        # Torch has no loss on probabilities, so the reference is autograd
        # through our own loss, whose value matches torch above.
        def torch_loss(t):
            return cross_entropy(t, tensor(y), **ours | {"weight": theirs["weight"]})

    assert_close(gradient, torch_gradient(torch_loss, x, reduction))


@pytest.mark.parametrize("targets", ["index", "probability"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_autograd_matches_torch(targets, label_smoothing):
    z, y = class_data((4, CLASSES, 3), targets, ignore_index=-100, seed=4)
    ours = tensor(z, requires_grad=True)
    theirs = tensor(z, requires_grad=True)

    cross_entropy(ours, tensor(y), label_smoothing=label_smoothing).backward()
    F.cross_entropy(theirs, tensor(y), label_smoothing=label_smoothing).backward()
    assert_close(ours.grad, theirs.grad)


def test_cross_entropy_gradient_is_p_minus_y(convert):
    z, y = class_data((6, CLASSES), "index", ignore_index=-100, seed=5)
    y = np.where(y == -100, 1, y)  # no ignored examples
    gradient = cross_entropy_gradient(convert(z), convert(y), reduction="sum")
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    one_hot = np.eye(CLASSES)[y]
    np.testing.assert_allclose(to_numpy(gradient), p - one_hot, rtol=0, atol=1e-15)


@pytest.mark.parametrize("targets", ["index", "probability"])
def test_cross_entropy_of_softmax_has_gradient_p_minus_y(targets):
    z, y = class_data((6, CLASSES), targets, ignore_index=-100, seed=6)
    y = np.where(y == -100, 1, y)
    one_hot = np.eye(CLASSES)[y] if targets == "index" else y
    z = tensor(z, requires_grad=True)

    p = softmax(z, axis=1)
    cross_entropy(p, tensor(y), from_logits=False, reduction="sum").backward()
    assert_close(z.grad, p.detach() - tensor(one_hot))


def test_cross_entropy_ignored_examples_get_zero_gradient(convert):
    z, y = class_data((6, CLASSES), "index", ignore_index=-100, seed=7)
    gradient = to_numpy(cross_entropy_gradient(convert(z), convert(y)))
    ignored = y == -100
    assert ignored.any()
    np.testing.assert_array_equal(gradient[ignored], 0.0)
    assert np.all(np.abs(gradient[~ignored]).sum(axis=1) > 0)


def test_cross_entropy_zero_probability_is_finite(convert):
    p = np.array([[0.0, 1.0], [0.5, 0.5]])
    result = cross_entropy(
        convert(p), convert(np.array([0, 1])), from_logits=False, reduction="none"
    )
    np.testing.assert_allclose(to_numpy(result), [100.0, np.log(2.0)], rtol=1e-15)


def test_cross_entropy_far_logits_are_finite(convert):
    z = np.array([[1000.0, -1000.0], [0.0, 0.0]])
    y = np.array([1, 0])
    result = cross_entropy(convert(z), convert(y), reduction="none")
    np.testing.assert_allclose(to_numpy(result), [2000.0, np.log(2.0)], rtol=1e-15)


# Squared errors.


def regression_data(shape=(5, 3), seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape), rng.normal(size=shape)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mean_squared_error_matches_torch(convert, reduction):
    y_pred, y_true = regression_data()
    result = mean_squared_error(convert(y_pred), convert(y_true), reduction=reduction)
    expected = F.mse_loss(tensor(y_pred), tensor(y_true), reduction=reduction)
    assert_same_kind(result, convert(y_pred))
    assert_close(result, expected)

    gradient = mean_squared_error_gradient(
        convert(y_pred), convert(y_true), reduction=reduction
    )

    def torch_loss(x):
        return F.mse_loss(x, tensor(y_true), reduction=reduction)

    assert_close(gradient, torch_gradient(torch_loss, y_pred, reduction))


def test_sum_squared_error_is_half_summed_squares(convert):
    y_pred, y_true = regression_data(seed=1)
    result = sum_squared_error(convert(y_pred), convert(y_true))
    expected = 0.5 * F.mse_loss(tensor(y_pred), tensor(y_true), reduction="sum")
    assert_same_kind(result, convert(y_pred))
    assert_close(result, expected)

    gradient = sum_squared_error_gradient(convert(y_pred), convert(y_true))

    def torch_loss(x):
        return 0.5 * ((tensor(y_true) - x) ** 2).sum()

    assert_close(gradient, torch_gradient(torch_loss, y_pred, "sum"))
    assert_close(gradient, -(y_true - y_pred))  # the course's -e


# Every loss: float32, autograd through our code, input checks.


LOSSES = {
    # name: (loss, gradient, first input, second input)
    "bce": (
        binary_cross_entropy,
        binary_cross_entropy_gradient,
        binary_data()[0],
        binary_data()[2],
    ),
    "bce_logits": (
        binary_cross_entropy_with_logits,
        binary_cross_entropy_with_logits_gradient,
        binary_data()[1],
        binary_data()[2],
    ),
    "ce_index": (
        cross_entropy,
        cross_entropy_gradient,
        *class_data((6, CLASSES), "index", -100),
    ),
    "ce_probability": (
        cross_entropy,
        cross_entropy_gradient,
        *class_data((6, CLASSES), "probability", -100),
    ),
    "mse": (mean_squared_error, mean_squared_error_gradient, *regression_data()),
    "sse": (sum_squared_error, sum_squared_error_gradient, *regression_data()),
}


def float32(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) if np.issubdtype(x.dtype, np.floating) else x


@pytest.mark.parametrize("name", LOSSES)
def test_loss_keeps_float32(convert, name):
    loss, gradient, x, y = LOSSES[name]
    x32, y32 = convert(float32(x)), convert(float32(y))
    value = loss(x32, y32)
    assert_same_kind(value, x32)
    assert_same_kind(gradient(x32, y32), x32)
    np.testing.assert_allclose(
        to_numpy(value), to_numpy(loss(convert(x), convert(y))), rtol=1e-5
    )


@pytest.mark.parametrize("name", LOSSES)
def test_loss_autograd_matches_gradient(name):
    loss, gradient, x, y = LOSSES[name]
    x_tensor = tensor(x, requires_grad=True)
    loss(x_tensor, tensor(y)).backward()
    assert_close(x_tensor.grad, gradient(tensor(x), tensor(y)))


def test_numpy_reduction_returns_array():
    result = mean_squared_error(np.ones(3), np.zeros(3))
    assert isinstance(result, np.ndarray)
    assert result.shape == ()


P = np.array([[0.2, 0.8], [0.6, 0.4]])
Y = np.array([[0.0, 1.0], [1.0, 0.0]])
Z = np.zeros((2, 3))
LABELS = np.array([0, 2])

INVALID_CALLS = [
    (
        "probability_above_one",
        lambda c: binary_cross_entropy(c(np.array([0.5, 1.25])), c(Y[0])),
        r"p must contain probabilities in \[0, 1\], got 1.25",
    ),
    (
        "target_below_zero",
        lambda c: binary_cross_entropy_with_logits(c(Z[:, :2]), c(Y - 0.5)),
        r"y must contain probabilities in \[0, 1\], got -0.5",
    ),
    (
        "bce_shape_mismatch",
        lambda c: binary_cross_entropy(c(P), c(Y[0])),
        r"y must have the shape of p, \(2, 2\), got \(2,\)",
    ),
    (
        "weight_not_broadcastable",
        lambda c: binary_cross_entropy(c(P), c(Y), weight=c(np.ones(3))),
        r"weight must broadcast to the input shape \(2, 2\), got shape \(3,\)",
    ),
    (
        "unknown_reduction",
        lambda c: mean_squared_error(c(P), c(Y), reduction="average"),
        r"reduction must be one of 'mean', 'sum', 'none', got 'average'",
    ),
    (
        "label_out_of_range",
        lambda c: cross_entropy(c(Z), c(np.array([0, 3]))),
        r"target contains class index 3, expected an index in \[0, 3\) "
        r"or ignore_index=-100",
    ),
    (
        "negative_label",
        lambda c: cross_entropy(c(Z), c(np.array([-1, 0]))),
        r"target contains class index -1",
    ),
    (
        "label_shape_mismatch",
        lambda c: cross_entropy(c(Z), c(np.array([0, 1, 2]))),
        r"target of class indices must have shape \(2,\) for input of shape "
        r"\(2, 3\), got \(3,\)",
    ),
    (
        "float_labels",
        lambda c: cross_entropy(c(Z), c(np.array([0.0, 1.0]))),
        r"target of shape \(2,\) must contain integer class indices, got dtype",
    ),
    (
        "probability_target_shape",
        lambda c: cross_entropy(c(Z), c(np.full((2, 2), 0.5))),
        r"target must have the shape of input, \(2, 3\), got \(2, 2\)",
    ),
    (
        "label_smoothing_above_one",
        lambda c: cross_entropy(c(Z), c(LABELS), label_smoothing=1.5),
        r"label_smoothing must be in \[0, 1\], got 1.5",
    ),
    (
        "label_smoothing_negative",
        lambda c: cross_entropy(c(Z), c(LABELS), label_smoothing=-0.1),
        r"label_smoothing must be in \[0, 1\], got -0.1",
    ),
    (
        "class_weight_shape",
        lambda c: cross_entropy(c(Z), c(LABELS), weight=c(np.ones(2))),
        r"weight must have shape \(3,\), one weight per class, got \(2,\)",
    ),
    (
        "input_probabilities_not_normalized",
        lambda c: cross_entropy(c(np.full((2, 3), 0.5)), c(LABELS), from_logits=False),
        r"input probabilities must sum to one along axis 1 \(from_logits=False\), "
        r"got a sum that is off by 0.5",
    ),
    (
        "input_probability_negative",
        lambda c: cross_entropy(
            c(np.array([[-0.25, 1.25]])), c(np.array([0])), from_logits=False
        ),
        r"input must contain probabilities in \[0, 1\], got -0.25",
    ),
    (
        "every_target_ignored",
        lambda c: cross_entropy(c(Z), c(np.array([-100, -100]))),
        r"the mean cross-entropy is undefined because every target equals "
        r"ignore_index",
    ),
    (
        "non_finite_logits",
        lambda c: cross_entropy(c(np.array([[np.nan, 0.0]])), c(np.array([0]))),
        r"input must contain only finite values, got nan",
    ),
    (
        "mse_shape_mismatch",
        lambda c: mean_squared_error_gradient(c(P), c(P[:1])),
        r"y_true must have the shape of y_pred, \(2, 2\), got \(1, 2\)",
    ),
    (
        "empty_input",
        lambda c: sum_squared_error(c(np.zeros(0)), c(np.zeros(0))),
        r"y_pred must not be empty, got shape \(0,\)",
    ),
]


@pytest.mark.parametrize(
    ("call", "message"),
    [pytest.param(call, message, id=name) for name, call, message in INVALID_CALLS],
)
def test_loss_rejects_invalid_input(convert, call, message):
    with pytest.raises(ValueError, match=message):
        call(convert)


def test_docstring_examples_pass():
    result = doctest.testmod(losses)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize("function", [cross_entropy, cross_entropy_gradient])
def test_cross_entropy_rejects_scalar_input(convert, function):
    message = r"input must have at least one dimension \(the classes\), got shape \(\)"
    with pytest.raises(ValueError, match=message):
        function(convert(np.array(1.0)), convert(np.array(0)))


def other_kind(x: np.ndarray, convert) -> np.ndarray | torch.Tensor:
    """Return ``x`` as the array kind that ``convert`` does not make."""
    return as_numpy(x) if convert is as_torch else as_torch(x)


@pytest.mark.parametrize("target", [LABELS, np.full((2, 3), 1 / 3)])
def test_cross_entropy_rejects_target_of_other_kind(convert, target):
    message = "cannot mix NumPy arrays and torch tensors"
    with pytest.raises(TypeError, match=message):
        cross_entropy(convert(Z), other_kind(target, convert))


def test_cross_entropy_names_boolean_target_dtype(convert):
    message = r"target of shape \(2,\) must contain integer class indices, got dtype"
    with pytest.raises(ValueError, match=message + ".*bool"):
        cross_entropy(convert(Z[:, :2]), convert(np.array([True, False])))


@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        ("label_smoothing", "0.1", "label_smoothing must be a real number, got str"),
        ("ignore_index", 1.5, "ignore_index must be an integer, got float"),
    ],
)
def test_cross_entropy_rejects_argument_types(convert, keyword, value, message):
    with pytest.raises(TypeError, match=message):
        cross_entropy(convert(Z), convert(LABELS), **{keyword: value})
