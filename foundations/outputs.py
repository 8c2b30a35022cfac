r"""Output functions of a network, chosen by the problem it solves.

The course pairs each output function with a problem and a cost:

- ``sigmoid`` for two classes, with binary cross-entropy;
- ``softmax`` (and ``log_softmax``) for several classes, with categorical
  cross-entropy;
- ``identity`` for regression, with the squared error.

Each function takes a NumPy array or a torch tensor and returns the same type
and dtype. Torch inputs keep autograd working. The ``*_jvp`` functions give
the product of each output's Jacobian with a vector ``v`` in closed form, which
is what backpropagation needs at the output layer.
"""

from __future__ import annotations

import numbers

from foundations._array import Array, as_float_array, check_finite, namespace

__all__ = [
    "identity",
    "log_softmax",
    "log_softmax_jvp",
    "sigmoid",
    "sigmoid_jvp",
    "softmax",
    "softmax_jvp",
]


def sigmoid(z: Array) -> Array:
    r"""Compute the logistic output $\sigma(z) = 1 / (1 + e^{-z})$.

    Fits a two-class problem: $\sigma(z)$ is the probability of the
    positive class given the logit $z$.

    Parameters
    ----------
    z : array or tensor, any shape
        Logits.

    Returns
    -------
    array or tensor, shape of ``z``
        Probabilities in $[0, 1]$.

    Raises
    ------
    ValueError
        If ``z`` contains NaN or infinity.

    Notes
    -----
    With $m = -|z|$, the function is computed as $1 / (1 + e^{m})$
    for $z \ge 0$ and $e^{m} / (1 + e^{m})$ for $z < 0$, so
    the exponential never overflows, even at $z = \pm 1000$.

    Examples
    --------
    >>> import numpy as np
    >>> sigmoid(np.array([0.0, 1000.0, -1000.0]))
    array([0.5, 1. , 0. ])
    """
    xp = namespace(z)
    z = as_float_array(z, "z", xp)
    check_finite(z, "z", xp)
    positive = z >= 0

    # -|z| through where() and not abs(), because torch gives abs a zero
    # derivative at z = 0, and the gradient of sigmoid there would be 0, not 1/4.
    e = xp.exp(xp.where(positive, -z, z))
    numerator = xp.where(positive, xp.ones_like(z), e)
    return numerator / (1 + e)


def sigmoid_jvp(z: Array, v: Array) -> Array:
    r"""Multiply the Jacobian of ``sigmoid`` at ``z`` by ``v``.

    The Jacobian is diagonal, $\sigma'(z) = \sigma(z)(1 - \sigma(z))$,
    so the product is elementwise.

    Parameters
    ----------
    z : array or tensor, any shape
        Logits.
    v : array or tensor, shape of ``z``
        Tangent vector.

    Returns
    -------
    array or tensor, shape of ``z``
        $\sigma(z)(1 - \sigma(z))\, v$.

    Examples
    --------
    >>> import numpy as np
    >>> sigmoid_jvp(np.array([0.0]), np.array([2.0]))
    array([0.5])
    """
    xp = namespace(z, v)
    z = as_float_array(z, "z", xp)
    v = _as_tangent(v, z, xp)
    s = sigmoid(z)
    return s * (1 - s) * v


def softmax(z: Array, axis: int = -1) -> Array:
    r"""Compute the softmax output $p_k = e^{z_k} / \sum_j e^{z_j}$.

    Fits a problem with several classes: $p_k$ is the probability of
    class $k$, and the entries along ``axis`` sum to one.

    Parameters
    ----------
    z : array or tensor, any shape
        Logits.
    axis : int, default -1
        Axis of the classes.

    Returns
    -------
    array or tensor, shape of ``z``
        Probabilities along ``axis``.

    Raises
    ------
    ValueError
        If ``z`` contains NaN or infinity or is a scalar, or ``axis`` is not
        an axis of ``z`` or has length 0.

    Notes
    -----
    Softmax does not change when a constant is added to every logit, so the
    maximum along ``axis`` is subtracted first and no exponential overflows.
    Equal logits then give exact equal shares: ``softmax([1000, 1000])`` is
    exactly ``[0.5, 0.5]``.

    Examples
    --------
    >>> import numpy as np
    >>> softmax(np.array([1000.0, 1000.0]))
    array([0.5, 0.5])
    >>> softmax(np.log(np.array([1.0, 3.0])))
    array([0.25, 0.75])
    """
    xp = namespace(z)
    z = as_float_array(z, "z", xp)
    axis = _class_axis(z, axis)
    e = xp.exp(_shift_by_max(z, axis, xp))
    return e / xp.sum(e, axis=axis, keepdims=True)


def softmax_jvp(z: Array, v: Array, axis: int = -1) -> Array:
    r"""Multiply the Jacobian of ``softmax`` at ``z`` by ``v``.

    The Jacobian is $J = \operatorname{diag}(p) - p p^T$, so
    $J v = p \odot (v - p^T v)$. It is symmetric, so this is also the
    vector-Jacobian product that backpropagation uses.

    Parameters
    ----------
    z : array or tensor, any shape
        Logits.
    v : array or tensor, shape of ``z``
        Tangent vector.
    axis : int, default -1
        Axis of the classes.

    Returns
    -------
    array or tensor, shape of ``z``
        $J v$ along ``axis``.

    Examples
    --------
    >>> import numpy as np
    >>> softmax_jvp(np.array([0.0, 0.0]), np.array([1.0, 0.0]))
    array([ 0.25, -0.25])
    """
    xp = namespace(z, v)
    z = as_float_array(z, "z", xp)
    axis = _class_axis(z, axis)
    v = _as_tangent(v, z, xp)
    p = softmax(z, axis=axis)
    return p * (v - xp.sum(p * v, axis=axis, keepdims=True))


def log_softmax(z: Array, axis: int = -1) -> Array:
    r"""Compute $\log p_k = z_k - \log \sum_j e^{z_j}$ without overflow.

    The logarithm of ``softmax``, as the categorical cross-entropy needs it.
    Computing it directly keeps precision where $p_k$ underflows to zero.

    Parameters
    ----------
    z : array or tensor, any shape
        Logits.
    axis : int, default -1
        Axis of the classes.

    Returns
    -------
    array or tensor, shape of ``z``
        Log-probabilities along ``axis``, all finite for finite ``z``.

    Raises
    ------
    ValueError
        If ``z`` contains NaN or infinity or is a scalar, or ``axis`` is not
        an axis of ``z`` or has length 0.

    Notes
    -----
    With $m = \max_j z_j$,
    $\log p_k = (z_k - m) - \log \sum_j e^{z_j - m}$. The sum is at least
    one, so its logarithm is finite.

    Examples
    --------
    >>> import numpy as np
    >>> log_softmax(np.array([0.0, 0.0])) == -np.log(2.0)
    array([ True,  True])
    >>> float(log_softmax(np.array([0.0, 1000.0]))[0])
    -1000.0
    """
    xp = namespace(z)
    z = as_float_array(z, "z", xp)
    axis = _class_axis(z, axis)
    shifted = _shift_by_max(z, axis, xp)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def log_softmax_jvp(z: Array, v: Array, axis: int = -1) -> Array:
    r"""Multiply the Jacobian of ``log_softmax`` at ``z`` by ``v``.

    The Jacobian is $J = I - \mathbf{1} p^T$, so
    $J v = v - p^T v$.

    Parameters
    ----------
    z : array or tensor, any shape
        Logits.
    v : array or tensor, shape of ``z``
        Tangent vector.
    axis : int, default -1
        Axis of the classes.

    Returns
    -------
    array or tensor, shape of ``z``
        $J v$ along ``axis``.

    Examples
    --------
    >>> import numpy as np
    >>> log_softmax_jvp(np.array([0.0, 0.0]), np.array([1.0, 0.0]))
    array([ 0.5, -0.5])
    """
    xp = namespace(z, v)
    z = as_float_array(z, "z", xp)
    axis = _class_axis(z, axis)
    v = _as_tangent(v, z, xp)
    p = softmax(z, axis=axis)
    return v - xp.sum(p * v, axis=axis, keepdims=True)


def identity(z: Array) -> Array:
    r"""Return the output $y = z$ unchanged, for regression.

    Fits a regression problem, where the network predicts real values. Its
    Jacobian is the identity, so the gradient of the cost passes through it
    unchanged.

    Parameters
    ----------
    z : array or tensor, any shape
        Output of the last layer.

    Returns
    -------
    array or tensor
        ``z`` itself when it is floating point, otherwise ``z`` converted to
        the default floating type.

    Raises
    ------
    ValueError
        If ``z`` contains NaN or infinity, as the other output functions do.

    Examples
    --------
    >>> import numpy as np
    >>> identity(np.array([1.5, -2.0]))
    array([ 1.5, -2. ])
    """
    xp = namespace(z)
    z = as_float_array(z, "z", xp)
    check_finite(z, "z", xp)
    return z


def _shift_by_max(z: Array, axis: int, xp: object) -> Array:
    """Subtract the maximum along ``axis``, after checking ``z`` is finite."""
    check_finite(z, "z", xp)
    return z - xp.max(z, axis=axis, keepdims=True)


def _class_axis(z: Array, axis: int) -> int:
    """Return ``axis`` as an int after checking it is a non-empty axis of ``z``."""
    if z.ndim == 0:
        raise ValueError("z must have at least one dimension, got a scalar")
    shape = tuple(z.shape)
    is_integer = isinstance(axis, numbers.Integral) and not isinstance(axis, bool)
    if not (is_integer and -z.ndim <= axis < z.ndim):
        raise ValueError(
            f"axis must be an integer in [{-z.ndim}, {z.ndim}) for z of shape "
            f"{shape}, got {axis!r}"
        )
    if shape[axis] == 0:
        raise ValueError(
            f"z must have at least one class along axis {axis}, got shape {shape}"
        )
    return int(axis)


def _as_tangent(v: Array, z: Array, xp: object) -> Array:
    """Convert ``v`` to a float array of the shape of ``z``."""
    v = as_float_array(v, "v", xp)
    check_finite(v, "v", xp)
    if tuple(v.shape) != tuple(z.shape):
        raise ValueError(
            f"v must have the shape of z, {tuple(z.shape)}, got {tuple(v.shape)}"
        )
    return xp.astype(v, z.dtype)
