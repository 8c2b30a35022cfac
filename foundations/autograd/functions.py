r"""Elementwise functions, softmax and cross-entropy on autograd tensors.

``sigmoid`` and ``gelu`` compute their results and derivatives with
``foundations.activations``, ``softmax`` and ``log_softmax`` with
``foundations.outputs``. Each backward function uses the derivative in
closed form, mostly written with the output $y$:

$$
\frac{d}{dv} e^v = y, \qquad \frac{d}{dv} \tanh v = 1 - y^2, \qquad
\frac{d}{dv} \sigma(v) = y (1 - y).
$$

The functions take ``Tensor`` arguments and are also ``Tensor`` methods
(``x.exp()`` is ``exp(x)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from foundations import activations, outputs

if TYPE_CHECKING:
    from foundations.autograd.tensor import Tensor

__all__ = [
    "cross_entropy",
    "exp",
    "gelu",
    "log",
    "log_softmax",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]


def exp(x: Tensor) -> Tensor:
    r"""Compute $e^x$ elementwise, whose derivative is $e^x$ itself."""
    y = np.exp(x.data)
    return x.from_op(y, (x,), lambda g: (g * y,), "exp")


def log(x: Tensor) -> Tensor:
    r"""Compute $\ln x$ elementwise, with derivative $1/x$.

    Raises
    ------
    ValueError
        If an entry of ``x`` is not positive, where $\ln x$ is not finite.
    """
    if not np.all(x.data > 0):
        raise ValueError(
            f"x must be positive for log, got minimum {np.min(x.data)!r} "
            f"in a tensor of shape {x.shape}"
        )
    data = x.data
    return x.from_op(np.log(data), (x,), lambda g: (g / data,), "log")


def tanh(x: Tensor) -> Tensor:
    r"""Compute $y = \tanh x$ elementwise, with derivative $1 - y^2$."""
    y = np.tanh(x.data)
    return x.from_op(y, (x,), lambda g: (g * (1.0 - y * y),), "tanh")


def sigmoid(x: Tensor) -> Tensor:
    r"""Compute the logistic $y = 1/(1 + e^{-x})$, with derivative $y(1 - y)$.

    This is ``foundations.activations.sigmoid`` with slope $a = 1$.
    """
    y = activations.sigmoid(x.data)
    return x.from_op(y, (x,), lambda g: (g * y * (1.0 - y),), "sigmoid")


def relu(x: Tensor) -> Tensor:
    r"""Compute $\max(0, x)$, whose derivative is 1 for $x > 0$ and 0 otherwise.

    The derivative at 0 is taken as 0, as in ``foundations.activations`` and
    torch.
    """
    data = x.data
    # np.maximum and not activations.relu: the same values without the
    # namespace lookup, which costs more than the operation on small arrays.
    y = np.maximum(data, 0.0)
    return x.from_op(y, (x,), lambda g: (g * (data > 0),), "relu")


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    r"""Compute GELU $x\,\Phi(x)$ with ``foundations.activations.gelu``.

    The backward function uses ``foundations.activations.gelu_derivative``,
    $\Phi(x) + x\,\phi(x)$, or its tanh form when
    ``approximate="tanh"``.
    """
    data = x.data
    y = activations.gelu(data, approximate)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g * activations.gelu_derivative(data, approximate),)

    return x.from_op(y, (x,), backward, "gelu")


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    r"""Compute $p_k = e^{x_k} / \sum_j e^{x_j}$ along ``axis``.

    The Jacobian is $\operatorname{diag}(p) - p p^\top$, so the
    backward function returns $p \odot (\bar p - p^\top \bar p)$.
    """
    p = outputs.softmax(x.data, axis=axis)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (p * (g - np.sum(g * p, axis=axis, keepdims=True)),)

    return x.from_op(p, (x,), backward, "softmax")


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    r"""Compute $\ln p_k = x_k - \ln \sum_j e^{x_j}$ along ``axis``.

    The Jacobian is $I - \mathbf{1} p^\top$, so the backward function
    returns $\bar z - p \sum_k \bar z_k$.
    """
    z = outputs.log_softmax(x.data, axis=axis)
    p = np.exp(z)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g - p * np.sum(g, axis=axis, keepdims=True),)

    return x.from_op(z, (x,), backward, "log_softmax")


def cross_entropy(logits: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    r"""Categorical cross-entropy of softmax outputs, from the logits.

    For one row with logits $z$, softmax output $p$ and desired response
    $d$ (a one-hot row when ``target`` contains class indices),

    $$
    E = -\sum_k d_k \ln p_k, \qquad
    \frac{\partial E}{\partial z_k} = \Big(\sum_j d_j\Big) p_k - d_k,
    $$

    which is $p_k - d_k$ when the row $d$ sums to one: the course's matched
    pair of softmax output and cross-entropy cost.

    Parameters
    ----------
    logits : Tensor of shape (batch, classes)
    target : array of shape (batch,) with integer class indices, or of shape
        (batch, classes) with probabilities
        A constant: no gradient flows to it.
    reduction : {"mean", "sum"}, default "mean"
        Average or sum over the rows.

    Raises
    ------
    ValueError
        If ``logits`` is empty, the shapes do not fit, a class index is out
        of range, a probability is outside $[0, 1]$ or NaN, or ``reduction``
        is unknown.
    """
    if logits.ndim != 2:
        raise ValueError(
            f"logits must have shape (batch, classes), got shape {logits.shape}"
        )
    if logits.size == 0:
        raise ValueError(f"logits must not be empty, got shape {logits.shape}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    d = _desired_response(logits, target)
    z = outputs.log_softmax(logits.data, axis=-1)
    p = np.exp(z)
    scale = 1.0 / logits.shape[0] if reduction == "mean" else 1.0
    loss = -np.sum(d * z) * scale

    # (sum_j d_j) p - d: a row of d need not sum to one, as in torch.
    gradient = np.sum(d, axis=-1, keepdims=True) * p - d

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (gradient * (g * scale),)

    return logits.from_op(np.asarray(loss), (logits,), backward, "cross_entropy")


def _desired_response(logits: Tensor, target: Any) -> np.ndarray:
    """Return the target as rows of probabilities, one-hot for class indices."""
    target = np.asarray(target.data if hasattr(target, "data") else target)
    batch, classes = logits.shape
    if np.issubdtype(target.dtype, np.integer):
        if target.shape != (batch,):
            raise ValueError(
                f"target of class indices must have shape ({batch},), "
                f"got {target.shape}"
            )
        if target.size and not (0 <= target.min() and target.max() < classes):
            raise ValueError(
                f"target class indices must lie in [0, {classes}), got "
                f"values from {target.min()} to {target.max()}"
            )
        return np.eye(classes, dtype=logits.dtype)[target]
    if target.shape == (batch,):
        raise ValueError(
            f"target of shape {target.shape} must contain integer class indices, "
            f"got dtype {target.dtype}"
        )
    if target.shape != logits.shape:
        raise ValueError(
            f"target of probabilities must have the shape of logits, "
            f"{logits.shape}, got {target.shape}"
        )
    target = target.astype(logits.dtype, copy=False)
    # NaN fails both comparisons, so it is caught as outside [0, 1].
    outside = ~((target >= 0) & (target <= 1))
    if np.any(outside):
        raise ValueError(
            f"target probabilities must lie in [0, 1], got {float(target[outside][0])}"
        )
    return target
