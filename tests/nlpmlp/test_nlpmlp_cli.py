"""End-to-end tests: the real ``nlpmlp`` command line in subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import safetensors.torch
import torch


def _error_line(result) -> str:
    """Return the one line of standard error of a rejected command."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_help_gives_units(nlpmlp) -> None:
    result = nlpmlp("train", "--help")
    assert result.returncode == 0
    assert "--time-budget SECONDS" in result.stdout
    assert "in seconds" in result.stdout
    assert "context length in tokens" in result.stdout


def test_ablate_help_gives_its_own_defaults(nlpmlp) -> None:
    ablate = nlpmlp("ablate", "--help")
    train = nlpmlp("train", "--help")
    assert ablate.returncode == 0
    assert train.returncode == 0
    # argparse wraps the help text, so compare it without line breaks.
    ablate_text = " ".join(ablate.stdout.split())
    train_text = " ".join(train.stdout.split())
    assert "seconds (0: none) (default: 0.0)" in ablate_text
    assert "seconds (0: none) (default: 210.0)" in train_text


def test_train_writes_run_directory(mlm_run) -> None:
    run_dir, _ = mlm_run
    names = {path.name for path in run_dir.iterdir()}
    expected = {
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "trainer_state.pt",
        "metrics.jsonl",
    }
    assert names == expected
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["max_steps"] == 6
    assert config["model"]["causal"] is False


def test_metrics_record_training_and_validation(mlm_run) -> None:
    run_dir, _ = mlm_run
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["step"] for r in records if "train_loss" in r] == [2, 4, 6]
    assert [r["step"] for r in records if "val_loss" in r] == [3, 6]
    assert all("tokens_per_second" in r for r in records if "train_loss" in r)


def test_train_prints_baseline_and_sample(mlm_run) -> None:
    _, result = mlm_run
    assert "validation loss:" in result.stdout
    assert "unigram baseline" in result.stdout
    assert "fill-mask examples" in result.stdout
    assert "[MASK]" in result.stdout


def test_evaluate_prints_metrics(nlpmlp, mlm_run, corpus_file) -> None:
    run_dir, _ = mlm_run
    on_validation = nlpmlp("evaluate", run_dir, "--threads", "1")
    on_file = nlpmlp("evaluate", run_dir, "--data", corpus_file, "--threads", "1")
    for result in (on_validation, on_file):
        assert result.returncode == 0, result.stderr
        for name in (
            "loss:",
            "perplexity:",
            "bits per byte:",
            "masked-token accuracy:",
        ):
            assert name in result.stdout
    assert on_validation.stdout != on_file.stdout


def test_evaluate_matches_training_result(nlpmlp, mlm_run) -> None:
    run_dir, _ = mlm_run
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").open()]
    final = [r for r in records if "val_loss" in r][-1]
    result = nlpmlp("evaluate", run_dir, "--batch-size", "3", "--threads", "1")
    assert f"loss: {final['val_loss']:.4f} nats/token" in result.stdout


def test_fill_mask_prints_top_k(nlpmlp, mlm_run) -> None:
    run_dir, _ = mlm_run
    result = nlpmlp("fill-mask", run_dir, "the cat [MASK] on the mat", "--top-k", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "[MASK] 1:"
    probabilities = [float(line.split()[0]) for line in lines[1:]]
    assert len(probabilities) == 3
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1
    assert "'[MASK]'" not in result.stdout
    assert "'[PAD]'" not in result.stdout


def test_generate_continues_prompt(nlpmlp, causal_run) -> None:
    run_dir, _ = causal_run
    arguments = ("generate", run_dir, "--prompt", "The cat", "--max-new-tokens", "20")
    first = nlpmlp(*arguments, "--seed", "3", "--top-k", "5", "--top-p", "0.9")
    again = nlpmlp(*arguments, "--seed", "3", "--top-k", "5", "--top-p", "0.9")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("The cat")
    assert len(first.stdout.rstrip("\n")) == len("The cat") + 20
    assert first.stdout == again.stdout


def test_causal_training_prints_sample(causal_run) -> None:
    _, result = causal_run
    assert "sample (prompt" in result.stdout


def test_generate_rejects_masked_run(nlpmlp, mlm_run) -> None:
    run_dir, _ = mlm_run
    line = _error_line(nlpmlp("generate", run_dir, "--prompt", "the"))
    assert "masked LM, which cannot generate text" in line


def test_fill_mask_rejects_causal_run(nlpmlp, causal_run) -> None:
    run_dir, _ = causal_run
    line = _error_line(nlpmlp("fill-mask", run_dir, "the [MASK] sat"))
    assert "causal LM, which cannot fill masks" in line


def test_fill_mask_needs_mask_token(nlpmlp, mlm_run) -> None:
    run_dir, _ = mlm_run
    assert "has no [MASK] token" in _error_line(nlpmlp("fill-mask", run_dir, "cat"))


def test_resume_reaches_uninterrupted_weights(
    nlpmlp, corpus_file, tiny_options, tmp_path: Path
) -> None:
    # Dropout makes the weights depend on the saved state of torch's RNG.
    common = ("--data", corpus_file, "--eval-interval", "0", "--dropout", "0.1")
    common += tuple(tiny_options)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    first = nlpmlp("train", "--out", whole, "--max-steps", "6", *common)
    half = nlpmlp(
        "train", "--out", parts, "--max-steps", "3", "--decay-steps", "6", *common
    )
    rest = nlpmlp("train", "--out", parts, "--resume", "--max-steps", "6")
    for result in (first, half, rest):
        assert result.returncode == 0, result.stderr

    expected = safetensors.torch.load_file(whole / "model.safetensors")
    resumed = safetensors.torch.load_file(parts / "model.safetensors")
    assert expected.keys() == resumed.keys()
    for name, tensor in expected.items():
        assert torch.equal(tensor, resumed[name]), name
    steps = [json.loads(line)["step"] for line in (parts / "metrics.jsonl").open()]
    assert steps == sorted(steps)


def test_existing_run_directory_rejected(nlpmlp, mlm_run, corpus_file) -> None:
    run_dir, _ = mlm_run
    line = _error_line(nlpmlp("train", "--data", corpus_file, "--out", run_dir))
    assert str(run_dir) in line
    assert "exists and is not empty" in line


def test_resume_needs_out(nlpmlp) -> None:
    assert "--resume needs --out" in _error_line(nlpmlp("train", "--resume"))


@pytest.fixture
def bad_inputs(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / f"{name}.txt" for name in ("empty", "binary", "latin1")}
    paths["empty"].write_bytes(b"")
    paths["binary"].write_bytes(b"PK\x03\x04\x00\x00")
    paths["latin1"].write_bytes("naïve text".encode("latin-1"))
    paths["small"] = tmp_path / "small.txt"
    paths["small"].write_text("Only a few words here.", encoding="utf-8")
    paths["missing"] = tmp_path / "missing.txt"
    return paths


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("missing", "file not found"),
        ("empty", "empty file"),
        ("binary", "binary file (NUL byte at byte offset 4)"),
        ("latin1", "not valid UTF-8 at byte offset 2"),
        ("small", "corpus too small"),
    ],
)
def test_bad_data_rejected(
    nlpmlp, bad_inputs, tiny_options, tmp_path: Path, name: str, problem: str
) -> None:
    path = bad_inputs[name]
    out = tmp_path / "run"
    line = _error_line(nlpmlp("train", "--data", path, "--out", out, *tiny_options))
    assert line.startswith("nlpmlp: error: ")
    assert str(path) in line
    assert problem in line


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("--max-steps", "-3", "max_steps must be >= 1"),
        ("--lr", "abc", "expected a number, got 'abc'"),
        ("--block-size", "1.5", "expected an integer, got '1.5'"),
        ("--dropout", "1.5", "dropout must be < 1.0"),
        ("--time-budget", "nan", "expected a finite number"),
        ("--threads", "100000", "threads must be <= 256"),
        ("--n-layer", "1000000000", "n_layer must be <= 256"),
        ("--seed", "99999999999999999999999", "seed must be <= 9223372036854775807"),
        ("--batch-size", "100000000000", "batch_size must be <= 65536"),
    ],
)
def test_invalid_number_rejected(nlpmlp, option: str, value: str, problem: str) -> None:
    line = _error_line(nlpmlp("train", option, value))
    assert f"argument {option}" in line
    assert problem in line


def test_model_too_large_rejected(nlpmlp, corpus_file, tmp_path) -> None:
    out = tmp_path / "run"
    options = ("--n-layer", "64", "--n-embd", "8192", "--ffn-mult", "4")
    line = _error_line(nlpmlp("train", "--data", corpus_file, "--out", out, *options))
    assert "the model would have about 5.15e+10 weights" in line
    assert not out.exists()


def test_out_under_a_file_rejected(nlpmlp, corpus_file, tiny_options) -> None:
    out = corpus_file / "run"
    result = nlpmlp("train", "--data", corpus_file, "--out", out, *tiny_options)
    line = _error_line(result)
    assert line.startswith(f"nlpmlp: error: {out}: cannot create the run directory")


def test_resume_of_finished_run_changes_nothing(nlpmlp, mlm_run) -> None:
    run_dir, _ = mlm_run
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    result = nlpmlp("train", "--resume", "--out", run_dir, "--max-steps", "6")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert "already at step 6 of max_steps 6" in last_line
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before
