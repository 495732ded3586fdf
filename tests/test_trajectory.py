"""The trajectory against the straight line, and the callback that keeps it."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from callbacks import TrajectoryCallback
from callbacks.trajectory import TrajectoryError
from landscape.evaluate import evaluate_state, interpolate_state
from landscape.paths import moving_keys
from landscape.trajectory import (
    crossing,
    largest_direction_off_line,
    line_coordinates,
    trajectory_curves,
)
from lightning_modules.models import MLP
from tests.conftest import read_results, run_linpath

SMOKE = ["scale=smoke", "logger=none", "interpolation.figure=false"]


def flat_numpy(state, keys):
    return np.concatenate([state[k].numpy().ravel().astype(np.float64) for k in keys])


def test_line_coordinates_match_numpy(mlp_setup):
    model, theta_i, theta_f, _ = mlp_setup
    keys = [name for name, _ in model.named_parameters()]
    generator = torch.Generator().manual_seed(3)
    state = {k: v + 0.2 * torch.randn(v.shape, generator=generator) for k, v in theta_f.items()}
    found = line_coordinates([theta_i, state, theta_f], theta_i, theta_f, keys)
    a, b, t = (flat_numpy(s, keys) for s in (theta_i, theta_f, state))
    d = b - a
    alpha = (t - a) @ d / (d @ d)
    assert found["alpha"] == pytest.approx([0.0, alpha, 1.0], abs=1e-9)
    off = np.linalg.norm(t - a - alpha * d)
    assert found["off_line"] == pytest.approx([0.0, off, 0.0], abs=1e-6)
    assert off > 0.1


def test_trajectory_loss_is_the_kept_state_and_unit_loss_keeps_the_rest_at_theta_f(mlp_setup):
    model, theta_i, theta_f, data = mlp_setup
    middle = interpolate_state(theta_i, theta_f, 0.4)
    units = {"fc1": ["fc1"], "fc2": ["fc2"], "fc3": ["fc3"]}
    curves = trajectory_curves(
        model, [theta_i, middle, theta_f], theta_i, theta_f, data, ["full", "unit/fc2"], units
    )
    assert curves["full"]["alpha"] == pytest.approx([0.0, 0.4, 1.0], abs=1e-6)
    for index, state in enumerate([theta_i, middle, theta_f]):
        work = copy.deepcopy(model).eval()
        work.load_state_dict(state)
        assert curves["full"]["loss"][index] == pytest.approx(
            evaluate_state(work, [data], "cross_entropy")[0], abs=1e-6
        )
        keys = moving_keys(model, theta_f, "unit/fc2", units)
        work.load_state_dict({k: state[k] if k in keys else v for k, v in theta_f.items()})
        assert curves["unit/fc2"]["loss"][index] == pytest.approx(
            evaluate_state(work, [data], "cross_entropy")[0], abs=1e-6
        )


def test_crossing_reads_the_trajectory_at_the_path_peak():
    alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
    path_losses = [1.0, 1.4, 1.2, 0.6, 0.1]
    around = {"alpha": [0.0, 0.2, 0.3, 1.0], "loss": [1.0, 0.8, 0.6, 0.1]}
    found = crossing(around, alphas, path_losses, alpha_max=0.25)
    assert found["path_peak_loss"] == 1.4
    assert found["trajectory_loss_at_alpha_max"] == pytest.approx(0.7)
    assert found["through_barrier"] is False
    through = {"alpha": [0.0, 0.5, 1.0], "loss": [1.0, 1.8, 0.1]}
    assert crossing(through, alphas, path_losses, 0.25)["through_barrier"] is True


def test_largest_direction_off_line_is_the_trajectory_bend(mlp_setup):
    model, theta_i, theta_f, _ = mlp_setup
    keys = [name for name, _ in model.named_parameters()]
    generator = torch.Generator().manual_seed(5)
    bend = {k: torch.randn(v.shape, generator=generator) for k, v in theta_i.items()}
    states = [
        {k: torch.lerp(theta_i[k], theta_f[k], t) + 4 * t * (1 - t) * bend[k] for k in theta_i}
        for t in (0.0, 0.3, 0.6, 1.0)
    ]
    third = largest_direction_off_line(states, theta_i, theta_f, keys)
    found = flat_numpy(third, keys) - flat_numpy(theta_i, keys)
    d = flat_numpy(theta_f, keys) - flat_numpy(theta_i, keys)
    expected = flat_numpy(bend, keys)
    expected -= (expected @ d) / (d @ d) * d
    cosine = found @ expected / np.linalg.norm(found) / np.linalg.norm(expected)
    assert cosine == pytest.approx(1.0, abs=1e-6)
    assert np.linalg.norm(found) == pytest.approx(np.linalg.norm(d), rel=1e-6)


def test_kept_states_come_back_from_the_checkpoint_state(tmp_path):
    """A resumed callback keeps the states kept before the checkpoint, theta_i among them."""
    torch.manual_seed(0)
    before = {0: MLP((2,), 1, hidden=[4]).state_dict(), 2: MLP((2,), 1, hidden=[4]).state_dict()}
    callback = TrajectoryCallback(output_dir=str(tmp_path), every_n_epochs=2)
    callback.load_state_dict(copy.deepcopy(callback.state_dict() | {"kept": before}))
    resumed = SimpleNamespace(net=MLP((2,), 1, hidden=[4]))  # the weights "after 2 epochs"
    callback.on_fit_start(SimpleNamespace(is_global_zero=True), resumed)
    trainer = SimpleNamespace(sanity_checking=False, current_epoch=3)  # epoch 4 just ended
    callback.on_train_epoch_end(trainer, resumed)
    kept = callback.state_dict()["kept"]
    assert sorted(kept) == [0, 2, 4]
    assert torch.equal(kept[0]["fc1.weight"], before[0]["fc1.weight"])
    assert torch.equal(kept[4]["fc1.weight"], resumed.net.fc1.weight)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"every_n_epochs": 0}, "every_n_epochs must be >= 1"),
        ({"planes": {"diagonal": {}}}, "unknown plane 'diagonal'"),
        ({"planes": {"new_init": {"range": [1, 0]}}}, "low < high"),
        ({"planes": {"trajectory": {}}}, "needs states kept during training"),
    ],
)
def test_bad_options_fail_with_one_clear_line(tmp_path, options, message):
    with pytest.raises(TrajectoryError, match=message):
        TrajectoryCallback(output_dir=str(tmp_path), **options)


def test_spiral_run_keeps_its_trajectory_and_planes_hit_their_states(tmp_path):
    """A smoke run with beyond=trajectory: kept epochs, alpha_t from 0 to 1, and the new-init
    plane at theta_i and theta_f equal to the run's own path ends."""
    run_linpath(
        "experiment=spiral_mlp", *SMOKE, "beyond=trajectory", "trainer.max_epochs=4",
        "callbacks.trajectory.every_n_epochs=2", "callbacks.trajectory.epochs=[1]",
        "callbacks.trajectory.planes.new_init.points=5",
        "callbacks.trajectory.planes.trajectory.points=5", run_dir=tmp_path,
    )  # fmt: skip
    trajectory = json.loads((tmp_path / "trajectory.json").read_text())
    assert trajectory["epochs"] == [0, 1, 2, 4]
    full = trajectory["paths"]["full"]
    assert full["trajectory"]["alpha"][0] == 0.0
    assert full["trajectory"]["alpha"][-1] == pytest.approx(1.0, abs=1e-9)
    assert set(trajectory["paths"]) == {"full", "unit/fc1", "unit/fc2", "unit/fc3"}
    results = read_results(tmp_path)
    # one grid for both: the trajectory's straight path is the run's, point for point
    assert trajectory["alphas"] == results["alphas"]
    assert trajectory["paths"]["full"]["loss"] == results["paths"]["full"]["loss"]
    plane = json.loads((tmp_path / "planes.json").read_text())["new_init"]
    xs, ys = plane["xs"], plane["ys"]  # [-0.5, 0, 0.5, 1, 1.5]
    path = results["paths"]["full"]["loss"]
    assert plane["loss"][ys.index(0.0)][xs.index(0.0)] == pytest.approx(path[0], abs=1e-6)
    assert plane["loss"][ys.index(0.0)][xs.index(1.0)] == pytest.approx(path[-1], abs=1e-6)
    new_init = results["paths"]["final_to_new_init"]["loss"][-1]
    assert plane["loss"][ys.index(1.0)][xs.index(0.0)] == pytest.approx(new_init, abs=1e-6)
    for name in ("trajectory.png", "plane_new_init.png", "plane_trajectory.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_weights_biases_grid_diagonal_is_the_runs_full_path(tmp_path):
    run_linpath("experiment=bias_view", "data=digits", *SMOKE, "beyond=weights_biases",
                run_dir=tmp_path)  # fmt: skip
    results = read_results(tmp_path)
    grid = json.loads((tmp_path / "planes.json").read_text())["weights_biases"]
    assert grid["axes"] == ["alpha_w", "alpha_b"]
    on_grid = [nearest(grid["xs"], a) for a in results["alphas"]]  # the path's float32 alphas
    full = results["paths"]["full"]["loss"]
    assert [grid["loss"][j][j] for j in on_grid] == pytest.approx(full, abs=1e-6)
    assert max(full) - min(full) > 0.01  # two smoke epochs: a small but real descent


def nearest(grid: list[float], value: float) -> int:
    """Index of `value` on a grid written by an earlier version (float32 grid points)."""
    index = min(range(len(grid)), key=lambda i: abs(grid[i] - value))
    assert abs(grid[index] - value) < 1e-6, (value, grid)
    return index


def plane_corners_against_evaluate_state(run_dir, plane_name: str = "new_init") -> float:
    """Largest difference between a run's plane at theta_i, theta_f, theta_i' and
    `evaluate_state` of those states, rebuilt from the run's own overrides."""
    import yaml

    from callbacks.trajectory import eval_batches
    from run import build, compose_config
    from runs.evaluation import NEW_INIT_SEED_OFFSET

    overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())
    cfg = compose_config(*overrides, output_dir=run_dir / "rebuilt")
    datamodule, module, _ = build(cfg)
    spec = cfg.callbacks.trajectory
    data = eval_batches(datamodule, spec.eval_split, spec.max_eval_examples)
    plane = json.loads((run_dir / "planes.json").read_text())[plane_name]
    xs, ys = plane["xs"], plane["ys"]
    states = {
        (0.0, 0.0): torch.load(run_dir / "theta_i.pt"),
        (1.0, 0.0): torch.load(run_dir / "theta_f.pt"),
        (0.0, 1.0): module.fresh_net(cfg.seed + NEW_INIT_SEED_OFFSET).state_dict(),
    }
    differences = []
    for (x, y), state in states.items():
        module.net.load_state_dict(state)
        module.net.eval()
        loss, _ = evaluate_state(module.net, data, module.loss_name)
        row, column = nearest(ys, y), nearest(xs, x)
        differences.append(abs(plane["loss"][row][column] - loss))
    return max(differences)


@pytest.mark.slow
def test_resnet_smoke_plane_at_its_three_states_equals_evaluate_state(tmp_path):
    from sweeps.smoke_data import main as write_smoke_data

    write_smoke_data([str(tmp_path / "data")])
    run_dir = tmp_path / "run"
    run_linpath(
        "experiment=blockwise", *SMOKE, f"data.root={tmp_path / 'data'}",
        "data.check_integrity=false", "beyond=trajectory", "callbacks.trajectory.every_n_epochs=1",
        "callbacks.trajectory.epochs=[]", run_dir=run_dir,
    )  # fmt: skip
    assert plane_corners_against_evaluate_state(run_dir) < 1e-6


def test_a_bad_plane_option_is_one_line_before_training(tmp_path):
    result = run_linpath(
        "experiment=spiral_mlp", *SMOKE, "beyond=weights_biases",
        "callbacks.trajectory.planes.weights_biases.range=[1,0]", run_dir=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "linpath: error: plane 'weights_biases': range must be [low, high] with low < high, "
        "got [1, 0]"
    ]
    assert not (tmp_path / "theta_i.pt").exists()


@pytest.mark.slow
def test_kept_states_survive_a_checkpoint_resume(tmp_path):
    """3 + 3 epochs keep the same states as 6 straight: those before the checkpoint come
    back from it, theta_i among them."""
    common = ["experiment=spiral_mlp", *SMOKE, "seed=1", "trainer.deterministic=true"]
    common += ["beyond=trajectory", "callbacks.trajectory.every_n_epochs=1"]
    common += ["callbacks.trajectory.epochs=[]", "callbacks.trajectory.planes={}"]
    straight, half, resumed = tmp_path / "straight", tmp_path / "half", tmp_path / "resumed"
    run_linpath(*common, "trainer.max_epochs=6", run_dir=straight)
    run_linpath(*common, "trainer.max_epochs=3", "checkpoint=last", run_dir=half)
    last = half / "checkpoints" / "last.ckpt"
    run_linpath(*common, "trainer.max_epochs=6", f"ckpt_path={last}", run_dir=resumed)
    expected = torch.load(straight / "trajectory.pt")
    found = torch.load(resumed / "trajectory.pt")
    assert found["epochs"] == expected["epochs"] == [0, 1, 2, 3, 4, 5, 6]
    for want, got in zip(expected["states"], found["states"]):
        assert all(torch.equal(want[k], got[k]) for k in want)
