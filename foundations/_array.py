"""Array-namespace helpers shared by every foundations module.

One implementation serves NumPy arrays and torch tensors through the array API
standard (``array_api_compat``). Inputs keep their type, dtype and device, and
torch inputs keep autograd working.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat
import numpy as np

Array = Any  # a NumPy array or a torch tensor


def namespace(*arrays: Array) -> Any:
    """Return the array-API namespace of the arrays, with Python lists as NumPy.

    Plain Python numbers and ``None`` are ignored, so ``namespace(x, 2.0)`` is
    the namespace of ``x``.

    Raises
    ------
    TypeError
        If the arrays mix NumPy arrays and torch tensors, or one of them is
        of neither kind.
    """
    real = [
        np.asarray(a) if isinstance(a, (list, tuple)) else a
        for a in arrays
        if a is not None and not isinstance(a, (int, float))
    ]
    if not real:
        return array_api_compat.array_namespace(np.asarray(0.0))
    kinds = {is_torch(a) for a in real if array_api_compat.is_array_api_obj(a)}
    if len(kinds) > 1:
        names = ", ".join(sorted({type(a).__name__ for a in real}))
        raise TypeError(
            f"cannot mix NumPy arrays and torch tensors, got {names}; convert "
            "with torch.from_numpy(array) or tensor.numpy()"
        )
    return array_api_compat.array_namespace(*real)


def is_torch(x: Array) -> bool:
    """Tell whether ``x`` is a torch tensor."""
    return array_api_compat.is_torch_array(x)


def as_float_array(x: Array, name: str, xp: Any = None) -> Array:
    """Convert ``x`` to a floating-point array of its own namespace.

    Lists and tuples become NumPy float64 arrays. Integer and boolean arrays are
    promoted to the default floating type of their namespace (float64 for NumPy,
    ``torch.get_default_dtype()`` for torch); floating arrays are returned as
    they are, so float32 stays float32.

    Raises
    ------
    TypeError
        If ``x`` is not an array, a tensor, a list, a tuple or a number.
    """
    if isinstance(x, (list, tuple, int, float)):
        x = np.asarray(x, dtype=np.float64)
    if not (array_api_compat.is_array_api_obj(x)):
        raise TypeError(
            f"{name} must be a NumPy array or a torch tensor, got {type(x).__name__}"
        )
    xp = xp or array_api_compat.array_namespace(x)
    if xp.isdtype(x.dtype, "real floating"):
        return x
    if xp.isdtype(x.dtype, "complex floating"):
        raise TypeError(f"{name} must be real, got dtype {x.dtype}")
    if is_torch(x):
        import torch

        return x.to(torch.get_default_dtype())
    return xp.astype(x, xp.float64)


def check_finite(x: Array, name: str, xp: Any = None) -> None:
    """Raise ``ValueError`` if ``x`` contains NaN or infinity, naming ``name``."""
    xp = xp or array_api_compat.array_namespace(x)
    finite = xp.isfinite(x)
    if not bool(xp.all(finite)):
        bad = x[~finite]
        raise ValueError(
            f"{name} must contain only finite values, got {_first_item(bad)} "
            f"among {int(bad.shape[0])} non-finite entries"
        )


def check_not_empty(x: Array, name: str) -> None:
    """Raise ``ValueError`` if ``x`` has no elements."""
    if math.prod(x.shape) == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")


def to_float(x: Array) -> float:
    """Return a zero-dimensional array or tensor as a Python float."""
    return float(x.item()) if hasattr(x, "item") else float(x)


def _first_item(x: Array) -> float:
    flat = x.reshape(-1)
    return to_float(flat[0])
