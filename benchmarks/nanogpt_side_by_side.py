"""The char-baby preset next to nanoGPT's result on the same data and model.

Trains ``nlpmlp train --preset char-baby``: a character-level causal LM with
4 blocks, 4 heads, width 128, context 64, batch 12, 2,000 steps and no
dropout, on the CPython help topics sorted by key (first 90 % for training).
Prints its loss over every non-overlapping window of the validation text and
its training tokens per second, next to nanoGPT's numbers for the same setup.

The nanoGPT numbers are given, not measured here: nanoGPT at commit 3adf61e
with ``--device=cpu --compile=False`` reached 1.424 nats per character on
the whole validation text at 9,063 tokens/s on 2 CPU cores. Pass
``--nanogpt-loss`` and ``--nanogpt-tokens-per-second`` after measuring it on
the machine that runs this script, since tokens per second depend on it.

Run: ``.venv/bin/python benchmarks/nanogpt_side_by_side.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch

from nlpmlp.config import PRESETS, TrainConfig
from nlpmlp.train import Trainer, configure_threads

NANOGPT_LOSS = 1.424  # nats per character, whole validation text
NANOGPT_TOKENS_PER_SECOND = 9063.0  # on 2 CPU cores
SPEED_GOAL = 1.2  # tokens per second, in multiples of nanoGPT's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, help="run directory to keep (default: a temporary one)"
    )
    parser.add_argument("--threads", type=int, default=0, help="0: one per core")
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="steps in place of the preset's 2000",
    )
    parser.add_argument("--nanogpt-loss", type=float, default=NANOGPT_LOSS)
    parser.add_argument(
        "--nanogpt-tokens-per-second", type=float, default=NANOGPT_TOKENS_PER_SECOND
    )
    args = parser.parse_args()
    settings = dict(PRESETS["char-baby"], threads=args.threads)
    if args.max_steps:
        settings["max_steps"] = args.max_steps
    config = TrainConfig(**settings)
    configure_threads(config.threads)

    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer.start(config, args.out or Path(folder) / "char-baby")
        result = trainer.train()

    loss, speed = result.evaluation.loss, result.tokens_per_second
    print(f"cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}")
    print(
        f"nlpmlp char-baby: {loss:.4f} nats/char over "
        f"{result.evaluation.n_targets} validation characters, {speed:.0f} tokens/s, "
        f"{result.step} steps"
    )
    print(
        f"nanoGPT (given):  {args.nanogpt_loss:.4f} nats/char, "
        f"{args.nanogpt_tokens_per_second:.0f} tokens/s"
    )
    ratio = speed / args.nanogpt_tokens_per_second
    print(
        f"loss difference {loss - args.nanogpt_loss:+.4f} nats/char "
        f"(goal: below 0); speed ratio {ratio:.2f} (goal: >= {SPEED_GOAL})"
    )


if __name__ == "__main__":
    main()
