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
checkpoint stores for every process. So a resumed run reaches the same
weights as an uninterrupted one, bit for bit on the same machine, thread
count and number of processes.

Several processes started by ``torchrun`` (``nlpmlp.distributed``) train
copies of one model. Each keeps its rows of every batch, the processes
average their gradients, and the loss they log is that of the whole batch.

A NaN or infinite loss stops training with ``TrainingDiverged`` before that
step changes the weights. Ctrl-C (SIGINT) stops it after the current step,
with a checkpoint, by ``TrainingInterrupted``.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import torch
from torch import nn
from tqdm import tqdm

from foundations.optim.torch import AdamW
from nlpmlp import checkpoint
from nlpmlp.config import RESUME_OVERRIDES, TrainConfig
from nlpmlp.corpus import load_corpus
from nlpmlp.data import (
    IGNORE_INDEX,
    Batch,
    make_batch,
    sample_batch,
    shard_rows,
    step_generator,
    window_length,
)
from nlpmlp.distributed import (
    SINGLE_PROCESS,
    DistributedContext,
    all_gather,
    all_reduce_sum,
    check_batch_size,
    loss_weight,
    process_seed,
    wrap_model,
)
from nlpmlp.errors import CheckpointError, ConfigError, DataError, NlpmlpError
from nlpmlp.evaluate import Evaluation, evaluate, unigram_log_probs
from nlpmlp.model import Encoder, ModelOutput
from nlpmlp.tokenizer import TextTokenizer, train_tokenizer

__all__ = [
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "configure_threads",
    "learning_rate",
]

logger = logging.getLogger(__name__)

_STATE_FORMAT = 1  # version of the trainer-state layout
_STATE_KEYS = ("step", "optimizer", "rng", "tokens_seen", "train_seconds")
# torchrun forwards a terminal's Ctrl-C to its workers, so they receive
# SIGINT twice within milliseconds. Only a second Ctrl-C this many seconds
# after the first stops training at once, without a checkpoint.
_FORCE_STOP_SECONDS = 1.0


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


class TrainingDiverged(NlpmlpError):
    """A NaN or infinite loss or weight; the last good checkpoint is kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training after writing the checkpoint of ``step``."""

    def __init__(self, step: int, run_dir: Path) -> None:
        super().__init__(f"interrupted at step {step}; checkpoint in {run_dir}")
        self.step = step
        self.run_dir = run_dir


@dataclass
class TrainResult:
    """Outcome of ``Trainer.train``."""

    step: int  # steps done, counting those before a resume
    finished: bool  # reached max_steps; False when the time budget ran out
    tokens_per_second: float  # input tokens of all processes per second of steps
    # On the whole validation text at the last step; None on ranks other than 0.
    evaluation: Evaluation | None


class Trainer:
    """Trains an ``Encoder`` and keeps its run directory up to date.

    Build one with ``Trainer.start`` (new run) or ``Trainer.resume``. With
    several processes, each builds one with its ``DistributedContext``; only
    rank 0 writes files and evaluates.
    """

    def __init__(
        self,
        config: TrainConfig,
        run_dir: Path,
        tokenizer: TextTokenizer,
        train_tokens: torch.Tensor,
        validation_tokens: torch.Tensor,
        distributed: DistributedContext = SINGLE_PROCESS,
    ) -> None:
        check_batch_size(config.batch_size, distributed)
        self.config = config
        self.run_dir = run_dir
        self.tokenizer = tokenizer
        self.train_tokens = train_tokens
        self.validation_tokens = validation_tokens
        self.distributed = distributed
        torch.manual_seed(config.seed)
        model = Encoder(config.model_config(tokenizer.vocab_size))
        self.model = model.to(distributed.device)
        # Every process starts from the same weights, then draws its own
        # dropout masks.
        if distributed.rank > 0:
            torch.manual_seed(process_seed(config.seed, 0, distributed.rank))
        self.network = wrap_model(self.model, distributed)  # the model that trains
        self.optimizer = _make_optimizer(self.model, config)
        self._parameters = list(self.model.parameters())
        self.unigram = unigram_log_probs(train_tokens, tokenizer.vocab_size)
        self.step = 0
        self.tokens_seen = 0
        self.train_seconds = 0.0
        self.metrics = checkpoint.MetricsLog(run_dir / checkpoint.METRICS_FILE)
        self.checkpoint_step: int | None = None  # step of the last checkpoint
        self._train_started: float | None = None  # perf_counter() of train()
        self._interrupt_time = 0.0  # monotonic() of the first Ctrl-C; 0: none
        self._stop_request: str | None = None  # "interrupt" or "time budget"

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run directory."""
        return self.distributed.is_main

    def release_network(self) -> None:
        """Drop the DistributedDataParallel wrapper before the group is destroyed.

        The wrapper keeps the process group alive. A group that outlives
        ``destroy_process_group`` is freed at interpreter exit instead.
        """
        # NOTE: one resumed two-process run aborted at exit with "terminate
        # called without an active exception" while the wrapper was still
        # alive. Dropping it first is the suspected fix, not a proven one.
        self.network = self.model
        gc.collect()

    @classmethod
    def start(cls, config: TrainConfig, run_dir: Path) -> Trainer:
        """Create a run: read the corpus, train the tokenizer, write the config.

        A checkpoint of step 0 is written too, so that ``resume`` works from
        the start. The trainer is that of a single process; the processes of
        a distributed run call ``resume`` on the run directory it creates.
        """
        config.validate()
        corpus = load_corpus(config.data, config.validation_fraction)
        tokenizer = train_tokenizer(corpus.train, config.tokenizer, config.vocab_size)
        # Absolute paths let evaluate and resume find the text from any folder.
        data = [str(Path(path).resolve()) for path in config.data]
        config = replace(
            config, data=data, decay_steps=config.decay_steps or config.max_steps
        )
        trainer = cls(config, run_dir, tokenizer, *_encode(corpus, tokenizer, config))
        checkpoint.make_folder(run_dir, "run directory")
        tokenizer.save(run_dir / checkpoint.TOKENIZER_FILE)
        checkpoint.write_json(run_dir / checkpoint.CONFIG_FILE, trainer.run_config())
        trainer.save_checkpoint()
        return trainer

    @classmethod
    def resume(
        cls,
        run_dir: Path,
        overrides: dict[str, Any],
        distributed: DistributedContext = SINGLE_PROCESS,
    ) -> Trainer:
        """Continue the run in ``run_dir`` from its last checkpoint.

        ``overrides`` may change only the settings in ``RESUME_OVERRIDES``.

        Raises
        ------
        ConfigError
            If ``overrides`` changes another setting; the message names it.
        CheckpointError
            If the run directory is incomplete, its files are corrupted, or
            its tokenizer or weights do not fit its settings.
        """
        config_path = run_dir / checkpoint.CONFIG_FILE
        saved = checkpoint.load_json(config_path)
        if not isinstance(saved, dict) or not isinstance(saved.get("train"), dict):
            raise CheckpointError(
                f"{config_path}: invalid run config: no 'train' settings"
            )
        config = _apply_overrides(TrainConfig.from_dict(saved["train"]), overrides)
        config.validate()
        tokenizer = TextTokenizer.load(run_dir / checkpoint.TOKENIZER_FILE)
        corpus = load_corpus(config.data, config.validation_fraction)
        trainer = cls(
            config, run_dir, tokenizer, *_encode(corpus, tokenizer, config), distributed
        )
        _check_saved_model(saved.get("model"), trainer.model, run_dir)
        trainer.load_checkpoint()
        if trainer.step >= config.max_steps:
            # Nothing to train: leave config.json and metrics.jsonl as they are.
            raise ConfigError(
                f"{run_dir}: the run is already at step {trainer.step} of "
                f"max_steps {config.max_steps}; give --max-steps above "
                f"{trainer.step} to train further"
            )
        if trainer.is_main:
            checkpoint.write_json(config_path, trainer.run_config())
        return trainer

    def run_config(self) -> dict[str, Any]:
        """Return what ``config.json`` stores: training settings and model shape."""
        return {"train": self.config.to_dict(), "model": self.model.config.to_dict()}

    def batch(self, step: int) -> Batch:
        """Return the whole batch of step ``step``; the same on every run.

        Each process of a distributed run trains on its rows of this batch.
        """
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

    def train_step(self) -> float:
        """Take one optimizer step; return the loss of the whole batch.

        Raises
        ------
        TrainingDiverged
            If the loss is NaN or infinite. The step then leaves the weights
            as they were.
        """
        batch = self.batch(self.step)
        n_targets = int((batch.targets != IGNORE_INDEX).sum())
        distributed = self.distributed
        shard = shard_rows(batch, distributed.rank, distributed.world_size)
        inputs = shard.inputs.to(distributed.device)
        targets = shard.targets.to(distributed.device)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.config, self.step)

        output = self.network(inputs, targets)
        loss = self._process_loss(output, targets, n_targets)
        batch_loss = self._synchronize(loss)
        if not math.isfinite(batch_loss):
            self._diverged("loss", batch_loss)

        loss.backward()
        if self.config.grad_clip > 0:
            # Clipping to norm c multiplies the gradients by c / (norm + 1e-6)
            # when that is below 1, as clip_grad_norm_ does. The optimizer
            # divides by the inverse inside its fused kernel.
            grads = [p.grad for p in self._parameters if p.grad is not None]
            norm = torch.nn.utils.get_total_norm(grads)
            if not math.isfinite(norm):
                self._diverged("gradient norm", float(norm))
            divisor = (norm.double() + 1e-6) / self.config.grad_clip
            divisor = torch.clamp(divisor, min=1.0)
            self.optimizer.step(grad_divisor=divisor)
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.tokens_seen += batch.inputs.numel()
        return batch_loss

    def _diverged(self, quantity: str, value: float) -> NoReturn:
        raise TrainingDiverged(
            f"training diverged: the {quantity} of step {self.step + 1} is "
            f"{value}; {self._kept_checkpoint()}; start a new run with "
            f"an --lr lower than {self.config.lr:g} or more --warmup-steps"
        )

    def _process_loss(
        self, output: ModelOutput, targets: torch.Tensor, n_targets: int
    ) -> torch.Tensor:
        r"""Return $L_r = \frac{W}{N} \sum_{n \in T_r} \ell_n$ of this process.

        ``output.loss`` is the mean over this process's $|T_r|$ targets, and
        $N$ (``n_targets``) counts the targets of the whole batch. A process
        without targets returns a zero that still reaches every weight, so
        that DDP's gradient average hears from every process.
        """
        n_local = int((targets != IGNORE_INDEX).sum())
        if n_local == 0:
            return output.logits.sum() * 0.0
        if self.distributed.world_size == 1:
            return output.loss
        return output.loss * loss_weight(n_local, n_targets, self.distributed)

    def _synchronize(self, loss: torch.Tensor) -> float:
        """Sum the losses and stop requests of all processes; return the batch loss.

        Every process gets the same loss and the same requests, so all of
        them stop at the same step.
        """
        requests = [float(self._interrupt_time > 0), float(self._time_is_up())]
        values = torch.tensor([0.0, *requests], dtype=torch.float64, device=loss.device)
        values[0] = loss.detach()
        total, interrupts, time_ups = all_reduce_sum(values, self.distributed).tolist()
        if interrupts:
            self._stop_request = "interrupt"
        elif time_ups:
            self._stop_request = "time budget"
        return total / self.distributed.world_size

    def _time_is_up(self) -> bool:
        budget = self.config.time_budget
        if not budget or self._train_started is None:
            return False
        return time.perf_counter() - self._train_started > budget

    def train(self) -> TrainResult:
        """Train until ``max_steps`` or the time budget, then evaluate and save.

        Raises
        ------
        TrainingInterrupted
            After Ctrl-C (SIGINT), once the checkpoint of the last finished
            step is written.
        TrainingDiverged
            If the loss or a weight becomes NaN or infinite. The run
            directory keeps the checkpoint written before.
        """
        config = self.config
        self._train_started = time.perf_counter()
        self._stop_request = None
        running_loss, running_steps = 0.0, 0
        finished = True
        with (
            self._stop_on_interrupt(),
            tqdm(
                total=config.max_steps,
                initial=self.step,
                unit="step",
                disable=None if self.is_main else True,
            ) as bar,
        ):
            while self.step < config.max_steps:
                step_started = time.perf_counter()
                running_loss += self.train_step()
                self.train_seconds += time.perf_counter() - step_started
                running_steps += 1
                bar.update(1)
                if self._stop_request == "interrupt":
                    self.save_checkpoint()
                    raise TrainingInterrupted(self.step, self.run_dir)
                if self._due(config.log_interval) or self.step == config.max_steps:
                    self._log_training(bar, running_loss / running_steps)
                    running_loss, running_steps = 0.0, 0
                if self._due(config.eval_interval) and self.step < config.max_steps:
                    self.run_evaluation()
                if self._due(config.checkpoint_interval):
                    self.save_checkpoint()
                if self._stop_request == "time budget" and self.step < config.max_steps:
                    logger.info(
                        "time budget of %gs reached at step %d",
                        config.time_budget,
                        self.step,
                    )
                    finished = False
                    break
        evaluation = self.run_evaluation(max_windows=0)
        self.save_checkpoint()
        return TrainResult(self.step, finished, self.tokens_per_second, evaluation)

    @contextmanager
    def _stop_on_interrupt(self) -> Iterator[None]:
        """Turn Ctrl-C (SIGINT) into a request to stop after the current step."""
        # Python sets signal handlers in the main thread only.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._interrupt_time = 0.0
        previous = signal.signal(signal.SIGINT, self._request_interrupt)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _request_interrupt(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if not self._interrupt_time:
            self._interrupt_time = now
            if self.is_main:
                logger.warning(
                    "interrupted: stopping after the current step with a "
                    "checkpoint (press Ctrl-C again to stop at once, without one)"
                )
        elif now - self._interrupt_time > _FORCE_STOP_SECONDS:
            raise KeyboardInterrupt

    @property
    def tokens_per_second(self) -> float:
        """Input tokens of all processes per second of training steps.

        The time excludes evaluations and checkpoints.
        """
        return self.tokens_seen / self.train_seconds if self.train_seconds else 0.0

    def run_evaluation(self, max_windows: int | None = None) -> Evaluation | None:
        """Evaluate on the validation text and record the metrics.

        Only rank 0 evaluates; the other processes return None.
        """
        if not self.is_main:
            return None
        if max_windows is None:
            max_windows = self.config.eval_max_windows
        evaluation = evaluate(
            _model_on_cpu_batches(self.model),
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
        """Write weights, trainer state and metrics of the current step.

        Every process calls it, because the checkpoint stores the random
        state of each; rank 0 writes the files.

        Raises
        ------
        TrainingDiverged
            If a weight is NaN or infinite; the previous checkpoint is kept.
        """
        self._check_finite_weights()
        random_states = all_gather(self._random_state(), self.distributed)
        if not self.is_main:
            self.checkpoint_step = self.step
            return
        state = {
            "format": _STATE_FORMAT,
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "rng": random_states[0]["cpu"],
            "rng_by_rank": random_states,
            "tokens_seen": self.tokens_seen,
            "train_seconds": self.train_seconds,
            "tokenizer_sha256": self._tokenizer_sha256(),
        }
        checkpoint.save_checkpoint(self.run_dir, self.model, state)
        self.metrics.flush()
        self.checkpoint_step = self.step
        logger.debug("checkpoint of step %d written to %s", self.step, self.run_dir)

    def load_checkpoint(self) -> None:
        """Restore weights, optimizer, RNG and step from the run directory.

        Rank 0 also finishes a checkpoint write that a kill interrupted.

        Raises
        ------
        CheckpointError
            If a file is missing, unreadable or corrupted, the weights and
            the trainer state are not a pair, or the tokenizer is not the one
            the checkpoint was trained with.
        """
        state_path = self.run_dir / checkpoint.STATE_FILE
        state = checkpoint.load_checkpoint(self.run_dir, self.model, self.is_main)
        missing = [key for key in _STATE_KEYS if key not in state]
        if state.get("format") != _STATE_FORMAT or missing:
            raise CheckpointError(
                f"{state_path}: invalid trainer state: format "
                f"{state.get('format')!r} (expected {_STATE_FORMAT}), missing "
                f"entries {missing}"
            )
        self._check_tokenizer(state.get("tokenizer_sha256"))
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError, TypeError) as error:
            raise CheckpointError(
                f"{state_path}: optimizer state does not fit the model: {error}"
            ) from error
        self.step = state["step"]
        self._restore_random_state(state)
        self.tokens_seen = state["tokens_seen"]
        self.train_seconds = state["train_seconds"]
        self.checkpoint_step = self.step
        self.metrics = checkpoint.MetricsLog(
            self.run_dir / checkpoint.METRICS_FILE, keep_until_step=self.step
        )
        if self.step > 0:
            logger.info("resuming %s at step %d", self.run_dir, self.step)

    def _random_state(self) -> dict[str, torch.Tensor]:
        state = {"cpu": torch.get_rng_state()}
        if self.distributed.device.startswith("cuda"):
            state["cuda"] = torch.cuda.get_rng_state(self.distributed.device)
        return state

    def _restore_random_state(self, state: dict[str, Any]) -> None:
        by_rank = state.get("rng_by_rank") or [{"cpu": state["rng"]}]
        rank = self.distributed.rank
        if rank >= len(by_rank):
            # The checkpoint has no state for this rank: a new distributed run
            # starts from the step-0 checkpoint of one process, or a resumed
            # run has more processes than before. The rank seeds its own.
            torch.manual_seed(process_seed(self.config.seed, self.step, rank))
            return
        torch.set_rng_state(by_rank[rank]["cpu"])
        if "cuda" in by_rank[rank] and self.distributed.device.startswith("cuda"):
            torch.cuda.set_rng_state(by_rank[rank]["cuda"], self.distributed.device)

    def _tokenizer_sha256(self) -> str | None:
        path = self.run_dir / checkpoint.TOKENIZER_FILE
        return checkpoint.file_sha256(path) if path.exists() else None

    def _check_tokenizer(self, recorded: str | None) -> None:
        if recorded is not None and recorded != self._tokenizer_sha256():
            raise CheckpointError(
                f"{self.run_dir / checkpoint.TOKENIZER_FILE}: not the tokenizer "
                "this run was trained with (its SHA-256 differs from the one the "
                "checkpoint recorded); restore the run's tokenizer.json"
            )

    def _check_finite_weights(self) -> None:
        for name, parameter in self.model.named_parameters():
            if not bool(torch.isfinite(parameter).all()):
                raise TrainingDiverged(
                    f"training diverged: weight {name} is not finite after step "
                    f"{self.step}; {self._kept_checkpoint()}; start a new run with "
                    f"an --lr lower than {self.config.lr:g} or more --warmup-steps"
                )

    def _kept_checkpoint(self) -> str:
        if self.checkpoint_step is None:
            return "no checkpoint was written"
        return f"{self.run_dir} keeps the checkpoint of step {self.checkpoint_step}"

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


def _check_saved_model(saved: Any, model: Encoder, run_dir: Path) -> None:
    """Raise ``CheckpointError`` naming a model setting that differs from the run's."""
    if not isinstance(saved, dict):
        return  # config.json of an older version, without the model's shape
    current = model.config.to_dict()
    for name in sorted(set(saved) | set(current)):
        if saved.get(name) == current.get(name):
            continue
        if name == "vocab_size":
            raise checkpoint.tokenizer_size_error(
                run_dir, current.get(name), saved.get(name)
            )
        raise CheckpointError(
            f"{run_dir / checkpoint.CONFIG_FILE}: the training settings give the "
            f"model {name}={current.get(name)!r}, but the run's model has "
            f"{name}={saved.get(name)!r}"
        )


class _CpuBatches(nn.Module):
    """A model on a GPU that takes CPU batches and returns CPU outputs.

    ``nlpmlp.evaluate`` builds its batches on the CPU.
    """

    def __init__(self, model: Encoder) -> None:
        super().__init__()
        self.model = model
        self.config = model.config

    def forward(
        self, ids: torch.Tensor, targets: torch.Tensor | None = None
    ) -> ModelOutput:
        device = next(self.model.parameters()).device
        if targets is not None:
            targets = targets.to(device)
        logits, loss = self.model(ids.to(device), targets)
        return ModelOutput(logits.cpu(), None if loss is None else loss.cpu())


def _model_on_cpu_batches(model: Encoder) -> nn.Module:
    # NOTE: the GPU path has not run in this project's tests, which have only CPUs.
    if next(model.parameters()).device.type == "cpu":
        return model
    return _CpuBatches(model)


def _make_optimizer(model: Encoder, config: TrainConfig) -> torch.optim.Optimizer:
    # Weight decay applies to matrices (and the tied embedding), not to
    # biases and LayerNorm gains.
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    vectors = [p for p in model.parameters() if p.ndim < 2]
    groups = [
        {"params": matrices, "weight_decay": config.weight_decay},
        {"params": vectors, "weight_decay": 0.0},
    ]
    # On CPU, torch's one-pass AdamW kernel took 0.5 ms per char-baby step
    # where the multi-tensor path took 2.7 ms; the updates agree to rounding.
    fused = next(model.parameters()).is_cpu
    return AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2), fused=fused)


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
