"""Shared fixtures: tiny models, their two end states, and a run of run.py."""

from __future__ import annotations

import os

# Two cores shared with subprocess runs: a second torch thread only adds contention.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lightning_modules.models import MLP, resnet

REPO = Path(__file__).resolve().parents[1]


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


def trained_copy(model: nn.Module, inputs: torch.Tensor, seed: int = 1, scale: float = 0.3) -> dict:
    """A second state of `model`: weights moved by `scale` * N(0, 1), BN statistics from a
    train-mode pass over `inputs`."""
    other = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator))
        other.train()
        other(inputs)
    return {k: v.clone() for k, v in other.state_dict().items()}


def reference_curve(
    model: nn.Module,
    theta_a: dict,
    theta_b: dict,
    moving,
    data,
    alphas,
    loss: str = "cross_entropy",
    bn_batches=None,
) -> tuple[list[float], list[float]]:
    """Loss and accuracy along a path the slow, obvious way, with no engine code, so that the
    engine can be checked against it: per alpha, a deep copy loads (1 - alpha) theta_a +
    alpha theta_b on the `moving` entries (theta_b elsewhere), re-estimates BN statistics
    on `bn_batches` if given, and runs `data` (one (inputs, targets) pair or an iterable of
    them). Means are over examples, not batches. `loss`: "cross_entropy" or "bce" (one logit,
    float targets)."""
    assert loss in ("cross_entropy", "bce"), loss
    batches = [data] if isinstance(data, tuple) else data
    moving = set(moving)
    losses, accs = [], []
    for alpha in alphas:
        work = copy.deepcopy(model)
        work.load_state_dict(
            {
                k: (1 - alpha) * theta_a[k] + alpha * v if k in moving else v
                for k, v in theta_b.items()
            }
        )
        with torch.no_grad():
            if bn_batches is not None:
                for m in work.modules():
                    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                        m.reset_running_stats()
                        m.momentum = None  # a plain average over the batches
                work.train()
                for inputs, _ in bn_batches:
                    work(inputs)
            work.eval()
            loss_sum, correct, count = 0.0, 0, 0
            for inputs, targets in batches:
                logits = work(inputs)
                if loss == "bce":
                    loss_sum += F.binary_cross_entropy_with_logits(
                        logits, targets, reduction="sum"
                    ).item()
                    correct += ((logits > 0).float() == targets).sum().item()
                else:
                    loss_sum += F.cross_entropy(logits, targets, reduction="sum").item()
                    correct += (logits.argmax(1) == targets).sum().item()
                count += targets.numel()
        losses.append(loss_sum / count)
        accs.append(correct / count)
    return losses, accs


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


def read_results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def compose_config(*overrides: str, output_dir: Path | None = None):
    """The job config run.py would get, with `${hydra:...}` resolvable, without running it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir or REPO / "outputs" / "compose-only")
        cfg.hydra.overrides.task = list(overrides)
    HydraConfig.instance().set_config(cfg)
    return cfg


EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
