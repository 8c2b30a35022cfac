"""Tests of nlpmlp.checkpoint: atomic writes, tied weights, trainer state."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import safetensors.torch
import torch

from nlpmlp import checkpoint
from nlpmlp.errors import CheckpointError
from nlpmlp.model import Encoder, ModelConfig


def _model(seed: int = 0, **overrides) -> Encoder:
    torch.manual_seed(seed)
    settings = dict(vocab_size=50, block_size=8, n_layer=1, n_head=2, n_embd=8)
    return Encoder(ModelConfig(**{**settings, **overrides}))


def test_atomic_write_replaces_content(tmp_path: Path) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(b"old")
    checkpoint.atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_atomic_write_syncs_before_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(
        os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd)
    )
    monkeypatch.setattr(
        os, "replace", lambda a, b: events.append("replace") or real_replace(a, b)
    )
    checkpoint.atomic_write_bytes(tmp_path / "file.bin", b"data")
    assert events[:2] == ["fsync", "replace"]


def test_failed_write_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(b"old")

    def fail(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_written_file_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    checkpoint.write_json(path, {"a": 1})
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_tied_weight_saved_once(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    checkpoint.save_weights(_model(), path, step=7)
    names = set(safetensors.torch.load_file(path))
    assert "tok_emb.weight" in names
    assert "lm_head.weight" not in names


def test_tied_weights_after_load(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    saved = _model(seed=0)
    checkpoint.save_weights(saved, path, step=7)
    loaded = _model(seed=1)

    step = checkpoint.load_weights(loaded, path)

    assert step == 7
    assert loaded.lm_head.weight is loaded.tok_emb.weight
    for name, tensor in saved.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    with torch.no_grad():
        loaded.tok_emb.weight[0, 0] = 42.0
    assert loaded.lm_head.weight[0, 0] == 42.0


def test_weights_of_other_shape_rejected(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    checkpoint.save_weights(_model(), path, step=1)
    with pytest.raises(CheckpointError, match="do not fit the model"):
        checkpoint.load_weights(_model(n_embd=16), path)


def test_missing_weights_rejected(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="weights file not found"):
        checkpoint.load_weights(_model(), tmp_path / "model.safetensors")


def test_trainer_state_round_trip(tmp_path: Path) -> None:
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.zeros(1, 4, dtype=torch.long)).logits.sum().backward()
    optimizer.step()
    state = {
        "step": 3,
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
    }
    path = tmp_path / "trainer_state.pt"

    checkpoint.save_trainer_state(state, path)
    loaded = checkpoint.load_trainer_state(path)

    assert loaded["step"] == 3
    assert torch.equal(loaded["rng"], state["rng"])
    first = loaded["optimizer"]["state"][0]["exp_avg"]
    assert torch.equal(first, state["optimizer"]["state"][0]["exp_avg"])


def test_corrupt_trainer_state_rejected(tmp_path: Path) -> None:
    path = tmp_path / "trainer_state.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="unreadable trainer state"):
        checkpoint.load_trainer_state(path)


def test_metrics_after_resumed_step_dropped(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    log = checkpoint.MetricsLog(path)
    for step in (1, 2, 3, 4):
        log.append({"step": step, "train_loss": 1.0 / step})
    log.flush()

    resumed = checkpoint.MetricsLog(path, keep_until_step=2)

    assert [record["step"] for record in resumed.records] == [1, 2]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]
