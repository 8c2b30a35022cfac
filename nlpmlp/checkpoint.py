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
state of one step are a pair: the weights' metadata records the step and the
SHA-256 of the state file, so loading detects a corrupted state or one from
another step. ``save_checkpoint`` renames the weights first and the state
last. A kill between the two renames leaves the new state complete in its
temporary file, and ``load_checkpoint`` finishes that rename, so a kill at
any moment leaves a loadable checkpoint. The weights also record the SHA-256
of their tensors and the model's configuration, so a corrupted or foreign
weights file is rejected with the reason.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from nlpmlp.errors import CheckpointError, ConfigError

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "STATE_FILE",
    "TOKENIZER_FILE",
    "MetricsLog",
    "atomic_write_bytes",
    "file_sha256",
    "load_checkpoint",
    "load_json",
    "load_trainer_state",
    "load_weights",
    "make_folder",
    "save_checkpoint",
    "save_trainer_state",
    "save_weights",
    "tokenizer_size_error",
    "write_json",
]

logger = logging.getLogger(__name__)

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
    temporary = _write_temporary(path, data)
    _rename(temporary, path)


def make_folder(path: Path, name: str) -> None:
    """Create the folder ``path`` and its parents, raising ``ConfigError`` on failure.

    ``name`` says what the folder is for in the message, such as "run directory".
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"{path}: cannot create the {name}: {error.strerror or error}"
        ) from error


def tokenizer_size_error(
    run_dir: Path, n_tokens: int, vocab_size: int
) -> CheckpointError:
    """Return the error of a tokenizer that does not fit the run's model."""
    return CheckpointError(
        f"{run_dir / TOKENIZER_FILE}: the tokenizer has {n_tokens} tokens, but the "
        f"run's model has vocab_size {vocab_size}; restore the run's tokenizer.json"
    )


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
    atomic_write_bytes(path, _weights_bytes(model, step, {}))


def load_weights(model: nn.Module, path: str | Path) -> int:
    """Load weights written by ``save_weights`` and return their step.

    The model must bind its shared tensors itself, as ``Encoder`` ties its LM
    head in its constructor. This function checks that every name left out
    of the file is such an alias.

    Raises
    ------
    CheckpointError
        If the file is missing, unreadable or corrupted, or it contains the
        weights of a model with other settings, names or shapes.
    """
    return int(_load_weights(model, Path(path))["step"])


def _load_weights(model: nn.Module, path: Path) -> dict[str, str]:
    tensors, metadata = _read_weights(path)
    recorded = metadata.get("tensors_sha256")
    if recorded is not None and _tensors_sha256(tensors) != recorded:
        raise CheckpointError(
            f"{path}: corrupted weights file: the SHA-256 of its tensors differs "
            "from the one recorded when it was written"
        )
    _check_model_settings(path, metadata, model)
    aliases = _json_metadata(path, metadata, "aliases", "{}")
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
    return metadata


def _weights_bytes(model: nn.Module, step: int, extra: dict[str, str]) -> bytes:
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    kept_by_tensor: dict[tuple[int, tuple[int, ...]], str] = {}
    for name, tensor in model.state_dict().items():
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if key in kept_by_tensor:
            aliases[name] = kept_by_tensor[key]
            continue
        kept_by_tensor[key] = name
        tensors[name] = tensor.detach().cpu().contiguous()
    metadata = {
        "step": str(step),
        "aliases": json.dumps(aliases),
        "tensors_sha256": _tensors_sha256(tensors),
        **extra,
    }
    settings = _model_settings(model)
    if settings is not None:
        metadata["model"] = json.dumps(settings, sort_keys=True)
    return safetensors.torch.save(tensors, metadata=metadata)


def _read_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        with safetensors.safe_open(str(path), framework="pt") as file:
            metadata = file.metadata() or {}
            tensors = {name: file.get_tensor(name) for name in file.keys()}
    except FileNotFoundError as error:
        raise CheckpointError(f"{path}: weights file not found") from error
    except (OSError, safetensors.SafetensorError) as error:
        raise CheckpointError(f"{path}: unreadable weights file: {error}") from error
    step = metadata.get("step", "0")
    if not step.isdigit():
        raise CheckpointError(f"{path}: corrupted metadata: step {step!r}")
    return tensors, {**metadata, "step": step}


def _tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name]
        digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}\n".encode())
        raw = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
        digest.update(raw.numpy().tobytes())
    return digest.hexdigest()


def _model_settings(model: nn.Module) -> dict[str, Any] | None:
    config = getattr(model, "config", None)
    return config.to_dict() if hasattr(config, "to_dict") else None


def _check_model_settings(
    path: Path, metadata: dict[str, str], model: nn.Module
) -> None:
    """Raise ``CheckpointError`` naming the first setting that differs."""
    saved = _json_metadata(path, metadata, "model", "null")
    current = _model_settings(model)
    if saved is None or current is None:
        return  # files of older versions, or a model without settings
    for name in sorted(set(saved) | set(current)):
        if saved.get(name) != current.get(name):
            raise CheckpointError(
                f"{path}: weights do not fit the model: they are of a model with "
                f"{name}={saved.get(name)!r}, but this model has "
                f"{name}={current.get(name)!r}"
            )


def _json_metadata(path: Path, metadata: dict[str, str], key: str, default: str) -> Any:
    try:
        return json.loads(metadata.get(key, default))
    except ValueError as error:
        raise CheckpointError(f"{path}: corrupted metadata {key!r}: {error}") from error


def save_trainer_state(state: dict[str, Any], path: str | Path) -> None:
    """Write the trainer state (tensors, numbers, strings, dicts) atomically."""
    atomic_write_bytes(path, _state_bytes(state))


def load_trainer_state(path: str | Path) -> dict[str, Any]:
    """Read a trainer state with ``torch.load(weights_only=True)``.

    ``weights_only=True`` rebuilds only tensors and plain Python data, so a
    file crafted to run code when unpickled is rejected, not run.

    Raises
    ------
    CheckpointError
        If the file is missing, not a valid state file, or refers to other
        Python objects.
    """
    return _parse_state(_read_state_bytes(Path(path)), Path(path))


def save_checkpoint(
    run_dir: str | Path, model: nn.Module, state: dict[str, Any]
) -> None:
    """Write the weights and the trainer state of step ``state["step"]`` as a pair.

    Both files are written to fsynced temporary files first. Then the
    weights are renamed into place, and the state last, so the state names
    the step of a complete checkpoint. Temporary files left by earlier kills
    are removed last: until the new pair is complete, one of them may be the
    state that pairs with the current weights.
    """
    run_dir = Path(run_dir)
    state_data = _state_bytes(state)
    state_sha256 = {"trainer_state_sha256": _sha256(state_data)}
    weights_data = _weights_bytes(model, state["step"], state_sha256)
    weights_temporary = _write_temporary(run_dir / MODEL_FILE, weights_data)
    try:
        state_temporary = _write_temporary(run_dir / STATE_FILE, state_data)
    except BaseException:
        weights_temporary.unlink(missing_ok=True)
        raise
    try:
        _rename(weights_temporary, run_dir / MODEL_FILE)
    except BaseException:
        state_temporary.unlink(missing_ok=True)
        raise
    # From here on the new state must survive a failure: it pairs with the
    # weights just renamed, and load_checkpoint finishes its rename.
    os.replace(state_temporary, run_dir / STATE_FILE)
    _fsync_folder(run_dir)
    _remove_temporaries(run_dir)


def load_checkpoint(
    run_dir: str | Path, model: nn.Module, repair: bool = True
) -> dict[str, Any]:
    """Load the weights into ``model`` and return the trainer state of their step.

    If a kill stopped ``save_checkpoint`` between its two renames, the state
    that pairs with the weights is still in its temporary file. It is
    loaded from there, and with ``repair`` renamed into place.

    Raises
    ------
    CheckpointError
        If there is no checkpoint, or a file is missing, unreadable or
        corrupted, or the two files are not a pair.
    """
    run_dir = Path(run_dir)
    model_path, state_path = run_dir / MODEL_FILE, run_dir / STATE_FILE
    if not model_path.exists() and not state_path.exists():
        raise CheckpointError(
            f"{run_dir}: no checkpoint found ({MODEL_FILE} and {STATE_FILE} are "
            "missing): the run stopped before its first one; start a new run"
        )
    metadata = _load_weights(model, model_path)
    data = _read_state_bytes(state_path)
    recorded = metadata.get("trainer_state_sha256")
    if recorded is not None and _sha256(data) != recorded:
        data = _recover_state(run_dir, recorded, repair) or data
    state = _parse_state(data, state_path)
    step = int(metadata["step"])
    if state.get("step") != step:
        raise CheckpointError(
            f"{state_path}: trainer state of step {state.get('step')} does not "
            f"match the weights of step {step} in {model_path}"
        )
    if recorded is not None and _sha256(data) != recorded:
        raise CheckpointError(
            f"{state_path}: corrupted trainer state: its SHA-256 differs from the "
            f"one that {MODEL_FILE} recorded when both were written"
        )
    return state


def file_sha256(path: str | Path) -> str:
    """Return the SHA-256 of a file's bytes, in hexadecimal."""
    return _sha256(Path(path).read_bytes())


def _recover_state(run_dir: Path, recorded: str, repair: bool) -> bytes | None:
    for temporary in sorted(run_dir.glob(f".{STATE_FILE}.*")):
        data = temporary.read_bytes()
        if _sha256(data) != recorded:
            continue
        logger.warning(
            "%s: the last checkpoint write stopped between its two renames; "
            "taking the trainer state from %s",
            run_dir,
            temporary.name,
        )
        if repair:
            os.replace(temporary, run_dir / STATE_FILE)
            _fsync_folder(run_dir)
        return data
    return None


def _state_bytes(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _read_state_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as error:
        raise CheckpointError(f"{path}: trainer state not found") from error
    except OSError as error:
        raise CheckpointError(f"{path}: unreadable trainer state: {error}") from error


def _parse_state(data: bytes, path: Path) -> dict[str, Any]:
    try:
        state = torch.load(io.BytesIO(data), weights_only=True)
    except pickle.UnpicklingError as error:
        # torch 2.13 names a rejected Python object as "GLOBAL module.name";
        # other unpickling errors are bytes that torch.save did not write.
        rejected = re.search(r"GLOBAL ([\w.]+)", str(error))
        if rejected is None:
            raise CheckpointError(
                f"{path}: unreadable trainer state: not a file written by torch.save"
            ) from error
        raise CheckpointError(
            f"{path}: trainer state rejected: it refers to the Python object "
            f"{rejected.group(1)}, and loading objects other than tensors and "
            "plain data could run code"
        ) from error
    except (OSError, RuntimeError, EOFError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path}: unreadable trainer state: {reason}") from error
    if not isinstance(state, dict):
        kind = type(state).__name__
        raise CheckpointError(f"{path}: invalid trainer state: a {kind}, not a dict")
    return state


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
            try:
                records = [json.loads(line) for line in lines if line.strip()]
            except ValueError as error:
                raise CheckpointError(
                    f"{self.path}: corrupted metrics record: {error}; delete or "
                    "repair the file to resume"
                ) from error
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


def _write_temporary(path: Path, data: bytes) -> Path:
    """Write ``data`` to a new fsynced file beside ``path`` and return its path."""
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    temporary = Path(name)
    try:
        # mkstemp creates the file readable by its owner only; give it the
        # permissions that open() would.
        os.chmod(temporary, 0o666 & ~_umask())
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _rename(temporary: Path, path: Path) -> None:
    """Rename ``temporary`` over ``path``, or remove it if that fails."""
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _remove_temporaries(run_dir: Path) -> None:
    for name in (MODEL_FILE, STATE_FILE, METRICS_FILE, CONFIG_FILE):
        for temporary in run_dir.glob(f".{name}.*"):
            temporary.unlink(missing_ok=True)


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
