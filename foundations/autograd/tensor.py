r"""``Tensor``: a NumPy array that records the operations applied to it.

Each operation computes its result and defines, right beside it, a backward
function that maps $\bar z = \partial E / \partial z$ to one
vector-Jacobian product per operand. ``Tensor.backward`` runs them in
reverse topological order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from foundations.autograd import functions

__all__ = ["Backward", "Tensor", "topological_order"]

# Maps the gradient of a result to one gradient per parent (None where a
# parent gets none, e.g. the integer indices of an indexing operation).
Backward = Callable[[np.ndarray], tuple[np.ndarray | None, ...]]


class Tensor:
    r"""A NumPy array with a gradient and the graph node that produced it.

    Parameters
    ----------
    data : array_like
        The values. Integer and boolean data become float64, floating data
        keeps its dtype. A torch tensor is copied to NumPy, and must not
        require a gradient, because this graph cannot pass one back to it.
    requires_grad : bool, default False
        Whether ``backward`` accumulates $\partial E / \partial x$ into
        ``grad``. Results of operations require a gradient when any
        operand does.

    Raises
    ------
    TypeError
        If ``data`` contains anything but real numbers (None, strings, complex
        numbers, objects), or is a torch tensor that requires a gradient.

    Attributes
    ----------
    data : numpy.ndarray
    grad : numpy.ndarray or None
        The accumulated gradient of a leaf (a tensor made by the user),
        of the shape of ``data``. Results of operations keep none, as in
        torch.
    requires_grad : bool
    op : str
        Name of the operation that produced the tensor, "" for a leaf.

    Notes
    -----
    NumPy arrays and Python numbers mix with tensors in arithmetic and act
    as constants. Broadcasting follows NumPy, and the backward pass sums a
    gradient over the broadcast axes to give it the operand's shape.
    """

    __slots__ = ("_backward", "_parents", "data", "grad", "op", "requires_grad")
    # Makes NumPy return NotImplemented from `array + tensor`, so Python
    # calls Tensor.__radd__ and the result is a tensor.
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        array = data.data if isinstance(data, Tensor) else data
        if not isinstance(array, np.ndarray):
            array = _as_numpy(array)
        if array.dtype.kind != "f":
            array = _as_float(array, data)
        self.data: np.ndarray = array
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self.op = ""
        self._parents: tuple[Tensor, ...] = ()
        self._backward: Backward | None = None

    @classmethod
    def from_op(
        cls,
        data: np.ndarray,
        parents: Sequence[Tensor],
        backward: Backward,
        op: str,
    ) -> Tensor:
        """Return the result of an operation as a node of the graph.

        ``backward`` receives the gradient of the result and returns one
        gradient per parent, in the parents' order. When no parent requires
        a gradient the result is a constant and keeps no graph.
        """
        out = cls(data)
        if any(p.requires_grad for p in parents):
            out.requires_grad = True
            out.op = op
            out._parents = tuple(parents)
            out._backward = backward
        return out

    # --- Properties and conversions -----------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = f", op={self.op!r}" if self.op else ""
        flag = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{flag}{grad})"

    def item(self) -> float:
        """Return the value of a one-element tensor as a Python float."""
        return float(self.data.item())

    def numpy(self) -> np.ndarray:
        """Return the underlying array (not a copy)."""
        return self.data

    def detach(self) -> Tensor:
        """Return a tensor with the same data and no graph."""
        return Tensor(self.data)

    # --- Backpropagation ----------------------------------------------------

    def backward(self, gradient: Any = None) -> None:
        r"""Accumulate $\partial E / \partial x$ into ``x.grad`` of each leaf.

        The graph is kept, so ``backward`` can run again, and gradients add
        up in the leaves as in torch. Set ``grad`` to ``None`` to start over.

        Parameters
        ----------
        gradient : array_like, optional
            $\partial E / \partial z$ for this tensor $z$. Required unless
            the tensor has one element, where it defaults to 1.

        Raises
        ------
        ValueError
            If the tensor does not require a gradient, or ``gradient`` is
            missing for a tensor of more than one element or has another
            shape.
        """
        seed = self._seed_gradient(gradient)
        pending: dict[int, np.ndarray] = {id(self): seed}
        for node in reversed(topological_order(self)):
            g = pending.pop(id(node), None)
            if g is None:
                continue
            if node._backward is None:
                node._accumulate(g)
                continue
            g_parents = node._backward(g)
            for parent, g_parent in zip(node._parents, g_parents, strict=True):
                if g_parent is None or not parent.requires_grad:
                    continue
                key = id(parent)
                if key in pending:
                    g_parent = pending[key] + g_parent
                pending[key] = g_parent

    def _seed_gradient(self, gradient: Any) -> np.ndarray:
        if not self.requires_grad:
            raise ValueError(
                "backward needs a tensor that requires a gradient, got one with "
                "requires_grad=False (create the leaves with requires_grad=True)"
            )
        if gradient is None:
            if self.size != 1:
                raise ValueError(
                    "gradient must be given for a tensor of more than one element, "
                    f"got shape {self.shape}"
                )
            return np.ones_like(self.data)
        seed = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient)
        if seed.shape != self.shape:
            raise ValueError(
                f"gradient must have the shape of the tensor, {self.shape}, "
                f"got {seed.shape}"
            )
        return seed.astype(self.dtype, copy=False)

    def _accumulate(self, g: np.ndarray) -> None:
        # A copy on the first write, because g may be an array that another
        # node or the caller still holds.
        if self.grad is None:
            self.grad = np.array(g, dtype=self.dtype)
        else:
            self.grad = self.grad + g

    # --- Arithmetic with broadcasting ---------------------------------------

    def __add__(self, other: Any) -> Tensor:
        other = self._constant(other)

        def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return unbroadcast(g, self.shape), unbroadcast(g, other.shape)

        return Tensor.from_op(self.data + other.data, (self, other), backward, "add")

    def __radd__(self, other: Any) -> Tensor:
        return self + other

    def __neg__(self) -> Tensor:
        return Tensor.from_op(-self.data, (self,), lambda g: (-g,), "neg")

    def __sub__(self, other: Any) -> Tensor:
        other = self._constant(other)

        def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return unbroadcast(g, self.shape), unbroadcast(-g, other.shape)

        return Tensor.from_op(self.data - other.data, (self, other), backward, "sub")

    def __rsub__(self, other: Any) -> Tensor:
        return self._constant(other) - self

    def __mul__(self, other: Any) -> Tensor:
        other = self._constant(other)

        def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return (
                unbroadcast(g * other.data, self.shape),
                unbroadcast(g * self.data, other.shape),
            )

        return Tensor.from_op(self.data * other.data, (self, other), backward, "mul")

    def __rmul__(self, other: Any) -> Tensor:
        return self * other

    def __truediv__(self, other: Any) -> Tensor:
        r"""Divide elementwise.

        $\partial(x/y)/\partial x = 1/y$ and $\partial(x/y)/\partial y = -x/y^2$.
        """
        other = self._constant(other)
        z = self.data / other.data

        def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            g_x = g / other.data
            return unbroadcast(g_x, self.shape), unbroadcast(-g_x * z, other.shape)

        return Tensor.from_op(z, (self, other), backward, "div")

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._constant(other) / self

    def __pow__(self, exponent: float) -> Tensor:
        r"""Raise to a constant power, with derivative $p\,x^{p-1}$.

        Raises
        ------
        TypeError
            If ``exponent`` is not a Python number. Tensor exponents are not
            supported, so write ``(y * x.log()).exp()`` for $x^y$.
        """
        if not isinstance(exponent, (int, float)):
            raise TypeError(
                f"exponent must be a Python number, got {type(exponent).__name__}"
            )
        x = self.data

        def backward(g: np.ndarray) -> tuple[np.ndarray]:
            return (g * exponent * x ** (exponent - 1),)

        return Tensor.from_op(x**exponent, (self,), backward, "pow")

    def __matmul__(self, other: Any) -> Tensor:
        r"""Multiply matrices, with NumPy's rules for 1-D and stacked operands.

        For $Z = X W$: $\bar X = \bar Z W^\top$ and $\bar W = X^\top \bar Z$,
        summed over broadcast batch axes.
        """
        other = self._constant(other)
        x, w = self.data, other.data

        def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            # Promote 1-D operands to matrices, as matmul did, to transpose them.
            x2 = x[np.newaxis, :] if x.ndim == 1 else x
            w2 = w[:, np.newaxis] if w.ndim == 1 else w
            g2 = g.reshape(np.matmul(x2, w2).shape)
            g_x = np.matmul(g2, np.swapaxes(w2, -1, -2))
            g_w = np.matmul(np.swapaxes(x2, -1, -2), g2)
            return (
                unbroadcast(g_x, x2.shape).reshape(x.shape),
                unbroadcast(g_w, w2.shape).reshape(w.shape),
            )

        return Tensor.from_op(np.matmul(x, w), (self, other), backward, "matmul")

    def __rmatmul__(self, other: Any) -> Tensor:
        return self._constant(other) @ self

    def _constant(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return other
        return Tensor(np.asarray(other, dtype=self.dtype))

    # --- Reductions ---------------------------------------------------------

    def sum(
        self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
    ) -> Tensor:
        """Sum over ``axis``, or all axes when None.

        The backward function copies the gradient to every summed entry.
        """
        shape = self.shape

        def backward(g: np.ndarray) -> tuple[np.ndarray]:
            return (np.broadcast_to(_keep_axes(g, shape, axis, keepdims), shape),)

        z = np.sum(self.data, axis=axis, keepdims=keepdims)
        return Tensor.from_op(np.asarray(z), (self,), backward, "sum")

    def mean(
        self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
    ) -> Tensor:
        """Average over ``axis``, or all axes when None."""
        axes = range(self.ndim) if axis is None else np.atleast_1d(axis)
        count = int(np.prod([self.shape[a] for a in axes]))
        return self.sum(axis=axis, keepdims=keepdims) / count

    def max(
        self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
    ) -> Tensor:
        """Take the maximum over ``axis``, or all axes when None.

        The gradient goes to the entries equal to the maximum and is split
        equally among ties, as for ``torch.amax``.
        """
        x, shape = self.data, self.shape
        z_kept = np.max(x, axis=axis, keepdims=True)

        def backward(g: np.ndarray) -> tuple[np.ndarray]:
            winners = x == z_kept
            count = np.sum(winners, axis=axis, keepdims=True)
            return (winners * _keep_axes(g, shape, axis, keepdims) / count,)

        z = z_kept if keepdims else np.max(x, axis=axis)
        return Tensor.from_op(np.asarray(z), (self,), backward, "max")

    # --- Shapes and indexing ------------------------------------------------

    def reshape(self, *shape: int | tuple[int, ...]) -> Tensor:
        """Return the data in a new shape, where ``-1`` infers one length."""
        if len(shape) == 1 and isinstance(shape[0], tuple):
            shape = shape[0]
        old_shape = self.shape
        z = self.data.reshape(shape)
        return Tensor.from_op(z, (self,), lambda g: (g.reshape(old_shape),), "reshape")

    def transpose(self, *axes: int) -> Tensor:
        """Permute the axes (reverse them when none are given), as NumPy does."""
        order = tuple(axes) if axes else tuple(reversed(range(self.ndim)))
        inverse = tuple(np.argsort(order))
        z = np.transpose(self.data, order)
        return Tensor.from_op(
            z, (self,), lambda g: (np.transpose(g, inverse),), "transpose"
        )

    @property
    def T(self) -> Tensor:
        """The transpose, with the axes in reverse order."""
        return self.transpose()

    def __getitem__(self, index: Any) -> Tensor:
        """Index as NumPy does, with slices, integers or integer arrays.

        The gradient is scattered back with ``numpy.add.at``, so an entry
        picked several times by an integer array gets the sum of its
        gradients.
        """
        if isinstance(index, Tensor):
            index = index.data.astype(np.intp)
        shape, dtype = self.shape, self.dtype

        def backward(g: np.ndarray) -> tuple[np.ndarray]:
            g_x = np.zeros(shape, dtype=dtype)
            np.add.at(g_x, index, g)
            return (g_x,)

        return Tensor.from_op(np.asarray(self.data[index]), (self,), backward, "index")

    # --- Elementwise functions (defined in foundations.autograd.functions) ---

    def exp(self) -> Tensor:
        return functions.exp(self)

    def log(self) -> Tensor:
        return functions.log(self)

    def tanh(self) -> Tensor:
        return functions.tanh(self)

    def sigmoid(self) -> Tensor:
        return functions.sigmoid(self)

    def relu(self) -> Tensor:
        return functions.relu(self)

    def gelu(self, approximate: str = "none") -> Tensor:
        return functions.gelu(self, approximate)

    def softmax(self, axis: int = -1) -> Tensor:
        return functions.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return functions.log_softmax(self, axis)


def _as_numpy(data: Any) -> np.ndarray:
    if type(data).__module__.startswith("torch") and getattr(
        data, "requires_grad", False
    ):
        raise TypeError(
            "data is a torch tensor that requires grad, and this graph cannot "
            "pass gradients back to torch's: pass data.detach() and set "
            "requires_grad on the Tensor"
        )
    return np.asarray(data)


def _as_float(array: np.ndarray, data: Any) -> np.ndarray:
    """Promote integers and booleans to float64 and reject every other dtype."""
    if array.dtype.kind not in "biu":
        raise TypeError(
            f"data must contain real numbers, got {type(data).__name__} of dtype "
            f"{array.dtype}"
        )
    return array.astype(np.float64)


def topological_order(root: Tensor) -> list[Tensor]:
    """List the nodes that ``root`` depends on, each after all its parents.

    Only nodes that require a gradient are listed. The depth-first search
    keeps its own stack, so a graph of any depth (a chain of a million
    operations) needs no recursion.
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    # (node, expanded): a node is appended when it is popped the second
    # time, after every parent pushed above it has been appended.
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node._parents:
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    return order


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting added or stretched.

    The inverse of broadcasting an operand of ``shape`` to the shape of
    ``g``: leading axes are summed away, and axes of length 1 in ``shape``
    are summed with ``keepdims``.
    """
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    stretched = tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and g.shape[extra + i] != 1
    )
    g = np.sum(g, axis=tuple(range(extra)) + stretched, keepdims=True)
    return g.reshape(shape)


def _keep_axes(
    g: np.ndarray, shape: tuple[int, ...], axis: Any, keepdims: bool
) -> np.ndarray:
    """Give a reduction's gradient back its reduced axes, with length 1."""
    if keepdims or axis is None:
        return g.reshape((1,) * len(shape)) if axis is None else g
    axes = (axis,) if isinstance(axis, int) else axis
    return np.expand_dims(g, tuple(a % len(shape) for a in axes))
