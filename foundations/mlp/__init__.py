r"""Multilayer perceptron with the course's local-gradient backpropagation.

Notation (the course's): a layer receives the outputs $y_i$ of the
layer before it, computes the induced local fields
$v_j = \sum_i w_{ji} y_i + b_j$ and the outputs
$y_j = \varphi(v_j)$. With the error $e_j = d_j - y_j$ and the cost
$E = \frac{1}{2} \sum_j e_j^2$, the local gradient of a neuron is

$$
\delta_j = -\frac{\partial E}{\partial v_j} =
\begin{cases}
e_j\, \varphi'(v_j) & \text{at an output neuron,} \\
\varphi'(v_j) \sum_k \delta_k w_{kj} & \text{at a hidden neuron,}
\end{cases}
$$

and the update $w_{ji}(n+1) = w_{ji}(n) + \eta\, \delta_j y_i$ is a
step of steepest descent, because $\delta$ is a negative gradient. (The
course's exercise list writes one step of the derivation as
$w + \partial E / \partial w$. That sign is a slip: descent subtracts the
gradient.) For a batch, the weight gradient of a layer is
$\delta^\top y$, the sum over patterns of the outer products of its local
gradients with its inputs.

Weights use the layout of ``torch.nn.Linear``: a layer from ``n_in`` to
``n_out`` units has ``weight`` of shape ``(n_out, n_in)``.

Modules:

- ``layer``: ``Dense`` and the four layer steps (``affine``,
  ``local_gradient``, ``back_propagate``, ``weight_gradient``), the one
  implementation that everything below uses;
- ``network``: ``MLP``, with batch, minibatch and online training;
- ``costs``: output functions paired with costs, and the output $\delta$;
- ``init``: Glorot and He initial weights;
- ``block``: ``block_forward`` / ``block_backward``, the pure functions of
  the Transformer feed-forward block.
"""

from foundations.mlp.block import (
    BlockCache,
    BlockGradients,
    block_backward,
    block_forward,
)
from foundations.mlp.layer import (
    Dense,
    affine,
    back_propagate,
    local_gradient,
    weight_gradient,
)
from foundations.mlp.network import MLP

__all__ = [
    "MLP",
    "BlockCache",
    "BlockGradients",
    "Dense",
    "affine",
    "back_propagate",
    "block_backward",
    "block_forward",
    "local_gradient",
    "weight_gradient",
]
