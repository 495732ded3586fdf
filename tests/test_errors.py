"""Bad input ends in one `linpath: error:` line and a non-zero exit; NaN does not end a run."""

from __future__ import annotations

import io
import json
import math
import re
from types import SimpleNamespace

import pytest
import torch

from callbacks import InterpolationCallback
from landscape.errors import LinpathError
from landscape.paths import PathError
from landscape.state_files import StateFileError, check_state_fits, load_state_for
from lightning_modules import Classifier
from lightning_modules.data import SpiralDataModule
from lightning_modules.models import MLP
from run import check_config_choices
from runs.artifacts import save_json_atomic
from runs.evaluation import barrier_location
from runs.figures import plot_run
from tests.conftest import run_linpath

SMOKE = ["experiment=spiral_mlp", "scale=smoke", "logger=none"]


def error_line(result) -> str:
    """The single `linpath: error:` line of a failed run; no traceback anywhere."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("linpath: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_unknown_experiment_lists_the_valid_ones(tmp_path):
    line = error_line(run_linpath("experiment=spiral_mpl", run_dir=tmp_path, check=False))
    assert "unknown experiment 'spiral_mpl'" in line and "'spiral_mlp'" in line


@pytest.mark.parametrize(
    "override, message",
    [
        ("model=resnet99", "unknown model 'resnet99'; expected one of ['gpt2', 'mlp'"),
        ("data=spiral,cifar9", "unknown data 'cifar9'; expected one of ['cifar10', 'cifar100'"),
        ("logger=tensorboard", "unknown logger 'tensorboard'; expected one of ['csv'"),
    ],
)
def test_unknown_group_choices(override, message):
    with pytest.raises(LinpathError, match=re.escape(message)):
        check_config_choices([override])


@pytest.mark.parametrize(
    "good, bad",
    [
        ("model=mlp", "model=mlpp"),
        ("data=spiral,cifar10", "data=spiral,cifar1"),  # every value of a sweep is checked
        ("experiment=glob(*)", "experiment=spiral"),  # a glob picks among what exists
        ("hydra/launcher=joblib", "model=joblib"),  # Hydra's own groups are Hydra's to check
    ],
)
def test_known_choices_and_globs_pass_and_one_wrong_letter_does_not(good, bad):
    assert check_config_choices([good, "seed=1,2"]) is None
    with pytest.raises(LinpathError, match=f"unknown {bad.split('=')[0]} '"):
        check_config_choices([bad, "seed=1,2"])


def test_truncated_checkpoint(tmp_path):
    buffer = io.BytesIO()
    torch.save({"state_dict": MLP((2,), 1).state_dict()}, buffer)
    ckpt = tmp_path / "last.ckpt"
    ckpt.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    line = error_line(run_linpath(*SMOKE, f"ckpt_path={ckpt}", run_dir=tmp_path, check=False))
    assert f"cannot read {ckpt}" in line and "truncated" in line
    assert not (tmp_path / "theta_i.pt").exists()


def test_checkpoint_of_another_architecture(tmp_path):
    other = MLP((2,), 1, hidden=[8])  # the spiral net has [50, 50]
    ckpt = tmp_path / "other.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in other.state_dict().items()}}, ckpt)
    line = error_line(run_linpath(*SMOKE, f"ckpt_path={ckpt}", run_dir=tmp_path, check=False))
    assert "is not a state of this MLP" in line and "fc3.weight" in line


def test_theta_file_checks(tmp_path):
    net = MLP((2,), 1, hidden=[4])
    good = tmp_path / "theta.pt"
    torch.save(net.state_dict(), good)
    assert load_state_for(good, net).keys() == net.state_dict().keys()
    with pytest.raises(StateFileError, match="fc1.weight has shape"):
        load_state_for(good, MLP((3,), 1, hidden=[4]))
    with pytest.raises(StateFileError, match="missing .'fc3.weight'"):
        load_state_for(good, MLP((2,), 1, hidden=[4, 4]))
    with pytest.raises(StateFileError, match="no such file"):
        load_state_for(tmp_path / "absent.pt", net)
    (tmp_path / "text.pt").write_text("not a torch file")
    with pytest.raises(StateFileError, match="cannot read"):
        load_state_for(tmp_path / "text.pt", net)
    with pytest.raises(StateFileError, match="not a state dict"):
        check_state_fits([1, 2], net, "x")


def setup_with(tmp_path, **options) -> None:
    callback = InterpolationCallback(output_dir=str(tmp_path), **options)
    module = SimpleNamespace(net=MLP((2,), 1, hidden=[4, 4]))
    callback.setup(SimpleNamespace(ckpt_path=None), module, "fit")


def test_units_must_be_modules(tmp_path):
    setup_with(tmp_path, units=["fc1", "fc3"], paths=["unit/fc1"])  # fine
    with pytest.raises(PathError, match="'fc9' is not a module of MLP; modules: .'fc1'"):
        setup_with(tmp_path, units={"head": ["fc3", "fc9"]}, paths=["full"])
    with pytest.raises(PathError, match="unknown unit 'fc1.weight'"):
        setup_with(tmp_path, paths=["unit/fc1.weight"])


def test_nonfinite_losses_are_null_and_the_shape_says_so(tmp_path):
    torch.manual_seed(0)
    module = Classifier(lambda: MLP((2,), 1, hidden=[4]), torch.optim.SGD, loss="bce")
    data = SpiralDataModule(train_size=32, test_size=16, val_size=8)
    data.setup()
    alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
    callback = InterpolationCallback(output_dir=str(tmp_path), alphas=alphas, paths=["full"])
    theta = {k: v.clone() for k, v in module.net.state_dict().items()}
    callback.theta_init = {k: v * math.nan for k, v in theta.items()}  # distance is NaN
    curves = {"full": {"loss": [1.0, math.inf, math.nan, 0.5, 0.2], "acc": [0.5] * 5}}
    results = callback.evaluation.results(
        module.net, "bce", data, callback.theta_init, theta, {"test/interpolate": curves}, {}
    )
    save_json_atomic(results, tmp_path / "results.json")  # strict JSON: would fail on NaN
    written = json.loads((tmp_path / "results.json").read_text())
    full = written["paths"]["full"]
    assert full["loss"] == [1.0, None, None, 0.5, 0.2]
    assert full["nonfinite"] == 2 and full["shape"] == full["strict_shape"] == "nonfinite"
    assert written["distance"] is None
    plot_run(written, tmp_path / "interpolation.png")  # the figure skips the gaps
    assert (tmp_path / "interpolation.png").stat().st_size > 0


def test_a_grid_with_too_few_points_between_the_ends_is_not_judged(tmp_path):
    """alphas [-0.5, 0.2, 0.8, 1.5]: two points in [0, 1], so no shape and a note; the
    summary says where a barrier is, and a capped random-label pre-stage is a warning."""
    from runs.evaluation import summary_table

    module = Classifier(lambda: MLP((2,), 1, hidden=[4]), torch.optim.SGD, loss="bce")
    data = SpiralDataModule(train_size=32, test_size=16, val_size=8)
    data.setup()
    theta = {k: v.clone() for k, v in module.net.state_dict().items()}
    alphas = [-0.5, 0.2, 0.8, 1.5]
    callback = InterpolationCallback(
        output_dir=str(tmp_path), alphas=alphas, paths=["full"], end_rise_as_barrier=True
    )
    curves = {"full": {"loss": [9.0, 1.0, 0.5, 0.1], "acc": [0.5] * 4}}
    init = {"name": "random_labels", "max_epochs": 3, "train_acc": 0.5, "reached_100": False}
    results = callback.evaluation.results(
        module.net, "bce", data, theta, theta, {"test/interpolate": curves}, {"init": init}
    )
    full = results["paths"]["full"]
    assert full["shape"] is full["strict_shape"] is full["alpha_max"] is None
    assert full["note"].startswith("not judged: 2 grid point(s) with 0 <= alpha <= 1")
    assert results["end_rise_as_barrier"] is True
    table = summary_table(results).splitlines()
    assert table[1].split()[1:] == ["-"] * 5
    assert table[-1] == (
        "WARNING: the random-label pre-stage stopped at its cap of 3 epochs with 50.00% "
        "eval-mode accuracy on the random labels, not 100%"
    )
    bump = [2.3, 1.6, 1.0, 1.4, 0.2]
    callback = InterpolationCallback(output_dir=str(tmp_path), alphas=5, paths=["full"])
    curves = {"full": {"loss": bump, "acc": [0.5] * 5}}
    results = callback.evaluation.results(
        module.net, "bce", data, theta, theta, {"test/interpolate": curves}, {}
    )
    assert summary_table(results).splitlines()[1].endswith("0.50 -> 0.75")


def test_an_interrupted_write_leaves_the_old_file_and_no_debris(tmp_path):
    target = tmp_path / "results.json"
    save_json_atomic({"complete": True}, target)
    with pytest.raises(ValueError):
        save_json_atomic({"loss": math.nan}, target)  # fails half way through json.dump
    assert json.loads(target.read_text()) == {"complete": True}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_diverged_run_reads_honestly(tmp_path):
    """theta_f full of NaN: accuracy null (not the class prior), the paths through it say
    why they are empty, the figure's panels too, and the summary stays in columns."""
    import matplotlib.pyplot as plt

    from landscape import evaluate_paths
    from runs.evaluation import summary_table
    from runs.figures import curves_frame, draw_curves, empty_reason, path_label, path_style

    torch.manual_seed(0)
    module = Classifier(lambda: MLP((2,), 1, hidden=[4]), torch.optim.SGD, loss="bce")
    data = SpiralDataModule(train_size=32, test_size=16, val_size=8)
    data.setup()
    theta_i = {k: v.clone() for k, v in module.net.state_dict().items()}
    theta_f = {k: v * math.nan for k, v in theta_i.items()}
    alphas = [0.0, 0.5, 1.0]
    callback = InterpolationCallback(output_dir=str(tmp_path), alphas=alphas, paths=["full"])
    callback.theta_init = theta_i
    curves = evaluate_paths(
        module.net, theta_i, theta_f, data.split("test", "cpu"), alphas, ["full"], loss="bce"
    )
    # (1 - alpha) theta_i + alpha NaN is NaN even at alpha = 0: no point of the path is finite
    assert all(math.isnan(v) for v in curves["full"]["acc"])  # argmax over NaN: not an accuracy
    module.net.load_state_dict(theta_f)
    evaluated = callback.evaluation.results(
        module.net, "bce", data, theta_i, theta_f, {"test/interpolate": curves}, callback.header()
    )
    results = json.loads(json.dumps(evaluated))
    full = results["paths"]["full"]
    assert results["diverged"] is True and results["final"]["test_acc"] is None
    assert full["acc"] == [None] * 3 and full["loss"] == [None] * 3
    assert (
        full["note"] == "no finite loss on this path: theta_f holds NaN or inf (training diverged)"
    )
    table = summary_table(results).splitlines()
    assert len(table[0]) == len(table[1]) and table[2].startswith("training diverged")
    fig, ax = plt.subplots()
    draw_curves(ax, curves_frame(results), "loss", "path", path_style, False, empty_reason(results))
    assert "no finite loss: theta_f holds NaN or inf" in ax.texts[0].get_text()
    assert ax.get_legend_handles_labels()[1] == [f"{path_label('full')} (no finite point)"]
    plt.close(fig)


def test_written_files_follow_the_umask_like_every_other_file(tmp_path):
    import os

    old = os.umask(0o002)
    try:
        save_json_atomic({"a": 1}, tmp_path / "results.json")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    mode = (tmp_path / "results.json").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain.txt").stat().st_mode & 0o777 == 0o664


def test_a_finite_blow_up_is_diverged_too(tmp_path, capsys):
    """lr=1e4: the loss explodes to ~1e14 with chance accuracy, every weight still finite."""
    from tests.conftest import read_results, run_in_process

    run = ["experiment=spiral_mlp", "scale=smoke", "logger=none", "optimizer.lr=1e4"]
    code, output = run_in_process([*run, f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 0, output
    results = read_results(tmp_path)
    assert results["final"]["test_loss"] > 1e6 and results["final"]["test_acc"] <= 0.51
    assert results["diverged"] is True
    assert (
        "times the loss at theta_i" in results["divergence"] and "chance" in results["divergence"]
    )
    assert "training diverged: test loss" in output  # the summary the run ends with
    assert "training diverged: test loss" in (tmp_path / "run.log").read_text()
    sane = tmp_path / "sane"
    code, output = run_in_process([*run[:-1], f"hydra.run.dir={sane}"], capsys)
    assert read_results(sane)["diverged"] is False and read_results(sane)["divergence"] is None


def test_a_path_read_from_theta_f_gives_its_barrier_from_the_untrained_end_as_drawn():
    """final_to_new_init is stored theta_f -> theta_i' and drawn theta_i' -> theta_f: the
    table says where its barrier is on the figure, not on the stored grid."""
    entry = {"read_from_end": True, "barrier_start_alpha": 0.6, "barrier_peak_alpha": 0.2}
    assert barrier_location(entry) == "0.40 -> 0.80"
    assert barrier_location({**entry, "read_from_end": False}) == "0.60 -> 0.20"
