"""Path evaluation is fp32 whatever the training precision: inside bf16 autocast (as under
trainer.precision=bf16-mixed) and from bf16 end states; channels_last keeps the network."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from benchmarks.reference import reference_curve
from callbacks.memory_format import ChannelsLast
from landscape import evaluate_paths
from landscape.evaluate import evaluate_state
from landscape.inputs import as_batches
from lightning_modules import Classifier
from run import compose_config

ALPHAS = [0.0, 0.25, 0.5, 0.75, 1.0]
PATHS = ["full", "unit/conv1", "group/bn2/bn_stats"]


def test_curves_inside_bf16_autocast_are_the_fp32_curves(bn_setup):
    model, theta_a, theta_b, data = bn_setup
    moving = [k for k, v in theta_b.items() if v.is_floating_point()]
    expected = evaluate_paths(model, theta_a, theta_b, data, ALPHAS, PATHS)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(data[0]).dtype == torch.bfloat16  # autocast is really on here
        inside = evaluate_paths(model, theta_a, theta_b, data, ALPHAS, PATHS)
        plain_bf16, _ = reference_curve(model, theta_a, theta_b, moving, data, ALPHAS)
    assert inside == expected
    plain_fp32, _ = reference_curve(model, theta_a, theta_b, moving, data, ALPHAS)
    assert inside["full"]["loss"] == pytest.approx(plain_fp32, rel=1e-5)
    # the check can fail: the same loop under autocast gives other numbers
    assert max(abs(a - b) for a, b in zip(plain_bf16, plain_fp32)) > 1e-4


def test_bf16_end_states_are_evaluated_in_fp32(bn_setup):
    model, theta_a, theta_b, data = bn_setup
    low = [{k: v.bfloat16() if v.is_floating_point() else v for k, v in s.items()}
           for s in (theta_a, theta_b)]  # fmt: skip
    widened = [{k: v.float() if v.is_floating_point() else v for k, v in s.items()} for s in low]
    curves = evaluate_paths(model.bfloat16(), *low, data, ALPHAS, PATHS)
    assert curves == evaluate_paths(model.float(), *widened, data, ALPHAS, PATHS)
    assert next(model.parameters()).dtype == torch.float32  # left as found (after .float())


def test_final_metrics_ignore_autocast(mlp_setup):
    model, _, _, data = mlp_setup
    batches = as_batches(data, torch.device("cpu"))
    expected = evaluate_state(model.eval(), batches, "cross_entropy")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert evaluate_state(model, batches, "cross_entropy") == expected


def test_bf16_mixed_run_writes_fp32_curves(tmp_path):
    """A smoke spiral fit under trainer.precision=bf16-mixed: the weights stay fp32 and the
    curves in results.json are the plain fp32 loop's on the saved end states, not the bf16
    loop's (which differs by more than the tolerance)."""
    from run import build

    cfg = compose_config(
        "experiment=spiral_mlp", "scale=smoke", "trainer.max_epochs=1",
        "trainer.precision=bf16-mixed", "interpolation.paths=[full]",
        "interpolation.figure=false", "logger=none", output_dir=tmp_path,
    )  # fmt: skip
    datamodule, module, trainer = build(cfg)
    trainer.fit(module, datamodule=datamodule)
    results = json.loads((tmp_path / "results.json").read_text())
    theta_i, theta_f = (torch.load(tmp_path / f"theta_{end}.pt") for end in "if")
    assert all(v.dtype == torch.float32 for v in theta_f.values() if v.is_floating_point())
    inputs, targets = datamodule.split("test")
    data = (inputs[:256], targets[:256].float())
    alphas, moving = results["alphas"], theta_f.keys()
    fp32, _ = reference_curve(module.net, theta_i, theta_f, moving, data, alphas, "bce")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16, _ = reference_curve(module.net, theta_i, theta_f, moving, data, alphas, "bce")
    assert results["paths"]["full"]["loss"] == pytest.approx(fp32, abs=1e-6)
    assert max(abs(a - b) for a, b in zip(bf16, fp32)) > 1e-5  # 10x the tolerance


def test_channels_last_changes_the_layout_not_the_network(bn_setup):
    model, _, _, data = bn_setup
    module = Classifier(net_factory=lambda: copy.deepcopy(model), optimizer=torch.optim.SGD)
    expected = module(data[0])
    ChannelsLast().setup(None, module, "fit")
    conv = module.net.conv2.weight  # conv1 has one input channel: both layouts agree
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    torch.testing.assert_close(module(data[0]), expected, rtol=1e-5, atol=1e-6)
