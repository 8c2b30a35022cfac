"""Tokenizers built with Hugging Face ``tokenizers`` and trained on the corpus.

Two kinds:

- ``"bpe"``: byte-level BPE (the GPT-2 scheme). Every one of the 256 byte
  values is in the vocabulary, so any UTF-8 text (accents, emoji, tabs,
  CRLF) survives ``encode`` then ``decode`` unchanged.
- ``"char"``: one token per Unicode character seen in the training text.
  A character not seen in training becomes the ``[UNK]`` token, which
  decodes to the literal text ``[UNK]``. Text made of seen characters
  survives the round trip unchanged.

Special tokens come first in the vocabulary, so ids ``0 .. n_special - 1``
are special and every id from ``n_special`` on is a piece of text. The text
``[MASK]`` in an input is read as the mask token.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from nlpmlp.errors import CheckpointError, ConfigError

__all__ = [
    "MASK_TOKEN",
    "PAD_TOKEN",
    "TOKENIZER_KINDS",
    "UNK_TOKEN",
    "TextTokenizer",
    "train_tokenizer",
]

PAD_TOKEN = "[PAD]"
MASK_TOKEN = "[MASK]"
UNK_TOKEN = "[UNK]"
TOKENIZER_KINDS = ("bpe", "char")
_BYTE_VALUES = 256


class TextTokenizer:
    """A trained ``tokenizers.Tokenizer`` with the ids the model needs.

    Parameters
    ----------
    tokenizer : tokenizers.Tokenizer
        A tokenizer built by ``train_tokenizer`` or loaded from its JSON.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.backend = tokenizer
        self.kind = "bpe" if isinstance(tokenizer.model, models.BPE) else "char"
        self.pad_id = self._special_id(PAD_TOKEN)
        self.mask_id = self._special_id(MASK_TOKEN)
        specials = [PAD_TOKEN, MASK_TOKEN] + (
            [UNK_TOKEN] if self.kind == "char" else []
        )
        self.n_special = len(specials)

    @property
    def vocab_size(self) -> int:
        """Number of token ids, special tokens included."""
        return self.backend.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        """Return the token ids of ``text``."""
        return self.backend.encode(text).ids

    def decode(self, ids: Sequence[int]) -> str:
        """Return the text of ``ids``, special tokens written out as ``[MASK]``."""
        return self.backend.decode(list(ids), skip_special_tokens=False)

    def token(self, token_id: int) -> str:
        """Return the text of one token, as ``decode`` writes it."""
        return self.decode([token_id])

    def byte_lengths(self) -> torch.Tensor:
        """Return the UTF-8 length in bytes of each token id, for bits per byte.

        Special tokens have length 0. Byte-level BPE maps each byte to one
        character of a token's string, so its length is the string length.

        NOTE: ``[UNK]`` of the char tokenizer counts as 1 byte, because the
        character it replaced is unknown.
        """
        lengths = torch.zeros(self.vocab_size, dtype=torch.long)
        for token_id in range(self.n_special, self.vocab_size):
            piece = self.backend.id_to_token(token_id)
            lengths[token_id] = (
                len(piece) if self.kind == "bpe" else len(piece.encode("utf-8"))
            )
        if self.kind == "char":
            lengths[self._special_id(UNK_TOKEN)] = 1
        return lengths

    def save(self, path: str | Path) -> None:
        """Write the tokenizer as JSON (``tokenizer.json``), atomically."""
        from nlpmlp.checkpoint import atomic_write_bytes

        atomic_write_bytes(path, self.backend.to_str().encode("utf-8"))

    @classmethod
    def load(cls, path: str | Path) -> TextTokenizer:
        """Read a tokenizer saved by ``save``.

        Raises
        ------
        CheckpointError
            If the file is missing or is not a tokenizer of this project.
        """
        if not Path(path).is_file():
            raise CheckpointError(f"{path}: tokenizer file not found")
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as error:
            # tokenizers raises a bare Exception for unreadable JSON.
            raise CheckpointError(f"{path}: invalid tokenizer file: {error}") from error

    def _special_id(self, token: str) -> int:
        token_id = self.backend.token_to_id(token)
        if token_id is None:
            raise CheckpointError(f"tokenizer has no {token} token")
        return token_id


def train_tokenizer(
    text: str, kind: str = "bpe", vocab_size: int = 2048
) -> TextTokenizer:
    """Train a tokenizer of ``kind`` on ``text``.

    Parameters
    ----------
    text : str
        Training text.
    kind : {"bpe", "char"}
        Byte-level BPE or one token per character.
    vocab_size : int
        Size of the BPE vocabulary, special tokens included, at least
        258 (the 256 byte values and two special tokens). Ignored by
        ``"char"``, whose size is the number of distinct characters plus 3.
        BPE stops early when the text has no more pairs to merge.

    Raises
    ------
    ConfigError
        If ``kind`` is unknown or ``vocab_size`` too small.
    """
    if kind == "char":
        return TextTokenizer(_char_tokenizer(text))
    if kind != "bpe":
        raise ConfigError(f"tokenizer must be one of {TOKENIZER_KINDS}, got {kind!r}")
    minimum = _BYTE_VALUES + 2
    if vocab_size < minimum:
        raise ConfigError(
            f"vocab_size must be at least {minimum} for byte-level BPE, "
            f"got {vocab_size}"
        )
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD_TOKEN, MASK_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([text], trainer=trainer)
    return TextTokenizer(tokenizer)


def _char_tokenizer(text: str) -> Tokenizer:
    specials = [PAD_TOKEN, MASK_TOKEN, UNK_TOKEN]
    vocab = {token: index for index, token in enumerate(specials)}
    for character in sorted(set(text)):
        vocab[character] = len(vocab)
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    # [\s\S] matches any one character, line breaks included.
    tokenizer.pre_tokenizer = pre_tokenizers.Split(
        Regex(r"[\s\S]"), behavior="isolated"
    )
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_special_tokens(specials)
    return tokenizer
