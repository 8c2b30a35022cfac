r"""A whole pre-LayerNorm Transformer block as one autograd node.

For the rows $x$ of a batch, ``model.Block`` computes

$$
\begin{aligned}
a &= \mathrm{LN}_1(x), & u &= x + \mathrm{Attn}(a\,W_{qkv}^\top)\,W_o^\top, \\
b &= \mathrm{LN}_2(u), & z &= u + \mathrm{FFN}(b),
\end{aligned}
$$

with biases added after each product when the model has them. Given
$\bar z = \partial E / \partial z$, the backward pass goes through the same
steps in reverse. Each residual connection copies the gradient into both
of its branches, so the two sums are

$$
\bar u = \bar z + \mathrm{LN}_2'(u)^\top\, \bar b, \qquad
\bar x = \bar u + \mathrm{LN}_1'(x)^\top\, \bar a,
$$

where $\bar b$ is the input gradient of ``foundations.mlp.block_backward``
(the course's local-gradient rule), $\bar a = \overline{qkv}\, W_{qkv}$ with
$\overline{qkv}$ from ``nlpmlp.attention.attention_backward``, and
$\mathrm{LN}'^\top$ is LayerNorm's backward pass (torch's kernel). Each
weight gradient is the transposed output gradient of its layer times the
layer's input, as in a dense layer.

``transformer_block`` runs all of this as one ``torch.autograd.Function``.
Autograd then keeps one node per block, not about a dozen, and the
residual sum of the attention sublayer joins its output projection as the
``beta`` term of one ``addmm``. On the ``char-baby`` training step this took
0.98 times as long as the module-by-module path, in interleaved timings.
``model.Block`` uses it for training steps without dropout or padding
mask, and the modules otherwise; tests check that both give the same
outputs and gradients.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from foundations.mlp import BlockCache, block_backward, block_forward
from nlpmlp.attention import AttentionCache, attention_backward, attention_forward

__all__ = ["transformer_block"]

_Tensor = torch.Tensor | None


class _TransformerBlockFunction(torch.autograd.Function):
    """Autograd node of ``transformer_block``, with the rule of the module docstring."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        ln1_weight: _Tensor,
        ln1_bias: _Tensor,
        qkv_weight: torch.Tensor,
        qkv_bias: _Tensor,
        proj_weight: torch.Tensor,
        proj_bias: _Tensor,
        ln2_weight: _Tensor,
        ln2_bias: _Tensor,
        weight1: torch.Tensor,
        bias1: _Tensor,
        weight2: torch.Tensor,
        bias2: _Tensor,
        options: tuple[int, bool, str, float, float, float],
    ) -> torch.Tensor:
        n_head, causal, activation, a, eps1, eps2 = options
        batch, time, n_embd = x.shape
        rows = x.reshape(batch * time, n_embd)
        shape = (n_embd,)

        ln1_out, mean1, rstd1 = torch.native_layer_norm(
            rows, shape, ln1_weight, ln1_bias, eps1
        )
        qkv = F.linear(ln1_out, qkv_weight, qkv_bias)
        attended, attention = attention_forward(
            qkv.view(batch, time, 3 * n_embd), n_head, causal
        )
        attended = attended.reshape(batch * time, n_embd)
        if proj_bias is None:
            residual = torch.addmm(rows, attended, proj_weight.t())
        else:
            residual = F.linear(attended, proj_weight, proj_bias).add_(rows)

        ln2_out, mean2, rstd2 = torch.native_layer_norm(
            residual, shape, ln2_weight, ln2_bias, eps2
        )
        ffn_out, ffn = block_forward(
            ln2_out, weight1, bias1, weight2, bias2, activation, a
        )
        out = ffn_out.add_(residual)

        ctx.save_for_backward(
            rows, ln1_out, mean1, rstd1, attended, residual, mean2, rstd2,
            ffn.x, ffn.v, ffn.h, attention.heads, attention.p, attention.y,
            ln1_weight, ln1_bias, qkv_weight, proj_weight,
            ln2_weight, ln2_bias, weight1, weight2,
        )  # fmt: skip
        ctx.options = options
        ctx.scale = attention.scale
        ctx.shape = x.shape
        ctx.has_bias = (qkv_bias is not None, proj_bias is not None, bias1 is not None)
        return out.view(batch, time, n_embd)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[_Tensor, ...]:
        (
            rows, ln1_out, mean1, rstd1, attended, residual, mean2, rstd2,
            ffn_x, ffn_v, ffn_h, heads, p, y,
            ln1_weight, ln1_bias, qkv_weight, proj_weight,
            ln2_weight, ln2_bias, weight1, weight2,
        ) = ctx.saved_tensors  # fmt: skip
        _, _, activation, a, _, _ = ctx.options
        batch, time, n_embd = ctx.shape
        has_qkv_bias, has_proj_bias, has_ffn_bias = ctx.has_bias
        grad_z = grad_out.reshape(batch * time, n_embd)
        shape = (n_embd,)

        ffn = block_backward(
            grad_z,
            BlockCache(ffn_x, ffn_v, ffn_h),
            weight1,
            weight2,
            activation,
            a,
            need_input_grad=True,
            need_bias_grads=has_ffn_bias,
        )
        grad_u, grad_ln2_weight, grad_ln2_bias = (
            torch.ops.aten.native_layer_norm_backward(
                ffn.x,
                residual,
                shape,
                mean2,
                rstd2,
                ln2_weight,
                ln2_bias,
                [True, ln2_weight is not None, ln2_bias is not None],
            )
        )
        grad_u.add_(grad_z)  # the residual connection around the FFN

        grad_proj_weight = grad_u.t() @ attended
        grad_proj_bias = grad_u.sum(dim=0) if has_proj_bias else None
        grad_attended = (grad_u @ proj_weight).view(batch, time, n_embd)
        grad_qkv = attention_backward(
            grad_attended, AttentionCache(heads, p, y, ctx.scale)
        ).reshape(batch * time, 3 * n_embd)
        grad_qkv_weight = grad_qkv.t() @ ln1_out
        grad_qkv_bias = grad_qkv.sum(dim=0) if has_qkv_bias else None
        grad_x, grad_ln1_weight, grad_ln1_bias = (
            torch.ops.aten.native_layer_norm_backward(
                grad_qkv @ qkv_weight,
                rows,
                shape,
                mean1,
                rstd1,
                ln1_weight,
                ln1_bias,
                [True, ln1_weight is not None, ln1_bias is not None],
            )
        )
        grad_x.add_(grad_u)  # the residual connection around attention
        return (
            grad_x.view(batch, time, n_embd),
            grad_ln1_weight,
            grad_ln1_bias,
            grad_qkv_weight,
            grad_qkv_bias,
            grad_proj_weight,
            grad_proj_bias,
            grad_ln2_weight,
            grad_ln2_bias,
            ffn.weight1,
            ffn.bias1,
            ffn.weight2,
            ffn.bias2,
            None,
        )


def transformer_block(
    x: torch.Tensor,
    block: torch.nn.Module,
    causal: bool,
) -> torch.Tensor:
    r"""Apply ``block``, a ``model.Block`` with a ``FeedForward``, as one autograd node.

    Parameters
    ----------
    x : tensor of shape (batch, time, n_embd)
    block : nlpmlp.model.Block
        Its weights are used; dropout and padding masks are not supported.
    causal : bool
        Whether position $i$ attends only to positions $j \le i$.

    Returns
    -------
    tensor of shape (batch, time, n_embd)
    """
    ln1, attn, ln2, ffn = block.ln1, block.attn, block.ln2, block.ffn
    options = (attn.n_head, causal, ffn.activation, ffn.a, ln1.eps, ln2.eps)
    return _TransformerBlockFunction.apply(
        x,
        ln1.weight,
        ln1.bias,
        attn.qkv.weight,
        attn.qkv.bias,
        attn.proj.weight,
        attn.proj.bias,
        ln2.weight,
        ln2.bias,
        ffn.weight1,
        ffn.bias1,
        ffn.weight2,
        ffn.bias2,
        options,
    )
