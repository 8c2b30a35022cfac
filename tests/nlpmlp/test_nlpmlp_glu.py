"""Tests of nlpmlp.glu: the gated feed-forward sublayer and its derived backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nlpmlp import glu
from nlpmlp.ffn import FEED_FORWARDS, FFN_ACTIVATIONS, torch_activation
from nlpmlp.glu import GatedFeedForward, gated_forward
from nlpmlp.model import Encoder, ModelConfig


def _autograd_gated(module: GatedFeedForward, x: torch.Tensor) -> torch.Tensor:
    """Return the same block built from torch operations, for autograd."""
    phi = torch_activation(module.activation, module.a)
    h = phi(F.linear(x, module.weight1, module.bias1))
    u = F.linear(x, module.weight3, module.bias3)
    return F.linear(h * u, module.weight2, module.bias2)


def _gradients(output: torch.Tensor, module, x: torch.Tensor, grad_y: torch.Tensor):
    inputs = [x, *module.parameters()]
    return torch.autograd.grad(output, inputs, grad_y)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("activation", FFN_ACTIVATIONS)
def test_gradcheck_float64(activation: str, bias: bool) -> None:
    torch.manual_seed(1)
    module = GatedFeedForward(4, 5, activation, bias, a=1.5).double()
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x,))


@pytest.mark.parametrize(
    ("dtype", "tolerance"), [(torch.float64, 1e-12), (torch.float32, 1e-5)]
)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("activation", FFN_ACTIVATIONS)
def test_equals_autograd(
    activation: str, bias: bool, dtype: torch.dtype, tolerance: float
) -> None:
    torch.manual_seed(2)
    module = GatedFeedForward(6, 10, activation, bias).to(dtype)
    for parameter in module.parameters():
        torch.nn.init.normal_(parameter)  # biases nonzero, so they matter
    x = torch.randn(3, 7, 6, dtype=dtype, requires_grad=True)
    grad_y = torch.randn(3, 7, 6, dtype=dtype)

    ours = module(x)
    reference = _autograd_gated(module, x)
    torch.testing.assert_close(ours, reference, rtol=tolerance, atol=tolerance)
    pairs = zip(
        _gradients(ours, module, x, grad_y),
        _gradients(reference, module, x, grad_y),
        strict=True,
    )
    for grad, grad_reference in pairs:
        torch.testing.assert_close(grad, grad_reference, rtol=tolerance, atol=tolerance)


def test_backward_is_gated_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = glu.gated_backward

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(glu, "gated_backward", spy)
    module = GatedFeedForward(4, 6)
    module(torch.randn(2, 4)).sum().backward()
    assert len(calls) == 1
    assert calls[0]["need_input_grad"] is False


def test_hidden_is_product_of_branches() -> None:
    torch.manual_seed(3)
    module = GatedFeedForward(4, 6, "relu")
    x = torch.randn(5, 4)
    expected = F.relu(F.linear(x, module.weight1, module.bias1)) * F.linear(
        x, module.weight3, module.bias3
    )
    torch.testing.assert_close(module.hidden(x), expected)


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        ({"weight3": (6, 3)}, r"weight3 must have shape \(6, 4\)"),
        ({"weight2": (6, 4)}, r"weight2 must have shape \(4, 6\)"),
        ({"bias3": (4,)}, r"bias3 must have shape \(6,\)"),
        ({"x": (2, 5)}, "x must have 4 entries on its last axis"),
        ({"weight1": (6,)}, r"weight1 must be a matrix, got shape \(6,\)"),
    ],
)
def test_shape_mismatch_rejected(shapes: dict, message: str) -> None:
    sizes = {
        "x": (2, 4),
        "weight1": (6, 4),
        "weight3": (6, 4),
        "weight2": (4, 6),
        "bias1": (6,),
        "bias3": (6,),
        "bias2": (4,),
    }
    arrays = {name: torch.zeros({**sizes, **shapes}[name]) for name in sizes}
    weights = (arrays["weight1"], arrays["weight3"], arrays["weight2"])
    biases = (arrays["bias1"], arrays["bias3"], arrays["bias2"])
    with pytest.raises(ValueError, match=message):
        gated_forward(arrays["x"], weights, biases)


def test_encoder_builds_glu() -> None:
    config = ModelConfig(
        vocab_size=30, block_size=8, n_layer=2, n_head=2, n_embd=8, ffn="glu"
    )
    model = Encoder(config)
    block = model.blocks[0]
    assert FEED_FORWARDS["glu"] is GatedFeedForward
    assert isinstance(block.ffn, GatedFeedForward)
    # Three weight matrices of 32 x 8 (ffn_mult 4) and biases of 32, 32 and 8.
    ffn_parameters = sum(p.numel() for p in block.ffn.parameters())
    assert ffn_parameters == 3 * 32 * 8 + 32 + 32 + 8
    ids = torch.randint(3, 30, (2, 8))
    model(ids, ids).loss.backward()
    assert block.ffn.weight3.grad is not None
    assert torch.count_nonzero(block.ffn.weight3.grad) > 0
