r"""Cost functions of the course, each with its gradient.

Each output function of the course has its matching cost:

- sigmoid output, two classes: ``binary_cross_entropy`` on probabilities, or
  ``binary_cross_entropy_with_logits`` on the logits;
- softmax output, several classes: ``cross_entropy``;
- identity output, regression: ``mean_squared_error``, or the course's
  $E = \frac{1}{2} \sum_j e_j^2$ as ``sum_squared_error``.

Values follow ``torch.nn.functional`` (same arguments, same reductions, same
label smoothing and ``ignore_index``). Every function takes NumPy arrays or
torch tensors, returns the type and dtype of its first argument, and keeps
torch autograd working. The ``*_gradient`` functions give the derivative of the
cost with respect to its first argument in closed form. For
``reduction="none"`` they return the derivative of the sum of the
unreduced losses, which is each element's own gradient.

Composed with its output function, each cross-entropy has the gradient
$p - y$ with respect to the logits, which is why these pairs go together.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, NamedTuple

import array_api_compat
import numpy as np

from foundations._array import (
    Array,
    as_float_array,
    check_finite,
    check_not_empty,
    namespace,
    to_float,
)
from foundations.outputs import log_softmax, sigmoid, softmax

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_gradient",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_gradient",
    "cross_entropy",
    "cross_entropy_gradient",
    "mean_squared_error",
    "mean_squared_error_gradient",
    "sum_squared_error",
    "sum_squared_error_gradient",
]

REDUCTIONS = ("mean", "sum", "none")
LOG_FLOOR = -100.0  # torch clamps log(p) at -100 in binary_cross_entropy
# Lower bound on p(1 - p) in the BCE gradient. Torch 2.13 stores this 1e-12 as
# a float32, so its value is 9.999999960e-13, and the gradients match at p = 0.
GRADIENT_EPSILON = float(np.float32(1e-12))


# Binary cross-entropy on probabilities.


def binary_cross_entropy(
    p: Array,
    y: Array,
    *,
    weight: Array | None = None,
    reduction: str = "mean",
) -> Array:
    r"""Compute the binary cross-entropy of probabilities ``p`` and targets ``y``.

    $$
    \ell = -w \left[ y \log p + (1 - y) \log(1 - p) \right]
    $$

    The cost of the sigmoid output in a two-class problem, with ``p`` the
    predicted probability of the positive class.

    Parameters
    ----------
    p : array or tensor, any shape
        Predicted probabilities, in $[0, 1]$.
    y : array or tensor, shape of ``p``
        Targets in $[0, 1]$: labels 0 and 1, or soft labels.
    weight : array or tensor, optional
        Weight $w$ of each element, broadcastable to the shape of ``p``.
    reduction : {"mean", "sum", "none"}, default "mean"
        Mean or sum over all elements, or the elementwise losses.

    Returns
    -------
    array or tensor
        A scalar, or the losses of shape of ``p`` for ``reduction="none"``.

    Raises
    ------
    ValueError
        If ``p`` or ``y`` is outside $[0, 1]$, the shapes differ, an input
        is not finite or empty, or ``reduction`` is unknown.

    Notes
    -----
    Like ``torch.nn.functional.binary_cross_entropy``, both logarithms are
    clamped at $-100$, so $p = 0$ or $p = 1$ gives a finite loss. The
    mean divides by the number of elements, whatever the weights.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([0.5, 0.5])
    >>> bool(binary_cross_entropy(p, np.array([1.0, 0.0])) == np.log(2.0))
    True
    """
    xp = namespace(p, y, weight)
    p, y, weight = _binary_inputs(p, "p", y, weight, xp, probabilities=True)
    _check_reduction(reduction)

    log_p = _clamped_log(p, xp)
    log_one_minus_p = _clamped_log(1 - p, xp)
    loss = -(y * log_p + (1 - y) * log_one_minus_p)
    if weight is not None:
        loss = weight * loss
    return _reduce(loss, reduction, xp)


def binary_cross_entropy_gradient(
    p: Array,
    y: Array,
    *,
    weight: Array | None = None,
    reduction: str = "mean",
) -> Array:
    r"""Compute the gradient of ``binary_cross_entropy`` with respect to ``p``.

    $$
    \frac{\partial \ell}{\partial p} = w \, \frac{p - y}{p (1 - p)}
    $$

    divided by the number of elements for ``reduction="mean"``.

    Parameters
    ----------
    p, y, weight, reduction
        As in ``binary_cross_entropy``.

    Returns
    -------
    array or tensor, shape of ``p``
        The gradient.

    Raises
    ------
    ValueError
        As in ``binary_cross_entropy``.

    Notes
    -----
    Like torch's backward pass, the denominator $p(1 - p)$ is bounded
    below by $10^{-12}$, so $p = 0$ or $p = 1$ gives a large finite
    gradient. It differs there from the derivative of the clamped logarithms,
    which is zero.

    Examples
    --------
    >>> import numpy as np
    >>> binary_cross_entropy_gradient(np.array([0.5, 0.5]), np.array([1.0, 0.0]))
    array([-1.,  1.])
    """
    xp = namespace(p, y, weight)
    p, y, weight = _binary_inputs(p, "p", y, weight, xp, probabilities=True)
    _check_reduction(reduction)

    variance = xp.clip(p * (1 - p), min=GRADIENT_EPSILON)
    gradient = (p - y) / variance
    if weight is not None:
        gradient = weight * gradient
    return _scale_for_mean(gradient, reduction, math.prod(p.shape))


# Binary cross-entropy on logits.


def binary_cross_entropy_with_logits(
    z: Array,
    y: Array,
    *,
    weight: Array | None = None,
    pos_weight: Array | None = None,
    reduction: str = "mean",
) -> Array:
    r"""Compute the binary cross-entropy of ``sigmoid(z)`` without forming it.

    With $\sigma$ the logistic function and $c = 1 + (w_+ - 1)\, y$,

    $$
    \ell = -w \left[ w_+ \, y \log \sigma(z) + (1 - y) \log(1 - \sigma(z))
    \right] = w \left[ (1 - y) z + c \operatorname{softplus}(-z) \right],
    $$

    because $\log \sigma(z) = -\operatorname{softplus}(-z)$ and
    $\log(1 - \sigma(z)) = -z - \operatorname{softplus}(-z)$. For
    $w_+ = 1$ this is $\max(z, 0) - z y + \log(1 + e^{-|z|})$.

    Parameters
    ----------
    z : array or tensor, any shape
        Logits.
    y : array or tensor, shape of ``z``
        Targets in $[0, 1]$.
    weight : array or tensor, optional
        Weight $w$ of each element, broadcastable to the shape of ``z``.
    pos_weight : array or tensor, optional
        Weight $w_+$ of the positive term, broadcastable to the shape of
        ``z`` (one value per class along the last axis, as in torch).
    reduction : {"mean", "sum", "none"}, default "mean"
        Mean or sum over all elements, or the elementwise losses.

    Returns
    -------
    array or tensor
        A scalar, or the losses of shape of ``z`` for ``reduction="none"``.

    Raises
    ------
    ValueError
        If ``y`` is outside $[0, 1]$, the shapes differ, an input is not
        finite or empty, or ``reduction`` is unknown.

    Notes
    -----
    $\operatorname{softplus}(x) = \max(x, 0) + \log(1 + e^{-|x|})$
    never overflows, so the loss is exact even for logits of $\pm 1000$,
    where ``binary_cross_entropy(sigmoid(z), y)`` would hit the clamp at 100.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.array([0.0, 1000.0])
    >>> binary_cross_entropy_with_logits(z, np.array([1.0, 0.0]), reduction="none")
    array([6.93147181e-01, 1.00000000e+03])
    """
    xp = namespace(z, y, weight, pos_weight)
    z, y, weight = _binary_inputs(z, "z", y, weight, xp, probabilities=False)
    pos_weight = _broadcastable_weight(pos_weight, "pos_weight", z, xp)
    _check_reduction(reduction)

    c = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
    loss = (1 - y) * z + c * _softplus(-z, xp)
    if weight is not None:
        loss = weight * loss
    return _reduce(loss, reduction, xp)


def binary_cross_entropy_with_logits_gradient(
    z: Array,
    y: Array,
    *,
    weight: Array | None = None,
    pos_weight: Array | None = None,
    reduction: str = "mean",
) -> Array:
    r"""Compute the gradient of ``binary_cross_entropy_with_logits`` in ``z``.

    $$
    \frac{\partial \ell}{\partial z} = w \left[ c\, \sigma(z) - w_+ y \right],
    \qquad c = 1 + (w_+ - 1)\, y,
    $$

    which is $\sigma(z) - y = p - y$ without weights, divided by the
    number of elements $N$ for ``reduction="mean"``.

    Parameters
    ----------
    z, y, weight, pos_weight, reduction
        As in ``binary_cross_entropy_with_logits``.

    Returns
    -------
    array or tensor, shape of ``z``
        The gradient.

    Raises
    ------
    ValueError
        As in ``binary_cross_entropy_with_logits``.

    Examples
    --------
    >>> import numpy as np
    >>> binary_cross_entropy_with_logits_gradient(
    ...     np.array([0.0, 0.0]), np.array([1.0, 0.0])
    ... )
    array([-0.25,  0.25])
    """
    xp = namespace(z, y, weight, pos_weight)
    z, y, weight = _binary_inputs(z, "z", y, weight, xp, probabilities=False)
    pos_weight = _broadcastable_weight(pos_weight, "pos_weight", z, xp)
    _check_reduction(reduction)

    p = sigmoid(z)
    if pos_weight is None:
        gradient = p - y
    else:
        gradient = (1 + (pos_weight - 1) * y) * p - pos_weight * y
    if weight is not None:
        gradient = weight * gradient
    return _scale_for_mean(gradient, reduction, math.prod(z.shape))


# Categorical cross-entropy.


def cross_entropy(
    input: Array,
    target: Array,
    *,
    weight: Array | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    from_logits: bool = True,
) -> Array:
    r"""Compute the categorical cross-entropy of class scores and targets.

    With $\log p$ the output of ``log_softmax(input)`` along the class axis
    (or the logarithm of ``input`` when ``from_logits=False``), each example
    costs

    $$
    \ell_n = -\sum_{c=1}^{C} a_{nc} \log p_{nc},
    \qquad
    a_{nc} = w_c \left[ (1 - \varepsilon)\, y_{nc} + \frac{\varepsilon}{C}
    \right],
    $$

    where $y_n$ is the one-hot vector of the class index (or the given
    probability vector), $w_c$ the class weight and $\varepsilon$ the
    label smoothing. An example whose index is ``ignore_index`` has
    $a_n = 0$. This is the cost of the softmax output with several classes.

    Parameters
    ----------
    input : array or tensor, shape (N, C), (N, C, d1, ...) or (C,)
        Logits, or probabilities summing to one along axis 1 when
        ``from_logits=False``. The class axis is 1, or 0 for a 1-D input.
    target : array or tensor
        Integer class indices of shape (N,), (N, d1, ...) or (), or class
        probabilities of the shape of ``input``.
    weight : array or tensor, shape (C,), optional
        Class weights $w_c$.
    ignore_index : int, default -100
        Class index whose examples add nothing to the cost or to the mean's
        denominator. Applies to index targets only.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"mean"`` divides the sum by $\sum_n w_{y_n}$ over the examples not
        ignored for index targets, and by the number of examples for
        probability targets, as torch does. ``"none"`` returns $\ell_n$.
    label_smoothing : float in [0, 1], default 0.0
        $\varepsilon$, the weight moved from the target to the uniform
        distribution over the $C$ classes.
    from_logits : bool, default True
        Whether ``input`` contains logits (True) or probabilities (False).

    Returns
    -------
    array or tensor
        A scalar, or the losses of shape (N, d1, ...) for
        ``reduction="none"``.

    Raises
    ------
    ValueError
        If a class index is outside $[0, C)$ and not ``ignore_index``,
        probabilities are outside $[0, 1]$, input probabilities do not sum
        to one, shapes do not match, ``label_smoothing`` is outside
        $[0, 1]$, ``reduction`` is unknown, or the mean has a zero
        denominator (every target ignored).

    Notes
    -----
    Agrees with ``torch.nn.functional.cross_entropy``, with two deliberate
    differences: a mean over no example raises ``ValueError`` where torch
    returns NaN, and with ``from_logits=False`` the logarithm of the
    probabilities is clamped at $-100$ (as in torch's binary
    cross-entropy), so a zero probability gives a finite cost.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.zeros((2, 4))
    >>> bool(cross_entropy(z, np.array([0, 3])) == np.log(4.0))
    True
    >>> p = np.array([[0.5, 0.5], [0.25, 0.75]])
    >>> cross_entropy(p, np.array([0, 1]), from_logits=False, reduction="none")
    array([0.69314718, 0.28768207])
    """
    xp = namespace(input, weight)
    _check_reduction(reduction)
    terms = _cross_entropy_terms(
        input, target, weight, ignore_index, label_smoothing, from_logits, xp
    )

    loss = -xp.sum(terms.a * terms.log_p, axis=terms.class_axis)
    if reduction != "mean":
        return _reduce(loss, reduction, xp)
    _check_denominator(terms.denominator)
    return _as_array(xp.sum(loss) / terms.denominator, xp)


def cross_entropy_gradient(
    input: Array,
    target: Array,
    *,
    weight: Array | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    from_logits: bool = True,
) -> Array:
    r"""Compute the gradient of ``cross_entropy`` with respect to ``input``.

    With respect to the logits $z$ (``from_logits=True``),

    $$
    \frac{\partial \ell_n}{\partial z_{nc}}
    = \Big( \sum_k a_{nk} \Big) p_{nc} - a_{nc},
    $$

    which is $p - y$ for a one-hot target without weights or smoothing
    (then $\sum_k a_{nk} = 1$). With respect to probabilities
    (``from_logits=False``) it is $-a_{nc} / p_{nc}$, zero where the
    logarithm is clamped. For ``reduction="mean"`` both are divided by the
    mean's denominator, and ignored examples get a zero gradient.

    Parameters
    ----------
    input, target, weight, ignore_index, reduction, label_smoothing, from_logits
        As in ``cross_entropy``.

    Returns
    -------
    array or tensor, shape of ``input``
        The gradient.

    Raises
    ------
    ValueError
        As in ``cross_entropy``.

    Examples
    --------
    >>> import numpy as np
    >>> cross_entropy_gradient(np.zeros((1, 2)), np.array([0]))
    array([[-0.5,  0.5]])
    """
    xp = namespace(input, weight)
    _check_reduction(reduction)
    terms = _cross_entropy_terms(
        input, target, weight, ignore_index, label_smoothing, from_logits, xp
    )
    a = terms.a

    if from_logits:
        p = softmax(terms.input, axis=terms.class_axis)
        gradient = xp.sum(a, axis=terms.class_axis, keepdims=True) * p - a
    else:
        unclamped = terms.log_p > LOG_FLOOR
        safe_p = xp.where(unclamped, terms.input, xp.ones_like(a))
        gradient = xp.where(unclamped, -a / safe_p, xp.zeros_like(a))
    if reduction != "mean":
        return gradient
    _check_denominator(terms.denominator)
    return gradient / terms.denominator


# Squared errors.


def mean_squared_error(
    y_pred: Array, y_true: Array, *, reduction: str = "mean"
) -> Array:
    r"""Compute the mean squared error $\frac{1}{N} \sum_i (y_i - d_i)^2$.

    The cost of the identity output in regression, as
    ``torch.nn.functional.mse_loss``. The course's cost is half the summed
    squared error, $E = \frac{1}{2} \sum_j e_j^2$, which is
    ``sum_squared_error``: ``mean_squared_error(..., reduction="sum")``
    equals ``2 * sum_squared_error(...)``.

    Parameters
    ----------
    y_pred : array or tensor, any shape
        Predictions $y$.
    y_true : array or tensor, shape of ``y_pred``
        Targets $d$ (the course's desired response).
    reduction : {"mean", "sum", "none"}, default "mean"
        Mean or sum over all $N$ elements, or the elementwise squares.

    Returns
    -------
    array or tensor
        A scalar, or the squares of shape of ``y_pred`` for
        ``reduction="none"``.

    Raises
    ------
    ValueError
        If the shapes differ (there is no broadcasting), an input is not
        finite or empty, or ``reduction`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> mean_squared_error(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    array(2.5)
    """
    xp = namespace(y_pred, y_true)
    y_pred, y_true = _regression_inputs(y_pred, y_true, xp)
    _check_reduction(reduction)
    return _reduce((y_pred - y_true) ** 2, reduction, xp)


def mean_squared_error_gradient(
    y_pred: Array, y_true: Array, *, reduction: str = "mean"
) -> Array:
    r"""Compute the gradient of ``mean_squared_error`` in ``y_pred``.

    $$
    \frac{\partial}{\partial y_i} \frac{1}{N} \sum_k (y_k - d_k)^2
    = \frac{2}{N} (y_i - d_i),
    $$

    without the $1/N$ for ``reduction="sum"`` or ``"none"``.

    Parameters
    ----------
    y_pred, y_true, reduction
        As in ``mean_squared_error``.

    Returns
    -------
    array or tensor, shape of ``y_pred``
        The gradient.

    Raises
    ------
    ValueError
        As in ``mean_squared_error``.

    Examples
    --------
    >>> import numpy as np
    >>> mean_squared_error_gradient(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    array([1., 2.])
    """
    xp = namespace(y_pred, y_true)
    y_pred, y_true = _regression_inputs(y_pred, y_true, xp)
    _check_reduction(reduction)
    gradient = 2 * (y_pred - y_true)
    return _scale_for_mean(gradient, reduction, math.prod(y_pred.shape))


def sum_squared_error(y_pred: Array, y_true: Array) -> Array:
    r"""Compute the course's cost $E = \frac{1}{2} \sum_j e_j^2$, $e = d - y$.

    The sum runs over every element, so for a batch it is the sum of the
    per-example costs $E(n)$. Divide by the number of examples for the
    course's average cost $E_{av}$.

    Parameters
    ----------
    y_pred : array or tensor, any shape
        Outputs $y$ of the network.
    y_true : array or tensor, shape of ``y_pred``
        Desired responses $d$.

    Returns
    -------
    array or tensor
        The scalar $E$.

    Raises
    ------
    ValueError
        If the shapes differ, or an input is not finite or empty.

    Examples
    --------
    >>> import numpy as np
    >>> sum_squared_error(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    array(2.5)
    """
    xp = namespace(y_pred, y_true)
    y_pred, y_true = _regression_inputs(y_pred, y_true, xp)
    e = y_true - y_pred
    return _reduce(e**2 / 2, "sum", xp)


def sum_squared_error_gradient(y_pred: Array, y_true: Array) -> Array:
    r"""Compute the gradient of ``sum_squared_error`` in ``y_pred``: $-e = y - d$.

    This is where the course's output local gradient
    $\delta_j = e_j \varphi'(v_j)$ comes from: $-\partial E / \partial v_j$.

    Parameters
    ----------
    y_pred, y_true
        As in ``sum_squared_error``.

    Returns
    -------
    array or tensor, shape of ``y_pred``
        The gradient.

    Raises
    ------
    ValueError
        As in ``sum_squared_error``.

    Examples
    --------
    >>> import numpy as np
    >>> sum_squared_error_gradient(np.array([1.0, 2.0]), np.array([0.0, 3.0]))
    array([ 1., -1.])
    """
    xp = namespace(y_pred, y_true)
    y_pred, y_true = _regression_inputs(y_pred, y_true, xp)
    return y_pred - y_true


# Validation and shared steps.


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"reduction must be one of {', '.join(map(repr, REDUCTIONS))}, "
            f"got {reduction!r}"
        )


def _reduce(loss: Array, reduction: str, xp: Any) -> Array:
    """Apply the reduction, returning a zero-dimensional array for NumPy."""
    if reduction == "mean":
        return _as_array(xp.mean(loss), xp)
    if reduction == "sum":
        return _as_array(xp.sum(loss), xp)
    return _as_array(loss, xp)


def _as_array(x: Array, xp: Any) -> Array:
    """Turn a NumPy scalar, which NumPy reductions return, into a 0-d array."""
    return xp.asarray(x) if isinstance(x, np.generic) else x


def _scale_for_mean(gradient: Array, reduction: str, count: int) -> Array:
    return gradient / count if reduction == "mean" else gradient


def _check_denominator(denominator: Array | float) -> None:
    if to_float(denominator) == 0:
        raise ValueError(
            "the mean cross-entropy is undefined because every target equals "
            "ignore_index or has zero class weight; use reduction='sum' instead"
        )


def _clamped_log(x: Array, xp: Any) -> Array:
    """Return log(x) clamped below at -100, with no warning or NaN at x = 0."""
    positive = x > 0
    safe_x = xp.where(positive, x, xp.ones_like(x))
    floor = xp.full_like(x, LOG_FLOOR)
    return xp.where(positive, xp.clip(xp.log(safe_x), min=LOG_FLOOR), floor)


def _softplus(x: Array, xp: Any) -> Array:
    r"""Return $\log(1 + e^x) = \max(x, 0) + \log(1 + e^{-|x|})$."""
    positive = x > 0
    # where() and not abs() or maximum(), so torch's gradient at 0 is 1/2.
    negative_abs = xp.where(positive, -x, x)
    positive_part = xp.where(positive, x, xp.zeros_like(x))
    return positive_part + xp.log1p(xp.exp(negative_abs))


def _check_probabilities(x: Array, name: str, xp: Any) -> None:
    outside = (x < 0) | (x > 1)
    if bool(xp.any(outside)):
        bad = to_float(x[outside][0])
        raise ValueError(f"{name} must contain probabilities in [0, 1], got {bad}")


def _check_same_shape(x: Array, x_name: str, y: Array, y_name: str) -> None:
    if tuple(x.shape) != tuple(y.shape):
        raise ValueError(
            f"{y_name} must have the shape of {x_name}, {tuple(x.shape)}, "
            f"got {tuple(y.shape)}"
        )


def _checked_float(x: Array, name: str, xp: Any) -> Array:
    x = as_float_array(x, name, xp)
    check_not_empty(x, name)
    check_finite(x, name, xp)
    return x


def _broadcastable_weight(
    weight: Array | None, name: str, like: Array, xp: Any
) -> Array | None:
    """Check that ``weight`` broadcasts to the shape of ``like`` and cast it."""
    if weight is None:
        return None
    weight = _checked_float(weight, name, xp)
    shape = tuple(like.shape)
    try:
        broadcast = np.broadcast_shapes(tuple(weight.shape), shape)
    except ValueError:
        broadcast = None
    if broadcast != shape:
        raise ValueError(
            f"{name} must broadcast to the input shape {shape}, "
            f"got shape {tuple(weight.shape)}"
        )
    return xp.astype(weight, like.dtype)


def _binary_inputs(
    x: Array, name: str, y: Array, weight: Array | None, xp: Any, probabilities: bool
) -> tuple[Array, Array, Array | None]:
    """Validate the inputs of a binary cross-entropy and cast them to x's dtype."""
    x = _checked_float(x, name, xp)
    y = _checked_float(y, "y", xp)
    _check_same_shape(x, name, y, "y")
    if probabilities:
        _check_probabilities(x, name, xp)
    _check_probabilities(y, "y", xp)
    weight = _broadcastable_weight(weight, "weight", x, xp)
    return x, xp.astype(y, x.dtype), weight


def _regression_inputs(y_pred: Array, y_true: Array, xp: Any) -> tuple[Array, Array]:
    y_pred = _checked_float(y_pred, "y_pred", xp)
    y_true = _checked_float(y_true, "y_true", xp)
    _check_same_shape(y_pred, "y_pred", y_true, "y_true")
    return y_pred, xp.astype(y_true, y_pred.dtype)


def _check_label_smoothing(label_smoothing: float) -> float:
    if not isinstance(label_smoothing, numbers.Real):
        raise TypeError(
            "label_smoothing must be a real number, got "
            f"{type(label_smoothing).__name__}"
        )
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    return float(label_smoothing)


def _check_ignore_index(ignore_index: int) -> None:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        raise TypeError(
            f"ignore_index must be an integer, got {type(ignore_index).__name__}"
        )


def _check_sums_to_one(p: Array, class_axis: int, xp: Any) -> None:
    """Check that probabilities sum to one within the square root of epsilon."""
    tolerance = math.sqrt(xp.finfo(p.dtype).eps)
    deviation = xp.max(xp.abs(xp.sum(p, axis=class_axis) - 1))
    if to_float(deviation) > tolerance:
        raise ValueError(
            f"input probabilities must sum to one along axis {class_axis} "
            f"(from_logits=False), got a sum that is off by {to_float(deviation)}"
        )


def _class_shape(ndim: int, class_axis: int, classes: int) -> tuple[int, ...]:
    """Return the shape that puts ``classes`` on ``class_axis`` and 1 elsewhere."""
    shape = [1] * ndim
    shape[class_axis] = classes
    return tuple(shape)


def _log_probabilities(
    input: Array, name: str, class_axis: int, from_logits: bool, xp: Any
) -> Array:
    if from_logits:
        return log_softmax(input, axis=class_axis)
    _check_probabilities(input, name, xp)
    _check_sums_to_one(input, class_axis, xp)
    return _clamped_log(input, xp)


def _class_weights(
    weight: Array | None, classes: int, input: Array, class_axis: int, xp: Any
) -> Array:
    """Return the class weights shaped to broadcast along the class axis."""
    if weight is None:
        return xp.ones(
            _class_shape(input.ndim, class_axis, 1),
            dtype=input.dtype,
            device=array_api_compat.device(input),
        )
    weight = _checked_float(weight, "weight", xp)
    if tuple(weight.shape) != (classes,):
        raise ValueError(
            f"weight must have shape ({classes},), one weight per class, "
            f"got {tuple(weight.shape)}"
        )
    shape = _class_shape(input.ndim, class_axis, classes)
    return xp.reshape(xp.astype(weight, input.dtype), shape)


def _index_target_shape(input: Array, class_axis: int) -> tuple[int, ...]:
    """Return the shape of class-index targets: the input's without the classes."""
    shape = tuple(input.shape)
    return shape[:class_axis] + shape[class_axis + 1 :]


def _one_hot_targets(
    target: Array, input: Array, class_axis: int, ignore_index: int, xp: Any
) -> tuple[Array, Array]:
    """Return the one-hot targets and the mask of examples not ignored.

    Both have the shape of ``input`` with the mask's class axis of length 1.
    """
    classes = input.shape[class_axis]
    expected = _index_target_shape(input, class_axis)
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target of class indices must have shape {expected} for input of "
            f"shape {tuple(input.shape)}, got {tuple(target.shape)}"
        )
    not_ignored = target != ignore_index
    invalid = not_ignored & ((target < 0) | (target >= classes))
    if bool(xp.any(invalid)):
        bad = int(to_float(target[invalid][0]))
        raise ValueError(
            f"target contains class index {bad}, expected an index in "
            f"[0, {classes}) or ignore_index={ignore_index}"
        )

    # (N, 1, d1, ...) against (1, C, 1, ...) gives (N, C, d1, ...)
    not_ignored = xp.expand_dims(not_ignored, axis=class_axis)
    labels = xp.expand_dims(target, axis=class_axis)
    classes_along_axis = xp.reshape(
        xp.arange(classes, device=array_api_compat.device(input)),
        _class_shape(input.ndim, class_axis, classes),
    )
    one_hot = (labels == classes_along_axis) & not_ignored
    return xp.astype(one_hot, input.dtype), xp.astype(not_ignored, input.dtype)


class _CrossEntropyTerms(NamedTuple):
    r"""Checked pieces of a cross-entropy $\ell_n = -\sum_c a_{nc} \log p_{nc}$."""

    input: Array  # the input as a float array
    log_p: Array  # log-probabilities, shape of input
    a: Array  # target coefficients a_nc, shape of input
    class_axis: int
    denominator: Array | float  # divides the sum for reduction="mean"


def _cross_entropy_terms(
    input: Array,
    target: Array,
    weight: Array | None,
    ignore_index: int,
    label_smoothing: float,
    from_logits: bool,
    xp: Any,
) -> _CrossEntropyTerms:
    """Check every argument of a cross-entropy and compute its terms."""
    input = _checked_float(input, "input", xp)
    if input.ndim == 0:
        raise ValueError(
            "input must have at least one dimension (the classes), got shape ()"
        )
    if isinstance(target, (list, tuple, int)):
        target = xp.asarray(target, device=array_api_compat.device(input))
    else:
        namespace(input, target)  # raises TypeError for NumPy next to torch
    eps = _check_label_smoothing(label_smoothing)
    _check_ignore_index(ignore_index)

    class_axis = 0 if input.ndim == 1 else 1
    classes = input.shape[class_axis]
    log_p = _log_probabilities(input, "input", class_axis, from_logits, xp)
    w = _class_weights(weight, classes, input, class_axis, xp)

    if xp.isdtype(target.dtype, "integral"):
        one_hot, not_ignored = _one_hot_targets(
            target, input, class_axis, ignore_index, xp
        )
        a = w * ((1 - eps) * one_hot + (eps / classes) * not_ignored)
        denominator = xp.sum(w * one_hot)
        return _CrossEntropyTerms(input, log_p, a, class_axis, denominator)

    target = _probability_targets(target, input, class_axis, xp)
    a = w * ((1 - eps) * target + eps / classes)
    denominator = math.prod(input.shape) / classes
    return _CrossEntropyTerms(input, log_p, a, class_axis, denominator)


def _probability_targets(
    target: Array, input: Array, class_axis: int, xp: Any
) -> Array:
    """Check class-probability targets and cast them to the input's dtype."""
    given_dtype = target.dtype
    target = _checked_float(target, "target", xp)
    index_shape = _index_target_shape(input, class_axis)
    if tuple(target.shape) == index_shape:
        raise ValueError(
            f"target of shape {index_shape} must contain integer class indices, "
            f"got dtype {given_dtype}"
        )
    _check_same_shape(input, "input", target, "target")
    _check_probabilities(target, "target", xp)
    return xp.astype(target, input.dtype)
