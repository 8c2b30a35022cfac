r"""The gated feed-forward sublayer (GLU variant), with a derived backward pass.

$$
\mathrm{FFN}_\text{GLU}(x)
= W_2\,\bigl(\varphi(W_1 x + b_1) \odot (W_3 x + b_3)\bigr) + b_2
$$

With $\varphi$ the logistic sigmoid this is the gated linear unit (GLU),
and with GELU or ReLU it is called GEGLU or ReGLU. It has three weight
matrices, so at the same hidden width it has 1.5 times the parameters of
``FeedForward``.

The forward and backward passes are written with the layer steps of
``foundations.mlp.layer`` (``affine``, ``local_gradient``,
``back_propagate``, ``weight_gradient``) inside a ``torch.autograd.Function``,
as ``nlpmlp.ffn.FeedForward`` does with ``block_backward``. With
$h = \varphi(v)$, $v = W_1 x + b_1$, the linear branch $u = W_3 x + b_3$,
$z = h \odot u$ and the incoming gradient $\delta^{(2)} = \partial E/\partial y$,
the chain rule gives

$$
\frac{\partial E}{\partial W_2} = \delta^{(2)\top} z, \qquad
s = \delta^{(2)} W_2 = \frac{\partial E}{\partial z}, \qquad
\delta^{(1)} = \varphi'(v) \odot s \odot u, \qquad
\delta^{(3)} = s \odot h,
$$

$$
\frac{\partial E}{\partial W_1} = \delta^{(1)\top} x, \qquad
\frac{\partial E}{\partial W_3} = \delta^{(3)\top} x, \qquad
\frac{\partial E}{\partial x} = \delta^{(1)} W_1 + \delta^{(3)} W_3 .
$$

The linear branch is a layer with $\varphi' = 1$, so its local gradient
$\delta^{(3)}$ is its incoming signal $s \odot h$. Each bias gradient is the
sum of its layer's local gradients over the batch.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import nn

from foundations.activations import get_activation
from foundations.mlp.layer import (
    affine,
    back_propagate,
    local_gradient,
    weight_gradient,
)

__all__ = [
    "GatedCache",
    "GatedFeedForward",
    "GatedGradients",
    "gated_backward",
    "gated_forward",
]


class GatedCache(NamedTuple):
    r"""Arrays that ``gated_forward`` keeps for ``gated_backward``.

    ``x`` is the input, ``v`` the activated branch's local fields, ``h``
    its outputs $\varphi(v)$ and ``u`` the linear branch, each with the
    batch axes of the input.
    """

    x: torch.Tensor
    v: torch.Tensor
    h: torch.Tensor
    u: torch.Tensor


class GatedGradients(NamedTuple):
    """Gradients of the loss with respect to the input and every parameter."""

    x: torch.Tensor | None
    weight1: torch.Tensor
    bias1: torch.Tensor | None
    weight3: torch.Tensor
    bias3: torch.Tensor | None
    weight2: torch.Tensor
    bias2: torch.Tensor | None


def gated_forward(
    x: torch.Tensor,
    weights: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    biases: tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None],
    activation: str = "gelu",
    a: float = 1.0,
) -> tuple[torch.Tensor, GatedCache]:
    r"""Compute $W_2\,(\varphi(W_1 x + b_1) \odot (W_3 x + b_3)) + b_2$.

    Parameters
    ----------
    x : tensor of shape (..., n_embd)
    weights : (weight1, weight3, weight2)
        Shapes (n_hidden, n_embd), (n_hidden, n_embd) and (n_embd, n_hidden).
    biases : (bias1, bias3, bias2)
        Shapes (n_hidden,), (n_hidden,) and (n_embd,), each one or None.
    activation : str, default "gelu"
        $\varphi$, a name of ``foundations.activations.ACTIVATIONS``.
    a : float, default 1.0
        Slope parameter of "sigmoid" and "tanh_sigmoid".

    Returns
    -------
    y : tensor of the shape of ``x``
    cache : GatedCache
        What ``gated_backward`` needs.

    Raises
    ------
    ValueError
        If the shapes of ``x``, the weights and the biases do not fit together.
    """
    _check_shapes(x, weights, biases)
    weight1, weight3, weight2 = weights
    bias1, bias3, bias2 = biases
    phi = get_activation(activation, a)
    v = affine(x, weight1, bias1)
    h = phi.function(v)
    u = affine(x, weight3, bias3)
    y = affine(h * u, weight2, bias2)
    return y, GatedCache(x, v, h, u)


def gated_backward(
    grad_y: torch.Tensor,
    cache: GatedCache,
    weights: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    activation: str = "gelu",
    a: float = 1.0,
    need_input_grad: bool = True,
    need_bias_grads: bool = True,
) -> GatedGradients:
    r"""Back-propagate through the gated block with the local-gradient rule.

    See the module docstring for the formulas. ``weights`` is
    ``(weight1, weight3, weight2)`` as given to ``gated_forward``. The
    gradients that ``need_input_grad`` and ``need_bias_grads`` turn off are
    returned as None.
    """
    weight1, weight3, weight2 = weights
    phi = get_activation(activation, a)
    n_hidden, n_embd = weight1.shape
    delta2 = grad_y.reshape(-1, grad_y.shape[-1])  # (rows, n_embd)
    x = cache.x.reshape(-1, n_embd)  # (rows, n_embd)
    v, h, u = (t.reshape(-1, n_hidden) for t in (cache.v, cache.h, cache.u))

    grad_weight2 = weight_gradient(delta2, h * u)
    s = back_propagate(delta2, weight2)  # dE/dz, (rows, n_hidden)
    delta1 = local_gradient(s * u, v, h, phi)
    delta3 = s * h  # the linear branch has phi' = 1
    grad_weight1 = weight_gradient(delta1, x)
    grad_weight3 = weight_gradient(delta3, x)

    grad_x = None
    if need_input_grad:
        grad_x = back_propagate(delta1, weight1) + back_propagate(delta3, weight3)
        grad_x = grad_x.reshape(cache.x.shape)
    sums = [d.sum(dim=0) if need_bias_grads else None for d in (delta1, delta3, delta2)]
    return GatedGradients(
        grad_x, grad_weight1, sums[0], grad_weight3, sums[1], grad_weight2, sums[2]
    )


def _check_shapes(
    x: torch.Tensor,
    weights: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    biases: tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None],
) -> None:
    if weights[0].ndim != 2:
        raise ValueError(
            f"weight1 must be a matrix, got shape {tuple(weights[0].shape)}"
        )
    n_hidden, n_embd = weights[0].shape
    expected = {
        "weight1": (n_hidden, n_embd),
        "weight3": (n_hidden, n_embd),
        "weight2": (n_embd, n_hidden),
    }
    for (name, shape), weight in zip(expected.items(), weights, strict=True):
        if tuple(weight.shape) != shape:
            raise ValueError(
                f"{name} must have shape {shape} to match weight1, "
                f"got {tuple(weight.shape)}"
            )
    for name, bias, n in zip(
        ("bias1", "bias3", "bias2"), biases, (n_hidden, n_hidden, n_embd), strict=True
    ):
        if bias is not None and tuple(bias.shape) != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {tuple(bias.shape)}")
    if x.ndim == 0 or x.shape[-1] != n_embd:
        raise ValueError(
            f"x must have {n_embd} entries on its last axis to match weight1 of "
            f"shape {(n_hidden, n_embd)}, got shape {tuple(x.shape)}"
        )


class _GatedFunction(torch.autograd.Function):
    """Autograd node whose backward is ``gated_backward``, not autograd's."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight1: torch.Tensor,
        bias1: torch.Tensor | None,
        weight3: torch.Tensor,
        bias3: torch.Tensor | None,
        weight2: torch.Tensor,
        bias2: torch.Tensor | None,
        activation: str,
        a: float,
    ) -> torch.Tensor:
        weights = (weight1, weight3, weight2)
        y, cache = gated_forward(x, weights, (bias1, bias3, bias2), activation, a)
        ctx.save_for_backward(*cache, *weights)
        ctx.activation = activation
        ctx.a = a
        ctx.has_bias = bias1 is not None
        return y

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, v, h, u, weight1, weight3, weight2 = ctx.saved_tensors
        grads = gated_backward(
            grad_y,
            GatedCache(x, v, h, u),
            (weight1, weight3, weight2),
            ctx.activation,
            ctx.a,
            need_input_grad=ctx.needs_input_grad[0],
            need_bias_grads=ctx.has_bias,
        )
        return (*grads, None, None)


class GatedFeedForward(nn.Module):
    r"""Gated feed-forward sublayer $W_2\,(\varphi(W_1 x) \odot W_3 x)$ with biases.

    The constructor and ``init_weights`` match ``nlpmlp.ffn.FeedForward``,
    so the model builds either from ``FEED_FORWARDS``.

    Parameters
    ----------
    n_embd : int
        Width of the input and output.
    n_hidden : int
        Number of hidden units, the width of both $W_1 x$ and $W_3 x$.
    activation : str, default "gelu"
        $\varphi$ of the activated branch.
    bias : bool, default True
        Whether the three layers have biases.
    a : float, default 1.0
        Slope parameter of "sigmoid" and "tanh_sigmoid".
    """

    def __init__(
        self,
        n_embd: int,
        n_hidden: int,
        activation: str = "gelu",
        bias: bool = True,
        a: float = 1.0,
    ) -> None:
        super().__init__()
        get_activation(activation, a)  # raises ValueError for an unknown name
        self.activation = activation
        self.a = a
        self.weight1 = nn.Parameter(torch.empty(n_hidden, n_embd))
        self.bias1 = nn.Parameter(torch.zeros(n_hidden)) if bias else None
        self.weight3 = nn.Parameter(torch.empty(n_hidden, n_embd))
        self.bias3 = nn.Parameter(torch.zeros(n_hidden)) if bias else None
        self.weight2 = nn.Parameter(torch.empty(n_embd, n_hidden))
        self.bias2 = nn.Parameter(torch.zeros(n_embd)) if bias else None
        self.init_weights(1.0 / math.sqrt(n_embd), 1.0 / math.sqrt(n_hidden))

    def init_weights(self, std: float, output_std: float) -> None:
        """Draw the weights from normal distributions and zero the biases."""
        nn.init.normal_(self.weight1, std=std)
        nn.init.normal_(self.weight3, std=std)
        nn.init.normal_(self.weight2, std=output_std)
        for bias in (self.bias1, self.bias3, self.bias2):
            if bias is not None:
                nn.init.zeros_(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _GatedFunction.apply(
            x,
            self.weight1,
            self.bias1,
            self.weight3,
            self.bias3,
            self.weight2,
            self.bias2,
            self.activation,
            self.a,
        )

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        r"""Return the hidden vector $\varphi(W_1 x + b_1) \odot (W_3 x + b_3)$."""
        weights = (self.weight1, self.weight3, self.weight2)
        _, cache = gated_forward(
            x, weights, (self.bias1, self.bias3, self.bias2), self.activation, self.a
        )
        return cache.h * cache.u

    def extra_repr(self) -> str:
        n_hidden, n_embd = self.weight1.shape
        return (
            f"{n_embd} -> 2 x {n_hidden} -> {n_embd}, gated, "
            f"activation={self.activation}"
        )
