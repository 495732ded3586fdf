"""The biased-view and trajectory reports on hand-made runs with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from paper.beyond_report import correlation, plateau_length
from paper.report import main

ALPHAS = [i / 10 for i in range(11)]


def write_run(directory, seed: int, spread: float, plateau_end: float) -> None:
    """A bias_view run whose full path stays at 2.3 until `plateau_end`, then falls to 0.3."""
    losses = [2.3 if a <= plateau_end else 2.3 - 2.0 * (a - plateau_end) / (1 - plateau_end)
              for a in ALPHAS]  # fmt: skip
    directory.mkdir(parents=True)
    results = {
        "experiment": "bias_view",
        "seed": seed,
        "overrides": [f"seed={seed}"],
        "training_id": f"run{seed}",
        "final": {"test_acc": 0.9},
        "alphas": ALPHAS,
        "paths": {"full": {"loss": losses, "shape": "P", "plateau_fraction": plateau_end}},
        "extras": {"last_layer_bias_spread": {"theta_f": {"std": spread, "range": 3 * spread}}},
    }
    (directory / "results.json").write_text(json.dumps(results))


def test_plateau_length_is_where_the_loss_leaves_the_band():
    losses = [1.0, 1.0, 1.0, 0.8, 0.0]  # band 0.1: leaves between alpha 0.5 and 0.75
    alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
    assert plateau_length(alphas, losses) == pytest.approx(0.5 + 0.25 * 0.1 / 0.2)
    assert plateau_length(alphas, [1.0, 0.5, 0.2, 0.1, 0.0]) == pytest.approx(0.05)


def test_correlation_matches_numpy_and_its_interval_holds_it():
    rng = np.random.default_rng(0)
    x = rng.normal(size=12)
    y = 0.8 * x + 0.5 * rng.normal(size=12)
    found = correlation(x, y)
    assert found["pearson_r"] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    z, half = np.arctanh(found["pearson_r"]), 1.959964 / np.sqrt(len(x) - 3)
    assert found["pearson_ci"] == pytest.approx([np.tanh(z - half), np.tanh(z + half)], abs=1e-4)
    ranks = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    assert found["spearman_rho"] == pytest.approx(np.corrcoef(*ranks)[0, 1], abs=1e-12)
    assert found["spearman_ci"][0] < found["spearman_rho"] < found["spearman_ci"][1]


def test_biased_view_report_finds_the_correlation_it_was_given(tmp_path, capsys):
    spreads = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    for seed, spread in enumerate(spreads):
        write_run(tmp_path / "runs" / str(seed), seed, spread, plateau_end=0.1 + spread)
    assert main(["weights_biases", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    found = json.loads((tmp_path / "out" / "weights_biases" / "correlation.json").read_text())
    assert found["bias_view"]["n"] == 6
    assert found["bias_view"]["pearson_r"] == pytest.approx(1.0, abs=1e-6)
    markdown = (tmp_path / "out" / "weights_biases" / "weights_biases.md").read_text()
    assert "| bias_view | 6 | +1.00" in markdown


def test_a_report_without_runs_is_one_clear_line(tmp_path, capsys):
    assert main(["trajectory", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("linpath: error: no runs of ['spiral_mlp']")


def test_trajectory_report_counts_runs_that_went_through_the_barrier(tmp_path):
    for seed, through in enumerate([False, True, False]):
        run = tmp_path / "runs" / str(seed)
        write_run(run, seed, spread=0.1, plateau_end=0.2)
        along = {"alpha": [0.0, 0.5, 1.0], "loss": [0.7, 1.2 if through else 0.3, 0.0],
                 "off_line": [0.0, 0.5, 0.0], "line_length": 2.0}  # fmt: skip
        entry = {
            "loss": [0.7, 1.0, 0.0], "shape": "B", "trajectory": along,
            "crossing": {"alpha_max": 0.5, "path_peak_loss": 1.0, "through_barrier": through,
                         "trajectory_loss_at_alpha_max": along["loss"][1],
                         "trajectory_max_loss": max(along["loss"][1:])},
        }  # fmt: skip
        trajectory = {"split": "test", "epochs": [0, 5, 10], "alphas": [0.0, 0.5, 1.0]}
        trajectory["paths"] = {"full": entry}
        (run / "trajectory.json").write_text(json.dumps(trajectory))
        results = json.loads((run / "results.json").read_text())
        (run / "results.json").write_text(json.dumps(results | {"experiment": "spiral_mlp"}))
    assert main(["trajectory", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    markdown = (tmp_path / "out" / "trajectory" / "trajectory.md").read_text()
    assert "3 runs; the full path has a barrier (shape B) in 3." in markdown
    assert "peak) in 1;" in markdown
    assert "| 1 | B | 0.50 | 1.0000 | 1.2000 | yes | 0.7000 | 1.2000 | 0.250 |" in markdown
