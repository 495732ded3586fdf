"""steps_per_call: several optimizer steps per Lightning step, the same training as one."""

from __future__ import annotations

import csv

import lightning.pytorch as pl
import pytest
import torch

from lightning_modules.data.tensor_data import BatchGroups, TensorBatchLoader
from run import compose_config


def fit(steps_per_call: int, tmp_path, *extra: str):
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
