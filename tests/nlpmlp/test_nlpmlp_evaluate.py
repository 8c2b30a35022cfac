"""Tests of nlpmlp.evaluate: whole-text windows, masks, baseline, bits per byte."""

from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn.functional as F

from nlpmlp.evaluate import evaluate, unigram_log_probs
from nlpmlp.model import Encoder, ModelConfig
from nlpmlp.tokenizer import TextTokenizer, train_tokenizer

TEXT = "The cat sat on the mat. A dog ran far away from home! " * 12


@functools.cache
def _tokenizer() -> TextTokenizer:
    return train_tokenizer(TEXT, "char")


def _model(causal: bool) -> Encoder:
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=_tokenizer().vocab_size,
        block_size=16,
        n_layer=1,
        n_head=2,
        n_embd=16,
        dropout=0.0,
        causal=causal,
    )
    return Encoder(config)


def _tokens() -> torch.Tensor:
    return torch.tensor(_tokenizer().encode(TEXT), dtype=torch.long)


def test_causal_predicts_every_token_but_first() -> None:
    tokens = _tokens()
    result = evaluate(_model(causal=True), tokens, _tokenizer(), 4, seed=0)
    assert result.n_targets == tokens.numel() - 1


def test_causal_loss_is_mean_cross_entropy() -> None:
    tokens = _tokens()[:33]  # two full windows of 16 inputs and one target more
    model = _model(causal=True).eval()
    result = evaluate(model, tokens, _tokenizer(), 4, seed=0)
    with torch.no_grad():
        logits = model(torch.stack([tokens[:16], tokens[16:32]])).logits
    expected = F.cross_entropy(logits.flatten(0, 1).double(), tokens[1:33])
    assert result.loss == pytest.approx(float(expected), rel=1e-6)
    assert result.perplexity == pytest.approx(math.exp(float(expected)), rel=1e-6)


@pytest.mark.parametrize("causal", [False, True])
def test_result_independent_of_batch_size(causal: bool) -> None:
    model, tokens = _model(causal), _tokens()
    single = evaluate(model, tokens, _tokenizer(), 1, seed=3)
    seven = evaluate(model, tokens, _tokenizer(), 7, seed=3)
    assert single.n_targets == seven.n_targets
    assert single.loss == pytest.approx(seven.loss, rel=1e-6)


def test_masked_lm_targets_about_fifteen_percent() -> None:
    tokens = _tokens()
    result = evaluate(_model(causal=False), tokens, _tokenizer(), 8, seed=0)
    assert 0.10 < result.n_targets / tokens.numel() < 0.20


def test_bits_per_byte_of_ascii_text() -> None:
    # Every character of TEXT is one byte, so bits per byte is loss / ln 2.
    result = evaluate(_model(causal=True), _tokens(), _tokenizer(), 8, seed=0)
    assert result.bits_per_byte == pytest.approx(result.loss / math.log(2), rel=1e-9)


def test_unigram_baseline_is_smoothed_frequency() -> None:
    tokens = _tokens()
    vocab_size = _tokenizer().vocab_size
    log_p = unigram_log_probs(tokens, vocab_size)
    counts = torch.bincount(tokens, minlength=vocab_size).double() + 1
    assert torch.allclose(log_p.exp(), counts / counts.sum())
    result = evaluate(_model(True), tokens, _tokenizer(), 8, seed=0, unigram=log_p)
    expected = -float(log_p[tokens[1:]].mean())
    assert result.unigram_loss == pytest.approx(expected, rel=1e-9)
