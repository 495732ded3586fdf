"""benchmarks/pipeline.py runs and reports both pipelines (the numbers come from `make bench`)."""

from __future__ import annotations

import torch

from benchmarks.pipeline import _ours, _torchvision, measure
from lightning_modules.data.stand_ins import write_cifar10


def test_both_pipelines_give_the_same_model_inputs(tmp_path):
    from torchvision import transforms
    from torchvision.datasets import CIFAR10

    from lightning_modules.data import Cifar10DataModule
    from lightning_modules.data.cifar import _without_md5

    write_cifar10(tmp_path, n_train=40, n_test=10)
    x, y = next(_ours(str(tmp_path), 16, torch.device("cpu")))
    x_ref, y_ref = next(_torchvision(str(tmp_path), 16, torch.device("cpu"), workers=0))
    assert x.shape == x_ref.shape == (16, 3, 32, 32)
    assert (x.dtype, y.dtype) == (x_ref.dtype, y_ref.dtype)
    # without augmentation, ToTensor + Normalize is exactly our model-ready split
    plain = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize(Cifar10DataModule.mean, Cifar10DataModule.std)]
    )
    reference = _without_md5(CIFAR10)(str(tmp_path), train=False, transform=plain)
    data = Cifar10DataModule(root=str(tmp_path), check_integrity=False)
    data.setup()
    expected = torch.stack([reference[i][0] for i in range(len(reference))])
    assert torch.allclose(data.split("test")[0], expected, atol=1e-5)


def test_measure_reports_images_per_second_for_both():
    result = measure(synthetic_images=300, pipeline_steps=2, train_steps=1, width=0.0625, repeats=1)
    for kind in ("pipeline", "train"):
        for name in ("ondevice", "torchvision"):
            assert result[f"{kind}_images_per_s_{name}"] > 0
        assert result[f"{kind}_speedup"] > 0
    assert result["device"] == "cpu"
