"""Training speed of the foundations feed-forward against the nn.Linear one.

Trains the same model twice in one process, once with ``FeedForward``
(``foundations.mlp`` blocks with the course's backward pass) and once with
``ReferenceFeedForward`` (``nn.Linear`` + activation + ``nn.Linear``), from
the same initial weights and on the same batches. Chunks of steps of the two
alternate, so a change in machine load hits both alike. Prints the tokens per
second of each and their ratio, foundations over reference, so a ratio above 1
means the foundations FFN is faster. Also prints the validation loss of both
after the same number of steps.

Training runs each block of the foundations model as one autograd node
(``nlpmlp.block``), which covers ``FeedForward`` only. By default both models
here run module by module, so the ratio compares the feed-forward layers
alone; ``--one-node`` lets the foundations model train as ``nlpmlp train``
does.

Run: ``.venv/bin/python benchmarks/train_throughput.py [--chunks 8] [--one-node]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from nlpmlp.config import PRESETS, TrainConfig
from nlpmlp.corpus import load_corpus
from nlpmlp.model import Block
from nlpmlp.tokenizer import train_tokenizer
from nlpmlp.train import Trainer, configure_threads

# The model of the comparison: 4 blocks, 4 heads, width 128, context 64,
# 12 windows per batch, character-level causal LM on the built-in corpus.
BASE = TrainConfig(**PRESETS["char-baby"])
KINDS = ("foundations", "reference")


def build_trainers(config: TrainConfig, folder: Path) -> dict[str, Trainer]:
    """Return one trainer per feed-forward kind, with equal initial weights."""
    corpus = load_corpus(config.data, config.validation_fraction)
    tokenizer = train_tokenizer(corpus.train, config.tokenizer, config.vocab_size)
    train = torch.tensor(tokenizer.encode(corpus.train), dtype=torch.long)
    validation = torch.tensor(tokenizer.encode(corpus.validation), dtype=torch.long)
    trainers = {}
    for kind in KINDS:
        kind_config = replace(config, ffn=kind, decay_steps=config.max_steps)
        (folder / kind).mkdir()
        trainers[kind] = Trainer(
            kind_config, folder / kind, tokenizer, train, validation
        )
    sums = {kind: _parameter_sum(trainer) for kind, trainer in trainers.items()}
    assert sums["foundations"] == sums["reference"], sums
    return trainers


def time_chunk(trainer: Trainer, steps: int) -> tuple[float, float]:
    """Take ``steps`` steps; return their wall-clock and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        trainer.train_step()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=8, help="chunks per model")
    parser.add_argument("--chunk-steps", type=int, default=25, help="steps per chunk")
    parser.add_argument("--threads", type=int, default=0, help="0: one per core")
    parser.add_argument(
        "--one-node",
        action="store_true",
        help="run the foundations model's blocks as one autograd node each",
    )
    args = parser.parse_args()
    if not args.one_node:
        Block._runs_as_one_node = lambda self: False
    configure_threads(args.threads)
    steps = args.chunks * args.chunk_steps
    config = replace(BASE, max_steps=steps + 1)

    with tempfile.TemporaryDirectory() as folder:
        trainers = build_trainers(config, Path(folder))
        for trainer in trainers.values():
            time_chunk(trainer, 1)  # warm-up step, not timed
        wall = {kind: [] for kind in KINDS}
        cpu = {kind: [] for kind in KINDS}
        for chunk in range(args.chunks):
            # Alternate which kind goes first, so neither always runs warm.
            order = KINDS if chunk % 2 == 0 else KINDS[::-1]
            for kind in order:
                seconds, cpu_seconds = time_chunk(trainers[kind], args.chunk_steps)
                wall[kind].append(seconds)
                cpu[kind].append(cpu_seconds)
        losses = {
            kind: t.run_evaluation(max_windows=0).loss for kind, t in trainers.items()
        }

    tokens = config.batch_size * config.block_size * args.chunk_steps
    path = "one node per block" if args.one_node else "module by module"
    print(
        f"threads: {torch.get_num_threads()}, {args.chunks} chunks of "
        f"{args.chunk_steps} steps, {tokens} tokens per chunk, foundations {path}"
    )
    for kind in KINDS:
        print(
            f"{kind:>11}: {tokens * args.chunks / sum(wall[kind]):8.0f} tokens/s "
            f"(best chunk {tokens / min(wall[kind]):.0f}), "
            f"validation loss after {steps + 1} steps {losses[kind]:.4f}"
        )
    ratios = [
        r / f for f, r in zip(wall["foundations"], wall["reference"], strict=True)
    ]
    print(
        "ratio foundations / reference tokens per second: "
        f"total {sum(wall['reference']) / sum(wall['foundations']):.3f}, "
        f"median of chunks {statistics.median(ratios):.3f}, "
        f"CPU time {sum(cpu['reference']) / sum(cpu['foundations']):.3f}"
    )


def _parameter_sum(trainer: Trainer) -> float:
    return sum(float(p.detach().double().sum()) for p in trainer.model.parameters())


if __name__ == "__main__":
    main()
