"""benchmarks/pipeline.py: both pipelines feed the model the same numbers, and the rate it
reports counts what it timed (the numbers themselves come from `make bench`)."""

from __future__ import annotations

import itertools

import pytest
import torch

from benchmarks import pipeline
from benchmarks.pipeline import _ours, _torchvision, measure, model_input_difference
from lightning_modules.data.stand_ins import write_cifar10


def test_both_pipelines_give_the_same_model_inputs(tmp_path):
    write_cifar10(tmp_path, n_train=40, n_test=10)
    x, y = next(_ours(str(tmp_path), 16, torch.device("cpu")))
    x_ref, y_ref = next(_torchvision(str(tmp_path), 16, torch.device("cpu"), workers=0))
    assert x.shape == x_ref.shape == (16, 3, 32, 32)
    assert (x.dtype, y.dtype) == (x_ref.dtype, y_ref.dtype)
    # without augmentation, ToTensor + Normalize is exactly our model-ready split
    assert model_input_difference(str(tmp_path)) < 1e-5


def test_images_per_second_count_only_the_timed_batches(monkeypatch):
    """2 warm-up batches, then 5 timed batches of 8 images in 2.5 (fake) seconds: 16/s."""
    clock = iter([10.0, 12.5])
    monkeypatch.setattr(pipeline.time, "perf_counter", lambda: next(clock))
    batches = itertools.repeat((torch.zeros(8, 1), torch.zeros(8)))
    steps = []
    rate = pipeline._images_per_s(
        batches, 5, torch.device("cpu"), step=lambda x, y: steps.append(1)
    )
    assert rate == 16.0
    assert len(steps) == 2 + 5  # the step runs on warm-up batches too, untimed


def test_measure_reports_both_pipelines_and_their_ratio():
    result = measure(synthetic_images=300, pipeline_steps=2, train_steps=1, width=0.0625, repeats=1)
    for kind in ("pipeline", "train"):
        rates = [result[f"{kind}_images_per_s_{name}"] for name in ("ondevice", "torchvision")]
        assert result[f"{kind}_speedup"] == pytest.approx(rates[0] / rates[1])
    assert result["model_inputs_max_difference"] < 1e-5
    assert (result["device"], result["dataloader_workers"]) == ("cpu", 0)
