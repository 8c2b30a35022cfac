r"""One fully connected layer and the steps of backpropagation through it.

The four functions below are the only implementation of the layer-level
steps. ``Dense`` (and so ``MLP``) and the Transformer block functions
``block_forward`` / ``block_backward`` all call them:

- ``affine``: the induced local fields $v_j = \sum_i w_{ji} y_i + b_j$;
- ``local_gradient``: $\delta_j = \varphi'(v_j)\, s_j$ for an incoming
  signal $s_j$;
- ``back_propagate``: the signal of the layer below,
  $s_i = \sum_j \delta_j w_{ji}$;
- ``weight_gradient``: $\sum_n \delta(n)\, y(n)^\top$ over the patterns
  of a batch (the bias, a weight on the constant input $+1$, gets
  $\sum_n \delta(n)$).

The last three are linear in $\delta$, so they serve both sign
conventions: the course's $\delta = -\partial E / \partial v$ (``Dense``)
and the gradient $\partial E / \partial v$ of torch (``block_backward``).
"""

from __future__ import annotations

from typing import Any

from foundations import outputs
from foundations._array import Array, is_torch
from foundations.activations import Activation, get_activation
from foundations.mlp import init

__all__ = [
    "Dense",
    "activate",
    "affine",
    "back_propagate",
    "bias_gradient",
    "local_gradient",
    "weight_gradient",
]


def affine(x: Array, weight: Array, bias: Array | None) -> Array:
    r"""Compute the induced local fields $v = x W^\top + b$ of a batch.

    Parameters
    ----------
    x : array of shape (..., n_in)
        Inputs $y_i$ of the layer, one pattern per row.
    weight : array of shape (n_out, n_in)
        Synaptic weights $w_{ji}$.
    bias : array of shape (n_out,) or None

    Returns
    -------
    array of shape (..., n_out)
    """
    if is_torch(x):
        # torch's linear is one fused matmul-and-add kernel; the expression
        # below is the same computation.
        import torch.nn.functional as F

        return F.linear(x, weight, bias)
    # The @ operator and .T are NumPy's and torch's own, without the cost of
    # looking up an array namespace on every call.
    v = x @ weight.T
    return v if bias is None else v + bias


def local_gradient(signal: Array, v: Array, y: Array, phi: Activation) -> Array:
    r"""Compute the local gradients $\delta_j = \varphi'(v_j)\, s_j$.

    The signal $s_j$ is $e_j$ at an output neuron and
    $\sum_k \delta_k w_{kj}$ at a hidden one, so this is the course's

    $$
    \delta_j = e_j\, \varphi'(v_j)
    \quad\text{or}\quad
    \delta_j = \varphi'(v_j) \sum_k \delta_k w_{kj}.
    $$

    Parameters
    ----------
    signal : array of the shape of ``v``
    v : array
        Induced local fields of the layer.
    y : array of the shape of ``v``
        Outputs $\varphi(v)$, used where $\varphi'$ has a closed form in
        $y$ (the sigmoids and ReLU), so $\varphi$ is not evaluated again.
    phi : Activation
        The activation, from ``foundations.activations.get_activation``.
    """
    if is_torch(signal):
        delta = _fused_local_gradient(signal, v, y, phi)
        if delta is not None:
            return delta
    if phi.derivative_from_output is not None:
        return signal * phi.derivative_from_output(y)
    return signal * phi.derivative(v)


def activate(v: Array, phi: Activation) -> Array:
    r"""Compute the outputs $y_j = \varphi(v_j)$ of a layer.

    On torch tensors, GELU, ReLU and the two sigmoids use torch's single
    kernel for the same function. The element-wise formulas of
    ``foundations.activations`` take several passes over memory and slowed
    the Transformer's feed-forward layer. The tests compare both forms.
    """
    if is_torch(v):
        import torch
        import torch.nn.functional as F

        if phi.name in ("gelu", "gelu_tanh"):
            return F.gelu(v, approximate="tanh" if phi.name == "gelu_tanh" else "none")
        if phi.name == "relu":
            return torch.relu(v)
        if phi.name == "sigmoid":
            return torch.sigmoid(v if phi.slope == 1.0 else phi.slope * v)
        if phi.name == "tanh_sigmoid":
            return torch.tanh((0.5 * phi.slope) * v)
    return phi.function(v)


def _fused_local_gradient(
    signal: Array, v: Array, y: Array, phi: Activation
) -> Array | None:
    # torch's backward kernels of these activations evaluate the same closed
    # forms in one pass: gelu_backward is s * phi'(v), sigmoid_backward is
    # s * y (1 - y), tanh_backward is s * (1 - y^2) and threshold_backward
    # keeps s where y > 0. Returns None for the other activations.
    import torch

    aten = torch.ops.aten
    if phi.name in ("gelu", "gelu_tanh"):
        approximate = "tanh" if phi.name == "gelu_tanh" else "none"
        return aten.gelu_backward(signal, v, approximate=approximate)
    if phi.name == "relu":
        return aten.threshold_backward(signal, y, 0)
    if phi.name == "sigmoid":
        delta = aten.sigmoid_backward(signal, y)
        return delta if phi.slope == 1.0 else phi.slope * delta
    if phi.name == "tanh_sigmoid":
        return (0.5 * phi.slope) * aten.tanh_backward(signal, y)
    return None


def back_propagate(delta: Array, weight: Array) -> Array:
    r"""Send local gradients back through the weights: $s_i = \sum_j \delta_j w_{ji}$.

    Parameters
    ----------
    delta : array of shape (batch, n_out)
    weight : array of shape (n_out, n_in)

    Returns
    -------
    array of shape (batch, n_in)
        The signal for ``local_gradient`` of the layer below.
    """
    return delta @ weight


def weight_gradient(delta: Array, y: Array) -> Array:
    r"""Sum the outer products $\delta(n)\, y(n)^\top$ over the batch.

    Parameters
    ----------
    delta : array of shape (batch, n_out)
        Local gradients of the layer.
    y : array of shape (batch, n_in)
        Inputs of the layer.

    Returns
    -------
    array of shape (n_out, n_in)
        $\sum_n \delta(n)\, y(n)^\top$, the matrix product $\delta^\top y$
        of the batch.
    """
    return delta.T @ y


def bias_gradient(delta: Array) -> Array:
    r"""Sum the local gradients over the batch, $\sum_n \delta(n)$.

    The bias is a weight on a constant input $+1$, so this is
    ``weight_gradient`` with $y = 1$.
    """
    # ndarray.sum and Tensor.sum both take axis=, with no namespace lookup.
    return delta.sum(axis=0)


class Dense:
    r"""A fully connected layer $y = \varphi(W x + b)$ that keeps $v$, $y$ and $\delta$.

    Parameters
    ----------
    n_in, n_out : int
        Numbers of inputs and of neurons.
    activation : str, default "tanh_sigmoid"
        A name of ``foundations.activations.ACTIVATIONS`` or "softmax",
        which an output layer uses.
    a : float, default 1.0
        Slope parameter of "sigmoid" and "tanh_sigmoid".
    seed : int, numpy.random.Generator or torch.Generator, optional
        Source of the initial weights (see ``foundations.mlp.init``).
    backend : {"numpy", "torch"}, default "numpy"
    dtype, device : optional
        Of the weights. NumPy defaults to float64, torch to its default
        dtype on the CPU.

    Attributes
    ----------
    weight : array of shape (n_out, n_in)
    bias : array of shape (n_out,)
    x, v, y : arrays of shape (batch, n_in), (batch, n_out), (batch, n_out)
        Input, induced local fields and output of the last ``forward``.
    delta : array of shape (batch, n_out)
        Local gradients of the last ``backward``.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        activation: str = "tanh_sigmoid",
        a: float = 1.0,
        *,
        seed: Any = 0,
        backend: str = "numpy",
        dtype: Any = None,
        device: Any = None,
    ) -> None:
        self.activation = activation
        self.phi = _layer_activation(activation, a)
        self.weight, self.bias = init.initial_parameters(
            n_in, n_out, activation, a, seed, backend, dtype, device
        )
        # Delta w(n - 1) and Delta b(n - 1) of the momentum term.
        self.weight_change: Array | None = None
        self.bias_change: Array | None = None
        self.x = self.v = self.y = self.delta = None

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    def __repr__(self) -> str:
        return f"Dense({self.n_in}, {self.n_out}, activation={self.activation!r})"

    def forward(self, x: Array) -> Array:
        r"""Compute $v = W x + b$ and $y = \varphi(v)$ for a batch, and keep both.

        Raises
        ------
        TypeError
            If ``x`` is not an array of the weights' kind (NumPy or torch).
        ValueError
            If the last axis of ``x`` does not have ``n_in`` entries.
        """
        if not (hasattr(x, "shape") and is_torch(x) == is_torch(self.weight)):
            raise TypeError(
                f"x must be a {type(self.weight).__name__} like the weights, got "
                f"{type(x).__name__}"
            )
        if x.shape[-1] != self.n_in:
            raise ValueError(
                f"x must have {self.n_in} entries on its last axis, got shape "
                f"{tuple(x.shape)}"
            )
        self.x = x
        self.v = affine(x, self.weight, self.bias)
        self.y = activate(self.v, self.phi)
        return self.y

    def local_gradient(self, signal: Array) -> Array:
        r"""Return $\delta = \varphi'(v) \odot s$ for the ``v`` of the last ``forward``.

        For softmax, whose Jacobian $J$ is not diagonal, this is $J s$
        (with $J$ symmetric, also $J^\top s$).
        """
        if self.activation == "softmax":
            return outputs.softmax_jvp(self.v, signal)
        return local_gradient(signal, self.v, self.y, self.phi)

    def backward(self, delta: Array, need_signal: bool = True) -> Array | None:
        r"""Keep the local gradients and return the signal of the layer below.

        Parameters
        ----------
        delta : array of shape (batch, n_out)
            Local gradients $\delta_j$ of this layer.
        need_signal : bool, default True
            Skip $\sum_j \delta_j w_{ji}$ (return None) for the first layer,
            whose inputs are the data.
        """
        self.delta = delta
        return back_propagate(delta, self.weight) if need_signal else None

    def update(self, eta: float, momentum: float = 0.0) -> None:
        r"""Apply the generalized delta rule with the kept ``delta`` and ``x``.

        $$
        \Delta w_{ji}(n) = \alpha\, \Delta w_{ji}(n-1)
        + \eta\, \frac{1}{N} \sum_{p=1}^{N} \delta_j(p)\, y_i(p),
        \qquad w_{ji}(n+1) = w_{ji}(n) + \Delta w_{ji}(n),
        $$

        with $\alpha$ the momentum and $N$ the patterns of the batch.
        Because $\delta = -\partial E / \partial v$, adding
        $\eta\, \delta\, y^\top$ is a step of steepest descent.

        Raises
        ------
        RuntimeError
            If no ``backward`` has run since the layer was made.
        """
        if self.delta is None:
            raise RuntimeError("update needs the delta of a backward pass, got none")
        rate = eta / self.delta.shape[0]  # eta / N: the batch average
        weight_change = rate * weight_gradient(self.delta, self.x)
        bias_change = rate * bias_gradient(self.delta)
        if momentum and self.weight_change is not None:
            weight_change = weight_change + momentum * self.weight_change
            bias_change = bias_change + momentum * self.bias_change
        self.weight = self.weight + weight_change
        self.bias = self.bias + bias_change
        self.weight_change, self.bias_change = weight_change, bias_change


def _layer_activation(name: str, a: float) -> Activation:
    """Return the activation of a layer, softmax included."""
    if name == "softmax":
        return Activation("softmax", outputs.softmax, _no_elementwise_derivative)
    return get_activation(name, a)


def _no_elementwise_derivative(v: Array) -> Array:
    raise ValueError(
        "softmax has no elementwise derivative, use Dense.local_gradient, "
        f"got v of shape {tuple(v.shape)}"
    )
