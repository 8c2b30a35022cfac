"""Tests of nlpmlp.attention against torch's scaled_dot_product_attention."""

from __future__ import annotations

import pytest
import torch

from nlpmlp.attention import attention, reference_attention
from nlpmlp.model import Encoder, ModelConfig


def _qkv(batch: int, time: int, n_embd: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, time, 3 * n_embd)
    return torch.randn(shape, generator=generator, dtype=torch.float64)


SHAPES = [(2, 5, 4, 1), (3, 7, 8, 2), (2, 16, 12, 4), (1, 1, 8, 4)]


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(("batch", "time", "n_embd", "n_head"), SHAPES)
def test_matches_torch_forward_and_backward(
    batch: int, time: int, n_embd: int, n_head: int, causal: bool
) -> None:
    qkv = _qkv(batch, time, n_embd).requires_grad_()
    reference = qkv.detach().clone().requires_grad_()
    generator = torch.Generator().manual_seed(1)
    grad_out = torch.randn(
        batch, time, n_embd, generator=generator, dtype=torch.float64
    )
    ours = attention(qkv, n_head, causal)
    theirs = reference_attention(reference, n_head, causal)
    ours.backward(grad_out)
    theirs.backward(grad_out)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(qkv.grad, reference.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck(causal: bool) -> None:
    qkv = _qkv(2, 6, 8).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: attention(t, 2, causal), (qkv,))


def test_causal_output_ignores_later_positions() -> None:
    qkv = _qkv(1, 6, 4)
    changed = qkv.clone()
    changed[:, 4:] += 1.0
    before, after = attention(qkv, 2, True), attention(changed, 2, True)
    torch.testing.assert_close(before[:, :4], after[:, :4], rtol=0, atol=0)
    assert not torch.allclose(before[:, 4:], after[:, 4:])


@pytest.mark.parametrize("shape", [(2, 5, 10), (2, 5, 12, 1), (5, 12)])
def test_bad_shape_rejected(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"qkv must have shape .* n_head=2"):
        attention(torch.zeros(shape), 2, True)


@pytest.mark.parametrize("causal", [False, True])
def test_model_training_path_matches_inference_path(causal: bool) -> None:
    # With gradients the model takes nlpmlp.attention, without them torch's
    # kernel; both must give the same logits.
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=16, causal=causal
    )
    model = Encoder(config).eval()
    ids = torch.randint(0, 30, (3, 16), generator=torch.Generator().manual_seed(2))
    training_path = model(ids).logits
    with torch.no_grad():
        inference_path = model(ids).logits
    torch.testing.assert_close(
        training_path.detach(), inference_path, rtol=1e-5, atol=1e-5
    )
