"""Implementations of the ``nlpmlp`` subcommands, called with parsed options.

Each prints its results on standard output, sends messages to ``logging``
and returns the exit status.
"""

from __future__ import annotations

import argparse
import logging

import torch
from tqdm.contrib.logging import logging_redirect_tqdm

from nlpmlp.cli import given_settings, new_run_dir
from nlpmlp.config import PRESETS, TrainConfig
from nlpmlp.corpus import load_corpus, read_text_file, text_files
from nlpmlp.errors import ConfigError
from nlpmlp.evaluate import Evaluation
from nlpmlp.evaluate import evaluate as evaluate_model
from nlpmlp.generate import fill_mask as fill_model_mask
from nlpmlp.generate import fill_mask_examples, load_run
from nlpmlp.generate import generate as generate_text
from nlpmlp.train import Trainer, TrainResult, configure_threads

__all__ = ["evaluate", "fill_mask", "generate", "train"]

logger = logging.getLogger(__name__)


def train(args: argparse.Namespace) -> int:
    """Train a new run, or resume one, and print its results."""
    overrides = given_settings(args)
    if args.resume:
        if args.out is None:
            raise ConfigError("--resume needs --out, the run directory to continue")
        if args.preset:
            raise ConfigError(
                "--preset does not apply to --resume; the run keeps its settings"
            )
        trainer = Trainer.resume(args.out, overrides)
    else:
        config = TrainConfig(**{**PRESETS.get(args.preset or "", {}), **overrides})
        config.validate()
        run_dir = new_run_dir(args, config.objective)
        trainer = Trainer.start(config, run_dir)
    # Set after reading a resumed run's settings: results depend on the
    # thread count, through the order of floating-point sums.
    configure_threads(trainer.config.threads)
    logger.info(
        "training %s on %d threads, %d parameters",
        trainer.run_dir,
        torch.get_num_threads(),
        sum(p.numel() for p in trainer.model.parameters()),
    )
    with logging_redirect_tqdm():
        result = trainer.train()
    _print_training(trainer, result)
    return 0


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
