"""Tests of nlpmlp.block: one autograd node per Transformer block."""

from __future__ import annotations

import pytest
import torch

import nlpmlp.model
from nlpmlp.block import _TransformerBlockFunction
from nlpmlp.model import Block, Encoder, ModelConfig


@pytest.fixture
def block_calls(monkeypatch) -> list[int]:
    """Count the calls of transformer_block made by model.Block."""
    calls: list[int] = []
    original = nlpmlp.model.transformer_block

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(nlpmlp.model, "transformer_block", counting)
    return calls


def make_model(**settings) -> Encoder:
    torch.manual_seed(0)
    config = dict(
        vocab_size=40, block_size=12, n_layer=2, n_head=2, n_embd=16, dropout=0.0
    )
    return Encoder(ModelConfig(**{**config, **settings})).double()


def loss_and_grads(model: Encoder) -> tuple[torch.Tensor, list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 40, (3, 12), generator=generator)
    targets = torch.randint(0, 40, (3, 12), generator=generator)
    model.zero_grad()
    loss = model(ids, targets).loss
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


def module_path_loss_and_grads(model, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(Block, "_runs_as_one_node", lambda self: False)
        return loss_and_grads(model)


def assert_same_results(loss, grads, expected_loss, expected_grads) -> None:
    """Assert equal losses and gradients, to 1e-12 of each largest entry."""
    assert torch.allclose(loss, expected_loss, rtol=1e-12, atol=0)
    for got, expected in zip(grads, expected_grads, strict=True):
        assert (got - expected).abs().max() <= 1e-12 * expected.abs().max()


@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh_sigmoid"])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidirectional"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_one_node_matches_modules(bias, causal, activation, block_calls, monkeypatch):
    model = make_model(bias=bias, causal=causal, activation=activation)
    loss, grads = loss_and_grads(model)
    assert len(block_calls) == 2  # one node per block
    expected_loss, expected_grads = module_path_loss_and_grads(model, monkeypatch)
    assert len(block_calls) == 2
    assert_same_results(loss, grads, expected_loss, expected_grads)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_block_gradcheck(bias):
    model = make_model(bias=bias, n_layer=1, causal=True)
    block = model.blocks[0]
    weights = [
        block.ln1.weight,
        block.ln1.bias,
        block.attn.qkv.weight,
        block.attn.qkv.bias,
        block.attn.proj.weight,
        block.attn.proj.bias,
        block.ln2.weight,
        block.ln2.bias,
        block.ffn.weight1,
        block.ffn.bias1,
        block.ffn.weight2,
        block.ffn.bias2,
    ]
    inputs = [
        None if w is None else (w.detach() + 0.1).requires_grad_() for w in weights
    ]
    x = torch.randn(2, 5, 16, dtype=torch.float64, requires_grad=True)
    options = (2, True, "gelu", 1.0, 1e-5, 1e-5)

    def function(x, *tensors):
        return _TransformerBlockFunction.apply(x, *tensors, options)

    assert torch.autograd.gradcheck(function, (x, *inputs), atol=1e-6, rtol=1e-5)


def test_later_positions_leave_causal_outputs_unchanged():
    model = make_model(causal=True)
    block = model.blocks[0]
    x = torch.randn(2, 6, 16, dtype=torch.float64, requires_grad=True)
    changed = x.detach().clone()
    changed[:, 4:] += 1.0
    first = block(x, None, True)
    second = block(changed.requires_grad_(), None, True)
    assert torch.equal(first[:, :4], second[:, :4])
    assert not torch.equal(first[:, 4:], second[:, 4:])


def test_dropout_uses_modules(block_calls):
    model = make_model(dropout=0.1)
    loss_and_grads(model)
    assert block_calls == []


def test_evaluation_mode_with_dropout_uses_one_node(block_calls):
    model = make_model(dropout=0.1).eval()
    loss_and_grads(model)
    assert len(block_calls) == 2


def test_padding_mask_uses_modules(block_calls):
    model = make_model()
    ids = torch.randint(0, 40, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 8:] = False
    model(ids, ids, attention_mask=mask).loss.backward()
    assert block_calls == []


def test_no_grad_uses_modules(block_calls):
    model = make_model()
    with torch.no_grad():
        model(torch.randint(0, 40, (2, 12)))
    assert block_calls == []


@pytest.mark.parametrize("ffn", ["reference", "glu"])
def test_other_feed_forwards_use_modules(ffn, block_calls):
    loss_and_grads(make_model(ffn=ffn))
    assert block_calls == []


def test_forward_hook_uses_modules(block_calls):
    model = make_model()
    seen: list[tuple[int, ...]] = []
    model.blocks[1].ffn.register_forward_hook(
        lambda module, args, output: seen.append(tuple(output.shape))
    )
    loss_and_grads(model)
    assert len(block_calls) == 1  # only the block without a hook
    assert seen == [(3, 12, 16)]


# (n_head, n_embd, time, batch): one head, heads of width 1 (whose split
# is a non-contiguous view), one position, one window.
ODD_SHAPES = [(1, 8, 5, 1), (4, 4, 1, 3), (2, 2, 9, 3), (2, 6, 9, 2), (1, 1, 3, 2)]


@pytest.mark.parametrize(("n_head", "n_embd", "time", "batch"), ODD_SHAPES)
def test_one_node_matches_modules_on_odd_shapes(
    n_head, n_embd, time, batch, block_calls, monkeypatch
):
    model = make_model(n_head=n_head, n_embd=n_embd, ffn_mult=1.5, causal=True)
    ids = torch.randint(
        0, 40, (batch, time), generator=torch.Generator().manual_seed(2)
    )

    def run() -> tuple[torch.Tensor, list[torch.Tensor]]:
        model.zero_grad()
        loss = model(ids, ids).loss
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    loss, grads = run()
    assert len(block_calls) == 2
    with monkeypatch.context() as patch:
        patch.setattr(Block, "_runs_as_one_node", lambda self: False)
        expected_loss, expected_grads = run()
    assert_same_results(loss, grads, expected_loss, expected_grads)


def test_backward_hook_uses_modules(block_calls):
    model = make_model()
    fired: list[int] = []
    model.blocks[0].attn.qkv.register_full_backward_hook(
        lambda module, grad_input, grad_output: fired.append(1)
    )
    loss_and_grads(model)
    assert len(block_calls) == 1  # only the block without a hook
    assert fired == [1]


def test_global_module_hook_uses_modules(block_calls):
    seen: list[str] = []
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda module, args, output: seen.append(type(module).__name__)
    )
    try:
        loss_and_grads(make_model())
    finally:
        handle.remove()
    assert block_calls == []
    assert "FeedForward" in seen


def test_each_layer_norm_keeps_its_eps(block_calls, monkeypatch):
    model = make_model()
    for block in model.blocks:
        block.ln2.eps = 0.5
    loss, grads = loss_and_grads(model)
    assert len(block_calls) == 2
    expected_loss, expected_grads = module_path_loss_and_grads(model, monkeypatch)
    assert_same_results(loss, grads, expected_loss, expected_grads)
