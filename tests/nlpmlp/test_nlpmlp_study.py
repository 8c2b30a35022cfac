"""End-to-end tests of the case-study commands: ablate, neurons, neighbors, plot.

Each command runs on the tiny model of conftest, once as ``python -m nlpmlp``
in a subprocess and otherwise through ``nlpmlp.cli.main`` in this process,
which saves the start-up of a process per case. The references are computed
here from the saved weights with NumPy, SciPy and torch operations, not with
the code under test.
"""

from __future__ import annotations

import ast
import csv
import json
import logging
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import torch
import torch.nn.functional as F
from scipy.spatial.distance import cdist
from tokenizers import Tokenizer

from nlpmlp.analysis import token_text
from nlpmlp.cli import main
from nlpmlp.corpus import load_corpus
from nlpmlp.generate import load_run
from nlpmlp.tokenizer import train_tokenizer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VARIANTS = ("none", "gelu-1x", "geglu-2.67x")
SEEDS = ("0", "1")


def _error_line(result) -> str:
    """Return the one line of standard error of a rejected command."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def run_main(capsys: pytest.CaptureFixture):
    """Return a function that runs ``nlpmlp.cli.main`` here, as ``nlpmlp`` does."""

    def run(*args: str | Path) -> subprocess.CompletedProcess:
        argv = [str(argument) for argument in args]
        try:
            status = main(argv)
        except SystemExit as exit:  # argparse rejects options by exiting
            status = exit.code
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(argv, status, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def ablation(nlpmlp, corpus_file, tiny_options, tmp_path_factory):
    """Run a 3-variant, 2-seed ablation of the tiny model once."""
    out = tmp_path_factory.mktemp("ablation")
    arguments = (
        "ablate", "--quick", "--variants", ",".join(VARIANTS), "--seeds", *SEEDS,
        "--data", corpus_file, "--max-steps", "4", "--out", out, *tiny_options,
    )  # fmt: skip
    result = nlpmlp(*arguments)
    assert result.returncode == 0, result.stderr
    return out, result, arguments


def _csv_rows(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def test_ablate_runs_whole_grid(ablation) -> None:
    out, _, _ = ablation
    rows = _csv_rows(out)
    assert [(row["variant"], row["seed"]) for row in rows] == [
        (variant, seed) for variant in VARIANTS for seed in SEEDS
    ]
    for row in rows:
        config = json.loads((Path(row["run_dir"]) / "config.json").read_text())
        assert config["train"]["max_steps"] == 4
        assert row["steps"] == "4"
        assert config["train"]["seed"] == int(row["seed"])
        assert config["train"]["ffn_mult"] == float(row["ffn_mult"])
        assert config["train"]["ffn"] == row["ffn"]
        assert config["train"]["time_budget"] == 0.0


def test_ablate_quick_yields_to_given_options(ablation) -> None:
    out, _, _ = ablation
    run_dir = Path(_csv_rows(out)[0]["run_dir"])
    settings = json.loads((run_dir / "config.json").read_text())["train"]
    assert settings["objective"] == "causal"  # from --quick
    assert settings["n_embd"] == 16  # given, over the 64 of --quick
    assert settings["vocab_size"] == 300


def test_ablate_parameters_match_weights(ablation) -> None:
    out, _, _ = ablation
    for row in _csv_rows(out):
        tensors = safetensors.numpy.load_file(
            Path(row["run_dir"]) / "model.safetensors"
        )
        assert int(row["parameters"]) == sum(t.size for t in tensors.values())
    rows = {row["variant"]: row for row in _csv_rows(out)}
    # One block of width 16: a 1x feed-forward has two 16 x 16 matrices, two
    # biases of 16, and brings the block's second LayerNorm (gain and bias).
    extra = int(rows["gelu-1x"]["parameters"]) - int(rows["none"]["parameters"])
    assert extra == 2 * 16 * 16 + 2 * 16 + 2 * 16


def test_ablate_loss_matches_metrics(ablation) -> None:
    out, _, _ = ablation
    for row in _csv_rows(out):
        lines = (Path(row["run_dir"]) / "metrics.jsonl").read_text().splitlines()
        final = [json.loads(line) for line in lines if "val_loss" in line][-1]
        assert float(row["val_loss"]) == pytest.approx(final["val_loss"], rel=1e-12)
        assert float(row["perplexity"]) == pytest.approx(math.exp(final["val_loss"]))


def test_ablate_writes_markdown_and_plot(ablation) -> None:
    out, result, _ = ablation
    table = (out / "results.md").read_text()
    header = table.splitlines()[0]
    for column in ("parameters", "validation loss", "perplexity", "tokens/s", "wall"):
        assert column in header
    for variant in VARIANTS:
        assert f"| {variant} |" in table
    assert table in result.stdout
    png = (out / "ablation.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) > 10_000


def test_ablate_reuses_finished_runs(
    run_main, ablation, caplog: pytest.LogCaptureFixture
) -> None:
    out, _, arguments = ablation
    rows = _csv_rows(out)
    weights = Path(rows[0]["run_dir"]) / "model.safetensors"
    written = weights.stat().st_mtime_ns
    caplog.set_level(logging.INFO, logger="nlpmlp.ablate")
    again = run_main(*arguments)
    assert again.returncode == 0, again.stderr
    assert caplog.text.count("already trained, reusing its result") == 6
    assert weights.stat().st_mtime_ns == written
    assert _csv_rows(out) == rows


def _reference_hidden(run_dir: Path) -> torch.Tensor:
    """Return GELU(W1 x + b1) of block 0 at every position of the full windows."""
    run = load_run(run_dir)
    text = load_corpus(run.config.data, run.config.validation_fraction).train
    ids = torch.tensor(run.tokenizer.encode(text))
    size = run.model.config.block_size
    windows = ids[: ids.numel() // size * size].view(-1, size)
    ffn = run.model.blocks[0].ffn
    inputs = []
    hook = ffn.register_forward_hook(lambda module, x, y: inputs.append(x[0]))
    with torch.no_grad():
        run.model.hidden_states(windows)
    hook.remove()
    x = inputs[0].flatten(0, 1).double()  # (positions, n_embd)
    return F.gelu(x @ ffn.weight1.double().T + ffn.bias1.double())


def test_neurons_default_top_by_mean(run_main, mlm_run, tmp_path: Path) -> None:
    run_dir, _ = mlm_run
    path = tmp_path / "neurons.json"
    result = run_main("neurons", run_dir, "-k", "4", "--json", path)
    assert result.returncode == 0, result.stderr
    report = json.loads(path.read_text())
    hidden = _reference_hidden(run_dir)
    expected = hidden.mean(dim=0).topk(3).indices.tolist()
    assert [n["neuron"] for n in report["neurons"]] == expected
    assert report["scanned_positions"] == hidden.shape[0]
    for neuron in report["neurons"]:
        mean = hidden[:, neuron["neuron"]].mean().item()
        assert neuron["mean_activation"] == pytest.approx(mean, rel=1e-5, abs=1e-7)
        assert f"layer 0 neuron {neuron['neuron']}:" in result.stdout


def test_neurons_keys_are_top_activations(nlpmlp, mlm_run, tmp_path) -> None:
    run_dir, _ = mlm_run
    path = tmp_path / "neurons.json"
    result = nlpmlp(
        "neurons", run_dir, "--layer", "0", "--neuron", "2", "--neuron", "5",
        "-k", "3", "--json", path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    neurons = json.loads(path.read_text())["neurons"]
    assert [(n["layer"], n["neuron"]) for n in neurons] == [(0, 2), (0, 5)]
    hidden = _reference_hidden(run_dir)
    for neuron in neurons:
        column = hidden[:, neuron["neuron"]]
        activations = [key["activation"] for key in neuron["keys"]]
        expected = column.topk(3).values.tolist()
        np.testing.assert_allclose(activations, expected, rtol=1e-5, atol=1e-6)
        for key in neuron["keys"]:
            assert column[key["position"]].item() == pytest.approx(
                key["activation"], rel=1e-5, abs=1e-6
            )
            assert f"[[{key['token']}]]" in key["text"]


def test_neurons_values_are_embedding_logits(run_main, mlm_run, tmp_path) -> None:
    run_dir, _ = mlm_run
    path = tmp_path / "neurons.json"
    arguments = ("--neuron", "7", "-k", "4", "--json", path)
    result = run_main("neurons", run_dir, *arguments)
    assert result.returncode == 0, result.stderr
    values = json.loads(path.read_text())["neurons"][0]["values"]

    weights = safetensors.numpy.load_file(run_dir / "model.safetensors")
    logits = weights["tok_emb.weight"] @ weights["blocks.0.ffn.weight2"][:, 7]
    logits[:2] = -np.inf  # [PAD] and [MASK] of the byte-level BPE
    top = np.argsort(-logits, kind="stable")[:4]
    tokenizer = Tokenizer.from_file(str(run_dir / "tokenizer.json"))
    expected = [tokenizer.decode([int(i)], skip_special_tokens=False) for i in top]
    assert len(values) == 4
    for value, decoded in zip(values, expected, strict=True):
        assert _same_token(value["token"], decoded), (value["token"], decoded)
    np.testing.assert_allclose([v["logit"] for v in values], logits[top], rtol=1e-5)


def _vocabulary(run_dir: Path) -> tuple[list[str], np.ndarray]:
    """Return the text tokens (ids 2 and up) and their embedding rows."""
    tokenizer = Tokenizer.from_file(str(run_dir / "tokenizer.json"))
    size = tokenizer.get_vocab_size()
    texts = [tokenizer.decode([i], skip_special_tokens=False) for i in range(size)]
    weights = safetensors.numpy.load_file(run_dir / "model.safetensors")
    return texts[2:], weights["tok_emb.weight"][2:].astype(np.float64)


def _shown_bytes(shown: str) -> bytes:
    """Return the bytes of a token as ``token_text`` shows it."""
    parts = re.split(r"(\\x[0-9a-f]{2})", shown)
    return b"".join(
        bytes([int(part[2:], 16)]) if part.startswith("\\x") else part.encode()
        for part in parts
    )


def _same_token(printed: str, decoded: str) -> bool:
    """Compare a printed token with ``tokenizers``' decoding of it.

    Decoded alone, a token with part of a UTF-8 character contains U+FFFD,
    where the command prints the bytes as \\xNN.
    """
    if "\ufffd" in decoded:
        shown = _shown_bytes(printed)
        return "\\x" in printed and shown.decode("utf-8", "replace") == decoded
    return printed == decoded


def _printed_neighbors(stdout: str) -> list[tuple[float, str]]:
    rows = []
    for line in stdout.splitlines()[1:]:
        _, distance, token = line.split(maxsplit=2)
        rows.append((float(distance), ast.literal_eval(token)))
    return rows


def test_neighbors_match_numpy_cosine(nlpmlp, mlm_run) -> None:
    run_dir, _ = mlm_run
    texts, embeddings = _vocabulary(run_dir)
    query = max(range(len(texts)), key=lambda i: (len(texts[i].strip()), -i))
    result = nlpmlp("neighbors", run_dir, texts[query], "-k", "6")
    assert result.returncode == 0, result.stderr

    norms = np.linalg.norm(embeddings, axis=1)
    similarity = embeddings @ embeddings[query] / (norms * norms[query])
    distance = 1.0 - similarity
    distance[query] = np.inf
    order = np.argsort(distance, kind="stable")[:6]
    printed = _printed_neighbors(result.stdout)
    assert len(printed) == 6
    for (_, token), index in zip(printed, order, strict=True):
        assert _same_token(token, texts[index]), (token, texts[index])
    np.testing.assert_allclose([d for d, _ in printed], distance[order], atol=2e-6)


@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "correlation"])
def test_neighbors_match_scipy(run_main, mlm_run, metric: str) -> None:
    run_dir, _ = mlm_run
    texts, embeddings = _vocabulary(run_dir)
    query = texts.index(" the")
    result = run_main("neighbors", run_dir, texts[query], "--metric", metric, "-k", "4")
    assert result.returncode == 0, result.stderr

    distance = cdist(embeddings[query : query + 1], embeddings, metric)[0]
    distance[query] = np.inf
    order = np.argsort(distance, kind="stable")[:4]
    printed = _printed_neighbors(result.stdout)
    assert len(printed) == 4
    for (_, token), index in zip(printed, order, strict=True):
        assert _same_token(token, texts[index]), (token, texts[index])
    np.testing.assert_allclose([d for d, _ in printed], distance[order], rtol=1e-5)


def test_token_text_shows_partial_bytes() -> None:
    text = "naïve café – “quoted” 😀 Ünïcödé 温度 end\n" * 3
    tokenizer = train_tokenizer(text, "bpe", 262)
    ids = tokenizer.encode(text)
    shown = [token_text(tokenizer, token_id) for token_id in ids]
    assert b"".join(map(_shown_bytes, shown)) == text.encode("utf-8")
    assert any("\\x" in token for token in shown)
    assert not any("\ufffd" in token for token in shown)
    for token_id, token in zip(ids, shown, strict=True):
        if "\\x" not in token:
            assert token == tokenizer.token(token_id)


def test_plot_writes_png(nlpmlp, mlm_run, causal_run, tmp_path: Path) -> None:
    path = tmp_path / "figures" / "curves.png"
    result = nlpmlp("plot", mlm_run[0], causal_run[0], "--out", path)
    assert result.returncode == 0, result.stderr
    assert str(path) in result.stdout
    png = path.read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) > 10_000


def test_plot_default_inside_run(run_main, ablation) -> None:
    out, _, _ = ablation
    run_dir = Path(_csv_rows(out)[0]["run_dir"])
    result = run_main("plot", run_dir)
    assert result.returncode == 0, result.stderr
    assert (run_dir / "training.png").read_bytes().startswith(PNG_SIGNATURE)


@pytest.fixture
def bad_runs(ablation, tmp_path: Path) -> dict[str, Path]:
    out, _, _ = ablation
    (tmp_path / "untrained").mkdir()
    (tmp_path / "file.txt").write_text("not a folder")
    return {
        "tiny": out / "runs" / "gelu-1x-seed0",
        "no_ffn": out / "runs" / "none-seed0",
        "missing": tmp_path / "missing",
        "untrained": tmp_path / "untrained",
        "file": tmp_path / "file.txt",
        "out": tmp_path / "out",  # so an ablation that starts stays in tmp_path
    }


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (("neurons", "{missing}"), "run directory not found"),
        (("neurons", "{tiny}", "--layer", "1"), "--layer 1 is out of range"),
        (("neurons", "{tiny}", "--neuron", "16"), "numbered 0 to 15"),
        (("neurons", "{tiny}", "-k", "2.5"), "expected an integer, got '2.5'"),
        (("neurons", "{no_ffn}"), "has no feed-forward layers"),
        (("neighbors", "{tiny}", "zzqx"), "'zzqx' is not in the vocabulary"),
        (("neighbors", "{tiny}", "cat", "--metric", "chebyshev"), "invalid choice"),
        (("neighbors", "{tiny}", "cat", "-k", "0"), "must be >= 1, got '0'"),
        (("plot", "{missing}"), "run directory not found"),
        (("plot", "{untrained}"), "metrics file not found"),
        (("plot", "{tiny}", "--out", "{untrained}/x.jpg"), "must end in .png"),
        (
            ("ablate", "--variants", "gelu-3x", "--out", "{out}"),
            "unknown variant 'gelu-3x'",
        ),
        (("ablate", "--seeds", "-1", "--out", "{out}"), "must be >= 0, got '-1'"),
        (
            ("ablate", "--activation", "relu", "--out", "{out}"),
            "unrecognized arguments: --activation",
        ),
        (
            ("ablate", "--ffn-mult", "2", "--out", "{out}"),
            "unrecognized arguments: --ffn-mult",
        ),
        (
            ("ablate", "--max-steps", "x", "--out", "{out}"),
            "expected an integer, got 'x'",
        ),
        (("ablate", "--out", "{file}"), "exists and is not a folder"),
    ],
)
def test_bad_input_rejected(run_main, bad_runs, arguments: tuple, problem: str) -> None:
    argv = [argument.format(**bad_runs) for argument in arguments]
    line = _error_line(run_main(*argv))
    assert line.startswith("nlpmlp")
    assert problem in line


def test_unknown_token_suggests_close_ones(nlpmlp, bad_runs) -> None:
    line = _error_line(nlpmlp("neighbors", bad_runs["tiny"], "cta"))
    assert line.startswith("nlpmlp: error: token 'cta' is not in the vocabulary")
    assert "close tokens: 'cat'" in line
