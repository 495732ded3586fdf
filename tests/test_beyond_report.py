"""The biased-view and trajectory reports on hand-made runs with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sweeps.beyond_report import correlation, plateau_length
from sweeps.report import main

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
    assert main(["biased_view", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    found = json.loads((tmp_path / "out" / "biased_view" / "correlation.json").read_text())
    assert found["bias_view"]["n"] == 6
    assert found["bias_view"]["pearson_r"] == pytest.approx(1.0, abs=1e-6)
    markdown = (tmp_path / "out" / "biased_view" / "biased_view.md").read_text()
    assert "| bias_view | 6 | +1.00" in markdown


def test_a_report_without_runs_is_one_clear_line(tmp_path, capsys):
    assert main(["trajectory", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("linpath: error: no runs of ['spiral_mlp']")
