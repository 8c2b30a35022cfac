"""The course's optimizers as ``torch.optim.Optimizer`` subclasses.

``SGD``, ``AdaGrad``, ``RMSProp``, ``Adam`` and ``AdamW`` take the arguments of
their torch.optim namesakes (torch 2.13.0) and compute the same updates, so they
work with parameter groups, ``state_dict`` / ``load_state_dict``, closures,
``zero_grad`` and the ``torch.optim.lr_scheduler`` schedulers. Their per-
parameter state uses torch's key names, so a state dict saved by
``torch.optim.Adam`` loads into :class:`Adam` and the reverse.

Each step runs one of two paths:

- the multi-tensor path (``foreach=True``) updates all tensors of a group with
  ``torch._foreach_*`` operations;
- the single-tensor path (``foreach=False``) calls the update rules of
  :mod:`foundations.optim.functional` once per tensor;
- for ``Adam`` and ``AdamW`` on CPU, the fused path (``fused=True``) hands the
  same update to torch's one-pass kernel, ``torch._fused_adam_`` or
  ``torch._fused_adamw_``.

``foreach=None`` picks the multi-tensor path whenever every parameter is a
plain dense tensor, on CPU as well, where torch 2.13.0 defaults to its
single-tensor code. On CPU the multi-tensor path works through cache-sized
batches of tensors. In ``benchmarks/optimizers.py`` on a 2-core AMD EPYC, its
step took 0.46 to 0.95 times as long as torch.optim's default step, for 100
tensors of 46 thousand to 1.7 million entries in all.

The fused kernel reads and writes each entry of the parameter and of both
moments once per step, where the multi-tensor path makes about nine passes
over memory. For the 809 thousand weights of the ``char-baby`` model its step
took 0.5 to 0.6 ms against 2.7 ms.

Not supported, unlike torch.optim: sparse and complex parameters, a tensor
``lr``, ``fused`` for other optimizers or devices, and the ``capturable`` and
``differentiable`` options.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import array_api_compat
import torch
from torch import Tensor

from foundations.optim import _foreach
from foundations.optim._checks import (
    check_adagrad_hyperparameters,
    check_adam_hyperparameters,
    check_rmsprop_hyperparameters,
    check_sgd_hyperparameters,
    eps_vanishes,
)
from foundations.optim.functional import (
    AdaGradState,
    AdamState,
    RMSPropState,
    SGDState,
    _adagrad_update,
    _adam_update,
    _rmsprop_update,
    _sgd_update,
)

__all__ = ["SGD", "AdaGrad", "Adam", "AdamW", "RMSProp"]

Params = Iterable[Tensor] | Iterable[dict[str, Any]]
_XP = array_api_compat.array_namespace(torch.empty(0))


class _RuleOptimizer(torch.optim.Optimizer):
    """Step loop shared by the optimizers of this module.

    A subclass names its hyperparameter check and implements ``_init_state``,
    ``_single_tensor_step`` and ``_foreach_step`` for one parameter group.
    """

    _check_hyperparameters: Callable[..., None]

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        type(self)._check_hyperparameters(**defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        # A state dict from another optimizer may lack some of our group keys.
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict, ours or torch.optim's, after checking its groups.

        torch.optim loads any hyperparameters, so a state dict edited or saved
        by another program could bring in a negative ``lr``, for example.
        """
        for group in state_dict["param_groups"]:
            type(self)._check_hyperparameters(**{**self.defaults, **group})
        super().load_state_dict(state_dict)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group after checking its hyperparameters."""
        type(self)._check_hyperparameters(**{**self.defaults, **param_group})
        super().add_param_group(param_group)

    @torch.no_grad()
    def step(
        self,
        closure: Callable[[], Any] | None = None,
        *,
        grad_divisor: Tensor | float | None = None,
    ) -> Any:
        r"""Update every parameter that has a gradient; return the closure's loss.

        Parameters
        ----------
        closure : callable, optional
            Reevaluates the model and returns the loss; it runs with gradients
            enabled, before the update.
        grad_divisor : scalar tensor or float, optional
            Divide every gradient by this number, at least 1, first, and keep
            the quotients in ``.grad``. Clipping by the total norm $\|g\|$ to
            $c$ is the divisor $\max(1, \|g\| / c)$. The fused path divides
            inside its one pass, as torch's ``grad_scale`` does, by the
            divisor rounded to float32.

        Raises
        ------
        ValueError
            If ``grad_divisor`` is not a finite number of at least 1.
        """
        if grad_divisor is not None:
            grad_divisor = _checked_divisor(grad_divisor)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group_index, group in enumerate(self.param_groups):
            params = self._params_with_grad(group, group_index)
            if not params:
                continue
            grads = [p.grad for p in params]
            states = [self._state_of(p, group) for p in params]
            if group.get("fused"):
                for indices in _foreach.batch_indices(params, chunk_cpu=False):
                    self._fused_step(
                        group,
                        [params[i] for i in indices],
                        [grads[i] for i in indices],
                        [states[i] for i in indices],
                        grad_divisor,
                    )
                continue
            if grad_divisor is not None:
                for indices in _foreach.batch_indices(grads):
                    # NOTE: only CPU gradients have run this division in tests.
                    divisor = grad_divisor.to(grads[indices[0]].device)
                    torch._foreach_div_([grads[i] for i in indices], divisor)
            if self._uses_foreach(group, params):
                for indices in _foreach.batch_indices(params):
                    self._foreach_step(
                        group,
                        [params[i] for i in indices],
                        [grads[i] for i in indices],
                        [states[i] for i in indices],
                    )
            else:
                self._single_tensor_step(group, params, grads, states)
        return loss

    def _params_with_grad(self, group: dict[str, Any], index: int) -> list[Tensor]:
        params = [p for p in group["params"] if p.grad is not None]
        for position, p in enumerate(params):
            if p.grad.is_sparse:
                raise ValueError(
                    f"{type(self).__name__} does not support sparse gradients: "
                    f"parameter {position} of group {index} (shape "
                    f"{tuple(p.shape)}) has one; use dense gradients, for "
                    "example nn.Embedding(sparse=False), or torch.optim.SparseAdam"
                )
            if p.is_complex():
                raise ValueError(
                    f"{type(self).__name__} does not support complex parameters: "
                    f"parameter {position} of group {index} has dtype {p.dtype}"
                )
        return params

    def _state_of(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[p]
        if not state:
            state.update(self._init_state(p, group))
        return state

    @staticmethod
    def _uses_foreach(group: dict[str, Any], params: list[Tensor]) -> bool:
        if group["foreach"] is not None:
            return bool(group["foreach"])
        return all(
            type(p) in (Tensor, torch.nn.Parameter) and p.layout == torch.strided
            for p in params
        )

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _single_tensor_step(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
    ) -> None:
        raise NotImplementedError

    def _foreach_step(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
    ) -> None:
        raise NotImplementedError

    def _fused_step(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        grad_divisor: Tensor | None,
    ) -> None:
        raise NotImplementedError


def _checked_divisor(value: Tensor | float) -> Tensor:
    # Dividing by 1 or more cannot overflow a gradient into infinity.
    usable = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(value, Tensor):
        usable = (
            value.numel() == 1
            and not value.is_meta
            and (value.is_floating_point() or value.dtype in _INTEGER_DTYPES)
        )
    number = float(value) if usable else math.nan
    if not (math.isfinite(number) and number >= 1):
        raise ValueError(
            "grad_divisor must be a finite number >= 1 (a float, an int or a "
            f"one-element real tensor), got {value!r}"
        )
    return torch.tensor(number, dtype=torch.float64)


def _adam_state_lists(states: list[dict[str, Any]]) -> tuple[list, ...]:
    """Return the first moments, second moments, their maxima and step counts."""
    return (
        [state["exp_avg"] for state in states],
        [state["exp_avg_sq"] for state in states],
        [state.get("max_exp_avg_sq") for state in states],
        [state["step"] for state in states],
    )


def _float32_divisor(grads: list[Tensor], divisor: Tensor | None) -> Tensor | None:
    """Return the divisor as torch's fused kernel reads it, float32.

    A divisor beyond float32's range divides the gradients here instead, in
    float64, and the kernel gets none.
    """
    if divisor is None:
        return None
    single = divisor.float()
    if math.isfinite(float(single)):
        return single
    torch._foreach_div_(grads, divisor)
    return None


_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _new_step() -> Tensor:
    # torch.optim keeps the step count as a float32 CPU scalar; the same type
    # keeps state dicts interchangeable.
    return torch.tensor(0.0, dtype=torch.float32)


def _hyperparameters(group: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: group[name] for name in names}


class SGD(_RuleOptimizer):
    """Stochastic gradient descent with optional momentum, as ``torch.optim.SGD``.

    The update is :func:`foundations.optim.sgd`.

    Parameters
    ----------
    params : iterable of tensors or of dicts
        Parameters to optimize, or parameter groups.
    lr, momentum, dampening, weight_decay, nesterov, maximize
        As in :func:`foundations.optim.sgd`.
    foreach : bool or None, default None
        Use the multi-tensor path; ``None`` chooses it for plain dense tensors.

    Raises
    ------
    ValueError
        For invalid hyperparameters (as :func:`foundations.optim.sgd`), and at
        ``step`` for a sparse gradient or a complex parameter.

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = SGD([w], lr=0.1, momentum=0.9)
    >>> w.grad = torch.tensor([0.5, 0.5])
    >>> optimizer.step()
    >>> w.detach().tolist()
    [0.949999988079071, -2.049999952316284]
    """

    _check_hyperparameters = staticmethod(check_sgd_hyperparameters)
    _NAMES = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        # torch.optim.SGD stores a buffer only once momentum is used.
        return {}

    def _single_tensor_step(self, group, params, grads, states) -> None:
        hyperparameters = _hyperparameters(group, self._NAMES)
        for p, g, state in zip(params, grads, states, strict=True):
            previous = SGDState(state.get("momentum_buffer"))
            w, new = _sgd_update(_XP, p, g, previous, **hyperparameters)
            p.copy_(w)
            if group["momentum"] != 0:
                state["momentum_buffer"] = new.momentum_buffer

    def _foreach_step(self, group, params, grads, states) -> None:
        buffers = [state.get("momentum_buffer") for state in states]
        _foreach.sgd(params, grads, buffers, **_hyperparameters(group, self._NAMES))
        if group["momentum"] != 0:
            for state, buffer in zip(states, buffers, strict=True):
                state["momentum_buffer"] = buffer


class AdaGrad(_RuleOptimizer):
    """AdaGrad, as ``torch.optim.Adagrad``.

    The update is :func:`foundations.optim.adagrad`.

    Parameters
    ----------
    params : iterable of tensors or of dicts
        Parameters to optimize, or parameter groups.
    lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize
        As in :func:`foundations.optim.adagrad`.
    foreach : bool or None, default None
        Use the multi-tensor path; ``None`` chooses it for plain dense tensors.

    Raises
    ------
    ValueError
        For invalid hyperparameters, and at ``step`` for a sparse gradient
        (torch.optim.Adagrad accepts those), a complex parameter, or a
        denominator of 0 where torch.optim returns NaN (see
        :func:`foundations.optim.adagrad`).

    Notes
    -----
    The state of a parameter is created at its first step, while
    torch.optim.Adagrad creates it in the constructor. So ``state_dict()``
    before the first step has no per-parameter state. The sum starts at the
    ``initial_accumulator_value`` of the parameter's group, while
    torch.optim.Adagrad (torch 2.13.0) starts every sum at the constructor's
    value and ignores a group's own.
    """

    _check_hyperparameters = staticmethod(check_adagrad_hyperparameters)
    _NAMES = ("lr", "lr_decay", "weight_decay", "eps", "maximize")

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        initial = group["initial_accumulator_value"]
        sums = torch.full_like(p, initial, memory_format=torch.preserve_format)
        return {"step": _new_step(), "sum": sums}

    def _single_tensor_step(self, group, params, grads, states) -> None:
        hyperparameters = _hyperparameters(group, self._NAMES)
        for p, g, state in zip(params, grads, states, strict=True):
            previous = AdaGradState(int(state["step"].item()), state["sum"])
            w, new = _adagrad_update(_XP, p, g, previous, **hyperparameters)
            p.copy_(w)
            state["step"].fill_(new.step)
            state["sum"] = new.sum

    def _foreach_step(self, group, params, grads, states) -> None:
        _foreach.adagrad(
            params,
            grads,
            [state["sum"] for state in states],
            [state["step"] for state in states],
            **_hyperparameters(group, self._NAMES),
        )


class RMSProp(_RuleOptimizer):
    """RMSProp, as ``torch.optim.RMSprop``.

    The update is :func:`foundations.optim.rmsprop`.

    Parameters
    ----------
    params : iterable of tensors or of dicts
        Parameters to optimize, or parameter groups.
    lr, alpha, eps, weight_decay, momentum, centered, maximize
        As in :func:`foundations.optim.rmsprop`.
    foreach : bool or None, default None
        Use the multi-tensor path; ``None`` chooses it for plain dense tensors.

    Raises
    ------
    ValueError
        For invalid hyperparameters, and at ``step`` for a sparse gradient, a
        complex parameter, or a denominator of 0 where torch.optim returns NaN
        (see :func:`foundations.optim.rmsprop`).
    """

    _check_hyperparameters = staticmethod(check_rmsprop_hyperparameters)
    _NAMES = (
        "lr",
        "alpha",
        "eps",
        "weight_decay",
        "momentum",
        "centered",
        "maximize",
    )

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = {"step": _new_step(), "square_avg": _zeros_like(p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = _zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = _zeros_like(p)
        return state

    def _single_tensor_step(self, group, params, grads, states) -> None:
        hyperparameters = _hyperparameters(group, self._NAMES)
        for p, g, state in zip(params, grads, states, strict=True):
            previous = RMSPropState(
                int(state["step"].item()),
                state["square_avg"],
                state.get("grad_avg"),
                state.get("momentum_buffer"),
            )
            w, new = _rmsprop_update(_XP, p, g, previous, **hyperparameters)
            p.copy_(w)
            state["step"].fill_(new.step)
            state["square_avg"] = new.square_avg
            if new.grad_avg is not None:
                state["grad_avg"] = new.grad_avg
            if new.momentum_buffer is not None:
                state["momentum_buffer"] = new.momentum_buffer

    def _foreach_step(self, group, params, grads, states) -> None:
        _foreach.rmsprop(
            params,
            grads,
            [state["square_avg"] for state in states],
            [state.get("grad_avg") for state in states],
            [state.get("momentum_buffer") for state in states],
            [state["step"] for state in states],
            **_hyperparameters(group, self._NAMES),
        )


class Adam(_RuleOptimizer):
    """Adam, as ``torch.optim.Adam``, with weight decay as an L2 term.

    The update is :func:`foundations.optim.adam`.

    Parameters
    ----------
    params : iterable of tensors or of dicts
        Parameters to optimize, or parameter groups.
    lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay
        As in :func:`foundations.optim.adam`.
    foreach : bool or None, default None
        Use the multi-tensor path; ``None`` chooses it for plain dense tensors.
    fused : bool or None, default None
        Use torch's one-pass kernel for the same update (CPU only); ``None``
        means False, as in torch.optim.

    Raises
    ------
    ValueError
        For invalid hyperparameters or both ``foreach`` and ``fused`` true,
        and at ``step`` for a sparse gradient, a complex parameter, a
        parameter off the CPU with ``fused=True``, or a denominator of 0 where
        torch.optim returns NaN (see :func:`foundations.optim.adam`).
    """

    _check_hyperparameters = staticmethod(check_adam_hyperparameters)
    _NAMES = (
        "lr",
        "betas",
        "eps",
        "weight_decay",
        "amsgrad",
        "maximize",
        "decoupled_weight_decay",
    )

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        fused: bool | None = None,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            foreach=foreach,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
            fused=fused,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = {
            "step": _new_step(),
            "exp_avg": _zeros_like(p),
            "exp_avg_sq": _zeros_like(p),
        }
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = _zeros_like(p)
        return state

    def _single_tensor_step(self, group, params, grads, states) -> None:
        hyperparameters = _hyperparameters(group, self._NAMES)
        for p, g, state in zip(params, grads, states, strict=True):
            previous = AdamState(
                int(state["step"].item()),
                state["exp_avg"],
                state["exp_avg_sq"],
                state.get("max_exp_avg_sq"),
            )
            w, new = _adam_update(_XP, p, g, previous, **hyperparameters)
            p.copy_(w)
            state["step"].fill_(new.step)
            state["exp_avg"] = new.exp_avg
            state["exp_avg_sq"] = new.exp_avg_sq
            if new.max_exp_avg_sq is not None:
                state["max_exp_avg_sq"] = new.max_exp_avg_sq

    def _foreach_step(self, group, params, grads, states) -> None:
        _foreach.adam(
            params,
            grads,
            *_adam_state_lists(states),
            **_hyperparameters(group, self._NAMES),
        )

    def _fused_step(self, group, params, grads, states, grad_divisor) -> None:
        for p in params:
            if not p.is_cpu:
                raise ValueError(
                    f"{type(self).__name__}(fused=True) runs on CPU tensors only, "
                    f"got a parameter of shape {tuple(p.shape)} on {p.device}; "
                    "use fused=False there"
                )
        if eps_vanishes(group["eps"], params[0].dtype, _XP):
            # Only the multi-tensor path checks for a denominator of 0.
            if grad_divisor is not None:
                torch._foreach_div_(grads, grad_divisor)
            self._foreach_step(group, params, grads, states)
            return
        _foreach.fused_adam(
            params,
            grads,
            *_adam_state_lists(states),
            grad_divisor=_float32_divisor(grads, grad_divisor),
            **_hyperparameters(group, self._NAMES),
        )


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay.

    The update is :func:`foundations.optim.adamw`.

    Parameters
    ----------
    params : iterable of tensors or of dicts
        Parameters to optimize, or parameter groups.
    lr, betas, eps, weight_decay, amsgrad, maximize
        As in :func:`foundations.optim.adamw`; ``weight_decay`` defaults
        to 1e-2.
    foreach : bool or None, default None
        Use the multi-tensor path; ``None`` chooses it for plain dense tensors.
    fused : bool or None, default None
        Use torch's one-pass kernel for the same update (CPU only); ``None``
        means False, as in torch.optim.

    Raises
    ------
    ValueError
        As for :class:`Adam`, with the update :func:`foundations.optim.adamw`.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(3, 1)
    >>> optimizer = AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    >>> loss = model(torch.ones(2, 3)).pow(2).mean()
    >>> loss.backward()
    >>> optimizer.step()
    >>> optimizer.zero_grad()
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            foreach=foreach,
            maximize=maximize,
            decoupled_weight_decay=True,
            fused=fused,
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        # A group loaded from an Adam state keeps AdamW's decoupled decay.
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


def _zeros_like(p: Tensor) -> Tensor:
    return torch.zeros_like(p, memory_format=torch.preserve_format)
