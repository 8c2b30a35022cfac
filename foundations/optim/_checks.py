"""Input checks shared by the update rules and the torch optimizers.

The hyperparameter rules are torch.optim's (torch 2.13.0): every rate, decay and
``eps`` is at least 0 and each Adam beta lies in [0, 1). Unlike torch, NaN and
infinity are rejected everywhere, because every comparison with NaN is false and
an infinite rate or decay turns the parameters into NaN. A hyperparameter must be
a real number, such as a float or a NumPy scalar, not a tensor.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from array_api_compat import is_array_api_obj

from foundations._array import Array, as_float_array, check_finite, namespace

# State entries that sum or average squared gradients, so are never negative.
_SECOND_MOMENTS = ("sum", "square_avg", "exp_avg_sq", "max_exp_avg_sq")


def _as_real(value: Any, name: str) -> float:
    # float() would also convert strings and one-element arrays and tensors. A
    # tensor would then reach the update rules, which fail on a torch lr with
    # NumPy parameters and in torch's multi-tensor kernels.
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"{name} must be a real number, got {type(value).__name__}")


def _check_finite(value: Any, name: str) -> None:
    if not math.isfinite(_as_real(value, name)):
        raise ValueError(f"{name} must be finite, got {value!r}")


def check_nonnegative(value: Any, name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number >= 0."""
    if not _as_real(value, name) >= 0.0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    _check_finite(value, name)


def check_betas(betas: Any) -> None:
    """Raise ``ValueError`` unless ``betas`` is a pair with both values in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for index, beta in enumerate(betas):
        if not 0.0 <= _as_real(beta, f"betas[{index}]") < 1.0:
            raise ValueError(f"betas[{index}] must be in [0, 1), got {beta!r}")


def check_sgd_hyperparameters(
    *,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    **_: Any,
) -> None:
    """Raise ``ValueError`` for hyperparameters that ``torch.optim.SGD`` rejects."""
    check_nonnegative(lr, "lr")
    check_nonnegative(momentum, "momentum")
    check_nonnegative(weight_decay, "weight_decay")
    _check_finite(dampening, "dampening")
    if nesterov and not (momentum > 0 and dampening == 0):
        raise ValueError(
            "nesterov=True requires momentum > 0 and dampening == 0, "
            f"got momentum={momentum!r} and dampening={dampening!r}"
        )


def check_adagrad_hyperparameters(
    *,
    lr: float,
    lr_decay: float,
    weight_decay: float,
    initial_accumulator_value: float,
    eps: float,
    **_: Any,
) -> None:
    """Raise ``ValueError`` for hyperparameters that ``torch.optim.Adagrad`` rejects."""
    check_nonnegative(lr, "lr")
    check_nonnegative(lr_decay, "lr_decay")
    check_nonnegative(weight_decay, "weight_decay")
    check_nonnegative(initial_accumulator_value, "initial_accumulator_value")
    check_nonnegative(eps, "eps")


def check_rmsprop_hyperparameters(
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    **_: Any,
) -> None:
    r"""Raise ``ValueError`` for invalid ``torch.optim.RMSprop`` hyperparameters.

    Unlike torch, ``alpha`` must be below 1. The running mean is
    $v_t = \alpha v_{t-1} + (1 - \alpha) g_t^2$ with $v_0 = 0$, so ``alpha = 1``
    keeps $v$ at 0 and every step is $\eta g / \epsilon$, and ``alpha > 1``
    makes $v_1$ negative, so torch's first step is NaN.
    """
    check_nonnegative(lr, "lr")
    if not 0.0 <= _as_real(alpha, "alpha") < 1.0:
        raise ValueError(
            f"alpha must be in [0, 1), got {alpha!r}, because the running mean of "
            "g^2 stays at 0 for alpha = 1 and turns negative for alpha > 1"
        )
    check_nonnegative(eps, "eps")
    check_nonnegative(weight_decay, "weight_decay")
    check_nonnegative(momentum, "momentum")


def check_adam_hyperparameters(
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    **flags: Any,
) -> None:
    """Raise ``ValueError`` for hyperparameters that ``torch.optim.Adam`` rejects.

    Also for a ``foreach`` or ``fused`` that is neither None nor a bool, and
    for both True in one group.
    """
    check_nonnegative(lr, "lr")
    check_betas(betas)
    check_nonnegative(eps, "eps")
    check_nonnegative(weight_decay, "weight_decay")
    for name in ("foreach", "fused"):
        flag = flags.get(name)
        if flag is not None and not isinstance(flag, bool):
            raise ValueError(f"{name} must be None, True or False, got {flag!r}")
    if flags.get("foreach") and flags.get("fused"):
        raise ValueError(
            "foreach and fused cannot both be True: pick the multi-tensor "
            "path (foreach) or torch's one-pass kernel (fused)"
        )


def _smallest_subnormal(dtype: Any, xp: Any) -> float:
    finfo = xp.finfo(dtype)
    return float(finfo.smallest_normal) * float(finfo.eps)


def eps_vanishes(eps: float, dtype: Any, xp: Any) -> bool:
    """Tell whether ``eps`` rounds to 0 in ``dtype``, as 0 and 1e-8 in float16 do."""
    return eps <= _smallest_subnormal(dtype, xp) / 2


def check_denominator(d: Array, eps: float, xp: Any) -> None:
    r"""Raise ``ValueError`` if the denominator $d = \sqrt{v} + \epsilon$ is 0.

    That happens only where $v = 0$ (the gradient has been 0, or its square
    underflows) and $\epsilon$ rounds to 0 in the dtype of $d$. torch.optim
    then divides by zero and returns NaN or infinity. The check returns at once
    unless ``eps_vanishes``, so it costs nothing in the usual case.
    """
    if not eps_vanishes(eps, d.dtype, xp):
        return
    zero = d == 0
    count = int(xp.sum(xp.astype(zero, xp.int64)))
    if count == 0:
        return
    zero_entries = (
        f"the denominator sqrt(v) + eps at 0 for {count} of {math.prod(d.shape)} "
        "entries, whose second-moment estimate v is 0"
    )
    if eps == 0:
        raise ValueError(
            f"eps={eps!r} leaves {zero_entries}, for example because their "
            "gradients have been 0. The step would divide by zero, so use eps > 0"
        )
    raise ValueError(
        f"eps={eps!r} rounds to 0 in {d.dtype}, which leaves {zero_entries} "
        "because their gradients are 0 or their squares underflow. The step would "
        f"divide by zero, so use eps >= {_smallest_subnormal(d.dtype, xp):.2g} or "
        "float32 parameters"
    )


def check_param_and_grad(param: Array, grad: Array) -> tuple[Array, Array, Any]:
    """Validate one parameter array and its gradient for an update rule.

    Returns
    -------
    w, g, xp
        The parameter as a floating array, the gradient cast to the dtype of
        ``w``, and their array namespace.

    Raises
    ------
    ValueError
        If the shapes differ or either array contains NaN or infinity.
    """
    w = as_float_array(param, "param")
    g = as_float_array(grad, "grad")
    xp = namespace(w, g)
    if tuple(g.shape) != tuple(w.shape):
        raise ValueError(
            f"grad must have the shape of param {tuple(w.shape)}, got {tuple(g.shape)}"
        )
    check_finite(w, "param", xp)
    check_finite(g, "grad", xp)
    return w, xp.astype(g, w.dtype), xp


def check_state_arrays(state: Mapping[str, Any], w: Array, xp: Any) -> None:
    """Validate the arrays of an optimizer state against the parameter ``w``.

    ``None`` entries are skipped. Each other entry must be an array of the
    namespace and shape of ``w``, finite, and non-negative if it accumulates
    squared gradients.

    Raises
    ------
    TypeError
        If an entry is not an array, or is a tensor next to a NumPy ``w``.
    ValueError
        For another shape, a NaN or infinite entry, or a negative second moment.
    """
    for key, value in state.items():
        if value is None:
            continue
        name = f"state.{key}"
        if not is_array_api_obj(value):
            raise TypeError(
                f"{name} must be an array like param, got {type(value).__name__}"
            )
        namespace(w, value)
        if tuple(value.shape) != tuple(w.shape):
            raise ValueError(
                f"{name} must have the shape of param {tuple(w.shape)}, got "
                f"{tuple(value.shape)}; was the state made for another parameter?"
            )
        check_finite(value, name, xp)
        if key in _SECOND_MOMENTS and bool(xp.any(value < 0)):
            index = int(xp.argmin(xp.reshape(value, (-1,))))
            smallest = float(xp.reshape(value, (-1,))[index])
            raise ValueError(
                f"{name} must be >= 0, got {smallest} at index {index}, because "
                "it accumulates squared gradients"
            )


def check_step(step: Any) -> int:
    """Return ``step`` as an int; raise ``ValueError`` unless it is a whole number >= 0.

    A 0-d array or tensor is accepted, because torch.optim stores the step count
    as a 0-d tensor.
    """
    value = _as_real(
        step.item() if getattr(step, "ndim", None) == 0 else step, "state.step"
    )
    if not (value >= 0 and math.isfinite(value) and value == int(value)):
        raise ValueError(f"state.step must be a whole number >= 0, got {step!r}")
    return int(value)
