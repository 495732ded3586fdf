"""The catalogue's experiments: every sweep point composes, staged runs chain through run.py,
the bias view measures what it says, and (slow) every experiment runs at smoke scale."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from landscape import interpolate_state
from landscape.biases import last_layer_bias_spread
from lightning_modules.config_checks import check_config
from lightning_modules.models import MLP, resnet
from paper import settings
from run import compose_config
from tests.conftest import EXPERIMENTS, REPO, read_results, run_linpath

# seeds of the intervention, optimizer and MLP rows: the paper's 10, 5 for barrier_init
SEEDS = {
    **dict.fromkeys(
        ["pretrained", "random_labels", "partial_pretraining", "blockwise_adversarial"], 10
    ),
    **dict.fromkeys(["data_fraction", "augmentation", "weight_decay", "fixed_lr"], 10),
    **dict.fromkeys(["layer_lr", "layer_lr_wd", "narrowing", "bias_view", "bias_view_resnet"], 10),
    "barrier_init": 5,
    "mlp_width": 10,
}


def sweep_points(experiment: str) -> tuple[list[tuple[str, ...]], int | None]:
    """The overrides of every point of the experiment's smoke sweep (seed aside), and its
    number of seeds."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = OmegaConf.load(REPO / "conf" / "experiment" / f"{experiment}.yaml").hydra.sweeper
    seeds = params.params.get("seed")
    if seeds is not None:
        seed_axis = OverridesParser.create().parse_overrides([f"seed={seeds}"])[0]
        seeds = len(list(seed_axis.sweep_string_iterator()))
    return settings.sweep_points([f"experiment={experiment}", "scale=smoke"]), seeds


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_sweep_point_composes(experiment, tmp_path):
    points, seeds = sweep_points(experiment)
    if experiment in SEEDS:
        assert seeds == SEEDS[experiment]
    for point in points:
        cfg = compose_config(*point)
        assert cfg.experiment_name == experiment
        if OmegaConf.is_missing(cfg.init, "from_run") or cfg.init.get("source") == "trained":
            cfg.init.from_run = "/earlier/run"  # a staged run: its earlier stage gives it
        check_config(cfg)  # every value and relation the run checks before training


def test_table2_rows_set_b_and_the_rest():
    lr_b = compose_config("experiment=layer_lr_wd", "table2=lr_b")
    assert list(lr_b.optim.groups.B.units) == ["layer2", "layer3", "layer4.0"]
    assert (lr_b.optim.groups.B.lr, lr_b.optimizer.lr) == (0.1, 0.01)
    wd_nb = compose_config("experiment=layer_lr_wd", "table2=wd_nb")
    assert (wd_nb.optim.groups.B.weight_decay, wd_nb.optimizer.weight_decay) == (0.0, 5e-4)
    imagenet = compose_config("experiment=pretrained", "start=imagenet")
    assert imagenet.init._target_.endswith("load_pretrained")
    assert (imagenet.optimizer.lr, list(imagenet.scheduler.milestones)) == (0.001, [30])


def test_table_a4_narrows_exactly_the_captions_layers():
    """Built from each row's config: 8 conv layers and 1 FC layer, as the caption; the rows
    halve conv 1, 2, 8 (no barrier), then conv 3, conv 3-4, conv 3-7 (barriers)."""
    from hydra.utils import instantiate

    points = settings.sweep_points(["experiment=narrowing"])  # full width
    rows = []
    for point in points:
        cfg = compose_config(*point)
        net = instantiate(cfg.model)(input_shape=(3, 32, 32), num_outputs=10)
        convs = [m.out_channels for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
        linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
        assert len(convs) == 8 and len(linears) == 1 and linears[0].in_features == convs[-1]
        rows.append(convs)
    standard = [64, 128, 256, 256, 512, 512, 512, 512]  # VGG-11
    assert rows[0] == standard
    halved = [[i + 1 for i, (a, b) in enumerate(zip(standard, row)) if b != a] for row in rows]
    assert halved == [[], [1, 2, 8], [3], [3, 4], [3, 4, 5, 6, 7]]
    for row, layers in zip(rows, halved):
        assert all(row[i - 1] * 2 == standard[i - 1] for i in layers)


def test_every_vgg_target_composes_the_same_network():
    """Fig. 9, A16, A19, Table 2 and Table A4 (its standard row): one VGG-11, 8 conv + 1 FC
    with the standard widths, BN aside; group B of the lr/WD targets is its conv 3-7."""
    from paper.targets import TARGETS

    networks, groups = set(), set()
    for target in TARGETS.values():
        for sweep in target.sweeps:
            overrides = [f"experiment={sweep.experiment}", *sweep.overrides]
            for point in settings.sweep_points(overrides):
                cfg = settings.compose_point(point)
                if not cfg.model._target_.endswith("VGG"):
                    continue
                model = OmegaConf.to_container(cfg.model)
                model.pop("batch_norm")
                if model["widths"] == [64, 128, 256, 256, 512, 512, 512, 512]:
                    networks.add(json.dumps(model, sort_keys=True))
                if cfg.optim.groups:
                    groups.add(tuple(cfg.optim.groups.B.units))
    assert len(networks) == 1 and json.loads(networks.pop())["fc_layers"] == 1
    convs = [f"features.{i}" for i in (8, 11, 15, 18, 22)]  # conv 3-7 of VGG-11-BN
    assert groups == {tuple(convs)}
    from lightning_modules.models import VGG

    net = VGG((3, 32, 32), 10)
    assert [type(net.features[int(c.split(".")[1])]).__name__ for c in convs] == ["Conv2d"] * 5


def test_fig9_unit_paths_split_the_blocks_its_lr_groups_split():
    """Group B holds layer4.0, not layer4.1: the unit paths show the two apart."""
    from landscape import discover_units
    from paper.targets import TARGETS

    resnet_sweep = TARGETS["fig9"].sweeps[0]
    cfg = compose_config(f"experiment={resnet_sweep.experiment}")
    units = discover_units(resnet((3, 32, 32), 10), cfg.interpolation.units)
    assert {"layer4.0", "layer4.1"} <= set(units) and "layer4" not in units
    assert set(cfg.optim.groups.B.units) == {"layer2", "layer3", "layer4.0"}


# ---- the bias view --------------------------------------------------------------------


def test_last_layer_bias_spread_of_class_biases():
    torch.manual_seed(0)
    net = MLP((3,), 4, hidden=[5])
    theta_i = {k: v.clone() for k, v in net.state_dict().items()}
    theta_f = {**theta_i, "fc2.bias": torch.tensor([1.0, -1.0, 3.0, -3.0])}
    spread = last_layer_bias_spread(net, theta_i, theta_f)
    assert spread["layer"] == "fc2"
    assert spread["theta_f"]["range"] == 6.0
    assert spread["theta_f"]["std"] == pytest.approx(5**0.5)  # mean 0, squares 1, 1, 9, 9
    assert spread["theta_i"]["values"] == pytest.approx(theta_i["fc2.bias"].tolist())


def test_one_logit_bias_spread_is_its_distance_to_the_other_class():
    net = MLP((2,), 1, hidden=[3])
    state = {**net.state_dict(), "fc2.bias": torch.tensor([-0.8])}
    spread = last_layer_bias_spread(net, state, state)["theta_f"]
    assert spread["range"] == pytest.approx(0.8) and spread["std"] == pytest.approx(0.4)


def test_resnet_output_layer_is_fc():
    net = resnet((3, 32, 32), 10, width=0.125)
    state = net.state_dict()
    assert last_layer_bias_spread(net, state, state)["layer"] == "fc"


def test_bias_view_mlp_records_paths_and_spread(tmp_path):
    run_linpath("experiment=bias_view", "data=digits", "scale=smoke", run_dir=tmp_path)
    results = read_results(tmp_path)
    assert list(results["paths"]) == ["full", "weights", "biases"]
    spread = results["extras"]["last_layer_bias_spread"]
    theta_f = torch.load(tmp_path / "theta_f.pt")
    assert spread["layer"] == "fc3"
    assert spread["theta_f"]["std"] == pytest.approx(
        float(theta_f["fc3.bias"].double().std(correction=0))
    )
    assert results["init"] == {"name": "random"}


# ---- staged runs through run.py ---------------------------------------------------------


@pytest.fixture(scope="module")
def base_spiral_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("base")
    run_linpath("scale=smoke", "seed=4", "interpolation.paths=[full,unit/*]", run_dir=run_dir)
    return run_dir


def test_partial_init_and_groups_from_chain_through_run_py(base_spiral_run, tmp_path):
    run_linpath(
        "scale=smoke",
        "seed=4",
        "init=partial",
        "init.unit=fc2",
        f"init.from_run={base_spiral_run}",
        f"optim.groups_from={base_spiral_run}",
        "+optim.groups.B={lr:0.001}",
        run_dir=tmp_path,
    )
    results = read_results(tmp_path)
    assert results["init"]["name"] == "partial" and results["init"]["unit"] == "fc2"
    initial = torch.load(base_spiral_run / "theta_i.pt")  # the trained run's own init
    trained = torch.load(base_spiral_run / "theta_f.pt")
    theta_i = torch.load(tmp_path / "theta_i.pt")
    for key, value in theta_i.items():
        assert torch.equal(value, initial[key] if key.startswith("fc2.") else trained[key]), key


def marked_copy(run_dir, to, shape: str, peak: float = 0.5):
    """A copy of a run whose full path is marked with `shape` and a barrier peaking at
    alpha `peak` (two smoke epochs make a barrier only sometimes)."""
    to.mkdir()
    for name in ("theta_i.pt", "theta_f.pt"):
        (to / name).write_bytes((run_dir / name).read_bytes())
    results = read_results(run_dir)
    results["paths"]["full"].update(shape=shape, barrier_start_alpha=0.0, barrier_peak_alpha=peak)
    (to / "results.json").write_text(json.dumps(results))
    return to


def test_barrier_init_through_run_py_starts_at_theta_alpha(base_spiral_run, tmp_path):
    source = marked_copy(base_spiral_run, tmp_path / "source", "B", peak=0.5)
    run_dir = tmp_path / "run"
    run_linpath(
        "scale=smoke",
        "seed=4",
        "init=barrier",
        f"init.from_run={source}",
        "init.offset=-1",
        run_dir=run_dir,
    )
    assert read_results(run_dir)["init"]["alpha"] == pytest.approx(0.4)
    expected = interpolate_state(
        torch.load(source / "theta_i.pt"), torch.load(source / "theta_f.pt"), 0.4
    )
    for key, value in torch.load(run_dir / "theta_i.pt").items():
        assert torch.equal(value, expected[key]), key


def test_barrier_init_of_a_run_without_barrier_is_one_line(base_spiral_run, tmp_path):
    source = marked_copy(base_spiral_run, tmp_path / "source", "NB")
    run_dir = tmp_path / "run"
    result = run_linpath(
        "scale=smoke", "init=barrier", f"init.from_run={source}", run_dir=run_dir, check=False
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("linpath: error")]
    assert len(errors) == 1 and "has shape NB" in errors[0] and str(source) in errors[0]
    assert not (run_dir / "theta_i.pt").exists()


# ---- slow: every experiment, staged ones included, at smoke scale ------------------------


def multirun(*overrides: str, sweep_dir) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "WANDB_MODE": "offline"}
    command = [sys.executable, "run.py", "-m", *overrides, f"hydra.sweep.dir={sweep_dir}"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise AssertionError(f"{overrides} failed:\n{result.stdout[-3000:]}\n{result.stderr}")


@pytest.fixture(scope="module")
def smoke_world(tmp_path_factory):
    """CIFAR and MNIST fixtures, ImageNet-format weights, and the earlier runs staged
    experiments start from (a base run marked with a barrier; a random-label run)."""
    from lightning_modules.data.stand_ins import write_cifar10, write_mnist
    from sweeps.smoke_data import write_vit_stand_in

    root = tmp_path_factory.mktemp("smoke")
    write_cifar10(root / "data", 512, 256)
    write_mnist(root / "data", 512, 256)
    torch.manual_seed(0)
    weights = root / "imagenet_resnet18.pth"
    torch.save(resnet((3, 32, 32), 1000, width=0.0625).state_dict(), weights)
    vit_weights = write_vit_stand_in(root / "huggingface", 0.0625)
    # the fixtures are smaller than the real sets: read them as they are
    files = ["scale=smoke", "seed=0", f"data.root={root / 'data'}", "data.check_integrity=false"]
    multirun(
        "experiment=weight_decay",
        "optimizer.weight_decay=0.0",
        *files,
        "interpolation.paths=[full,unit/*]",
        sweep_dir=root / "base",
    )
    marked_copy(root / "base" / "0", root / "barrier_source", "B")
    multirun(
        "experiment=random_labels", "init=random_labels", *files, sweep_dir=root / "random_labels"
    )
    return {
        "files": files,
        "staged": {
            "barrier_init": [f"init.from_run={root / 'barrier_source'}"],
            "partial_pretraining": [
                f"init.from_run={root / 'base'}",
                f"pretrained_weights={weights}",
            ],
            "blockwise_adversarial": [f"init.from_run={root / 'random_labels'}"],
            "pretrained": [f"pretrained_weights={weights}"],
            "vit_pretrained": [f"pretrained_weights={vit_weights}"],
        },
        "root": root,
    }


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_at_smoke_scale(experiment, smoke_world):
    without_files = "root" not in compose_config(f"experiment={experiment}").data  # generated
    overrides = ["scale=smoke", "seed=0"] if without_files else smoke_world["files"]
    sweep_dir = smoke_world["root"] / "runs" / experiment
    multirun(
        f"experiment={experiment}",
        *overrides,
        *smoke_world["staged"].get(experiment, []),
        sweep_dir=sweep_dir,
    )
    points, _ = sweep_points(experiment)
    jobs = sorted(p.parent for p in sweep_dir.glob("*/results.json"))
    assert len(jobs) == len(points)
    for job in jobs:
        assert read_results(job)["experiment"] == experiment
