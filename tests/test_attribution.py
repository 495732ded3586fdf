"""Attribution, curvature and agreement along a path, each against an independent computation."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape import diagnose_paths, evaluate_paths
from landscape.attribution import barrier_points, cumulative_trapezoid, partition_keys, simpson
from landscape.diagnostics import shard_examples
from landscape.evaluate import interpolate_state
from landscape.paths import moving_keys
from lightning_modules.data.spiral import make_spiral
from lightning_modules.models import MLP
from tests.conftest import SmallBNNet


def plain_loss(model, state, inputs, targets):
    """Mean cross entropy of `model` holding `state`, the plain way, in float64."""
    work = copy.deepcopy(model).double().eval()
    work.load_state_dict(state)
    return F.cross_entropy(work(inputs.double()), targets)


def squared_error(outputs, targets):
    return ((outputs - targets) ** 2).sum()


class Linear(nn.Module):
    """A linear model: with squared error its loss is quadratic in its parameters."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        return self.fc(x)


def test_trapezoid_is_exact_on_a_quadratic_loss():
    """L quadratic in theta: dL/dalpha is linear in alpha, so the trapezoid rule is exact and
    each part's share is grad_u L(theta(1/2)) . delta_u (the midpoint, computed plainly)."""
    torch.manual_seed(0)
    model = Linear()
    inputs, targets = torch.randn(40, 5), torch.randn(40, 3)
    theta_a = {k: v.clone() for k, v in model.state_dict().items()}
    theta_b = {k: v + 0.3 * torch.randn_like(v) for k, v in theta_a.items()}
    found = diagnose_paths(model, theta_a, theta_b, (inputs, targets), alphas=5,
                           diagnostics=["attribution"], partition="weights_biases",
                           loss=squared_error)["full"]["attribution"]  # fmt: skip
    middle = {k: v.double().requires_grad_() for k, v in interpolate_state(
        theta_a, theta_b, 0.5).items()}  # fmt: skip
    mse = torch.func.functional_call(model.double(), middle, inputs.double())
    grads = torch.autograd.grad(squared_error(mse, targets.double()) / 40, list(middle.values()))
    grads = dict(zip(middle, grads))
    expected = {
        part: float((grads[f"fc.{leaf}"] * (theta_b[f"fc.{leaf}"] - theta_a[f"fc.{leaf}"])).sum())
        for part, leaf in (("weights", "weight"), ("biases", "bias"))
    }
    assert found["parts"] == ["weights", "biases"]
    assert max(abs(r) for r in found["residual"]) < 1e-6
    for part, value in expected.items():
        assert found["total"][part] == pytest.approx(value, abs=1e-6)
    assert abs(found["change"]) > 0.5  # a change worth splitting


def spiral_states(hidden=(50, 50), steps=300):
    """A ReLU MLP on 1000 spiral points, trained briefly: theta_i and theta_f of a real fit."""
    torch.manual_seed(0)
    model = MLP((2,), 1, hidden=list(hidden))
    inputs, targets = make_spiral(1000, generator=torch.Generator().manual_seed(0))
    theta_i = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters(), 5e-3)
    for _ in range(steps):
        optimizer.zero_grad()
        F.binary_cross_entropy_with_logits(model(inputs), targets).backward()
        optimizer.step()
    return model, theta_i, {k: v.clone() for k, v in model.state_dict().items()}, inputs, targets


def residuals(model, theta_a, theta_b, data, counts, loss):
    return [
        diagnose_paths(
            model, theta_a, theta_b, data, alphas=n, diagnostics=["attribution"], loss=loss
        )["full"]["attribution"]  # fmt: skip
        for n in counts
    ]


def test_the_residual_falls_as_the_grid_is_refined_on_the_spiral_mlp():
    model, theta_i, theta_f, inputs, targets = spiral_states()
    found = residuals(model, theta_i, theta_f, (inputs, targets), (11, 21, 51, 101), "bce")
    final = [abs(a["residual"][-1]) for a in found]
    assert final == sorted(final, reverse=True)  # every refinement helps
    assert final[-1] < final[0] / 10
    assert final[0] < 0.02 * abs(found[0]["change"])  # small beside what is split


def test_trapezoid_residual_falls_four_times_per_halving_on_a_smooth_net():
    """ReLU kinks make dL/dalpha piecewise smooth; on a tanh net the h^2 law is clean, which
    checks the rule itself: 4x per halving, Simpson much smaller."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    inputs, targets = make_spiral(200, generator=torch.Generator().manual_seed(0))
    theta_a = {k: v.clone() for k, v in model.state_dict().items()}
    theta_b = {k: v + torch.randn_like(v) for k, v in theta_a.items()}
    found = residuals(model, theta_a, theta_b, (inputs, targets), (11, 21, 41), "bce")
    final = [a["residual"][-1] for a in found]
    for coarse, fine in zip(final, final[1:]):
        assert 3.8 < coarse / fine < 4.2
    assert abs(found[1]["residual_simpson"]) < abs(final[1]) / 50


def test_bn_statistics_get_their_share_on_a_resnet(small_resnet):
    """bn=interpolate moves the running statistics: their part is needed for the parts to sum
    to the curve's change (dropping it leaves a residual many times the quadrature's)."""
    model, theta_a, theta_b, batches = small_resnet
    found = diagnose_paths(model, theta_a, theta_b, batches, alphas=21,
                           diagnostics=["attribution"], partition="weights_biases")  # fmt: skip
    attribution = found["full"]["attribution"]
    curve = evaluate_paths(model, theta_a, theta_b, batches, alphas=[0.0, 1.0])["full"]["loss"]
    assert attribution["change"] == pytest.approx(curve[1] - curve[0], abs=1e-5)
    assert set(attribution["parts"]) == {"weights", "biases", "bn_stats"}
    residual = abs(attribution["residual_simpson"])
    assert residual < 1e-3 * abs(attribution["change"])
    assert abs(attribution["total_simpson"]["bn_stats"]) > 20 * residual
    by_units = diagnose_paths(model, theta_a, theta_b, batches, alphas=21,
                              diagnostics=["attribution"])["full"]["attribution"]  # fmt: skip
    assert sum(by_units["total_simpson"].values()) == pytest.approx(
        sum(attribution["total_simpson"].values()), abs=1e-5
    )


def test_both_ways_to_the_statistics_gradients_agree(small_resnet):
    """Through the fused BN kernel by the chain rule (attribution alone) and through BN
    written with its statistics as inputs (with curvature): the same rates."""
    model, theta_a, theta_b, batches = small_resnet
    rates = [
        diagnose_paths(
            model,
            theta_a,
            theta_b,
            batches,
            [0.0, 0.6],
            ["full", "group/layer1/bn_stats"],
            diagnostics=wanted,
            partition="groups",
            hessian={"alphas": []},
        )  # fmt: skip
        for wanted in (["attribution"], ["attribution", "curvature"])
    ]
    for path in ("full", "group/layer1/bn_stats"):
        fused, by_inputs = (r[path]["attribution"]["rate"] for r in rates)
        assert fused.keys() == by_inputs.keys()
        for part in fused:
            assert fused[part] == pytest.approx(by_inputs[part], rel=1e-4, abs=1e-7), part
    assert any(abs(v) > 1e-3 for v in fused["layer1/bn_stats"])


def test_rates_equal_plain_gradients_on_unit_and_full_paths(mlp_setup):
    """grad_u L . delta_u at each alpha, from a unit path that starts mid-network (prefix
    cached) and from the full path, against plain float64 autograd."""
    model, theta_a, theta_b, (inputs, targets) = mlp_setup
    alphas = [0.0, 0.3, 1.0]
    for path in ("full", "unit/fc2"):
        found = diagnose_paths(model, theta_a, theta_b, (inputs, targets), alphas, [path],
                               diagnostics=["attribution"])[path]["attribution"]  # fmt: skip
        moving = ["fc2.weight", "fc2.bias"] if path != "full" else list(theta_b)
        for j, alpha in enumerate(alphas):
            state = interpolate_state(theta_a, theta_b, alpha, moving)
            leaves = {k: v.double().requires_grad_() for k, v in state.items()}
            logits = torch.func.functional_call(model.double(), leaves, inputs.double())
            grads = torch.autograd.grad(F.cross_entropy(logits, targets), list(leaves.values()))
            for unit, rate in found["rate"].items():
                expected = sum(
                    float((g * (theta_b[k] - theta_a[k]).double()).sum())
                    for k, g in zip(leaves, grads)
                    if k.startswith(unit + ".") and k in moving
                )
                assert rate[j] == pytest.approx(expected, rel=1e-4, abs=1e-6)
        model.float()
    assert found["parts"] == ["fc2"]  # a unit path splits only what it moves


class SmoothBNNet(SmallBNNet):
    """SmallBNNet with tanh for ReLU: a loss with a second derivative everywhere."""

    def forward(self, x):
        x = torch.tanh(self.bn1(self.conv1(x)))
        x = torch.tanh(self.bn2(self.conv2(x)))
        return self.fc(x.mean(dim=(2, 3)))


def test_curvature_equals_the_second_difference_of_the_loss(bn_setup):
    """d2L/dalpha2 (forward over reverse, fp32) against (L(a+h) - 2L(a) + L(a-h)) / h^2 of
    the plain float64 loss, h = 1e-3: within 1e-3 relative, on every path kind, BN
    statistics moving. A smooth net: on a ReLU net the curve's second difference also
    counts the kinks where activations switch, which d2L/dalpha2 between them does not."""
    _, theta_a, theta_b, (inputs, targets) = bn_setup
    model = SmoothBNNet()
    alphas, paths = [0.25, 0.6], ["full", "unit/conv1", "group/conv1/bn_stats", "weights"]
    found = diagnose_paths(model, theta_a, theta_b, (inputs, targets), alphas, paths,
                           diagnostics=["curvature"], hessian={"alphas": []})  # fmt: skip
    h = 1e-3
    a64 = {k: v.double() if v.is_floating_point() else v for k, v in theta_a.items()}
    b64 = {k: v.double() if v.is_floating_point() else v for k, v in theta_b.items()}
    for path in paths:
        keys = moving_keys(model, theta_b, path)
        for alpha, value in zip(alphas, found[path]["curvature"]["along_path"]):
            with torch.no_grad():
                losses = [plain_loss(model, interpolate_state(a64, b64, alpha + s * h, keys),
                                     inputs, targets) for s in (-1, 0, 1)]  # fmt: skip
            second = float((losses[0] - 2 * losses[1] + losses[2]) / h**2)
            assert value == pytest.approx(second, rel=1e-3, abs=1e-5)
    assert abs(found["full"]["curvature"]["along_path"][0]) > 1e-2


def tiny_mlp_hessian():
    """A 26-parameter MLP, its end states, data, and the exact Hessian of the mean loss at
    alpha = 0.5 (float64, torch.autograd.functional.hessian)."""
    torch.manual_seed(0)
    model = MLP((3,), 2, hidden=[4])
    inputs, targets = torch.randn(30, 3), torch.randint(0, 2, (30,))
    theta_a = {k: v.clone() for k, v in model.state_dict().items()}
    theta_b = {k: v + 0.8 * torch.randn_like(v) for k, v in theta_a.items()}
    middle = interpolate_state(theta_a, theta_b, 0.5)
    shapes = {k: v.shape for k, v in middle.items()}
    flat = torch.cat([v.double().flatten() for v in middle.values()])

    def loss(vector):
        state, offset = {}, 0
        for k, shape in shapes.items():
            state[k] = vector[offset : offset + shape.numel()].view(shape)
            offset += shape.numel()
        logits = torch.func.functional_call(model.double(), state, inputs.double())
        return F.cross_entropy(logits, targets)

    hessian = torch.autograd.functional.hessian(loss, flat)
    model.float()
    return model, theta_a, theta_b, (inputs, targets), hessian


def test_top_eigenvalue_and_trace_against_the_full_hessian():
    model, theta_a, theta_b, data, hessian = tiny_mlp_hessian()
    eigenvalues = torch.linalg.eigvalsh(hessian)
    top = float(eigenvalues[eigenvalues.abs().argmax()])
    options = {"alphas": [0.5], "iters": 1000, "probes": 400}
    found = diagnose_paths(model, theta_a, theta_b, data, [0.0, 0.5, 1.0],
                           diagnostics=["curvature"], hessian=options)  # fmt: skip
    (entry,) = found["full"]["curvature"]["hessian"]
    assert entry["alpha"] == 0.5
    assert entry["top_eigenvalue"] == pytest.approx(top, abs=1e-4)
    assert entry["iterations"] < 1000  # it settled
    exact = float(hessian.trace())
    assert abs(entry["trace"] - exact) < 3 * entry["trace_standard_error"]
    assert entry["trace_standard_error"] < 0.2 * abs(exact)  # a test that can fail


def sign_flipped_states():
    """A tanh net trained briefly, and the same function with its hidden units' signs flipped:
    the straight path between them passes the constant predictor at alpha = 1/2, a barrier
    with equal ends."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 4))
    inputs, targets = torch.randn(50, 5), torch.randint(0, 4, (50,))
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(100):
        optimizer.zero_grad()
        F.cross_entropy(model(inputs), targets).backward()
        optimizer.step()
    theta_a = {k: v.detach().clone() for k, v in model.state_dict().items()}
    flip = ("0.weight", "0.bias", "2.weight")
    theta_b = {k: -v if k in flip else v.clone() for k, v in theta_a.items()}
    return model, theta_a, theta_b, (inputs, targets)


def test_hessian_at_the_barrier_points_and_none_without_a_barrier(mlp_setup):
    model, theta_a, theta_b, data = sign_flipped_states()
    options = {"alphas": ["peak", "start", 0.0], "iters": 3, "probes": 2}
    wanted = ["curvature", "attribution"]
    found = diagnose_paths(model, theta_a, theta_b, data, 5, diagnostics=wanted,
                           hessian=options)["full"]  # fmt: skip
    peak, start, zero = found["curvature"]["hessian"]
    assert (start["alpha"], peak["alpha"]) == (0.0, 0.5)
    assert start == {**zero, "at": "start"}  # the same alpha, computed once
    barrier = found["attribution"]["barrier"]
    assert (barrier["start_alpha"], barrier["peak_alpha"]) == (0.0, 0.5)
    assert barrier["rise"] == pytest.approx(found["loss"][2] - found["loss"][0])
    assert barrier["rise"] > 0.1
    # mlp_setup's path only rises (an end rise, issue 19's ER): no barrier to split
    model, theta_a, theta_b, data = mlp_setup
    rising = diagnose_paths(model, theta_a, theta_b, data, 5, diagnostics=wanted,
                            hessian=options)["full"]  # fmt: skip
    assert rising["loss"] == sorted(rising["loss"])
    notes = [e.get("note") for e in rising["curvature"]["hessian"]]
    assert notes == ["the path has no barrier", "the path has no barrier", None]
    assert rising["attribution"]["barrier"] is None
    folded = diagnose_paths(model, theta_a, theta_b, data, 5, diagnostics=["attribution"],
                            thresholds={"end_rise_as_barrier": True})["full"]  # fmt: skip
    assert folded["attribution"]["barrier"]["peak_alpha"] == 1.0


def test_agreement_counts_predictions_equal_to_the_ends(mlp_setup):
    model, theta_a, theta_b, (inputs, targets) = mlp_setup
    theta_b = {k: v + 0.5 * torch.randn_like(v) for k, v in theta_b.items()}
    alphas = [0.0, 0.4, 0.7, 1.0]
    found = diagnose_paths(model, theta_a, theta_b, (inputs, targets), alphas,
                           diagnostics=["agreement"])["full"]["agreement"]  # fmt: skip

    def predicted(alpha):
        work = copy.deepcopy(model).eval()
        work.load_state_dict(interpolate_state(theta_a, theta_b, alpha))
        with torch.no_grad():
            return work(inputs).argmax(1)

    start, end = predicted(0.0), predicted(1.0)
    for j, alpha in enumerate(alphas):
        assert found["with_start"][j] == pytest.approx(
            float((predicted(alpha) == start).float().mean())
        )
        assert found["with_end"][j] == pytest.approx(
            float((predicted(alpha) == end).float().mean())
        )
    assert found["with_start"][0] == found["with_end"][-1] == 1.0
    assert found["with_start"][-1] < 1.0  # the ends disagree somewhere: the test can fail


def test_barrier_points_are_where_results_json_puts_the_barrier():
    alphas = [i / 5 for i in range(6)]
    curve = [1.0, 0.5, 0.8, 0.3, 0.9, 0.2]
    assert barrier_points(alphas, curve) == (3, 4)  # rise 0.6 beats 0.3
    assert barrier_points(alphas, curve, read_from_end=True) == (5, 4)  # 0.2 up to 0.9, down
    assert barrier_points([0.0, 0.5, 1.0], [3.0, 2.0, 1.0]) is None
    assert barrier_points([0.0, 0.5, 1.0], [1.0, 2.0, 3.0]) is None  # an end rise (ER)
    # points beyond [0, 1] are not judged
    assert barrier_points([-0.5, 0.0, 0.5, 1.0], [0.0, 5.0, 4.0, 3.0]) is None


def test_quadrature_rules():
    grid = [0.0, 0.1, 0.35, 0.5, 0.9, 1.0]  # uneven
    quadratic = [3 * a * a - a + 2 for a in grid]
    exact = lambda a: a**3 - a * a / 2 + 2 * a  # noqa: E731
    assert simpson(grid, quadratic, 0, 4) == pytest.approx(exact(0.9), abs=1e-12)
    assert simpson(grid, quadratic, 4, 0) == pytest.approx(-exact(0.9), abs=1e-12)
    assert simpson(grid, quadratic, 0, 5) is None  # an odd number of intervals
    linear = [2 * a + 1 for a in grid]
    assert cumulative_trapezoid(grid, linear)[-1] == pytest.approx(2.0)


def test_partitions_cover_every_moving_key_once(bn_setup):
    model, _, theta_b, _ = bn_setup
    keys = [k for k, v in theta_b.items() if v.is_floating_point()]
    for partition in ("units", "groups", "weights_biases"):
        parts = partition_keys(model, keys, partition)
        assert sorted(k for part in parts.values() for k in part) == sorted(keys)
    assert partition_keys(model, keys, "groups")["conv1/bn_stats"] == [
        "bn1.running_mean",
        "bn1.running_var",
    ]


def test_examples_are_sharded_exactly_once():
    batches = [(torch.arange(5), torch.arange(5)), (torch.arange(5, 7), torch.arange(5, 7))]
    shards = [shard_examples(batches, rank, 3) for rank in range(3)]
    seen = sorted(int(v) for shard in shards for _, y in shard for v in y)
    assert seen == list(range(7))


def test_unknown_names_are_refused(mlp_setup):
    model, theta_a, theta_b, data = mlp_setup
    with pytest.raises(ValueError, match="unknown diagnostics"):
        diagnose_paths(model, theta_a, theta_b, data, diagnostics=["curvatur"])
    with pytest.raises(ValueError, match="unknown partition"):
        diagnose_paths(model, theta_a, theta_b, data, partition="layers")
