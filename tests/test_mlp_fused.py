"""The fused torch kernels of a layer against the formulas of foundations."""

import numpy as np
import pytest
import torch

from foundations.activations import get_activation
from foundations.mlp.layer import activate, local_gradient

# (name, slope a): slopes other than 1 exercise the rescaled fused paths.
CASES = [
    ("gelu", 1.0),
    ("gelu_tanh", 1.0),
    ("relu", 1.0),
    ("sigmoid", 1.0),
    ("sigmoid", 2.5),
    ("tanh_sigmoid", 1.0),
    ("tanh_sigmoid", 0.7),
    ("identity", 1.0),
]


@pytest.mark.parametrize(("name", "slope"), CASES)
def test_fused_forward_matches_formula(name, slope):
    phi = get_activation(name, slope)
    v = np.random.default_rng(0).normal(scale=4.0, size=(64, 33))
    fused = activate(torch.from_numpy(v), phi)
    np.testing.assert_allclose(fused.numpy(), phi.function(v), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("name", "slope"), CASES)
def test_fused_local_gradient_matches_formula(name, slope):
    phi = get_activation(name, slope)
    rng = np.random.default_rng(1)
    v = rng.normal(scale=4.0, size=(64, 33))
    signal = rng.normal(size=v.shape)
    y = phi.function(v)
    fused = local_gradient(
        torch.from_numpy(signal), torch.from_numpy(v), torch.from_numpy(y), phi
    )
    expected = signal * phi.derivative(v)
    np.testing.assert_allclose(fused.numpy(), expected, rtol=1e-12, atol=1e-13)
