"""Settings of a training run, as one dataclass the command line reads.

Each field's ``help`` metadata is its one-line description, shown by
``nlpmlp train --help`` with the unit of the value. A run's settings are
saved in ``config.json`` and read back by ``--resume``, ``evaluate``,
``fill-mask`` and ``generate``.
"""

from __future__ import annotations

from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from typing import Any

from nlpmlp.data import OBJECTIVES
from nlpmlp.errors import ConfigError
from nlpmlp.ffn import FEED_FORWARDS, FFN_ACTIVATIONS
from nlpmlp.model import ModelConfig
from nlpmlp.tokenizer import TOKENIZER_KINDS

__all__ = ["PRESETS", "RESUME_OVERRIDES", "TrainConfig"]


def _setting(default: Any, help: str, **metadata: Any) -> Any:
    return field(default=default, metadata={"help": help, **metadata})


MIN_GRAD_CLIP = 1e-6  # smallest positive gradient-norm limit
MAX_SEED = 2**63 - 1  # the largest signed 64-bit integer; larger seeds overflowed


@dataclass
class TrainConfig:
    """Every setting of ``nlpmlp train``; the defaults are the default run."""

    # Input
    data: list[str] = field(
        default_factory=list,
        metadata={
            "help": "UTF-8 text file or folder of .txt/.md files; repeat for more "
            "(default: the CPython help topics)"
        },
    )
    validation_fraction: float = _setting(
        0.1,
        "fraction of the text, taken from its end, kept for validation",
        above=0.0,
        below=1.0,
    )
    tokenizer: str = _setting(
        "bpe", "byte-level BPE or one token per character", choices=TOKENIZER_KINDS
    )
    vocab_size: int = _setting(
        2048, "BPE vocabulary size in tokens (bpe only)", minimum=258
    )
    objective: str = _setting(
        "mlm", "masked LM (fill-mask) or causal LM (generate)", choices=OBJECTIVES
    )

    # Model
    block_size: int = _setting(
        128, "context length in tokens", minimum=1, maximum=16384
    )
    n_layer: int = _setting(4, "number of Transformer blocks", minimum=1, maximum=256)
    n_head: int = _setting(
        4, "attention heads per block (must divide n_embd)", minimum=1
    )
    n_embd: int = _setting(
        128, "embedding and residual width", minimum=1, maximum=16384
    )
    ffn_mult: float = _setting(
        4.0,
        "feed-forward hidden width in multiples of n_embd (0: no feed-forward)",
        minimum=0.0,
        maximum=64.0,
    )
    activation: str = _setting(
        "gelu", "feed-forward activation", choices=FFN_ACTIVATIONS
    )
    ffn: str = _setting(
        "foundations",
        "feed-forward implementation: foundations.mlp blocks, nn.Linear, or the "
        "gated W2 (phi(W1 x) * W3 x) with foundations layer steps",
        choices=tuple(FEED_FORWARDS),
    )
    # The default run is short (about ten passes over the text, with fresh
    # masks each time); there dropout cost 10 % of the speed and did not lower
    # the validation loss.
    dropout: float = _setting(0.0, "dropout probability", minimum=0.0, below=1.0)
    bias: bool = _setting(True, "biases in linear layers and LayerNorms")

    # Optimization
    batch_size: int = _setting(16, "windows per step", minimum=1, maximum=65536)
    max_steps: int = _setting(600, "optimizer steps of the whole run", minimum=1)
    lr: float = _setting(3e-3, "peak learning rate of AdamW", above=0.0)
    min_lr: float = _setting(
        3e-4, "learning rate at the end of the cosine decay", minimum=0.0
    )
    warmup_steps: int = _setting(50, "steps of linear learning-rate warm-up", minimum=0)
    decay_steps: int = _setting(
        0,
        "step where the cosine decay ends (0: max_steps of the first run, "
        "which --resume keeps)",
        minimum=0,
    )
    weight_decay: float = _setting(
        0.1, "AdamW decoupled weight decay of matrices", minimum=0.0
    )
    beta1: float = _setting(0.9, "AdamW first-moment decay", minimum=0.0, below=1.0)
    beta2: float = _setting(0.99, "AdamW second-moment decay", minimum=0.0, below=1.0)
    grad_clip: float = _setting(
        1.0, "maximum global gradient norm (0: no clipping)", minimum=0.0
    )

    # Schedule of side work
    eval_interval: int = _setting(
        200,
        "steps between evaluations on validation text (0: only at the end)",
        minimum=0,
    )
    eval_max_windows: int = _setting(
        0,
        "validation windows per evaluation, evenly spaced (0: all)",
        minimum=0,
    )
    log_interval: int = _setting(50, "steps between metric records", minimum=1)
    checkpoint_interval: int = _setting(
        200,
        "steps between checkpoints (0: only at the end)",
        minimum=0,
    )
    time_budget: float = _setting(
        210.0,
        "wall-clock limit of the training loop in seconds (0: none)",
        minimum=0.0,
        metavar="SECONDS",
    )

    # Runtime
    seed: int = _setting(
        1337,
        "seed of initialization, batches and masks",
        minimum=0,
        maximum=MAX_SEED,
    )
    threads: int = _setting(
        0,
        "torch CPU threads (0: one per CPU core); on a machine busy with other "
        "work, 1 can be several times faster",
        minimum=0,
        maximum=256,
    )

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first invalid setting."""
        for setting in fields(self):
            check_bounds(setting, getattr(self, setting.name))
        if self.min_lr > self.lr:
            raise ConfigError(f"min_lr must be <= lr ({self.lr}), got {self.min_lr}")
        if 0 < self.grad_clip < MIN_GRAD_CLIP:
            # Smaller limits are no use, and they push the gradients' divisor
            # norm / grad_clip beyond the float32 range of the fused kernel.
            raise ConfigError(
                f"grad_clip must be 0 (no clipping) or at least {MIN_GRAD_CLIP:g}, "
                f"got {self.grad_clip:g}"
            )
        # Weights of the blocks: attention 4 n_embd^2, feed-forward 2 ffn_mult n_embd^2.
        weights = self.n_layer * (4 + 2 * self.ffn_mult) * self.n_embd**2
        if weights > _MAX_BLOCK_WEIGHTS:
            raise ConfigError(
                f"the model would have about {weights:.3g} weights in its blocks, "
                f"more than {_MAX_BLOCK_WEIGHTS:.0e}; lower --n-layer, --n-embd "
                "or --ffn-mult"
            )
        self.model_config(vocab_size=1).validate()

    def model_config(self, vocab_size: int) -> ModelConfig:
        """Return the model shape for a tokenizer of ``vocab_size`` tokens."""
        names = {f.name for f in fields(ModelConfig)} - {"vocab_size", "causal"}
        settings = {name: getattr(self, name) for name in names}
        causal = self.objective == "causal"
        return ModelConfig(vocab_size=vocab_size, causal=causal, **settings)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build a config from ``to_dict`` output, defaults for missing keys.

        Raises
        ------
        ConfigError
            If ``values`` has a key that is not a setting.
        """
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown settings {sorted(unknown)}")
        return cls(**values)


def check_bounds(setting: Field, value: Any) -> None:
    """Raise ``ConfigError`` if ``value`` breaks the bounds in the field's metadata.

    The metadata keys are ``minimum`` and ``maximum`` (inclusive), ``above``
    (exclusive lower bound), ``below`` (exclusive upper bound) and ``choices``.
    """
    bounds = setting.metadata
    default = setting.default
    number = isinstance(default, int | float) and not isinstance(default, bool)
    if number and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ConfigError(f"{setting.name} must be a number, got {value!r}")
    checks = [
        ("minimum", ">=", lambda limit: value >= limit),
        ("maximum", "<=", lambda limit: value <= limit),
        ("above", ">", lambda limit: value > limit),
        ("below", "<", lambda limit: value < limit),
    ]
    for key, relation, satisfied in checks:
        if key in bounds and not satisfied(bounds[key]):
            raise ConfigError(
                f"{setting.name} must be {relation} {bounds[key]}, got {value!r}"
            )
    choices = bounds.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{setting.name} must be one of {choices}, got {value!r}")


def default_value(setting: Field) -> Any:
    """Return the default of a dataclass field."""
    if setting.default_factory is not MISSING:
        return setting.default_factory()
    return setting.default


# Settings that may change when a run is resumed; every other setting is
# fixed by the run's config.json.
RESUME_OVERRIDES = ("max_steps", "time_budget", "threads")

# A billion float32 weights take 4 GB, and AdamW keeps two more copies.
_MAX_BLOCK_WEIGHTS = 1e9

PRESETS: dict[str, dict[str, Any]] = {
    # Character-level causal LM of nanoGPT's size, on the built-in corpus.
    # ReLU, because it reached the validation loss of GELU (1.318 against
    # 1.317 nats/char) and its kernels take a fraction of GELU's time: a
    # step took about 5 % less time in an interleaved timing of both.
    "char-baby": {
        "objective": "causal",
        "tokenizer": "char",
        "n_layer": 4,
        "n_head": 4,
        "n_embd": 128,
        "block_size": 64,
        "batch_size": 12,
        "max_steps": 2000,
        "dropout": 0.0,
        "activation": "relu",
        "bias": False,
        "lr": 3e-3,
        "min_lr": 3e-4,
        "warmup_steps": 100,
        "weight_decay": 0.1,
        "beta2": 0.99,
        "eval_interval": 0,
        "log_interval": 100,
        "checkpoint_interval": 0,
        "time_budget": 0.0,
    },
}
