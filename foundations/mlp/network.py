r"""``MLP``: a stack of ``Dense`` layers trained by backpropagation."""

from __future__ import annotations

import itertools
import logging
import math
import numbers
from collections.abc import Sequence
from typing import Any

import array_api_compat
import numpy as np
from tqdm.auto import tqdm

from foundations._array import (
    Array,
    as_float_array,
    check_finite,
    check_not_empty,
    is_torch,
    namespace,
    to_float,
)
from foundations.activations import get_activation
from foundations.mlp import costs, init
from foundations.mlp.layer import Dense, bias_gradient, weight_gradient

__all__ = ["MLP"]

log = logging.getLogger(__name__)


class MLP:
    r"""Multilayer perceptron with the course's local-gradient backpropagation.

    Forward, layer $l$ computes $v^{(l)} = W^{(l)} y^{(l-1)} + b^{(l)}$
    and $y^{(l)} = \varphi(v^{(l)})$, with $y^{(0)} = x$ and the output
    function in place of $\varphi$ at the last layer. Backward, with
    $e = d - y$,

    $$
    \delta^{(L)} = -\frac{\partial E(n)}{\partial v^{(L)}}
    \;(= e \text{ for a matched output and cost}), \qquad
    \delta^{(l)}_j = \varphi'(v^{(l)}_j) \sum_k \delta^{(l+1)}_k w^{(l+1)}_{kj},
    $$

    and ``fit`` moves each weight by
    $\Delta w_{ji}(n) = \alpha\,\Delta w_{ji}(n-1) + \eta\,\delta_j y_i$.

    Parameters
    ----------
    layer_sizes : sequence of int
        Inputs, hidden layer widths and outputs, e.g. ``(2, 16, 16, 1)``.
    activation : str, default "tanh_sigmoid"
        Hidden activation, a name of ``foundations.activations.ACTIVATIONS``.
    output : {"identity", "sigmoid", "softmax"}, default "identity"
        Output function (``foundations.outputs``).
    loss : {"sum_squared_error", "binary_cross_entropy", "cross_entropy"}
        Cost $E(n)$ per pattern; see ``foundations.mlp.costs`` for the
        accepted pairs. Defaults to the one that matches ``output``.
    a : float, default 1.0
        Slope parameter of the sigmoid activations.
    seed : int, numpy.random.Generator or torch.Generator, default 0
        Source of the initial weights and of the shuffling in ``fit``.
    backend : {"numpy", "torch"}, optional
        Array type of the weights. Defaults to "torch" when ``seed`` is a
        ``torch.Generator`` and "numpy" otherwise.
    dtype, device : optional
        Of the weights. NumPy defaults to float64, torch to its default dtype
        on the CPU. Inputs are converted to the dtype of the weights, and
        torch inputs must be on their device.

    Attributes
    ----------
    layers : list of Dense
        Hidden layers, then the output layer. Each keeps ``v``, ``y`` and
        ``delta`` of the last pass.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> d = np.array([0.0, 1.0, 1.0, 0.0])
    >>> net = MLP((2, 4, 1), output="sigmoid", seed=0)
    >>> history = net.fit(X, d, epochs=500, eta=1.0, momentum=0.9, progress=False)
    >>> net.predict(X).tolist()
    [0, 1, 1, 0]
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "tanh_sigmoid",
        output: str = "identity",
        loss: str | None = None,
        a: float = 1.0,
        *,
        seed: Any = 0,
        backend: str | None = None,
        dtype: Any = None,
        device: Any = None,
    ) -> None:
        sizes = _check_layer_sizes(layer_sizes)
        get_activation(activation, a)  # checked even when there is no hidden layer
        self.loss_name = loss or _MATCHING_LOSS.get(output, "sum_squared_error")
        costs.check_pair(output, self.loss_name)
        self.output = output
        self.activation = activation
        if backend is None:
            backend = "torch" if init.is_torch_generator(seed) else "numpy"
        generator = init.make_generator(seed, backend)

        n_hidden = len(sizes) - 2
        functions = [activation] * n_hidden + [output]
        slopes = [a] * n_hidden + [1.0]  # the output function has no slope
        self.layers = [
            Dense(
                n_in,
                n_out,
                phi,
                slope,
                seed=generator,
                backend=backend,
                dtype=dtype,
                device=device,
            )
            for (n_in, n_out), phi, slope in zip(
                itertools.pairwise(sizes), functions, slopes, strict=True
            )
        ]
        # Shuffling uses NumPy on both backends; the indices move to the device.
        self._shuffle_rng = np.random.default_rng(_shuffle_seed(generator))

    def __repr__(self) -> str:
        sizes = [self.layers[0].n_in] + [layer.n_out for layer in self.layers]
        return (
            f"MLP({tuple(sizes)}, activation={self.activation!r}, "
            f"output={self.output!r}, loss={self.loss_name!r})"
        )

    @property
    def parameters(self) -> list[tuple[Array, Array]]:
        """The ``(weight, bias)`` of each layer, input layer first."""
        return [(layer.weight, layer.bias) for layer in self.layers]

    # --- Forward and backward -----------------------------------------------

    def forward(self, x: Array) -> Array:
        """Propagate a batch of shape (batch, n_in) and return the outputs."""
        y = x
        for layer in self.layers:
            y = layer.forward(y)
        return y

    def backward(self, d: Array) -> None:
        r"""Compute the local gradients $\delta$ of every layer for targets ``d``.

        Uses the ``v`` and ``y`` of the last ``forward``. Each layer keeps
        its ``delta``.
        """
        out = self.layers[-1]
        delta = costs.output_delta(self.output, self.loss_name, out.v, out.y, d)
        for i in reversed(range(len(self.layers))):
            signal = self.layers[i].backward(delta, need_signal=i > 0)
            if i > 0:  # signal_j = sum_k delta_k w_kj
                delta = self.layers[i - 1].local_gradient(signal)

    def loss(self, X: Array, D: Array) -> float:
        r"""Return the cost $E_\text{av}$ of the patterns ``X`` with targets ``D``."""
        X, D = self._check_data(X, D)
        self.forward(X)
        return to_float(self._cost(D))

    def gradients(self, X: Array, D: Array) -> list[tuple[Array, Array]]:
        r"""Return the gradients of $E_\text{av}$ for each layer's weights and biases.

        The course's local gradients are $\delta = -\partial E / \partial v$,
        so the gradient of a weight matrix is
        $-\frac{1}{N} \sum_n \delta(n)\, y(n)^\top$. This is the sign that
        torch autograd returns, for comparison.
        """
        X, D = self._check_data(X, D)
        self.forward(X)
        self.backward(D)
        n_patterns = X.shape[0]
        result = []
        for layer in self.layers:
            grad_weight = -weight_gradient(layer.delta, layer.x) / n_patterns
            grad_bias = -bias_gradient(layer.delta) / n_patterns
            result.append((grad_weight, grad_bias))
        return result

    def _cost(self, d: Array) -> Array:
        out = self.layers[-1]
        return costs.cost(self.output, self.loss_name, out.v, out.y, d)

    # --- Training -----------------------------------------------------------

    def train_step(self, X: Array, D: Array, eta: float, momentum: float = 0.0) -> None:
        """Run one forward pass, backward pass and weight update on a batch.

        ``X`` and ``D`` must already be checked and shaped, as ``fit`` does.
        """
        self.forward(X)
        self.backward(D)
        for layer in self.layers:
            layer.update(eta, momentum)

    def fit(
        self,
        X: Array,
        D: Array,
        epochs: int = 100,
        batch_size: int | None = None,
        eta: float = 0.1,
        momentum: float = 0.0,
        *,
        shuffle: bool = True,
        progress: bool = True,
    ) -> list[float]:
        r"""Train by backpropagation with momentum, the generalized delta rule.

        Each update is
        $\Delta w_{ji}(n) = \alpha\,\Delta w_{ji}(n-1) + \eta\,\frac{1}{B}
        \sum_{p} \delta_j(p)\, y_i(p)$ over the $B$ patterns of a batch.
        The course's list writes one step of the derivation as
        $w + \partial E / \partial w$. That is a slip: steepest descent
        subtracts the gradient, $w - \eta\,\partial E / \partial w$, which
        is $w + \eta\,\delta\, y^\top$ because $\delta$ is defined from
        $e = d - y$, the negative gradient.

        Parameters
        ----------
        X : array of shape (N, n_in)
        D : array of shape (N, n_out), or (N,)
            Desired responses. A 1-D ``D`` contains class indices for a softmax
            output and targets for a single output neuron. With a
            cross-entropy cost, targets lie in $[0, 1]$, and for softmax each
            row sums to one.
        epochs : int, default 100
            Passes over the data.
        batch_size : int or None
            None: batch learning, one update per epoch with all patterns.
            1: online (per-pattern) learning. k: minibatches of k patterns.
        eta : float, default 0.1
            Learning rate $\eta > 0$.
        momentum : float, default 0.0
            Momentum constant $\alpha \in [0, 1)$.
        shuffle : bool, default True
            Present the patterns in a new random order each epoch.
        progress : bool, default True
            Show a progress bar (it turns itself off when the output is not
            a terminal).

        Returns
        -------
        list of float
            $E_\text{av}$ of the training set after each epoch.

        Raises
        ------
        ValueError
            If the data or a hyperparameter is invalid (nothing is trained
            then), or the cost stops being finite during training.
        TypeError
            If ``eta`` or ``momentum`` is not a real number, or ``X`` is a
            torch tensor for NumPy weights (or the reverse).
        """
        X, D = self._check_data(X, D)
        batch_size, eta, momentum = _check_training(
            X.shape[0], epochs, batch_size, eta, momentum
        )
        for layer in self.layers:
            layer.weight_change = layer.bias_change = None
        history = []
        # disable=None: tqdm turns the bar off when the output is not a terminal.
        disable = None if progress else True
        bar = tqdm(range(epochs), desc="fit", unit="epoch", disable=disable)
        # NumPy overflow becomes inf or NaN, which _train_epoch turns into one
        # ValueError that names the epoch, so its warnings would only repeat it.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for epoch in bar:
                cost = self._train_epoch(
                    epoch, X, D, batch_size, eta, momentum, shuffle
                )
                history.append(cost)
                bar.set_postfix(loss=f"{cost:.4g}", refresh=False)
                log.debug("epoch %d: loss %.6g", epoch + 1, cost)
        return history

    def _train_epoch(
        self,
        epoch: int,
        X: Array,
        D: Array,
        batch_size: int,
        eta: float,
        momentum: float,
        shuffle: bool,
    ) -> float:
        """Train on every batch once and return the training cost afterwards."""
        try:
            for X_batch, D_batch in self._batches(X, D, batch_size, shuffle):
                self.train_step(X_batch, D_batch, eta, momentum)
            self.forward(X)
            cost = to_float(self._cost(D))
        except ValueError as error:
            # The output functions and losses reject non-finite fields with a
            # message that names their own argument, so report the divergence.
            if self._is_finite():
                raise
            raise _divergence(epoch, eta) from error
        if not math.isfinite(cost):
            raise _divergence(epoch, eta)
        return cost

    def _is_finite(self) -> bool:
        """Tell whether every weight, bias and field of the last pass is finite."""
        xp = namespace(self.layers[0].weight)
        for layer in self.layers:
            for array in (layer.weight, layer.bias, layer.v):
                if array is not None and not bool(xp.all(xp.isfinite(array))):
                    return False
        return True

    def _batches(self, X: Array, D: Array, batch_size: int, shuffle: bool):
        n_patterns = X.shape[0]
        if batch_size >= n_patterns:  # batch learning: the order does not matter
            yield X, D
            return
        xp = namespace(X)
        order = np.arange(n_patterns)
        if shuffle:
            order = self._shuffle_rng.permutation(n_patterns)
        order = xp.asarray(order, device=array_api_compat.device(X))
        for start in range(0, n_patterns, batch_size):
            rows = order[start : start + batch_size]
            yield xp.take(X, rows, axis=0), xp.take(D, rows, axis=0)

    # --- Prediction ---------------------------------------------------------

    def predict(self, X: Array) -> Array:
        """Predict classes (softmax, sigmoid outputs) or values (identity output).

        Softmax: the index of the largest output, shape (N,). Sigmoid: 1
        where the output is at least 0.5, shape (N,) for one output neuron
        and (N, n_out) otherwise. Identity: the outputs, shape (N, n_out).
        """
        y = self.forward(self._check_inputs(X))
        xp = namespace(y)
        if self.output == "softmax":
            return xp.argmax(y, axis=-1)
        if self.output == "sigmoid":
            labels = xp.astype(y >= 0.5, xp.int64)
            return labels[:, 0] if y.shape[1] == 1 else labels
        return y

    def predict_proba(self, X: Array) -> Array:
        """Return the class probabilities of a sigmoid or softmax output, (N, n_out).

        Raises
        ------
        ValueError
            If the output function is the identity.
        """
        if self.output == "identity":
            raise ValueError(
                "predict_proba needs a sigmoid or softmax output, got output "
                "'identity'; use predict for regression"
            )
        return self.forward(self._check_inputs(X))

    # --- Input checks -------------------------------------------------------

    def _check_inputs(self, X: Array) -> Array:
        xp = namespace(X)
        X = as_float_array(X, "X", xp)
        n_in = self.layers[0].n_in
        if X.ndim != 2 or X.shape[1] != n_in:
            raise ValueError(f"X must have shape (N, {n_in}), got {tuple(X.shape)}")
        check_not_empty(X, "X")
        check_finite(X, "X", xp)
        weight = self.layers[0].weight
        if is_torch(X) != is_torch(weight):
            raise TypeError(
                f"X must be a {type(weight).__name__} like the weights, got "
                f"{type(X).__name__}"
            )
        return xp.astype(X, weight.dtype)

    def _check_data(self, X: Array, D: Array) -> tuple[Array, Array]:
        X = self._check_inputs(X)
        xp = namespace(X)
        n_out = self.layers[-1].n_out
        D = xp.asarray(D, device=array_api_compat.device(X))
        if D.ndim == 1 and self.output == "softmax":
            if xp.isdtype(D.dtype, "real floating"):
                check_finite(D, "D", xp)  # before NaN reads as a fraction
            D = _one_hot(D, n_out, X.dtype, xp)
        elif D.ndim == 1 and n_out == 1:
            D = xp.reshape(D, (-1, 1))
        D = xp.astype(as_float_array(D, "D", xp), X.dtype)
        if tuple(D.shape) != (X.shape[0], n_out):
            raise ValueError(
                f"D must have shape ({X.shape[0]}, {n_out}) to match X, or "
                f"({X.shape[0]},) of class indices, got {tuple(D.shape)}"
            )
        check_finite(D, "D", xp)
        _check_targets(D, self.loss_name, xp)
        return X, D


def _divergence(epoch: int, eta: float) -> ValueError:
    return ValueError(
        f"fit diverged in epoch {epoch + 1}: the cost is not finite; use a "
        f"smaller eta than {eta:g} (the weights are left as they diverged)"
    )


_MATCHING_LOSS = {"sigmoid": "binary_cross_entropy", "softmax": "cross_entropy"}


def _check_targets(D: Array, loss: str, xp: Any) -> None:
    """Check that the cross-entropies get targets they are defined for.

    Their local gradient at the output, e = d - y, is the negative gradient
    of the cost only for targets in [0, 1] (binary) or on the simplex
    (categorical), so other targets would train on a wrong gradient.
    """
    if loss == "sum_squared_error":
        return
    outside = (D < 0) | (D > 1)
    if bool(xp.any(outside)):
        raise ValueError(
            f"D must contain values in [0, 1] for the {loss} loss, got "
            f"{to_float(D[outside][0])}"
        )
    if loss == "cross_entropy":
        sums = xp.sum(D, axis=1)
        off = xp.abs(sums - 1) > math.sqrt(xp.finfo(D.dtype).eps)
        if bool(xp.any(off)):
            raise ValueError(
                "D must contain rows that sum to one for the cross_entropy loss, "
                f"got a row that sums to {to_float(sums[off][0]):.6g}"
            )


def _one_hot(labels: Array, n_classes: int, dtype: Any, xp: Any) -> Array:
    if xp.isdtype(labels.dtype, "real floating") and not bool(
        xp.all(labels == xp.round(labels))
    ):
        raise ValueError("D of shape (N,) must contain class indices, got fractions")
    labels = xp.astype(labels, xp.int64)
    if bool(xp.any(labels < 0)) or bool(xp.any(labels >= n_classes)):
        raise ValueError(
            f"class indices in D must lie in [0, {n_classes}), got values from "
            f"{int(xp.min(labels))} to {int(xp.max(labels))}"
        )
    classes = xp.arange(n_classes, device=array_api_compat.device(labels))
    return xp.astype(labels[:, None] == classes, dtype)


def _check_layer_sizes(layer_sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(layer_sizes)
    if len(sizes) < 2 or not all(
        isinstance(n, (int, np.integer)) and n >= 1 for n in sizes
    ):
        raise ValueError(
            "layer_sizes must list at least two positive integers (inputs, ..., "
            f"outputs), got {layer_sizes!r}"
        )
    return sizes


def _check_training(
    n_patterns: int, epochs: int, batch_size: int | None, eta: float, momentum: float
) -> tuple[int, float, float]:
    """Check the options of ``fit`` and return the batch size, eta and momentum.

    eta and momentum come back as Python floats, because a NumPy float64
    would turn float32 weights into float64.
    """
    if not (_is_integer(epochs) and epochs >= 0):
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if batch_size is not None and not (_is_integer(batch_size) and batch_size >= 1):
        raise ValueError(
            f"batch_size must be None or a positive integer, got {batch_size!r}"
        )
    eta = _real_number(eta, "eta")
    if not (math.isfinite(eta) and eta > 0):
        raise ValueError(f"eta must be positive and finite, got {eta!r}")
    momentum = _real_number(momentum, "momentum")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
    return (n_patterns if batch_size is None else int(batch_size)), eta, momentum


def _is_integer(value: Any) -> bool:
    """Tell whether ``value`` is an integer (NumPy's included) but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _real_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def _shuffle_seed(generator: Any) -> int:
    """Derive the seed of the shuffling from the weight generator."""
    if isinstance(generator, np.random.Generator):
        return int(generator.integers(2**63))
    return int(generator.initial_seed())
