r"""Update rules of the course's optimizers as pure functions.

Each rule maps one parameter array $w_{t-1}$, its gradient $g_t$ and the
optimizer state to the new parameter $w_t$ and the new state, and changes none
of its inputs:

```python
w, state = adam(w, g, state, lr=1e-3)
```

Pass ``state=None`` on the first step, and the returned state after that. A
state is checked: its type, and arrays finite and of the namespace and shape of
``param``, with no negative sums of squares. NumPy arrays and torch tensors are
both accepted; the result has the type, dtype and device of ``param``, and torch
autograd flows through the update.

The arithmetic is torch.optim's, checked against the torch 2.13.0 source: the
place of $\epsilon$, the bias correction, and the order of weight decay,
moment updates and the parameter step. On torch tensors the rules call the same
kernels as torch.optim's single-tensor code (``torch.lerp``, ``addcmul``,
``addcdiv``), so on CPU the results are equal bit for bit. On NumPy arrays the
same formulas round differently, by a few units in the last place.

Each docstring's Notes section lists where Keras 3 differs, checked against the
Keras 3 documentation and the ``keras/src/optimizers`` source: its defaults
and some of its formulas are not torch's.

Symbols: $\eta$ is ``lr``, $\lambda$ is ``weight_decay``, $\mu$ is
``momentum``, $\epsilon$ is ``eps``, and $t$ counts steps from 1.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from foundations._array import Array, is_torch
from foundations.optim._checks import (
    check_adagrad_hyperparameters,
    check_adam_hyperparameters,
    check_denominator,
    check_param_and_grad,
    check_rmsprop_hyperparameters,
    check_sgd_hyperparameters,
    check_state_arrays,
    check_step,
)

__all__ = [
    "AdaGradState",
    "AdamState",
    "RMSPropState",
    "SGDState",
    "adagrad",
    "adam",
    "adamw",
    "rmsprop",
    "sgd",
]


class SGDState(NamedTuple):
    """State of :func:`sgd`: the momentum buffer $b$, ``None`` before step 1."""

    momentum_buffer: Array | None = None


class AdaGradState(NamedTuple):
    """State of :func:`adagrad`: the step count and the sum of squared gradients."""

    step: int
    sum: Array


class RMSPropState(NamedTuple):
    r"""State of :func:`rmsprop`.

    ``square_avg`` is $v$; ``grad_avg`` is $\bar g$ (only when centered) and
    ``momentum_buffer`` is $b$ (only when momentum > 0).
    """

    step: int
    square_avg: Array
    grad_avg: Array | None = None
    momentum_buffer: Array | None = None


class AdamState(NamedTuple):
    r"""State of :func:`adam` and :func:`adamw`.

    ``exp_avg`` is $m$, ``exp_avg_sq`` is $v$ and ``max_exp_avg_sq`` is
    $v^{\max}$ (only with AMSGrad).
    """

    step: int
    exp_avg: Array
    exp_avg_sq: Array
    max_exp_avg_sq: Array | None = None


def sgd(
    param: Array,
    grad: Array,
    state: SGDState | None = None,
    *,
    lr: float = 1e-3,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    maximize: bool = False,
) -> tuple[Array, SGDState]:
    r"""Take one step of stochastic gradient descent, with optional momentum.

    $$
    \begin{aligned}
    &\textbf{input: } \eta \text{ (lr)},\ \mu \text{ (momentum)},\
      \tau \text{ (dampening)},\ \lambda \text{ (weight decay)},\
      \textit{nesterov},\ \textit{maximize} \\
    &g_t \leftarrow -g_t \ \textbf{if}\ \textit{maximize} \\
    &g_t \leftarrow g_t + \lambda w_{t-1} \ \textbf{if}\ \lambda \neq 0 \\
    &\textbf{if}\ \mu \neq 0: \\
    &\quad b_t \leftarrow g_t \ \textbf{if}\ t = 1
      \ \textbf{else}\ \mu b_{t-1} + (1 - \tau) g_t \\
    &\quad g_t \leftarrow g_t + \mu b_t \ \textbf{if}\ \textit{nesterov}
      \ \textbf{else}\ b_t \\
    &w_t \leftarrow w_{t-1} - \eta g_t
    \end{aligned}
    $$

    With $\mu = 0$ this is the course's steepest descent
    $w(n+1) = w(n) - \eta\, g(w(n))$.

    Parameters
    ----------
    param : array of any shape
        Parameters $w_{t-1}$.
    grad : array of the shape of ``param``
        Gradient $g_t$ of the loss at $w_{t-1}$; cast to the dtype of
        ``param``.
    state : SGDState or None
        State from the previous step, ``None`` on the first.
    lr : float, default 1e-3
        Learning rate $\eta \ge 0$.
    momentum : float, default 0
        Momentum factor $\mu \ge 0$.
    dampening : float, default 0
        Dampening $\tau$ of the gradient added to the buffer after step 1.
    weight_decay : float, default 0
        L2 penalty $\lambda \ge 0$, added to the gradient.
    nesterov : bool, default False
        Use Nesterov momentum; needs $\mu > 0$ and $\tau = 0$.
    maximize : bool, default False
        Ascend the objective instead of descending it.

    Returns
    -------
    w : array of the shape of ``param``
        Updated parameters $w_t$.
    state : SGDState
        New state; ``momentum_buffer`` stays ``None`` when $\mu = 0$.

    Raises
    ------
    ValueError
        For a negative, infinite or NaN ``lr``, ``momentum`` or
        ``weight_decay``, a non-finite ``dampening``, ``nesterov`` without
        momentum or with dampening, shapes that differ, or non-finite
        ``param`` or ``grad``.
    TypeError
        For a hyperparameter that is not a real number, such as a tensor.

    Notes
    -----
    As in torch, the buffer starts at $b_1 = g_1$ (no dampening on step 1)
    and the learning rate multiplies the buffer, not the gradient inside it.

    Keras 3 ``keras.optimizers.SGD`` differs in five ways:

    - its velocity starts at zero and accumulates
      $u_t = \mu u_{t-1} - \eta g_t$, so the learning rate sits inside the
      buffer, and the two rules agree only while $\eta$ is constant;
    - it has no dampening;
    - its Nesterov step is $w_t = w_{t-1} + \mu u_t - \eta g_t$;
    - its ``weight_decay`` is decoupled,
      $w \leftarrow w - \eta\lambda w$ before the step, not an L2 term;
    - its default learning rate is 0.01.

    Examples
    --------
    >>> import numpy as np
    >>> w, state = sgd(np.array([1.0, -2.0]), np.array([0.5, 0.5]), lr=0.1)
    >>> w.tolist()
    [0.95, -2.05]
    """
    hyperparameters = dict(
        lr=lr,
        momentum=momentum,
        dampening=dampening,
        weight_decay=weight_decay,
        nesterov=nesterov,
        maximize=maximize,
    )
    check_sgd_hyperparameters(**hyperparameters)
    w, g, xp = check_param_and_grad(param, grad)
    state = SGDState() if state is None else _checked_state(state, SGDState, w, xp)
    return _zero_dimensional_arrays(_sgd_update(xp, w, g, state, **hyperparameters))


def adagrad(
    param: Array,
    grad: Array,
    state: AdaGradState | None = None,
    *,
    lr: float = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
    maximize: bool = False,
) -> tuple[Array, AdaGradState]:
    r"""Take one AdaGrad step: divide by the root of the summed squared gradients.

    $$
    \begin{aligned}
    &\textbf{input: } \eta \text{ (lr)},\ \kappa \text{ (lr decay)},\
      \lambda \text{ (weight decay)},\ s_0 \text{ (initial accumulator value)},\
      \epsilon,\ \textit{maximize} \\
    &g_t \leftarrow -g_t \ \textbf{if}\ \textit{maximize} \\
    &g_t \leftarrow g_t + \lambda w_{t-1} \ \textbf{if}\ \lambda \neq 0 \\
    &\tilde\eta \leftarrow \eta / \bigl(1 + (t - 1)\kappa\bigr) \\
    &s_t \leftarrow s_{t-1} + g_t^2 \\
    &w_t \leftarrow w_{t-1} - \tilde\eta\, g_t / \bigl(\sqrt{s_t} + \epsilon\bigr)
    \end{aligned}
    $$

    Each coordinate gets its own step $\tilde\eta / \sqrt{s_t}$, large for
    coordinates whose gradients have been rare or small. That is why AdaGrad
    suits sparse features.

    Parameters
    ----------
    param : array of any shape
        Parameters $w_{t-1}$.
    grad : array of the shape of ``param``
        Gradient $g_t$; cast to the dtype of ``param``.
    state : AdaGradState or None
        State from the previous step, ``None`` on the first (the sum then
        starts at ``initial_accumulator_value``).
    lr : float, default 1e-2
        Learning rate $\eta \ge 0$.
    lr_decay : float, default 0
        Learning-rate decay $\kappa \ge 0$.
    weight_decay : float, default 0
        L2 penalty $\lambda \ge 0$, added to the gradient.
    initial_accumulator_value : float, default 0
        Starting value $s_0 \ge 0$ of the sum; used only when ``state`` is
        ``None``.
    eps : float, default 1e-10
        $\epsilon \ge 0$, added to $\sqrt{s_t}$.
    maximize : bool, default False
        Ascend the objective instead of descending it.

    Returns
    -------
    w : array of the shape of ``param``
        Updated parameters $w_t$.
    state : AdaGradState
        New state with ``step`` $= t$ and ``sum`` $= s_t$.

    Raises
    ------
    ValueError
        For a negative, infinite or NaN hyperparameter, shapes that differ,
        non-finite ``param`` or ``grad``, or a denominator of 0: an entry whose
        squared gradients sum to 0 while ``eps`` rounds to 0 in the dtype of
        ``param`` (``eps=0``, or 1e-8 in float16). torch.optim returns NaN
        there.

    Notes
    -----
    Keras 3 ``keras.optimizers.Adagrad`` differs: it starts the sum at
    ``initial_accumulator_value=0.1`` (torch: 0); it adds $\epsilon$ inside
    the square root, $\sqrt{s_t + \epsilon}$, with ``epsilon=1e-7`` (torch:
    outside, 1e-10); its default learning rate is 0.001 (torch: 0.01); it has
    no ``lr_decay``; and its ``weight_decay`` is decoupled.

    Examples
    --------
    >>> import numpy as np
    >>> w, state = adagrad(np.array([1.0]), np.array([2.0]), lr=0.5, eps=0.0)
    >>> w.tolist(), state.sum.tolist()
    ([0.5], [4.0])
    """
    hyperparameters = dict(
        lr=lr,
        lr_decay=lr_decay,
        weight_decay=weight_decay,
        initial_accumulator_value=initial_accumulator_value,
        eps=eps,
        maximize=maximize,
    )
    check_adagrad_hyperparameters(**hyperparameters)
    w, g, xp = check_param_and_grad(param, grad)
    if state is None:
        state = AdaGradState(0, xp.full_like(w, initial_accumulator_value))
    else:
        state = _checked_state(state, AdaGradState, w, xp)
    return _zero_dimensional_arrays(_adagrad_update(xp, w, g, state, **hyperparameters))


def rmsprop(
    param: Array,
    grad: Array,
    state: RMSPropState | None = None,
    *,
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    maximize: bool = False,
) -> tuple[Array, RMSPropState]:
    r"""Take one RMSProp step: divide by the root of a running mean of $g^2$.

    $$
    \begin{aligned}
    &\textbf{input: } \eta \text{ (lr)},\ \alpha \text{ (smoothing)},\
      \epsilon,\ \lambda \text{ (weight decay)},\ \mu \text{ (momentum)},\
      \textit{centered},\ \textit{maximize} \\
    &\textbf{initialize: } v_0 \leftarrow 0,\ \bar g_0 \leftarrow 0,\
      b_0 \leftarrow 0 \\
    &g_t \leftarrow -g_t \ \textbf{if}\ \textit{maximize} \\
    &g_t \leftarrow g_t + \lambda w_{t-1} \ \textbf{if}\ \lambda \neq 0 \\
    &v_t \leftarrow \alpha v_{t-1} + (1 - \alpha) g_t^2 \\
    &\textbf{if}\ \textit{centered}:\
      \bar g_t \leftarrow \alpha \bar g_{t-1} + (1 - \alpha) g_t,\quad
      d_t \leftarrow \sqrt{v_t - \bar g_t^2} + \epsilon \\
    &\textbf{else}:\ d_t \leftarrow \sqrt{v_t} + \epsilon \\
    &\textbf{if}\ \mu > 0:\ b_t \leftarrow \mu b_{t-1} + g_t / d_t,\quad
      w_t \leftarrow w_{t-1} - \eta b_t \\
    &\textbf{else}:\ w_t \leftarrow w_{t-1} - \eta\, g_t / d_t
    \end{aligned}
    $$

    There is no bias correction: $v_t$ starts at 0, so the first steps are
    larger than later ones, by up to $1/\sqrt{1 - \alpha}$ (10 for
    $\alpha = 0.99$).

    Parameters
    ----------
    param : array of any shape
        Parameters $w_{t-1}$.
    grad : array of the shape of ``param``
        Gradient $g_t$; cast to the dtype of ``param``.
    state : RMSPropState or None
        State from the previous step, ``None`` on the first.
    lr : float, default 1e-2
        Learning rate $\eta \ge 0$.
    alpha : float, default 0.99
        Smoothing constant $\alpha \in [0, 1)$ of the running means.
    eps : float, default 1e-8
        $\epsilon \ge 0$, added outside the square root.
    weight_decay : float, default 0
        L2 penalty $\lambda \ge 0$, added to the gradient.
    momentum : float, default 0
        Momentum factor $\mu \ge 0$ applied to the normalized step.
    centered : bool, default False
        Normalize by an estimate of the variance $v_t - \bar g_t^2$ instead
        of the second moment $v_t$.
    maximize : bool, default False
        Ascend the objective instead of descending it.

    Returns
    -------
    w : array of the shape of ``param``
        Updated parameters $w_t$.
    state : RMSPropState
        New state; ``grad_avg`` is ``None`` unless centered and
        ``momentum_buffer`` is ``None`` unless $\mu > 0$.

    Raises
    ------
    ValueError
        For a negative, infinite or NaN hyperparameter, shapes that differ,
        non-finite ``param`` or ``grad``, or a denominator $d_t$ of 0: an entry
        whose $v_t$ (centered: $v_t - \bar g_t^2$) is 0 while ``eps`` rounds
        to 0 in the dtype of ``param`` (``eps=0``, or 1e-8 in float16).
        torch.optim returns NaN or infinity there.

    Notes
    -----
    When centered, $v_t - \bar g_t^2$ is clipped at 0 before the square root.
    It is never negative in exact arithmetic, but rounding can make it so when
    the gradient barely varies, and torch.optim then returns NaN. Elsewhere
    the results equal torch's.

    Keras 3 ``keras.optimizers.RMSprop`` differs: its smoothing constant is
    ``rho=0.9`` (torch: ``alpha=0.99``); it adds $\epsilon$ inside the square
    root, $\sqrt{v_t + \epsilon}$ or $\sqrt{v_t - \bar g_t^2 + \epsilon}$,
    with ``epsilon=1e-7`` (torch: outside, 1e-8); its momentum buffer
    accumulates $\eta g_t / d_t$, so the learning rate sits inside the
    buffer; its default learning rate is 0.001 (torch: 0.01); and its
    ``weight_decay`` is decoupled.

    Examples
    --------
    >>> import numpy as np
    >>> w, state = rmsprop(np.array([2.0]), np.array([3.0]), lr=0.5, alpha=0.75, eps=0)
    >>> w.tolist(), state.square_avg.tolist()
    ([1.0], [2.25])
    """
    hyperparameters = dict(
        lr=lr,
        alpha=alpha,
        eps=eps,
        weight_decay=weight_decay,
        momentum=momentum,
        centered=centered,
        maximize=maximize,
    )
    check_rmsprop_hyperparameters(**hyperparameters)
    w, g, xp = check_param_and_grad(param, grad)
    if state is None:
        state = RMSPropState(0, xp.zeros_like(w))
    else:
        state = _checked_state(state, RMSPropState, w, xp)
    return _zero_dimensional_arrays(_rmsprop_update(xp, w, g, state, **hyperparameters))


def adam(
    param: Array,
    grad: Array,
    state: AdamState | None = None,
    *,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
) -> tuple[Array, AdamState]:
    r"""Take one Adam step, with weight decay as an L2 term of the gradient.

    $$
    \begin{aligned}
    &\textbf{input: } \eta \text{ (lr)},\ \beta_1, \beta_2 \text{ (betas)},\
      \epsilon,\ \lambda \text{ (weight decay)},\ \textit{amsgrad},\
      \textit{maximize} \\
    &\textbf{initialize: } m_0 \leftarrow 0,\ v_0 \leftarrow 0,\
      v_0^{\max} \leftarrow 0 \\
    &g_t \leftarrow -g_t \ \textbf{if}\ \textit{maximize} \\
    &g_t \leftarrow g_t + \lambda w_{t-1} \ \textbf{if}\ \lambda \neq 0 \\
    &m_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
    &v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
    &\hat m_t \leftarrow m_t / (1 - \beta_1^t) \\
    &\textbf{if}\ \textit{amsgrad}:\
      v_t^{\max} \leftarrow \max(v_{t-1}^{\max}, v_t),\quad
      \hat v_t \leftarrow v_t^{\max} / (1 - \beta_2^t) \\
    &\textbf{else}:\ \hat v_t \leftarrow v_t / (1 - \beta_2^t) \\
    &w_t \leftarrow w_{t-1} - \eta\, \hat m_t / \bigl(\sqrt{\hat v_t} + \epsilon\bigr)
    \end{aligned}
    $$

    Parameters
    ----------
    param : array of any shape
        Parameters $w_{t-1}$.
    grad : array of the shape of ``param``
        Gradient $g_t$; cast to the dtype of ``param``.
    state : AdamState or None
        State from the previous step, ``None`` on the first.
    lr : float, default 1e-3
        Learning rate $\eta \ge 0$.
    betas : (float, float), default (0.9, 0.999)
        Decay rates $\beta_1, \beta_2 \in [0, 1)$ of the first and second
        moment estimates.
    eps : float, default 1e-8
        $\epsilon \ge 0$, added to the bias-corrected $\sqrt{\hat v_t}$.
    weight_decay : float, default 0
        Penalty $\lambda \ge 0$: an L2 term of the gradient, or with
        ``decoupled_weight_decay`` the decay of :func:`adamw`.
    amsgrad : bool, default False
        Normalize by the running maximum $v^{\max}$ of $v$ (AMSGrad).
    maximize : bool, default False
        Ascend the objective instead of descending it.
    decoupled_weight_decay : bool, default False
        Decay the parameters directly, as :func:`adamw` does (torch's
        ``Adam(decoupled_weight_decay=True)``).

    Returns
    -------
    w : array of the shape of ``param``
        Updated parameters $w_t$.
    state : AdamState
        New state; ``max_exp_avg_sq`` is ``None`` unless ``amsgrad``.

    Raises
    ------
    ValueError
        For a negative, infinite or NaN ``lr``, ``eps`` or ``weight_decay``,
        a beta outside $[0, 1)$, shapes that differ, non-finite ``param`` or
        ``grad``, or a denominator of 0: an entry with $\hat v_t = 0$ while
        ``eps`` rounds to 0 in the dtype of ``param`` (``eps=0``, or 1e-8 in
        float16). torch.optim returns NaN or infinity there.
    TypeError
        For a hyperparameter that is not a real number, such as a tensor.

    Notes
    -----
    Keras 3 ``keras.optimizers.Adam`` differs: its ``epsilon`` is the
    "epsilon hat" of Kingma and Ba, added to $\sqrt{v_t}$ before the bias
    correction, $w_t = w_{t-1} - \eta \frac{\sqrt{1 - \beta_2^t}}{1 -
    \beta_1^t}\, m_t / (\sqrt{v_t} + \hat\epsilon)$, so its $\hat\epsilon$
    equals torch's $\epsilon \sqrt{1 - \beta_2^t}$ and changes with $t$; its
    default is ``epsilon=1e-7`` (torch: 1e-8); and its ``weight_decay`` is
    decoupled, so Keras ``Adam(weight_decay=...)`` behaves like AdamW, not
    like this L2 form.

    Examples
    --------
    The first step moves every coordinate by about $\eta$, whatever the
    gradient's scale:

    >>> import numpy as np
    >>> w, state = adam(np.array([1.0, 1.0]), np.array([1e-3, 1e3]), lr=0.1)
    >>> np.round(w, 4).tolist()
    [0.9, 0.9]
    """
    hyperparameters = dict(
        lr=lr,
        betas=betas,
        eps=eps,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        maximize=maximize,
        decoupled_weight_decay=decoupled_weight_decay,
    )
    check_adam_hyperparameters(**hyperparameters)
    w, g, xp = check_param_and_grad(param, grad)
    if state is None:
        state = AdamState(0, xp.zeros_like(w), xp.zeros_like(w))
    else:
        state = _checked_state(state, AdamState, w, xp)
    return _zero_dimensional_arrays(_adam_update(xp, w, g, state, **hyperparameters))


def adamw(
    param: Array,
    grad: Array,
    state: AdamState | None = None,
    *,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
    maximize: bool = False,
) -> tuple[Array, AdamState]:
    r"""Take one AdamW step: Adam with weight decay decoupled from the gradient.

    $$
    \begin{aligned}
    &\textbf{input: } \eta \text{ (lr)},\ \beta_1, \beta_2 \text{ (betas)},\
      \epsilon,\ \lambda \text{ (weight decay)},\ \textit{amsgrad},\
      \textit{maximize} \\
    &g_t \leftarrow -g_t \ \textbf{if}\ \textit{maximize} \\
    &w_{t-1} \leftarrow w_{t-1} - \eta \lambda w_{t-1} \\
    &m_t,\ v_t,\ \hat m_t,\ \hat v_t \ \text{as in Adam, from } g_t
      \text{ alone} \\
    &w_t \leftarrow w_{t-1} - \eta\, \hat m_t / \bigl(\sqrt{\hat v_t} + \epsilon\bigr)
    \end{aligned}
    $$

    The decay shrinks the parameters by the factor $1 - \eta\lambda$ before
    the Adam step and never enters $m$ or $v$, so the adaptive
    normalization does not weaken it for coordinates with large gradients.

    Parameters
    ----------
    param, grad, state, lr, betas, eps, amsgrad, maximize
        As in :func:`adam`.
    weight_decay : float, default 1e-2
        Decoupled decay coefficient $\lambda \ge 0$.

    Returns
    -------
    w : array of the shape of ``param``
        Updated parameters $w_t$.
    state : AdamState
        New state.

    Raises
    ------
    ValueError
        As :func:`adam`.

    Notes
    -----
    The decay is multiplied by the learning rate, as in torch, so a learning
    rate schedule also schedules the decay.

    Keras 3 ``keras.optimizers.AdamW`` applies the same decoupled decay
    $w \leftarrow w - \eta\lambda w$ before the step, but with default
    ``weight_decay=0.004`` (torch: 0.01), and its Adam step uses the
    "epsilon hat" described in :func:`adam`.

    Examples
    --------
    With a zero gradient only the decay acts:

    >>> import numpy as np
    >>> w, state = adamw(np.array([2.0]), np.array([0.0]), lr=0.1, weight_decay=0.5)
    >>> w.tolist()
    [1.9]
    """
    return adam(
        param,
        grad,
        state,
        lr=lr,
        betas=betas,
        eps=eps,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        maximize=maximize,
        decoupled_weight_decay=True,
    )


def _zero_dimensional_arrays(result: tuple[Array, Any]) -> tuple[Array, Any]:
    """Return the NumPy scalars that arithmetic on 0-d arrays gives as 0-d arrays."""

    def as_array(value: Any) -> Any:
        return np.asarray(value) if isinstance(value, np.generic) else value

    w, state = result
    return as_array(w), type(state)(*(as_array(value) for value in state))


def _checked_state(state: Any, state_type: type, w: Array, xp: Any) -> Any:
    """Validate a state passed to an update rule; return it with an int step."""
    if not isinstance(state, state_type):
        raise TypeError(
            f"state must be an {state_type.__name__} or None, got "
            f"{type(state).__name__}"
        )
    fields = state._asdict()
    if "step" in fields:
        fields["step"] = check_step(fields["step"])
    check_state_arrays({k: v for k, v in fields.items() if k != "step"}, w, xp)
    return state_type(**fields)


def _copy(xp: Any, x: Array) -> Array:
    # A state must never share memory with the caller's gradient, which torch
    # overwrites in place when gradients accumulate.
    return x.clone() if is_torch(x) else xp.asarray(x, copy=True)


# The four helpers below compute simple sums of products. On torch tensors
# they call torch's out-of-place kernels, which round exactly as torch.optim's
# in-place ones because on CPU both fuse a multiply and an add. With plain
# operators, float32 runs drifted from torch.optim by up to 1e-4 relative over
# 200 steps of a small MLP.


def _add(x: Array, y: Array, alpha: float) -> Array:
    r"""Return $x + \alpha y$."""
    if is_torch(x):
        import torch

        return torch.add(x, y, alpha=alpha)
    return x + alpha * y


def _lerp(start: Array, end: Array, weight: float) -> Array:
    r"""Return $(1 - \text{weight})\,\text{start} + \text{weight}\,\text{end}$."""
    if is_torch(start):
        import torch

        return torch.lerp(start, end, weight)
    return start + weight * (end - start)


def _addcmul(x: Array, a: Array, b: Array, value: float) -> Array:
    r"""Return $x + \text{value}\, a b$."""
    if is_torch(x):
        import torch

        return torch.addcmul(x, a, b, value=value)
    return x + (value * a) * b


def _addcdiv(x: Array, a: Array, b: Array, value: float) -> Array:
    r"""Return $x + \text{value}\, a / b$."""
    if is_torch(x):
        import torch

        return torch.addcdiv(x, a, b, value=value)
    return x + (value * a) / b


def _signed_decayed_gradient(
    w: Array, g: Array, weight_decay: float, maximize: bool
) -> Array:
    if maximize:
        g = -g
    if weight_decay != 0:
        g = _add(g, w, weight_decay)
    return g


# The kernels below take validated arrays and check only their denominator,
# which costs nothing unless eps rounds to 0, so the torch optimizers can call
# them once per tensor and step. They follow the pseudocode of the public
# function of the same name.


def _sgd_update(
    xp: Any,
    w: Array,
    g: Array,
    state: SGDState,
    *,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
) -> tuple[Array, SGDState]:
    """Apply :func:`sgd` to validated arrays."""
    g = _signed_decayed_gradient(w, g, weight_decay, maximize)
    b = state.momentum_buffer
    if momentum != 0:
        if b is None:
            b = _copy(xp, g)
        else:
            b = _add(momentum * b, g, 1 - dampening)
        g = _add(g, b, momentum) if nesterov else b
    return _add(w, g, -lr), SGDState(b)


def _adagrad_update(
    xp: Any,
    w: Array,
    g: Array,
    state: AdaGradState,
    *,
    lr: float,
    lr_decay: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
    **_: Any,
) -> tuple[Array, AdaGradState]:
    """Apply :func:`adagrad` to validated arrays."""
    t = state.step + 1
    g = _signed_decayed_gradient(w, g, weight_decay, maximize)
    eta = lr / (1 + (t - 1) * lr_decay)
    s = _addcmul(state.sum, g, g, 1.0)
    d = xp.sqrt(s) + eps
    check_denominator(d, eps, xp)
    w = _addcdiv(w, g, d, -eta)
    return w, AdaGradState(t, s)


def _rmsprop_update(
    xp: Any,
    w: Array,
    g: Array,
    state: RMSPropState,
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    maximize: bool,
) -> tuple[Array, RMSPropState]:
    """Apply :func:`rmsprop` to validated arrays."""
    g = _signed_decayed_gradient(w, g, weight_decay, maximize)
    v = _addcmul(alpha * state.square_avg, g, g, 1 - alpha)

    g_bar = None
    if centered:
        previous = state.grad_avg
        if previous is None:
            previous = xp.zeros_like(w)
        g_bar = _lerp(previous, g, 1 - alpha)
        # v - g_bar^2 >= 0 in exact arithmetic but can round below 0 when the
        # gradient barely varies; torch.optim then takes the root of a negative
        # number and returns NaN. Clipping changes nothing where torch is finite.
        d = xp.sqrt(xp.clip(_addcmul(v, g_bar, g_bar, -1.0), min=0.0)) + eps
    else:
        d = xp.sqrt(v) + eps
    check_denominator(d, eps, xp)

    b = None
    if momentum > 0:
        previous = state.momentum_buffer
        if previous is None:
            previous = xp.zeros_like(w)
        b = _addcdiv(momentum * previous, g, d, 1.0)
        w = _add(w, b, -lr)
    else:
        w = _addcdiv(w, g, d, -lr)
    return w, RMSPropState(state.step + 1, v, g_bar, b)


def _adam_update(
    xp: Any,
    w: Array,
    g: Array,
    state: AdamState,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> tuple[Array, AdamState]:
    """Apply :func:`adam` (or :func:`adamw` when decoupled) to validated arrays."""
    beta1, beta2 = betas
    t = state.step + 1
    if decoupled_weight_decay:
        w = w * (1 - lr * weight_decay)
        g = _signed_decayed_gradient(w, g, 0.0, maximize)
    else:
        g = _signed_decayed_gradient(w, g, weight_decay, maximize)

    m = _lerp(state.exp_avg, g, 1 - beta1)
    v = _addcmul(beta2 * state.exp_avg_sq, g, g, 1 - beta2)
    v_max = None
    if amsgrad:
        previous = state.max_exp_avg_sq
        if previous is None:
            previous = xp.zeros_like(v)
        v_max = xp.maximum(previous, v)

    # Bias corrections are Python floats: step t is the same for every entry.
    bias_correction1 = 1 - beta1**t
    bias_correction2_sqrt = (1 - beta2**t) ** 0.5
    d = xp.sqrt(v_max if amsgrad else v) / bias_correction2_sqrt + eps
    check_denominator(d, eps, xp)
    w = _addcdiv(w, m, d, -lr / bias_correction1)
    return w, AdamState(t, m, v, v_max)
