"""Tests of foundations.outputs against torch, on NumPy arrays and torch tensors."""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest
import torch

import foundations.outputs as outputs
from foundations.outputs import (
    identity,
    log_softmax,
    log_softmax_jvp,
    sigmoid,
    sigmoid_jvp,
    softmax,
    softmax_jvp,
)

TOLERANCE = 1e-12  # float64 agreement with torch


def as_numpy(x: np.ndarray) -> np.ndarray:
    return x


def as_torch(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x)


@pytest.fixture(params=[as_numpy, as_torch], ids=["numpy", "torch"])
def convert(request: pytest.FixtureRequest):
    return request.param


def to_numpy(x) -> np.ndarray:
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def logits(shape: tuple[int, ...], seed: int = 0, scale: float = 3.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


# (our function, torch reference, whether it takes an axis)
OUTPUTS = [
    (sigmoid, torch.sigmoid, False),
    (softmax, torch.softmax, True),
    (log_softmax, torch.log_softmax, True),
    (identity, lambda z, *args: z, False),
]
OUTPUT_IDS = ["sigmoid", "softmax", "log_softmax", "identity"]


@pytest.mark.parametrize(("ours", "reference", "has_axis"), OUTPUTS, ids=OUTPUT_IDS)
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_output_matches_torch(convert, ours, reference, has_axis, axis):
    z = logits((4, 5, 3))
    result = ours(convert(z), axis=axis) if has_axis else ours(convert(z))
    expected = (
        reference(torch.from_numpy(z), axis)
        if has_axis
        else reference(torch.from_numpy(z))
    )
    assert type(result) is type(convert(z))
    assert result.dtype == convert(z).dtype
    np.testing.assert_allclose(
        to_numpy(result), expected.numpy(), rtol=0, atol=TOLERANCE
    )


@pytest.mark.parametrize(("ours", "reference", "has_axis"), OUTPUTS, ids=OUTPUT_IDS)
def test_output_keeps_float32(convert, ours, reference, has_axis):
    z = logits((3, 4)).astype(np.float32)
    result = ours(convert(z))
    expected = (
        reference(torch.from_numpy(z), -1)
        if has_axis
        else reference(torch.from_numpy(z))
    )
    assert result.dtype == convert(z).dtype
    np.testing.assert_allclose(to_numpy(result), expected.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(("ours", "reference", "has_axis"), OUTPUTS, ids=OUTPUT_IDS)
def test_output_autograd_matches_torch(ours, reference, has_axis):
    z = logits((3, 4), seed=1)
    weights = torch.from_numpy(logits((3, 4), seed=2))
    ours_z = torch.tensor(z, requires_grad=True)
    torch_z = torch.tensor(z, requires_grad=True)

    (ours(ours_z) * weights).sum().backward()
    torch_output = reference(torch_z, -1) if has_axis else reference(torch_z)
    (torch_output * weights).sum().backward()

    np.testing.assert_allclose(
        ours_z.grad.numpy(), torch_z.grad.numpy(), atol=TOLERANCE
    )


def test_sigmoid_gradient_at_zero_is_quarter():
    z = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    sigmoid(z).sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [0.25, 0.25, 0.25])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_saturates_without_warning(convert, dtype):
    z = convert(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = to_numpy(sigmoid(z))
    assert result[0] == 0.0
    assert result[2] == 0.5
    assert result[4] == 1.0
    expected = torch.sigmoid(torch.from_numpy(to_numpy(z))).numpy()
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=0)


def test_softmax_of_equal_large_logits_is_exact(convert):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = to_numpy(softmax(convert(np.array([1000.0, 1000.0]))))
    np.testing.assert_array_equal(result, [0.5, 0.5])


def test_log_softmax_stays_finite_for_far_logits(convert):
    z = convert(np.array([0.0, 1000.0, -1000.0]))
    result = to_numpy(log_softmax(z))
    np.testing.assert_array_equal(result, [-1000.0, 0.0, -2000.0])


def test_softmax_rows_sum_to_one(convert):
    result = to_numpy(softmax(convert(logits((6, 7), seed=3, scale=20.0))))
    np.testing.assert_allclose(result.sum(axis=-1), np.ones(6), atol=1e-15)


JVPS = [
    (sigmoid_jvp, torch.sigmoid),
    (softmax_jvp, lambda z: torch.softmax(z, -1)),
    (log_softmax_jvp, lambda z: torch.log_softmax(z, -1)),
]


@pytest.mark.parametrize(("jvp", "reference"), JVPS, ids=["sigmoid", "softmax", "log"])
def test_jvp_matches_torch(convert, jvp, reference):
    z = logits((4, 5), seed=4)
    v = logits((4, 5), seed=5, scale=1.0)
    _, expected = torch.autograd.functional.jvp(
        reference, (torch.from_numpy(z),), (torch.from_numpy(v),)
    )
    result = jvp(convert(z), convert(v))
    assert type(result) is type(convert(z))
    np.testing.assert_allclose(to_numpy(result), expected.numpy(), atol=TOLERANCE)


def test_softmax_jvp_along_first_axis(convert):
    z = logits((4, 5), seed=6)
    v = logits((4, 5), seed=7, scale=1.0)

    def softmax_first_axis(t: torch.Tensor) -> torch.Tensor:
        return torch.softmax(t, 0)

    _, expected = torch.autograd.functional.jvp(
        softmax_first_axis, (torch.from_numpy(z),), (torch.from_numpy(v),)
    )
    result = softmax_jvp(convert(z), convert(v), axis=0)
    np.testing.assert_allclose(to_numpy(result), expected.numpy(), atol=TOLERANCE)


def test_identity_converts_integers_to_float(convert):
    result = identity(convert(np.array([1, 2])))
    default_float = torch.get_default_dtype() if convert is as_torch else np.float64
    assert result.dtype == default_float
    np.testing.assert_array_equal(to_numpy(result), [1.0, 2.0])


@pytest.mark.parametrize(
    "ours", [sigmoid, softmax, log_softmax, identity], ids=lambda f: f.__name__
)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_output_rejects_non_finite(convert, ours, bad):
    with pytest.raises(ValueError, match=r"z must contain only finite values, got"):
        ours(convert(np.array([0.0, bad])))


def test_softmax_rejects_scalar(convert):
    with pytest.raises(ValueError, match="z must have at least one dimension"):
        softmax(convert(np.array(1.0)))


def test_jvp_rejects_shape_mismatch(convert):
    with pytest.raises(
        ValueError, match=r"v must have the shape of z, \(3,\), got \(2,\)"
    ):
        softmax_jvp(convert(np.zeros(3)), convert(np.zeros(2)))


def test_docstring_examples_pass():
    result = doctest.testmod(outputs)
    assert result.attempted > 0
    assert result.failed == 0


def test_numpy_and_torch_mixed_rejected():
    message = "cannot mix NumPy arrays and torch tensors, got Tensor, ndarray"
    with pytest.raises(TypeError, match=message):
        sigmoid_jvp(torch.zeros(2), np.zeros(2))


@pytest.mark.parametrize("ours", [softmax, log_softmax], ids=lambda f: f.__name__)
def test_softmax_rejects_empty_class_axis(convert, ours):
    message = r"z must have at least one class along axis -1, got shape \(3, 0\)"
    with pytest.raises(ValueError, match=message):
        ours(convert(np.zeros((3, 0))))


def test_softmax_keeps_empty_batch(convert):
    result = softmax(convert(np.zeros((0, 3))))
    assert tuple(result.shape) == (0, 3)


def test_softmax_accepts_numpy_integer_axis(convert):
    z = logits((2, 3))
    expected = torch.softmax(torch.from_numpy(z), 0).numpy()
    result = softmax(convert(z), axis=np.int64(0))
    np.testing.assert_allclose(to_numpy(result), expected, atol=TOLERANCE)


@pytest.mark.parametrize(
    "ours", [softmax, log_softmax, softmax_jvp], ids=lambda f: f.__name__
)
@pytest.mark.parametrize("axis", [2, -3, 1.0, None])
def test_softmax_rejects_invalid_axis(convert, ours, axis):
    z = convert(np.zeros((2, 3)))
    args = (z, z) if ours is softmax_jvp else (z,)
    message = r"axis must be an integer in \[-2, 2\) for z of shape \(2, 3\), got"
    with pytest.raises(ValueError, match=message):
        ours(*args, axis=axis)
