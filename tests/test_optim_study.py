"""Tests of the optimizer study in foundations.optim.study."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import math

import numpy as np
import pytest

from foundations.mlp import MLP
from foundations.optim import sgd, study
from foundations.optim._study_problems import FlatMLP, quadratic_hessian
from foundations.problems import RECIPES, evaluate

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NUMERIC_COLUMNS = (
    "tolerance",
    "steps_to_tolerance",
    "final_loss",
    "final_gap",
    "test_accuracy",
    "wall_time_s",
)


@pytest.fixture(scope="module")
def quick_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("optim-study")
    assert study.main(["--quick", "--out", str(out)]) == 0
    return out


def read_rows(path):
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def test_quick_study_writes_tables_and_figures(quick_study):
    for name in ("results.csv", "sweep.csv", "results.md"):
        assert (quick_study / name).stat().st_size > 0, name
    for name in (
        "quadratic.png",
        "rosenbrock.png",
        "loss-curves.png",
        "two-spirals.png",
    ):
        assert (quick_study / name).read_bytes()[:8] == PNG_SIGNATURE, name


@pytest.mark.parametrize("table", ["results.csv", "sweep.csv"])
def test_quick_study_numbers_are_finite(quick_study, table):
    rows = read_rows(quick_study / table)
    assert rows
    for row in rows:
        for column in NUMERIC_COLUMNS:
            if row[column] != "":  # blank: tolerance not reached, or diverged
                assert math.isfinite(float(row[column])), (row, column)


def test_quick_study_rows_cover_all_runs(quick_study):
    rows = read_rows(quick_study / "results.csv")
    pairs = {(row["problem"], row["optimizer"]) for row in rows}
    expected = {(p, o) for p in study.PROBLEMS for o in study.OPTIMIZERS}
    expected |= {
        ("quadratic", "Steepest descent, optimal step"),
        ("quadratic", "Newton"),
    }
    assert pairs == expected
    assert len(rows) == len(expected)

    sweep = read_rows(quick_study / "sweep.csv")
    runs_per_problem = len(study.OPTIMIZERS) * len(study.QUICK_LEARNING_RATES)
    assert len(sweep) == len(study.PROBLEMS) * runs_per_problem


def test_newton_solves_quadratic_in_one_step(quick_study):
    rows = read_rows(quick_study / "results.csv")
    newton = next(row for row in rows if row["optimizer"] == "Newton")
    assert newton["steps_to_tolerance"] == "1"
    assert float(newton["final_loss"]) < 1e-20


def test_markdown_states_the_sweep(quick_study):
    text = (quick_study / "results.md").read_text()
    assert "chosen from 0.001, 0.01, 0.1" in text
    assert "Tolerance: E - E* <= 1e-06" in text
    assert text.count("| Adam |") == len(study.PROBLEMS)


def test_quick_study_has_spirals_rows(quick_study):
    rows = read_rows(quick_study / "results.csv")
    spirals = {row["optimizer"]: row for row in rows if row["problem"] == "two-spirals"}
    assert set(spirals) == set(study.OPTIMIZERS)
    for label, row in spirals.items():
        assert row["diverged"] == "False", label
        assert math.isfinite(float(row["final_loss"])), label
        assert 0.0 <= float(row["test_accuracy"]) <= 1.0, label
    others = [row for row in rows if row["problem"] != "two-spirals"]
    assert all(row["test_accuracy"] == "" for row in others)


def test_markdown_has_spirals_accuracy_column(quick_study):
    text = (quick_study / "results.md").read_text()
    assert "## Two spirals:" in text
    assert text.count("| test accuracy |") == 1
    assert "E* = 0 is its infimum" in text


def flat_mlp_case(seed=0):
    """Return a small FlatMLP, a point w away from its start, and a batch."""
    model = MLP((2, 5, 4, 1), "relu", "sigmoid", seed=seed)
    network = FlatMLP(model)
    rng = np.random.default_rng(seed)
    w = network.flatten() + 0.1 * rng.standard_normal(network.flatten().size)
    X = rng.standard_normal((16, 2))
    D = rng.integers(0, 2, (16, 1)).astype(np.float64)
    return network, w, X, D


def torch_loss(w, X, D, sizes=(2, 5, 4, 1)):
    """Binary cross-entropy of a ReLU MLP whose parameters are laid out in w."""
    import torch

    y, start = X, 0
    for index, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        weight = w[start : start + n_out * n_in].reshape(n_out, n_in)
        bias = w[start + n_out * n_in : start + n_out * (n_in + 1)]
        start += n_out * (n_in + 1)
        v = y @ weight.T + bias
        y = v if index == len(sizes) - 2 else torch.relu(v)
    assert start == w.shape[0]
    return torch.nn.functional.binary_cross_entropy_with_logits(y, D)


def test_flat_mlp_gradient_matches_torch_autograd():
    import torch

    network, w, X, D = flat_mlp_case()
    w_torch = torch.tensor(w, requires_grad=True)
    loss = torch_loss(w_torch, torch.tensor(X), torch.tensor(D))
    loss.backward()
    np.testing.assert_allclose(network.loss(w, X, D), loss.item(), rtol=1e-12)
    np.testing.assert_allclose(
        network.gradient(w, X, D), w_torch.grad.numpy(), rtol=1e-10, atol=1e-14
    )


def test_flat_mlp_matches_mlp_gradients():
    network, w, X, D = flat_mlp_case(seed=1)
    flat = network.gradient(w, X, D)
    network.load(w)
    expected = [part.ravel() for pair in network.model.gradients(X, D) for part in pair]
    np.testing.assert_allclose(flat, np.concatenate(expected), rtol=1e-12)
    assert network.loss(w, X, D) == network.model.loss(X, D)


def test_flat_mlp_load_is_a_view_of_w():
    network, w, _, _ = flat_mlp_case()
    network.load(w)
    np.testing.assert_array_equal(network.flatten(), w)
    first = network.model.layers[0]
    assert np.shares_memory(first.weight, w)
    assert np.shares_memory(first.bias, w)


def test_spirals_problem_uses_the_recipe_network():
    recipe = RECIPES["spirals"]
    data = recipe.make_dataset(0)
    model = MLP(recipe.layer_sizes, recipe.activation, recipe.output, seed=0)
    problem = study.PROBLEMS["two-spirals"](True)
    np.testing.assert_array_equal(problem.x0, FlatMLP(model).flatten())
    assert problem.loss(problem.x0) == model.loss(data.X_train, data.D_train)
    assert problem.test_accuracy(problem.x0) == evaluate(model, data)["accuracy"]
    assert problem.stochastic


def test_sgd_run_matches_closed_form_on_quadratic():
    # Steepest descent on E = w^T H w / 2 gives w_t = (I - lr H)^t w_0.
    problem = study.PROBLEMS["quadratic"](True)
    run = study.run_optimizer(problem, sgd, {"lr": 0.01}, "SGD", keep_points=True)
    H = quadratic_hessian()
    w = problem.x0.copy()
    expected = [0.5 * w @ H @ w]
    for _ in range(problem.steps):
        w = w - 0.01 * H @ w
        expected.append(0.5 * w @ H @ w)
    np.testing.assert_allclose(run.losses, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(run.points[-1], w, rtol=1e-12)


def make_problem(losses, tolerance=0.1, averaged_steps=1, name="scripted"):
    """Return a 1-D problem whose cost follows ``losses`` along w = step."""
    return study.Problem(
        name=name,
        title="scripted",
        loss=lambda w: float(losses[round(float(w[0]))]),
        gradient=lambda w, rng: np.array([-1.0]),
        x0=np.zeros(1),
        optimum=0.0,
        tolerance=tolerance,
        steps=len(losses) - 1,
        averaged_steps=averaged_steps,
    )


@pytest.mark.parametrize(
    ("losses", "expected"),
    [
        ([1.0, 0.05, 0.5, 0.05, 0.01], 3),  # a dip at step 1 does not count
        ([1.0, 0.5, 0.2, 0.3], None),
        ([0.05, 0.04], 0),
    ],
)
def test_steps_to_tolerance_needs_staying_within(losses, expected):
    problem = make_problem(losses)
    run = study.run_optimizer(problem, sgd, {"lr": 1.0}, "SGD")
    assert run.steps_to_tolerance == expected


def test_steps_to_tolerance_averages_noisy_costs():
    losses = [1.0, 0.0, 0.3, 0.0, 0.0, 0.0]
    problem = make_problem(losses, tolerance=0.12, averaged_steps=3)
    run = study.run_optimizer(problem, sgd, {"lr": 1.0}, "SGD")
    # trailing means: 1, 0.5, 0.433, 0.1, 0.1, 0
    assert run.steps_to_tolerance == 3
    assert run.final_loss == 0.0


def test_diverging_run_stops_and_never_reaches():
    problem = study.PROBLEMS["rosenbrock"](True)
    run = study.run_optimizer(problem, sgd, {"lr": 1.0}, "SGD")
    assert run.diverged
    assert run.final_loss == math.inf
    assert run.steps_to_tolerance is None
    assert len(run.losses) < problem.steps + 1


def test_registered_problem_joins_the_study(monkeypatch):
    monkeypatch.setattr(study, "PROBLEMS", {})
    monkeypatch.setattr(study, "QUICK_LEARNING_RATES", (0.1,))

    def bowl(quick):
        return make_problem([4.0 / (t + 1) ** 2 for t in range(30)], name="bowl")

    study.PROBLEMS["bowl"] = bowl
    result = study.run_study(quick=True, show_progress=False)
    assert [run.problem for run in result.best] == ["bowl"] * len(study.OPTIMIZERS)


def test_problem_sweeps_its_own_rates(monkeypatch, tmp_path):
    def bowl(quick):
        problem = make_problem([4.0 / (t + 1) ** 2 for t in range(30)], name="bowl")
        return dataclasses.replace(problem, learning_rates=(0.01, 0.03))

    monkeypatch.setattr(study, "PROBLEMS", {"bowl": bowl})
    result = study.run_study(show_progress=False)
    rates = {run.hyperparameters["lr"] for run in result.sweep}
    assert rates == {0.01, 0.03}
    assert len(result.sweep) == 2 * len(study.OPTIMIZERS)

    study.write_markdown(result, tmp_path / "results.md")
    text = (tmp_path / "results.md").read_text()
    assert "Learning rates swept: 0.01, 0.03." in text
    # With two rates every chosen rate is an end of the problem's own grid.
    assert text.count("(grid end) |") == len(study.OPTIMIZERS)


def test_problem_named_unlike_its_key_raises(monkeypatch):
    monkeypatch.setattr(study, "PROBLEMS", {"bowl": lambda quick: make_problem([1.0])})
    with pytest.raises(ValueError, match="registered as 'bowl' built a problem named"):
        study.run_study(quick=True, show_progress=False)


def test_register_problem_rejects_duplicate_name():
    with pytest.raises(ValueError, match="a problem named 'quadratic' is already"):
        study.register_problem("quadratic")(lambda quick: None)


def test_unknown_problem_raises():
    with pytest.raises(ValueError, match=r"problems not registered: \['spirals'\]"):
        study.run_study(problems=["spirals"])
