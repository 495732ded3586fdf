"""run.py end to end at smoke scale, as a user types it, and its refusals."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch

from landscape import shape_metrics
from lightning_modules.models import MLP
from tests.conftest import read_results, run_linpath


@pytest.fixture(scope="module")
def spiral_done(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("spiral")
    return run_dir, run_linpath("experiment=spiral_mlp", "scale=smoke", "seed=3", run_dir=run_dir)


@pytest.fixture(scope="module")
def spiral_run(spiral_done):
    return spiral_done[0]


def test_a_run_ends_with_its_summary_table_and_folder(spiral_done):
    run_dir, done = spiral_done
    results = read_results(run_dir)
    *_, header, full, back, init, final, written = done.stdout.splitlines()
    assert header.split()[:3] == ["path", "shape", "strict"]
    for line, path in zip((full, back, init), results["paths"]):
        assert line.split()[:3] == [path, results["paths"][path]["shape"],
                                    results["paths"][path]["strict_shape"]]  # fmt: skip
    assert final.startswith(f"test acc {results['final']['test_acc']:.4f}")
    assert written.startswith(f"linpath: written to {run_dir}/ (")
    assert "results.json" in written and "interpolation.png" in written
    # piped: a line per ~10 s with the total, not one per epoch
    assert [line.split()[1] for line in done.stdout.splitlines() if line.startswith("fit ")] == [
        "1/2",
        "2/2",
    ]


def test_spiral_smoke_writes_a_complete_run(spiral_run):
    results = read_results(spiral_run)
    assert results["schema"] == 1
    assert results["experiment"] == "spiral_mlp"
    assert results["seed"] == 3
    assert "seed=3" in results["overrides"]
    assert results["alphas"] == pytest.approx([i / 10 for i in range(11)], abs=1e-12)
    assert set(results["paths"]) == {"full", "final_to_new_init", "init_to_new_init"}
    for path, entry in results["paths"].items():
        assert len(entry["loss"]) == len(entry["acc"]) == 11
        # the labels are the classifier's reading of the written curve with the run's options
        shapes = shape_metrics(
            results["alphas"], entry["loss"], read_from_end=entry["read_from_end"],
            end_rise_as_barrier=results["end_rise_as_barrier"], **results["thresholds"],
        )  # fmt: skip
        assert (entry["shape"], entry["strict_shape"]) == (
            shapes["shape"],
            shapes["strict_shape"],
        ), path
        # a barrier has a location; no other shape does
        assert (entry["shape"] == "B") == (entry["barrier_peak_alpha"] is not None)
        assert entry["split"] == "test"
    assert results["paths"]["final_to_new_init"]["read_from_end"] is True
    for name in ("theta_i.pt", "theta_f.pt", "interpolation.png", "csv/metrics.csv"):
        assert (spiral_run / name).is_file(), name
    assert results["timing"]["fit_s"] > 0


def test_theta_i_is_the_untrained_initialisation(spiral_run):
    """theta_i is what the seed draws before any step; theta_f is what training made of it."""
    pl.seed_everything(3, verbose=False)
    expected = MLP((2,), 1, hidden=[50, 50]).state_dict()
    theta_i = torch.load(spiral_run / "theta_i.pt")
    theta_f = torch.load(spiral_run / "theta_f.pt")
    for key, value in expected.items():
        assert torch.equal(theta_i[key], value), key
        assert not torch.equal(theta_f[key], value), key


def test_path_ends_agree_with_final_metrics(spiral_run):
    results = read_results(spiral_run)
    full, back = results["paths"]["full"], results["paths"]["final_to_new_init"]
    # smoke evaluates the whole 256-example test split, so alpha=1 of `full` is theta_f's test loss
    assert full["loss"][-1] == pytest.approx(results["final"]["test_loss"], rel=1e-6)
    assert full["acc"][-1] == pytest.approx(results["final"]["test_acc"])
    assert back["loss"][0] == pytest.approx(full["loss"][-1], rel=1e-6)
    assert results["paths"]["init_to_new_init"]["loss"][0] == pytest.approx(full["loss"][0])


def test_digits_mlp_with_unit_paths(tmp_path):
    run_linpath(
        "experiment=mnist_mlp",
        "data=digits",
        "scale=smoke",
        "interpolation.paths=[full,unit/*]",
        run_dir=tmp_path,
    )
    results = read_results(tmp_path)
    assert list(results["paths"]) == ["full", "unit/fc1", "unit/fc2", "unit/fc3"]
    assert results["data_name"] == "digits stand-in"  # what reports call it, never MNIST
    assert results["units"] == {"fc1": ["fc1"], "fc2": ["fc2"], "fc3": ["fc3"]}
    # 10 classes at a random init: loss near log(10)
    assert results["paths"]["full"]["loss"][0] == pytest.approx(2.30, abs=0.15)


def test_missing_mnist_is_one_clear_line(tmp_path):
    result = run_linpath(
        "experiment=mnist_mlp",
        "scale=smoke",
        "data.root=/nonexistent/mnist",
        run_dir=tmp_path,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("linpath: error")]
    assert len(errors) == 1
    assert "/nonexistent/mnist" in errors[0] and "data=digits" in errors[0]
    assert not (tmp_path / "results.json").exists()
    assert not (tmp_path / "theta_i.pt").exists()


def test_unknown_path_fails_before_training(tmp_path):
    result = run_linpath(
        "scale=smoke", "interpolation.paths=[full,unit/fc9]", run_dir=tmp_path, check=False
    )
    assert result.returncode == 2
    assert "unknown unit 'fc9'" in result.stderr and "fc1" in result.stderr
    assert not (tmp_path / "theta_i.pt").exists()
