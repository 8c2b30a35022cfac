"""Fixtures of the nlpmlp tests: a small corpus and the command line."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# A model small enough that a command-line run takes about a second.
TINY_MODEL = [
    "--vocab-size", "300",
    "--n-layer", "1",
    "--n-head", "2",
    "--n-embd", "16",
    "--block-size", "16",
    "--batch-size", "4",
    "--log-interval", "2",
    "--threads", "1",
]  # fmt: skip

WORDS = (
    "the cat sat on a mat while dogs ran far away from home and birds sang "
    "songs in tall green trees"
).split()


def make_text(n_lines: int, seed: int = 0) -> str:
    """Return ``n_lines`` random sentences of ten words."""
    rng = random.Random(seed)
    lines = [
        " ".join(rng.choice(WORDS) for _ in range(10)).capitalize() + "."
        for _ in range(n_lines)
    ]
    return "\n".join(lines) + "\n"


RunCommand = Callable[..., subprocess.CompletedProcess]


@pytest.fixture(scope="session")
def nlpmlp() -> RunCommand:
    """Return a function that runs ``python -m nlpmlp ARGS`` and returns the result."""

    def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
        environment = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
        return subprocess.run(
            [sys.executable, "-m", "nlpmlp", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=cwd,
            env=environment,
        )

    return run


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a UTF-8 file of 300 short sentences (about 14 kB)."""
    path = tmp_path_factory.mktemp("corpus") / "sentences.txt"
    path.write_text(make_text(300), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def mlm_run(
    nlpmlp: RunCommand, corpus_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess]:
    """Train a tiny masked LM once; return its run directory and the process."""
    run_dir = tmp_path_factory.mktemp("runs") / "mlm"
    result = nlpmlp(
        "train", "--data", corpus_file, "--out", run_dir, "--max-steps", "6",
        "--eval-interval", "3", *TINY_MODEL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return run_dir, result


@pytest.fixture(scope="session")
def causal_run(
    nlpmlp: RunCommand, corpus_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess]:
    """Train a tiny character-level causal LM once."""
    run_dir = tmp_path_factory.mktemp("runs") / "causal"
    result = nlpmlp(
        "train", "--data", corpus_file, "--out", run_dir, "--max-steps", "6",
        "--objective", "causal", "--tokenizer", "char", *TINY_MODEL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return run_dir, result


@pytest.fixture(scope="session")
def tiny_options() -> list[str]:
    """Return the training options of the tiny model."""
    return list(TINY_MODEL)


@pytest.fixture(scope="session")
def sentences() -> str:
    """Return 300 random short sentences."""
    return make_text(300)
