"""Tests of the torch.optim.Optimizer subclasses in foundations.optim.torch.

The reference is torch.optim (torch 2.13.0): the same 4-8-3 MLP, data and
initial weights are trained with ours and with torch's optimizer.
"""

from __future__ import annotations

import doctest
import functools
import inspect
import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import foundations.optim.torch as ours
from foundations.optim import _foreach

OPTIMIZERS = {
    "SGD": (ours.SGD, torch.optim.SGD),
    "AdaGrad": (ours.AdaGrad, torch.optim.Adagrad),
    "RMSProp": (ours.RMSProp, torch.optim.RMSprop),
    "Adam": (ours.Adam, torch.optim.Adam),
    "AdamW": (ours.AdamW, torch.optim.AdamW),
}

# The parity grid. Rows with maximize=True ascend the negated loss, so their
# runs stay bounded.
GRID = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    (
        "SGD",
        dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True),
    ),
    ("AdaGrad", dict(lr=0.1)),
    ("AdaGrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01)),
    ("AdaGrad", dict(lr=0.1, initial_accumulator_value=0.1, eps=1e-6, maximize=True)),
    ("RMSProp", dict(lr=0.01)),
    ("RMSProp", dict(lr=0.01, momentum=0.9, weight_decay=0.01)),
    ("RMSProp", dict(lr=0.01, centered=True)),
    (
        "RMSProp",
        dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, maximize=True),
    ),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.01, maximize=True)),
    (
        "Adam",
        dict(lr=0.01, amsgrad=True, weight_decay=0.1, decoupled_weight_decay=True),
    ),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, eps=1e-6, maximize=True)),
]
GRID_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(GRID)]
STEPS = 200


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    # The tensors here have at most 32 entries, so a second intra-op thread
    # only adds synchronization. On a busy machine it made each step 10x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


_generator = torch.Generator().manual_seed(0)
X = torch.randn(16, 4, generator=_generator, dtype=torch.float64)
Y = torch.randint(0, 3, (16,), generator=_generator)
INITIAL = [
    0.5 * torch.randn(8, 4, generator=_generator, dtype=torch.float64),
    0.1 * torch.randn(8, generator=_generator, dtype=torch.float64),
    0.5 * torch.randn(3, 8, generator=_generator, dtype=torch.float64),
    0.1 * torch.randn(3, generator=_generator, dtype=torch.float64),
]


def make_params(dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    return [w.to(dtype).clone().requires_grad_() for w in INITIAL]


def mlp_loss(params: list[torch.Tensor], maximize: bool = False) -> torch.Tensor:
    w1, b1, w2, b2 = params
    x = X.to(w1.dtype)
    logits = F.linear(torch.tanh(F.linear(x, w1, b1)), w2, b2)
    loss = F.cross_entropy(logits, Y)
    return -loss if maximize else loss


def train(optimizer, params, steps=STEPS, maximize=False, scheduler=None) -> None:
    for _ in range(steps):
        optimizer.zero_grad()
        mlp_loss(params, maximize).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


def relative_difference(got: list, expected: list) -> float:
    got_flat = torch.cat([p.detach().flatten() for p in got])
    expected_flat = torch.cat([p.detach().flatten() for p in expected])
    scale = expected_flat.abs().max()
    return ((got_flat - expected_flat).abs().max() / scale).item()


@functools.cache
def reference_run(name: str, kwargs_items: tuple, dtype: torch.dtype) -> list:
    """Train with torch.optim; cached because several tests compare with it."""
    kwargs = dict(kwargs_items)
    params = make_params(dtype)
    train(OPTIMIZERS[name][1](params, **kwargs), params, STEPS, kwargs.get("maximize"))
    return params


def train_pair(name, kwargs, dtype, foreach):
    expected = reference_run(name, tuple(kwargs.items()), dtype)
    got = make_params(dtype)
    optimizer = OPTIMIZERS[name][0](got, foreach=foreach, **kwargs)
    train(optimizer, got, STEPS, kwargs.get("maximize", False))
    return got, expected


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
@pytest.mark.parametrize(("name", "kwargs"), GRID, ids=GRID_IDS)
def test_float64_parity_after_200_steps(name, kwargs, foreach):
    got, expected = train_pair(name, kwargs, torch.float64, foreach)
    assert relative_difference(got, expected) <= 1e-10


@pytest.mark.parametrize(("name", "kwargs"), GRID, ids=GRID_IDS)
def test_float32_default_parity_after_200_steps(name, kwargs):
    got, expected = train_pair(name, kwargs, torch.float32, foreach=None)
    assert got[0].dtype == torch.float32
    assert relative_difference(got, expected) <= 1e-5


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_float32_single_tensor_parity(name):
    got, expected = train_pair(name, dict(lr=0.01), torch.float32, foreach=False)
    assert relative_difference(got, expected) <= 1e-5


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_parameter_groups_match_torch(name, foreach):
    def groups(params):
        return [{"params": params[:2], "lr": 0.02}, {"params": params[2:]}]

    ours_class, torch_class = OPTIMIZERS[name]
    expected, got = make_params(), make_params()
    train(torch_class(groups(expected), lr=0.005), expected, steps=50)
    train(ours_class(groups(got), lr=0.005, foreach=foreach), got, steps=50)
    assert relative_difference(got, expected) <= 1e-10


def test_mixed_dtypes_and_missing_grads_match_torch():
    def setup():
        params = make_params()
        params[2] = params[2].detach().float().requires_grad_()
        frozen = torch.zeros(2, requires_grad=True)  # never gets a gradient
        return params, frozen

    def loss(params):
        w1, b1, w2, b2 = params
        h = torch.tanh(F.linear(X, w1, b1))
        return F.cross_entropy(F.linear(h, w2.double(), b2), Y)

    results = []
    for make in (torch.optim.Adam, ours.Adam):
        params, frozen = setup()
        optimizer = make([*params, frozen], lr=0.01)
        for _ in range(20):
            optimizer.zero_grad()
            loss(params).backward()
            optimizer.step()
        assert frozen.detach().tolist() == [0.0, 0.0]
        assert frozen not in optimizer.state
        results.append(params)
    assert relative_difference(results[1], results[0]) <= 1e-6


ADAM_GRID = [(name, kwargs) for name, kwargs in GRID if name.startswith("Adam")]
ADAM_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(ADAM_GRID)]


@pytest.mark.parametrize(("name", "kwargs"), ADAM_GRID, ids=ADAM_IDS)
def test_fused_float64_parity_after_200_steps(name, kwargs):
    expected = reference_run(name, tuple(kwargs.items()), torch.float64)
    got = make_params()
    train(
        OPTIMIZERS[name][0](got, fused=True, **kwargs),
        got,
        STEPS,
        kwargs.get("maximize", False),
    )
    assert relative_difference(got, expected) <= 1e-10


@pytest.mark.parametrize(("name", "kwargs"), ADAM_GRID, ids=ADAM_IDS)
def test_fused_float32_equals_torch_fused(name, kwargs):
    # Both hand the same tensors to the same kernel, so no rounding differs.
    results = []
    for make in OPTIMIZERS[name]:
        params = make_params(torch.float32)
        train(
            make(params, fused=True, **kwargs),
            params,
            50,
            kwargs.get("maximize", False),
        )
        results.append(params)
    for got, expected in zip(*results, strict=True):
        assert torch.equal(got, expected)


def test_fused_resume_with_groups():
    def groups(params):
        return [{"params": params[:2], "weight_decay": 0.0}, {"params": params[2:]}]

    uninterrupted = make_params()
    train(ours.AdamW(groups(uninterrupted), lr=0.01, fused=True), uninterrupted)
    params = make_params()
    first = ours.AdamW(groups(params), lr=0.01, fused=True)
    train(first, params, steps=STEPS // 2)
    second = ours.AdamW(groups(params), lr=0.01, fused=True)
    second.load_state_dict(save_and_load(first.state_dict()))
    train(second, params, steps=STEPS // 2)
    for got, expected in zip(params, uninterrupted, strict=True):
        assert torch.equal(got, expected)


def test_fused_and_foreach_together_raise():
    with pytest.raises(ValueError, match="foreach and fused cannot both be True"):
        ours.Adam(make_params(), foreach=True, fused=True)


def test_fused_off_the_cpu_raises():
    p = torch.zeros(3, device="meta", requires_grad=True)
    p.grad = torch.zeros(3, device="meta")
    optimizer = ours.AdamW([p], fused=True)
    with pytest.raises(ValueError, match=r"CPU tensors only.*shape \(3,\) on meta"):
        optimizer.step()


RESUMABLE = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("AdaGrad", dict(lr=0.1, lr_decay=0.01)),
    ("RMSProp", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
]


def save_and_load(state_dict: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize(("name", "kwargs"), RESUMABLE, ids=[n for n, _ in RESUMABLE])
def test_resume_from_state_dict_matches_uninterrupted(name, kwargs):
    ours_class = OPTIMIZERS[name][0]
    uninterrupted = make_params()
    train(ours_class(uninterrupted, **kwargs), uninterrupted)

    first = make_params()
    optimizer = ours_class(first, **kwargs)
    train(optimizer, first, steps=STEPS // 2)
    saved = save_and_load(optimizer.state_dict())

    resumed = [p.detach().clone().requires_grad_() for p in first]
    fresh = ours_class(resumed, **kwargs)
    fresh.load_state_dict(saved)
    train(fresh, resumed, steps=STEPS // 2)
    for got, expected in zip(resumed, uninterrupted, strict=True):
        assert torch.equal(got, expected)


@pytest.mark.parametrize("direction", ["torch-to-ours", "ours-to-torch"])
@pytest.mark.parametrize(("name", "kwargs"), RESUMABLE, ids=[n for n, _ in RESUMABLE])
def test_state_dict_interchanges_with_torch(name, kwargs, direction):
    ours_class, torch_class = OPTIMIZERS[name]
    first_class, second_class = (
        (torch_class, ours_class)
        if direction == "torch-to-ours"
        else (ours_class, torch_class)
    )
    uninterrupted = make_params()
    train(torch_class(uninterrupted, **kwargs), uninterrupted, steps=40)

    params = make_params()
    first = first_class(params, **kwargs)
    train(first, params, steps=20)
    second = second_class(params, **kwargs)
    second.load_state_dict(first.state_dict())
    train(second, params, steps=20)
    assert relative_difference(params, uninterrupted) <= 1e-12


SCHEDULERS = {
    "LambdaLR": lambda opt: torch.optim.lr_scheduler.LambdaLR(
        opt, lambda epoch: 0.97**epoch
    ),
    "CosineAnnealingLR": lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=30, eta_min=1e-4
    ),
    "OneCycleLR": lambda opt: torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=0.05,
        total_steps=30,
        cycle_momentum="momentum" in opt.defaults or "betas" in opt.defaults,
    ),
}
SCHEDULED = {
    "SGD": dict(lr=0.01, momentum=0.9),
    "AdaGrad": dict(lr=0.01),
    "RMSProp": dict(lr=0.01, momentum=0.9),
    "Adam": dict(lr=0.01),
    "AdamW": dict(lr=0.01),
}


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_lr_scheduler_matches_torch(name, scheduler):
    ours_class, torch_class = OPTIMIZERS[name]
    runs = []
    for optimizer_class in (torch_class, ours_class):
        params = make_params()
        optimizer = optimizer_class(params, **SCHEDULED[name])
        schedule = SCHEDULERS[scheduler](optimizer)
        train(optimizer, params, steps=30, scheduler=schedule)
        runs.append((params, optimizer.param_groups[0]["lr"]))
    (expected, expected_lr), (got, got_lr) = runs
    assert got_lr == expected_lr
    assert relative_difference(got, expected) <= 1e-10


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_step_with_closure_returns_loss(name):
    ours_class = OPTIMIZERS[name][0]
    with_closure, without = make_params(), make_params()
    optimizer = ours_class(with_closure, lr=0.01)

    def closure():
        optimizer.zero_grad()
        loss = mlp_loss(with_closure)
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    train(ours_class(without, lr=0.01), without, steps=1)
    assert loss.item() == pytest.approx(mlp_loss(make_params()).item(), rel=1e-15)
    for got, expected in zip(with_closure, without, strict=True):
        assert torch.equal(got, expected)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_zero_grad_clears_gradients(name):
    params = make_params()
    optimizer = OPTIMIZERS[name][0](params)
    mlp_loss(params).backward()
    optimizer.zero_grad()
    assert all(p.grad is None for p in params)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_step_leaves_autograd_off_for_params(name):
    params = make_params()
    optimizer = OPTIMIZERS[name][0](params)
    mlp_loss(params).backward()
    optimizer.step()
    assert all(p.grad_fn is None and p.requires_grad for p in params)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_sparse_gradient_raises(name):
    embedding = torch.nn.Embedding(5, 3, sparse=True)
    optimizer = OPTIMIZERS[name][0](embedding.parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(ValueError, match=rf"{name} does not support sparse gradients"):
        optimizer.step()


def test_complex_parameter_raises():
    p = torch.zeros(2, dtype=torch.complex64, requires_grad=True)
    p.grad = torch.ones(2, dtype=torch.complex64)
    with pytest.raises(ValueError, match="does not support complex parameters"):
        ours.Adam([p]).step()


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_foreach_none_uses_multi_tensor_path(name, monkeypatch):
    kernel_name = {"AdamW": "adam"}.get(name, name.lower())
    calls = []
    kernel = getattr(_foreach, kernel_name)
    monkeypatch.setattr(
        _foreach, kernel_name, lambda *a, **k: calls.append(1) or kernel(*a, **k)
    )
    params = make_params()
    optimizer = OPTIMIZERS[name][0](params)
    mlp_loss(params).backward()
    optimizer.step()
    assert calls == [1]

    optimizer.param_groups[0]["foreach"] = False
    optimizer.step()
    assert calls == [1]


INVALID = [
    ("SGD", dict(lr=-0.1), r"lr must be a number >= 0, got -0\.1"),
    ("SGD", dict(momentum=-0.9), r"momentum must be a number >= 0, got -0\.9"),
    ("SGD", dict(nesterov=True), r"nesterov=True requires momentum > 0"),
    ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.5), r"dampening == 0"),
    ("AdaGrad", dict(lr_decay=-1.0), r"lr_decay must be a number >= 0, got -1\.0"),
    ("AdaGrad", dict(initial_accumulator_value=-0.1), r"initial_accumulator_value"),
    ("AdaGrad", dict(eps=-1e-10), r"eps must be a number >= 0, got -1e-10"),
    ("RMSProp", dict(alpha=-0.5), r"alpha must be in \[0, 1\), got -0\.5"),
    ("RMSProp", dict(weight_decay=-0.5), r"weight_decay must be a number >= 0"),
    ("Adam", dict(betas=(0.9, 1.0)), r"betas\[1\] must be in \[0, 1\), got 1\.0"),
    ("Adam", dict(betas=(-0.1, 0.9)), r"betas\[0\] must be in \[0, 1\), got -0\.1"),
    ("Adam", dict(eps=-1e-8), r"eps must be a number >= 0, got -1e-08"),
    ("AdamW", dict(lr=-1e-3), r"lr must be a number >= 0, got -0\.001"),
    ("AdamW", dict(weight_decay=-0.01), r"weight_decay must be a number >= 0"),
]


@pytest.mark.parametrize(("name", "kwargs", "message"), INVALID)
def test_invalid_hyperparameter_raises_like_torch(name, kwargs, message):
    ours_class, torch_class = OPTIMIZERS[name]
    with pytest.raises(ValueError, match=message):
        ours_class(make_params(), **kwargs)
    with pytest.raises(ValueError):
        torch_class(make_params(), **kwargs)


def test_nan_learning_rate_raises():
    with pytest.raises(ValueError, match="lr must be a number >= 0, got nan"):
        ours.SGD(make_params(), lr=float("nan"))


def test_rmsprop_alpha_above_one_raises():
    # torch accepts it, but v_1 = (1 - alpha) g^2 is then negative and its
    # square root NaN.
    reference = make_params()
    mlp_loss(reference).backward()
    torch.optim.RMSprop(reference, alpha=1.5).step()
    assert torch.isnan(reference[0]).all()
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\), got 1\.5"):
        ours.RMSProp(make_params(), alpha=1.5)


def test_infinite_learning_rate_raises():
    with pytest.raises(ValueError, match="lr must be finite, got inf"):
        ours.Adam(make_params(), lr=float("inf"))


def test_tensor_learning_rate_raises():
    # torch.optim accepts a tensor lr for its capturable and fused paths, which
    # these optimizers do not have.
    with pytest.raises(TypeError, match="lr must be a real number, got Tensor"):
        ours.Adam(make_params(), lr=torch.tensor(0.01))


def test_invalid_parameter_group_raises():
    params = make_params()
    optimizer = ours.Adam(params[:2])
    with pytest.raises(ValueError, match=r"betas\[0\] must be in \[0, 1\), got 1\.5"):
        optimizer.add_param_group({"params": params[2:], "betas": (1.5, 0.999)})
    assert len(optimizer.param_groups) == 1


def test_adamw_signature_is_torchs():
    parameters = inspect.signature(ours.AdamW).parameters
    expected = {
        "params": inspect.Parameter.empty,
        "lr": 1e-3,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "weight_decay": 1e-2,
        "amsgrad": False,
        "maximize": False,
        "foreach": None,
        "fused": None,
    }
    assert {name: p.default for name, p in parameters.items()} == expected
    keyword_only = [n for n, p in parameters.items() if p.kind == p.KEYWORD_ONLY]
    assert keyword_only == ["maximize", "foreach", "fused"]


def test_docstring_examples_run():
    results = doctest.testmod(ours)
    assert results.attempted > 0
    assert results.failed == 0


def steady_gradients(steps: int = 300) -> list[torch.Tensor]:
    """Return gradients 1 + 1e-4 noise, whose variance is tiny next to g^2."""
    generator = torch.Generator().manual_seed(0)
    return [1 + 1e-4 * torch.randn(1000, generator=generator) for _ in range(steps)]


def run_centered_rmsprop(optimizer_class, **kwargs) -> torch.Tensor:
    p = torch.zeros(1000, requires_grad=True)
    optimizer = optimizer_class([p], lr=1e-6, alpha=0.9, centered=True, **kwargs)
    for g in steady_gradients():
        p.grad = g
        optimizer.step()
    return p.detach()


@functools.cache
def centered_rmsprop_reference() -> torch.Tensor:
    return run_centered_rmsprop(torch.optim.RMSprop)


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_centered_rmsprop_stays_finite_on_steady_gradients(foreach):
    # v - g_bar^2 is about 1e-9 there and rounds below 0 in float32 for some
    # entries, so torch.optim.RMSprop takes the square root of a negative number.
    assert torch.isnan(centered_rmsprop_reference()).any()
    assert torch.isfinite(run_centered_rmsprop(ours.RMSProp, foreach=foreach)).all()


# (name, dtype, eps, message): a zero gradient with eps=0, or with float16 a
# gradient of 1e-3, whose square times 1 - beta2 underflows while 1e-8 rounds
# to 0, leaves the denominator sqrt(v) + eps at 0.
ZERO_DENOMINATOR = [
    ("AdaGrad", torch.float64, 0.0, r"eps=0\.0 leaves the denominator"),
    ("RMSProp", torch.float64, 0.0, r"eps=0\.0 leaves the denominator"),
    ("Adam", torch.float64, 0.0, r"eps=0\.0 leaves the denominator"),
    ("Adam", torch.float16, 1e-8, r"eps=1e-08 rounds to 0 in torch\.float16"),
]


# Only Adam and AdamW have a fused path.
ZERO_DENOMINATOR_PATHS = [
    (*row, path)
    for row in ZERO_DENOMINATOR
    for path in ("single", "foreach", "fused")
    if path != "fused" or row[0] == "Adam"
]


@pytest.mark.parametrize(
    ("name", "dtype", "eps", "message", "path"), ZERO_DENOMINATOR_PATHS
)
def test_zero_denominator_raises(name, dtype, eps, message, path):
    options = {"fused": True} if path == "fused" else {"foreach": path == "foreach"}
    grad = torch.tensor([0.0 if dtype == torch.float64 else 1e-3, 1.0], dtype=dtype)
    reference = torch.ones(2, dtype=dtype, requires_grad=True)
    reference.grad = grad.clone()
    OPTIMIZERS[name][1]([reference], eps=eps).step()
    assert not torch.isfinite(reference).all()

    p = torch.ones(2, dtype=dtype, requires_grad=True)
    p.grad = grad.clone()
    optimizer = OPTIMIZERS[name][0]([p], eps=eps, **options)
    with pytest.raises(ValueError, match=message) as error:
        optimizer.step()
    assert "at 0 for 1 of 2 entries" in str(error.value)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_load_state_dict_with_invalid_hyperparameter_raises(name):
    params = make_params()
    state_dict = OPTIMIZERS[name][1](params, lr=0.1).state_dict()
    state_dict["param_groups"][0]["lr"] = -1.0
    optimizer = OPTIMIZERS[name][0](params, lr=0.1)

    with pytest.raises(ValueError, match=r"lr must be a number >= 0, got -1\.0"):
        optimizer.load_state_dict(state_dict)
    assert optimizer.param_groups[0]["lr"] == 0.1


def test_adagrad_uses_group_initial_accumulator_value():
    # torch.optim.Adagrad starts every sum at the constructor's value instead.
    params, reference = make_params(), make_params()
    for group_params in (params, reference):
        mlp_loss(group_params).backward()
    groups = [
        {"params": params[:2]},
        {"params": params[2:], "initial_accumulator_value": 0.5},
    ]
    optimizer = ours.AdaGrad(groups)
    torch_optimizer = torch.optim.Adagrad(
        [
            {"params": reference[:2]},
            {"params": reference[2:], "initial_accumulator_value": 0.5},
        ]
    )
    optimizer.step()
    torch_optimizer.step()

    squared = params[2].grad ** 2
    torch.testing.assert_close(optimizer.state[params[2]]["sum"], 0.5 + squared)
    torch.testing.assert_close(torch_optimizer.state[reference[2]]["sum"], squared)
    torch.testing.assert_close(optimizer.state[params[0]]["sum"], params[0].grad ** 2)


def test_batch_indices_chunks_cpu_lists():
    # Three float32 tensors of 2**17 entries and one float64: the float32
    # ones exceed one CPU chunk of 2**18 entries together.
    tensors = [torch.zeros(2**17) for _ in range(3)] + [torch.zeros(4).double()]
    assert _foreach.batch_indices(tensors) == [[0, 1], [2], [3]]
    assert _foreach.batch_indices(tensors, chunk_cpu=False) == [[0, 1, 2], [3]]


# (path options, dtype, tolerance): the fused kernel reads the divisor as
# float32, so its float64 steps differ from clipping by about 1e-9.
DIVISOR_CASES = [
    (dict(foreach=False), torch.float64, 1e-14),
    (dict(foreach=True), torch.float64, 1e-14),
    (dict(fused=True), torch.float64, 1e-8),
    (dict(foreach=True), torch.float32, 1e-6),
    (dict(fused=True), torch.float32, 1e-6),
]


@pytest.mark.parametrize(("options", "dtype", "tolerance"), DIVISOR_CASES)
def test_grad_divisor_matches_clip_grad_norm(options, dtype, tolerance):
    generator = torch.Generator().manual_seed(0)
    clipped = [torch.randn(5, 3, generator=generator, dtype=dtype) for _ in range(3)]
    divided = [w.clone() for w in clipped]
    clipping = ours.AdamW(clipped, lr=0.01, **options)
    dividing = ours.AdamW(divided, lr=0.01, **options)
    for _ in range(20):
        grads = [
            10 * torch.randn(5, 3, generator=generator, dtype=dtype) for _ in range(3)
        ]
        for w, v, g in zip(clipped, divided, grads, strict=True):
            w.grad, v.grad = g.clone(), g.clone()
        torch.nn.utils.clip_grad_norm_(clipped, 1.0)
        clipping.step()
        norm = torch.nn.utils.get_total_norm([v.grad for v in divided])
        dividing.step(grad_divisor=torch.clamp(norm + 1e-6, min=1.0))
        assert torch.nn.utils.get_total_norm([v.grad for v in divided]) <= 1.0 + 1e-5
    assert relative_difference(divided, clipped) <= tolerance


INVALID_DIVISORS = [
    0.0,
    -2.0,
    0.5,  # below 1, it could overflow the gradients
    float("nan"),
    float("inf"),
    True,
    "2",
    [2.0],
    torch.tensor([2.0, 3.0]),
    torch.tensor(2 + 0j),
    torch.tensor(2.0, device="meta"),
]


@pytest.mark.parametrize("value", INVALID_DIVISORS, ids=repr)
def test_invalid_grad_divisor_raises(value):
    params = make_params()
    mlp_loss(params).backward()
    optimizer = ours.AdamW(params, fused=True)
    with pytest.raises(ValueError, match="grad_divisor must be a finite number >= 1"):
        optimizer.step(grad_divisor=value)
    assert torch.equal(params[0], INITIAL[0])


@pytest.mark.parametrize("value", [2, np.float64(2.0), torch.tensor(2)], ids=repr)
def test_grad_divisor_takes_ints_and_numpy_floats(value):
    params = make_params()
    mlp_loss(params).backward()
    expected = [p.grad / 2 for p in params]
    ours.AdamW(params).step(grad_divisor=value)
    for p, quotient in zip(params, expected, strict=True):
        assert torch.equal(p.grad, quotient)


def test_fused_divisor_beyond_float32_divides_first():
    generator = torch.Generator().manual_seed(0)
    results = []
    for options in (dict(fused=True), dict(foreach=True)):
        params = [torch.ones(4, dtype=torch.float64, requires_grad=True)]
        params[0].grad = 1e250 * torch.randn(
            4, generator=generator, dtype=torch.float64
        )
        ours.AdamW(params, **options).step(grad_divisor=1e260)
        results.append(params)
        generator.manual_seed(0)
    assert torch.isfinite(results[0][0]).all()
    assert relative_difference(results[0], results[1]) <= 1e-12


def test_group_flags_checked_like_constructor():
    optimizer = ours.AdamW(make_params()[:2], fused=True)
    with pytest.raises(ValueError, match="foreach and fused cannot both be True"):
        optimizer.add_param_group({"params": make_params()[2:], "foreach": True})
    with pytest.raises(
        ValueError, match="fused must be None, True or False, got 'yes'"
    ):
        ours.AdamW(make_params(), fused="yes")
    state = optimizer.state_dict()
    state["param_groups"][0]["foreach"] = True
    with pytest.raises(ValueError, match="foreach and fused cannot both be True"):
        optimizer.load_state_dict(state)
