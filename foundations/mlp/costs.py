r"""Output functions paired with costs, and the local gradient they start.

The cost of a batch of $N$ patterns is the course's average

$$
E_\text{av} = \frac{1}{N} \sum_{n=1}^{N} E(n),
$$

where $E(n)$ sums over the output neurons of pattern $n$:

- "sum_squared_error": $E(n) = \frac{1}{2} \sum_j e_j(n)^2$, with
  $e_j = d_j - y_j$ (``foundations.losses.sum_squared_error``);
- "binary_cross_entropy": $E(n) = -\sum_j [d_j \ln y_j + (1 - d_j) \ln(1 - y_j)]$,
  for sigmoid outputs (computed from the logits);
- "cross_entropy": $E(n) = -\sum_j d_j \ln y_j$, for softmax outputs.

At the output layer the local gradient is $\delta_j = -\partial E(n) /
\partial v_j$. For the matched pairs (identity with the squared error,
sigmoid with binary cross-entropy, softmax with cross-entropy) the
derivative of the output function cancels and

$$
\delta_j = d_j - y_j = e_j .
$$

The sign is the course's. Gradient libraries write the same quantity as
$\partial E / \partial v_j = y_j - d_j$, "p - y" with p the prediction.
Sigmoid and softmax outputs with the squared error give
$\delta = J^\top e$ with $J$ the Jacobian of the output function,
$\delta_j = e_j\, y_j (1 - y_j)$ for the sigmoid.
"""

from __future__ import annotations

from foundations import losses, outputs
from foundations._array import Array

__all__ = ["LOSSES", "OUTPUTS", "PAIRS", "check_pair", "cost", "output_delta"]

OUTPUTS = ("identity", "sigmoid", "softmax")
LOSSES = ("sum_squared_error", "binary_cross_entropy", "cross_entropy")
# Pairs whose local gradient at the output is e = d - y exactly.
MATCHED = {
    ("identity", "sum_squared_error"),
    ("sigmoid", "binary_cross_entropy"),
    ("softmax", "cross_entropy"),
}
PAIRS = (
    *sorted(MATCHED),
    ("sigmoid", "sum_squared_error"),
    ("softmax", "sum_squared_error"),
)


def check_pair(output: str, loss: str) -> None:
    """Raise ``ValueError`` unless ``(output, loss)`` is one of ``PAIRS``."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if (output, loss) not in PAIRS:
        raise ValueError(
            f"loss {loss!r} needs a probability output: use it with "
            f"{'sigmoid' if loss == 'binary_cross_entropy' else 'softmax'}, "
            f"got output {output!r}"
        )


def cost(output: str, loss: str, v: Array, y: Array, d: Array) -> Array:
    r"""Compute $E_\text{av}$ of a batch from the output fields and outputs.

    Parameters
    ----------
    output, loss : str
        A pair of ``PAIRS``.
    v : array of shape (batch, n_out)
        Induced local fields of the output layer (the logits).
    y : array of shape (batch, n_out)
        Outputs, the output function of ``v``.
    d : array of shape (batch, n_out)
        Desired responses.

    Returns
    -------
    array of shape ()
    """
    n_patterns = v.shape[0]
    if loss == "sum_squared_error":
        total = losses.sum_squared_error(y, d)
    elif loss == "binary_cross_entropy":
        total = losses.binary_cross_entropy_with_logits(v, d, reduction="sum")
    else:
        total = losses.cross_entropy(v, d, reduction="sum")
    return total / n_patterns


def output_delta(output: str, loss: str, v: Array, y: Array, d: Array) -> Array:
    r"""Return the local gradients $\delta = -\partial E(n) / \partial v$ at the output.

    $\delta = e = d - y$ for a matched pair, $e \odot y (1 - y)$ for the
    sigmoid with the squared error and $J^\top e$ for softmax with it.
    Arguments as in ``cost``.
    """
    e = d - y
    if (output, loss) in MATCHED:
        return e
    if output == "sigmoid":
        return outputs.sigmoid_jvp(v, e)
    return outputs.softmax_jvp(v, e)
