"""Tests of foundations.mlp against torch autograd and central differences."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from foundations.activations import gelu_derivative
from foundations.mlp import MLP, Dense, block_backward, block_forward
from foundations.mlp.costs import PAIRS
from foundations.mlp.init import glorot_range

GRADIENT_RTOL = 1e-7  # relative error, in norm, of each gradient array

# Each activation in torch's own terms, with the course's slope a = 1.5
# for the sigmoids: 1 / (1 + exp(-a v)) and tanh(a v / 2).
SLOPE = 1.5
TORCH_ACTIVATIONS = {
    "sigmoid": lambda v: torch.sigmoid(SLOPE * v),
    "tanh_sigmoid": lambda v: torch.tanh(SLOPE * v / 2),
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"),
    "identity": lambda v: v,
}
HIDDEN_WIDTHS = (5, 4, 6, 3)
N_INPUTS, N_OUTPUTS, N_PATTERNS = 3, 3, 7


def torch_cost(params, X, D, activation, output, loss):
    """E_av written directly in torch, independent of foundations."""
    y = X
    for weight, bias in params[:-1]:
        y = TORCH_ACTIVATIONS[activation](y @ weight.T + bias)
    weight, bias = params[-1]
    v = y @ weight.T + bias
    n = X.shape[0]
    if loss == "binary_cross_entropy":
        return F.binary_cross_entropy_with_logits(v, D, reduction="sum") / n
    if loss == "cross_entropy":
        return F.cross_entropy(v, D, reduction="sum") / n
    y = {"identity": v, "sigmoid": torch.sigmoid(v), "softmax": v.softmax(-1)}[output]
    return 0.5 * ((D - y) ** 2).sum() / n


def targets(output, loss, rng):
    if output == "softmax":
        return np.eye(N_OUTPUTS)[rng.integers(0, N_OUTPUTS, size=N_PATTERNS)]
    if output == "sigmoid":
        return rng.uniform(0.0, 1.0, size=(N_PATTERNS, N_OUTPUTS))
    return rng.normal(size=(N_PATTERNS, N_OUTPUTS))


def relative_error(got, expected):
    return float(np.linalg.norm(got - expected) / np.linalg.norm(expected))


CASES = list(itertools.product(TORCH_ACTIVATIONS, PAIRS, range(1, 5)))


def case_id(case):
    activation, (output, loss), depth = case
    return f"{activation}-{output}-{loss}-{depth}"


def make_case(activation, output, loss, depth):
    rng = np.random.default_rng(depth + 10 * len(activation) + len(loss))
    sizes = (N_INPUTS, *HIDDEN_WIDTHS[:depth], N_OUTPUTS)
    net = MLP(sizes, activation, output, loss, a=SLOPE, seed=int(rng.integers(100)))
    # Nonzero biases: with zero biases a pattern that no ReLU of a layer lets
    # through gives v = 0 in the next layer, a kink, where central
    # differences average the two one-sided derivatives.
    for layer in net.layers:
        layer.bias = rng.normal(scale=0.5, size=layer.bias.shape)
    X = rng.normal(size=(N_PATTERNS, N_INPUTS))
    return net, X, targets(output, loss, rng)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradients_match_torch_autograd(case):
    activation, (output, loss), depth = case
    net, X, D = make_case(activation, output, loss, depth)
    params = [
        (torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True))
        for w, b in net.parameters
    ]
    cost = torch_cost(
        params, torch.tensor(X), torch.tensor(D), activation, output, loss
    )
    cost.backward()

    assert net.loss(X, D) == pytest.approx(cost.item(), rel=1e-12)
    for (grad_w, grad_b), (w, b) in zip(net.gradients(X, D), params, strict=True):
        assert relative_error(grad_w, w.grad.numpy()) <= GRADIENT_RTOL
        assert relative_error(grad_b, b.grad.numpy()) <= GRADIENT_RTOL


def central_difference(cost, array, i, h=1e-3):
    """Fourth-order central difference of cost() in array[i].

    Its truncation error is O(h^4) and its rounding error about 1e-16 / h,
    both far below 1e-7 relative at h = 1e-3. The two-point formula needs h
    near 1e-6 and then loses digits on small gradients.
    """
    original = array[i]
    values = {}
    for step in (-2, -1, 1, 2):
        array[i] = original + step * h
        values[step] = cost()
    array[i] = original
    return (8 * (values[1] - values[-1]) - (values[2] - values[-2])) / (12 * h)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradients_match_central_differences(case):
    activation, (output, loss), depth = case
    net, X, D = make_case(activation, output, loss, depth)
    grads = net.gradients(X, D)
    for layer, (grad_w, grad_b) in zip(net.layers, grads, strict=True):
        for array, analytical in ((layer.weight, grad_w), (layer.bias, grad_b)):
            numerical = np.empty_like(array)
            for i in np.ndindex(array.shape):
                numerical[i] = central_difference(lambda: net.loss(X, D), array, i)
            assert relative_error(analytical, numerical) <= GRADIENT_RTOL


BLOCK_ACTIVATIONS = ["sigmoid", "tanh_sigmoid", "relu", "gelu", "gelu_tanh", "identity"]


def block_arrays(seed=0, n_in=4, n_hidden=6, n_out=3):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(2, 5, n_in)),  # (batch, time, n_in)
        rng.normal(size=(n_hidden, n_in)),
        rng.normal(size=n_hidden),
        rng.normal(size=(n_out, n_hidden)),
        rng.normal(size=n_out),
        rng.normal(size=(2, 5, n_out)),  # dE/dy
    )


@pytest.mark.parametrize("activation", BLOCK_ACTIVATIONS)
@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_block_backward_matches_torch_autograd(activation, library):
    x, w1, b1, w2, b2, grad_y = block_arrays()
    leaves = [torch.tensor(a, requires_grad=True) for a in (x, w1, b1, w2, b2)]
    phi = TORCH_ACTIVATIONS[activation]
    expected_y = F.linear(phi(F.linear(leaves[0], leaves[1], leaves[2])), *leaves[3:])
    expected_y.backward(torch.tensor(grad_y))

    if library == "torch":
        x, w1, b1, w2, b2, grad_y = map(torch.tensor, (x, w1, b1, w2, b2, grad_y))
    a = SLOPE
    y, cache = block_forward(x, w1, b1, w2, b2, activation, a)
    grads = block_backward(grad_y, cache, w1, w2, activation, a)

    np.testing.assert_allclose(np.asarray(y), expected_y.detach().numpy(), rtol=1e-12)
    for got, leaf in zip(grads, leaves, strict=True):
        np.testing.assert_allclose(np.asarray(got), leaf.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_fused_gelu_matches_gelu_derivative(approximate):
    """The torch path uses aten.gelu_backward, NumPy uses gelu_derivative."""
    activation = "gelu" if approximate == "none" else "gelu_tanh"
    arrays = block_arrays(seed=1)
    x, w1, b1, w2, b2, grad_y = arrays
    _, cache = block_forward(x, w1, b1, w2, b2, activation)
    numpy_grads = block_backward(grad_y, cache, w1, w2, activation)

    tensors = list(map(torch.tensor, arrays))
    _, torch_cache = block_forward(*tensors[:5], activation)
    torch_grads = block_backward(
        tensors[5], torch_cache, tensors[1], tensors[3], activation
    )

    # The hidden local gradient written out: dE/dh * phi'(v) from NumPy.
    grad_h = (grad_y.reshape(-1, 3) @ w2).reshape(cache.v.shape)
    delta1 = grad_h * gelu_derivative(cache.v, approximate)
    expected_w1 = delta1.reshape(-1, 6).T @ x.reshape(-1, 4)
    np.testing.assert_allclose(numpy_grads.weight1, expected_w1, rtol=1e-12)
    for got, expected in zip(torch_grads, numpy_grads, strict=True):
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


BLOCK_SHAPE_ERRORS = [
    (
        0,
        (2, 5, 3),
        r"x must have 4 entries on its last axis to match weight1 "
        r"of shape \(6, 4\), got shape \(2, 5, 3\)",
    ),
    (2, (5,), r"bias1 must have shape \(6,\), got \(5,\)"),
    (
        3,
        (3, 5),
        r"weight2 must have 6 columns to match weight1 of shape "
        r"\(6, 4\), got shape \(3, 5\)",
    ),
    (4, (4,), r"bias2 must have shape \(3,\), got \(4,\)"),
]


@pytest.mark.parametrize(("position", "shape", "message"), BLOCK_SHAPE_ERRORS)
@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_block_forward_rejects_shape_mismatch(position, shape, message, library):
    arrays = list(block_arrays()[:5])
    arrays[position] = np.ones(shape)
    if library == "torch":
        arrays = [torch.from_numpy(a) for a in arrays]
    with pytest.raises(ValueError, match=message):
        block_forward(*arrays)


def test_block_backward_skips_unneeded_gradients():
    x, w1, b1, w2, b2, grad_y = block_arrays()
    _, cache = block_forward(x, w1, b1, w2, b2, "relu")
    grads = block_backward(
        grad_y, cache, w1, w2, "relu", need_input_grad=False, need_bias_grads=False
    )
    assert grads.x is None
    assert grads.bias1 is None
    assert grads.bias2 is None
    assert grads.weight1.shape == w1.shape


# --- Initialisation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("activation", "a", "slope_at_zero"),
    [
        ("sigmoid", 1.0, 0.25),
        ("sigmoid", 2.0, 0.5),
        ("tanh_sigmoid", 2.0, 1.0),
        ("tanh_sigmoid", 1.0, 0.5),
        ("identity", 1.0, 1.0),
    ],
)
def test_glorot_range_divides_by_slope_at_zero(activation, a, slope_at_zero):
    n_in, n_out = 300, 200
    layer = Dense(n_in, n_out, activation, a, seed=0)
    r = math.sqrt(6 / (n_in + n_out)) / slope_at_zero
    assert glorot_range(n_in, n_out, activation, a) == pytest.approx(r)
    assert np.abs(layer.weight).max() <= r
    # Uniform on [-r, r] has variance r^2 / 3, estimated to about 0.6 % here.
    assert layer.weight.var() == pytest.approx(r**2 / 3, rel=0.03)
    assert np.all(layer.bias == 0)


@pytest.mark.parametrize("activation", ["relu", "gelu", "gelu_tanh"])
def test_he_initialisation_for_rectifiers(activation):
    layer = Dense(400, 300, activation, seed=0)
    assert layer.weight.std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert abs(layer.weight.mean()) < 0.01
    assert np.abs(layer.weight).max() > 3 * math.sqrt(2 / 400)  # unbounded: normal


def test_same_seed_gives_same_weights():
    first = MLP((2, 8, 3), seed=5)
    second = MLP((2, 8, 3), seed=np.random.default_rng(5))
    for (w1, b1), (w2, b2) in zip(first.parameters, second.parameters, strict=True):
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(b1, b2)
    assert not np.array_equal(
        first.parameters[0][0], MLP((2, 8, 3), seed=6).parameters[0][0]
    )


def test_torch_generator_seeds_torch_weights():
    from_int = MLP((2, 8, 3), seed=5, backend="torch", dtype=torch.float64)
    from_generator = MLP(
        (2, 8, 3), seed=torch.Generator().manual_seed(5), dtype=torch.float64
    )
    for (w1, _), (w2, _) in zip(
        from_int.parameters, from_generator.parameters, strict=True
    ):
        assert isinstance(w1, torch.Tensor)
        assert w1.dtype == torch.float64
        torch.testing.assert_close(w1, w2, rtol=0, atol=0)


# --- Training ---------------------------------------------------------------


def reference_training(net, X, D, epochs, batch_size, eta, momentum):
    """Plain gradient descent with momentum on torch autograd gradients."""
    params = [(torch.tensor(w), torch.tensor(b)) for w, b in net.parameters]
    changes = [(torch.zeros_like(w), torch.zeros_like(b)) for w, b in params]
    X, D = torch.tensor(X), torch.tensor(D)
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            leaves = [(w.requires_grad_(), b.requires_grad_()) for w, b in params]
            rows = slice(start, start + batch_size)
            cost = torch_cost(
                leaves, X[rows], D[rows], net.activation, net.output, net.loss_name
            )
            cost.backward()
            with torch.no_grad():
                changes = [
                    (momentum * dw - eta * w.grad, momentum * db - eta * b.grad)
                    for (dw, db), (w, b) in zip(changes, leaves, strict=True)
                ]
                params = [
                    ((w + dw).detach(), (b + db).detach())
                    for (w, b), (dw, db) in zip(leaves, changes, strict=True)
                ]
    return params


@pytest.mark.parametrize("batch_size", [None, 1, 3])
def test_fit_follows_delta_rule_with_momentum(batch_size):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 3))
    D = rng.normal(size=(8, 2))
    net = MLP((3, 4, 2), "tanh_sigmoid", a=SLOPE, seed=1)
    expected = reference_training(net, X, D, 3, batch_size or 8, eta=0.1, momentum=0.5)
    net.fit(
        X,
        D,
        epochs=3,
        batch_size=batch_size,
        eta=0.1,
        momentum=0.5,
        shuffle=False,
        progress=False,
    )
    for (w, b), (w_ref, b_ref) in zip(net.parameters, expected, strict=True):
        np.testing.assert_allclose(w, w_ref.numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(b, b_ref.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("batch_size", [None, 1, 4])
def test_fit_lowers_training_cost(batch_size):
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(40, 2))
    D = np.sin(3 * X[:, :1]) * X[:, 1:]
    net = MLP((2, 8, 1), "tanh_sigmoid", a=2.0, seed=0)
    initial = net.loss(X, D)
    history = net.fit(
        X, D, epochs=30, batch_size=batch_size, eta=0.1, momentum=0.5, progress=False
    )
    assert len(history) == 30
    assert history[-1] == pytest.approx(net.loss(X, D), rel=1e-12)
    assert history[-1] < 0.5 * initial


def test_fit_bar_stays_off_without_terminal(capsys):
    net = MLP((2, 3, 1), seed=0)
    net.fit(np.ones((4, 2)), np.zeros(4), epochs=2, progress=True)
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_torch_backend_trains_like_numpy():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(16, 2))
    labels = rng.integers(0, 3, size=16)
    numpy_net = MLP((2, 5, 3), "gelu", "softmax", seed=0)
    torch_net = MLP((2, 5, 3), "gelu", "softmax", seed=0)
    for source, layer in zip(numpy_net.layers, torch_net.layers, strict=True):
        layer.weight, layer.bias = (
            torch.tensor(source.weight),
            torch.tensor(source.bias),
        )
    kwargs = dict(
        epochs=5, batch_size=4, eta=0.2, momentum=0.9, shuffle=False, progress=False
    )
    numpy_history = numpy_net.fit(X, labels, **kwargs)
    torch_history = torch_net.fit(torch.tensor(X), torch.tensor(labels), **kwargs)
    np.testing.assert_allclose(torch_history, numpy_history, rtol=1e-10)
    predicted = torch_net.predict(torch.tensor(X))
    assert isinstance(predicted, torch.Tensor)
    np.testing.assert_array_equal(predicted.numpy(), numpy_net.predict(X))


# --- Prediction ---------------------------------------------------------------


def test_predict_shapes_by_output():
    X = np.random.default_rng(0).normal(size=(6, 2))
    softmax_net = MLP((2, 4, 3), output="softmax", seed=0)
    sigmoid_net = MLP((2, 4, 1), output="sigmoid", seed=0)
    multi_label_net = MLP((2, 4, 2), output="sigmoid", seed=0)
    regression_net = MLP((2, 4, 2), seed=0)
    assert softmax_net.predict(X).shape == (6,)
    assert set(softmax_net.predict(X).tolist()) <= {0, 1, 2}
    np.testing.assert_allclose(softmax_net.predict_proba(X).sum(axis=1), 1.0)
    assert sigmoid_net.predict(X).shape == (6,)
    assert multi_label_net.predict(X).shape == (6, 2)
    assert regression_net.predict(X).shape == (6, 2)


def test_predict_proba_rejects_identity_output():
    with pytest.raises(ValueError, match="predict_proba needs a sigmoid or softmax"):
        MLP((2, 3, 1), seed=0).predict_proba(np.ones((1, 2)))


# --- Invalid input --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layer_sizes": (3,)}, "layer_sizes must list at least two positive"),
        ({"layer_sizes": (3, 0, 1)}, "layer_sizes must list at least two positive"),
        ({"output": "tanh"}, "output must be one of"),
        ({"loss": "hinge"}, "loss must be one of"),
        (
            {"output": "identity", "loss": "cross_entropy"},
            "use it with softmax, got output 'identity'",
        ),
        ({"activation": "swish"}, "activation must be one of"),
        ({"backend": "jax"}, "backend must be one of"),
    ],
)
def test_constructor_rejects_invalid_arguments(kwargs, message):
    arguments = {"layer_sizes": (3, 2, 1), **kwargs}
    with pytest.raises(ValueError, match=message):
        MLP(**arguments)


@pytest.mark.parametrize(
    ("backend", "dtype", "error", "message"),
    [
        (
            "numpy",
            np.int64,
            ValueError,
            "dtype must be a floating-point type, got int64",
        ),
        (
            "torch",
            torch.int64,
            ValueError,
            "dtype must be a floating-point type, got torch.int64",
        ),
        (
            "numpy",
            torch.float32,
            TypeError,
            "dtype must be a NumPy dtype for the numpy backend, got torch.float32",
        ),
        (
            "torch",
            np.float32,
            TypeError,
            "dtype must be a torch.dtype for the torch backend, got",
        ),
    ],
)
def test_constructor_rejects_weight_dtype(backend, dtype, error, message):
    with pytest.raises(error, match=message):
        MLP((3, 2, 1), backend=backend, dtype=dtype)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize(
    ("seed", "error", "message"),
    [
        (-1, ValueError, "seed must be non-negative, got -1"),
        (1.5, TypeError, "seed must be None, an integer or a generator, got float"),
        ("0", TypeError, "seed must be None, an integer or a generator, got str"),
    ],
)
def test_constructor_rejects_invalid_seed(backend, seed, error, message):
    with pytest.raises(error, match=message):
        MLP((3, 2, 1), seed=seed, backend=backend)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"activation": "swish"}, "activation must be one of"), ({"a": 0.0}, "a must be")],
)
def test_constructor_checks_activation_without_hidden_layers(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP((3, 1), **kwargs)


def test_constructor_rejects_generator_of_other_backend():
    with pytest.raises(ValueError, match=r"got a torch\.Generator"):
        MLP((3, 2, 1), seed=torch.Generator(), backend="numpy")


@pytest.mark.parametrize(
    ("X", "D", "kwargs", "message"),
    [
        (np.ones((4, 3)), np.ones(4), {}, r"X must have shape \(N, 2\), got \(4, 3\)"),
        (np.ones((4, 2)), np.ones((4, 2)), {}, r"D must have shape \(4, 1\)"),
        (np.full((4, 2), np.nan), np.ones(4), {}, "X must contain only finite values"),
        (
            np.ones((4, 2)),
            np.ones(4),
            {"eta": 0.0},
            "eta must be positive and finite, got 0.0",
        ),
        (
            np.ones((4, 2)),
            np.ones(4),
            {"momentum": 1.0},
            r"momentum must lie in \[0, 1\)",
        ),
        (
            np.ones((4, 2)),
            np.ones(4),
            {"batch_size": 0},
            "batch_size must be None or a positive",
        ),
        (np.ones((4, 2)), np.ones(4), {"epochs": -1}, "epochs must be a non-negative"),
    ],
)
def test_fit_rejects_invalid_input(X, D, kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP((2, 3, 1), seed=0).fit(X, D, progress=False, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eta": float("inf")}, "eta must be positive and finite, got inf"),
        ({"epochs": True}, "epochs must be a non-negative integer, got True"),
        ({"batch_size": 2.0}, "batch_size must be None or a positive integer"),
    ],
)
def test_fit_rejects_before_changing_weights(kwargs, message):
    net = MLP((2, 3, 1), seed=0)
    weight = net.layers[0].weight.copy()
    with pytest.raises(ValueError, match=message):
        net.fit(np.ones((4, 2)), np.ones(4), progress=False, **kwargs)
    np.testing.assert_array_equal(net.layers[0].weight, weight)


@pytest.mark.parametrize(("name", "value"), [("eta", "0.1"), ("momentum", None)])
def test_fit_rejects_hyperparameter_types(name, value):
    message = f"{name} must be a real number, got {type(value).__name__}"
    with pytest.raises(TypeError, match=message):
        MLP((2, 3, 1), seed=0).fit(np.ones((4, 2)), np.ones(4), **{name: value})


def test_numpy_scalar_hyperparameters_keep_float32():
    net = MLP((2, 3, 1), seed=0, dtype=np.float32)
    history = net.fit(
        np.ones((4, 2)),
        np.ones(4),
        epochs=np.int64(2),
        batch_size=np.int64(2),
        eta=np.float64(0.5),
        momentum=np.float64(0.5),
        progress=False,
    )
    assert len(history) == 2
    for weight, bias in net.parameters:
        assert weight.dtype == np.float32
        assert bias.dtype == np.float32


XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_D = np.array([0.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize(
    ("activation", "output", "n_out"),
    [
        ("tanh_sigmoid", "identity", 1),
        ("identity", "sigmoid", 1),
        ("identity", "softmax", 2),
    ],
)
def test_fit_names_the_epoch_that_diverges(backend, activation, output, n_out):
    net = MLP((2, 4, n_out), activation, output, seed=0, backend=backend)
    X, D = XOR_X, XOR_D
    if backend == "torch":
        X, D = torch.from_numpy(X).float(), torch.from_numpy(D).float()
    message = r"fit diverged in epoch \d+: the cost is not finite; use a smaller eta"
    with pytest.raises(ValueError, match=message):
        net.fit(X, D, epochs=100, eta=1e12, momentum=0.9, progress=False)


INVALID_TARGETS = [
    (
        "sigmoid",
        1,
        np.array([2.0, 1.0, 1.0, 0.0]),
        r"D must contain values in \[0, 1\] for the binary_cross_entropy loss, "
        "got 2.0",
    ),
    (
        "softmax",
        3,
        np.full((4, 3), 0.9),
        "D must contain rows that sum to one for the cross_entropy loss, got a row "
        "that sums to 2.7",
    ),
    ("softmax", 3, np.array([0.0, np.nan, 2.0, 0.0]), "D must contain only finite"),
    ("softmax", 3, np.array([0.0, np.inf, 2.0, 0.0]), "D must contain only finite"),
]


@pytest.mark.parametrize(("output", "n_out", "D", "message"), INVALID_TARGETS)
def test_fit_rejects_targets_the_cost_cannot_take(output, n_out, D, message):
    # The local gradient e = d - y of a matched pair is the cost's gradient
    # only for such targets, so training on others would not descend.
    net = MLP((2, 3, n_out), output=output, seed=0)
    weight = net.layers[0].weight.copy()
    with pytest.raises(ValueError, match=message):
        net.fit(XOR_X, D, progress=False)
    np.testing.assert_array_equal(net.layers[0].weight, weight)


def test_dense_rejects_input_width():
    message = r"x must have 3 entries .* got shape \(2, 4\)"
    with pytest.raises(ValueError, match=message):
        Dense(3, 2, seed=0).forward(np.ones((2, 4)))


@pytest.mark.parametrize(
    ("backend", "x", "type_name"),
    [
        ("numpy", [[1.0, 2.0, 3.0]], "list"),
        ("numpy", torch.ones(1, 3, dtype=torch.float64), "Tensor"),
        ("torch", np.ones((1, 3), dtype=np.float32), "ndarray"),
    ],
)
def test_forward_rejects_other_array_kind(backend, x, type_name):
    weight_type = "Tensor" if backend == "torch" else "ndarray"
    message = f"x must be a {weight_type} like the weights, got {type_name}"
    with pytest.raises(TypeError, match=message):
        Dense(3, 2, seed=0, backend=backend).forward(x)
    with pytest.raises(TypeError, match=message):
        MLP((3, 2), seed=0, backend=backend).forward(x)


def test_predict_rejects_other_array_kind():
    message = "X must be a ndarray like the weights, got Tensor"
    with pytest.raises(TypeError, match=message):
        MLP((3, 2), seed=0).predict(torch.ones(1, 3, dtype=torch.float64))


def test_dense_update_needs_backward():
    with pytest.raises(RuntimeError, match="update needs the delta of a backward"):
        Dense(3, 2, seed=0).update(eta=0.1)


def test_fit_rejects_class_index_out_of_range():
    net = MLP((2, 3, 3), output="softmax", seed=0)
    with pytest.raises(
        ValueError, match=r"must lie in \[0, 3\), got values from 0 to 3"
    ):
        net.fit(np.ones((2, 2)), np.array([0, 3]), progress=False)
