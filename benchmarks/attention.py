"""Time self-attention forward and backward: nlpmlp.attention against torch's kernel.

Both take the output of a fused query-key-value projection and return the
heads' outputs side by side, so each timed call includes the reshapes a
model needs around it. torch's side is ``scaled_dot_product_attention`` on
the permuted query, key and value views, as nanoGPT and ``nlpmlp.model``
call it. For each case the script times blocks of forward-and-backward
calls, the two implementations interleaved, and prints the median time per
call and the ratio nlpmlp / torch (below 1 means nlpmlp is faster).

    python benchmarks/attention.py [--calls 50] [--repeats 9] [--threads 0]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

import nlpmlp.model
from nlpmlp.attention import attention, reference_attention
from nlpmlp.config import PRESETS, TrainConfig
from nlpmlp.train import Trainer

# (name, batch, time, n_embd, n_head, causal): the char-baby preset, then
# the default masked-LM run of `nlpmlp train`.
CASES = [
    ("char-baby, causal", 12, 64, 128, 4, True),
    ("default, masked LM", 16, 128, 128, 4, False),
]


def time_calls(
    function: Callable[..., torch.Tensor],
    qkv: torch.Tensor,
    grad_out: torch.Tensor,
    n_head: int,
    causal: bool,
    calls: int,
) -> float:
    """Return the mean seconds of one forward-and-backward call."""
    started = time.perf_counter()
    for _ in range(calls):
        function(qkv, n_head, causal).backward(grad_out)
    return (time.perf_counter() - started) / calls


def time_training_steps(repeats: int, steps: int) -> tuple[float, float]:
    """Return the median seconds of a char-baby step with each attention."""
    config = TrainConfig(**dict(PRESETS["char-baby"], threads=torch.get_num_threads()))
    timings: dict[str, list[float]] = {"nlpmlp": [], "torch": []}
    # Both models run module by module: the one-node block of training
    # (nlpmlp.block) always uses nlpmlp's attention.
    one_node = nlpmlp.model.Block._runs_as_one_node
    nlpmlp.model.Block._runs_as_one_node = lambda self: False
    with tempfile.TemporaryDirectory() as folder:
        trainers = {
            label: Trainer.start(config, Path(folder) / label) for label in timings
        }
        for repeat in range(repeats + 1):
            for label, trainer in trainers.items():
                # The model module looks attention up at each call.
                nlpmlp.model.attention = (
                    attention if label == "nlpmlp" else reference_attention
                )
                started = time.perf_counter()
                for _ in range(steps):
                    trainer.train_step()
                if repeat:
                    timings[label].append((time.perf_counter() - started) / steps)
    nlpmlp.model.attention = attention
    nlpmlp.model.Block._runs_as_one_node = one_node
    return statistics.median(timings["nlpmlp"]), statistics.median(timings["torch"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="calls per timed block")
    parser.add_argument("--repeats", type=int, default=9, help="timed blocks each")
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    args = parser.parse_args()
    for name in ("calls", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.threads < 0:
        parser.error(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'case':22s} {'nlpmlp ms':>10s} {'torch ms':>10s} {'ratio':>6s}")
    for name, batch, time_, n_embd, n_head, causal in CASES:
        generator = torch.Generator().manual_seed(0)
        qkv = torch.randn(batch, time_, 3 * n_embd, generator=generator)
        qkv.requires_grad_()
        grad_out = torch.randn(batch, time_, n_embd, generator=generator)

        timings: dict[str, list[float]] = {"nlpmlp": [], "torch": []}
        functions = {"nlpmlp": attention, "torch": reference_attention}
        for repeat in range(args.repeats + 1):
            for label, function in functions.items():
                seconds = time_calls(
                    function, qkv, grad_out, n_head, causal, args.calls
                )
                if repeat:  # the first block of each warms up
                    timings[label].append(seconds)

        ours, theirs = (statistics.median(timings[k]) for k in ("nlpmlp", "torch"))
        ratio = ours / theirs
        print(f"{name:22s} {ours * 1e3:10.3f} {theirs * 1e3:10.3f} {ratio:6.2f}")

    ours, theirs = time_training_steps(args.repeats, steps=10)
    ratio = ours / theirs
    name = "char-baby training step"
    print(f"{name:22s} {ours * 1e3:10.3f} {theirs * 1e3:10.3f} {ratio:6.2f}")


if __name__ == "__main__":
    main()
