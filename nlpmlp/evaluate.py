r"""Evaluation on a whole text: loss, perplexity, bits per byte, accuracy.

The loss is the mean cross-entropy in nats per target token,

$$
L = -\frac{1}{N} \sum_{n=1}^{N} \ln p(t_n \mid \text{context}_n),
$$

perplexity is $e^L$, and bits per byte divides the total
$-\sum_n \log_2 p(t_n)$ by the UTF-8 length of the target tokens, which
makes models with different tokenizers comparable. The unigram baseline is
the same cross-entropy under the token frequencies of the training text
(add-one smoothed), a model that ignores the context.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from nlpmlp.data import (
    IGNORE_INDEX,
    Batch,
    evaluation_windows,
    mask_tokens,
    step_generator,
)
from nlpmlp.errors import DataError
from nlpmlp.model import Encoder
from nlpmlp.tokenizer import TextTokenizer

__all__ = ["Evaluation", "evaluate", "unigram_log_probs"]

_MASK_STREAM = 1  # generator stream of the masks of validation text


@dataclass
class Evaluation:
    """Metrics of a model on a text; losses in nats per target token."""

    loss: float
    perplexity: float
    bits_per_byte: float
    accuracy: float  # fraction of targets whose most likely token is right
    n_targets: int
    unigram_loss: float | None = None  # unigram baseline on the same targets

    def to_dict(self) -> dict[str, float | int | None]:
        """Return the metrics as a JSON-ready dictionary."""
        return asdict(self)


def unigram_log_probs(tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    r"""Return $\ln p(t)$ of each token id, from add-one smoothed counts.

    Parameters
    ----------
    tokens : LongTensor of shape (n,)
        Training tokens.
    vocab_size : int

    Returns
    -------
    float64 tensor of shape (vocab_size,)
    """
    counts = torch.bincount(tokens, minlength=vocab_size).double() + 1.0
    return torch.log(counts / counts.sum())


@torch.no_grad()
def evaluate(
    model: Encoder,
    tokens: torch.Tensor,
    tokenizer: TextTokenizer,
    batch_size: int,
    seed: int,
    max_windows: int = 0,
    unigram: torch.Tensor | None = None,
) -> Evaluation:
    """Evaluate ``model`` on every non-overlapping window of ``tokens``.

    Masked LM draws its masks from a generator seeded by ``seed`` alone, so
    every evaluation of a run masks the same positions.

    Parameters
    ----------
    model : Encoder
    tokens : LongTensor of shape (n,)
        The text to evaluate on.
    tokenizer : TextTokenizer
        Gives the mask id and the byte length of each token.
    batch_size : int
        Windows per forward pass.
    seed : int
    max_windows : int, default 0
        Evaluate this many evenly spaced windows (0: all).
    unigram : tensor of shape (vocab,), optional
        ``unigram_log_probs`` of the training text, for the baseline.
    """
    byte_lengths = tokenizer.byte_lengths()
    totals = torch.zeros(5, dtype=torch.float64)  # nll, targets, right, bytes, unigram
    was_training = model.training
    model.eval()
    for batch in _batches(model, tokens, tokenizer, batch_size, seed, max_windows):
        targets = batch.targets[batch.targets != IGNORE_INDEX]  # (n_targets,)
        if targets.numel() == 0:
            continue
        logits = model(batch.inputs, batch.targets).logits  # (n_targets, vocab)
        totals[0] += F.cross_entropy(logits.double(), targets, reduction="sum")
        totals[1] += targets.numel()
        totals[2] += (logits.argmax(dim=-1) == targets).sum()
        totals[3] += byte_lengths[targets].sum()
        if unigram is not None:
            totals[4] -= unigram[targets].sum()
    model.train(was_training)
    return _summarize(totals, unigram is not None)


def _batches(
    model: Encoder,
    tokens: torch.Tensor,
    tokenizer: TextTokenizer,
    batch_size: int,
    seed: int,
    max_windows: int,
) -> Iterator[Batch]:
    # Masks are drawn once for the whole text, so they do not depend on the
    # batch size or on which windows are evaluated.
    config = model.config
    objective = "causal" if config.causal else "mlm"
    if config.causal:
        inputs, targets = tokens[:-1], tokens[1:]
    else:
        generator = step_generator(seed, 0, _MASK_STREAM)
        inputs, targets = mask_tokens(
            tokens[None, :],
            tokenizer.mask_id,
            tokenizer.n_special,
            tokenizer.vocab_size,
            generator,
        )
        inputs, targets = inputs[0], targets[0]

    windows = evaluation_windows(
        tokens.numel(), objective, config.block_size, max_windows
    )
    # A causal window's slice covers its inputs and one more token, the last target.
    shrink = 1 if config.causal else 0
    spans = [slice(w.start, w.stop - shrink) for w in windows]
    full = [span for span in spans if span.stop - span.start == config.block_size]

    for first in range(0, len(full), batch_size):
        group = full[first : first + batch_size]
        yield Batch(
            torch.stack([inputs[span] for span in group]),
            torch.stack([targets[span] for span in group]),
        )
    for span in spans:
        if span.stop - span.start < config.block_size:
            yield Batch(inputs[span][None, :], targets[span][None, :])


def _summarize(totals: torch.Tensor, has_unigram: bool) -> Evaluation:
    nll, count, right, n_bytes, unigram_nll = totals.tolist()
    if count == 0:
        raise DataError("the evaluation text is too short to have any target token")
    loss = nll / count
    return Evaluation(
        loss=loss,
        perplexity=math.exp(min(loss, 700.0)),  # exp overflows float64 past ~709
        bits_per_byte=nll / math.log(2.0) / max(n_bytes, 1.0),
        accuracy=right / count,
        n_targets=int(count),
        unigram_loss=unigram_nll / count if has_unigram else None,
    )
