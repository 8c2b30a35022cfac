"""Tests of nlpmlp.data: MLM masking, causal shift, windows, seeding."""

from __future__ import annotations

import math

import pytest
import torch

from nlpmlp.data import (
    IGNORE_INDEX,
    evaluation_windows,
    make_batch,
    mask_tokens,
    sample_batch,
    step_generator,
)

MASK_ID = 1
FIRST_TEXT_ID = 3
VOCAB_SIZE = 1000


def _masked(n: int = 200_000, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(FIRST_TEXT_ID, VOCAB_SIZE, (4, n // 4), generator=generator)
    batch = mask_tokens(ids, MASK_ID, FIRST_TEXT_ID, VOCAB_SIZE, generator)
    return ids, batch


def _assert_fraction(observed: float, expected: float, n: int) -> None:
    # Five binomial standard deviations: a false failure has odds below 1e-6.
    sigma = math.sqrt(expected * (1.0 - expected) / n)
    assert abs(observed - expected) < 5 * sigma, (observed, expected, sigma)


def test_fifteen_percent_chosen() -> None:
    ids, batch = _masked()
    chosen = batch.targets != IGNORE_INDEX
    _assert_fraction(chosen.float().mean().item(), 0.15, ids.numel())


def test_chosen_split_80_10_10() -> None:
    ids, batch = _masked()
    chosen = batch.targets != IGNORE_INDEX
    n_chosen = int(chosen.sum())
    inputs, originals = batch.inputs[chosen], ids[chosen]
    masked = (inputs == MASK_ID).float().mean().item()
    unchanged = (inputs == originals).float().mean().item()
    replaced = ((inputs != MASK_ID) & (inputs != originals)).float().mean().item()
    # A random replacement equals the original with probability 1 / n_text.
    n_text = VOCAB_SIZE - FIRST_TEXT_ID
    _assert_fraction(masked, 0.8, n_chosen)
    _assert_fraction(unchanged, 0.1 + 0.1 / n_text, n_chosen)
    _assert_fraction(replaced, 0.1 * (1 - 1 / n_text), n_chosen)


def test_targets_are_originals_at_chosen_positions() -> None:
    ids, batch = _masked(20_000)
    chosen = batch.targets != IGNORE_INDEX
    assert torch.equal(batch.targets[chosen], ids[chosen])
    assert torch.equal(batch.inputs[~chosen], ids[~chosen])


def test_random_replacement_never_special() -> None:
    _, batch = _masked()
    replaced = batch.inputs[batch.inputs != MASK_ID]
    assert int(replaced.min()) >= FIRST_TEXT_ID


def test_masks_reproducible_from_seed() -> None:
    _, first = _masked(4000, seed=5)
    _, second = _masked(4000, seed=5)
    _, other = _masked(4000, seed=6)
    assert torch.equal(first.inputs, second.inputs)
    assert torch.equal(first.targets, second.targets)
    assert not torch.equal(first.targets, other.targets)


def test_causal_targets_are_next_tokens() -> None:
    windows = torch.arange(20).view(2, 10)
    batch = make_batch(windows, "causal", MASK_ID, FIRST_TEXT_ID, 50, None)
    assert torch.equal(batch.inputs, windows[:, :-1])
    assert torch.equal(batch.targets, windows[:, 1:])


def test_batch_depends_on_seed_and_step_only() -> None:
    tokens = torch.arange(1000)
    first = sample_batch(tokens, 8, 17, step_generator(3, 10))
    again = sample_batch(tokens, 8, 17, step_generator(3, 10))
    next_step = sample_batch(tokens, 8, 17, step_generator(3, 11))
    other_seed = sample_batch(tokens, 8, 17, step_generator(4, 10))
    assert torch.equal(first, again)
    assert not torch.equal(first, next_step)
    assert not torch.equal(first, other_seed)


def test_sampled_windows_are_contiguous_text() -> None:
    tokens = torch.arange(100)
    windows = sample_batch(tokens, 64, 10, step_generator(0, 0))
    assert windows.shape == (64, 10)
    assert torch.equal(windows - windows[:, :1], torch.arange(10).expand(64, 10))
    assert int(windows.max()) <= 99


@pytest.mark.parametrize("n_tokens", [64, 65, 100, 129])
def test_causal_windows_predict_each_token_once(n_tokens: int) -> None:
    windows = evaluation_windows(n_tokens, "causal", 16)
    # A causal window's targets are the tokens after its first one.
    targets = [index for w in windows for index in range(w.start + 1, w.stop)]
    assert sorted(targets) == list(range(1, n_tokens))


@pytest.mark.parametrize("n_tokens", [16, 17, 100])
def test_masked_windows_cover_each_token_once(n_tokens: int) -> None:
    windows = evaluation_windows(n_tokens, "mlm", 16)
    covered = [index for w in windows for index in range(w.start, w.stop)]
    assert covered == list(range(n_tokens))
    assert all(w.stop - w.start <= 16 for w in windows)


def test_max_windows_spreads_evenly() -> None:
    windows = evaluation_windows(160, "mlm", 16, max_windows=5)
    assert [w.start for w in windows] == [0, 32, 64, 96, 128]
