r"""Multi-head self-attention whose backward pass is written out by hand.

For one head with queries $Q$, keys $K$ and values $V$ (one row per
position, $d$ columns) the forward pass is

$$
S = \frac{Q K^\top}{\sqrt d} + M, \qquad
P = \operatorname{softmax}_{\text{rows}}(S), \qquad
Y = P V,
$$

where the mask $M$ is $-\infty$ above the diagonal for causal attention
and 0 otherwise. Given $\bar Y = \partial E / \partial Y$, the chain rule
through the row-wise softmax gives

$$
\bar V = P^\top \bar Y, \qquad
\bar P = \bar Y V^\top, \qquad
\bar S_{ij} = P_{ij} \Big(\bar P_{ij} - \sum_k P_{ik} \bar P_{ik}\Big), \qquad
\bar Q = \frac{\bar S K}{\sqrt d}, \qquad
\bar K = \frac{\bar S^\top Q}{\sqrt d}.
$$

The row sum also equals $\bar y_i \cdot y_i$, since $\sum_k P_{ik} \bar P_{ik} =
\sum_k P_{ik}\, \bar y_i \cdot v_k$. The code still takes $\bar S$ from
torch's softmax backward kernel, which forms the row sums and $\bar S$ in
one call: on the ``char-baby`` shapes it took 0.7 to 0.8 times as long as
the row sums from $\bar Y$ and $Y$ followed by two element-wise passes.

``attention`` keeps $P$ from the forward pass, so its backward pass is five
batched matrix products and one softmax backward pass. torch's fused CPU
kernel keeps only the log-sum-exp of each row and computes $P$ again in its
backward pass. On the short windows of this project (64 to 128 positions)
the two take about the same time: ``benchmarks/attention.py`` measured
ratios of 0.94 to 1.09 alone and 0.97 to 1.03 over a whole training step.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

__all__ = [
    "AttentionCache",
    "attention",
    "attention_backward",
    "attention_forward",
    "reference_attention",
]


class AttentionCache(NamedTuple):
    """Tensors that ``attention_forward`` keeps for ``attention_backward``."""

    heads: torch.Tensor  # Q, K and V, shape (3, batch * heads, time, head_dim)
    p: torch.Tensor  # the probabilities P, shape (batch * heads, time, time)
    y: torch.Tensor  # the heads' outputs Y, shape (batch * heads, time, head_dim)
    scale: float  # 1 / sqrt(head_dim)


def attention_forward(
    qkv: torch.Tensor, n_head: int, causal: bool
) -> tuple[torch.Tensor, AttentionCache]:
    """Compute ``attention`` without autograd; also return what its backward needs.

    Parameters and output are those of ``attention``.
    """
    batch, time, width3 = qkv.shape
    head_dim = width3 // (3 * n_head)
    # One copy to (3, batch * heads, time, head_dim) puts each head's rows together.
    heads = qkv.view(batch, time, 3, n_head, head_dim).permute(2, 0, 3, 1, 4)
    heads = heads.reshape(3, batch * n_head, time, head_dim)
    q, k, v = heads[0], heads[1], heads[2]
    scale = 1.0 / math.sqrt(head_dim)
    scores = torch.baddbmm(_mask(time, causal, qkv), q, k.transpose(1, 2), alpha=scale)
    p = torch.softmax(scores, dim=-1)
    y = torch.bmm(p, v)  # (batch * heads, time, head_dim)
    out = y.view(batch, n_head, time, head_dim).transpose(1, 2)
    return out.reshape(batch, time, width3 // 3), AttentionCache(heads, p, y, scale)


def attention_backward(grad_out: torch.Tensor, cache: AttentionCache) -> torch.Tensor:
    r"""Return $\partial E / \partial\,\mathrm{qkv}$ from $\bar Y$, by the rule above.

    Parameters
    ----------
    grad_out : tensor of shape (batch, time, n_embd)
        The gradient of the loss with respect to the output of ``attention``.
    cache : AttentionCache
        What ``attention_forward`` returned.

    Returns
    -------
    tensor of shape (batch, time, 3 * n_embd)
    """
    q, k, v = cache.heads[0], cache.heads[1], cache.heads[2]
    batch_heads, time, head_dim = cache.y.shape
    batch = grad_out.shape[0]
    n_head = batch_heads // batch
    grad_y = grad_out.view(batch, time, n_head, head_dim).transpose(1, 2)
    grad_y = grad_y.reshape(batch_heads, time, head_dim)

    grad = torch.empty_like(cache.heads)  # gradients of q, k and v, stacked
    torch.bmm(cache.p.transpose(1, 2), grad_y, out=grad[2])
    grad_p = torch.bmm(grad_y, v.transpose(1, 2))
    grad_s = torch._softmax_backward_data(grad_p, cache.p, -1, grad_p.dtype)
    # The scale 1 / sqrt(d) of S joins the last two products as their alpha.
    torch.baddbmm(grad[0], grad_s, k, beta=0.0, alpha=cache.scale, out=grad[0])
    torch.baddbmm(
        grad[1], grad_s.transpose(1, 2), q, beta=0.0, alpha=cache.scale, out=grad[1]
    )
    grad = grad.view(3, batch, n_head, time, head_dim).permute(1, 3, 0, 2, 4)
    return grad.reshape(batch, time, 3 * n_head * head_dim)


class _AttentionFunction(torch.autograd.Function):
    """Autograd node of ``attention``, with the rule of the module docstring."""

    @staticmethod
    def forward(ctx: Any, qkv: torch.Tensor, n_head: int, causal: bool) -> torch.Tensor:
        out, cache = attention_forward(qkv, n_head, causal)
        ctx.save_for_backward(cache.heads, cache.p, cache.y)
        ctx.scale = cache.scale
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        heads, p, y = ctx.saved_tensors
        return (
            attention_backward(grad_out, AttentionCache(heads, p, y, ctx.scale)),
            None,
            None,
        )


def attention(qkv: torch.Tensor, n_head: int, causal: bool) -> torch.Tensor:
    r"""Apply multi-head self-attention to fused query-key-value projections.

    Parameters
    ----------
    qkv : tensor of shape (batch, time, 3 * n_embd)
        Queries, keys and values side by side, each split into ``n_head``
        heads of ``n_embd // n_head`` columns, as a fused projection makes
        them.
    n_head : int
        Number of heads.
    causal : bool
        Whether position $i$ attends only to positions $j \le i$.

    Returns
    -------
    tensor of shape (batch, time, n_embd)
        The heads' outputs $Y$, concatenated.

    Raises
    ------
    ValueError
        If ``qkv`` does not have 3 axes, or its last axis is not a multiple
        of ``3 * n_head``.
    """
    if qkv.ndim != 3 or qkv.shape[-1] % (3 * n_head):
        raise ValueError(
            f"qkv must have shape (batch, time, 3 * n_embd) with n_embd a multiple "
            f"of n_head={n_head}, got shape {tuple(qkv.shape)}"
        )
    return _AttentionFunction.apply(qkv, n_head, causal)


def reference_attention(qkv: torch.Tensor, n_head: int, causal: bool) -> torch.Tensor:
    """Compute what ``attention`` does with torch's ``scaled_dot_product_attention``.

    Autograd differentiates it through torch's fused kernel; tests and
    ``benchmarks/attention.py`` compare ``attention`` with it.
    """
    batch, time, width3 = qkv.shape
    heads = qkv.view(batch, time, 3, n_head, width3 // (3 * n_head))
    q, k, v = heads.permute(2, 0, 3, 1, 4)  # each (batch, heads, time, head_dim)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return y.transpose(1, 2).reshape(batch, time, width3 // 3)


def _mask(time: int, causal: bool, like: torch.Tensor) -> torch.Tensor:
    r"""Return $M$: $-\infty$ above the diagonal if ``causal``, else zeros."""
    mask = torch.zeros(time, time, dtype=like.dtype, device=like.device)
    if causal:
        mask.masked_fill_(
            torch.ones(time, time, dtype=torch.bool, device=like.device).triu(1),
            float("-inf"),
        )
    return mask
