r"""Gradients as functions, and their check against central differences."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from foundations.autograd.tensor import Tensor

__all__ = ["GradcheckError", "grad", "gradcheck"]


class GradcheckError(AssertionError):
    """A gradient of the graph that differs from its central difference."""


def grad(
    f: Callable[..., Tensor], argnums: int | Sequence[int] = 0
) -> Callable[..., np.ndarray | tuple[np.ndarray, ...]]:
    r"""Return the function $x \mapsto \nabla_x f(x)$ of a scalar function.

    Parameters
    ----------
    f : callable
        Takes tensors and returns a one-element tensor.
    argnums : int or sequence of int, default 0
        Position of the arguments to differentiate with respect to.

    Returns
    -------
    callable
        Takes the arguments of ``f`` as arrays and returns the gradient, an
        array of the shape of that argument (zeros where ``f`` does not
        depend on it), or a tuple of them when ``argnums`` is a sequence.
        It raises ``TypeError`` if ``f`` returns no ``Tensor``, and
        ``ValueError`` if the result has more than one element or a position
        in ``argnums`` is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> df = grad(lambda x: (x * x * x).sum())
    >>> df(np.array([1.0, 2.0]))
    array([ 3., 12.])
    """
    positions = (argnums,) if isinstance(argnums, int) else tuple(argnums)

    def gradient(*args: Any) -> np.ndarray | tuple[np.ndarray, ...]:
        chosen = _argument_positions(positions, len(args))
        tensors = [Tensor(a, requires_grad=i in chosen) for i, a in enumerate(args)]
        out = _tensor_result(f(*tensors))
        if out.size != 1:
            raise ValueError(
                f"f must return a one-element tensor, got shape {out.shape}"
            )
        if out.requires_grad:  # otherwise f does not depend on the arguments
            out.backward()
        grads = tuple(_grad_or_zeros(tensors[i]) for i in chosen)
        return grads[0] if isinstance(argnums, int) else grads

    return gradient


def gradcheck(
    f: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    r"""Compare the Jacobian of ``f`` from backpropagation with central differences.

    Column $i$ of the numerical Jacobian is

    $$
    \frac{f(x + \epsilon e_i) - f(x - \epsilon e_i)}{2 \epsilon},
    $$

    with error $O(\epsilon^2)$. Row $k$ of the analytical Jacobian comes
    from ``backward`` seeded with the unit vector $e_k$ of the output. They
    agree when $|J_{\text{analytical}} - J_{\text{numerical}}| \le
    \text{atol} + \text{rtol}\,|J_{\text{numerical}}|$ entrywise, the test of
    ``torch.autograd.gradcheck``. Use float64 inputs.

    Parameters
    ----------
    f : callable
        Takes one tensor per input and returns a tensor of any shape.
    inputs : sequence of arrays
        The point of the check; every input is differentiated.
    eps, atol, rtol : float
        Step and tolerances.
    raise_exception : bool, default True
        Raise ``GradcheckError`` on a mismatch instead of returning False.

    Returns
    -------
    bool
        True when every Jacobian agrees.

    Raises
    ------
    GradcheckError
        On a mismatch, naming the input, the entry and both values.

    Examples
    --------
    >>> import numpy as np
    >>> gradcheck(lambda x, y: (x * y).tanh(), [np.ones(3), np.arange(3.0)])
    True
    """
    arrays = [np.array(x, dtype=np.float64) for x in inputs]
    for i, x in enumerate(arrays):
        analytical = _analytical_jacobian(f, arrays, i)
        numerical = _numerical_jacobian(f, arrays, i, eps)
        if np.allclose(analytical, numerical, rtol=rtol, atol=atol):
            continue
        if not raise_exception:
            return False
        error = np.abs(analytical - numerical) - rtol * np.abs(numerical)
        k, j = np.unravel_index(np.argmax(error), error.shape)
        raise GradcheckError(
            f"Jacobian of output {k} with respect to entry {j} of input {i} "
            f"(shape {x.shape}) is {analytical[k, j]!r} from backward but "
            f"{numerical[k, j]!r} from central differences"
        )
    return True


def _analytical_jacobian(
    f: Callable[..., Tensor], arrays: list[np.ndarray], i: int
) -> np.ndarray:
    """Return d f / d arrays[i] as (output size, input size), row by row."""
    tensors = [Tensor(x, requires_grad=(j == i)) for j, x in enumerate(arrays)]
    out = _tensor_result(f(*tensors))
    if not out.requires_grad:  # f does not depend on this input
        return np.zeros((out.size, arrays[i].size))
    rows = []
    for k in range(out.size):
        seed = np.zeros(out.size)
        seed[k] = 1.0
        tensors[i].grad = None
        out.backward(seed.reshape(out.shape))
        rows.append(_grad_or_zeros(tensors[i]).ravel())
    return np.array(rows).reshape(out.size, arrays[i].size)


def _numerical_jacobian(
    f: Callable[..., Tensor], arrays: list[np.ndarray], i: int, eps: float
) -> np.ndarray:
    """Return d f / d arrays[i] from central differences, column by column."""
    x = arrays[i]
    columns = []
    for j in range(x.size):
        original = x.flat[j]
        x.flat[j] = original + eps
        plus = f(*map(Tensor, arrays)).data.ravel()
        x.flat[j] = original - eps
        minus = f(*map(Tensor, arrays)).data.ravel()
        x.flat[j] = original
        columns.append((plus - minus) / (2.0 * eps))
    return np.array(columns).T.reshape(-1, x.size)


def _argument_positions(positions: tuple[int, ...], count: int) -> tuple[int, ...]:
    """Check positions of ``argnums`` and make negative ones count from 0."""
    for i in positions:
        if not -count <= i < count:
            plural = "" if count == 1 else "s"
            raise ValueError(
                f"argnums must lie in [{-count}, {count}) for {count} "
                f"argument{plural}, got {i}"
            )
    return tuple(i % count for i in positions)


def _tensor_result(out: Any) -> Tensor:
    if not isinstance(out, Tensor):
        raise TypeError(f"f must return a Tensor, got {type(out).__name__}")
    return out


def _grad_or_zeros(x: Tensor) -> np.ndarray:
    """Return the gradient of ``x``, or zeros when no path reached it."""
    return x.grad if x.grad is not None else np.zeros_like(x.data)
