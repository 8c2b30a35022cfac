r"""Initial weights of a layer, chosen by its activation.

- Sigmoids, identity and softmax: Glorot (Xavier) uniform,

  $$
  w_{ji} \sim U(-r, r), \qquad
  r = \frac{1}{\varphi'(0)} \sqrt{\frac{6}{n_\text{in} + n_\text{out}}}.
  $$

  The Glorot range keeps the variance of the signals equal from layer to
  layer for a unit whose slope at the origin is 1. A unit with slope
  $\varphi'(0)$ scales the variance by $\varphi'(0)^2$, so the range is
  divided by $\varphi'(0)$: by $a/2$ for the tanh-sigmoid
  $\tanh(a v / 2)$ (no change for $\tanh v$, $a = 2$) and by $a/4$
  for the logistic, the known factor 4 at $a = 1$.
- ReLU and GELU: He normal, $w_{ji} \sim N(0, 2 / n_\text{in})$, which
  makes up for the half of the inputs that a rectifier sets to zero.

Biases start at zero. Draws come from a ``numpy.random.Generator`` for the
NumPy backend and a ``torch.Generator`` for the torch one, so a seed gives
the same weights on every run of one backend.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from foundations._array import Array

__all__ = [
    "BACKENDS",
    "glorot_range",
    "initial_parameters",
    "is_torch_generator",
    "make_generator",
]

BACKENDS = ("numpy", "torch")
HE_ACTIVATIONS = ("relu", "gelu", "gelu_tanh")


def glorot_range(n_in: int, n_out: int, activation: str, a: float = 1.0) -> float:
    r"""Return the half-width $r$ of the uniform Glorot range for ``activation``.

    Examples
    --------
    >>> glorot_range(2, 1, "tanh_sigmoid", a=2.0) == math.sqrt(2.0)
    True
    """
    slope = {"sigmoid": a / 4.0, "tanh_sigmoid": a / 2.0}.get(activation, 1.0)
    return math.sqrt(6.0 / (n_in + n_out)) / slope


def make_generator(seed: Any, backend: str) -> Any:
    """Return a random generator of ``backend`` from a seed or a generator.

    ``seed`` may be an int, None (fresh entropy), a ``numpy.random.Generator``
    (NumPy backend) or a ``torch.Generator`` (torch backend).

    Raises
    ------
    ValueError
        If ``backend`` is unknown, ``seed`` is a negative integer, or a
        generator of the other backend.
    TypeError
        If ``seed`` is not None, an integer or a generator.
    """
    _check_backend(backend)
    _check_seed(seed)
    if backend == "numpy":
        if is_torch_generator(seed):
            raise ValueError(
                "seed must be an int or a numpy.random.Generator for the numpy "
                "backend, got a torch.Generator"
            )
        return np.random.default_rng(seed)
    import torch

    if isinstance(seed, np.random.Generator):
        raise ValueError(
            "seed must be an int or a torch.Generator for the torch backend, "
            "got a numpy.random.Generator"
        )
    if isinstance(seed, torch.Generator):
        return seed
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return generator


def initial_parameters(
    n_in: int,
    n_out: int,
    activation: str,
    a: float = 1.0,
    seed: Any = 0,
    backend: str = "numpy",
    dtype: Any = None,
    device: Any = None,
) -> tuple[Array, Array]:
    """Draw the weights of shape (n_out, n_in) and zero biases of shape (n_out,).

    Raises
    ------
    ValueError
        If ``n_in`` or ``n_out`` is not a positive integer, ``dtype`` is not
        a floating-point type, or ``backend`` or ``seed`` is invalid (see
        ``make_generator``).
    TypeError
        If ``dtype`` is not a dtype of ``backend``.
    """
    for name, value in (("n_in", n_in), ("n_out", n_out)):
        if not (isinstance(value, (int, np.integer)) and value >= 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    generator = make_generator(seed, backend)
    dtype = _floating_dtype(dtype, backend)
    if activation in HE_ACTIVATIONS:
        scale, draw = math.sqrt(2.0 / n_in), "normal"
    else:
        scale, draw = glorot_range(n_in, n_out, activation, a), "uniform"
    shape = (int(n_out), int(n_in))
    if backend == "numpy":
        return _numpy_parameters(shape, draw, scale, generator, dtype)
    return _torch_parameters(shape, draw, scale, generator, dtype, device)


def _numpy_parameters(shape, draw, scale, generator, dtype) -> tuple[Array, Array]:
    if draw == "normal":
        weight = generator.normal(0.0, scale, size=shape)
    else:
        weight = generator.uniform(-scale, scale, size=shape)
    return weight.astype(dtype), np.zeros(shape[0], dtype=dtype)


def _torch_parameters(shape, draw, scale, generator, dtype, device):
    import torch

    # Drawn on the CPU, where the generator lives, then moved.
    weight = torch.empty(shape, dtype=dtype)
    if draw == "normal":
        weight.normal_(0.0, scale, generator=generator)
    else:
        weight.uniform_(-scale, scale, generator=generator)
    weight = weight.to(device)
    return weight, torch.zeros(shape[0], dtype=weight.dtype, device=weight.device)


def _floating_dtype(dtype: Any, backend: str) -> Any:
    """Return the weights' dtype of ``backend``, checking that it is floating."""
    if backend == "numpy":
        if dtype is None:
            return np.dtype(np.float64)
        try:
            checked = np.dtype(dtype)
        except TypeError as error:
            raise TypeError(
                f"dtype must be a NumPy dtype for the numpy backend, got {dtype!r}"
            ) from error
        is_floating = np.issubdtype(checked, np.floating)
    else:
        import torch

        if dtype is None:
            return torch.get_default_dtype()
        if not isinstance(dtype, torch.dtype):
            raise TypeError(
                f"dtype must be a torch.dtype for the torch backend, got {dtype!r}"
            )
        checked, is_floating = dtype, dtype.is_floating_point
    if not is_floating:
        raise ValueError(f"dtype must be a floating-point type, got {checked}")
    return checked


def is_torch_generator(seed: Any) -> bool:
    """Tell whether ``seed`` is a ``torch.Generator``, without importing torch."""
    return type(seed).__module__.startswith("torch") and hasattr(seed, "manual_seed")


def _check_seed(seed: Any) -> None:
    if (
        seed is None
        or isinstance(seed, np.random.Generator)
        or is_torch_generator(seed)
    ):
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be None, an integer or a generator, got {type(seed).__name__}"
        )
    # NumPy rejects negative seeds but torch accepts them, so both reject them here.
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
