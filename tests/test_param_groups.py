"""Parameter groups by unit get the intended lr and weight decay."""

from __future__ import annotations

import functools
import json

import pytest
import torch

from lightning_modules import Classifier
from lightning_modules.models import MLP
from lightning_modules.param_groups import ParamGroupError, build_param_groups

SGD = functools.partial(torch.optim.SGD, lr=0.1, weight_decay=5e-4)


def mlp() -> MLP:
    torch.manual_seed(0)
    return MLP((4,), 3, hidden=[6, 5])


def sgd_with_groups(**groups_config) -> tuple[MLP, torch.optim.Optimizer]:
    module = Classifier(
        mlp, SGD, param_groups=functools.partial(build_param_groups, **groups_config)
    )
    return module.net, module.make_optimizer()


def test_groups_get_their_own_lr_and_weight_decay():
    net, optimizer = sgd_with_groups(
        groups={"B": {"units": ["fc1"], "lr": 0.01, "weight_decay": 0.0}}
    )
    by_name = {g["name"]: g for g in optimizer.param_groups}
    assert set(by_name) == {"B", "rest"}
    assert (by_name["B"]["lr"], by_name["B"]["weight_decay"]) == (0.01, 0.0)
    assert (by_name["rest"]["lr"], by_name["rest"]["weight_decay"]) == (0.1, 5e-4)
    assert {id(p) for p in by_name["B"]["params"]} == {id(net.fc1.weight), id(net.fc1.bias)}


def test_one_sgd_step_moves_each_group_by_its_own_lr_and_decay():
    """Plain SGD: p <- p - lr * (grad + wd * p), with each group's lr and wd."""
    net, optimizer = sgd_with_groups(groups={"B": {"units": ["fc2"], "lr": 0.01}})
    before = {k: v.detach().clone() for k, v in net.named_parameters()}
    net(torch.randn(8, 4)).square().mean().backward()
    grads = {k: v.grad.clone() for k, v in net.named_parameters()}
    optimizer.step()
    for name, param in net.named_parameters():
        lr = 0.01 if name.startswith("fc2.") else 0.1
        expected = before[name] - lr * (grads[name] + 5e-4 * before[name])
        torch.testing.assert_close(param.detach(), expected)


def test_groups_from_a_run_split_units_by_their_path_shape(tmp_path):
    results = {
        "seed": 0,
        "units": {"fc1": ["fc1"], "fc2": ["fc2"], "fc3": ["fc3"]},
        "paths": {
            "full": {"shape": "P"},
            "unit/fc1": {"shape": "B"},
            "unit/fc2": {"shape": "NB"},
            "unit/fc3": {"shape": "P"},
        },
    }
    (tmp_path / "results.json").write_text(json.dumps(results))
    for name in ("theta_i.pt", "theta_f.pt"):
        (tmp_path / name).write_bytes(b"")
    net = mlp()
    groups = build_param_groups(
        net, groups={"B": {"lr": 0.01}, "NB": {"lr": 0.1}}, groups_from=str(tmp_path)
    )
    names = {id(p): n for n, p in net.named_parameters()}
    assert [(g["name"], g["lr"], sorted(names[id(p)] for p in g["params"])) for g in groups] == [
        ("B", 0.01, ["fc1.bias", "fc1.weight"]),
        ("NB", 0.1, ["fc2.bias", "fc2.weight", "fc3.bias", "fc3.weight"]),
    ]


def test_groups_from_a_run_without_unit_paths_is_refused(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"seed": 0, "paths": {"full": {}}}))
    for name in ("theta_i.pt", "theta_f.pt"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(ParamGroupError, match=r"no unit paths.*paths=\[full,unit/\*\]"):
        build_param_groups(mlp(), groups_from=str(tmp_path))


@pytest.mark.parametrize(
    "groups, message",
    [
        ({"B": {"units": ["layer2"]}}, r"unknown units \['layer2'\].*'fc1'"),
        ({"B": {"units": ["fc1"]}, "NB": {"units": ["fc1"]}}, "'fc1.weight' is in .*B and .NB"),
        ({"B": {"units": ["fc1"], "momentum": 0.5}}, r"unknown keys \['momentum'\]"),
        ({"B": {"lr": 0.1}}, "optim.groups.B lists no units"),
    ],
)
def test_bad_groups_are_refused_in_one_line(groups, message):
    with pytest.raises(ParamGroupError, match=message):
        build_param_groups(mlp(), groups=groups)
