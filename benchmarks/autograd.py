"""Time one training step of an MLP in foundations.autograd and in torch autograd.

A step is the forward pass of a ReLU MLP with softmax cross-entropy, the
backward pass, and an SGD update with momentum, on one minibatch, in float64
on the CPU. Both libraries start from the same weights and data. For each
network size the script times blocks of steps in the same process, with the
libraries interleaved, and prints the median time per step and the ratio
foundations / torch (below 1 means foundations is faster).

For fairness both run on one thread: ``torch.set_num_threads(1)`` for torch,
and a one-thread BLAS limit for NumPy, which foundations.autograd uses.
``--threads 0`` keeps each library's default.

    python benchmarks/autograd.py [--steps 50] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from foundations.autograd import Tensor, cross_entropy

# (batch size, layer sizes): the spirals network, then a wider one.
CASES = [(32, (2, 32, 32, 2)), (128, (64, 256, 256, 10)), (256, (256, 512, 512, 10))]
ETA, MOMENTUM = 0.05, 0.9


def initial_weights(sizes: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    """He-normal weights and zero biases, as a flat list (w1, b1, w2, b2, ...)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for n_in, n_out in itertools.pairwise(sizes):
        arrays.append(rng.normal(0.0, np.sqrt(2.0 / n_in), (n_out, n_in)))
        arrays.append(np.zeros(n_out))
    return arrays


def foundations_step(params, velocities, x, labels):
    """Run one step with foundations.autograd tensors, updating them in place."""
    h = Tensor(x)
    for weight, bias in zip(params[:-2:2], params[1:-2:2], strict=True):
        h = (h @ weight.T + bias).relu()
    loss = cross_entropy(h @ params[-2].T + params[-1], labels)
    for p in params:
        p.grad = None
    loss.backward()
    for p, velocity in zip(params, velocities, strict=True):
        velocity *= MOMENTUM
        velocity -= ETA * p.grad
        p.data += velocity


def torch_step(params, velocities, x, labels):
    """Run the same step with torch tensors and torch autograd."""
    h = x
    for weight, bias in zip(params[:-2:2], params[1:-2:2], strict=True):
        h = F.relu(F.linear(h, weight, bias))
    loss = F.cross_entropy(F.linear(h, params[-2], params[-1]), labels)
    for p in params:
        p.grad = None
    loss.backward()
    with torch.no_grad():
        for p, velocity in zip(params, velocities, strict=True):
            velocity.mul_(MOMENTUM).sub_(ETA * p.grad)
            p.add_(velocity)


def time_case(batch: int, sizes: tuple[int, ...], steps: int, repeats: int):
    """Return the median seconds per step of each library and the final gap."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(batch, sizes[0]))
    labels = rng.integers(0, sizes[-1], size=batch)
    weights = initial_weights(sizes)
    ours = [Tensor(w.copy(), requires_grad=True) for w in weights]
    ours_velocity = [np.zeros_like(w) for w in weights]
    theirs = [torch.tensor(w, requires_grad=True) for w in weights]
    theirs_velocity = [torch.zeros_like(p) for p in theirs]
    x_torch, labels_torch = torch.from_numpy(x), torch.from_numpy(labels)

    runs = {
        "foundations": lambda: foundations_step(ours, ours_velocity, x, labels),
        "torch": lambda: torch_step(theirs, theirs_velocity, x_torch, labels_torch),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, step in runs.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            times[name].append((time.perf_counter() - start) / steps)

    # Both ran the same steps from the same start, so the weights still agree.
    gap = max(
        float(np.max(np.abs(p.data - q.detach().numpy())))
        for p, q in zip(ours, theirs, strict=True)
    )
    return {name: statistics.median(values) for name, values in times.items()}, gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50, help="steps per timed block")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed blocks per library"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per library, 0 for the default"
    )
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"one SGD-momentum step of a ReLU MLP with cross-entropy, float64 CPU, "
        f"threads: {args.threads or 'library default'}"
    )
    print(
        f"{'batch':>6}  {'layer sizes':<20}{'foundations us':>16}{'torch us':>10}"
        f"{'ratio':>8}{'max weight gap':>16}"
    )
    with threadpool_limits(limits=args.threads or None):
        for batch, sizes in CASES:
            times, gap = time_case(batch, sizes, args.steps, args.repeats)
            ratio = times["foundations"] / times["torch"]
            print(
                f"{batch:>6}  {sizes!s:<20}{times['foundations'] * 1e6:>16.0f}"
                f"{times['torch'] * 1e6:>10.0f}{ratio:>8.2f}{gap:>16.1e}"
            )


if __name__ == "__main__":
    main()
