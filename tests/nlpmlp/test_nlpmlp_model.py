"""Tests of nlpmlp.model: masks, tied head, loss, feed-forward choice."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nlpmlp.data import IGNORE_INDEX
from nlpmlp.model import Encoder, ModelConfig


def _model(seed: int = 0, **overrides) -> Encoder:
    torch.manual_seed(seed)
    settings = dict(
        vocab_size=40, block_size=12, n_layer=2, n_head=2, n_embd=16, dropout=0.0
    )
    return Encoder(ModelConfig(**{**settings, **overrides})).eval()


def _ids(seed: int = 0) -> torch.Tensor:
    return torch.randint(3, 40, (2, 10), generator=torch.Generator().manual_seed(seed))


def test_causal_output_ignores_future_tokens() -> None:
    model = _model(causal=True)
    ids = _ids()
    changed = ids.clone()
    changed[:, 6:] = 5
    before = model(ids).logits
    after = model(changed).logits
    torch.testing.assert_close(before[:, :6], after[:, :6])
    assert not torch.allclose(before[:, 6:], after[:, 6:])


def test_masked_lm_sees_both_sides() -> None:
    model = _model(causal=False)
    ids = _ids()
    changed = ids.clone()
    changed[:, 9] = (ids[:, 9] + 1 - 3) % 37 + 3
    assert not torch.allclose(model(ids).logits[:, 0], model(changed).logits[:, 0])


@pytest.mark.parametrize("causal", [False, True])
def test_padding_does_not_change_real_positions(causal: bool) -> None:
    model = _model(causal=causal)
    ids = _ids()
    padded = torch.cat([ids, torch.zeros(2, 2, dtype=torch.long)], dim=1)
    mask = torch.ones_like(padded, dtype=torch.bool)
    mask[:, 10:] = False
    plain = model(ids).logits
    with_padding = model(padded, attention_mask=mask).logits
    torch.testing.assert_close(with_padding[:, :10], plain, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_loss_is_cross_entropy_of_targets(causal: bool) -> None:
    model = _model(causal=causal)
    ids = _ids()
    targets = _ids(seed=1)
    if not causal:
        targets[:, ::2] = IGNORE_INDEX
    loss = model(ids, targets).loss
    logits = model(ids).logits
    expected = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    torch.testing.assert_close(loss, expected)


def test_head_is_tied_to_embedding() -> None:
    model = _model()
    assert model.lm_head.weight is model.tok_emb.weight
    hidden = model.hidden_states(_ids())
    torch.testing.assert_close(model(_ids()).logits, hidden @ model.tok_emb.weight.T)


@pytest.mark.parametrize("ffn_mult", [0.0, 1.0, 2.0, 4.0])
def test_reference_ffn_model_matches(ffn_mult: float) -> None:
    ours = _model(ffn="foundations", ffn_mult=ffn_mult)
    reference = _model(ffn="reference", ffn_mult=ffn_mult)
    ids, targets = _ids(), _ids(seed=1)
    loss = ours(ids, targets).loss
    loss_reference = reference(ids, targets).loss
    torch.testing.assert_close(loss, loss_reference, rtol=1e-6, atol=1e-6)
    loss.backward()
    loss_reference.backward()
    torch.testing.assert_close(
        ours.tok_emb.weight.grad, reference.tok_emb.weight.grad, rtol=1e-5, atol=1e-7
    )


def test_zero_width_has_no_feed_forward() -> None:
    model = _model(ffn_mult=0.0)
    assert all(block.ffn is None for block in model.blocks)


def test_too_long_input_rejected() -> None:
    with pytest.raises(ValueError, match="more than block_size 12"):
        _model()(torch.zeros(1, 13, dtype=torch.long))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_embd": 15}, "must be a multiple of n_head"),
        ({"n_layer": 0}, "n_layer must be >= 1"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"activation": "swish"}, "activation must be one of"),
    ],
)
def test_invalid_config_rejected(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _model(**overrides)
