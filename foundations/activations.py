r"""Activation functions $\varphi(v)$ of the induced local field, with derivatives.

Every function takes a NumPy array or a torch tensor and returns the same type
and dtype. The derivatives are the closed forms derived in the course, written
in terms of the activation's own output where the course does so:

$$
\varphi(v) = \frac{1}{1 + e^{-a v}}
\quad\Rightarrow\quad \varphi'(v) = a\,\varphi(v)\,(1 - \varphi(v)),
$$

$$
\varphi(v) = \tanh\!\left(\frac{a v}{2}\right)
\quad\Rightarrow\quad \varphi'(v) = \frac{a}{2}\,(1 - \varphi(v)^2).
$$

None of them overflows or returns NaN at $v = \pm 1000$ in float32 or
float64.

NOTE: unlike the output functions, the activations do not reject NaN or
infinity: they run on every layer of every training step, where the check
would cost a pass over the data and, on a GPU, a synchronization. A NaN in
$v$ comes out as NaN, as in torch. In ``foundations.mlp`` the cost after
the last layer then raises, but a caller that uses the activations alone has
to check itself.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from foundations._array import Array, as_float_array, is_torch, namespace

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "gelu",
    "gelu_derivative",
    "get_activation",
    "identity",
    "identity_derivative",
    "relu",
    "relu_derivative",
    "sigmoid",
    "sigmoid_derivative",
    "tanh_sigmoid",
    "tanh_sigmoid_derivative",
]

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_TANH_CUBIC = 0.044715  # coefficient of v^3 in the tanh approximation
# Beyond |v| = 10 the tanh of the approximation rounds to +-1 in float32 and
# float64, so clipping v there changes no value and keeps v^3 from overflowing.
_GELU_TANH_SATURATION = 10.0
# Beyond |v| = 40 the normal density exp(-v^2/2) underflows to 0 in float64
# (and float32), so clipping v there keeps v^2 from overflowing.
_GELU_DENSITY_CUTOFF = 40.0
_APPROXIMATIONS = ("none", "tanh")


def sigmoid(v: Array, a: float = 1.0) -> Array:
    r"""Logistic sigmoid $\varphi(v) = 1 / (1 + e^{-a v})$.

    Parameters
    ----------
    v : array of any shape
        Induced local field.
    a : float, default 1.0
        Slope parameter $a > 0$; the slope at the origin is $a/4$.

    Returns
    -------
    array of the shape of ``v``, with values in $[0, 1]$.

    Notes
    -----
    Evaluated as $1/(1+e^{-|av|})$ for $av \ge 0$ and
    $e^{-|av|}/(1+e^{-|av|})$ otherwise, so the exponential never
    overflows.

    Examples
    --------
    >>> float(sigmoid(np.array(0.0)))
    0.5
    >>> sigmoid(np.array([-1000.0, 1000.0])).tolist()
    [0.0, 1.0]
    """
    xp = namespace(v)
    v = as_float_array(v, "v", xp)
    a = _check_slope(a)
    av = a * v
    # exp(-|av|) never overflows; written as a where so the gradient at 0 is
    # the one-sided slope rather than torch's zero subgradient of abs.
    e = xp.exp(xp.where(av >= 0, -av, av))
    return xp.where(av >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_derivative(v: Array, a: float = 1.0) -> Array:
    r"""Derivative of the logistic sigmoid, $\varphi'(v) = a\varphi(v)(1 - \varphi(v))$.

    Differentiating $(1 + e^{-av})^{-1}$ gives
    $a e^{-av} / (1 + e^{-av})^2$, and
    $e^{-av}/(1 + e^{-av}) = 1 - \varphi(v)$.

    Examples
    --------
    >>> float(sigmoid_derivative(np.array(0.0), a=2.0))
    0.5
    """
    a = _check_slope(a)
    phi = sigmoid(v, a)
    return a * phi * (1.0 - phi)


def tanh_sigmoid(v: Array, a: float = 1.0) -> Array:
    r"""Hyperbolic-tangent sigmoid $\varphi(v) = \tanh(a v / 2)$.

    With $a = 2$ this is $\tanh(v)$; for any $a$ it equals
    $2\,\sigma_a(v) - 1$, where $\sigma_a$ is the logistic
    sigmoid with the same slope parameter.

    Parameters
    ----------
    v : array of any shape
        Induced local field.
    a : float, default 1.0
        Slope parameter $a > 0$.

    Returns
    -------
    array of the shape of ``v``, with values in $[-1, 1]$.

    Examples
    --------
    >>> tanh_sigmoid(np.array([-1000.0, 0.0, 1000.0])).tolist()
    [-1.0, 0.0, 1.0]
    """
    xp = namespace(v)
    v = as_float_array(v, "v", xp)
    a = _check_slope(a)
    return xp.tanh(0.5 * a * v)


def tanh_sigmoid_derivative(v: Array, a: float = 1.0) -> Array:
    r"""Derivative of the tanh-sigmoid, $\varphi'(v) = (a/2)(1 - \varphi(v)^2)$.

    Follows from $\tanh'(u) = 1 - \tanh^2(u)$ and the chain rule with
    $u = a v / 2$.

    Examples
    --------
    >>> float(tanh_sigmoid_derivative(np.array(0.0), a=2.0))
    1.0
    """
    a = _check_slope(a)
    phi = tanh_sigmoid(v, a)
    return 0.5 * a * (1.0 - phi * phi)


def relu(v: Array) -> Array:
    r"""Rectified linear unit $\varphi(v) = \max(0, v)$.

    Like ``torch.relu``, a NaN in ``v`` stays NaN rather than becoming 0.

    Examples
    --------
    >>> relu(np.array([-2.0, 0.0, 3.0])).tolist()
    [0.0, 0.0, 3.0]
    """
    xp = namespace(v)
    v = as_float_array(v, "v", xp)
    # NaN > 0 is False, so NaN needs its own test to pass through as torch's does.
    return xp.where((v > 0) | xp.isnan(v), v, xp.zeros_like(v))


def relu_derivative(v: Array) -> Array:
    r"""Derivative of ReLU, $\varphi'(v) = 1$ for $v > 0$ and 0 otherwise.

    The derivative does not exist at $v = 0$; like torch, this returns 0
    there.

    Examples
    --------
    >>> relu_derivative(np.array([-2.0, 0.0, 3.0])).tolist()
    [0.0, 0.0, 1.0]
    """
    xp = namespace(v)
    v = as_float_array(v, "v", xp)
    return xp.astype(v > 0, v.dtype)


def gelu(v: Array, approximate: str = "none") -> Array:
    r"""Gaussian error linear unit $\varphi(v) = v\,\Phi(v)$.

    $\Phi$ is the standard normal distribution function,
    $\Phi(v) = \frac{1}{2}\left(1 + \operatorname{erf}(v/\sqrt{2})\right)$.
    With ``approximate="tanh"`` (as in ``torch.nn.functional.gelu``),

    $$
    \varphi(v) \approx \frac{v}{2}\left(1 + \tanh\!\left(
    \sqrt{2/\pi}\,(v + 0.044715\,v^3)\right)\right).
    $$

    Parameters
    ----------
    v : array of any shape
        Induced local field.
    approximate : {"none", "tanh"}, default "none"
        Exact form or the tanh approximation.

    Examples
    --------
    >>> gelu(np.array([0.0, 1000.0])).tolist()
    [0.0, 1000.0]
    """
    xp = namespace(v)
    v = as_float_array(v, "v", xp)
    if _check_approximate(approximate) == "tanh":
        return 0.5 * v * (1.0 + _gelu_tanh(v, xp))
    return 0.5 * v * _erfc(-v / _SQRT_2)


def gelu_derivative(v: Array, approximate: str = "none") -> Array:
    r"""Derivative of GELU.

    Exact form, with $\phi(v) = e^{-v^2/2}/\sqrt{2\pi}$ the normal
    density:

    $$
    \varphi'(v) = \Phi(v) + v\,\phi(v).
    $$

    Tanh approximation, with $u = \sqrt{2/\pi}\,(v + 0.044715\,v^3)$
    and $t = \tanh u$:

    $$
    \varphi'(v) = \tfrac{1}{2}(1 + t)
    + \tfrac{1}{2} v (1 - t^2) \sqrt{2/\pi}\,(1 + 3 \cdot 0.044715\,v^2).
    $$

    Examples
    --------
    >>> float(gelu_derivative(np.array(0.0)))
    0.5
    """
    xp = namespace(v)
    v = as_float_array(v, "v", xp)
    if _check_approximate(approximate) == "tanh":
        t = _gelu_tanh(v, xp)
        w = xp.clip(v, min=-_GELU_TANH_SATURATION, max=_GELU_TANH_SATURATION)
        du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_TANH_CUBIC * w * w)
        return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du
    cdf = 0.5 * _erfc(-v / _SQRT_2)
    w = xp.clip(v, min=-_GELU_DENSITY_CUTOFF, max=_GELU_DENSITY_CUTOFF)
    pdf = _INV_SQRT_2PI * xp.exp(-0.5 * w * w)
    return cdf + v * pdf


def identity(v: Array) -> Array:
    r"""Linear activation $\varphi(v) = v$."""
    xp = namespace(v)
    return as_float_array(v, "v", xp)


def identity_derivative(v: Array) -> Array:
    r"""Derivative of the linear activation, $\varphi'(v) = 1$."""
    xp = namespace(v)
    return xp.ones_like(as_float_array(v, "v", xp))


@dataclass(frozen=True)
class Activation:
    r"""An activation $\varphi$ with its derivative, as used by the MLP.

    ``derivative_from_output``, when present, computes $\varphi'(v)$
    from $y = \varphi(v)$ alone (the course's closed forms for the
    sigmoids), so a backward pass needs no second evaluation of
    $\varphi$.
    """

    name: str
    function: Callable[[Array], Array]
    derivative: Callable[[Array], Array]
    derivative_from_output: Callable[[Array], Array] | None = None
    slope: float = 1.0  # the parameter a of the two sigmoids


def get_activation(name: str, a: float = 1.0) -> Activation:
    r"""Return the activation registered under ``name``.

    Parameters
    ----------
    name : str
        One of ``ACTIVATIONS``: "sigmoid", "tanh_sigmoid", "relu", "gelu",
        "gelu_tanh" or "identity".
    a : float, default 1.0
        Slope parameter of "sigmoid" and "tanh_sigmoid"; ignored otherwise.

    Raises
    ------
    ValueError
        If ``name`` is not registered.
    """
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}"
        )
    a = _check_slope(a)
    if name == "sigmoid":
        return Activation(
            name,
            lambda v: sigmoid(v, a),
            lambda v: sigmoid_derivative(v, a),
            lambda y: a * y * (1.0 - y),
            slope=a,
        )
    if name == "tanh_sigmoid":
        return Activation(
            name,
            lambda v: tanh_sigmoid(v, a),
            lambda v: tanh_sigmoid_derivative(v, a),
            lambda y: 0.5 * a * (1.0 - y * y),
            slope=a,
        )
    return ACTIVATIONS[name]


def _relu_derivative_from_output(y: Array) -> Array:
    xp = namespace(y)
    return xp.astype(y > 0, y.dtype)


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_derivative),
    "tanh_sigmoid": Activation("tanh_sigmoid", tanh_sigmoid, tanh_sigmoid_derivative),
    "relu": Activation("relu", relu, relu_derivative, _relu_derivative_from_output),
    "gelu": Activation("gelu", gelu, gelu_derivative),
    "gelu_tanh": Activation(
        "gelu_tanh",
        lambda v: gelu(v, approximate="tanh"),
        lambda v: gelu_derivative(v, approximate="tanh"),
    ),
    "identity": Activation(
        "identity", identity, identity_derivative, identity_derivative
    ),
}


def _gelu_tanh(v: Array, xp: object) -> Array:
    r"""Return $\tanh(\sqrt{2/\pi}\,(v + 0.044715\,v^3))$ without overflow."""
    w = xp.clip(v, min=-_GELU_TANH_SATURATION, max=_GELU_TANH_SATURATION)
    return xp.tanh(_SQRT_2_OVER_PI * (w + _GELU_TANH_CUBIC * w * w * w))


def _erfc(x: Array) -> Array:
    # Phi(v) = erfc(-v / sqrt 2) / 2 keeps full relative precision in the left
    # tail, where 1 + erf(v / sqrt 2) cancels. The array API standard has no
    # erfc; torch is a hard dependency, so NumPy input goes through torch's.
    import torch

    if is_torch(x):
        return torch.special.erfc(x)
    return torch.special.erfc(torch.from_numpy(np.asarray(x))).numpy()


def _check_slope(a: float) -> float:
    """Return the slope as a Python float, so a NumPy scalar cannot change dtypes."""
    # numbers.Real covers NumPy scalars such as np.float32. A bool is excluded
    # because a=True is far more likely a slip than the slope 1.
    is_number = isinstance(a, numbers.Real) and not isinstance(a, (bool, np.bool_))
    if not (is_number and math.isfinite(a) and a > 0):
        raise ValueError(f"a must be a finite positive slope, got {a!r}")
    return float(a)


def _check_approximate(approximate: str) -> str:
    if approximate not in _APPROXIMATIONS:
        raise ValueError(
            f"approximate must be one of {_APPROXIMATIONS}, got {approximate!r}"
        )
    return approximate
