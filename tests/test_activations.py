"""Activations against torch, their derivatives against torch autograd."""

import doctest
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import foundations.activations as activations
from foundations.activations import (
    gelu,
    gelu_derivative,
    get_activation,
    relu,
    relu_derivative,
    sigmoid,
    sigmoid_derivative,
    tanh_sigmoid,
    tanh_sigmoid_derivative,
)

# name -> (ours, our derivative, torch reference of the same function)
CASES = {
    "sigmoid": (sigmoid, sigmoid_derivative, torch.sigmoid),
    "sigmoid_a3": (
        lambda v: sigmoid(v, a=3.0),
        lambda v: sigmoid_derivative(v, a=3.0),
        lambda t: torch.sigmoid(3.0 * t),
    ),
    "tanh_sigmoid": (
        tanh_sigmoid,
        tanh_sigmoid_derivative,
        lambda t: torch.tanh(t / 2),
    ),
    "tanh_sigmoid_a2": (
        lambda v: tanh_sigmoid(v, a=2.0),
        lambda v: tanh_sigmoid_derivative(v, a=2.0),
        torch.tanh,
    ),
    "relu": (relu, relu_derivative, F.relu),
    "gelu": (gelu, gelu_derivative, F.gelu),
    "gelu_tanh": (
        lambda v: gelu(v, approximate="tanh"),
        lambda v: gelu_derivative(v, approximate="tanh"),
        lambda t: F.gelu(t, approximate="tanh"),
    ),
}

# (rtol, atol) per dtype. In float32 torch's GELU rounds the far left tail to
# exactly 0 where ours keeps a value below 1e-6, hence the absolute part.
TOLERANCE = {torch.float64: (1e-12, 1e-14), torch.float32: (1e-6, 1e-6)}


def sample(dtype=torch.float64, n=2001):
    # A grid over [-20, 20] plus the points where the functions bend.
    grid = torch.linspace(-20.0, 20.0, n, dtype=dtype)
    extra = torch.tensor([-1e-3, 0.0, 1e-3, -1000.0, 1000.0], dtype=dtype)
    return torch.cat([grid, extra])


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_function_matches_torch(name, dtype):
    ours, _, reference = CASES[name]
    v = sample(dtype)
    expected = reference(v)
    rtol, atol = TOLERANCE[dtype]
    torch.testing.assert_close(ours(v), expected, rtol=rtol, atol=atol)
    got_numpy = ours(v.numpy())
    assert isinstance(got_numpy, np.ndarray)
    assert got_numpy.dtype == v.numpy().dtype
    np.testing.assert_allclose(got_numpy, expected.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", CASES)
def test_derivative_matches_autograd(name):
    _, derivative, reference = CASES[name]
    v = sample().requires_grad_(True)
    (expected,) = torch.autograd.grad(reference(v).sum(), v)
    v = v.detach()
    torch.testing.assert_close(derivative(v), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        derivative(v.numpy()), expected.numpy(), rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("name", CASES)
def test_autograd_flows_through_ours(name):
    ours, derivative, _ = CASES[name]
    v = sample().requires_grad_(True)
    (grad,) = torch.autograd.grad(ours(v).sum(), v)
    # ReLU's kink at 0: torch's where-gradient and our derivative both give 0.
    torch.testing.assert_close(grad, derivative(v.detach()), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("a", [0.5, 1.0, 2.5])
def test_sigmoid_closed_form_derivative(a):
    v = np.linspace(-8, 8, 101)
    phi = sigmoid(v, a)
    h = 1e-6
    central = (sigmoid(v + h, a) - sigmoid(v - h, a)) / (2 * h)
    np.testing.assert_allclose(a * phi * (1 - phi), central, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(sigmoid_derivative(v, a), central, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("a", [0.5, 1.0, 2.5])
def test_tanh_sigmoid_closed_form_derivative(a):
    v = np.linspace(-8, 8, 101)
    phi = tanh_sigmoid(v, a)
    h = 1e-6
    central = (tanh_sigmoid(v + h, a) - tanh_sigmoid(v - h, a)) / (2 * h)
    np.testing.assert_allclose(a / 2 * (1 - phi**2), central, rtol=1e-7, atol=1e-10)


def test_tanh_sigmoid_is_rescaled_logistic():
    v = np.linspace(-10, 10, 201)
    np.testing.assert_allclose(
        tanh_sigmoid(v, 1.7), 2 * sigmoid(v, 1.7) - 1, rtol=0, atol=1e-15
    )


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_fields_stay_finite(name, dtype):
    ours, derivative, _ = CASES[name]
    v = np.array([-1000.0, -100.0, 100.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            values = ours(v)
            slopes = derivative(v)
    assert values.dtype == dtype
    assert slopes.dtype == dtype
    assert np.isfinite(values).all()
    assert np.isfinite(slopes).all()


def test_saturation_values():
    v = np.array([-1000.0, 1000.0])
    assert sigmoid(v).tolist() == [0.0, 1.0]
    assert tanh_sigmoid(v).tolist() == [-1.0, 1.0]
    assert gelu(v).tolist() == [-0.0, 1000.0]
    assert sigmoid_derivative(v).tolist() == [0.0, 0.0]


def test_integer_input_becomes_float():
    assert relu(np.array([-1, 2])).dtype == np.float64
    assert sigmoid([0, 0]).tolist() == [0.5, 0.5]


@pytest.mark.parametrize("a", [0.0, -1.0, float("nan"), float("inf")])
def test_invalid_slope_rejected(a):
    with pytest.raises(ValueError, match="a must be a finite positive slope"):
        sigmoid(np.zeros(3), a=a)


def test_invalid_approximation_rejected():
    with pytest.raises(ValueError, match=r"approximate must be one of .*'erf'"):
        gelu(np.zeros(3), approximate="erf")


def test_unknown_activation_rejected():
    with pytest.raises(ValueError, match=r"activation must be one of .*'swish'"):
        get_activation("swish")


@pytest.mark.parametrize("name", ["sigmoid", "tanh_sigmoid", "relu", "identity"])
def test_derivative_from_output_matches(name):
    activation = get_activation(name, a=1.3)
    v = np.linspace(-6, 6, 97)
    y = activation.function(v)
    np.testing.assert_allclose(
        activation.derivative_from_output(y), activation.derivative(v), atol=1e-15
    )


def test_doctests_pass():
    result = doctest.testmod(activations, extraglobs={"np": np})
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize("convert", [np.asarray, torch.from_numpy])
def test_relu_propagates_nan_like_torch(convert):
    v = np.array([np.nan, -1.0, 2.0])
    expected = F.relu(torch.from_numpy(v)).numpy()
    np.testing.assert_array_equal(np.asarray(relu(convert(v))), expected)


# Fields far beyond +-1000 overflow v**2 and v**3 inside the GELU formulas.
HUGE_FIELDS = {np.float32: 1e30, np.float64: 1e200}


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_exact_at_huge_fields(name, dtype):
    ours, derivative, _ = CASES[name]
    big = HUGE_FIELDS[dtype]
    v = np.array([-big, big], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = ours(v)
        slopes = derivative(v)
    np.testing.assert_array_equal(values, np.array([0.0, big], dtype=dtype))
    np.testing.assert_array_equal(slopes, np.array([0.0, 1.0], dtype=dtype))


@pytest.mark.parametrize("a", [np.float32(2.0), np.int64(2)])
def test_numpy_scalar_slope_accepted(a):
    np.testing.assert_allclose(sigmoid(np.array([0.5]), a=a), sigmoid([0.5], a=2.0))


def test_boolean_slope_rejected():
    with pytest.raises(ValueError, match="a must be a finite positive slope, got True"):
        sigmoid(np.zeros(3), a=True)


@pytest.mark.parametrize("name", ["sigmoid", "tanh_sigmoid"])
def test_numpy_float64_slope_keeps_float32(name):
    activation = get_activation(name, a=np.float64(2.0))
    v = np.array([0.5], dtype=np.float32)
    assert activation.function(v).dtype == np.float32
    assert activation.derivative(v).dtype == np.float32
    assert activation.derivative_from_output(v).dtype == np.float32
