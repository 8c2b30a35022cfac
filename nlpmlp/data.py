"""Token windows for training and evaluation, with MLM masking or a causal shift.

Masked LM (BERT's scheme): each token is chosen as a target with probability
0.15; a chosen token becomes the mask token with probability 0.8, a random
text token with probability 0.1, and stays unchanged with probability 0.1.
Causal LM: a window of ``block_size + 1`` tokens gives the inputs (all but
the last) and the next-token targets (all but the first).

Every random choice draws from a ``torch.Generator`` seeded from the run's
seed and the step (``step_generator``), so batch ``n`` is the same whether a
run was resumed or not.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

__all__ = [
    "IGNORE_INDEX",
    "MASK_PROBABILITY",
    "OBJECTIVES",
    "Batch",
    "evaluation_windows",
    "mask_tokens",
    "sample_batch",
    "shard_rows",
    "step_generator",
    "window_length",
]

IGNORE_INDEX = -100  # target of a position without a loss term, as in F.cross_entropy
MASK_PROBABILITY = 0.15
_REPLACE_WITH_MASK = 0.8
_REPLACE_WITH_RANDOM = 0.1
OBJECTIVES = ("mlm", "causal")


class Batch(NamedTuple):
    """Model inputs and targets, both of shape (batch, time).

    ``targets`` is ``IGNORE_INDEX`` where a position has no loss term.
    """

    inputs: torch.Tensor
    targets: torch.Tensor


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """Return a generator seeded by ``seed``, ``step`` and a stream number.

    Streams keep independent draws apart (0 for training batches, 1 for the
    masks of validation text).
    """
    # torch's CPU generator keeps only the low 32 bits of a seed, so the
    # three numbers are hashed into 32 bits rather than packed side by side.
    mixed = np.random.SeedSequence((seed, stream, step)).generate_state(1)[0]
    return torch.Generator().manual_seed(int(mixed))


def window_length(objective: str, block_size: int) -> int:
    """Return how many tokens one training window takes from the text."""
    return block_size + 1 if objective == "causal" else block_size


def mask_tokens(
    ids: torch.Tensor,
    mask_id: int,
    first_text_id: int,
    vocab_size: int,
    generator: torch.Generator,
) -> Batch:
    """Choose MLM targets and corrupt the inputs with the 80/10/10 rule.

    Parameters
    ----------
    ids : LongTensor of shape (batch, time)
        Token ids of the text.
    mask_id : int
        Id of the mask token.
    first_text_id : int
        Random replacements are drawn uniformly from
        ``first_text_id .. vocab_size - 1``, never a special token.
    vocab_size : int
    generator : torch.Generator

    Returns
    -------
    Batch
        Corrupted inputs, and targets equal to ``ids`` at the chosen
        positions and ``IGNORE_INDEX`` elsewhere.
    """
    chosen = torch.rand(ids.shape, generator=generator) < MASK_PROBABILITY
    action = torch.rand(ids.shape, generator=generator)
    to_mask = chosen & (action < _REPLACE_WITH_MASK)
    to_random = (
        chosen
        & (action >= _REPLACE_WITH_MASK)
        & (action < _REPLACE_WITH_MASK + _REPLACE_WITH_RANDOM)
    )
    random_ids = torch.randint(
        first_text_id, vocab_size, ids.shape, generator=generator, dtype=ids.dtype
    )

    inputs = torch.where(to_mask, mask_id, ids)
    inputs = torch.where(to_random, random_ids, inputs)
    targets = torch.where(chosen, ids, IGNORE_INDEX)
    return Batch(inputs, targets)


def make_batch(
    windows: torch.Tensor,
    objective: str,
    mask_id: int,
    first_text_id: int,
    vocab_size: int,
    generator: torch.Generator,
) -> Batch:
    """Turn windows of text (batch, window) into inputs and targets."""
    if objective == "causal":
        return Batch(windows[:, :-1], windows[:, 1:])
    return mask_tokens(windows, mask_id, first_text_id, vocab_size, generator)


def shard_rows(batch: Batch, rank: int, world_size: int) -> Batch:
    """Return the rows ``rank, rank + world_size, ...`` of ``batch``.

    The shards of ranks ``0 .. world_size - 1`` together hold every row once,
    so processes that each draw the same global batch and keep their shard
    train on the same examples as one process on the whole batch.

    Returns
    -------
    Batch
        Inputs and targets of shape (batch / world_size, time) when
        ``world_size`` divides the batch.
    """
    return Batch(batch.inputs[rank::world_size], batch.targets[rank::world_size])


def sample_batch(
    tokens: torch.Tensor,
    batch_size: int,
    length: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """Return ``batch_size`` windows of ``length`` tokens at random offsets.

    Returns
    -------
    LongTensor of shape (batch_size, length)
    """
    starts = torch.randint(
        0, tokens.numel() - length + 1, (batch_size,), generator=generator
    )
    offsets = starts[:, None] + torch.arange(length)  # (batch, length)
    return tokens[offsets]


def evaluation_windows(
    n_tokens: int, objective: str, block_size: int, max_windows: int = 0
) -> list[slice]:
    """Return every non-overlapping window of a text of ``n_tokens`` tokens.

    Windows start at multiples of ``block_size``. A causal window has one
    token more than its inputs, the last target, so every token but the
    first is a target of exactly one causal window. A masked-LM window has
    ``block_size`` tokens, so every token is in exactly one window. The last
    window may be shorter. ``max_windows > 0`` keeps that many windows,
    evenly spaced, in place of all of them.
    """
    extra = 1 if objective == "causal" else 0
    starts = list(range(0, n_tokens - extra, block_size))
    if 0 < max_windows < len(starts):
        spacing = len(starts) / max_windows
        starts = [starts[int(index * spacing)] for index in range(max_windows)]
    return [slice(start, min(start + block_size + extra, n_tokens)) for start in starts]
