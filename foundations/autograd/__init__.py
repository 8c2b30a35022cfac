r"""Reverse-mode automatic differentiation on NumPy arrays.

A ``Tensor`` wraps a NumPy array. Every operation on tensors that need a
gradient records a node of a computational graph: the result, its parents
(the operands) and a backward function. The backward function of an
operation $z = f(x_1, \dots, x_n)$ maps the gradient of the loss with
respect to the result, $\bar z = \partial E / \partial z$, to the
vector-Jacobian products

$$
\bar x_i = \left(\frac{\partial z}{\partial x_i}\right)^{\top} \bar z ,
$$

one per parent. ``Tensor.backward`` seeds $\bar E = 1$ at the loss,
visits the nodes in reverse topological order and adds up the products
arriving at each node, which is the chain rule summed over every path from
a parameter to the loss:

$$
\frac{\partial E}{\partial x}
= \sum_{z \,\text{child of}\, x}
\left(\frac{\partial z}{\partial x}\right)^{\top} \frac{\partial E}{\partial z}.
$$

For a multilayer perceptron this computes the same local gradients as the
course's backpropagation: the gradient arriving at an induced local field
$v_j$ is $-\delta_j$, because the course defines $\delta_j$ from the error
$e_j = d_j - y_j$, the negative gradient.

The modules:

- ``tensor``: ``Tensor`` with arithmetic, broadcasting, ``matmul``,
  reductions, reshaping and indexing, and the graph traversal;
- ``functions``: ``exp``, ``log``, ``tanh``, ``sigmoid``, ``relu``,
  ``gelu``, ``softmax``, ``log_softmax`` and ``cross_entropy``;
- ``gradients``: ``grad`` (a function's gradient as a function) and
  ``gradcheck`` (comparison with central differences).

Examples
--------
>>> import numpy as np
>>> x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
>>> loss = (x * x).sum()
>>> loss.backward()
>>> x.grad
array([2., 4., 6.])
"""

from foundations.autograd.functions import (
    cross_entropy,
    exp,
    gelu,
    log,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from foundations.autograd.gradients import GradcheckError, grad, gradcheck
from foundations.autograd.tensor import Tensor, topological_order

__all__ = [
    "GradcheckError",
    "Tensor",
    "cross_entropy",
    "exp",
    "gelu",
    "grad",
    "gradcheck",
    "log",
    "log_softmax",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
    "topological_order",
]
