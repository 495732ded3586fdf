"""The ViT and the GPT-2 through run.py: the suite's other tools on them (weights x biases,
wandb, re-evaluation, reuse, bf16, DDP, planes and trajectory) and modular addition's
milestones."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pytest
import torch

from benchmarks.reference import reference_curve
from landscape import evaluate_paths, moving_keys
from lightning_modules.build import data_and_net_factory
from run import compose_config
from runs.figures import plot_run
from runs.identity import run_config
from runs.reevaluate import reevaluate
from runs.reuse import find_reusable, reuse_run
from tests.conftest import read_results, run_linpath
from tests.test_reevaluate import compose_reevaluate
from tests.test_trajectory import nearest

VIT = ("experiment=vit_digits", "scale=smoke", "seed=1")
MODADD = (
    "experiment=modadd", "scale=smoke", "trainer.max_epochs=1",
    "callbacks.milestones.milestones.memorised.metric=train/loss",
    "callbacks.milestones.milestones.memorised.at_least=0.0",
    "callbacks.milestones.milestones.generalised.at_least=2.0",
)  # fmt: skip
GROUP_PATHS = "interpolation.paths=[attention,mlp,layernorm,embeddings,unit/pos_embed]"


@pytest.fixture(scope="module")
def vit_run(tmp_path_factory):
    """A smoke ViT run with the weights x biases grid, logged to an offline wandb run."""
    run_dir = tmp_path_factory.mktemp("vit") / "run"
    run_linpath(*VIT, "beyond=weights_biases", "logger=wandb", run_dir=run_dir)
    return run_dir


def test_vit_run_has_transformer_units_and_its_grid_diagonal_is_the_full_path(vit_run):
    results = read_results(vit_run)
    assert "unit/blocks.0.attn" in results["paths"] and "unit/pos_embed" in results["paths"]
    grid = json.loads((vit_run / "planes.json").read_text())["weights_biases"]
    on_grid = [nearest(grid["xs"], a) for a in results["alphas"]]
    full = results["paths"]["full"]["loss"]
    # pos_embed and cls_token move with the weights: the diagonal moves every parameter
    assert [grid["loss"][j][j] for j in on_grid] == pytest.approx(full, abs=1e-6)
    assert max(full) - min(full) > 1e-4  # two smoke epochs move it a little, not float noise
    assert list((vit_run / "wandb").glob("offline-run-*"))


def test_a_run_figure_lists_every_unit_once_under_panels_of_full_width(vit_run, monkeypatch):
    """A transformer's 20-odd paths: one legend in two columns below both panels, which keep
    their width (a legend beside them took most of it)."""
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    results = read_results(vit_run)
    plot_run(results, vit_run / "again.png")
    (fig,) = kept
    assert [ax.get_legend() for ax in fig.axes] == [None, None]
    (legend,) = fig.legends
    shown = [text.get_text().split("  [")[0] for text in legend.get_texts()]
    assert len(shown) == len(set(shown)) == len(results["paths"]) > 12
    assert legend._ncols == 2
    assert all(ax.get_position().width > 0.35 for ax in fig.axes)
    plt.close(fig)


def test_reevaluated_groups_are_the_plain_loop_on_the_run_files(vit_run):
    overrides = (f"run_dir={vit_run}", GROUP_PATHS, "name=groups")
    look = read_results(reevaluate(compose_reevaluate(*overrides), overrides))
    datamodule, net_factory = data_and_net_factory(run_config(vit_run))
    net = net_factory()
    theta_i, theta_f = (torch.load(vit_run / f"theta_{w}.pt") for w in "if")
    inputs, targets = datamodule.split("test")
    limit = run_config(vit_run).interpolation.max_eval_examples
    for path in ("attention", "embeddings", "unit/pos_embed"):
        moving = moving_keys(net, theta_f, path)
        loss, _ = reference_curve(net, theta_i, theta_f, moving,
                                  (inputs[:limit], targets[:limit]), look["alphas"])  # fmt: skip
        assert look["paths"][path]["loss"] == pytest.approx(loss, abs=1e-5), path
    assert look["paths"]["attention"]["loss"] != look["paths"]["mlp"]["loss"]  # other entries


def test_a_finished_vit_run_is_reused_not_trained(vit_run):
    for extra in ((), ("interpolation.units=stages",), ("logger=none",)):
        assert find_reusable(compose_config(*VIT, *extra), roots=[vit_run.parent]) == vit_run
    assert find_reusable(compose_config(*VIT, "model.depth=2"), roots=[vit_run.parent]) is None


def test_bf16_mixed_vit_writes_fp32_curves(tmp_path):
    from run import build

    cfg = compose_config(*VIT, "trainer.max_epochs=1", "trainer.precision=bf16-mixed",
                         "interpolation.paths=[full]", "interpolation.figure=false",
                         "logger=none", output_dir=tmp_path)  # fmt: skip
    datamodule, module, trainer = build(cfg)
    trainer.fit(module, datamodule=datamodule)
    results = read_results(tmp_path)
    theta_i, theta_f = (torch.load(tmp_path / f"theta_{end}.pt") for end in "if")
    assert all(v.dtype == torch.float32 for v in theta_f.values() if v.is_floating_point())
    inputs, targets = datamodule.split("test")
    curve = evaluate_paths(module.net, theta_i, theta_f, (inputs[:256], targets[:256]),
                           results["alphas"])  # fmt: skip
    assert results["paths"]["full"]["loss"] == pytest.approx(curve["full"]["loss"], rel=1e-5)


def test_modular_addition_keeps_its_milestone_states(tmp_path):
    """One epoch: the memorised milestone (here: any training loss) is theta_f, so the
    path to it is the run's own full path; a milestone never reached says so."""
    run_linpath(*MODADD, run_dir=tmp_path)
    results = read_results(tmp_path)
    report = json.loads((tmp_path / "milestones.json").read_text())
    memorised, generalised = (report["milestones"][n] for n in ("memorised", "generalised"))
    assert memorised["epoch"] == 1 and generalised["epoch"] is None
    assert report["alphas"] == results["alphas"]
    for path in ("full", "unit/transformer.h.0", "unit/lm_head"):
        assert memorised["paths"][path]["loss"] == pytest.approx(
            results["paths"][path]["loss"], abs=1e-6
        ), path
        assert memorised["paths"][path]["shape"] == results["paths"][path]["shape"]
    assert memorised["test_acc"] == pytest.approx(results["final"]["test_acc"])
    assert (tmp_path / "milestones.png").is_file()
    # a reused run carries them: no evaluation could make them again from theta_i, theta_f
    reused = tmp_path.parent / f"{tmp_path.name}_reused"
    reuse_run(compose_config(*MODADD, output_dir=reused), tmp_path.resolve(), reused)
    assert json.loads((reused / "milestones.json").read_text()) == report


@pytest.mark.slow
def test_vit_trajectory_and_planes(tmp_path):
    run_linpath(*VIT, "beyond=trajectory", "callbacks.trajectory.every_n_epochs=1",
                run_dir=tmp_path)  # fmt: skip
    trajectory = json.loads((tmp_path / "trajectory.json").read_text())
    assert "unit/blocks.0" in trajectory["paths"]  # the trajectory's own units: stages
    planes = json.loads((tmp_path / "planes.json").read_text())
    assert set(planes) == {"new_init", "trajectory"}


@pytest.mark.slow
def test_vit_ddp_writes_one_run_with_the_single_process_theta_i(tmp_path):
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    run_linpath(*VIT, run_dir=single)
    result = run_linpath(*VIT, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
                         run_dir=ddp)  # fmt: skip
    assert "GLOBAL_RANK: 1" in result.stderr + result.stdout
    assert (ddp / "theta_i.pt").read_bytes() == (single / "theta_i.pt").read_bytes()
    assert set(read_results(ddp)["paths"]) == set(read_results(single)["paths"])
