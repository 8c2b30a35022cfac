"""Tests of nlpmlp.ffn: the course's backward pass inside autograd."""

from __future__ import annotations

import pytest
import torch

from nlpmlp import ffn
from nlpmlp.ffn import (
    FFN_ACTIVATIONS,
    FeedForward,
    ReferenceFeedForward,
    feed_forward,
    make_feed_forward,
)


def _pair(activation: str, bias: bool, dtype: torch.dtype):
    torch.manual_seed(0)
    ours = FeedForward(6, 10, activation, bias).to(dtype)
    torch.manual_seed(0)
    reference = ReferenceFeedForward(6, 10, activation, bias).to(dtype)
    return ours, reference


def _grads(module: torch.nn.Module, x: torch.Tensor, grad_y: torch.Tensor):
    x = x.clone().requires_grad_(True)
    y = module(x)
    y.backward(grad_y)
    return y.detach(), x.grad, [p.grad for p in module.parameters()]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("activation", FFN_ACTIVATIONS)
def test_gradcheck_float64(activation: str, bias: bool) -> None:
    torch.manual_seed(1)
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    weight1 = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    weight2 = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    bias1 = torch.randn(5, dtype=torch.float64, requires_grad=True) if bias else None
    bias2 = torch.randn(4, dtype=torch.float64, requires_grad=True) if bias else None

    def block(x, weight1, bias1, weight2, bias2):
        return feed_forward(x, weight1, bias1, weight2, bias2, activation, 1.5)

    assert torch.autograd.gradcheck(block, (x, weight1, bias1, weight2, bias2))


@pytest.mark.parametrize(
    ("dtype", "tolerance"), [(torch.float64, 1e-12), (torch.float32, 1e-5)]
)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("activation", FFN_ACTIVATIONS)
def test_equals_reference(
    activation: str, bias: bool, dtype: torch.dtype, tolerance: float
) -> None:
    ours, reference = _pair(activation, bias, dtype)
    torch.manual_seed(2)
    x = torch.randn(3, 7, 6, dtype=dtype)
    grad_y = torch.randn(3, 7, 6, dtype=dtype)

    y, grad_x, grads = _grads(ours, x, grad_y)
    y_ref, grad_x_ref, grads_ref = _grads(reference, x, grad_y)

    torch.testing.assert_close(y, y_ref, rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(grad_x, grad_x_ref, rtol=tolerance, atol=tolerance)
    assert len(grads) == len(grads_ref)
    for grad, grad_ref in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(grad, grad_ref, rtol=tolerance, atol=tolerance)


def test_backward_is_block_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = ffn.block_backward

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(ffn, "block_backward", spy)
    module = FeedForward(4, 8)
    x = torch.randn(2, 4, requires_grad=True)
    y = module(x)
    y.sum().backward()

    assert type(y.grad_fn).__name__ == "_BlockFunctionBackward"
    assert len(calls) == 1
    assert x.grad is not None


def test_input_gradient_skipped_when_not_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requests = []
    original = ffn.block_backward

    def spy(*args, **kwargs):
        requests.append(kwargs["need_input_grad"])
        return original(*args, **kwargs)

    monkeypatch.setattr(ffn, "block_backward", spy)
    module = FeedForward(4, 8)
    module(torch.randn(2, 4)).sum().backward()

    assert requests == [False]
    assert module.weight1.grad is not None


def test_same_seed_same_initial_weights() -> None:
    ours, reference = _pair("gelu", True, torch.float32)
    assert torch.equal(ours.weight1, reference.fc1.weight)
    assert torch.equal(ours.weight2, reference.fc2.weight)
    assert torch.equal(ours.bias1, reference.fc1.bias)


def test_zero_width_gives_no_sublayer() -> None:
    assert make_feed_forward("foundations", 8, 0.0, "gelu") is None


@pytest.mark.parametrize(("ffn_mult", "n_hidden"), [(1.0, 8), (2.0, 16), (4.0, 32)])
def test_hidden_width_is_multiple(ffn_mult: float, n_hidden: int) -> None:
    module = make_feed_forward("foundations", 8, ffn_mult, "relu")
    assert module.weight1.shape == (n_hidden, 8)
    assert module.weight2.shape == (8, n_hidden)


@pytest.mark.parametrize(
    ("kind", "activation", "message"),
    [
        ("linear", "gelu", "ffn must be one of"),
        ("foundations", "swish", "activation must be one of"),
    ],
)
def test_unknown_names_rejected(kind: str, activation: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_feed_forward(kind, 8, 4.0, activation)
