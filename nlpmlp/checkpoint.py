"""Run directories: atomic writes, weights in safetensors, trainer state.

A run directory contains

- ``config.json``: the training settings and the model shape;
- ``tokenizer.json``: the trained tokenizer;
- ``model.safetensors``: the weights, each shared tensor stored once;
- ``trainer_state.pt``: optimizer state, global RNG state and step, written
  with ``torch.save`` and read back with ``torch.load(weights_only=True)``;
- ``metrics.jsonl``: one JSON object per logged step or evaluation.

Every file is written to a temporary file in the same folder, flushed,
fsynced and renamed over the old one with ``os.replace``, so a crash leaves
either the old file or the new one, never a mix. The weights and the trainer
state are two files; both record the step, and loading rejects a pair whose
steps differ.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from nlpmlp.errors import CheckpointError

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "STATE_FILE",
    "TOKENIZER_FILE",
    "MetricsLog",
    "atomic_write_bytes",
    "load_json",
    "load_trainer_state",
    "load_weights",
    "save_trainer_state",
    "save_weights",
    "write_json",
]

CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
MODEL_FILE = "model.safetensors"
STATE_FILE = "trainer_state.pt"
METRICS_FILE = "metrics.jsonl"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or new file.

    Writes a temporary file in the same folder (``os.replace`` is atomic only
    within one file system), flushes and fsyncs it, renames it over ``path``
    and fsyncs the folder so the rename itself survives a power loss.
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        # mkstemp creates the file readable by its owner only; give it the
        # permissions that open() would.
        os.chmod(temporary, 0o666 & ~_umask())
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def write_json(path: str | Path, value: Any) -> None:
    """Write ``value`` as indented JSON, atomically."""
    text = json.dumps(value, indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def load_json(path: str | Path) -> Any:
    """Read a JSON file of a run directory.

    Raises
    ------
    CheckpointError
        If the file is missing or not valid JSON.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise CheckpointError(f"{path}: file not found") from error
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path}: invalid JSON: {error}") from error


def save_weights(model: nn.Module, path: str | Path, step: int) -> None:
    """Write the model's weights to safetensors, each shared tensor once.

    safetensors rejects tensors that share memory. So of every group of
    names bound to one tensor (the tied token embedding and LM head), only
    the first name is written. The metadata maps every dropped name to the
    kept one, and ``load_weights`` binds them again.
    """
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    kept_by_tensor: dict[tuple[int, tuple[int, ...]], str] = {}
    for name, tensor in model.state_dict().items():
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if key in kept_by_tensor:
            aliases[name] = kept_by_tensor[key]
            continue
        kept_by_tensor[key] = name
        tensors[name] = tensor.detach().contiguous()
    metadata = {"step": str(step), "aliases": json.dumps(aliases)}
    atomic_write_bytes(path, safetensors.torch.save(tensors, metadata=metadata))


def load_weights(model: nn.Module, path: str | Path) -> int:
    """Load weights written by ``save_weights`` and return their step.

    The model must bind its shared tensors itself, as ``Encoder`` ties its LM
    head in its constructor. This function checks that every name left out
    of the file is such an alias.

    Raises
    ------
    CheckpointError
        If the file is missing or unreadable, or its names or shapes do not
        match the model.
    """
    try:
        with safetensors.safe_open(str(path), framework="pt") as file:
            metadata = file.metadata() or {}
            tensors = {name: file.get_tensor(name) for name in file.keys()}
    except FileNotFoundError as error:
        raise CheckpointError(f"{path}: weights file not found") from error
    except (OSError, safetensors.SafetensorError) as error:
        raise CheckpointError(f"{path}: unreadable weights file: {error}") from error

    aliases = json.loads(metadata.get("aliases", "{}"))
    try:
        result = model.load_state_dict(tensors, strict=False)
    except RuntimeError as error:
        raise CheckpointError(
            f"{path}: weights do not fit the model: {error}"
        ) from error
    missing = set(result.missing_keys) - set(aliases)
    if missing or result.unexpected_keys:
        raise CheckpointError(
            f"{path}: weights do not fit the model: missing {sorted(missing)}, "
            f"unexpected {sorted(result.unexpected_keys)}"
        )
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    return int(metadata.get("step", "0"))


def save_trainer_state(state: dict[str, Any], path: str | Path) -> None:
    """Write the trainer state (tensors, numbers, strings, dicts) atomically."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_trainer_state(path: str | Path) -> dict[str, Any]:
    """Read a trainer state with ``torch.load(weights_only=True)``.

    Raises
    ------
    CheckpointError
        If the file is missing or not a valid state file.
    """
    try:
        return torch.load(path, weights_only=True)
    except FileNotFoundError as error:
        raise CheckpointError(f"{path}: trainer state not found") from error
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path}: unreadable trainer state: {reason}") from error


class MetricsLog:
    """The records of ``metrics.jsonl``, rewritten atomically at each flush.

    Rewriting the whole file keeps every write atomic; the file has one line
    per logged step or evaluation, so it stays small.

    Parameters
    ----------
    path : path
        The JSON-lines file.
    keep_until_step : int or None
        When resuming, records after this step are dropped: they came from
        the part of an interrupted run that the checkpoint does not cover.
    """

    def __init__(self, path: str | Path, keep_until_step: int | None = None) -> None:
        self.path = Path(path)
        self.records: list[dict[str, Any]] = []
        if keep_until_step is not None and self.path.exists():
            lines = self.path.read_text(encoding="utf-8").splitlines()
            records = [json.loads(line) for line in lines if line.strip()]
            self.records = [r for r in records if r.get("step", 0) <= keep_until_step]

    def append(self, record: dict[str, Any]) -> None:
        """Add one record; it reaches the file at the next ``flush``."""
        self.records.append(record)

    def flush(self) -> None:
        """Rewrite the file with every record."""
        lines = "".join(
            json.dumps(record, sort_keys=True) + "\n" for record in self.records
        )
        atomic_write_bytes(self.path, lines.encode("utf-8"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # folders cannot be opened on some platforms (Windows)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
