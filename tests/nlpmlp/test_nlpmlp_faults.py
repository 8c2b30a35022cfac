"""Tests of faults in training: kills, corrupted files, NaN, Ctrl-C, mismatches."""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import safetensors
import safetensors.torch
import torch

from nlpmlp import checkpoint
from nlpmlp.cli import main
from nlpmlp.model import Encoder, ModelConfig

# Runs of this file checkpoint after every step and never evaluate before the
# end, so that kills find a checkpoint write in progress often.
FAULT_OPTIONS = ["--log-interval", "1", "--eval-interval", "0", "--warmup-steps", "2"]


def _main(*args: str | Path) -> int:
    """Run the command line in this process, keeping torch's thread count."""
    threads = torch.get_num_threads()
    try:
        return main([str(arg) for arg in args])
    finally:
        torch.set_num_threads(threads)


def _error_line(capsys: pytest.CaptureFixture) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("nlpmlp: error: ")]
    assert len(errors) == 1, lines
    return errors[0]


def _load(run_dir: Path, repair: bool = False) -> tuple[Encoder, dict]:
    """Load a run's checkpoint into a new model; return the model and state."""
    saved = json.loads((run_dir / checkpoint.CONFIG_FILE).read_text())
    model = Encoder(ModelConfig(**saved["model"]))
    return model, checkpoint.load_checkpoint(run_dir, model, repair=repair)


def _weights_step(run_dir: Path) -> int:
    try:
        with safetensors.safe_open(run_dir / checkpoint.MODEL_FILE, "pt") as file:
            return int(file.metadata()["step"])
    except (OSError, safetensors.SafetensorError):
        return -1


def _train_losses(run_dir: Path) -> list[tuple[int, float]]:
    lines = (run_dir / checkpoint.METRICS_FILE).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return [(r["step"], r["train_loss"]) for r in records if "train_loss" in r]


@pytest.fixture(scope="module")
def options(corpus_file: Path, tiny_options: list[str]) -> list[str]:
    """Return the training options of the runs of this file."""
    return [*tiny_options, *FAULT_OPTIONS, "--data", str(corpus_file)]


@pytest.fixture(scope="module")
def trained_run(options: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train a tiny masked LM for 4 steps, in this process."""
    run_dir = tmp_path_factory.mktemp("faults") / "run"
    assert _main("train", *options, "--out", run_dir, "--max-steps", "4") == 0
    return run_dir


@pytest.fixture
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    """Return a copy of the trained run that a test may damage."""
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


# Kills -------------------------------------------------------------------


def _start_training(*args: str | Path) -> subprocess.Popen:
    environment = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "nlpmlp", "train", *map(str, args)]
    return subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "training did not start in 120 s"
        time.sleep(0.02)


def test_sigkill_at_random_times_resumes(options: list[str], tmp_path: Path) -> None:
    run_dir = tmp_path / "killed"
    # decay_steps is fixed so that the final --max-steps does not change the
    # schedule; the killed processes would train far longer.
    killed_options = [*options, "--checkpoint-interval", "1", "--decay-steps", "400"]
    rng = random.Random(0)
    steps = [0]
    for attempt in range(3):
        if attempt == 0:
            args = [*killed_options, "--max-steps", "400", "--out", run_dir]
        else:
            args = ["--resume", "--out", run_dir]
        process = _start_training(*args)
        _wait_for(lambda: _weights_step(run_dir) > steps[-1], process)
        time.sleep(rng.uniform(0.0, 0.3))
        process.kill()
        process.communicate()
        assert process.returncode == -signal.SIGKILL

        _, state = _load(run_dir)  # must not raise
        assert state["step"] > steps[-1]
        steps.append(state["step"])

    final = steps[-1] + 3
    resumed = _main("train", "--resume", "--out", run_dir, "--max-steps", final)
    assert resumed == 0
    reference_dir = tmp_path / "reference"
    arguments = [*killed_options, "--max-steps", final, "--out", reference_dir]
    assert _main("train", *arguments) == 0

    weights = safetensors.torch.load_file(run_dir / checkpoint.MODEL_FILE)
    reference = safetensors.torch.load_file(reference_dir / checkpoint.MODEL_FILE)
    assert weights.keys() == reference.keys()
    for name, tensor in reference.items():
        assert torch.equal(weights[name], tensor), name
    assert _train_losses(run_dir) == _train_losses(reference_dir)


def _model_and_state(step: int) -> tuple[Encoder, dict]:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=500, block_size=32, n_layer=2, n_head=2, n_embd=32)
    # An optimizer-sized tensor makes the state file take as long as the weights.
    return Encoder(config), {"step": step, "moments": torch.randn(100_000)}


def _fork(work: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        try:
            work()
        finally:
            os._exit(0)
    return pid


def test_sigkill_during_writes_keeps_checkpoint(tmp_path: Path) -> None:
    model, state = _model_and_state(step=0)
    checkpoint.save_checkpoint(tmp_path, model, state)
    rng = random.Random(0)
    last_step, kills_mid_write = 0, 0
    for _ in range(15):

        def write_forever(first: int = last_step + 1) -> None:
            for step in range(first, first + 100_000):
                checkpoint.save_checkpoint(tmp_path, model, {**state, "step": step})

        pid = _fork(write_forever)
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        kills_mid_write += any(tmp_path.glob(".*"))

        loaded_model, _ = _model_and_state(step=0)
        with torch.no_grad():
            for parameter in loaded_model.parameters():
                parameter.zero_()
        loaded = checkpoint.load_checkpoint(tmp_path, loaded_model, repair=False)
        assert loaded["step"] >= last_step
        assert torch.equal(loaded["moments"], state["moments"])
        assert torch.equal(loaded_model.tok_emb.weight, model.tok_emb.weight)
        last_step = loaded["step"]
    assert kills_mid_write > 0, "no kill landed inside a checkpoint write"


def test_sigkill_between_renames_recovered(tmp_path: Path) -> None:
    model, state = _model_and_state(step=1)
    checkpoint.save_checkpoint(tmp_path, model, state)

    def die_before_state_rename() -> None:
        real_replace = os.replace

        def replace(source: str | Path, target: str | Path) -> None:
            if Path(target).name == checkpoint.STATE_FILE:
                os.kill(os.getpid(), signal.SIGKILL)
            real_replace(source, target)

        os.replace = replace
        checkpoint.save_checkpoint(tmp_path, model, {**state, "step": 2})

    _, status = os.waitpid(_fork(die_before_state_rename), 0)
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGKILL
    assert _weights_step(tmp_path) == 2
    assert checkpoint.load_trainer_state(tmp_path / checkpoint.STATE_FILE)["step"] == 1

    loaded = checkpoint.load_checkpoint(tmp_path, model)

    assert loaded["step"] == 2
    assert checkpoint.load_trainer_state(tmp_path / checkpoint.STATE_FILE)["step"] == 2
    assert list(tmp_path.glob(".*")) == []


# Damaged files -----------------------------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_byte(offset_fraction: float) -> Callable[[Path], None]:
    def flip(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[int(len(data) * offset_fraction)] ^= 0xFF
        path.write_bytes(bytes(data))

    return flip


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("model.safetensors", _truncate, "model.safetensors: unreadable weights file"),
        ("model.safetensors", _flip_byte(0.9), "model.safetensors: corrupted weights"),
        ("model.safetensors", Path.unlink, "model.safetensors: weights file not found"),
        ("trainer_state.pt", _truncate, "trainer_state.pt: unreadable trainer state"),
        ("trainer_state.pt", _flip_byte(0.5), "trainer_state.pt: corrupted trainer"),
        ("trainer_state.pt", Path.unlink, "trainer_state.pt: trainer state not found"),
    ],
)
def test_damaged_file_named_on_resume(
    run_copy: Path,
    capsys: pytest.CaptureFixture,
    name: str,
    damage: Callable[[Path], None],
    message: str,
) -> None:
    damage(run_copy / name)
    assert _main("train", "--resume", "--out", run_copy, "--max-steps", "6") == 2
    assert message in _error_line(capsys)


def test_no_checkpoint_named(run_copy: Path, capsys: pytest.CaptureFixture) -> None:
    (run_copy / checkpoint.MODEL_FILE).unlink()
    (run_copy / checkpoint.STATE_FILE).unlink()
    assert _main("train", "--resume", "--out", run_copy) == 2
    assert "no checkpoint found" in _error_line(capsys)


class _CreatesFile:
    """Unpickles into a call of open(path, "w"), which creates the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (open, (str(self.path), "w"))


def _torch_save(value: dict, path: Path) -> None:
    torch.save(value, path)


def _pickle_protocol(protocol: int) -> Callable[[dict, Path], None]:
    def dump(value: dict, path: Path) -> None:
        path.write_bytes(pickle.dumps(value, protocol=protocol))

    return dump


# torch.load reads a bare pickle of protocol 2, its legacy format, up to the
# first object it rejects. It stops at the first opcode of protocol 4.
@pytest.mark.parametrize(
    ("write", "message"),
    [
        (_torch_save, "trainer state rejected: it refers to the Python object io.open"),
        (_pickle_protocol(2), "trainer state rejected: it refers to the Python object"),
        (_pickle_protocol(4), "unreadable trainer state: not a file written by torch"),
    ],
)
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_malicious_trainer_state_not_run(
    run_copy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    write: Callable[[dict, Path], None],
    message: str,
) -> None:
    marker = tmp_path / "created-by-unpickling"
    state_path = run_copy / checkpoint.STATE_FILE
    write({"format": 1, "step": 4, "payload": _CreatesFile(marker)}, state_path)

    status = _main("train", "--resume", "--out", run_copy, "--max-steps", "6")

    assert status == 2
    assert not marker.exists()
    assert f"{state_path}: {message}" in _error_line(capsys)
    with pytest.raises(checkpoint.CheckpointError, match=str(state_path)):
        checkpoint.load_trainer_state(state_path)
    assert not marker.exists()


# Settings that differ from the run's ---------------------------------------


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--n-embd", "32"], "--n-embd 32 differs from the run's 16"),
        (["--tokenizer", "char"], "--tokenizer 'char' differs from the run's 'bpe'"),
        (["--vocab-size", "400"], "--vocab-size 400 differs from the run's 300"),
        (["--objective", "causal"], "--objective 'causal' differs from the run's"),
        (["--ffn", "reference"], "--ffn 'reference' differs from the run's"),
    ],
)
def test_resume_with_other_setting_named(
    trained_run: Path, capsys: pytest.CaptureFixture, option: list[str], message: str
) -> None:
    assert _main("train", "--resume", "--out", trained_run, *option) == 2
    assert message in _error_line(capsys)


def _edit_json(path: Path, edit: Callable[[dict], None]) -> None:
    value = json.loads(path.read_text())
    edit(value)
    path.write_text(json.dumps(value))


def _swap_two_tokens(run_dir: Path) -> None:
    def swap(tokenizer: dict) -> None:
        vocab = tokenizer["model"]["vocab"]
        first, second = sorted(vocab)[-2:]
        vocab[first], vocab[second] = vocab[second], vocab[first]

    _edit_json(run_dir / checkpoint.TOKENIZER_FILE, swap)


def _drop_last_merge(run_dir: Path) -> None:
    def drop(tokenizer: dict) -> None:
        vocab = tokenizer["model"]["vocab"]
        del vocab[max(vocab, key=vocab.get)]
        tokenizer["model"]["merges"].pop()

    _edit_json(run_dir / checkpoint.TOKENIZER_FILE, drop)


def _edit_model_width(run_dir: Path) -> None:
    def edit(config: dict) -> None:
        config["model"]["n_embd"] = 32

    _edit_json(run_dir / checkpoint.CONFIG_FILE, edit)


def _edit_both_widths(run_dir: Path) -> None:
    def edit(config: dict) -> None:
        config["model"]["n_embd"] = config["train"]["n_embd"] = 32

    _edit_json(run_dir / checkpoint.CONFIG_FILE, edit)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_swap_two_tokens, "tokenizer.json: not the tokenizer this run was trained"),
        (_drop_last_merge, "tokenizer.json: the tokenizer has 299 tokens, but the"),
        (_edit_model_width, "the training settings give the model n_embd=16, but"),
        (
            _edit_both_widths,
            "weights do not fit the model: they are of a model with n_embd=16, "
            "but this model has n_embd=32",
        ),
    ],
)
def test_run_directory_mismatch_named(
    run_copy: Path,
    capsys: pytest.CaptureFixture,
    edit: Callable[[Path], None],
    message: str,
) -> None:
    edit(run_copy)
    assert _main("train", "--resume", "--out", run_copy, "--max-steps", "6") == 2
    assert message in _error_line(capsys)


def test_corrupted_metrics_named_on_resume(
    run_copy: Path, capsys: pytest.CaptureFixture
) -> None:
    (run_copy / checkpoint.METRICS_FILE).write_text("garbage{\n")
    assert _main("train", "--resume", "--out", run_copy, "--max-steps", "6") == 2
    assert "metrics.jsonl: corrupted metrics record" in _error_line(capsys)


@pytest.mark.parametrize("command", [["evaluate"], ["fill-mask", "a [MASK] b"]])
def test_config_of_wrong_type_named(
    run_copy: Path, capsys: pytest.CaptureFixture, command: list[str]
) -> None:
    _edit_json(run_copy / checkpoint.CONFIG_FILE, _set_model("n_layer", "one"))
    assert _main(command[0], run_copy, *command[1:]) == 2
    assert "invalid config.json: n_layer must be an integer" in _error_line(capsys)


def test_tokenizer_of_other_size_named_on_use(
    run_copy: Path, capsys: pytest.CaptureFixture
) -> None:
    _edit_json(run_copy / checkpoint.CONFIG_FILE, _set_model("vocab_size", 7))
    assert _main("evaluate", run_copy) == 2
    assert "but the run's model has vocab_size 7" in _error_line(capsys)


def _set_model(name: str, value: object) -> Callable[[dict], None]:
    def edit(saved: dict) -> None:
        saved["model"][name] = value

    return edit


# Divergence and Ctrl-C -----------------------------------------------------


def test_nan_loss_stops_and_keeps_checkpoint(
    options: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run_dir = tmp_path / "diverged"
    arguments = ["--lr", "1e4", "--warmup-steps", "0", "--min-lr", "0"]
    arguments += ["--checkpoint-interval", "1", "--max-steps", "50"]
    assert _main("train", *options, *arguments, "--out", run_dir) == 2

    line = _error_line(capsys)
    pattern = r"training diverged: .*? step (\d+)\b.*? checkpoint of step (\d+)"
    found = re.search(pattern, line)
    assert found, line
    failed_step, kept_step = map(int, found.groups())
    assert kept_step < failed_step
    model, state = _load(run_dir)
    assert state["step"] == kept_step
    for name, parameter in model.named_parameters():
        assert bool(torch.isfinite(parameter).all()), name


def test_infinite_gradient_norm_stops(
    options: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A finite loss with overflowing gradients, simulated from step 3 on.
    norm = torch.nn.utils.get_total_norm
    calls: list[int] = []

    def overflowing_norm(grads: list[torch.Tensor]) -> torch.Tensor:
        calls.append(1)
        return norm(grads) if len(calls) < 3 else torch.tensor(float("inf"))

    monkeypatch.setattr(torch.nn.utils, "get_total_norm", overflowing_norm)
    run_dir = tmp_path / "overflow"
    arguments = ["--checkpoint-interval", "1", "--max-steps", "10"]
    assert _main("train", *options, *arguments, "--out", run_dir) == 2

    line = _error_line(capsys)
    assert "the gradient norm of step 3 is inf" in line
    model, state = _load(run_dir)
    assert state["step"] == 2
    for name, parameter in model.named_parameters():
        assert bool(torch.isfinite(parameter).all()), name


def test_sigint_saves_and_resume_finishes(options: list[str], tmp_path: Path) -> None:
    run_dir = tmp_path / "interrupted"
    # Without periodic checkpoints, only Ctrl-C writes one after step 0.
    arguments = ["--checkpoint-interval", "0", "--max-steps", "100000"]
    process = _start_training(*options, *arguments, "--out", run_dir)
    metrics = run_dir / checkpoint.METRICS_FILE
    _wait_for(lambda: metrics.exists() and metrics.stat().st_size > 0, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 130, stderr
    last_line = stderr.strip().splitlines()[-1]
    folder = re.escape(str(run_dir))
    pattern = (
        rf"nlpmlp: interrupted at step (\d+); checkpoint saved in {folder}; "
        rf"continue with: nlpmlp train --resume --out {folder}"
    )
    found = re.fullmatch(pattern, last_line)
    assert found, last_line
    step = int(found.group(1))
    assert step > 0
    assert _load(run_dir)[1]["step"] == step

    resumed = _main("train", "--resume", "--out", run_dir, "--max-steps", step + 2)
    assert resumed == 0
    assert _load(run_dir)[1]["step"] == step + 2
