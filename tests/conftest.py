"""Shared fixtures: tiny models, their two end states, and a run of run.py."""

from __future__ import annotations

import os

# Two cores shared with subprocess runs: a second torch thread only adds contention.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmarks.reference import trained_copy
from lightning_modules.models import MLP, resnet

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    """Tests marked gpu skip cleanly where there is no CUDA (`make test-gpu` runs them)."""
    if torch.cuda.is_available():
        return
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))


class SmallBNNet(nn.Module):
    """Conv + BN + ReLU, twice, then a linear head: every path kind has something to move."""

    def __init__(self, num_outputs: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, num_outputs)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean(dim=(2, 3)))


@pytest.fixture
def bn_setup():
    torch.manual_seed(0)
    model = SmallBNNet()
    inputs = torch.randn(40, 1, 6, 6)
    targets = torch.randint(0, 3, (40,))
    with torch.no_grad():
        model.train()
        model(inputs)  # non-trivial running statistics at theta_a
    theta_a = {k: v.clone() for k, v in model.state_dict().items()}
    theta_b = trained_copy(model, inputs)
    return model, theta_a, theta_b, (inputs, targets)


@pytest.fixture(scope="module")
def small_resnet():
    """A ResNet-18 at 1/8 width on 8x8 inputs, its two states and two batches."""
    torch.manual_seed(0)
    model = resnet((3, 8, 8), 5, depth=18, width=0.125)
    inputs, targets = torch.randn(24, 3, 8, 8), torch.randint(0, 5, (24,))
    with torch.no_grad():
        model.train()
        model(inputs)
    theta_a = {k: v.clone() for k, v in model.state_dict().items()}
    theta_b = trained_copy(model, inputs, scale=0.05)
    batches = [(inputs[:10], targets[:10]), (inputs[10:], targets[10:])]
    return model, theta_a, theta_b, batches


@pytest.fixture
def mlp_setup():
    torch.manual_seed(0)
    model = MLP((5,), 4, hidden=[7, 6])
    inputs = torch.randn(50, 5)
    targets = torch.randint(0, 4, (50,))
    theta_a = {k: v.clone() for k, v in model.state_dict().items()}
    theta_b = trained_copy(model, inputs)
    return model, theta_a, theta_b, (inputs, targets)


def run_linpath(*overrides: str, run_dir: Path, check: bool = True) -> subprocess.CompletedProcess:
    """`python run.py OVERRIDES hydra.run.dir=RUN_DIR` as a user would type it."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "WANDB_MODE": "offline"}
    result = subprocess.run(
        [sys.executable, "run.py", *overrides, f"hydra.run.dir={run_dir}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"run.py {overrides} failed:\n{result.stdout}\n{result.stderr}")
    return result


def run_in_process(arguments: list[str], capsys, entry=None) -> tuple[int, str]:
    """`python run.py ARGUMENTS` through run.py's own entry point (or another command
    line's `entry`, e.g. runs.reevaluate.cli), in this process (no interpreter start):
    (exit code, stdout + stderr). Cheap enough for many bad inputs."""
    if entry is None:
        import run

        entry = run.cli
    argv = sys.argv
    code = 0
    try:
        entry(list(arguments))
    except SystemExit as exit_:
        code = exit_.code
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def compose_reevaluate(*overrides: str):
    """`python -m runs.reevaluate OVERRIDES`'s config, composed in this process."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("reevaluate", overrides=list(overrides))


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory):
    """A CIFAR-10 stand-in in the real format: 300 training and 100 test images."""
    from lightning_modules.data.stand_ins import write_cifar10

    root = tmp_path_factory.mktemp("cifar")
    write_cifar10(root, n_train=300, n_test=100)
    return root


def changed_value(value):
    """Another value of the same kind: a flipped bool, a number + 1, a longer list, another
    string; an empty section gets one real entry."""
    if isinstance(value, dict):  # an empty section, such as optim.groups
        return {"changed": {"lr": 0.123, "units": ["fc1"]}}
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, list):
        return [*value, value[-1] if value else 1]
    return f"{value}x" if value is not None else 1


def read_results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
