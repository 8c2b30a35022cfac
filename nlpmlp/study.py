"""Handlers of the case-study subcommands: ablate, neurons, neighbors, plot.

Each is called with the parsed options of ``nlpmlp.cli``, prints its
results on standard output, sends messages to ``logging`` and returns the
exit status.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch
from tqdm.contrib.logging import logging_redirect_tqdm

from nlpmlp import ablate as ablation
from nlpmlp import analysis, checkpoint, plotting
from nlpmlp.cli import RUNS_FOLDER, given_settings
from nlpmlp.config import PRESETS, TrainConfig
from nlpmlp.corpus import load_corpus
from nlpmlp.errors import ConfigError
from nlpmlp.generate import load_run
from nlpmlp.memory import keep_freed_memory
from nlpmlp.train import configure_threads

__all__ = ["ablate", "neighbors", "neurons", "plot"]

logger = logging.getLogger(__name__)

NEURONS_FILE = "neurons.json"  # default --json of neurons, inside the run
TRAINING_PLOT = "training.png"  # default --out of plot


def ablate(args: argparse.Namespace) -> int:
    """Train the feed-forward grid, then print and write its table."""
    settings = {
        **ablation.ABLATION_SETTINGS,
        **PRESETS.get(args.preset or "", {}),
        **(ablation.QUICK_SETTINGS if args.quick else {}),
        **given_settings(args),
    }
    config = TrainConfig(**settings)
    config.validate()
    variants = (
        ablation.parse_variants(args.variants)
        if args.variants is not None
        else list(ablation.VARIANTS.values())
    )
    out_dir = args.out or RUNS_FOLDER / f"ablation-{time.strftime('%Y%m%d-%H%M%S')}"
    _make_folder(out_dir)
    configure_threads(config.threads)
    keep_freed_memory()
    logger.info(
        "ablation of %d variants x %d seeds on %d threads into %s",
        len(variants),
        len(args.seeds),
        torch.get_num_threads(),
        out_dir,
    )
    started = time.perf_counter()
    with logging_redirect_tqdm():
        results = ablation.run_grid(config, variants, args.seeds, out_dir)
    paths = ablation.write_outputs(results, out_dir)
    print(ablation.markdown_table(results))
    print(f"grid wall time: {time.perf_counter() - started:.1f} s")
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def neurons(args: argparse.Namespace) -> int:
    """Print the keys and values of feed-forward neurons and save them as JSON."""
    configure_threads(args.threads)
    run = load_run(args.run)
    analysis.check_neurons(run.model, args.layer, args.neuron)
    text = load_corpus(run.config.data, run.config.validation_fraction).train
    tokens = torch.tensor(run.tokenizer.encode(text), dtype=torch.long)
    stats = analysis.scan_activations(
        run.model, tokens, args.k, args.batch_size, args.max_windows
    )
    pairs = analysis.select_neurons(stats, args.layer, args.neuron, args.top)
    reports = analysis.neuron_reports(
        run.model, run.tokenizer, tokens, stats, pairs, args.k, args.context
    )
    print(
        f"{run.path} at step {run.step}: {stats.n_positions:,} positions of the "
        "training text scanned"
    )
    for report in reports:
        _print_neuron(report)
    json_path = args.json or run.path / NEURONS_FILE
    record = {
        "run": str(run.path),
        "step": run.step,
        "scanned_positions": stats.n_positions,
        "neurons": [report.to_dict() for report in reports],
    }
    try:
        checkpoint.write_json(json_path, record)
    except OSError as error:
        raise ConfigError(f"{json_path}: cannot write: {error}") from error
    print(f"saved: {json_path}")
    return 0


def _print_neuron(report: analysis.NeuronReport) -> None:
    print(
        f"\nlayer {report.layer} neuron {report.neuron}: "
        f"mean activation {report.mean_activation:.4f}"
    )
    promoted = ", ".join(f"{p.token!r} {p.logit:.3g}" for p in report.values)
    print(f"  value, tokens promoted (logit): {promoted}")
    print("  key, contexts of the largest activations:")
    for key in report.keys:
        print(f"    {key.activation:8.4f}  {key.text!r}")


def neighbors(args: argparse.Namespace) -> int:
    """Print the tokens nearest to a token in the embedding space."""
    configure_threads(args.threads)
    run = load_run(args.run)
    found = analysis.nearest_tokens(
        run.model, run.tokenizer, args.token, args.metric, args.k
    )
    print(f"nearest tokens to {args.token!r} by {args.metric} distance:")
    for rank, neighbor in enumerate(found, start=1):
        print(f"{rank:4d}  {neighbor.distance:.6f}  {neighbor.token!r}")
    return 0


def plot(args: argparse.Namespace) -> int:
    """Plot the loss and learning-rate curves of one or more runs as a PNG."""
    runs = {}
    for run_dir in args.runs:
        label = run_dir.name if run_dir.name not in runs else str(run_dir)
        runs[label] = plotting.read_metrics(run_dir)
    default = args.runs[0] / TRAINING_PLOT if len(args.runs) == 1 else TRAINING_PLOT
    path = plotting.save_figure(plotting.plot_training(runs), args.out or default)
    print(f"plot: {path}")
    return 0


def _make_folder(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path}: --out exists and is not a folder")
    checkpoint.make_folder(path, "output folder")
