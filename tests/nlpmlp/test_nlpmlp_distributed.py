"""Tests of nlpmlp.distributed: torchrun's environment, sharding, two processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nlpmlp.cli import main
from nlpmlp.data import make_batch, sample_batch, shard_rows, step_generator
from nlpmlp.distributed import (
    SINGLE_PROCESS,
    DistributedContext,
    check_batch_size,
    context_from_environment,
    loss_weight,
)
from nlpmlp.errors import ConfigError
from nlpmlp.evaluate import evaluate
from nlpmlp.model import Encoder, ModelConfig
from nlpmlp.tokenizer import train_tokenizer
from nlpmlp.train import _CpuBatches

# Relative tolerance between the losses of one and two processes. The two
# differ only in the order of float32 sums (each process's loss and DDP's
# gradient average); over six steps they agree to about 1e-7.
LOSS_RTOL = 1e-5


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"RANK": "0", "WORLD_SIZE": "2"}, "LOCAL_RANK not; start several"),
        ({"RANK": "x", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}, "RANK='x' is not an"),
        ({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}, "RANK=2, WORLD_SIZE=2"),
        ({"RANK": "0", "WORLD_SIZE": "0", "LOCAL_RANK": "0"}, "WORLD_SIZE=0"),
    ],
)
def test_invalid_environment_rejected(environment: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        context_from_environment(environment)


def test_context_from_torchrun_variables() -> None:
    environment = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}
    context = context_from_environment(environment)
    assert (context.rank, context.world_size, context.local_rank) == (1, 2, 1)
    assert not context.is_main
    assert context.is_distributed


def test_no_variables_single_process() -> None:
    context = context_from_environment({"PATH": "/bin"})
    assert context == SINGLE_PROCESS
    assert context.is_main
    assert not context.is_distributed
    assert context.device == "cpu"


def test_batch_size_must_divide() -> None:
    check_batch_size(6, DistributedContext(rank=0, world_size=3))
    with pytest.raises(ConfigError, match="--batch-size 5 is the global batch and"):
        check_batch_size(5, DistributedContext(rank=0, world_size=2))


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_shards_hold_every_row_once(world_size: int) -> None:
    tokens = torch.arange(100)
    windows = sample_batch(tokens, 6, 5, step_generator(0, 0))
    batch = make_batch(windows, "mlm", 1, 4, 100, step_generator(0, 0))
    shards = [shard_rows(batch, rank, world_size) for rank in range(world_size)]
    rows = sorted(tuple(row.tolist()) for shard in shards for row in shard.inputs)
    assert rows == sorted(tuple(row.tolist()) for row in batch.inputs)
    for rank, shard in enumerate(shards):
        assert torch.equal(shard.targets, batch.targets[rank::world_size])


@pytest.mark.parametrize("world_size", [2, 3])
def test_process_gradients_average_to_batch_gradient(world_size: int) -> None:
    # One process on the whole batch against DDP's average of the gradients
    # of each process's weighted loss, in float64: the same up to rounding.
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=40, block_size=8, n_layer=1, n_head=2, n_embd=8, dropout=0.0
    )
    model = Encoder(config).double()
    parameters = list(model.parameters())
    tokens = torch.randint(4, 40, (200,), generator=torch.Generator().manual_seed(0))
    windows = sample_batch(tokens, 6, 8, step_generator(0, 0))
    batch = make_batch(windows, "mlm", 1, 4, 40, step_generator(0, 0))
    n_targets = int((batch.targets != -100).sum())
    whole = torch.autograd.grad(model(*batch).loss, parameters)

    average = [torch.zeros_like(p) for p in parameters]
    counts = []
    for rank in range(world_size):
        context = DistributedContext(rank=rank, world_size=world_size)
        shard = shard_rows(batch, rank, world_size)
        n_local = int((shard.targets != -100).sum())
        counts.append(n_local)
        loss = model(*shard).loss * loss_weight(n_local, n_targets, context)
        grads = torch.autograd.grad(loss, parameters)
        for total, grad in zip(average, grads, strict=True):
            total += grad / world_size

    assert len(set(counts)) > 1, "the shards should differ in their target counts"
    for expected, actual in zip(whole, average, strict=True):
        torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-12)


def _free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def _torchrun(*args: str | Path) -> subprocess.CompletedProcess:
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [
        str(torchrun),
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        "-m",
        "nlpmlp",
        *map(str, args),
    ]
    environment = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=environment
    )


def _train_losses(run_dir: Path) -> dict[int, float]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    return {r["step"]: r["train_loss"] for r in records if "train_loss" in r}


def test_two_processes_match_one(
    corpus_file: Path,
    tiny_options: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    # Masked LM, so the two processes hold different numbers of targets.
    options = [
        *tiny_options,
        "--data", corpus_file,
        "--log-interval", "1",
        "--eval-interval", "0",
        "--warmup-steps", "2",
        "--decay-steps", "6",
    ]  # fmt: skip
    threads = torch.get_num_threads()
    try:
        one = ["--out", str(tmp_path / "one"), "--max-steps", "6"]
        status = main(["train", *map(str, options), *one])
    finally:
        torch.set_num_threads(threads)
    assert status == 0
    capsys.readouterr()

    # Two processes, stopped after three steps and resumed to six.
    two = tmp_path / "two"
    first = _torchrun("train", *options, "--out", two, "--max-steps", "3")
    assert first.returncode == 0, first.stderr
    second = _torchrun("train", "--resume", "--out", two, "--max-steps", "6")
    assert second.returncode == 0, second.stderr

    one_losses = _train_losses(tmp_path / "one")
    two_losses = _train_losses(two)
    assert list(two_losses) == [1, 2, 3, 4, 5, 6]
    assert list(one_losses) == list(two_losses)
    for step, loss in one_losses.items():
        assert two_losses[step] == pytest.approx(loss, rel=LOSS_RTOL), step
    assert second.stdout.count("run: ") == 1, "only rank 0 prints"
    assert "steps: 6 of 6 (finished)" in second.stdout


def test_cpu_batch_wrapper_evaluates_alike(sentences: str) -> None:
    # The wrapper moves evaluation batches to a GPU model; on the CPU it must
    # change nothing, which checks the interface evaluate() relies on.
    tokenizer = train_tokenizer(sentences, "char", 300)
    config = ModelConfig(
        vocab_size=tokenizer.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16
    )
    torch.manual_seed(0)
    model = Encoder(config)
    tokens = torch.tensor(tokenizer.encode(sentences[:3000]), dtype=torch.long)

    direct = evaluate(model, tokens, tokenizer, batch_size=8, seed=0)
    wrapped = evaluate(_CpuBatches(model), tokens, tokenizer, batch_size=8, seed=0)

    assert wrapped == direct
    assert model.training
