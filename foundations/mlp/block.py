r"""Pure forward and backward functions of a dense-activation-dense block.

The block $W_2\,\varphi(W_1 x + b_1) + b_2$ is the position-wise
feed-forward sublayer of a Transformer. Its backward pass applies the
layer steps of ``foundations.mlp.layer`` with the gradient sign of torch,
$\delta = \partial E / \partial v$.

Weights use the layout of ``torch.nn.Linear``: a layer from ``n_in`` to
``n_out`` units has ``weight`` of shape ``(n_out, n_in)``, so a batch of row
vectors ``x`` of shape ``(batch, n_in)`` maps to ``x @ weight.T + bias``.
"""

from __future__ import annotations

from typing import NamedTuple

from foundations._array import Array, namespace
from foundations.activations import get_activation
from foundations.mlp.layer import (
    activate,
    affine,
    back_propagate,
    local_gradient,
    weight_gradient,
)

__all__ = ["BlockCache", "BlockGradients", "block_backward", "block_forward"]


class BlockCache(NamedTuple):
    r"""Arrays that the forward pass of a block keeps for its backward pass.

    ``x`` is the input $y^{(0)}$, ``v`` the hidden induced local fields
    $v^{(1)}$ and ``h`` the hidden outputs $y^{(1)} = \varphi(v^{(1)})$,
    each with the batch axes of the input.
    """

    x: Array
    v: Array
    h: Array


class BlockGradients(NamedTuple):
    """Gradients of the loss with respect to a block's input and parameters."""

    x: Array | None
    weight1: Array
    bias1: Array | None
    weight2: Array
    bias2: Array | None


def block_forward(
    x: Array,
    weight1: Array,
    bias1: Array | None,
    weight2: Array,
    bias2: Array | None,
    activation: str = "gelu",
    a: float = 1.0,
) -> tuple[Array, BlockCache]:
    r"""Compute a dense-activation-dense block $W_2\,\varphi(W_1 x + b_1) + b_2$.

    This is one hidden layer followed by a linear output layer, the
    position-wise feed-forward sublayer of a Transformer.

    Parameters
    ----------
    x : array of shape (..., n_in)
        Input rows; leading axes are batch axes.
    weight1 : array of shape (n_hidden, n_in)
        Hidden-layer weights $w_{ji}$.
    bias1 : array of shape (n_hidden,) or None
    weight2 : array of shape (n_out, n_hidden)
        Output-layer weights $w_{kj}$.
    bias2 : array of shape (n_out,) or None
    activation : str, default "gelu"
        Hidden activation $\varphi$, a name of
        ``foundations.activations.ACTIVATIONS``.
    a : float, default 1.0
        Slope parameter of the sigmoid activations.

    Returns
    -------
    y : array of shape (..., n_out)
        Block output.
    cache : BlockCache
        Input, hidden local fields and hidden outputs, for ``block_backward``.

    Raises
    ------
    ValueError
        If the shapes of ``x``, the weights and the biases do not fit
        together.
    """
    _check_block_shapes(x, weight1, bias1, weight2, bias2)
    phi = get_activation(activation, a)
    v = affine(x, weight1, bias1)
    h = activate(v, phi)
    y = affine(h, weight2, bias2)
    return y, BlockCache(x, v, h)


def block_backward(
    grad_y: Array,
    cache: BlockCache,
    weight1: Array,
    weight2: Array,
    activation: str = "gelu",
    a: float = 1.0,
    need_input_grad: bool = True,
    need_bias_grads: bool = True,
) -> BlockGradients:
    r"""Back-propagate through a block with the local-gradient rule.

    The output layer of the block is linear ($\varphi' = 1$), so its
    local gradients are the incoming gradient itself,
    $\delta^{(2)} = \partial E / \partial y$. Then

    $$
    \frac{\partial E}{\partial W_2} = \delta^{(2)\top} y^{(1)}, \qquad
    \delta^{(1)}_j = \varphi'(v^{(1)}_j) \sum_k \delta^{(2)}_k w_{kj}, \qquad
    \frac{\partial E}{\partial W_1} = \delta^{(1)\top} x, \qquad
    \frac{\partial E}{\partial x} = \delta^{(1)} W_1,
    $$

    with bias gradients the sums of the local gradients over the batch.

    Parameters
    ----------
    grad_y : array of shape (..., n_out)
        $\partial E / \partial y$, the gradient of the loss with respect
        to the block output.
    cache : BlockCache
        What ``block_forward`` returned.
    weight1, weight2 : arrays
        The weights given to ``block_forward``.
    activation, a
        As given to ``block_forward``.
    need_input_grad, need_bias_grads : bool
        Skip the input or bias gradients (returned as ``None``) when the
        caller does not use them.

    Returns
    -------
    BlockGradients
        Gradients with respect to ``x`` and every parameter, in the shapes of
        those arrays.
    """
    phi = get_activation(activation, a)
    xp = namespace(grad_y, weight1, weight2)
    n_out = grad_y.shape[-1]
    delta2 = xp.reshape(grad_y, (-1, n_out))  # (rows, n_out)
    h = xp.reshape(cache.h, (-1, cache.h.shape[-1]))  # (rows, n_hidden)
    x = xp.reshape(cache.x, (-1, cache.x.shape[-1]))  # (rows, n_in)

    grad_weight2 = weight_gradient(delta2, h)
    grad_h = back_propagate(delta2, weight2)  # sum_k delta_k w_kj
    v = xp.reshape(cache.v, h.shape)
    delta1 = local_gradient(grad_h, v, h, phi)
    grad_weight1 = weight_gradient(delta1, x)

    grad_x = None
    if need_input_grad:
        grad_x = xp.reshape(back_propagate(delta1, weight1), cache.x.shape)
    grad_bias1 = xp.sum(delta1, axis=0) if need_bias_grads else None
    grad_bias2 = xp.sum(delta2, axis=0) if need_bias_grads else None
    return BlockGradients(grad_x, grad_weight1, grad_bias1, grad_weight2, grad_bias2)


def _check_block_shapes(
    x: Array, weight1: Array, bias1: Array | None, weight2: Array, bias2: Array | None
) -> None:
    """Check that the shapes of the block's arrays fit together."""
    if weight1.ndim != 2 or weight2.ndim != 2:
        raise ValueError(
            "weight1 and weight2 must be matrices, got shapes "
            f"{tuple(weight1.shape)} and {tuple(weight2.shape)}"
        )
    n_hidden, n_in = weight1.shape
    if x.ndim == 0 or x.shape[-1] != n_in:
        raise ValueError(
            f"x must have {n_in} entries on its last axis to match weight1 of "
            f"shape {tuple(weight1.shape)}, got shape {tuple(x.shape)}"
        )
    if weight2.shape[1] != n_hidden:
        raise ValueError(
            f"weight2 must have {n_hidden} columns to match weight1 of shape "
            f"{tuple(weight1.shape)}, got shape {tuple(weight2.shape)}"
        )
    for name, bias, n in (
        ("bias1", bias1, n_hidden),
        ("bias2", bias2, weight2.shape[0]),
    ):
        if bias is not None and tuple(bias.shape) != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {tuple(bias.shape)}")
