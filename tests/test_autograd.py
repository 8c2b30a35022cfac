"""Tests of foundations.autograd against torch autograd and central differences."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from foundations.autograd import (
    GradcheckError,
    Tensor,
    cross_entropy,
    gelu,
    grad,
    gradcheck,
    log_softmax,
    softmax,
    topological_order,
)
from foundations.problems import two_spirals

RTOL = 1e-9  # float64 gradients against torch autograd
ATOL = 1e-12

# name -> (ours, torch's, operand shapes). Each function takes the operands
# in order; the shapes exercise broadcasting in both directions.
OPS = {
    "add": (lambda x, y: x + y, lambda x, y: x + y, [(3, 4), (4,)]),
    "sub": (lambda x, y: x - y, lambda x, y: x - y, [(3, 1), (1, 4)]),
    "mul": (lambda x, y: x * y, lambda x, y: x * y, [(2, 3, 4), (3, 1)]),
    "div": (
        lambda x, y: x / (y * y + 1.0),
        lambda x, y: x / (y * y + 1.0),
        [(3, 4), (3, 4)],
    ),
    "rsub_rdiv": (
        lambda x: 2.0 - 3.0 / (x * x + 1.0),
        lambda x: 2.0 - 3.0 / (x * x + 1.0),
        [(5,)],
    ),
    "neg": (lambda x: -x, lambda x: -x, [(3,)]),
    "pow": (lambda x: (x * x + 1.0) ** 1.5, lambda x: (x * x + 1.0) ** 1.5, [(4,)]),
    "matmul": (lambda x, w: x @ w, lambda x, w: x @ w, [(3, 4), (4, 2)]),
    "matmul_batched": (lambda x, w: x @ w, lambda x, w: x @ w, [(2, 3, 4), (4, 5)]),
    "matmul_vector": (lambda x, w: x @ w, lambda x, w: x @ w, [(4,), (4, 3)]),
    "matrix_vector": (lambda x, w: x @ w, lambda x, w: x @ w, [(3, 4), (4,)]),
    "sum_all": (lambda x: x.sum(), lambda x: x.sum(), [(3, 4)]),
    "sum_axis": (
        lambda x: x.sum(axis=1),
        lambda x: x.sum(dim=1),
        [(3, 4)],
    ),
    "sum_keepdims": (
        lambda x: x.sum(axis=(0, 2), keepdims=True),
        lambda x: x.sum(dim=(0, 2), keepdim=True),
        [(2, 3, 4)],
    ),
    "mean_axis": (
        lambda x: x.mean(axis=0),
        lambda x: x.mean(dim=0),
        [(3, 4)],
    ),
    "mean_all": (lambda x: x.mean(), lambda x: x.mean(), [(3, 4)]),
    "max_axis": (
        lambda x: x.max(axis=-1),
        lambda x: x.amax(dim=-1),
        [(3, 4)],
    ),
    "max_keepdims": (
        lambda x: x.max(axis=0, keepdims=True),
        lambda x: x.amax(dim=0, keepdim=True),
        [(3, 4)],
    ),
    "max_all": (lambda x: x.max(), lambda x: x.amax(), [(3, 4)]),
    "reshape": (
        lambda x: x.reshape(4, 3) * np.arange(12.0).reshape(4, 3),
        lambda x: (
            x.reshape(4, 3) * torch.arange(12.0, dtype=torch.float64).reshape(4, 3)
        ),
        [(3, 4)],
    ),
    "transpose": (
        lambda x: x.transpose(2, 0, 1).reshape(-1) * np.arange(24.0),
        lambda x: (
            x.permute(2, 0, 1).reshape(-1) * torch.arange(24.0, dtype=torch.float64)
        ),
        [(2, 3, 4)],
    ),
    "T": (lambda x, y: x.T @ y, lambda x, y: x.T @ y, [(3, 4), (3, 2)]),
    "index_basic": (lambda x: x[1:, ::-1], lambda x: x[1:].flip(1), [(3, 4)]),
    "index_integer": (
        lambda x: x[np.array([0, 2, 2, 1])],
        lambda x: x[torch.tensor([0, 2, 2, 1])],
        [(3, 4)],
    ),
    "index_pairs": (
        lambda x: x[np.arange(3), np.array([1, 1, 3])],
        lambda x: x[torch.arange(3), torch.tensor([1, 1, 3])],
        [(3, 4)],
    ),
    "exp": (lambda x: x.exp(), lambda x: x.exp(), [(3, 4)]),
    "log": (lambda x: (x * x + 0.5).log(), lambda x: (x * x + 0.5).log(), [(3, 4)]),
    "tanh": (lambda x: x.tanh(), lambda x: x.tanh(), [(3, 4)]),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: x.sigmoid(), [(3, 4)]),
    "relu": (lambda x: x.relu(), lambda x: x.relu(), [(3, 4)]),
    "gelu": (lambda x: gelu(x), lambda x: F.gelu(x), [(3, 4)]),
    "gelu_tanh": (
        lambda x: x.gelu("tanh"),
        lambda x: F.gelu(x, approximate="tanh"),
        [(3, 4)],
    ),
    "softmax": (
        lambda x: softmax(x, axis=0),
        lambda x: x.softmax(dim=0),
        [(3, 4)],
    ),
    "log_softmax": (
        lambda x: log_softmax(x),
        lambda x: x.log_softmax(dim=-1),
        [(3, 4)],
    ),
    "cross_entropy_indices": (
        lambda x: cross_entropy(x, np.array([0, 3, 3])),
        lambda x: F.cross_entropy(x, torch.tensor([0, 3, 3])),
        [(3, 4)],
    ),
    "cross_entropy_probabilities": (
        lambda x: cross_entropy(x, np.full((3, 4), 0.25), reduction="sum"),
        lambda x: F.cross_entropy(
            x, torch.full((3, 4), 0.25, dtype=torch.float64), reduction="sum"
        ),
        [(3, 4)],
    ),
}


def _leaves(shapes, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for shape in shapes]


def _gradients_both_ways(ours, theirs, arrays, seed):
    """Backpropagate a random weighting of the output in both libraries."""
    x_ours = [Tensor(a, requires_grad=True) for a in arrays]
    x_torch = [torch.tensor(a, requires_grad=True) for a in arrays]
    out_ours = ours(*x_ours)
    out_torch = theirs(*x_torch)
    np.testing.assert_allclose(out_ours.data, out_torch.detach().numpy(), rtol=RTOL)

    weights = np.random.default_rng(seed + 1).normal(size=out_ours.shape)
    out_ours.backward(weights)
    out_torch.backward(torch.from_numpy(weights))
    return [x.grad for x in x_ours], [x.grad.numpy() for x in x_torch]


@pytest.mark.parametrize("name", OPS)
def test_op_gradient_matches_torch(name):
    ours, theirs, shapes = OPS[name]
    arrays = _leaves(shapes, seed=len(name))
    grads, expected = _gradients_both_ways(ours, theirs, arrays, seed=len(name))
    for g, e, a in zip(grads, expected, arrays, strict=True):
        assert g.shape == a.shape
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", OPS)
def test_op_passes_gradcheck(name):
    ours, _, shapes = OPS[name]
    assert gradcheck(ours, _leaves(shapes, seed=3), atol=1e-7, rtol=1e-6)


# Random expression graphs: unary and binary steps on tensors of shape
# (3, 4) or shapes that broadcast to it. Each entry maps (ours, torch).
UNARY_STEPS = [
    (lambda x: x.tanh(), lambda x: x.tanh()),
    (lambda x: x.sigmoid(), lambda x: x.sigmoid()),
    (lambda x: x.relu(), lambda x: x.relu()),
    (lambda x: gelu(x), lambda x: F.gelu(x)),
    (lambda x: x.tanh().exp(), lambda x: x.tanh().exp()),
    (lambda x: (x * x + 0.5).log(), lambda x: (x * x + 0.5).log()),
    (lambda x: (x * x + 1.0) ** 0.5, lambda x: (x * x + 1.0) ** 0.5),
    (lambda x: x.sum(axis=0, keepdims=True), lambda x: x.sum(0, keepdim=True)),
    (lambda x: x.mean(axis=-1, keepdims=True), lambda x: x.mean(-1, keepdim=True)),
    (lambda x: x.max(axis=0, keepdims=True), lambda x: x.amax(0, keepdim=True)),
    (lambda x: 0.5 * x - 1.0, lambda x: 0.5 * x - 1.0),
]
FULL_STEPS = [  # need an operand of shape (3, 4)
    (lambda x: softmax(x), lambda x: x.softmax(-1)),
    (lambda x: log_softmax(x, axis=0), lambda x: x.log_softmax(0)),
    (
        lambda x: x.reshape(2, 6).T.reshape(3, 4),
        lambda x: x.reshape(2, 6).T.reshape(3, 4),
    ),
    (
        lambda x: x[:, np.array([3, 0, 0, 2])],
        lambda x: x[:, torch.tensor([3, 0, 0, 2])],
    ),
    (lambda x: x[::-1], lambda x: x.flip(0)),
]
BINARY_STEPS = [
    (lambda x, y: x + y, lambda x, y: x + y),
    (lambda x, y: x - y, lambda x, y: x - y),
    (lambda x, y: x * y, lambda x, y: x * y),
    (lambda x, y: x / (y * y + 1.0), lambda x, y: x / (y * y + 1.0)),
]
LEAF_SHAPES = [(3, 4), (4,), (1, 4), (3, 1), (3, 4)]


def _random_graph(seed, n_steps=25):
    """Return a function of the leaves that builds the same graph in either library."""
    rng = np.random.default_rng(seed)
    plan = []
    for step in range(n_steps):
        n_nodes = len(LEAF_SHAPES) + step
        kind = rng.choice(["unary", "full", "binary", "matmul"], p=[0.4, 0.2, 0.3, 0.1])
        operands = [int(i) for i in rng.integers(0, n_nodes, size=2)]
        choice = int(rng.integers(0, 100))
        plan.append((kind, operands, choice))

    def build(leaves, library):
        nodes = list(leaves)
        zeros = np.zeros((3, 4))
        weight = np.eye(4) * 0.5 + 0.1
        if library == 1:
            zeros, weight = torch.from_numpy(zeros), torch.from_numpy(weight)
        for kind, (i, j), choice in plan:
            x, y = nodes[i], nodes[j]
            if kind == "unary":
                node = UNARY_STEPS[choice % len(UNARY_STEPS)][library](x)
            elif kind == "full":
                node = FULL_STEPS[choice % len(FULL_STEPS)][library](x + zeros)
            elif kind == "binary":
                node = BINARY_STEPS[choice % len(BINARY_STEPS)][library](x, y)
            else:
                node = (x + zeros) @ weight
            nodes.append(node)
        # Every node feeds the loss, so every leaf that a node used gets a gradient.
        total = nodes[-1].sum()
        for node in nodes[len(leaves) : -1]:
            total = total + (node * node).mean()
        target = np.array([0, 1, 3])
        logits = nodes[-1] + zeros
        if library == 0:
            return total + cross_entropy(logits, target)
        return total + F.cross_entropy(logits, torch.from_numpy(target))

    return build


@pytest.mark.parametrize("seed", range(20))
def test_random_graph_gradients_match_torch(seed):
    build = _random_graph(seed)
    arrays = _leaves(LEAF_SHAPES, seed)
    leaves = [Tensor(a, requires_grad=True) for a in arrays]
    leaves_torch = [torch.tensor(a, requires_grad=True) for a in arrays]

    loss = build(leaves, 0)
    loss_torch = build(leaves_torch, 1)
    loss.backward()
    loss_torch.backward()

    np.testing.assert_allclose(loss.item(), loss_torch.item(), rtol=RTOL)
    for ours, theirs in zip(leaves, leaves_torch, strict=True):
        expected = np.zeros(ours.shape) if theirs.grad is None else theirs.grad.numpy()
        got = np.zeros(ours.shape) if ours.grad is None else ours.grad
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_long_chain_backpropagates_without_recursion():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y + x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [10_001.0, 10_001.0])


def test_topological_order_puts_parents_first():
    x = Tensor(np.ones(2), requires_grad=True)
    a = x.tanh()
    b = a * x
    c = (a + b).sum()
    order = topological_order(c)
    position = {id(node): i for i, node in enumerate(order)}
    assert len(order) == 5
    for node in order:
        for parent in node._parents:
            assert position[id(parent)] < position[id(node)]


def test_backward_twice_accumulates_in_leaves():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    loss.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])


def test_constants_keep_no_graph():
    x = Tensor(np.ones(3))
    y = (x * 2.0).exp()
    assert not y.requires_grad
    assert y._parents == ()


def test_numpy_array_on_left_gives_tensor():
    x = Tensor(np.ones(3), requires_grad=True)
    y = np.arange(3.0) * x + np.ones(3)
    assert isinstance(y, Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 2.0])


def test_float32_stays_float32():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = (x * 2.0 + 1.0).tanh().sum()
    y.backward()
    assert y.dtype == np.float32
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "data must contain real numbers, got NoneType of dtype object"),
        ("1.5", "data must contain real numbers, got str of dtype <U3"),
        (
            np.array([1 + 2j]),
            "data must contain real numbers, got ndarray of dtype complex128",
        ),
        ({"a": 1.0}, "data must contain real numbers, got dict of dtype object"),
    ],
)
def test_tensor_rejects_non_real_data(data, message):
    with pytest.raises(TypeError, match=message):
        Tensor(data)


def test_tensor_rejects_torch_tensor_that_requires_grad():
    data = torch.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match=r"pass data\.detach\(\)"):
        Tensor(data)
    np.testing.assert_array_equal(Tensor(data.detach()).data, np.ones(2))


def test_grad_returns_gradient_function():
    df = grad(lambda x, y: (x * y).sum() + (x**3).sum(), argnums=(0, 1))
    x, y = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    gx, gy = df(x, y)
    np.testing.assert_array_equal(gx, y + 3 * x**2)
    np.testing.assert_array_equal(gy, x)


def test_grad_of_constant_function_is_zero():
    gradient = grad(lambda x, y: (y * y).sum(), argnums=0)
    np.testing.assert_array_equal(gradient(np.ones(3), np.ones(2)), np.zeros(3))


@pytest.mark.parametrize(
    ("f", "argnums", "error", "message"),
    [
        (lambda x: 3.0, 0, TypeError, "f must return a Tensor, got float"),
        (
            lambda x: x * 2,
            0,
            ValueError,
            r"f must return a one-element tensor, got shape \(2,\)",
        ),
        (
            lambda x: (x * x).sum(),
            3,
            ValueError,
            "argnums must lie in \\[-1, 1\\) for 1 argument, got 3",
        ),
    ],
)
def test_grad_rejects_invalid_use(f, argnums, error, message):
    with pytest.raises(error, match=message):
        grad(f, argnums=argnums)(np.ones(2))


def test_gradcheck_rejects_array_result():
    with pytest.raises(TypeError, match="f must return a Tensor, got ndarray"):
        gradcheck(lambda x: x.data * 2, [np.ones(2)])


def test_gradcheck_detects_wrong_backward():
    def wrong_square(x):
        return Tensor.from_op(x.data**2, (x,), lambda g: (g * x.data,), "square")

    with pytest.raises(GradcheckError, match="from backward but"):
        gradcheck(wrong_square, [np.array([1.0, 2.0])])
    assert not gradcheck(wrong_square, [np.array([1.0])], raise_exception=False)


def test_backward_needs_gradient_for_non_scalar():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match=r"gradient must be given .* shape \(3,\)"):
        (x * 2.0).backward()


def test_backward_rejects_gradient_of_wrong_shape():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match=r"shape of the tensor, \(3,\), got \(2,\)"):
        (x * 2.0).backward(np.ones(2))


def test_backward_needs_requires_grad():
    with pytest.raises(ValueError, match="requires_grad=False"):
        Tensor(np.ones(1)).backward()


def test_log_rejects_non_positive_input():
    with pytest.raises(ValueError, match="x must be positive for log, got minimum"):
        Tensor(np.array([1.0, 0.0, -2.0])).log()


def test_pow_rejects_tensor_exponent():
    with pytest.raises(TypeError, match="exponent must be a Python number"):
        Tensor(np.ones(2)) ** Tensor(np.ones(2))


def test_cross_entropy_rejects_class_out_of_range():
    logits = Tensor(np.zeros((2, 3)))
    with pytest.raises(
        ValueError, match=r"must lie in \[0, 3\), got values from 0 to 3"
    ):
        cross_entropy(logits, np.array([0, 3]))


def test_cross_entropy_rejects_target_shape():
    logits = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"must have shape \(2,\), got \(3,\)"):
        cross_entropy(logits, np.array([0, 1, 2]))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_gradient_for_unnormalized_targets(reduction):
    # Rows of d that do not sum to one: dE/dz = (sum_k d_k) p - d, not p - d.
    rng = np.random.default_rng(0)
    z, d = rng.normal(size=(4, 3)), rng.uniform(0.0, 1.0, size=(4, 3))
    logits = Tensor(z, requires_grad=True)
    cross_entropy(logits, d, reduction=reduction).backward()
    reference = torch.tensor(z, requires_grad=True)
    F.cross_entropy(reference, torch.from_numpy(d), reduction=reduction).backward()
    np.testing.assert_allclose(
        logits.grad, reference.grad.numpy(), rtol=RTOL, atol=ATOL
    )


@pytest.mark.parametrize(
    ("logits", "target", "message"),
    [
        (
            np.zeros((0, 3)),
            np.zeros(0, dtype=int),
            r"logits must not be empty, got "
            r"shape \(0, 3\)",
        ),
        (
            np.zeros((2, 3)),
            np.full((2, 3), np.nan),
            r"target probabilities must lie "
            r"in \[0, 1\], got nan",
        ),
        (
            np.zeros((2, 3)),
            np.full((2, 3), -0.5),
            r"target probabilities must lie "
            r"in \[0, 1\], got -0.5",
        ),
        (
            np.zeros((2, 3)),
            np.array([0.0, 1.0]),
            r"target of shape \(2,\) must "
            r"contain integer class indices, got dtype float64",
        ),
    ],
)
def test_cross_entropy_rejects_invalid_input(logits, target, message):
    with pytest.raises(ValueError, match=message):
        cross_entropy(Tensor(logits), target)


def autograd_mlp_logits(params, x):
    """Forward pass of a ReLU MLP written with autograd tensors."""
    h = Tensor(x)
    for weight, bias in params[:-1]:
        h = (h @ weight.T + bias).relu()
    weight, bias = params[-1]
    return h @ weight.T + bias


def test_autograd_mlp_solves_spirals():
    data = two_spirals(seed=0)
    rng = np.random.default_rng(0)
    sizes = (2, 32, 32, 2)
    params = [
        (
            Tensor(rng.normal(0, np.sqrt(2 / n_in), (n_out, n_in)), requires_grad=True),
            Tensor(np.zeros(n_out), requires_grad=True),
        )
        for n_in, n_out in itertools.pairwise(sizes)
    ]
    leaves = [p for pair in params for p in pair]
    velocities = [np.zeros_like(p.data) for p in leaves]
    eta, momentum, batch_size = 0.05, 0.9, 32

    for _ in range(30):
        order = rng.permutation(len(data.X_train))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            loss = cross_entropy(
                autograd_mlp_logits(params, data.X_train[rows]), data.D_train[rows]
            )
            for p in leaves:
                p.grad = None
            loss.backward()
            for p, velocity in zip(leaves, velocities, strict=True):
                velocity *= momentum
                velocity -= eta * p.grad
                p.data += velocity

    predicted = autograd_mlp_logits(params, data.X_test).data.argmax(axis=1)
    assert np.mean(predicted == data.D_test) >= 0.97
