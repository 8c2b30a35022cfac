"""Tests of nlpmlp.train: the learning-rate schedule and the configuration."""

from __future__ import annotations

import math

import pytest

from nlpmlp.config import PRESETS, TrainConfig
from nlpmlp.errors import ConfigError
from nlpmlp.train import learning_rate

CONFIG = TrainConfig(
    lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=110, decay_steps=110
)


def test_warmup_is_linear() -> None:
    assert learning_rate(CONFIG, 0) == pytest.approx(1e-4)
    assert learning_rate(CONFIG, 4) == pytest.approx(5e-4)
    assert learning_rate(CONFIG, 9) == pytest.approx(1e-3)


def test_cosine_from_peak_to_minimum() -> None:
    assert learning_rate(CONFIG, 10) == pytest.approx(1e-3)
    assert learning_rate(CONFIG, 60) == pytest.approx(0.5 * (1e-3 + 1e-4))
    expected = 1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi * 0.25))
    assert learning_rate(CONFIG, 35) == pytest.approx(expected)


def test_minimum_after_decay() -> None:
    assert learning_rate(CONFIG, 110) == pytest.approx(1e-4)
    assert learning_rate(CONFIG, 500) == pytest.approx(1e-4)


def test_char_baby_preset_settings() -> None:
    config = TrainConfig(**PRESETS["char-baby"])
    config.validate()
    shape = (config.n_layer, config.n_head, config.n_embd, config.block_size)
    assert shape == (4, 4, 128, 64)
    assert (config.batch_size, config.max_steps, config.dropout) == (12, 2000, 0.0)
    assert (config.objective, config.tokenizer) == ("causal", "char")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"max_steps": 0}, "max_steps must be >= 1"),
        ({"lr": 0.0}, "lr must be > 0.0"),
        ({"min_lr": 1.0}, "min_lr must be <= lr"),
        ({"validation_fraction": 1.0}, "validation_fraction must be < 1.0"),
        ({"beta2": 1.0}, "beta2 must be < 1.0"),
        ({"n_embd": 100, "n_head": 3}, "must be a multiple of n_head"),
        ({"grad_clip": 1e-40}, r"grad_clip must be 0 \(no clipping\) or at least"),
    ],
)
def test_invalid_settings_rejected(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**overrides).validate()
