"""Train the char-baby preset and nanoGPT on the same data, side by side.

Both train a character-level causal LM with 4 blocks, 4 heads, width 128,
context 64, batch 12, 2,000 steps and no dropout, on the CPython help
topics sorted by key and joined by newlines (first 90 % for training). Each
run is a separate process, started one after the other, ``--rounds`` times
in turn, so that a slow spell of a shared machine falls on both.

For each run the script prints the loss over every non-overlapping window
of the validation text, the training tokens per second (tokens of all
steps over the time spent in steps, as each program reports it) and the
wall-clock seconds of the whole command.

nanoGPT runs only with ``--nanogpt-dir``, a checkout of it (commit 3adf61e
was used for the figures on the benchmarks page). The script writes the
data set into ``DIR/data/nlpmlp_pydoc_char``, starts nanoGPT's ``train.py``
with ``--device=cpu --compile=False``, reads the time of each iteration from
its log and evaluates its checkpoint with its own model class. Without it,
the script compares with reference figures measured for nanoGPT 3adf61e on
another 2-core machine: 1.424 nats per character at 9,063 tokens/s.

    python benchmarks/nanogpt_side_by_side.py [--nanogpt-dir DIR] [--rounds 1]
        [--activation relu] [--max-steps N] [--threads 0]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nlpmlp.config import PRESETS
from nlpmlp.corpus import builtin_text, split_text
from nlpmlp.ffn import FFN_ACTIVATIONS

NANOGPT_LOSS = 1.424  # nats per character, whole validation text
NANOGPT_TOKENS_PER_SECOND = 9063.0  # on 2 CPU cores
SPEED_GOAL = 1.2  # tokens per second, in multiples of nanoGPT's
DATASET = "nlpmlp_pydoc_char"
PRESET = PRESETS["char-baby"]
ITERATION_LINE = re.compile(r"^iter (\d+): loss [\d.]+, time ([\d.]+)ms")


def prepare_nanogpt_data(nanogpt_dir: Path) -> None:
    """Write the corpus as nanoGPT's character data set (uint16 ids, meta.pkl)."""
    text = builtin_text()
    train, validation = split_text(text, 0.1)
    chars = sorted(set(text))
    ids = {c: i for i, c in enumerate(chars)}
    folder = nanogpt_dir / "data" / DATASET
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", train), ("val", validation)):
        np.array([ids[c] for c in part], dtype=np.uint16).tofile(folder / f"{name}.bin")
    meta = {"vocab_size": len(chars), "stoi": ids, "itos": dict(enumerate(chars))}
    with open(folder / "meta.pkl", "wb") as file:
        pickle.dump(meta, file)


def run_nanogpt(nanogpt_dir: Path, steps: int, threads: int) -> dict[str, float]:
    """Train nanoGPT in a subprocess and return its loss, speed and wall time."""
    with tempfile.TemporaryDirectory() as out_dir:
        settings = {
            "dataset": DATASET,
            "device": "cpu",
            "compile": False,
            "eval_iters": 20,
            "log_interval": 1,
            "block_size": PRESET["block_size"],
            "batch_size": PRESET["batch_size"],
            "n_layer": PRESET["n_layer"],
            "n_head": PRESET["n_head"],
            "n_embd": PRESET["n_embd"],
            "max_iters": steps,
            "lr_decay_iters": steps,
            "dropout": 0.0,
            "out_dir": out_dir,
            "eval_interval": steps,
            "always_save_checkpoint": True,
        }
        command = [sys.executable, "train.py", "config/train_shakespeare_char.py"]
        command += [f"--{key}={value}" for key, value in settings.items()]
        started = time.perf_counter()
        log = _run(command, nanogpt_dir, threads)
        wall = time.perf_counter() - started
        seconds = [
            float(match[2]) / 1e3
            for match in map(ITERATION_LINE.match, log.splitlines())
            if match and int(match[1]) > 0  # iteration 0 includes an evaluation
        ]
        loss, n_targets = nanogpt_validation_loss(
            nanogpt_dir, Path(out_dir) / "ckpt.pt"
        )
    tokens = len(seconds) * PRESET["batch_size"] * PRESET["block_size"]
    return {
        "loss": loss,
        "n_targets": n_targets,
        "tokens_per_second": tokens / sum(seconds),
        "wall_seconds": wall,
    }


def nanogpt_validation_loss(nanogpt_dir: Path, checkpoint: Path) -> tuple[float, int]:
    """Return the mean loss over every non-overlapping validation window."""
    spec = importlib.util.spec_from_file_location(
        "nanogpt_model", nanogpt_dir / "model.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = module.GPT(module.GPTConfig(**saved["model_args"]))
    model.load_state_dict(saved["model"])
    model.eval()
    data = np.fromfile(nanogpt_dir / "data" / DATASET / "val.bin", dtype=np.uint16)
    data = torch.from_numpy(data.astype(np.int64))
    length = saved["model_args"]["block_size"]
    starts = range(0, len(data) - length, length)
    total, count = 0.0, 0
    with torch.no_grad():
        for first in range(0, len(starts), 64):
            batch = starts[first : first + 64]
            x = torch.stack([data[s : s + length] for s in batch])
            y = torch.stack([data[s + 1 : s + 1 + length] for s in batch])
            _, loss = model(x, y)
            total += loss.item() * y.numel()
            count += y.numel()
    return total / count, count


def run_nlpmlp(steps: int, threads: int, activation: str) -> dict[str, float]:
    """Train the char-baby preset in a subprocess and return its figures."""
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / "char-baby"
        command = [sys.executable, "-m", "nlpmlp", "train", "--preset", "char-baby"]
        command += ["--out", str(run_dir), "--max-steps", str(steps)]
        command += ["--threads", str(threads), "--activation", activation]
        started = time.perf_counter()
        _run(command, Path.cwd(), threads)
        wall = time.perf_counter() - started
        records = [
            json.loads(line)
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        ]
    speed = [r["tokens_per_second"] for r in records if "tokens_per_second" in r][-1]
    final = [r for r in records if "val_loss" in r][-1]
    return {
        "loss": final["val_loss"],
        "n_targets": final["val_n_targets"],
        "tokens_per_second": speed,
        "wall_seconds": wall,
    }


def _run(command: list[str], folder: Path, threads: int) -> str:
    environment = dict(os.environ)
    if threads:
        environment["OMP_NUM_THREADS"] = str(threads)
    result = subprocess.run(
        command, cwd=folder, env=environment, capture_output=True, text=True
    )
    if result.returncode:
        sys.exit(f"{command[1]} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return result.stdout + result.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nanogpt-dir", type=Path, help="nanoGPT checkout to run")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each, in turn")
    parser.add_argument("--max-steps", type=int, default=PRESET["max_steps"])
    parser.add_argument("--threads", type=int, default=0, help="0: one per core")
    parser.add_argument(
        "--activation",
        action="append",
        choices=FFN_ACTIVATIONS,
        help="feed-forward activation of nlpmlp; repeat to train several "
        f"(default: the preset's, {PRESET.get('activation', 'gelu')})",
    )
    args = parser.parse_args()
    for name in ("rounds", "max_steps", "threads"):
        value, least = getattr(args, name), 0 if name == "threads" else 1
        if value < least:
            parser.error(f"--{name.replace('_', '-')} must be >= {least}, got {value}")
    activations = args.activation or [PRESET.get("activation", "gelu")]
    if args.nanogpt_dir:
        if not args.nanogpt_dir.is_dir():
            parser.error(f"--nanogpt-dir {args.nanogpt_dir}: folder not found")
        if not (args.nanogpt_dir / "train.py").is_file():
            parser.error(
                f"--nanogpt-dir {args.nanogpt_dir}: no train.py there; "
                "expected a checkout of nanoGPT"
            )
        prepare_nanogpt_data(args.nanogpt_dir)

    results: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        if args.nanogpt_dir:
            nanogpt = run_nanogpt(args.nanogpt_dir, args.max_steps, args.threads)
            results.setdefault("nanoGPT", []).append(nanogpt)
            _print("nanoGPT", nanogpt)
        for activation in activations:
            ours = run_nlpmlp(args.max_steps, args.threads, activation)
            results.setdefault(f"nlpmlp {activation}", []).append(ours)
            _print(f"nlpmlp {activation}", ours)

    print(f"\nmedians over {args.rounds} round(s), {os.cpu_count()} cores:")
    medians = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name, runs in results.items()
    }
    for name, figures in medians.items():
        _print(name, figures)
    reference = medians.get("nanoGPT") or {
        "loss": NANOGPT_LOSS,
        "tokens_per_second": NANOGPT_TOKENS_PER_SECOND,
    }
    source = "measured" if "nanoGPT" in medians else "reference figures"
    if source == "reference figures" and args.max_steps != PRESET["max_steps"]:
        print(
            f"note: the reference figures are for {PRESET['max_steps']} steps, "
            f"these runs took {args.max_steps}"
        )
    for name, figures in medians.items():
        if name == "nanoGPT":
            continue
        ratio = figures["tokens_per_second"] / reference["tokens_per_second"]
        difference = figures["loss"] - reference["loss"]
        print(
            f"{name} against nanoGPT ({source}): loss {difference:+.4f} nats/char "
            f"(goal: below 0), speed ratio {ratio:.3f} (goal: >= {SPEED_GOAL})"
        )


def _print(name: str, figures: dict[str, float]) -> None:
    print(
        f"{name:15s} loss {figures['loss']:.4f} nats/char over "
        f"{figures['n_targets']:.0f} characters, "
        f"{figures['tokens_per_second']:7.0f} tokens/s, "
        f"{figures['wall_seconds']:6.1f} s in all",
        flush=True,
    )


if __name__ == "__main__":
    main()
