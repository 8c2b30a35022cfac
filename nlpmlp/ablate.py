r"""The feed-forward ablation: one configuration, several FFN widths and kinds.

Every run of the grid trains the same settings for the same number of
steps, and only the feed-forward sublayer changes. The variants are no
feed-forward at all, hidden width 1x, 2x and 4x the model width with GELU,
the activations ReLU, logistic sigmoid and tanh-sigmoid at 4x, and the
gated GEGLU $W_2\,(\mathrm{GELU}(W_1 x) \odot W_3 x)$ at 8/3x. At that
width its three matrices hold as many weights as the two of the 4x block.
Each variant trains once per seed, in this process, with
``nlpmlp.train.Trainer``.

The output folder contains

- ``runs/<variant>-seed<seed>/``: each run directory, as ``nlpmlp train``
  writes it, plus ``ablation.json`` with the run's row of the table;
- ``results.csv``: one row per run;
- ``results.json``: the same rows as JSON;
- ``results.md``: one row per variant, mean and spread over the seeds;
- ``ablation.png``: validation loss per variant and training curves.

A run whose ``ablation.json`` records the same settings is not trained
again, so an interrupted grid continues where it stopped.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from nlpmlp import checkpoint, plotting
from nlpmlp.config import TrainConfig
from nlpmlp.errors import ConfigError
from nlpmlp.train import Trainer

__all__ = [
    "QUICK_SETTINGS",
    "VARIANTS",
    "RunResult",
    "Variant",
    "markdown_table",
    "parse_variants",
    "run_grid",
    "write_outputs",
]

logger = logging.getLogger(__name__)

RESULT_FILE = "ablation.json"


@dataclass(frozen=True)
class Variant:
    """One feed-forward setting of the grid."""

    name: str
    ffn_mult: float  # hidden width in multiples of n_embd
    activation: str
    ffn: str = "foundations"  # a key of nlpmlp.ffn.FEED_FORWARDS


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant("none", 0.0, "gelu"),
        Variant("gelu-1x", 1.0, "gelu"),
        Variant("gelu-2x", 2.0, "gelu"),
        Variant("gelu-4x", 4.0, "gelu"),
        Variant("relu-4x", 4.0, "relu"),
        Variant("sigmoid-4x", 4.0, "sigmoid"),
        Variant("tanh_sigmoid-4x", 4.0, "tanh_sigmoid"),
        Variant("geglu-2.67x", 8.0 / 3.0, "gelu", ffn="glu"),
    )
}

# Settings of --quick: a 2-block, 64-wide causal LM trained for 200 steps.
# The 16 runs of the grid took 172 s on one thread of a busy 2-core machine
# (6 to 13 s of training per run). Causal LM has a target at every position,
# about 7 times the targets per step of masked LM, so the variants separate
# within so few steps. NOTE: at 200 steps the losses still fall fast, so the
# table ranks how soon each variant leaves the unigram plateau more than
# what it reaches, and the seeds can differ by 0.2 nats.
QUICK_SETTINGS: dict[str, Any] = {
    "objective": "causal",
    "vocab_size": 1024,
    "n_layer": 2,
    "n_head": 4,
    "n_embd": 64,
    "block_size": 64,
    "batch_size": 16,
    "max_steps": 200,
    "warmup_steps": 20,
    "log_interval": 20,
    "eval_interval": 0,
    "checkpoint_interval": 0,
}

# Settings of every ablation unless given: a time budget would stop the
# slower variants earlier and break "same number of steps".
ABLATION_SETTINGS: dict[str, Any] = {"time_budget": 0.0}


@dataclass
class RunResult:
    """One row of the ablation table: a variant trained with one seed."""

    variant: str
    ffn: str
    activation: str
    ffn_mult: float
    n_hidden: int  # feed-forward hidden units per block
    seed: int
    parameters: int  # trainable parameters, the tied embedding counted once
    steps: int
    finished: bool  # False when a time budget stopped the run early
    val_loss: float  # nats per token, on the whole validation text
    perplexity: float
    bits_per_byte: float
    unigram_loss: float
    tokens_per_second: float  # input tokens per second of training steps
    wall_seconds: float  # Trainer.train, with evaluation and checkpoints
    run_dir: str

    def to_dict(self) -> dict[str, Any]:
        """Return the row as a JSON-ready dictionary."""
        return asdict(self)


def parse_variants(text: str) -> list[Variant]:
    """Return the variants named in a comma-separated list.

    Raises
    ------
    ConfigError
        If a name is not a key of ``VARIANTS`` or the list is empty.
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"--variants is empty; choose from {', '.join(VARIANTS)}")
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        raise ConfigError(
            f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}"
        )
    return [VARIANTS[name] for name in dict.fromkeys(names)]


def run_grid(
    base: TrainConfig,
    variants: Sequence[Variant],
    seeds: Sequence[int],
    out_dir: Path,
    on_result: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Train every variant with every seed and return one result per run.

    Parameters
    ----------
    base : TrainConfig
        The settings shared by all runs; each run replaces ``ffn_mult``,
        ``activation``, ``ffn`` and ``seed``.
    variants : sequence of Variant
    seeds : sequence of int
    out_dir : Path
        Folder of the run directories, ``out_dir / "runs"``.
    on_result : callable, optional
        Called with each result as soon as its run ends.
    """
    grid = [(variant, seed) for variant in variants for seed in seeds]
    for variant, _ in grid:
        _variant_config(base, variant, seeds[0]).validate()
    results = []
    bar = tqdm(grid, desc="ablation", unit="run", disable=None)
    for variant, seed in bar:
        bar.set_postfix(variant=variant.name, seed=seed)
        config = _variant_config(base, variant, seed)
        run_dir = out_dir / "runs" / f"{variant.name}-seed{seed}"
        result = _finished_result(run_dir, config) or _train(variant, config, run_dir)
        results.append(result)
        if on_result is not None:
            on_result(result)
    bar.close()
    return results


def _variant_config(base: TrainConfig, variant: Variant, seed: int) -> TrainConfig:
    return replace(
        base,
        ffn_mult=variant.ffn_mult,
        activation=variant.activation,
        ffn=variant.ffn,
        seed=seed,
    )


def _train(variant: Variant, config: TrainConfig, run_dir: Path) -> RunResult:
    trainer = Trainer.start(config, run_dir)
    started = time.perf_counter()
    outcome = trainer.train()
    wall_seconds = time.perf_counter() - started
    evaluation = outcome.evaluation
    result = RunResult(
        variant=variant.name,
        ffn=variant.ffn,
        activation=variant.activation,
        ffn_mult=variant.ffn_mult,
        n_hidden=round(variant.ffn_mult * config.n_embd),
        seed=config.seed,
        parameters=sum(p.numel() for p in trainer.model.parameters()),
        steps=outcome.step,
        finished=outcome.finished,
        val_loss=evaluation.loss,
        perplexity=evaluation.perplexity,
        bits_per_byte=evaluation.bits_per_byte,
        unigram_loss=evaluation.unigram_loss or math.nan,
        tokens_per_second=outcome.tokens_per_second,
        wall_seconds=wall_seconds,
        run_dir=str(run_dir),
    )
    record = {"settings": _settings_key(config), "result": result.to_dict()}
    checkpoint.write_json(run_dir / RESULT_FILE, record)
    logger.info(
        "%s seed %d: validation loss %.4f, %.0f tokens/s, %.1f s",
        variant.name,
        config.seed,
        evaluation.loss,
        outcome.tokens_per_second,
        wall_seconds,
    )
    return result


def _finished_result(run_dir: Path, config: TrainConfig) -> RunResult | None:
    """Return the stored result of ``run_dir`` if it was trained with ``config``."""
    path = run_dir / RESULT_FILE
    if not path.is_file():
        return None
    record = checkpoint.load_json(path)
    if record.get("settings") != _settings_key(config):
        logger.info("%s: settings changed, training it again", run_dir)
        return None
    logger.info("%s: already trained, reusing its result", run_dir)
    return RunResult(**record["result"])


def _settings_key(config: TrainConfig) -> dict[str, Any]:
    """Return the settings as requested, data paths made absolute."""
    data = [str(Path(path).resolve()) for path in config.data]
    return replace(config, data=data).to_dict()


def _summary(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """Group the results by variant, in grid order, with seed means."""
    rows = []
    for name in dict.fromkeys(result.variant for result in results):
        group = [result for result in results if result.variant == name]
        losses = [result.val_loss for result in group]
        mean_loss = statistics.fmean(losses)
        rows.append(
            {
                "first": group[0],
                "seeds": len(group),
                "loss": mean_loss,
                "loss_sd": statistics.stdev(losses) if len(losses) > 1 else 0.0,
                "perplexity": math.exp(mean_loss),
                "tokens_per_second": statistics.fmean(
                    r.tokens_per_second for r in group
                ),
                "wall_seconds": statistics.fmean(r.wall_seconds for r in group),
            }
        )
    return rows


def markdown_table(results: Sequence[RunResult]) -> str:
    """Return the per-variant table in Markdown, with a note on its columns."""
    lines = [
        "| variant | FFN | activation | hidden units | parameters "
        "| validation loss | perplexity | tokens/s | wall time (s) |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in _summary(results):
        first = row["first"]
        lines.append(
            f"| {first.variant} | {first.ffn if first.n_hidden else '-'} "
            f"| {first.activation if first.n_hidden else '-'} | {first.n_hidden} "
            f"| {first.parameters:,} | {row['loss']:.4f} ± {row['loss_sd']:.4f} "
            f"| {row['perplexity']:.2f} | {row['tokens_per_second']:,.0f} "
            f"| {row['wall_seconds']:.1f} |"
        )
    seeds = sorted({result.seed for result in results})
    unigram = statistics.fmean(result.unigram_loss for result in results)
    lines += [
        "",
        f"Mean over seeds {', '.join(map(str, seeds))}; ± is the standard "
        "deviation over seeds. Loss in nats per token on the whole validation "
        f"text (unigram baseline {unigram:.4f}). Perplexity is exp(mean loss). "
        "Wall time covers training, evaluation and checkpoints of one run.",
    ]
    return "\n".join(lines) + "\n"


def write_outputs(results: Sequence[RunResult], out_dir: Path) -> dict[str, Path]:
    """Write ``results.csv``, ``results.md`` and ``ablation.png`` into ``out_dir``.

    Returns
    -------
    dict
        "csv", "markdown" and "plot", each mapped to the path written.
    """
    rows = [result.to_dict() for result in results]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    paths = {
        "csv": out_dir / "results.csv",
        "markdown": out_dir / "results.md",
        "plot": out_dir / "ablation.png",
    }
    checkpoint.atomic_write_bytes(paths["csv"], buffer.getvalue().encode("utf-8"))
    table = markdown_table(results)
    checkpoint.atomic_write_bytes(paths["markdown"], table.encode("utf-8"))
    curves = {}
    for result in results:
        if result.variant not in curves:
            curves[result.variant] = plotting.read_metrics(result.run_dir)
    figure = plotting.plot_ablation(rows, curves)
    plotting.save_figure(figure, paths["plot"])
    json_rows = json.dumps(rows, indent=2) + "\n"
    checkpoint.atomic_write_bytes(out_dir / "results.json", json_rows.encode("utf-8"))
    return paths
