"""Tests of nlpmlp.tokenizer: round trips, special tokens, saving."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlpmlp.errors import CheckpointError, ConfigError
from nlpmlp.tokenizer import MASK_TOKEN, UNK_TOKEN, TextTokenizer, train_tokenizer

TRAINING_TEXT = (
    "Any UTF-8 text: café, naïve, 日本語, emoji 🎉🐍, tabs\tand CRLF\r\n"
    "and plain English sentences about the cat that sat on the mat.\n"
) * 20


@functools.cache
def _bpe() -> TextTokenizer:
    return train_tokenizer(TRAINING_TEXT, "bpe", 300)


@functools.cache
def _char() -> TextTokenizer:
    return train_tokenizer(TRAINING_TEXT, "char")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_bpe_round_trip_any_text(text: str) -> None:
    tokenizer = _bpe()
    assert tokenizer.decode(tokenizer.encode(text)) == text


@pytest.mark.parametrize(
    "text",
    ["déjà vu", "🎉 party 🐍", "a\tb\tc", "line\r\nbreak\r\n", "  two  spaces ", ""],
)
def test_bpe_round_trip_examples(text: str) -> None:
    tokenizer = _bpe()
    assert tokenizer.decode(tokenizer.encode(text)) == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=sorted(set(TRAINING_TEXT))))
def test_char_round_trip_seen_characters(text: str) -> None:
    tokenizer = _char()
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_char_unseen_character_is_unk() -> None:
    tokenizer = _char()
    ids = tokenizer.encode("cat€")
    assert tokenizer.decode(ids) == f"cat{UNK_TOKEN}"
    assert len(ids) == 4


def test_char_one_token_per_character() -> None:
    tokenizer = _char()
    assert len(tokenizer.encode("café\r\n")) == 6


@pytest.mark.parametrize("train", [_bpe, _char])
def test_mask_text_becomes_mask_token(train) -> None:
    tokenizer = train()
    ids = tokenizer.encode(f"the {MASK_TOKEN} sat")
    assert ids.count(tokenizer.mask_id) == 1


@pytest.mark.parametrize("train", [_bpe, _char])
def test_special_tokens_come_first(train) -> None:
    tokenizer = train()
    assert tokenizer.pad_id < tokenizer.n_special
    assert tokenizer.mask_id < tokenizer.n_special
    text_ids = tokenizer.encode("the cat sat")
    assert min(text_ids) >= tokenizer.n_special


@pytest.mark.parametrize("train", [_bpe, _char])
def test_saved_tokenizer_encodes_alike(train, tmp_path: Path) -> None:
    tokenizer = train()
    tokenizer.save(tmp_path / "tokenizer.json")
    loaded = TextTokenizer.load(tmp_path / "tokenizer.json")
    assert loaded.kind == tokenizer.kind
    assert loaded.encode(TRAINING_TEXT) == tokenizer.encode(TRAINING_TEXT)


def test_bpe_training_is_deterministic() -> None:
    first = train_tokenizer(TRAINING_TEXT, "bpe", 300)
    second = train_tokenizer(TRAINING_TEXT, "bpe", 300)
    assert first.backend.to_str() == second.backend.to_str()


@pytest.mark.parametrize("train", [_bpe, _char])
def test_byte_lengths_match_utf8(train) -> None:
    tokenizer = train()
    text = "café 🎉 naïve\tcat"
    lengths = tokenizer.byte_lengths()
    assert sum(int(lengths[i]) for i in tokenizer.encode(text)) == len(text.encode())


def test_small_bpe_vocabulary_rejected() -> None:
    with pytest.raises(ConfigError, match="vocab_size must be at least 258"):
        train_tokenizer(TRAINING_TEXT, "bpe", 100)


def test_unknown_kind_rejected() -> None:
    with pytest.raises(ConfigError, match="tokenizer must be one of"):
        train_tokenizer(TRAINING_TEXT, "wordpiece")


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="tokenizer file not found"):
        TextTokenizer.load(tmp_path / "missing.json")
