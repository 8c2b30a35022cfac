"""Tests of foundations.problems: data sets, goals reached, figures, command line."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from foundations.problems import (
    RECIPES,
    function_approximation,
    mackey_glass,
    mackey_glass_forecasting,
    plot_decision_boundary,
    plot_forecast,
    plot_function_fit,
    plot_trained,
    train,
    two_spirals,
    xor,
)
from foundations.problems.__main__ import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained():
    """Each problem trained once with its recipe and seed 0."""
    return {name: train(name, seed=0, progress=False) for name in RECIPES}


# --- Data sets ------------------------------------------------------------------


def test_xor_truth_table():
    data = xor(seed=0)
    for x, d in zip(data.X_train, data.D_train, strict=True):
        assert d == (int(x[0]) ^ int(x[1]))


def test_xor_test_points_lie_near_their_corner():
    data = xor(n_test=500, noise=0.1, seed=1)
    corner = np.round(data.X_test).clip(0, 1)
    expected = (corner[:, 0] != corner[:, 1]).astype(int)
    # Beyond 0.5 from its corner a point rounds to another corner: with noise
    # 0.1 that is a 5-sigma event in one coordinate.
    np.testing.assert_array_equal(data.D_test, expected)


@pytest.mark.parametrize("make", [xor, two_spirals, function_approximation])
def test_seed_fixes_the_data(make):
    first, again, other = make(seed=3), make(seed=3), make(seed=4)
    np.testing.assert_array_equal(first.X_test, again.X_test)
    np.testing.assert_array_equal(first.D_test, again.D_test)
    assert not np.array_equal(first.X_test, other.X_test)


def test_spirals_are_interleaved_arms():
    data = two_spirals(n_train=2000, n_test=10, turns=2.0, noise=0.0, seed=0)
    X, d = data.X_train, data.D_train
    radius = np.hypot(X[:, 0], X[:, 1])
    # On the arm of class k, theta = 4 pi r and the angle is theta + k pi.
    angle = np.arctan2(X[:, 1], X[:, 0])
    expected = 4 * math.pi * radius + math.pi * d
    np.testing.assert_allclose(np.cos(angle - expected), 1.0, atol=1e-9)
    assert radius.max() <= 1.0
    assert 0.45 < d.mean() < 0.55


def test_function_targets_are_the_stated_map():
    data = function_approximation(n_train=50, n_test=50, seed=0)
    x1, x2 = data.X_test[:, 0], data.X_test[:, 1]
    np.testing.assert_allclose(
        data.D_test[:, 0], np.sin(math.pi * x1) * np.cos(math.pi * x2 / 2)
    )
    np.testing.assert_allclose(
        data.D_test[:, 1], np.exp(-(x1**2) - x2**2) - x1 * x2 / 2
    )
    assert np.abs(data.X_train).max() <= 1.0


def test_mackey_glass_solves_the_delay_equation():
    x = mackey_glass(t_max=600)
    t = np.arange(100, 599)
    # Central difference of the sampled solution against the right-hand side;
    # a step of 1 leaves an O(1) * x''' / 6 error of a few 1e-3.
    derivative = (x[t + 1] - x[t - 1]) / 2
    delayed = x[t - 17]
    rate = 0.2 * delayed / (1 + delayed**10) - 0.1 * x[t]
    np.testing.assert_allclose(derivative, rate, atol=5e-3)
    assert x[100:].min() > 0.2
    assert x[100:].max() < 1.5


def test_mackey_glass_converges_with_fourth_order():
    coarse, fine, finest = (mackey_glass(t_max=200, dt=dt) for dt in (0.1, 0.05, 0.025))
    np.testing.assert_allclose(coarse, finest, atol=1e-7)
    # Halving the step of a fourth-order method divides the error by 2^4 = 16.
    ratio = np.abs(coarse - finest).max() / np.abs(fine - finest).max()
    assert 12 < ratio < 20


def test_mackey_glass_rejects_delay_off_grid():
    with pytest.raises(ValueError, match="tau and 1 must be multiples of dt"):
        mackey_glass(t_max=10, tau=17.05, dt=0.1)


INVALID_DATASETS = [
    (lambda: xor(n_test=-1), "n_test must be a positive integer, got -1"),
    (lambda: xor(noise=-0.5), "noise must be finite and non-negative, got -0.5"),
    (lambda: xor(noise=math.nan), "noise must be finite and non-negative, got nan"),
    (lambda: two_spirals(n_train=-5), "n_train must be a positive integer, got -5"),
    (lambda: two_spirals(turns=0), "turns must be finite and positive, got 0"),
    (lambda: two_spirals(seed=-1), "seed must be a non-negative integer, got -1"),
    (
        lambda: function_approximation(n_train=1.5),
        "n_train must be a positive integer, got 1.5",
    ),
    (
        lambda: mackey_glass(t_max=-5),
        "t_max must be finite and non-negative, got -5",
    ),
    (lambda: mackey_glass(t_max=5, dt=0), "dt must be finite and positive, got 0"),
    (lambda: mackey_glass(t_max=5, tau=-1), "tau must be finite and non-negative"),
    (lambda: mackey_glass(t_max=5, x0=-1), "x0 must be finite and non-negative"),
    (
        lambda: mackey_glass_forecasting(lags=(-6, 0)),
        r"lags must be non-negative integers, got \(-6, 0\)",
    ),
    (
        lambda: mackey_glass_forecasting(start=0),
        "start must be at least the largest lag, 18, got 0",
    ),
    (
        lambda: mackey_glass_forecasting(horizon=0),
        "horizon must be a positive integer, got 0",
    ),
    (
        lambda: mackey_glass_forecasting(n_test=0),
        "n_test must be a positive integer, got 0",
    ),
]


@pytest.mark.parametrize(("make", "message"), INVALID_DATASETS)
def test_dataset_rejects_invalid_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_forecasting_pairs_are_shifted_series():
    data = mackey_glass_forecasting(n_train=20, n_test=30)
    x = mackey_glass(t_max=200)
    t = data.time_test.astype(int)
    np.testing.assert_array_equal(data.D_test[:, 0], x[t])
    np.testing.assert_array_equal(data.X_test[:, -1], x[t - 6])
    np.testing.assert_array_equal(data.X_test[:, 0], x[t - 24])


# --- Goals of the recipes ---------------------------------------------------------


def test_xor_reaches_full_accuracy(trained):
    result = trained["xor"]
    data = result.dataset
    assert np.array_equal(result.model.predict(data.X_train), data.D_train)
    assert np.mean(result.model.predict(data.X_test) == data.D_test) == 1.0


def test_spirals_reach_97_percent(trained):
    result = trained["spirals"]
    data = result.dataset
    accuracy = np.mean(result.model.predict(data.X_test) == data.D_test)
    assert accuracy >= 0.97
    assert result.metrics["accuracy"] == accuracy


def test_function_approximation_reaches_small_mse(trained):
    result = trained["function"]
    data = result.dataset
    mse = np.mean((result.model.predict(data.X_test) - data.D_test) ** 2)
    assert mse <= 1e-3
    assert result.metrics["mse"] == pytest.approx(mse)


def test_forecast_beats_last_value(trained):
    result = trained["mackey_glass"]
    data = result.dataset
    error = result.model.predict(data.X_test) - data.D_test
    naive_error = data.X_test[:, -1:] - data.D_test
    nrmse = np.sqrt(np.mean(error**2)) / data.D_test.std()
    naive_nrmse = np.sqrt(np.mean(naive_error**2)) / data.D_test.std()
    assert nrmse < 0.5 * naive_nrmse
    assert result.metrics["nrmse"] == pytest.approx(nrmse)
    assert result.metrics["naive_nrmse"] == pytest.approx(naive_nrmse)


def test_history_has_one_cost_per_epoch(trained):
    for name, result in trained.items():
        assert len(result.history) == RECIPES[name].epochs
        assert result.history[-1] < result.history[0]


def test_train_rejects_unknown_problem():
    with pytest.raises(ValueError, match=r"name must be one of .* got 'iris'"):
        train("iris")


# --- Figures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "plot"),
    [
        ("xor", plot_decision_boundary),
        ("spirals", plot_decision_boundary),
        ("function", plot_function_fit),
        ("mackey_glass", plot_forecast),
    ],
)
def test_plot_saves_png(trained, tmp_path, name, plot):
    path = tmp_path / "nested" / f"{name}.png"
    figure = plot(trained[name].model, trained[name].dataset, path)
    assert isinstance(figure, Figure)
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_plot_trained_draws_figure(tmp_path):
    path = tmp_path / "xor.png"
    figure = plot_trained("xor", epochs=10, path=path)
    assert isinstance(figure, Figure)
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_plot_rejects_more_than_two_inputs(trained):
    result = trained["mackey_glass"]
    with pytest.raises(ValueError, match=r"the plot needs two inputs, got .* 4"):
        plot_decision_boundary(result.model, result.dataset)


# --- Command line -------------------------------------------------------------


def test_command_line_trains_and_saves_figure(tmp_path, capsys):
    status = main(["xor", "--seed", "0", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    assert "test accuracy: 100.00%" in out
    assert (tmp_path / "xor.png").read_bytes().startswith(PNG_SIGNATURE)


def test_command_line_prints_naive_forecast(tmp_path, capsys):
    main(["mackey_glass", "--epochs", "5", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "test NRMSE:" in out
    assert "naive last-value forecast:" in out


def test_command_line_rejects_unknown_name():
    completed = subprocess.run(
        [sys.executable, "-m", "foundations.problems", "iris"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.count("\n") == 1
    assert "invalid choice: 'iris'" in completed.stderr


def test_command_line_rejects_negative_epochs(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["xor", "--epochs", "-1"])
    assert exit_info.value.code == 2
    assert (
        "--epochs: must be a non-negative integer, got '-1'" in capsys.readouterr().err
    )


def test_command_line_rejects_negative_seed(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["xor", "--seed", "-1"])
    assert exit_info.value.code == 2
    assert "--seed: must be a non-negative integer, got '-1'" in capsys.readouterr().err


def test_command_line_checks_out_folder_before_training(tmp_path, capsys, monkeypatch):
    def fail_if_called(*args, **kwargs):
        raise AssertionError("trained before checking --out")

    monkeypatch.setattr("foundations.problems.__main__.train", fail_if_called)
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(["xor", "--out", str(not_a_folder)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"--out: cannot create folder {not_a_folder}" in err
