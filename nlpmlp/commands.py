"""Implementations of the ``nlpmlp`` subcommands, called with parsed options.

Each prints its results on standard output, sends messages to ``logging``
and returns the exit status.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

import torch
from tqdm.contrib.logging import logging_redirect_tqdm

from nlpmlp.cli import given_settings, new_run_dir
from nlpmlp.config import PRESETS, TrainConfig
from nlpmlp.corpus import load_corpus, read_text_file, text_files
from nlpmlp.distributed import (
    DistributedContext,
    check_batch_size,
    process_group,
    share_from_main,
)
from nlpmlp.errors import ConfigError
from nlpmlp.evaluate import Evaluation
from nlpmlp.evaluate import evaluate as evaluate_model
from nlpmlp.generate import fill_mask as fill_model_mask
from nlpmlp.generate import fill_mask_examples, load_run
from nlpmlp.generate import generate as generate_text
from nlpmlp.memory import keep_freed_memory
from nlpmlp.train import Trainer, TrainingInterrupted, TrainResult, configure_threads

__all__ = ["evaluate", "fill_mask", "generate", "train"]

logger = logging.getLogger(__name__)

EXIT_INTERRUPTED = 128 + signal.SIGINT  # the shell's status of a Ctrl-C


def train(args: argparse.Namespace) -> int:
    """Train a new run, or resume one, and print its results.

    Under torchrun every process runs this command. Rank 0 creates or checks
    the run directory first, then every process opens it at its checkpoint,
    and only rank 0 prints. Ctrl-C writes a checkpoint, prints how to resume
    and returns ``EXIT_INTERRUPTED``.
    """
    with process_group() as distributed:
        if not distributed.is_main:
            logging.getLogger().setLevel(logging.WARNING)
        trainer = _open_run(args, distributed)
        # Set after reading a resumed run's settings: results depend on the
        # thread count, through the order of floating-point sums.
        configure_threads(trainer.config.threads)
        keep_freed_memory()
        processes = distributed.world_size
        logger.info(
            "training %s on %d threads%s, %d parameters",
            trainer.run_dir,
            torch.get_num_threads(),
            f" in each of {processes} processes" if processes > 1 else "",
            sum(p.numel() for p in trainer.model.parameters()),
        )
        try:
            with logging_redirect_tqdm():
                result = trainer.train()
        except TrainingInterrupted as interrupt:
            if distributed.is_main:
                _print_interrupted(interrupt, distributed)
            return EXIT_INTERRUPTED
        finally:
            trainer.release_network()
    if distributed.is_main:
        _print_training(trainer, result)
    return 0


def _print_interrupted(
    interrupt: TrainingInterrupted, distributed: DistributedContext
) -> None:
    program = "nlpmlp"
    if distributed.is_distributed:
        program = f"torchrun --nproc_per_node={distributed.world_size} -m nlpmlp"
    print(
        f"nlpmlp: interrupted at step {interrupt.step}; checkpoint saved in "
        f"{interrupt.run_dir}; continue with: {program} train --resume --out "
        f"{interrupt.run_dir}",
        file=sys.stderr,
    )


def _open_run(args: argparse.Namespace, distributed: DistributedContext) -> Trainer:
    overrides = given_settings(args)
    if args.resume:
        if args.out is None:
            raise ConfigError("--resume needs --out, the run directory to continue")
        if args.preset:
            raise ConfigError(
                "--preset does not apply to --resume; the run keeps its settings"
            )
    if not distributed.is_distributed:
        return _create_or_resume(args, overrides, distributed)
    # Rank 0 alone creates the run directory, or checks and repairs it; then
    # every process opens it at its last checkpoint.
    run_dir = share_from_main(
        lambda: _create_or_resume(args, overrides, distributed).run_dir, distributed
    )
    return Trainer.resume(run_dir, {}, distributed)


def _create_or_resume(
    args: argparse.Namespace,
    overrides: dict[str, Any],
    distributed: DistributedContext,
) -> Trainer:
    if args.resume:
        return Trainer.resume(args.out, overrides)
    config = TrainConfig(**{**PRESETS.get(args.preset or "", {}), **overrides})
    config.validate()
    check_batch_size(config.batch_size, distributed)
    run_dir = new_run_dir(args, config.objective)
    return Trainer.start(config, run_dir)


def evaluate(args: argparse.Namespace) -> int:
    """Evaluate a run on its validation text or on the given files."""
    configure_threads(args.threads)
    run = load_run(args.run)
    if args.data:
        files = [file for path in args.data for file in text_files(path)]
        text = "\n".join(read_text_file(file) for file in files)
    else:
        text = load_corpus(run.config.data, run.config.validation_fraction).validation
    tokens = torch.tensor(run.tokenizer.encode(text), dtype=torch.long)
    evaluation = evaluate_model(
        run.model, tokens, run.tokenizer, args.batch_size, seed=run.config.seed
    )
    _print_evaluation(evaluation, causal=run.model.config.causal)
    return 0


def fill_mask(args: argparse.Namespace) -> int:
    """Print the top-k tokens at each mask of the text."""
    configure_threads(args.threads)
    run = load_run(args.run)
    for index, predictions in enumerate(
        fill_model_mask(run.model, run.tokenizer, args.text, args.top_k), start=1
    ):
        print(f"[MASK] {index}:")
        for prediction in predictions:
            print(f"  {prediction.probability:.4f}  {prediction.token!r}")
    return 0


def generate(args: argparse.Namespace) -> int:
    """Print the prompt continued by the model."""
    configure_threads(args.threads)
    run = load_run(args.run)
    text = generate_text(
        run.model,
        run.tokenizer,
        args.prompt,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
    )
    print(text)
    return 0


def _print_evaluation(evaluation: Evaluation, causal: bool) -> None:
    print(f"loss: {evaluation.loss:.4f} nats/token over {evaluation.n_targets} targets")
    print(f"perplexity: {evaluation.perplexity:.2f}")
    print(f"bits per byte: {evaluation.bits_per_byte:.4f}")
    name = "next-token accuracy" if causal else "masked-token accuracy"
    print(f"{name}: {evaluation.accuracy:.4f}")


def _print_training(trainer: Trainer, result: TrainResult) -> None:
    evaluation = result.evaluation
    status = "finished" if result.finished else "stopped by the time budget"
    print(f"run: {trainer.run_dir}")
    print(
        f"steps: {result.step} of {trainer.config.max_steps} ({status}), "
        f"{result.tokens_per_second:.0f} tokens/s"
    )
    print(
        f"validation loss: {evaluation.loss:.4f} nats/token "
        f"(unigram baseline {evaluation.unigram_loss:.4f}), "
        f"perplexity {evaluation.perplexity:.2f}, "
        f"{evaluation.bits_per_byte:.4f} bits/byte, "
        f"over the whole validation text ({evaluation.n_targets} targets)"
    )
    model, tokenizer = trainer.model, trainer.tokenizer
    model.eval()
    if model.config.causal:
        prompt = tokenizer.decode(trainer.validation_tokens[:8].tolist())
        sample = generate_text(model, tokenizer, prompt, 200, seed=trainer.config.seed)
        print(f"sample (prompt {prompt!r}):\n{sample}")
        return
    print("fill-mask examples from the validation text:")
    validation = tokenizer.decode(trainer.validation_tokens.tolist())
    for masked, answer, predictions in fill_mask_examples(model, tokenizer, validation):
        guesses = ", ".join(f"{p.token!r} {p.probability:.2f}" for p in predictions)
        print(f"  {masked!r}\n    answer {answer!r}; model: {guesses}")
