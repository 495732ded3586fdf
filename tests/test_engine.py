"""evaluate_paths against the plain way: copy, load the interpolated state, loop."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from benchmarks.reference import reference_curve, trained_copy
from landscape import PathError, discover_units, evaluate_paths, moving_keys
from lightning_modules.models import MLP, resnet

ALPHAS = [0.0, 0.25, 0.6, 1.0]

# Which entries move on each path of SmallBNNet, written out by hand (not derived by the engine).
CONV1_UNIT = {
    "conv1.weight",
    "conv1.bias",
    "bn1.weight",
    "bn1.bias",
    "bn1.running_mean",
    "bn1.running_var",
}
CONV2_UNIT = {"conv2.weight", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"}
FC_UNIT = {"fc.weight", "fc.bias"}
BN_NET_PATHS = {
    "full": CONV1_UNIT | CONV2_UNIT | FC_UNIT,
    "unit/conv1": CONV1_UNIT,
    "unit/fc": FC_UNIT,
    "group/conv1/bn_stats": {"bn1.running_mean", "bn1.running_var"},
    "group/conv2/bn_affine": {"bn2.weight", "bn2.bias"},
    "group/conv2/weights": {"conv2.weight"},
    "group/conv1/biases": {"conv1.bias"},
    "weights": {"conv1.weight", "bn1.weight", "conv2.weight", "bn2.weight", "fc.weight"},
    "biases": {"conv1.bias", "bn1.bias", "bn2.bias", "fc.bias"},
}


@pytest.mark.parametrize("path", sorted(BN_NET_PATHS))
def test_bn_net_every_path_kind_matches_plain_loop(bn_setup, path):
    model, theta_a, theta_b, data = bn_setup
    assert set(moving_keys(model, theta_b, path)) == BN_NET_PATHS[path]
    curves = evaluate_paths(model, theta_a, theta_b, data, alphas=ALPHAS, paths=[path])
    losses, accs = reference_curve(model, theta_a, theta_b, BN_NET_PATHS[path], data, ALPHAS)
    assert curves[path]["loss"] == pytest.approx(losses, abs=1e-5)
    assert curves[path]["acc"] == pytest.approx(accs, abs=1e-6)


def test_mlp_paths_match_plain_loop(mlp_setup):
    model, theta_a, theta_b, data = mlp_setup
    expected = {
        "full": {k for k in theta_b},
        "unit/fc2": {"fc2.weight", "fc2.bias"},
        "group/fc3/biases": {"fc3.bias"},
        "weights": {"fc1.weight", "fc2.weight", "fc3.weight"},
    }
    curves = evaluate_paths(model, theta_a, theta_b, data, alphas=ALPHAS, paths=list(expected))
    for path, moving in expected.items():
        losses, accs = reference_curve(model, theta_a, theta_b, moving, data, ALPHAS)
        assert curves[path]["loss"] == pytest.approx(losses, abs=1e-5), path
        assert curves[path]["acc"] == pytest.approx(accs, abs=1e-6), path


def test_endpoints_are_the_two_states(bn_setup):
    """alpha=0 is theta_a and alpha=1 is theta_b: the path's ends are the models themselves."""
    model, theta_a, theta_b, data = bn_setup
    curves = evaluate_paths(model, theta_a, theta_b, data, alphas=[0.0, 1.0], paths=["full"])
    for alpha, state in ((0, theta_a), (1, theta_b)):
        work = copy.deepcopy(model)
        work.load_state_dict(state)
        work.eval()
        with torch.no_grad():
            expected = F.cross_entropy(work(data[0]), data[1]).item()
        assert curves["full"]["loss"][alpha] == pytest.approx(expected, abs=1e-6)


def test_batches_and_one_pair_agree_and_mean_is_over_examples(bn_setup):
    model, theta_a, theta_b, (inputs, targets) = bn_setup
    whole = evaluate_paths(model, theta_a, theta_b, (inputs, targets), alphas=ALPHAS)
    # uneven batches: a mean of batch means would differ from the mean over examples
    batches = [(inputs[:7], targets[:7]), (inputs[7:], targets[7:])]
    split = evaluate_paths(model, theta_a, theta_b, batches, alphas=ALPHAS)
    assert split["full"]["loss"] == pytest.approx(whole["full"]["loss"], abs=1e-6)
    assert split["full"]["acc"] == pytest.approx(whole["full"]["acc"], abs=1e-9)


def test_binary_cross_entropy_on_one_logit():
    torch.manual_seed(0)
    model = MLP((2,), 1, hidden=[8])
    inputs, targets = torch.randn(30, 2), (torch.rand(30, 1) > 0.5).float()
    theta_a = {k: v.clone() for k, v in model.state_dict().items()}
    theta_b = {k: v + 0.5 * torch.randn_like(v) for k, v in theta_a.items()}
    curves = evaluate_paths(model, theta_a, theta_b, (inputs, targets), alphas=ALPHAS, loss="bce")
    data = (inputs, targets)
    losses, accs = reference_curve(model, theta_a, theta_b, set(theta_b), data, ALPHAS, "bce")
    assert curves["full"]["loss"] == pytest.approx(losses, abs=1e-5)
    assert curves["full"]["acc"] == pytest.approx(accs, abs=1e-6)


def test_loss_is_inferred_as_the_config_would(mlp_setup):
    """One output is "bce" (the spiral), one per class "cross_entropy" (everything else)."""
    model, theta_a, theta_b, data = mlp_setup  # 4 outputs
    inferred = evaluate_paths(model, theta_a, theta_b, data, alphas=ALPHAS)
    assert inferred == evaluate_paths(
        model, theta_a, theta_b, data, alphas=ALPHAS, loss="cross_entropy"
    )
    one = MLP((5,), 1, hidden=[7])
    one_a = {k: v.clone() for k, v in one.state_dict().items()}
    one_b = {k: v + 0.3 for k, v in one_a.items()}
    binary = (data[0], (data[1] % 2).float().unsqueeze(1))
    inferred = evaluate_paths(one, one_a, one_b, binary, alphas=ALPHAS)
    assert inferred == evaluate_paths(one, one_a, one_b, binary, alphas=ALPHAS, loss="bce")


def test_new_init_paths_match_plain_loop(bn_setup):
    """final_to_new_init runs theta_b -> theta_new (alpha 0 at theta_b, as results.json has
    it), init_to_new_init theta_a -> theta_new; every entry moves."""
    model, theta_a, theta_b, data = bn_setup
    theta_new = trained_copy(model, data[0], seed=7)
    paths = ["full", "final_to_new_init", "init_to_new_init"]
    curves = evaluate_paths(model, theta_a, theta_b, data, ALPHAS, paths, theta_new=theta_new)
    full = BN_NET_PATHS["full"]
    for path, start in (("final_to_new_init", theta_b), ("init_to_new_init", theta_a)):
        losses, accs = reference_curve(model, start, theta_new, full, data, ALPHAS)
        assert curves[path]["loss"] == pytest.approx(losses, abs=1e-5), path
        assert curves[path]["acc"] == pytest.approx(accs, abs=1e-6), path
    assert curves["final_to_new_init"]["loss"][0] == curves["full"]["loss"][-1]
    assert curves["init_to_new_init"]["loss"][0] == pytest.approx(curves["full"]["loss"][0])


def test_unit_star_is_one_path_per_unit_and_an_integer_is_equal_steps(bn_setup):
    model, theta_a, theta_b, data = bn_setup
    curves = evaluate_paths(model, theta_a, theta_b, data, alphas=5, paths=["unit/*", "full"])
    assert list(curves) == ["unit/conv1", "unit/conv2", "unit/fc", "full"]
    spelled = evaluate_paths(model, theta_a, theta_b, data, [0, 0.25, 0.5, 0.75, 1], list(curves))
    assert curves == spelled


def test_model_and_states_are_left_as_found(bn_setup):
    model, theta_a, theta_b, data = bn_setup
    theta_new = trained_copy(model, data[0], seed=7)
    model.train()
    given = (model.state_dict(), theta_a, theta_b, theta_new)
    before = [{k: v.clone() for k, v in state.items()} for state in given]
    paths = ["full", "unit/fc", "final_to_new_init", "init_to_new_init"]
    first = evaluate_paths(model, theta_a, theta_b, data, ALPHAS, paths, theta_new=theta_new)
    assert model.training
    for state, saved in zip(given, before):
        for k, v in state.items():
            assert torch.equal(v, saved[k]), k
    # so the same states can be used again, with the same answer
    again = evaluate_paths(model, theta_a, theta_b, data, ALPHAS, paths, theta_new=theta_new)
    assert again == first


def test_integer_buffers_come_from_theta_b(bn_setup):
    model, theta_a, theta_b, _ = bn_setup
    assert "bn1.num_batches_tracked" not in moving_keys(model, theta_b, "full")


def test_bn_recompute_uses_training_batch_statistics(bn_setup):
    """With bn_data, statistics at alpha come from a pass over that data, not the lerp."""
    model, theta_a, theta_b, (inputs, targets) = bn_setup
    curves = evaluate_paths(
        model, theta_a, theta_b, (inputs, targets), alphas=[0.5], bn_data=[(inputs, targets)]
    )
    full = BN_NET_PATHS["full"]
    data = (inputs, targets)
    expected, _ = reference_curve(model, theta_a, theta_b, full, data, [0.5], bn_batches=[data])
    assert curves["full"]["loss"] == pytest.approx(expected, abs=1e-5)


def test_unknown_paths_name_the_valid_choices(bn_setup):
    model, _, theta_b, _ = bn_setup
    with pytest.raises(PathError, match=r"unknown unit 'layer9'.*conv1"):
        moving_keys(model, theta_b, "unit/layer9")
    with pytest.raises(PathError, match=r"unknown group 'gamma'.*bn_stats"):
        moving_keys(model, theta_b, "group/conv1/gamma")
    with pytest.raises(PathError, match=r"unknown path 'sideways'.*full"):
        moving_keys(model, theta_b, "sideways")
    with pytest.raises(PathError, match="has no bn_stats"):
        moving_keys(model, theta_b, "group/fc/bn_stats")


def test_units_of_mlp_and_resnet():
    assert discover_units(MLP((2,), 1, hidden=[5, 5, 5])) == {
        f"fc{i}": [f"fc{i}"] for i in range(1, 5)
    }
    net = resnet((3, 32, 32), 10, depth=18)
    assert discover_units(net) == {
        "conv1": ["conv1", "bn1"],
        **{f"layer{i}": [f"layer{i}"] for i in range(1, 5)},
        "fc": ["fc"],
    }
    blocks = discover_units(net, "blocks")
    assert list(blocks) == ["conv1"] + [f"layer{i}.{j}" for i in range(1, 5) for j in (0, 1)] + [
        "fc"
    ]
    with pytest.raises(PathError, match="granularity 'layers'"):
        discover_units(net, "layers")
