"""Norms, cosines and means over the last axis, for pair functions and pairwise."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from foundations._array import Array


def _safe_root(total: Array, p: float, xp: Any) -> Array:
    """Return ``total ** (1/p)`` with a torch gradient of 0, not NaN, at 0."""
    root = xp.sqrt if p == 2 else (lambda t: t ** (1.0 / p))
    if not getattr(total, "requires_grad", False):
        return root(total)
    positive = total > 0
    return xp.where(positive, root(xp.where(positive, total, 1.0)), 0.0)


def _root_weights(w: Array | None, p: float, xp: Any) -> Array | None:
    r"""Return $w^{1/p}$, so that $\sum_i w_i |d_i|^p = \sum_i (w_i^{1/p}|d_i|)^p$."""
    if w is None:
        return None
    if p == math.inf:
        return xp.astype(w > 0, w.dtype)
    return w ** (1.0 / p)


def _p_norm(a: Array, p: float, xp: Any) -> Array:
    """Return the p-norm over the last axis of the non-negative array ``a``.

    ``a`` is divided by its maximum first, so ``a ** p`` cannot overflow or
    underflow to zero for representable distances. The norm is inf where ``a``
    contains inf.
    """
    if p == math.inf:
        return xp.max(a, axis=-1)
    m = xp.max(a, axis=-1, keepdims=True)
    # A difference that overflowed to inf leaves a unscaled, so the norm is inf
    # as in cdist, not inf / inf = NaN.
    scaled = a / xp.where((m > 0) & (m < math.inf), m, 1.0)
    return _safe_root(xp.sum(scaled**p, axis=-1), p, xp) * m[..., 0]


def _minkowski_last(d: Array, p: float, w: Array | None, xp: Any) -> Array:
    """Weighted Minkowski distance over the last axis of the differences ``d``."""
    a = xp.abs(d)
    root_w = _root_weights(w, p, xp)
    if root_w is not None:
        a = a * root_w
    if p == 1:
        return xp.sum(a, axis=-1)
    return _p_norm(a, p, xp)


def _cosine(
    u: Array, v: Array, w: Array | None, names: tuple[str, str], xp: Any
) -> Array:
    r"""Return $u^\top W v / \sqrt{u^\top W u \; v^\top W v}$ for 1-D $u, v$.

    Each vector is rescaled by its largest weighted entry first, so the dot
    products neither overflow nor underflow. The result is clipped to [-1, 1].
    """
    root_w = 1.0 if w is None else xp.sqrt(w)
    scaled = []
    for vector, name in zip((u, v), names, strict=True):
        b = vector * root_w
        m = xp.max(xp.abs(b))
        if not bool(m > 0):
            where = "" if w is None else " on the entries with positive weight"
            raise ValueError(
                f"{name} must not be the zero vector{where}: cosine similarity "
                "divides by its norm, which is 0"
            )
        scaled.append(b / m)
    bu, bv = scaled
    r = xp.sum(bu * bv) / xp.sqrt(xp.sum(bu * bu) * xp.sum(bv * bv))
    return xp.clip(r, min=-1.0, max=1.0)


def _check_not_constant(a: Array, w: Array | None, name: str, xp: Any) -> None:
    selected = a if w is None else a[w > 0]
    if bool(xp.max(selected) == xp.min(selected)):
        where = "" if w is None else " with positive weight"
        raise ValueError(
            f"{name} must not be constant, got every entry{where} equal to "
            f"{float(selected[0])}: Pearson's r divides by the standard "
            "deviation, which is 0"
        )


def _weighted_mean(a: Array, w: Array | None, xp: Any) -> Array:
    """Mean over the last axis, weighted by ``w`` when given."""
    if w is None:
        return xp.mean(a, axis=-1, keepdims=True)
    return xp.sum(a * w, axis=-1, keepdims=True) / xp.sum(w)


def _result(value: Array) -> Array:
    """Return NumPy scalars, which NumPy reductions give, as 0-d arrays."""
    return np.asarray(value) if isinstance(value, np.generic) else value
