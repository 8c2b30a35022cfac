r"""The position-wise feed-forward sublayer, built on ``foundations.mlp``.

$$
\mathrm{FFN}(x) = W_2\,\varphi(W_1 x + b_1) + b_2
$$

``FeedForward`` runs ``foundations.mlp.block_forward`` in its forward pass
and ``foundations.mlp.block_backward`` (the course's local-gradient rule) in
its backward pass, inside a ``torch.autograd.Function``: autograd never
traces the forward computation. ``ReferenceFeedForward`` is the same
computation with ``nn.Linear`` and torch's activations, for comparison.

Both are registered in ``FEED_FORWARDS``, with the gated variant
``nlpmlp.glu.GatedFeedForward`` (``"glu"``). Another variant plugs into the
model by adding a class with the same constructor and ``init_weights``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from foundations.activations import ACTIVATIONS
from foundations.mlp import BlockCache, block_backward, block_forward
from nlpmlp.glu import GatedFeedForward

__all__ = [
    "FEED_FORWARDS",
    "FFN_ACTIVATIONS",
    "FeedForward",
    "ReferenceFeedForward",
    "feed_forward",
    "make_feed_forward",
]

FFN_ACTIVATIONS = ("gelu", "gelu_tanh", "relu", "sigmoid", "tanh_sigmoid")


class _BlockFunction(torch.autograd.Function):
    """Autograd node whose backward is ``block_backward``, not autograd's."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight1: torch.Tensor,
        bias1: torch.Tensor | None,
        weight2: torch.Tensor,
        bias2: torch.Tensor | None,
        activation: str,
        a: float,
    ) -> torch.Tensor:
        y, cache = block_forward(x, weight1, bias1, weight2, bias2, activation, a)
        ctx.save_for_backward(cache.x, cache.v, cache.h, weight1, weight2)
        ctx.activation = activation
        ctx.a = a
        ctx.has_bias = bias1 is not None
        return y

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, v, h, weight1, weight2 = ctx.saved_tensors
        grads = block_backward(
            grad_y,
            BlockCache(x, v, h),
            weight1,
            weight2,
            ctx.activation,
            ctx.a,
            need_input_grad=ctx.needs_input_grad[0],
            need_bias_grads=ctx.has_bias,
        )
        return (
            grads.x,
            grads.weight1,
            grads.bias1,
            grads.weight2,
            grads.bias2,
            None,
            None,
        )


def feed_forward(
    x: torch.Tensor,
    weight1: torch.Tensor,
    bias1: torch.Tensor | None,
    weight2: torch.Tensor,
    bias2: torch.Tensor | None,
    activation: str = "gelu",
    a: float = 1.0,
) -> torch.Tensor:
    r"""Apply $W_2\,\varphi(W_1 x + b_1) + b_2$ with the course's backward pass.

    Parameters
    ----------
    x : tensor of shape (..., n_embd)
    weight1 : tensor of shape (n_hidden, n_embd)
    bias1 : tensor of shape (n_hidden,) or None
    weight2 : tensor of shape (n_embd, n_hidden)
    bias2 : tensor of shape (n_embd,) or None
    activation : str
        One of ``FFN_ACTIVATIONS``.
    a : float
        Slope parameter of "sigmoid" and "tanh_sigmoid".

    Returns
    -------
    tensor of the shape of ``x``
    """
    return _BlockFunction.apply(x, weight1, bias1, weight2, bias2, activation, a)


class FeedForward(nn.Module):
    """Feed-forward sublayer whose backward is ``foundations.mlp.block_backward``.

    Parameters
    ----------
    n_embd : int
        Width of the input and output.
    n_hidden : int
        Number of hidden units.
    activation : str, default "gelu"
        One of ``FFN_ACTIVATIONS``.
    bias : bool, default True
        Whether both layers have biases.
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
        _check_activation(activation)
        self.activation = activation
        self.a = a
        self.weight1 = nn.Parameter(torch.empty(n_hidden, n_embd))
        self.bias1 = nn.Parameter(torch.zeros(n_hidden)) if bias else None
        self.weight2 = nn.Parameter(torch.empty(n_embd, n_hidden))
        self.bias2 = nn.Parameter(torch.zeros(n_embd)) if bias else None
        self.init_weights(1.0 / math.sqrt(n_embd), 1.0 / math.sqrt(n_hidden))

    def init_weights(self, std: float, output_std: float) -> None:
        """Draw both weight matrices from normal distributions; zero the biases."""
        nn.init.normal_(self.weight1, std=std)
        nn.init.normal_(self.weight2, std=output_std)
        for bias in (self.bias1, self.bias2):
            if bias is not None:
                nn.init.zeros_(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return feed_forward(
            x,
            self.weight1,
            self.bias1,
            self.weight2,
            self.bias2,
            self.activation,
            self.a,
        )

    def extra_repr(self) -> str:
        n_hidden, n_embd = self.weight1.shape
        return f"{n_embd} -> {n_hidden} -> {n_embd}, activation={self.activation}"


class ReferenceFeedForward(nn.Module):
    """The same sublayer built from ``nn.Linear`` and torch's activations.

    Parameters and initialisation are those of ``FeedForward``, drawn in the
    same order, so both modules start equal under the same seed.
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
        self.phi = torch_activation(activation, a)
        self.activation = activation
        # skip_init draws nothing, so the seeded draws below match FeedForward's.
        self.fc1 = nn.utils.skip_init(nn.Linear, n_embd, n_hidden, bias=bias)
        self.fc2 = nn.utils.skip_init(nn.Linear, n_hidden, n_embd, bias=bias)
        self.init_weights(1.0 / math.sqrt(n_embd), 1.0 / math.sqrt(n_hidden))

    def init_weights(self, std: float, output_std: float) -> None:
        """Draw both weight matrices from normal distributions; zero the biases."""
        nn.init.normal_(self.fc1.weight, std=std)
        nn.init.normal_(self.fc2.weight, std=output_std)
        for layer in (self.fc1, self.fc2):
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.phi(self.fc1(x)))


def torch_activation(
    name: str, a: float = 1.0
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return torch's implementation of the activation ``name``."""
    _check_activation(name)
    functions: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "gelu": F.gelu,
        "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"),
        "relu": F.relu,
        "sigmoid": lambda v: torch.sigmoid(a * v),
        "tanh_sigmoid": lambda v: torch.tanh(0.5 * a * v),
    }
    return functions[name]


FEED_FORWARDS: dict[str, type[nn.Module]] = {
    "foundations": FeedForward,
    "reference": ReferenceFeedForward,
    "glu": GatedFeedForward,
}


def make_feed_forward(
    kind: str, n_embd: int, ffn_mult: float, activation: str, bias: bool = True
) -> nn.Module | None:
    """Build the feed-forward sublayer of kind ``kind``, or None when ``ffn_mult`` is 0.

    The hidden width is ``round(ffn_mult * n_embd)``.

    Raises
    ------
    ValueError
        If ``kind`` or ``activation`` is unknown, or ``ffn_mult`` negative.
    """
    if kind not in FEED_FORWARDS:
        raise ValueError(f"ffn must be one of {sorted(FEED_FORWARDS)}, got {kind!r}")
    if ffn_mult < 0:
        raise ValueError(f"ffn_mult must be >= 0, got {ffn_mult}")
    n_hidden = round(ffn_mult * n_embd)
    if n_hidden == 0:
        return None
    return FEED_FORWARDS[kind](n_embd, n_hidden, activation, bias)


def _check_activation(name: str) -> None:
    if name not in FFN_ACTIVATIONS or name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {FFN_ACTIVATIONS}, got {name!r}")
