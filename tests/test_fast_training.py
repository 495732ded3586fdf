"""Fast training: several optimizer steps per Lightning step, the same training as one, as
a plain PyTorch loop; validation as often as the config says; torch's own CUDA check."""

from __future__ import annotations

import csv
import os

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F

from lightning_modules.classifier import NVML_CUDA_CHECK, Classifier
from lightning_modules.data import SpiralDataModule
from lightning_modules.data.tensor_data import BatchGroups, TensorBatchLoader
from run import compose_config


class CudaCheckProbe(pl.Callback):
    """Records Lightning's NVML_CUDA_CHECK setting as each training epoch starts."""

    def __init__(self):
        self.seen = []

    def on_train_epoch_start(self, trainer, pl_module):
        self.seen.append(os.environ.get(NVML_CUDA_CHECK))


class OptimizerStepProbe(pl.Callback):
    """Listens between backward and step: counts Lightning's on_before_optimizer_step."""

    def __init__(self):
        self.calls = 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.calls += 1


def fit(steps_per_call: int, tmp_path, *extra: str, callbacks=()):
    """A smoke spiral run (8 batches an epoch) with an lr drop after epochs 1 and 2."""
    from run import build

    run_dir = tmp_path / f"steps{steps_per_call}{len(extra)}"
    cfg = compose_config(
        "experiment=spiral_mlp",
        "scale=smoke",
        "data.batch_size=64",
        "trainer.max_epochs=3",
        "scheduler=multistep",
        "scheduler.milestones=[1,2]",
        "interpolation.paths=[]",
        "interpolation.figure=false",
        f"steps_per_call={steps_per_call}",
        *extra,
        output_dir=run_dir,
    )
    pl.seed_everything(cfg.seed, verbose=False)
    datamodule, module, trainer = build(cfg)
    trainer.callbacks.extend(callbacks)
    trainer.fit(module, datamodule=datamodule)
    with open(run_dir / "csv" / "metrics.csv") as handle:
        logged = [{k: v for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]
    lr = module.optimizers().optimizer.param_groups[0]["lr"]
    return module.net.state_dict(), trainer.global_step, lr, logged


def test_grouped_steps_train_exactly_as_single_steps(tmp_path):
    single_state, single_steps, single_lr, single_log = fit(1, tmp_path)
    grouped_state, grouped_steps, grouped_lr, grouped_log = fit(3, tmp_path)  # groups 3, 3, 2
    assert single_steps == grouped_steps == 3 * 8
    assert single_lr == grouped_lr == pytest.approx(5e-4 * 0.01)
    for key, value in single_state.items():
        assert torch.allclose(grouped_state[key], value, rtol=0, atol=1e-6), key
    single_epochs = [row for row in single_log if "train/loss" in row]
    grouped_epochs = [row for row in grouped_log if "train/loss" in row]
    assert len(single_epochs) == len(grouped_epochs) == 3
    for one, other in zip(single_epochs, grouped_epochs):
        for metric in ("train/loss", "train/acc"):
            assert float(other[metric]) == pytest.approx(float(one[metric]), abs=1e-6)
        assert other["step"] == one["step"]


def plain_loop(epochs: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """fit()'s training written out: the MLP's layers drawn in order under the seed, Adam,
    mean BCE, batches of 64 in the documented order (a permutation drawn from a generator
    seeded with seed * 1000003 + epoch), lr times 0.1 after epochs 1 and 2."""
    inputs, targets = SpiralDataModule(train_size=512).load_splits()["train"]
    inputs, targets = inputs[:512], targets[:512]
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 50),
        torch.nn.ReLU(),
        torch.nn.Linear(50, 50),
        torch.nn.ReLU(),
        torch.nn.Linear(50, 1),
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=5e-4, fused=True)
    for epoch in range(epochs):
        order = torch.randperm(
            512, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        )
        for batch in order.split(64):
            loss = F.binary_cross_entropy_with_logits(net(inputs[batch]), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch in (0, 1):
            optimizer.param_groups[0]["lr"] *= 0.1
    layers = {"fc1": net[0], "fc2": net[2], "fc3": net[4]}
    return {f"{n}.{k}": v for n, layer in layers.items() for k, v in layer.state_dict().items()}


def test_fit_trains_as_a_plain_loop_and_validates_as_configured(tmp_path):
    probe = CudaCheckProbe()
    os.environ[NVML_CUDA_CHECK] = "1"  # as Lightning's import sets it
    state, steps, _, logged = fit(
        20, tmp_path, "trainer.check_val_every_n_epoch=2", callbacks=[probe]
    )
    assert steps == 3 * 8
    expected = plain_loop(epochs=3)
    assert list(state) == list(expected)
    for key, value in expected.items():
        assert torch.allclose(state[key], value, rtol=0, atol=1e-6), key
    validated = [int(row["epoch"]) for row in logged if "val/loss" in row]
    assert validated == [1]  # the second of three epochs, and only it
    assert probe.seen == [None, None, None]  # torch's own CUDA check on every CPU epoch
    assert os.environ[NVML_CUDA_CHECK] == "1"  # put back at fit end


def test_plain_updates_when_nothing_listens_train_as_lightnings_updates(tmp_path, monkeypatch):
    probe = OptimizerStepProbe()
    hooked_state, hooked_steps, _, hooked_log = fit(20, tmp_path / "hooked", callbacks=[probe])
    assert probe.calls == 3 * 8  # a listener: every update went through Lightning's step

    def refuse(*args, **kwargs):
        raise AssertionError("Lightning's backward ran where the plain update suffices")

    monkeypatch.setattr(Classifier, "manual_backward", refuse)
    plain_state, plain_steps, _, plain_log = fit(20, tmp_path / "plain")
    assert plain_steps == hooked_steps == 3 * 8  # Lightning still counts every step
    assert list(plain_state) == list(hooked_state)
    for key, value in hooked_state.items():
        assert torch.equal(plain_state[key], value), key
    assert [row["step"] for row in plain_log] == [row["step"] for row in hooked_log]


def test_batch_groups_keep_order_and_partial_last_group():
    inputs, targets = torch.arange(10.0).unsqueeze(1), torch.arange(10)
    loader = TensorBatchLoader(inputs, targets, batch_size=2, shuffle=True, seed=3)
    groups = BatchGroups(loader, 2)
    groups.sampler.set_epoch(4)
    flat = [batch for group in groups for batch in group]
    loader.set_epoch(4)
    assert [b[1].tolist() for b in flat] == [b[1].tolist() for b in loader]
    assert [len(g) for g in groups] == [2, 2, 1] and len(groups) == 3
    with pytest.raises(ValueError, match="steps_per_call must be >= 1, got 0"):
        BatchGroups(loader, 0)


@pytest.mark.slow
def test_compiled_forward_trains_as_eager(tmp_path):
    """trainer.compile=true: torch.compile'd forward, same weights, same state_dict keys."""
    eager_state, *_ = fit(3, tmp_path)
    compiled_state, *_ = fit(3, tmp_path, "trainer.compile=true")
    assert list(compiled_state) == list(eager_state)
    for key, value in eager_state.items():
        assert torch.allclose(compiled_state[key], value, rtol=0, atol=1e-5), key
