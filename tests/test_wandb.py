"""logger=wandb: an offline run a researcher would browse, read back from its record file:
named and grouped by setting, every results.json number in its summary, curves a group
panel can average, figures as images, a re-evaluation in the same run, a report as a run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from paper.report import main as report_main
from runs.wandb_log import run_names, summary_of, sweep_setting
from tests.conftest import REPO, read_results, run_linpath
from tests.test_report import write_run
from tests.wandb_records import read_run, records


def test_sweep_setting_leaves_out_seeds_and_bookkeeping():
    overrides = ["experiment=fig7", "optimizer.weight_decay=0.0005", "seed=3", "logger.offline=0"]
    excludes = ["seed", "experiment", "logger"]
    assert sweep_setting(overrides, excludes) == "optimizer.weight_decay=0.0005"
    assert sweep_setting(["seed=1", "reuse=true"]) == "default"
    names = run_names("weight_decay", "optimizer.weight_decay=0.0005", 3)
    assert names == {
        "name": "weight_decay-optimizer.weight_decay=0.0005-seed3",
        "group": "weight_decay-optimizer.weight_decay=0.0005",
        "job_type": "weight_decay",
    }


def test_the_summary_carries_every_number_of_results_json():
    results = {
        "seed": 2,
        "final": {"test_acc": 0.9},
        "alphas": [0.0, 1.0],
        "paths": {"full": {"loss": [1.0, 0.5], "shape": "B", "strict_shape": "B",
                           "error_max_rise": 0.1, "barrier_start_alpha": None}},
        "views": {"train/interpolate": {"full": {"shape": "NB", "loss": [1.0, 0.2]}}},
    }  # fmt: skip
    assert summary_of(results) == {
        "seed": 2,
        "final/test_acc": 0.9,
        "path/full/shape": "B",
        "path/full/strict_shape": "B",
        "path/full/error_max_rise": 0.1,
        "path/full/barrier_start_alpha": None,
        "view/train/interpolate/path/full/shape": "NB",
    }


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A smoke spiral run with the trajectory and planes, logged offline, then re-evaluated."""
    run_dir = tmp_path_factory.mktemp("wandb")
    run_linpath(
        "experiment=spiral_mlp", "scale=smoke", "logger=wandb", "optimizer.lr=0.01", "seed=1",
        "beyond=trajectory", "callbacks.trajectory.every_n_epochs=1",
        "callbacks.trajectory.planes.new_init.points=5",
        "callbacks.trajectory.planes.trajectory.points=5",
        run_dir=run_dir,
    )  # fmt: skip
    again = subprocess.run(
        [sys.executable, "-m", "runs.reevaluate", f"run_dir={run_dir}", "interpolation.alphas=5",
         "name=five"],
        cwd=REPO, capture_output=True, text=True, timeout=600, env={"WANDB_MODE": "offline",
        **__import__("os").environ},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    return run_dir, again.stdout


def test_an_offline_run_is_named_grouped_and_carries_every_number(logged):
    run_dir, _ = logged
    results = read_results(run_dir)
    first, _ = sorted((run_dir / "wandb").glob("offline-run-*"))
    run = read_run(first)
    assert run["name"] == "spiral_mlp-scale=smoke,optimizer.lr=0.01-seed1"
    assert run["group"] == "spiral_mlp-scale=smoke,optimizer.lr=0.01"
    assert run["job_type"] == "spiral_mlp"
    assert results["wandb"]["id"] == run["id"]
    expected = {k: v for k, v in summary_of(results).items() if not k.startswith("wandb/")}
    for key, value in expected.items():
        assert (
            run["summary"][key] == pytest.approx(value)
            if isinstance(value, float)
            else (run["summary"][key] == value)
        ), key
    for key in ("path/full/strict_shape", "path/full/error_max_rise", "path/full/error_shape"):
        assert key in run["summary"], key
    for key in ("barrier_start_alpha", "barrier_peak_alpha"):  # null on a path without one
        assert run["summary"][f"path/full/{key}"] == results["paths"]["full"][key]
    # curves against curve/alpha: a group's line panel averages the seeds
    assert {"curve/alpha", "curve/full/loss", "curve/final_to_new_init/acc"} <= run["history"]
    media = first / "files" / "media" / "images" / "figures"
    for stem in ("interpolation", "trajectory", "plane_new_init", "plane_trajectory"):
        assert list(media.glob(f"{stem}_*.png")), stem
    (table,) = (first / "files" / "media" / "table" / "paths").glob("curves_*.table.json")
    table = json.loads(table.read_text())
    assert table["columns"] == ["setting", "seed", "path", "alpha", "loss", "acc"]
    full = results["paths"]["full"]
    assert table["data"][0] == ["scale=smoke,optimizer.lr=0.01", 1, "full", 0.0,
                                full["loss"][0], full["acc"][0]]  # fmt: skip


def test_a_reevaluation_is_logged_into_the_run_it_belongs_to(logged):
    run_dir, printed = logged
    first, second = (read_run(d) for d in sorted((run_dir / "wandb").glob("offline-run-*")))
    assert second["id"] == first["id"]  # resumed by id: one run on the dashboard
    evaluation = read_results(run_dir / "evaluations" / "five")
    assert (
        second["summary"]["evaluation/five/path/full/shape"] == evaluation["paths"]["full"]["shape"]
    )
    assert "evaluation/five/curve/full/loss" in second["history"]
    assert f"logged to wandb run {first['id']} under evaluation/five/" in printed


def test_a_report_can_be_logged_as_a_run_with_an_artifact(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    for seed in range(2):
        write_run(tmp_path / "runs" / str(seed), "weight_decay", seed, [], 0.9)
    out = tmp_path / "reports"
    assert report_main(["fig7", str(tmp_path / "runs"), "--out", str(out), "--wandb"]) == 0
    import wandb

    wandb.teardown()  # wandb's service writes the record file out as this process would at exit
    (run_dir,) = (out / "fig7" / "wandb").glob("offline-run-*")
    run = read_run(run_dir)
    assert (run["name"], run["job_type"]) == ("report-fig7", "report")
    for logged in ("tables/fig7_weight_decay/", "figures/fig7_weight_decay/"):  # a table, an image
        assert any(key.startswith(logged) for key in run["history"]), logged
    (path,) = run_dir.glob("run-*.wandb")
    kinds = [r.WhichOneof("record_type") for r in records(path)]
    assert "artifact" in kinds
    assert f"logged to wandb run {run['id']}" in capsys.readouterr().out
