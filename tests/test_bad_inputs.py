"""A user's mistakes, typed as `python run.py ...`: each is one `linpath: error:` line naming
the key, exit 2, no traceback, nothing written and no training step taken.

Most inputs run run.py's own entry point (`run.cli`) in this process, which is what the
command line does minus the interpreter start; a few go through a real `python run.py`.
"""

from __future__ import annotations

import pytest

from lightning_modules import Classifier
from tests.conftest import run_in_process, run_linpath

SPIRAL = ["experiment=spiral_mlp", "scale=smoke", "logger=none"]
CIFAR = ["experiment=blockwise", "scale=smoke", "logger=none"]

# (arguments, what the error line must name)
BAD_INPUTS = [
    # the examples of the issue that used to leak Hydra's wrapper or a late traceback
    (["interpolation.units=foo"], "interpolation.units='foo'"),
    (["interpolation.bn=foo"], "interpolation.bn='foo'"),
    (["interpolation.alphas=1"], "interpolation.alphas=1"),
    ([*CIFAR, "data.train_fraction=0"], "data.train_fraction=0"),
    (["interpolation.eval_split=bogus"], "interpolation.eval_split='bogus'"),
    (["interpolation.max_eval_examples=0"], "interpolation.max_eval_examples=0"),
    (["interpolation.paths=full"], "interpolation.paths='full'"),
    # plain mistakes
    (["seed=-1"], "seed=-1"),
    (["seed=abc"], "seed='abc'"),
    (["seed=1.5"], "seed=1.5"),
    (["optimizer.lr=-0.1"], "optimizer.lr=-0.1"),
    (["optimizer.lr=0"], "optimizer.lr=0"),
    (["optimizer.weight_decay=-1"], "optimizer.weight_decay=-1"),
    (["model.hidden=[50,0]"], "model.hidden=[50, 0]"),
    (["model.hidden=abc"], "model.hidden='abc'"),
    (["data.batch_size=0"], "data.batch_size=0"),
    (["+data.eval_batch_size=0"], "data.eval_batch_size=0"),
    (["interpolation.alpha=5"], "interpolation.alpha: no such key in the config (a typo?)"),
    (["seed=["], "no viable alternative at input '['"),
    (["data.train_size=0"], "data.train_size=0"),
    (["data.test_size=0"], "data.test_size=0"),
    (["data.noise=-0.1"], "data.noise=-0.1"),
    (["threads=0"], "threads=0"),
    (["steps_per_call=0"], "steps_per_call=0"),
    (["experiment_name=''"], "experiment_name=''"),
    (["trainer.max_epochs=0"], "trainer.max_epochs=0"),
    (["trainer.max_epochs=-1"], "trainer.max_epochs=-1"),
    (["trainer.max_steps=0"], "trainer.max_steps=0"),
    (["trainer.devices=0"], "trainer.devices=0"),
    (["trainer.precision=8"], "trainer.precision=8"),
    (["trainer.accelerator=abacus"], "trainer.accelerator='abacus'"),
    (["trainer.channels_last=yes"], "trainer.channels_last='yes'"),
    (["progress=fancy"], "progress='fancy': expected one of ['auto', 'bar', 'lines', 'none']"),
    # silent nonsense, refused
    (["interpolation.alphas=[0,0.5,0.5,1]"], "interpolation.alphas=[0, 0.5, 0.5, 1]"),
    (["interpolation.alphas=[1,0.5,0]"], "interpolation.alphas=[1, 0.5, 0]"),
    (["interpolation.alphas=[0.5]"], "interpolation.alphas=[0.5]"),
    (["interpolation.alphas=abc"], "interpolation.alphas='abc'"),
    (["interpolation.thresholds.barrier_rise=-1"], "interpolation.thresholds.barrier_rise=-1"),
    (["+interpolation.thresholds.barier_rise=0.1"], "keys from ['barrier_rise'"),
    (["interpolation.bn=recompute", "interpolation.bn_batches=0"], "interpolation.bn_batches=0"),
    (["interpolation.units=[]", "interpolation.paths=[full,unit/*]"], "interpolation.units=[]"),
    (["interpolation.units={head:[]}"], "interpolation.units={'head': []}"),
    (["interpolation.max_eval_examples=-5"], "interpolation.max_eval_examples=-5"),
    (["interpolation.paths=[full,full]"], "interpolation.paths=['full', 'full']"),
    (["interpolation.paths=[fulll]"], "interpolation.paths=['fulll']"),
    (["interpolation.paths=[group/fc1/gamma]"], "interpolation.paths=['group/fc1/gamma']"),
    (["interpolation.paths=[unit/]"], "interpolation.paths=['unit/']"),
    (["interpolation.cache_mb=-1"], "interpolation.cache_mb=-1"),
    (["interpolation.extras=[nope]"], "interpolation.extras=['nope']"),
    (["interpolation.figure=maybe"], "interpolation.figure='maybe'"),
    (["interpolation.diagnostics=[curvatur]"], "interpolation.diagnostics=['curvatur']"),
    (["interpolation.partition=layers"], "interpolation.partition='layers'"),
    (["interpolation.diagnosed_paths=[weights]"], "['weights'] not evaluated"),
    (["interpolation.hessian.alphas=[0,top]"], "interpolation.hessian.alphas=[0, 'top']"),
    (["interpolation.hessian.probes=1"], "interpolation.hessian.probes=1"),
    (
        ["interpolation.diagnostics=[attribution]", "interpolation.bn=recompute"],
        "with interpolation.bn=recompute",
    ),
    (["init=barrier"], "init.from_run has no value"),
    (["init=partial", "init.source=pretrained"], "init.unit has no value"),
    (["init=partial", "init.unit=fc1"], "init.from_run=None"),
    (["init=random_labels", "init.max_epochs=0"], "init.max_epochs=0"),
    (["random_label_max_epochs=0"], "random_label_max_epochs=0"),
    (["optimizer=sgd", "optimizer.momentum=-0.9"], "optimizer.momentum=-0.9"),
    (["scheduler=multistep", "scheduler.gamma=0"], "scheduler.gamma=0"),
    (["scheduler=multistep", "scheduler.milestones=[0.5]"], "scheduler.milestones=[0.5]"),
    # vision options
    ([*CIFAR, "model.width=0"], "model.width=0"),
    ([*CIFAR, "model.norm=layer"], "model.norm='layer'"),
    ([*CIFAR, "model.depth=20"], "model.depth=20"),
    ([*CIFAR, "data.augment=mixup"], "data.augment='mixup'"),
    ([*CIFAR, "data.random_labels=1.5"], "data.random_labels=1.5"),
    ([*CIFAR, "model=vgg11_bn", "model.widths=[1,2]"], "model.widths=[1, 2]"),
    ([*CIFAR, "model=vgg11_bn", "model.widths=[1,2,3,4,5,6,7,8,9,10]"], "8 integers >= 1"),
    (["experiment=narrowing", "scale=smoke", "logger=none", "model.fc_layers=3"], "fc_layers=3)"),
    ([*CIFAR, "model=vgg11", "model.fc_layers=3"], "10 integers >= 1"),
    ([*CIFAR, "model=vgg11_bn", "model.fc_layers=2"], "model.fc_layers=2"),
    ([*CIFAR, "model=vgg11", "model.dropout=1"], "model.dropout=1"),
    # relations to the model, the data and the files, checked before the first step
    (["interpolation.paths=[unit/fc9]"], "unknown unit 'fc9'"),
    (["interpolation.units=[fc1,fc9]"], "'fc9' is not a module of MLP"),
    (["ckpt_path=/nonexistent/last.ckpt"], "no such file: /nonexistent/last.ckpt"),
    (["init=barrier", "init.from_run=/nonexistent"], "init.from_run=/nonexistent"),
    (["data=mnist", "data.root=/nonexistent"], "MNIST not found in /nonexistent"),
    (["optim.groups_from=/nonexistent"], "/nonexistent"),
]
# Issue 23: what reached torch, Lightning or Hydra as a traceback or a multi-line report,
# some after training started. `{tmp}` is the test's own folder.
MANUAL = "steps_per_call=20 makes several optimizer steps per Lightning step"
BAD_INPUTS += [
    # optimizer and scheduler options, asked of the classes themselves
    (
        ["+optimizer.betas=[1.5,0.9]"],
        "torch.optim.Adam (or its scheduler) refuses these options: Invalid beta",
    ),
    (
        ["+optimizer.eps=-1"],
        "torch.optim.Adam (or its scheduler) refuses these options: Invalid eps",
    ),
    (["optimizer=sgd", "optimizer.nesterov=true", "optimizer.momentum=0"], "Nesterov momentum"),
    (
        ["optimizer=sgd", "optimizer.momentum=1.5"],
        "optimizer.momentum=1.5: expected a number >= 0 and < 1",
    ),
    (
        ["optimizer=sgd", "optimizer.momentum=1"],
        "optimizer.momentum=1: expected a number >= 0 and < 1",
    ),
    (["+optimizer.nosuch=1"], "unexpected keyword argument 'nosuch'"),
    (["optimizer.lr=nan"], "optimizer.lr=nan"),
    (["optimizer.lr=inf"], "optimizer.lr=inf"),
    (["optimizer.weight_decay=inf"], "optimizer.weight_decay=inf"),
    (
        ["scheduler=multistep", "scheduler.milestones=[33,33]"],
        "scheduler.milestones=[33, 33]: expected an increasing",
    ),
    (["scheduler=multistep", "scheduler.milestones=[66,33]"], "scheduler.milestones=[66, 33]"),
    (
        ["scheduler=multistep", "+scheduler.last_epoch=abc"],
        "(or its scheduler) refuses these options",
    ),
    # trainer keyword arguments: ours, then Lightning's own
    (
        ["+trainer.gradient_clip_val=-1"],
        "trainer.gradient_clip_val=-1: expected a number > 0 or null",
    ),
    (["+trainer.gradient_clip_val=0"], "trainer.gradient_clip_val=0: expected a number > 0"),
    (["+trainer.gradient_clip_val=1.0"], f"trainer.gradient_clip_val=1.0: {MANUAL}"),
    (["+trainer.accumulate_grad_batches=2"], f"trainer.accumulate_grad_batches=2: {MANUAL}"),
    (["+trainer.accumulate_grad_batches=0"], "trainer.accumulate_grad_batches=0"),
    (["trainer.check_val_every_n_epoch=0"], "trainer.check_val_every_n_epoch=0"),
    (
        ["trainer.check_val_every_n_epoch=null", "trainer.val_check_interval=0"],
        "trainer.val_check_interval=0",
    ),
    (["trainer.devices=[0,0]"], "trainer.devices=[0, 0]"),
    (["trainer.devices=[]"], "trainer.devices=[]"),
    (["trainer.max_steps=-5"], "trainer.max_steps=-5"),
    (["trainer.log_every_n_steps=0"], "trainer.log_every_n_steps=0"),
    (["trainer.num_sanity_val_steps=-5"], "trainer.num_sanity_val_steps=-5"),
    (["+trainer.fast_dev_run=true"], "trainer.fast_dev_run=True: expected false"),
    (["+trainer.limit_train_batches=0"], "trainer.limit_train_batches=0"),
    (["+trainer.limit_train_batches=0.0"], "trainer.limit_train_batches=0.0"),
    (["+trainer.limit_train_batches=1.5"], "trainer.limit_train_batches=1.5"),
    (["+trainer.limit_train_batches=-1"], "trainer.limit_train_batches=-1"),
    (["+trainer.nosuch=1"], "unexpected keyword argument 'nosuch'"),
    (["+trainer.overfit_batches=-1"], "invalid value -1 for overfit_batches"),
    (["+trainer.max_time=abc"], "is not a valid duration"),
    (
        ["trainer.accelerator=cpu", "trainer.devices=[0,1]"],
        "`devices` selected with `CPUAccelerator`",
    ),
    # a model that does not fit the data, or is no network
    (["model=resnet18"], "model CifarResNet does not fit data SpiralDataModule"),
    (["model=vgg11"], "model VGG does not fit data SpiralDataModule"),
    (["model._target_=torch.optim.SGD"], "model._target_=torch.optim.SGD does not build a network"),
    (["model._target_=torch.nn.Identity"], "model: Identity is not a network with weights"),
    # Hydra syntax a user types
    (["seed"], "'seed' is not KEY=VALUE: give a value (seed=...)"),
    (["hydra.run.dir=/tmp/my", "runs"], "'runs' is not KEY=VALUE"),
    (["seed=0,1"], "seed=0,1 sweeps over several values: add -m"),
    (
        ["experiment=spiral_mlp,mnist_mlp"],
        "experiment=spiral_mlp,mnist_mlp sweeps over several values: add -m",
    ),
    (["~seed"], "data.seed cannot be read: Interpolation key 'seed' not found"),
    (["interpolation.alphas=${oops}"], "interpolation.alphas cannot be read: Interpolation key"),
    # interpolation and run options
    (["interpolation.alphas=[-1e308,0,1]"], "interpolation.alphas=[-1e+308, 0, 1]"),
    (["interpolation.alphas=[0,1,50]"], "numbers in [-10, 10]"),
    (["interpolation.alphas=[-20,0,1]"], "interpolation.alphas=[-20, 0, 1]"),
    (["interpolation.diverged_loss_ratio=0.5"], "interpolation.diverged_loss_ratio=0.5"),
    (
        ["interpolation.output_dir=/tmp/elsewhere"],
        "interpolation.output_dir=/tmp/elsewhere: a run writes into its own folder",
    ),
    (["overwrite=maybe"], "overwrite='maybe': expected true or false"),
    (["reuse=sometimes"], "reuse='sometimes': expected true or false"),
    (["overwrite=true", "ckpt_path=auto"], "overwrite=true with ckpt_path=auto"),
    (["ckpt_path={tmp}"], "no such file: "),
    (["ckpt_path={tmp}/notes.txt"], "cannot read "),
    (["data.batch_size=1.5"], "data.batch_size=1.5"),
    (["seed=1e3"], "seed=1000.0"),
    (["threads=-1"], "threads=-1"),
    (["interpolation.views=[test/bogus]"], "interpolation.views=['test/bogus']"),
    # output folders that cannot be written
    (["hydra.run.dir={tmp}/notes.txt/run"], "notes.txt is a file, not a folder"),
]


def run_refused(arguments: list[str], run_dir, monkeypatch, capsys) -> tuple[int, str]:
    """`python run.py ARGUMENTS hydra.run.dir=RUN_DIR` in this process, failing the test if
    a training step runs: (exit code, output). An argument that sets hydra.run.dir itself
    comes after, and wins."""

    def no_training(*args, **kwargs):
        raise AssertionError("a training step ran")

    monkeypatch.setattr(Classifier, "training_step", no_training)
    full = [f"hydra.run.dir={run_dir}", *arguments]
    if not any(a.startswith("experiment=") for a in arguments):
        full = SPIRAL + full
    return run_in_process(full, capsys)


@pytest.mark.parametrize(
    "arguments, named", BAD_INPUTS, ids=[" ".join(a[-2:]) for a, _ in BAD_INPUTS]
)
def test_bad_input_is_one_line_before_training(arguments, named, tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.txt").write_text("not a checkpoint, not a folder")
    before = sorted(tmp_path.rglob("*"))
    arguments = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    code, output = run_refused(arguments, tmp_path / "run", monkeypatch, capsys)
    assert code == 2, output
    assert "Traceback" not in output and "HYDRA_FULL_ERROR" not in output, output
    lines = [line for line in output.splitlines() if line.startswith("linpath: error:")]
    assert len(lines) == 1 and named.replace("{tmp}", str(tmp_path)) in lines[0], output
    assert sorted(tmp_path.rglob("*")) == before  # nothing written: no run folder, no .hydra


def test_the_suite_is_large():
    assert len(BAD_INPUTS) >= 74 + 40  # issue 23 added at least 40 to the 74 before it


@pytest.mark.parametrize(
    "arguments, named",
    [
        (["interpolation.units=foo"], "interpolation.units='foo'"),
        pytest.param(
            [*CIFAR, "data.train_fraction=0"], "data.train_fraction=0", marks=pytest.mark.slow
        ),
    ],
)
def test_through_a_real_command_line(arguments, named, tmp_path):
    full = arguments if arguments[0].startswith("experiment=") else SPIRAL + arguments
    result = run_linpath(*full, run_dir=tmp_path, check=False)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("linpath: error:")]
    assert len(lines) == 1 and named in lines[0], result.stderr
    assert not (tmp_path / "theta_i.pt").exists() and not (tmp_path / "results.json").exists()


def corrupt(path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if how == "truncated" else b"\x00garbage" * 10)


@pytest.mark.parametrize(
    "data, file, how",
    [
        ("cifar10", "cifar-10-batches-py/data_batch_1", "truncated"),
        ("cifar10", "cifar-10-batches-py/test_batch", "garbage"),
        ("mnist", "MNIST/raw/train-images-idx3-ubyte", "truncated"),
        ("mnist", "MNIST/raw/t10k-labels-idx1-ubyte", "garbage"),
    ],
)
def test_a_corrupt_data_file_is_named(data, file, how, tmp_path, monkeypatch, capsys):
    from lightning_modules.data.stand_ins import write_cifar10, write_mnist

    root = tmp_path / "data"
    (write_cifar10 if data == "cifar10" else write_mnist)(root)
    corrupt(root / file, how)
    arguments = [*CIFAR] if data == "cifar10" else [*SPIRAL, "data=mnist", "model=mlp"]
    arguments += [f"data.root={root}", "data.check_integrity=false"]
    code, output = run_refused(arguments, tmp_path / "run", monkeypatch, capsys)
    assert code == 2 and "Traceback" not in output, output
    line = next(line for line in output.splitlines() if line.startswith("linpath: error:"))
    assert f"{root / file} cannot be read as" in line, line


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_a_corrupt_results_json_of_an_earlier_run_is_named(how, tmp_path, monkeypatch, capsys):
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for name in ("theta_i.pt", "theta_f.pt"):
        (earlier / name).write_bytes(b"")
    (earlier / "results.json").write_text('{"seed": 0, "paths": {"full": {"shape": "B"}}}')
    corrupt(earlier / "results.json", how)
    arguments = ["init=barrier", f"init.from_run={earlier}"]
    code, output = run_refused(arguments, tmp_path / "run", monkeypatch, capsys)
    assert code == 2 and "Traceback" not in output, output
    assert f"linpath: error: {earlier / 'results.json'} is not valid JSON" in output
