"""Time one optimizer step of foundations.optim.torch against torch.optim.

For each optimizer the script steps the same 100 parameter tensors of mixed
shapes, the layers of a Transformer of width 128 with 8 layers (1.7 million
entries). Four implementations take turns, so that load changes hit all of
them alike:

- ours with its default ``foreach=None`` (the multi-tensor path),
- ours with ``foreach=False`` (the single-tensor path, for reference),
- torch.optim with its default (single-tensor on CPU in torch 2.13.0, because
  ``_default_to_fused_or_foreach`` picks foreach only on accelerators),
- torch.optim with ``foreach=True``.

It prints the best time per step over the rounds and the ratios of ours to
each torch variant. A ratio below 1 means ours is faster. The goal is a ratio
of ours (default) to each torch variant of at most 1.25.

A second table times ``fused=True`` of ours and of torch.optim for Adam and
AdamW, which both hand the step to torch's one-pass kernel, against ours by
default.

Usage::

    python benchmarks/optimizers.py [--device cpu|cuda] [--repeats 20] [--width 128]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from foundations.optim import torch as ours


def transformer_shapes(width: int = 128, layers: int = 8, vocab: int = 1000) -> list:
    """Return the parameter shapes of a small Transformer: 100 for the defaults."""
    shapes = [(vocab, width), (256, width)]  # token and position embeddings
    for _ in range(layers):
        shapes += [(3 * width, width), (3 * width,), (width, width), (width,)]
        shapes += [(4 * width, width), (4 * width,), (width, 4 * width), (width,)]
        shapes += [(width,)] * 4  # two layer norms, weight and bias each
    return [*shapes, (width,), (width,)]


OPTIMIZERS = {
    "SGD": (ours.SGD, torch.optim.SGD, dict(lr=0.01, momentum=0.9)),
    "AdaGrad": (ours.AdaGrad, torch.optim.Adagrad, dict(lr=0.01)),
    "RMSProp": (ours.RMSProp, torch.optim.RMSprop, dict(lr=0.01, momentum=0.9)),
    "Adam": (ours.Adam, torch.optim.Adam, dict(lr=1e-3)),
    "AdamW": (ours.AdamW, torch.optim.AdamW, dict(lr=1e-3, weight_decay=0.01)),
}


def make_params(device: str, width: int = 128) -> list[torch.Tensor]:
    """Return tensors of the shapes of ``transformer_shapes``, with gradients."""
    generator = torch.Generator().manual_seed(0)
    params = []
    for shape in transformer_shapes(width):
        p = torch.randn(shape, generator=generator).to(device).requires_grad_()
        p.grad = 1e-2 * torch.randn(shape, generator=generator).to(device)
        params.append(p)
    return params


def time_steps(step: Callable[[], object], steps: int, device: str) -> float:
    """Return the seconds per call of ``step`` over ``steps`` calls.

    On CPU this is the CPU time of the calling thread, which other processes
    on a shared machine disturb far less than wall time. It counts all the
    work only when torch runs one intra-op thread. On CUDA it is wall time.
    """
    if device == "cuda":
        torch.cuda.synchronize()
        clock = time.perf_counter
    else:
        clock = time.thread_time
    start = clock()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (clock() - start) / steps


def best_times(
    optimizers: dict[str, torch.optim.Optimizer], device: str, repeats: int, steps: int
) -> dict[str, float]:
    """Step the optimizers in turn; return the best seconds per step of each."""
    for optimizer in optimizers.values():
        optimizer.step()  # creates the state outside the timed region

    times: dict[str, list[float]] = {label: [] for label in optimizers}
    for _ in range(repeats):
        for label, optimizer in optimizers.items():
            times[label].append(time_steps(optimizer.step, steps, device))
    return {label: min(values) for label, values in times.items()}


def benchmark(
    name: str, device: str, repeats: int, steps: int, width: int
) -> dict[str, float]:
    """Return the best seconds per step of each implementation of ``name``."""
    ours_class, torch_class, kwargs = OPTIMIZERS[name]
    variants = {
        "ours default": lambda p: ours_class(p, **kwargs),
        "ours single-tensor": lambda p: ours_class(p, foreach=False, **kwargs),
        "torch default": lambda p: torch_class(p, **kwargs),
        "torch foreach": lambda p: torch_class(p, foreach=True, **kwargs),
    }
    optimizers = {
        label: make(make_params(device, width)) for label, make in variants.items()
    }
    return best_times(optimizers, device, repeats, steps)


def benchmark_fused(
    name: str, device: str, repeats: int, steps: int, width: int
) -> dict[str, float]:
    """Return the best seconds per step of ours and torch's fused ``name``."""
    ours_class, torch_class, kwargs = OPTIMIZERS[name]
    optimizers = {
        "ours default": ours_class(make_params(device, width), **kwargs),
        "ours fused": ours_class(make_params(device, width), fused=True, **kwargs),
        "torch fused": torch_class(make_params(device, width), fused=True, **kwargs),
    }
    return best_times(optimizers, device, repeats, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    parser.add_argument("--repeats", type=int, default=20, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=5, help="steps per round")
    parser.add_argument(
        "--width",
        type=int,
        default=128,
        help="model width setting the tensor sizes; 16 gives tiny tensors",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads; keep 1 on CPU, where the timer counts "
        "the calling thread only",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    params = make_params("cpu", args.width)
    numel = sum(p.numel() for p in params)
    print(
        f"device={args.device} threads={torch.get_num_threads()} "
        f"tensors={len(params)} entries={numel} width={args.width} "
        f"repeats={args.repeats} (best of)"
    )
    header = (
        f"{'optimizer':<9} {'ours ms':>8} {'single ms':>9} {'torch ms':>9} "
        f"{'foreach ms':>10} {'ours/torch':>10} {'ours/foreach':>12}"
    )
    print(header)
    for name in OPTIMIZERS:
        t = benchmark(name, args.device, args.repeats, args.steps, args.width)
        ours_time = t["ours default"]
        print(
            f"{name:<9} {1e3 * ours_time:8.3f} {1e3 * t['ours single-tensor']:9.3f} "
            f"{1e3 * t['torch default']:9.3f} {1e3 * t['torch foreach']:10.3f} "
            f"{ours_time / t['torch default']:10.2f} "
            f"{ours_time / t['torch foreach']:12.2f}"
        )
    if args.device != "cpu":
        return
    print(
        f"\n{'fused':<9} {'ours ms':>8} {'fused ms':>9} {'torch ms':>9} "
        f"{'fused/ours':>10} {'fused/torch':>11}"
    )
    for name in ("Adam", "AdamW"):
        t = benchmark_fused(name, args.device, args.repeats, args.steps, args.width)
        fused, torch_fused = t["ours fused"], t["torch fused"]
        print(
            f"{name:<9} {1e3 * t['ours default']:8.3f} {1e3 * fused:9.3f} "
            f"{1e3 * torch_fused:9.3f} {fused / t['ours default']:10.2f} "
            f"{fused / torch_fused:11.2f}"
        )


if __name__ == "__main__":
    main()
