"""Using a trained run: load it, fill masks, generate text.

A masked-LM run supports ``fill_mask`` and a causal-LM run supports
``generate``. Calling either with the other kind of run raises
``ConfigError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from nlpmlp import checkpoint
from nlpmlp.config import TrainConfig
from nlpmlp.errors import CheckpointError, ConfigError, DataError
from nlpmlp.model import Encoder, ModelConfig
from nlpmlp.tokenizer import MASK_TOKEN, TextTokenizer

__all__ = [
    "Prediction",
    "Run",
    "fill_mask",
    "fill_mask_examples",
    "generate",
    "load_run",
]


@dataclass
class Run:
    """A trained run read back from its directory, model in evaluation mode."""

    path: Path
    config: TrainConfig
    tokenizer: TextTokenizer
    model: Encoder
    step: int


@dataclass
class Prediction:
    """One candidate token for a masked position."""

    token: str
    probability: float


def load_run(run_dir: str | Path) -> Run:
    """Read a run directory written by ``nlpmlp train``.

    Raises
    ------
    CheckpointError
        If the directory or one of its files is missing or invalid.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: run directory not found")
    saved = checkpoint.load_json(run_dir / checkpoint.CONFIG_FILE)
    try:
        config = TrainConfig.from_dict(saved["train"])
        model_config = ModelConfig(**saved["model"])
        model = Encoder(model_config)
    except (KeyError, TypeError, ConfigError) as error:
        raise CheckpointError(f"{run_dir}: invalid config.json: {error}") from error
    tokenizer = TextTokenizer.load(run_dir / checkpoint.TOKENIZER_FILE)
    if tokenizer.vocab_size != model_config.vocab_size:
        raise checkpoint.tokenizer_size_error(
            run_dir, tokenizer.vocab_size, model_config.vocab_size
        )
    step = checkpoint.load_weights(model, run_dir / checkpoint.MODEL_FILE)
    model.eval()
    return Run(run_dir, config, tokenizer, model, step)


def fill_mask(
    model: Encoder, tokenizer: TextTokenizer, text: str, top_k: int = 5
) -> list[list[Prediction]]:
    """Return the ``top_k`` most likely tokens at each ``[MASK]`` of ``text``.

    Special tokens are left out, and the probabilities are renormalized over
    the text tokens.

    Raises
    ------
    ConfigError
        If ``model`` is a causal LM.
    DataError
        If ``text`` has no mask token or more tokens than the block size.
    """
    if model.config.causal:
        raise ConfigError(
            "this run is a causal LM, which cannot fill masks; "
            "use 'nlpmlp generate' or train with --objective mlm"
        )
    return _predict_masks(model, tokenizer, _encode_for(model, tokenizer, text), top_k)


@torch.no_grad()
def generate(
    model: Encoder,
    tokenizer: TextTokenizer,
    prompt: str,
    max_new_tokens: int = 200,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int = 0,
) -> str:
    """Continue ``prompt`` with tokens sampled from a causal LM.

    Parameters
    ----------
    model : Encoder
        A causal LM.
    tokenizer : TextTokenizer
    prompt : str
        Text to continue; it must encode to at least one token. Only its last
        ``block_size`` tokens condition each step.
    max_new_tokens : int
    temperature : float
        Logits are divided by it; 0 picks the most likely token every time.
    top_k : int
        Sample among the ``top_k`` most likely tokens (0: all). Special
        tokens are never sampled.
    top_p : float
        Sample among the most likely tokens whose probabilities add up to at
        least ``top_p`` (nucleus sampling; 1: all).
    seed : int
        Seed of the sampling generator.

    Returns
    -------
    str
        The prompt followed by the generated text.

    Raises
    ------
    ConfigError
        If ``model`` is a masked LM.
    DataError
        If ``prompt`` encodes to no token.
    """
    if not model.config.causal:
        raise ConfigError(
            "this run is a masked LM, which cannot generate text; "
            "use 'nlpmlp fill-mask' or train with --objective causal"
        )
    ids = torch.tensor(tokenizer.encode(prompt), dtype=torch.long)
    if ids.numel() == 0:
        raise DataError("prompt is empty; give at least one character")
    generator = torch.Generator().manual_seed(seed)
    for _ in range(max_new_tokens):
        context = ids[-model.config.block_size :]
        logits = model(context[None, :]).logits[0, -1].float()  # (vocab,)
        logits[: tokenizer.n_special] = float("-inf")  # never [PAD], [MASK], [UNK]
        next_id = _sample(logits, temperature, top_k, top_p, generator)
        ids = torch.cat([ids, next_id.view(1)])
    return tokenizer.decode(ids.tolist())


def fill_mask_examples(
    model: Encoder, tokenizer: TextTokenizer, text: str, count: int = 3
) -> list[tuple[str, str, list[Prediction]]]:
    """Mask the middle token of ``count`` evenly spaced snippets of ``text``.

    Returns
    -------
    list of (masked snippet, masked token, top-3 predictions)
    """
    ids = tokenizer.encode(text)
    length = min(16, model.config.block_size, len(ids))
    examples = []
    for index in range(count):
        start = (len(ids) - length) * index // max(count - 1, 1)
        snippet = torch.tensor(ids[start : start + length], dtype=torch.long)
        middle = length // 2
        answer = tokenizer.token(int(snippet[middle]))
        snippet[middle] = tokenizer.mask_id
        predictions = _predict_masks(model, tokenizer, snippet, top_k=3)[0]
        examples.append((tokenizer.decode(snippet.tolist()), answer, predictions))
    return examples


def _predict_masks(
    model: Encoder, tokenizer: TextTokenizer, ids: torch.Tensor, top_k: int
) -> list[list[Prediction]]:
    positions = (ids == tokenizer.mask_id).nonzero().flatten()
    if positions.numel() == 0:
        raise DataError(
            f"text has no {MASK_TOKEN} token: {tokenizer.decode(ids.tolist())!r}"
        )
    with torch.no_grad():
        logits = model(ids[None, :]).logits[0, positions]  # (n_masks, vocab)
    logits[:, : tokenizer.n_special] = float("-inf")  # text tokens only
    probabilities = torch.softmax(logits.float(), dim=-1)
    top = probabilities.topk(min(top_k, tokenizer.vocab_size), dim=-1)
    return [
        [
            Prediction(tokenizer.token(int(token_id)), float(p))
            for p, token_id in zip(row_p, row_id, strict=True)
        ]
        for row_p, row_id in zip(top.values, top.indices, strict=True)
    ]


def _encode_for(model: Encoder, tokenizer: TextTokenizer, text: str) -> torch.Tensor:
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    if ids.numel() > model.config.block_size:
        raise DataError(
            f"text has {ids.numel()} tokens, more than the model's block size "
            f"{model.config.block_size}"
        )
    return ids


def _sample(
    logits: torch.Tensor,
    temperature: float,
    top_k: int,
    top_p: float,
    generator: torch.Generator,
) -> torch.Tensor:
    if temperature == 0:
        return logits.argmax()
    logits = logits / temperature
    if 0 < top_k < logits.numel():
        threshold = logits.topk(top_k).values[-1]
        logits = logits.masked_fill(logits < threshold, float("-inf"))
    probabilities = torch.softmax(logits, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probabilities.sort(descending=True)
        # Keep each token whose predecessors add up to less than top_p, so the
        # most likely token always stays.
        keep = sorted_p.cumsum(0) - sorted_p < top_p
        probabilities = torch.zeros_like(probabilities).scatter(
            0, order[keep], sorted_p[keep]
        )
    return torch.multinomial(probabilities, 1, generator=generator)[0]
