"""CIFAR ResNets and VGG-11: shapes, torchvision names, units, and the engine on them."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18 as torchvision_resnet18

from benchmarks.reference import reference_curve
from landscape import discover_units, evaluate_paths
from lightning_modules.models import VGG, resnet

CIFAR = (3, 32, 32)
STAGES = ["conv1", "layer1", "layer2", "layer3", "layer4", "fc"]


@pytest.mark.parametrize(
    "depth, blocks", [(18, [2, 2, 2, 2]), (34, [3, 4, 6, 3]), (50, [3, 4, 6, 3])]
)
def test_resnet_units_are_stem_stages_and_blocks(depth, blocks):
    net = resnet(CIFAR, 10, depth=depth, width=0.125)
    assert net(torch.randn(2, *CIFAR)).shape == (2, 10)
    stages = discover_units(net)
    assert list(stages) == STAGES
    assert stages["conv1"] == ["conv1", "bn1"]  # the stem conv keeps its BN
    expected = ["conv1"]
    expected += [f"layer{s}.{b}" for s, count in enumerate(blocks, start=1) for b in range(count)]
    assert list(discover_units(net, "blocks")) == [*expected, "fc"]


def test_resnet_keeps_torchvision_names_and_the_cifar_stem():
    net = resnet(CIFAR, 10)
    reference = torchvision_resnet18(num_classes=10)
    ours, theirs = net.state_dict(), reference.state_dict()
    assert list(ours) == list(theirs)
    different = [k for k in ours if ours[k].shape != theirs[k].shape]
    assert different == ["conv1.weight"]
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, nn.MaxPool2d)
    assert sum(p.numel() for p in net.parameters()) == 11_173_962  # ResNet-18 on CIFAR-10


def test_resnet_without_norm_has_no_batchnorm():
    net = resnet(CIFAR, 10, norm="none", width=0.125)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert list(discover_units(net)) == STAGES
    assert discover_units(net)["conv1"] == ["conv1"]
    with pytest.raises(ValueError, match="norm"):
        resnet(CIFAR, 10, norm="group")


@pytest.mark.parametrize("batch_norm", [True, False])
def test_vgg_units_are_conv_layers_with_their_bn_and_classifier_layers(batch_norm):
    net = VGG(CIFAR, 10, batch_norm=batch_norm, width=0.125, widths=[64] * 10, fc_layers=3)
    assert net(torch.randn(2, *CIFAR)).shape == (2, 10)
    units = discover_units(net)
    convs = [name for name, m in net.named_modules() if isinstance(m, nn.Conv2d)]
    linears = [name for name, m in net.named_modules() if isinstance(m, nn.Linear)]
    assert len(convs) == 8 and linears == ["classifier.0", "classifier.3", "classifier.6"]
    assert list(units) == convs + linears
    for conv in convs:
        index = int(conv.split(".")[1])
        bn = [f"features.{index + 1}"] if batch_norm else []
        assert units[conv] == [conv, *bn]
    if batch_norm:
        assert convs[:3] == ["features.0", "features.4", "features.8"]


def test_vgg_widths_narrow_single_layers():
    widths = [64, 128, 256, 128, 512, 512, 512, 512, 256, 512]
    net = VGG(CIFAR, 10, widths=widths, fc_layers=3)
    convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == widths[:8]
    assert [m.out_features for m in net.classifier if isinstance(m, nn.Linear)] == [256, 512, 10]
    with pytest.raises(ValueError, match="widths"):
        VGG(CIFAR, 10, widths=[64, 128], fc_layers=3)


def test_vgg_is_the_one_of_table_a4s_caption_8_conv_and_1_fc():
    default = VGG(CIFAR, 10)
    assert [(m.in_features, m.out_features) for m in default.classifier] == [(512, 10)]
    net = VGG(CIFAR, 10, widths=[64, 128, 256, 256, 512, 512, 512, 256], fc_layers=1)
    assert [(m.in_features, m.out_features) for m in net.classifier] == [(256, 10)]
    assert list(discover_units(net))[-1] == "classifier.0"
    assert net(torch.randn(2, *CIFAR)).shape == (2, 10)
    with pytest.raises(ValueError, match="8 widths"):
        VGG(CIFAR, 10, widths=[64] * 10)  # ten widths are the three-FC head's
    with pytest.raises(ValueError, match="fc_layers"):
        VGG(CIFAR, 10, fc_layers=2)


@pytest.fixture(scope="module")
def resnet_ends():
    torch.manual_seed(0)
    model = resnet(CIFAR, 10, width=0.125)
    inputs, targets = torch.randn(24, *CIFAR), torch.randint(0, 10, (24,))
    theta_a = {k: v.clone() for k, v in model.state_dict().items()}
    trained = copy.deepcopy(model)
    optimizer = torch.optim.SGD(trained.parameters(), lr=0.1, momentum=0.9)
    trained.train()
    for _ in range(3):  # real steps: weights move, BN running statistics move
        optimizer.zero_grad()
        F.cross_entropy(trained(inputs), targets).backward()
        optimizer.step()
    theta_b = {k: v.clone() for k, v in trained.state_dict().items()}
    return model, theta_a, theta_b, inputs, targets


def keys_for(model, theta, path):
    """Which entries a path moves, worked out by hand from module types."""
    modules = dict(model.named_modules())
    floats = [k for k, v in theta.items() if v.is_floating_point()]

    def owner(key):
        return modules[key.rpartition(".")[0]]

    if path == "unit/conv1":
        return [k for k in floats if k.startswith(("conv1.", "bn1."))]
    unit = path.split("/")[1]
    inside = [k for k in floats if k.startswith(unit + ".")]
    if path.startswith("unit/"):
        return inside
    group = path.split("/")[2]
    bn = [k for k in inside if isinstance(owner(k), nn.BatchNorm2d)]
    if group == "bn_stats":
        return [k for k in bn if k.endswith(("running_mean", "running_var"))]
    if group == "bn_affine":
        return [k for k in bn if k.endswith((".weight", ".bias"))]
    return [k for k in inside if isinstance(owner(k), nn.Conv2d) and k.endswith(".weight")]


PATHS = [
    "unit/conv1",
    "unit/layer3",
    "unit/fc",
    "group/layer3/bn_stats",
    "group/layer3/bn_affine",
    "group/layer3/weights",
]


def test_engine_matches_a_plain_loop_on_resnet18_with_bn(resnet_ends):
    model, theta_a, theta_b, inputs, targets = resnet_ends
    alphas = [0.0, 0.3, 0.7, 1.0]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    curves = evaluate_paths(model, theta_a, theta_b, (inputs, targets), alphas=alphas, paths=PATHS)
    for path in PATHS:
        moving = keys_for(model, theta_b, path)
        assert moving, path
        losses, accs = reference_curve(model, theta_a, theta_b, moving, (inputs, targets), alphas)
        assert curves[path]["loss"] == pytest.approx(losses, rel=1e-4, abs=1e-5), path
        assert curves[path]["acc"] == pytest.approx(accs), path
    stats = curves["group/layer3/bn_stats"]["loss"]
    assert stats[0] != pytest.approx(stats[-1])  # the group really moved something
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_block_units_split_a_stage(resnet_ends):
    model, theta_a, theta_b, inputs, targets = resnet_ends
    units = discover_units(model, "blocks")
    curves = evaluate_paths(
        model, theta_a, theta_b, (inputs, targets), [0.0, 1.0], ["unit/layer4.0"], units=units
    )
    moving = [k for k in theta_b if k.startswith("layer4.0.") and theta_b[k].is_floating_point()]
    losses, _ = reference_curve(model, theta_a, theta_b, moving, (inputs, targets), [0.0, 1.0])
    assert curves["unit/layer4.0"]["loss"] == pytest.approx(losses, rel=1e-4)
