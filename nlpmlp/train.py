r"""Training loop: AdamW, warm-up and cosine schedule, evaluation, checkpoints.

The learning rate at step $s$ (counted from 0) rises linearly over the
warm-up, then follows a cosine from the peak $\eta$ to
$\eta_\text{min}$ at ``decay_steps`` and stays there:

$$
\eta_s = \eta_\text{min} + \tfrac{1}{2}(\eta - \eta_\text{min})
\left(1 + \cos\frac{\pi (s - s_w)}{s_d - s_w}\right), \qquad s_w \le s < s_d .
$$

The schedule is a function of the step alone, so the step is its whole
state. Batch ``s`` is drawn from a generator seeded by the run's seed and
``s``. Dropout draws from torch's global generator, whose state the
checkpoint stores. So a resumed run reaches the same weights as an
uninterrupted one, bit for bit on the same machine and thread count.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from foundations.optim.torch import AdamW
from nlpmlp import checkpoint
from nlpmlp.config import RESUME_OVERRIDES, TrainConfig
from nlpmlp.corpus import load_corpus
from nlpmlp.data import Batch, make_batch, sample_batch, step_generator, window_length
from nlpmlp.errors import CheckpointError, ConfigError, DataError
from nlpmlp.evaluate import Evaluation, evaluate, unigram_log_probs
from nlpmlp.model import Encoder
from nlpmlp.tokenizer import TextTokenizer, train_tokenizer

__all__ = ["TrainResult", "Trainer", "configure_threads", "learning_rate"]

logger = logging.getLogger(__name__)

_STATE_FORMAT = 1  # version of the trainer-state layout


def learning_rate(config: TrainConfig, step: int) -> float:
    """Return the learning rate of step ``step`` (0-based) under ``config``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    decay_steps = config.decay_steps or config.max_steps
    if step >= decay_steps:
        return config.min_lr
    progress = (step - config.warmup_steps) / max(decay_steps - config.warmup_steps, 1)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.min_lr + (config.lr - config.min_lr) * cosine


def configure_threads(threads: int) -> None:
    """Set torch's CPU threads: ``threads``, or one per core when 0."""
    torch.set_num_threads(threads or os.cpu_count() or 1)


@dataclass
class TrainResult:
    """Outcome of ``Trainer.train``."""

    step: int  # steps done, counting those before a resume
    finished: bool  # reached max_steps; False when the time budget ran out
    tokens_per_second: float  # input tokens per second of training steps
    evaluation: Evaluation  # on the whole validation text, at the last step


class Trainer:
    """Trains an ``Encoder`` and keeps its run directory up to date.

    Build one with ``Trainer.start`` (new run) or ``Trainer.resume``. Only
    the main process (``rank == 0``) writes files, so a distributed launcher
    can create one trainer per process.
    """

    def __init__(
        self,
        config: TrainConfig,
        run_dir: Path,
        tokenizer: TextTokenizer,
        train_tokens: torch.Tensor,
        validation_tokens: torch.Tensor,
        rank: int = 0,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.tokenizer = tokenizer
        self.train_tokens = train_tokens
        self.validation_tokens = validation_tokens
        self.rank = rank
        torch.manual_seed(config.seed)
        self.model = Encoder(config.model_config(tokenizer.vocab_size))
        self.optimizer = _make_optimizer(self.model, config)
        self.unigram = unigram_log_probs(train_tokens, tokenizer.vocab_size)
        self.step = 0
        self.tokens_seen = 0
        self.train_seconds = 0.0
        self.metrics = checkpoint.MetricsLog(run_dir / checkpoint.METRICS_FILE)

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run directory."""
        return self.rank == 0

    @classmethod
    def start(cls, config: TrainConfig, run_dir: Path) -> Trainer:
        """Create a run: read the corpus, train the tokenizer, write the config."""
        config.validate()
        corpus = load_corpus(config.data, config.validation_fraction)
        tokenizer = train_tokenizer(corpus.train, config.tokenizer, config.vocab_size)
        # Absolute paths let evaluate and resume find the text from any folder.
        data = [str(Path(path).resolve()) for path in config.data]
        config = replace(
            config, data=data, decay_steps=config.decay_steps or config.max_steps
        )
        trainer = cls(config, run_dir, tokenizer, *_encode(corpus, tokenizer, config))
        run_dir.mkdir(parents=True, exist_ok=True)
        tokenizer.save(run_dir / checkpoint.TOKENIZER_FILE)
        checkpoint.write_json(run_dir / checkpoint.CONFIG_FILE, trainer.run_config())
        return trainer

    @classmethod
    def resume(cls, run_dir: Path, overrides: dict[str, Any]) -> Trainer:
        """Continue the run in ``run_dir`` from its last checkpoint.

        ``overrides`` may change only the settings in ``RESUME_OVERRIDES``.
        """
        saved = checkpoint.load_json(run_dir / checkpoint.CONFIG_FILE)
        config = _apply_overrides(TrainConfig.from_dict(saved["train"]), overrides)
        config.validate()
        tokenizer = TextTokenizer.load(run_dir / checkpoint.TOKENIZER_FILE)
        corpus = load_corpus(config.data, config.validation_fraction)
        trainer = cls(config, run_dir, tokenizer, *_encode(corpus, tokenizer, config))
        trainer.load_checkpoint()
        checkpoint.write_json(run_dir / checkpoint.CONFIG_FILE, trainer.run_config())
        return trainer

    def run_config(self) -> dict[str, Any]:
        """Return what ``config.json`` stores: training settings and model shape."""
        return {"train": self.config.to_dict(), "model": self.model.config.to_dict()}

    def batch(self, step: int) -> Batch:
        """Return the training batch of step ``step``; the same on every run."""
        config = self.config
        generator = step_generator(config.seed, step)
        length = window_length(config.objective, config.block_size)
        windows = sample_batch(self.train_tokens, config.batch_size, length, generator)
        tokenizer = self.tokenizer
        return make_batch(
            windows,
            config.objective,
            tokenizer.mask_id,
            tokenizer.n_special,
            tokenizer.vocab_size,
            generator,
        )

    def train_step(self) -> torch.Tensor:
        """Take one optimizer step and return its loss, detached."""
        batch = self.batch(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.config, self.step)
        loss = self.model(batch.inputs, batch.targets).loss
        loss.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(
                self.model.parameters(), self.config.grad_clip
            )
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.tokens_seen += batch.inputs.numel()
        return loss.detach()

    def train(self) -> TrainResult:
        """Train until ``max_steps`` or the time budget, then evaluate and save."""
        config = self.config
        started = time.perf_counter()
        running_loss, running_steps = torch.zeros(()), 0
        bar = tqdm(total=config.max_steps, initial=self.step, unit="step", disable=None)
        finished = True
        while self.step < config.max_steps:
            if (
                config.time_budget
                and time.perf_counter() - started > config.time_budget
            ):
                logger.info(
                    "time budget of %gs reached at step %d",
                    config.time_budget,
                    self.step,
                )
                finished = False
                break
            step_started = time.perf_counter()
            running_loss += self.train_step()
            self.train_seconds += time.perf_counter() - step_started
            running_steps += 1
            bar.update(1)
            if self.step % config.log_interval == 0 or self.step == config.max_steps:
                self._log_training(bar, running_loss.item() / running_steps)
                running_loss, running_steps = torch.zeros(()), 0
            if self._due(config.eval_interval) and self.step < config.max_steps:
                self.run_evaluation()
            if self._due(config.checkpoint_interval):
                self.save_checkpoint()
        bar.close()
        evaluation = self.run_evaluation(max_windows=0)
        self.save_checkpoint()
        return TrainResult(self.step, finished, self.tokens_per_second, evaluation)

    @property
    def tokens_per_second(self) -> float:
        """Input tokens per second over the training steps, excluding evaluation."""
        return self.tokens_seen / self.train_seconds if self.train_seconds else 0.0

    def run_evaluation(self, max_windows: int | None = None) -> Evaluation:
        """Evaluate on the validation text and record the metrics."""
        if max_windows is None:
            max_windows = self.config.eval_max_windows
        evaluation = evaluate(
            self.model,
            self.validation_tokens,
            self.tokenizer,
            batch_size=self.config.batch_size,
            seed=self.config.seed,
            max_windows=max_windows,
            unigram=self.unigram,
        )
        logger.info(
            "step %d: validation loss %.4f (unigram baseline %.4f)",
            self.step,
            evaluation.loss,
            evaluation.unigram_loss,
        )
        record = {f"val_{key}": value for key, value in evaluation.to_dict().items()}
        self._record({"step": self.step, **record})
        return evaluation

    def save_checkpoint(self) -> None:
        """Write weights, trainer state and metrics of the current step."""
        if not self.is_main:
            return
        checkpoint.save_weights(
            self.model, self.run_dir / checkpoint.MODEL_FILE, self.step
        )
        state = {
            "format": _STATE_FORMAT,
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            "tokens_seen": self.tokens_seen,
            "train_seconds": self.train_seconds,
        }
        checkpoint.save_trainer_state(state, self.run_dir / checkpoint.STATE_FILE)
        self.metrics.flush()
        logger.debug("checkpoint of step %d written to %s", self.step, self.run_dir)

    def load_checkpoint(self) -> None:
        """Restore weights, optimizer, RNG and step from the run directory.

        Raises
        ------
        CheckpointError
            If a file is missing or unreadable, or the weights and the trainer
            state come from different steps.
        """
        state_path = self.run_dir / checkpoint.STATE_FILE
        state = checkpoint.load_trainer_state(state_path)
        weights_step = checkpoint.load_weights(
            self.model, self.run_dir / checkpoint.MODEL_FILE
        )
        if state.get("format") != _STATE_FORMAT or state.get("step") != weights_step:
            raise CheckpointError(
                f"{state_path}: trainer state of step {state.get('step')} does not "
                f"match the weights of step {weights_step}"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        self.step = state["step"]
        self.tokens_seen = state["tokens_seen"]
        self.train_seconds = state["train_seconds"]
        self.metrics = checkpoint.MetricsLog(
            self.run_dir / checkpoint.METRICS_FILE, keep_until_step=self.step
        )
        logger.info("resuming %s at step %d", self.run_dir, self.step)

    def _record(self, record: dict[str, Any]) -> None:
        self.metrics.append(record)
        if self.is_main:
            self.metrics.flush()

    def _due(self, interval: int) -> bool:
        return interval > 0 and self.step % interval == 0

    def _log_training(self, bar: tqdm, loss: float) -> None:
        record = {
            "step": self.step,
            "train_loss": loss,
            "lr": learning_rate(self.config, self.step - 1),
            "tokens_per_second": self.tokens_per_second,
        }
        self._record(record)
        bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{self.tokens_per_second:.0f}")
        logger.debug("step %d: training loss %.4f", self.step, loss)


def _apply_overrides(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    for name, value in overrides.items():
        if name in RESUME_OVERRIDES:
            config = replace(config, **{name: value})
        elif getattr(config, name) != value:
            option = "--" + name.replace("_", "-")
            raise ConfigError(
                f"{option} {value!r} differs from the run's {getattr(config, name)!r}; "
                f"a resumed run keeps its settings except {', '.join(RESUME_OVERRIDES)}"
            )
    return config


def _make_optimizer(model: Encoder, config: TrainConfig) -> torch.optim.Optimizer:
    # Weight decay applies to matrices (and the tied embedding), not to
    # biases and LayerNorm gains.
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    vectors = [p for p in model.parameters() if p.ndim < 2]
    groups = [
        {"params": matrices, "weight_decay": config.weight_decay},
        {"params": vectors, "weight_decay": 0.0},
    ]
    return AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2))


def _encode(
    corpus: Any, tokenizer: TextTokenizer, config: TrainConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    length = window_length(config.objective, config.block_size)
    splits = []
    for name, text in (("training", corpus.train), ("validation", corpus.validation)):
        tokens = torch.tensor(tokenizer.encode(text), dtype=torch.long)
        if tokens.numel() < length:
            raise DataError(
                f"{corpus.source}: corpus too small: the {name} text has "
                f"{tokens.numel()} tokens, fewer than one window of {length}; "
                "give more text or a smaller --block-size"
            )
        splits.append(tokens)
    return splits[0], splits[1]
