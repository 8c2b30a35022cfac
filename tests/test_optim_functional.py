"""Tests of the pure update rules in foundations.optim.functional.

The reference is torch.optim (torch 2.13.0) driven step by step on one tensor
with the same gradients.
"""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch

import foundations.optim.functional as functional
from foundations.optim import (
    AdaGradState,
    AdamState,
    RMSPropState,
    SGDState,
    adagrad,
    adam,
    adamw,
    rmsprop,
    sgd,
)

RULES = {
    "sgd": (sgd, torch.optim.SGD),
    "adagrad": (adagrad, torch.optim.Adagrad),
    "rmsprop": (rmsprop, torch.optim.RMSprop),
    "adam": (adam, torch.optim.Adam),
    "adamw": (adamw, torch.optim.AdamW),
}

# One row per rule and hyperparameter choice; maximize rows ascend the
# negated objective, so they stay bounded.
CASES = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("adagrad", dict(lr=0.3)),
    ("adagrad", dict(lr=0.3, lr_decay=0.05, weight_decay=0.01)),
    ("adagrad", dict(lr=0.3, initial_accumulator_value=0.5, eps=1e-3, maximize=True)),
    ("rmsprop", dict(lr=0.01)),
    ("rmsprop", dict(lr=0.01, momentum=0.8, weight_decay=0.01)),
    ("rmsprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, maximize=True)),
    ("adam", dict(lr=0.05)),
    ("adam", dict(lr=0.05, amsgrad=True, weight_decay=0.01)),
    ("adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-4, maximize=True)),
    ("adamw", dict(lr=0.05)),
    ("adamw", dict(lr=0.05, weight_decay=0.3, amsgrad=True, maximize=True)),
]
CASE_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]
STEPS = 50


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    # The tensors here have at most 32 entries, so a second intra-op thread
    # only adds synchronization. On a busy machine it made each step 10x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gradient(w: torch.Tensor, step: int, maximize: bool) -> torch.Tensor:
    """Return the gradient of an ill-conditioned quadratic plus seeded noise."""
    scales = torch.linspace(0.1, 10.0, w.numel(), dtype=w.dtype).reshape(w.shape)
    noise = torch.randn(w.shape, generator=torch.Generator().manual_seed(step))
    g = scales * (w - 1.0) + 0.1 * noise.to(w.dtype)
    return -g if maximize else g


def run_reference(name: str, kwargs: dict, w0: torch.Tensor) -> torch.Tensor:
    p = w0.clone().requires_grad_()
    optimizer = RULES[name][1]([p], foreach=False, **kwargs)
    for step in range(STEPS):
        p.grad = gradient(p.detach(), step, kwargs.get("maximize", False))
        optimizer.step()
    return p.detach()


def run_rule(name: str, kwargs: dict, w0, to_array) -> object:
    rule = RULES[name][0]
    w, state = to_array(w0), None
    for step in range(STEPS):
        g = gradient(torch.as_tensor(np.asarray(w)), step, kwargs.get("maximize"))
        w, state = rule(w, to_array(g), state, **kwargs)
    return w


def initial_param(dtype: torch.dtype) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(3, 4, generator=generator).to(dtype)


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=CASE_IDS)
def test_numpy_rule_matches_torch_optim(name, kwargs):
    w0 = initial_param(torch.float64)
    expected = run_reference(name, kwargs, w0).numpy()
    got = run_rule(name, kwargs, w0, lambda x: np.asarray(x, dtype=np.float64))
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=CASE_IDS)
def test_torch_rule_equals_torch_optim_bitwise(name, kwargs, dtype):
    w0 = initial_param(dtype)
    expected = run_reference(name, kwargs, w0)
    got = run_rule(name, kwargs, w0, lambda x: torch.as_tensor(x).to(dtype))
    assert got.dtype == dtype
    assert torch.equal(got, expected)


@pytest.mark.parametrize(("name", "kwargs"), CASES[::3], ids=CASE_IDS[::3])
def test_rule_leaves_inputs_unchanged(name, kwargs):
    rule = RULES[name][0]
    w = np.linspace(-1.0, 1.0, 6)
    g = np.linspace(2.0, -3.0, 6)
    _, state = rule(w.copy(), g.copy(), None, **kwargs)
    saved = [np.copy(x) if isinstance(x, np.ndarray) else x for x in state]

    rule(w, g, state, **kwargs)

    np.testing.assert_array_equal(w, np.linspace(-1.0, 1.0, 6))
    np.testing.assert_array_equal(g, np.linspace(2.0, -3.0, 6))
    for before, after in zip(saved, state, strict=True):
        np.testing.assert_array_equal(np.asarray(after), np.asarray(before))


def test_sgd_momentum_buffer_is_not_the_gradient():
    g = torch.ones(3)
    _, state = sgd(torch.zeros(3), g, lr=0.1, momentum=0.9)
    g.mul_(5.0)  # torch accumulates gradients in place like this
    assert state.momentum_buffer.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("name", list(RULES))
def test_rule_keeps_numpy_float32(name):
    w = np.ones(4, dtype=np.float32)
    g = np.full(4, 0.5)  # float64 gradient is cast to the parameter's dtype
    new, state = RULES[name][0](w, g)
    assert new.dtype == np.float32
    assert all(x.dtype == np.float32 for x in state if isinstance(x, np.ndarray))


def test_rule_accepts_lists_as_float64():
    w, _ = sgd([1.0, 2.0], [1.0, 1.0], lr=0.5)
    assert w.dtype == np.float64
    assert w.tolist() == [0.5, 1.5]


def test_gradient_flows_through_update():
    # One step on E(w) = w^2 with g = 2w: w1 = w - lr * 2w, so dw1/dw = 1 - 2 lr.
    w = torch.tensor([3.0], dtype=torch.float64, requires_grad=True)
    w1, _ = sgd(w, 2 * w, lr=0.1)
    (derivative,) = torch.autograd.grad(w1.sum(), w)
    assert derivative.item() == pytest.approx(0.8, rel=1e-15)


def test_maximize_equals_negated_gradient():
    w = np.array([0.5, -1.5])
    g = np.array([2.0, 1.0])
    for name in RULES:
        rule = RULES[name][0]
        ascended, _ = rule(w, g, maximize=True, lr=0.1)
        descended, _ = rule(w, -g, lr=0.1)
        np.testing.assert_array_equal(ascended, descended, err_msg=name)


def test_adamw_is_adam_with_decoupled_decay():
    w, g = np.array([1.0, -2.0]), np.array([0.3, 0.1])
    decoupled, _ = adam(w, g, lr=0.1, weight_decay=0.5, decoupled_weight_decay=True)
    got, _ = adamw(w, g, lr=0.1, weight_decay=0.5)
    coupled, _ = adam(w, g, lr=0.1, weight_decay=0.5)
    np.testing.assert_array_equal(got, decoupled)
    assert not np.allclose(got, coupled)


def test_rmsprop_first_step_size():
    # v_1 = (1 - alpha) g^2, so the first step is lr / sqrt(1 - alpha) for any g.
    w, _ = rmsprop(np.zeros(3), np.array([1e-3, 1.0, 1e3]), lr=0.01, alpha=0.99, eps=0)
    np.testing.assert_allclose(w, -0.01 / math.sqrt(0.01), rtol=1e-12)


def test_keras_epsilon_hat_is_torch_eps_times_sqrt():
    # Keras 3 Adam, step 1: w - lr sqrt(1 - b2) / (1 - b1) * m / (sqrt(v) + eps_hat).
    w, g = np.array([1.0, 2.0]), np.array([1e-4, 3.0])
    lr, (b1, b2), eps_hat = 0.1, (0.9, 0.999), 1e-3
    m, v = (1 - b1) * g, (1 - b2) * g**2
    keras = w - lr * math.sqrt(1 - b2) / (1 - b1) * m / (np.sqrt(v) + eps_hat)
    ours, _ = adam(w, g, lr=lr, betas=(b1, b2), eps=eps_hat / math.sqrt(1 - b2))
    np.testing.assert_allclose(ours, keras, rtol=1e-12)


def test_adagrad_state_starts_at_initial_accumulator_value():
    _, state = adagrad(np.zeros(2), np.array([1.0, 2.0]), initial_accumulator_value=0.1)
    assert isinstance(state, AdaGradState)
    assert state.step == 1
    np.testing.assert_allclose(state.sum, [1.1, 4.1])


def test_optional_state_fields_follow_options():
    w, g = np.zeros(2), np.ones(2)
    assert sgd(w, g)[1] == SGDState(None)
    assert rmsprop(w, g)[1].grad_avg is None
    assert rmsprop(w, g)[1].momentum_buffer is None
    assert rmsprop(w, g, centered=True, momentum=0.5)[1].grad_avg is not None
    assert adam(w, g)[1].max_exp_avg_sq is None
    assert isinstance(adam(w, g, amsgrad=True)[1], AdamState)
    assert adam(w, g, amsgrad=True)[1].max_exp_avg_sq is not None


INVALID = [
    (sgd, dict(lr=-0.1), r"lr must be a number >= 0, got -0\.1"),
    (sgd, dict(lr=float("nan")), r"lr must be a number >= 0, got nan"),
    (sgd, dict(momentum=-0.5), r"momentum must be a number >= 0, got -0\.5"),
    (sgd, dict(weight_decay=-1.0), r"weight_decay must be a number >= 0, got -1\.0"),
    (sgd, dict(nesterov=True), r"nesterov=True requires momentum > 0 and dampening"),
    (
        sgd,
        dict(nesterov=True, momentum=0.9, dampening=0.1),
        r"requires momentum > 0 and dampening == 0, got momentum=0\.9 and "
        r"dampening=0\.1",
    ),
    (adagrad, dict(lr_decay=-0.1), r"lr_decay must be a number >= 0, got -0\.1"),
    (
        adagrad,
        dict(initial_accumulator_value=-1.0),
        r"initial_accumulator_value must be a number >= 0, got -1\.0",
    ),
    (adagrad, dict(eps=-1e-10), r"eps must be a number >= 0, got -1e-10"),
    (rmsprop, dict(alpha=-0.9), r"alpha must be in \[0, 1\), got -0\.9"),
    (rmsprop, dict(alpha=1.0), r"alpha must be in \[0, 1\), got 1\.0"),
    (rmsprop, dict(momentum=-0.9), r"momentum must be a number >= 0, got -0\.9"),
    (adam, dict(betas=(1.0, 0.999)), r"betas\[0\] must be in \[0, 1\), got 1\.0"),
    (adam, dict(betas=(0.9, -0.1)), r"betas\[1\] must be in \[0, 1\), got -0\.1"),
    (adam, dict(betas=(0.9,)), r"betas must be a pair \(beta1, beta2\), got \(0\.9,\)"),
    (adam, dict(eps=-1e-8), r"eps must be a number >= 0, got -1e-08"),
    (adamw, dict(weight_decay=-0.01), r"weight_decay must be a number >= 0"),
    (sgd, dict(lr=math.inf), r"lr must be finite, got inf"),
    (adam, dict(weight_decay=math.inf), r"weight_decay must be finite, got inf"),
    (adagrad, dict(eps=math.inf), r"eps must be finite, got inf"),
    (sgd, dict(momentum=0.9, dampening=math.nan), r"dampening must be finite, got nan"),
]


@pytest.mark.parametrize(("rule", "kwargs", "message"), INVALID)
def test_invalid_hyperparameter_raises(rule, kwargs, message):
    with pytest.raises(ValueError, match=message):
        rule(np.zeros(2), np.ones(2), **kwargs)


@pytest.mark.parametrize(
    "lr", ["0.1", torch.tensor(0.1), np.array([0.1])], ids=["str", "tensor", "array"]
)
def test_non_number_hyperparameter_raises_type_error(lr):
    name = type(lr).__name__
    with pytest.raises(TypeError, match=f"lr must be a real number, got {name}"):
        sgd(np.zeros(2), np.ones(2), lr=lr)


def test_grad_of_other_shape_raises():
    with pytest.raises(ValueError, match=r"grad must have the shape of param \(2,\)"):
        adam(np.zeros(2), np.ones(3))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_grad_raises(bad):
    with pytest.raises(ValueError, match="grad must contain only finite values"):
        rmsprop(np.zeros(2), np.array([1.0, bad]))


def test_state_of_other_parameter_raises():
    _, state = adam(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match=r"state.exp_avg must have the shape of"):
        adam(np.zeros(2), np.ones(2), state)


def test_negative_step_in_state_raises():
    state = RMSPropState(-1, np.zeros(2))
    with pytest.raises(ValueError, match=r"state\.step must be a whole number >= 0"):
        rmsprop(np.zeros(2), np.ones(2), state)


def test_docstring_examples_run():
    results = doctest.testmod(functional)
    assert results.attempted > 0
    assert results.failed == 0


def test_centered_rmsprop_numpy_float32_stays_finite():
    # Gradients 1 + 1e-4 noise leave v - g_bar^2 near 1e-9, which rounds below
    # 0 for some entries in float32; without clipping the step is NaN.
    rng = np.random.default_rng(0)
    w, state = np.zeros(1000, dtype=np.float32), None
    for _ in range(300):
        g = (1 + 1e-4 * rng.standard_normal(1000)).astype(np.float32)
        w, state = rmsprop(w, g, state, lr=1e-6, alpha=0.9, centered=True)

    assert w.dtype == np.float32
    assert np.isfinite(w).all()


# (rule, param, grad, eps, message): the first gradient entry is 0, or its
# square times 1 - beta2 underflows float16, so its denominator is 0.
ZERO_DENOMINATOR = [
    (adam, np.ones(2), np.array([0.0, 1.0]), 0.0, r"eps=0\.0 leaves the denominator"),
    (
        adagrad,
        np.ones(2),
        np.array([0.0, 1.0]),
        0.0,
        r"eps=0\.0 leaves the denominator",
    ),
    (
        rmsprop,
        np.ones(2),
        np.array([0.0, 1.0]),
        0.0,
        r"eps=0\.0 leaves the denominator",
    ),
    (
        adam,
        np.ones(2, dtype=np.float16),
        np.array([1e-3, 1.0], dtype=np.float16),
        1e-8,
        r"eps=1e-08 rounds to 0 in float16",
    ),
]


@pytest.mark.parametrize(("rule", "param", "grad", "eps", "message"), ZERO_DENOMINATOR)
def test_zero_denominator_raises(rule, param, grad, eps, message):
    with pytest.raises(ValueError, match=message) as error:
        rule(param, grad, eps=eps)
    assert "at 0 for 1 of 2 entries" in str(error.value)


# (rule, state, kwargs, error, message) for states that do not fit the rule.
STATE_ERRORS = [
    (adam, SGDState(), {}, TypeError,
     "state must be an AdamState or None, got SGDState"),
    (adam, (0, np.zeros(2), np.zeros(2)), {}, TypeError,
     "state must be an AdamState or None, got tuple"),
    (adam, AdamState(1, [0.0, 0.0], np.zeros(2)), {}, TypeError,
     r"state\.exp_avg must be an array like param, got list"),
    (adam, AdamState(1, torch.zeros(2), torch.zeros(2)), {}, TypeError,
     "cannot mix NumPy arrays and torch tensors"),
    (adam, AdamState(1, np.array([math.nan, 0.0]), np.zeros(2)), {}, ValueError,
     r"state\.exp_avg must contain only finite values, got nan"),
    (adagrad, AdaGradState(1, np.array([0.0, -1.0])), {}, ValueError,
     r"state\.sum must be >= 0, got -1\.0 at index 1"),
    (rmsprop, RMSPropState(1, -np.ones(2)), {}, ValueError,
     r"state\.square_avg must be >= 0, got -1\.0 at index 0"),
    (sgd, SGDState(np.array([math.inf, 0.0])), {"momentum": 0.9}, ValueError,
     r"state\.momentum_buffer must contain only finite values, got inf"),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "state", "kwargs", "error", "message"), STATE_ERRORS)
def test_invalid_state_raises(rule, state, kwargs, error, message):
    with pytest.raises(error, match=message):
        rule(np.zeros(2), np.ones(2), state, **kwargs)


def test_state_step_from_torch_optim_is_accepted():
    # torch.optim stores the step as a 0-d float32 tensor.
    state = AdamState(torch.tensor(3.0), np.zeros(2), np.zeros(2))

    w, new = adam(np.zeros(2), np.ones(2), state, lr=0.1)

    assert new.step == 4
    assert isinstance(new.step, int)
    assert isinstance(w, np.ndarray)


@pytest.mark.parametrize("name", list(RULES))
def test_rule_keeps_zero_dimensional_arrays(name):
    # Arithmetic on 0-d NumPy arrays returns NumPy scalars, not arrays.
    w, state = RULES[name][0](np.array(1.0), np.array(0.5))
    w, state = RULES[name][0](w, np.array(0.5), state)

    assert type(w) is np.ndarray
    assert w.shape == ()
    for value in state:
        assert value is None or isinstance(value, int) or type(value) is np.ndarray
