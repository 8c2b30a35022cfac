"""The ``nlpmlp`` command line: train, evaluate, fill-mask, generate, and the
case-study commands ablate, neurons, neighbors and plot.

Errors a user can fix (``NlpmlpError``: bad input text, invalid settings, an
unusable run directory) end the program with one line on standard error,
``nlpmlp: error: ...``, and exit status 2; so do invalid options.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from nlpmlp.config import (
    MAX_SEED,
    PRESETS,
    TrainConfig,
    check_bounds,
    default_value,
)
from nlpmlp.errors import ConfigError, NlpmlpError

__all__ = ["main"]

logger = logging.getLogger("nlpmlp")

EXIT_USAGE = 2  # exit status of invalid input, as argparse uses
RUNS_FOLDER = Path("runs")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like the program's others."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return args.command(args)
    except NlpmlpError as error:
        message = " ".join(str(error).split())  # one line, whatever the cause
        print(f"nlpmlp: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        # A second Ctrl-C, or one before training starts: stop at once.
        from nlpmlp.commands import EXIT_INTERRUPTED  # loaded by _build_parser

        print("nlpmlp: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (MemoryError, RuntimeError) as error:
        if isinstance(error, RuntimeError) and "allocate" not in str(error):
            raise
        print(
            "nlpmlp: error: out of memory; lower --batch-size, --block-size, "
            "--n-layer, --n-embd or --ffn-mult",
            file=sys.stderr,
        )
        return EXIT_USAGE


def _build_parser() -> argparse.ArgumentParser:
    from nlpmlp import commands

    parser = _Parser(
        prog="nlpmlp",
        description="Train and use a small Transformer language model whose "
        "feed-forward sublayers are foundations.mlp blocks.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log debug messages"
    )
    subparsers = parser.add_subparsers(required=True, metavar="COMMAND")

    train = subparsers.add_parser(
        "train",
        help="train a model and write a run directory",
        description="Train a masked or causal LM and write a run directory.",
    )
    train.set_defaults(command=commands.train)
    train.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="run directory; must be new or empty unless --resume "
        "(default: a new runs/<objective or preset>-<date>-<time>)",
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint with its saved "
        "settings (only --max-steps, --time-budget and --threads may change)",
    )
    train.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="start from a named set of settings; options given override it",
    )
    _add_config_options(train)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="print loss, perplexity, bits per byte and accuracy of a run",
        description="Evaluate a run on every non-overlapping window of a text.",
    )
    evaluate.set_defaults(command=commands.evaluate)
    evaluate.add_argument("run", type=Path, metavar="RUN", help="run directory")
    evaluate.add_argument(
        "--data",
        action="append",
        metavar="PATH",
        help="evaluate on this whole file or folder, repeatable "
        "(default: the run's validation text)",
    )
    evaluate.add_argument(
        "--batch-size", type=_bounded(int, 1), default=32, help="windows per batch"
    )
    _add_threads(evaluate)

    fill = subparsers.add_parser(
        "fill-mask",
        help="print the likeliest tokens at each [MASK] (masked-LM runs)",
        description="Print the top-k tokens and probabilities at each [MASK].",
    )
    fill.set_defaults(command=commands.fill_mask)
    fill.add_argument("run", type=Path, metavar="RUN", help="run directory")
    fill.add_argument("text", metavar="TEXT", help="text with one or more [MASK]")
    fill.add_argument(
        "--top-k", type=_bounded(int, 1), default=5, help="tokens shown per mask"
    )
    _add_threads(fill)

    generate = subparsers.add_parser(
        "generate",
        help="continue a prompt with sampled text (causal-LM runs)",
        description="Continue a prompt with tokens sampled from a causal LM.",
    )
    generate.set_defaults(command=commands.generate)
    generate.add_argument("run", type=Path, metavar="RUN", help="run directory")
    generate.add_argument(
        "--prompt", default="\n", help="text to continue (default: a newline)"
    )
    generate.add_argument(
        "--max-new-tokens",
        type=_bounded(int, 0),
        default=200,
        metavar="N",
        help="tokens to generate",
    )
    generate.add_argument(
        "--temperature",
        type=_bounded(float, 0.0),
        default=1.0,
        help="divides the logits; 0 always takes the likeliest token",
    )
    generate.add_argument(
        "--top-k",
        type=_bounded(int, 0),
        default=0,
        metavar="K",
        help="sample among the K likeliest tokens (0: all)",
    )
    generate.add_argument(
        "--top-p",
        type=_bounded(float, 0.0, 1.0, above=True),
        default=1.0,
        metavar="P",
        help="sample among the likeliest tokens of total probability P (1: all)",
    )
    generate.add_argument(
        "--seed",
        type=_bounded(int, 0, MAX_SEED),
        default=0,
        help="seed of the sampling",
    )
    _add_threads(generate)
    _add_study_commands(subparsers)
    return parser


def _add_study_commands(subparsers: Any) -> None:
    from nlpmlp import study
    from nlpmlp.ablate import ABLATION_SETTINGS, VARIANTS
    from nlpmlp.analysis import NEIGHBOR_METRICS

    ablate = subparsers.add_parser(
        "ablate",
        help="train the same model with other feed-forward widths and activations",
        description="Train one configuration for the same number of steps with "
        "each feed-forward variant and seed, and write a table (CSV, Markdown) "
        "and a plot. --time-budget defaults to 0 (none) here, so that every run "
        "takes the same steps. Finished runs of an earlier call with the same "
        "--out and settings are reused.",
    )
    ablate.set_defaults(command=study.ablate)
    ablate.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder (default: a new runs/ablation-<date>-<time>)",
    )
    ablate.add_argument(
        "--variants",
        metavar="LIST",
        help=f"comma-separated variants (default: all of {', '.join(VARIANTS)})",
    )
    ablate.add_argument(
        "--seeds",
        type=_bounded(int, 0),
        nargs="+",
        default=[0, 1],
        metavar="N",
        help="seeds of each variant (default: 0 1)",
    )
    ablate.add_argument(
        "--quick",
        action="store_true",
        help="a 2-block, 64-wide causal LM for 200 steps, a few minutes on a CPU; "
        "options given override it",
    )
    ablate.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="start from a named set of settings; options given override it",
    )
    _add_config_options(
        ablate,
        exclude=("seed", "ffn_mult", "activation", "ffn"),
        defaults=ABLATION_SETTINGS,
    )

    neurons = subparsers.add_parser(
        "neurons",
        help="show what feed-forward neurons respond to and what they promote",
        description="Show feed-forward neurons as key-value memories: the "
        "training contexts that activate each neuron most (key, trigger token "
        "in [[ ]]) and the tokens its output vector promotes through the LM "
        "head (value).",
    )
    neurons.set_defaults(command=study.neurons)
    neurons.add_argument("run", type=Path, metavar="RUN", help="run directory")
    neurons.add_argument(
        "--layer",
        type=_bounded(int, 0),
        action="append",
        help="block index, from 0; repeatable (default: every block)",
    )
    neurons.add_argument(
        "--neuron",
        type=_bounded(int, 0),
        action="append",
        help="hidden-unit index, from 0; repeatable "
        "(default: the --top neurons of the largest mean activation per block)",
    )
    neurons.add_argument(
        "--top",
        type=_bounded(int, 1),
        default=3,
        metavar="N",
        help="neurons per block when no --neuron is given",
    )
    neurons.add_argument(
        "-k",
        type=_bounded(int, 1),
        default=5,
        metavar="N",
        help="contexts and promoted tokens shown per neuron",
    )
    neurons.add_argument(
        "--context",
        type=_bounded(int, 0),
        default=8,
        metavar="TOKENS",
        help="tokens shown on each side of the trigger (before it only, for a "
        "causal LM)",
    )
    neurons.add_argument(
        "--max-windows",
        type=_bounded(int, 0),
        default=0,
        metavar="N",
        help="scan this many evenly spaced windows of the training text (0: all)",
    )
    neurons.add_argument(
        "--batch-size", type=_bounded(int, 1), default=32, help="windows per batch"
    )
    neurons.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="where to save the report (default: RUN/neurons.json)",
    )
    _add_threads(neurons)

    neighbors = subparsers.add_parser(
        "neighbors",
        help="print the tokens nearest to a token in the embedding space",
        description="Rank the vocabulary by the distance of its embedding rows "
        "to the row of TOKEN (foundations.distances.pairwise).",
    )
    neighbors.set_defaults(command=study.neighbors)
    neighbors.add_argument("run", type=Path, metavar="RUN", help="run directory")
    neighbors.add_argument(
        "token",
        metavar="TOKEN",
        help="one token of the vocabulary, exactly (byte-level BPE tokens often "
        "start with a space: ' the')",
    )
    neighbors.add_argument(
        "--metric", choices=NEIGHBOR_METRICS, default="cosine", help="distance"
    )
    neighbors.add_argument(
        "-k", type=_bounded(int, 1), default=10, metavar="N", help="tokens shown"
    )
    _add_threads(neighbors)

    plot = subparsers.add_parser(
        "plot",
        help="plot loss and learning rate against step for one or more runs",
        description="Plot training and validation loss and the learning rate of "
        "each run (from its metrics.jsonl) as a PNG.",
    )
    plot.set_defaults(command=study.plot)
    plot.add_argument(
        "runs", type=Path, nargs="+", metavar="RUN", help="run directories"
    )
    plot.add_argument(
        "--out",
        type=Path,
        metavar="PNG",
        help="output file (default: RUN/training.png for one run, training.png "
        "for several)",
    )


def _add_config_options(
    parser: argparse.ArgumentParser,
    exclude: Sequence[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> None:
    # Options default to SUPPRESS, so the namespace holds only the options
    # given; the command line layers them over the preset and the defaults.
    # ``defaults`` lists the settings whose default the command changes.
    for setting in fields(TrainConfig):
        if setting.name in exclude:
            continue
        option = "--" + setting.name.replace("_", "-")
        default = (defaults or {}).get(setting.name, default_value(setting))
        help_text = setting.metadata["help"]
        if setting.name != "data":
            help_text += f" (default: {default})"
        if setting.type in ("bool", bool):
            parser.add_argument(
                option,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        elif setting.name == "data":
            parser.add_argument(
                option,
                action="append",
                metavar="PATH",
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            parser.add_argument(
                option,
                type=_setting_type(setting),
                choices=setting.metadata.get("choices"),
                metavar=_metavar(setting),
                default=argparse.SUPPRESS,
                help=help_text,
            )


def _metavar(setting: Any) -> str | None:
    if "choices" in setting.metadata:
        return None
    return setting.metadata.get("metavar") or {"int": "N", "float": "X"}.get(
        str(setting.type), "TEXT"
    )


def _add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=_bounded(int, 0),
        default=0,
        help="torch CPU threads (0: one per CPU core)",
    )


def _setting_type(setting: Any) -> Callable[[str], Any]:
    kind = {"int": int, "float": float, "str": str}[str(setting.type)]

    def parse(text: str) -> Any:
        value = _parse_number(kind, text) if kind is not str else text
        try:
            check_bounds(setting, value)
        except ConfigError as error:
            raise argparse.ArgumentTypeError(str(error)) from error
        return value

    parse.__name__ = kind.__name__
    return parse


def _bounded(
    kind: type, minimum: float, maximum: float | None = None, above: bool = False
) -> Callable[[str], Any]:
    """Return an argparse type that parses ``kind`` within the given bounds."""

    def parse(text: str) -> Any:
        value = _parse_number(kind, text)
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and <= {maximum}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(
                f"must be >= {minimum}{upper}, got {text!r}"
            )
        if above and value == minimum:
            raise argparse.ArgumentTypeError(f"must be > {minimum}, got {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _parse_number(kind: type, text: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        name = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Return the training settings given on the command line."""
    names = {setting.name for setting in fields(TrainConfig)}
    return {name: value for name, value in vars(args).items() if name in names}


def new_run_dir(args: argparse.Namespace, objective: str) -> Path:
    """Return the run directory of a new run, rejecting a used one.

    Raises
    ------
    ConfigError
        If ``--out`` names a non-empty directory or a file.
    """
    if args.out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = RUNS_FOLDER / f"{args.preset or objective}-{stamp}"
        run_dir, suffix = base, 1
        while run_dir.exists():
            suffix += 1
            run_dir = base.with_name(f"{base.name}-{suffix}")
        return run_dir
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise ConfigError(
            f"{args.out}: run directory exists and is not empty; pass --resume to "
            "continue that run, or choose a new --out"
        )
    return args.out
