"""Multi-tensor kernels of the update rules, on lists of torch tensors.

Each kernel applies one rule of :mod:`foundations.optim.functional` to every
tensor of a list with ``torch._foreach_*`` operations, so a step over many
small tensors costs a few calls into C++ instead of a few per tensor. The lists
must share one device and dtype. Parameters and states are updated in place,
and gradients are never written to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import array_api_compat
import torch
from torch import Tensor

from foundations.optim._checks import check_denominator, eps_vanishes

# A tensor step count makes torch._foreach_add_ take its fast path on CPU
# scalars, instead of wrapping the number 1 into a new tensor per element.
_ONE = torch.tensor(1.0)
_XP = array_api_compat.array_namespace(_ONE)


# On CPU, each _foreach operation loops over all tensors in turn, so one
# operation over a long list streams every tensor through memory before the
# next operation starts. Shorter lists stay in cache between operations. Of
# 2**16 to 2**19 entries per list, timed with the shapes of
# benchmarks/optimizers.py on an AMD EPYC with 1 MiB of L2 cache per core,
# 2**18 was the fastest or within 10% of it for all five optimizers.
CPU_CHUNK_NUMEL = 2**18


def batch_indices(tensors: Sequence[Tensor], chunk_cpu: bool = True) -> list[list[int]]:
    """Split the indices of ``tensors`` into lists that one kernel call can take.

    The tensors of a list share a device and a dtype. On CPU, with
    ``chunk_cpu``, a list also contains at most ``CPU_CHUNK_NUMEL`` entries in
    all, unless one tensor alone is larger. The fused kernels pass over each
    tensor once, so they take whole lists.
    """
    groups: dict[tuple[torch.device, torch.dtype], list[int]] = defaultdict(list)
    for index, tensor in enumerate(tensors):
        groups[(tensor.device, tensor.dtype)].append(index)

    batches = []
    for (device, _), indices in groups.items():
        if device.type != "cpu" or not chunk_cpu:
            batches.append(indices)
            continue
        batch: list[int] = []
        numel = 0
        for index in indices:
            size = tensors[index].numel()
            if batch and numel + size > CPU_CHUNK_NUMEL:
                batches.append(batch)
                batch, numel = [], 0
            batch.append(index)
            numel += size
        batches.append(batch)
    return batches


def increment_steps(steps: list[Tensor]) -> list[float]:
    """Add 1 to every step counter and return the new counts as floats."""
    if steps[0].is_cpu:
        torch._foreach_add_(steps, _ONE, alpha=1.0)
    else:
        torch._foreach_add_(steps, 1.0)
    return [step.item() for step in steps]


def check_denominators(denominators: list[Tensor], eps: float) -> None:
    """Apply ``check_denominator`` to tensors of one dtype, if ``eps`` vanishes.

    The kernels call it after updating the state and before the step, so when it
    raises, the parameters are unchanged but the moment estimates have advanced.
    """
    if eps_vanishes(eps, denominators[0].dtype, _XP):
        for d in denominators:
            check_denominator(d, eps, _XP)


def signed_decayed_gradients(
    params: list[Tensor], grads: list[Tensor], weight_decay: float, maximize: bool
) -> list[Tensor]:
    r"""Return $\pm g + \lambda w$ as new tensors, or ``grads`` itself if unchanged."""
    if maximize:
        grads = torch._foreach_neg(grads)
        if weight_decay != 0:
            torch._foreach_add_(grads, params, alpha=weight_decay)
    elif weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    return grads


def sgd(
    params: list[Tensor],
    grads: list[Tensor],
    momentum_buffers: list[Tensor | None],
    *,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
) -> None:
    """Apply :func:`~foundations.optim.sgd` in place; fills ``momentum_buffers``."""
    g = signed_decayed_gradients(params, grads, weight_decay, maximize)
    if momentum != 0:
        if any(b is None for b in momentum_buffers):
            # Step 1 of some tensors: their buffer starts as a copy of g.
            for i, b in enumerate(momentum_buffers):
                if b is None:
                    momentum_buffers[i] = g[i].clone()
                else:
                    b.mul_(momentum).add_(g[i], alpha=1 - dampening)
        else:
            torch._foreach_mul_(momentum_buffers, momentum)
            torch._foreach_add_(momentum_buffers, g, alpha=1 - dampening)
        if nesterov:
            g = torch._foreach_add(g, momentum_buffers, alpha=momentum)
        else:
            g = momentum_buffers
    torch._foreach_add_(params, g, alpha=-lr)


def adagrad(
    params: list[Tensor],
    grads: list[Tensor],
    sums: list[Tensor],
    steps: list[Tensor],
    *,
    lr: float,
    lr_decay: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    """Apply :func:`~foundations.optim.adagrad` in place."""
    t = increment_steps(steps)
    g = signed_decayed_gradients(params, grads, weight_decay, maximize)
    torch._foreach_addcmul_(sums, g, g, value=1.0)
    denominators = torch._foreach_sqrt(sums)
    torch._foreach_add_(denominators, eps)
    check_denominators(denominators, eps)
    negative_steps = [-lr / (1 + (t_i - 1) * lr_decay) for t_i in t]
    torch._foreach_addcdiv_(params, g, denominators, negative_steps)


def rmsprop(
    params: list[Tensor],
    grads: list[Tensor],
    square_avgs: list[Tensor],
    grad_avgs: list[Tensor],
    momentum_buffers: list[Tensor],
    steps: list[Tensor],
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    maximize: bool,
) -> None:
    """Apply :func:`~foundations.optim.rmsprop` in place."""
    increment_steps(steps)
    g = signed_decayed_gradients(params, grads, weight_decay, maximize)
    torch._foreach_mul_(square_avgs, alpha)
    torch._foreach_addcmul_(square_avgs, g, g, value=1 - alpha)

    if centered:
        torch._foreach_lerp_(grad_avgs, g, 1 - alpha)
        denominators = torch._foreach_addcmul(
            square_avgs, grad_avgs, grad_avgs, value=-1.0
        )
        # As in functional._rmsprop_update: a variance rounded below 0 is 0.
        torch._foreach_clamp_min_(denominators, 0.0)
        torch._foreach_sqrt_(denominators)
    else:
        denominators = torch._foreach_sqrt(square_avgs)
    torch._foreach_add_(denominators, eps)
    check_denominators(denominators, eps)

    if momentum > 0:
        torch._foreach_mul_(momentum_buffers, momentum)
        torch._foreach_addcdiv_(momentum_buffers, g, denominators)
        torch._foreach_add_(params, momentum_buffers, alpha=-lr)
    else:
        torch._foreach_addcdiv_(params, g, denominators, value=-lr)


def adam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    steps: list[Tensor],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> None:
    """Apply :func:`~foundations.optim.adam` (or ``adamw``) in place."""
    beta1, beta2 = betas
    t = increment_steps(steps)
    if decoupled_weight_decay:
        if weight_decay != 0:
            torch._foreach_mul_(params, 1 - lr * weight_decay)
        g = signed_decayed_gradients(params, grads, 0.0, maximize)
    else:
        g = signed_decayed_gradients(params, grads, weight_decay, maximize)

    torch._foreach_lerp_(exp_avgs, g, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, g, g, value=1 - beta2)
    if amsgrad:
        torch._foreach_maximum_(max_exp_avg_sqs, exp_avg_sqs)
        denominators = torch._foreach_sqrt(max_exp_avg_sqs)
    else:
        denominators = torch._foreach_sqrt(exp_avg_sqs)

    bias_corrections2_sqrt = [(1 - beta2**t_i) ** 0.5 for t_i in t]
    torch._foreach_div_(denominators, bias_corrections2_sqrt)
    torch._foreach_add_(denominators, eps)
    check_denominators(denominators, eps)
    negative_steps = [-lr / (1 - beta1**t_i) for t_i in t]
    torch._foreach_addcdiv_(params, exp_avgs, denominators, negative_steps)


def fused_adam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor | None],
    steps: list[Tensor],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
    grad_divisor: Tensor | None = None,
) -> None:
    r"""Apply ``adam`` (or ``adamw``) with torch's one-pass kernel, in place.

    ``torch._fused_adamw_`` reads the step count from ``steps`` after the
    increment, as ``adam`` does, and evaluates the same formulas entry by
    entry: the moments, their bias corrections, the decoupled decay
    $w \leftarrow (1 - \eta \lambda) w$ and the step. It makes one pass over
    memory where ``adam`` makes about nine. With ``grad_divisor`` the kernel
    first divides each gradient by it and writes the quotient back.
    """
    beta1, beta2 = betas
    torch._foreach_add_(steps, _ONE, alpha=1.0)
    kernel = torch._fused_adamw_ if decoupled_weight_decay else torch._fused_adam_
    kernel(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        [m for m in max_exp_avg_sqs if m is not None] if amsgrad else [],
        steps,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        weight_decay=weight_decay,
        eps=eps,
        amsgrad=amsgrad,
        maximize=maximize,
        grad_scale=grad_divisor,
    )
