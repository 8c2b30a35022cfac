"""Figures of training runs and of the feed-forward ablation.

Each function returns a ``matplotlib.figure.Figure`` built without
``pyplot``, so it needs no display and leaves no global state behind. Save
one with ``save_figure``, which writes a PNG through matplotlib's Agg
renderer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from nlpmlp import checkpoint
from nlpmlp.errors import CheckpointError, ConfigError

__all__ = ["plot_ablation", "plot_training", "read_metrics", "save_figure"]

Record = dict[str, Any]


def read_metrics(run_dir: str | Path) -> list[Record]:
    """Read the records of a run's ``metrics.jsonl``.

    Raises
    ------
    CheckpointError
        If the run directory or its metrics file is missing, a line is not a
        JSON object with a ``step``, or the file has no records.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: run directory not found")
    path = run_dir / checkpoint.METRICS_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: metrics file not found; was the run trained?")
    records = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if line.strip():
            records.append(_parse_record(path, number, line))
    if not records:
        raise CheckpointError(f"{path}: metrics file has no records")
    return records


def _parse_record(path: Path, number: int, line: str) -> Record:
    try:
        record = json.loads(line)
    except ValueError as error:
        raise CheckpointError(f"{path}:{number}: invalid JSON: {error}") from error
    if not isinstance(record, dict) or not isinstance(record.get("step"), int):
        raise CheckpointError(f"{path}:{number}: expected an object with a step")
    return record


def _series(records: Sequence[Record], key: str) -> tuple[list[int], list[float]]:
    """Return the steps and values of the records that contain ``key``."""
    pairs = [(r["step"], r[key]) for r in records if r.get(key) is not None]
    return [step for step, _ in pairs], [value for _, value in pairs]


def plot_training(runs: Mapping[str, Sequence[Record]]) -> Figure:
    """Plot training and validation loss, and the learning rate, against step.

    Parameters
    ----------
    runs : mapping of label -> records
        The ``metrics.jsonl`` records of each run (see ``read_metrics``).
        Each run gets one colour: its training loss is a solid line, its
        validation loss a dashed line with dots.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: loss in nats per token, and the learning rate.
    """
    figure = Figure(figsize=(10.0, 4.0), layout="constrained")
    loss_axes, lr_axes = figure.subplots(1, 2)
    colours = [f"C{index % 10}" for index in range(len(runs))]
    for (label, records), colour in zip(runs.items(), colours, strict=True):
        loss_axes.plot(*_series(records, "train_loss"), color=colour, label=label)
        steps, losses = _series(records, "val_loss")
        loss_axes.plot(steps, losses, "o--", color=colour, markersize=4)
        lr_axes.plot(*_series(records, "lr"), color=colour, label=label)
    # Style-only entries that explain solid and dashed lines for every colour.
    loss_axes.plot([], [], color="grey", label="training")
    loss_axes.plot([], [], "o--", color="grey", markersize=4, label="validation")
    loss_axes.set(xlabel="step", ylabel="loss (nats/token)", title="loss")
    lr_axes.set(xlabel="step", ylabel="learning rate", title="learning rate")
    loss_axes.legend(fontsize="small")
    loss_axes.grid(alpha=0.3)
    lr_axes.grid(alpha=0.3)
    return figure


def plot_ablation(
    rows: Sequence[Mapping[str, Any]], curves: Mapping[str, Sequence[Record]]
) -> Figure:
    """Plot the validation loss of each ablation variant and its training curve.

    Parameters
    ----------
    rows : sequence of mappings
        One per run, with the keys ``variant``, ``seed`` and ``val_loss``
        (``nlpmlp.ablate.RunResult.to_dict``), in grid order.
    curves : mapping of variant -> records
        ``metrics.jsonl`` records of one run of each variant, for the
        training-loss panel.

    Returns
    -------
    matplotlib.figure.Figure
        Left: the validation loss of every seed (dots) and their mean
        (horizontal line). Right: training loss against step.
    """
    variants = list(dict.fromkeys(row["variant"] for row in rows))
    figure = Figure(figsize=(11.0, 4.2), layout="constrained")
    loss_axes, curve_axes = figure.subplots(1, 2)
    for index, variant in enumerate(variants):
        losses = [row["val_loss"] for row in rows if row["variant"] == variant]
        mean = math.fsum(losses) / len(losses)
        loss_axes.hlines(mean, index - 0.3, index + 0.3, color=f"C{index % 10}")
        loss_axes.plot([index] * len(losses), losses, "o", color=f"C{index % 10}")
    loss_axes.set_xticks(range(len(variants)), variants, rotation=30, ha="right")
    loss_axes.set(ylabel="validation loss (nats/token)", title="validation loss")
    loss_axes.grid(axis="y", alpha=0.3)
    for index, variant in enumerate(variants):
        if variant in curves:
            steps, losses = _series(curves[variant], "train_loss")
            curve_axes.plot(steps, losses, color=f"C{index % 10}", label=variant)
    curve_axes.set(xlabel="step", ylabel="training loss (nats/token)")
    curve_axes.set_title("training loss (first seed)")
    curve_axes.legend(fontsize="small")
    curve_axes.grid(alpha=0.3)
    return figure


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as a PNG at ``path``, creating missing parent folders.

    Raises
    ------
    ConfigError
        If ``path`` does not end in ``.png``, names a directory, or cannot be
        written.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"{path}: the plot file must end in .png")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; give a .png file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png", dpi=120)
    except OSError as error:
        raise ConfigError(f"{path}: cannot write the plot: {error}") from error
    return path
