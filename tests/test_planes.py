"""Planes through three states: the engine against the plain loop, and the biased-view grid."""

from __future__ import annotations

import copy

import pytest
import torch

from benchmarks.reference import reference_plane, trained_copy
from landscape import evaluate_paths, moving_keys
from landscape.evaluate import DEFAULT_CACHE_BYTES, evaluate_state
from landscape.planes import (
    evaluate_plane,
    plane_coordinates,
    weights_biases_ends,
)

XS = [-0.5, 0.0, 0.5, 1.0, 1.5]
YS = [0.0, 0.5, 1.0]


@pytest.fixture(scope="module")
def resnet_three_states(small_resnet):
    """The engine tests' small ResNet-18 and its two states, and a third state beside them."""
    model, origin, first, batches = small_resnet
    inputs = torch.cat([x for x, _ in batches])
    second = trained_copy(model, inputs, seed=2, scale=0.05)
    return model, origin, first, second, batches


@pytest.mark.parametrize(
    "path, bn, cache_bytes",
    [
        ("full", "interpolate", DEFAULT_CACHE_BYTES),
        ("unit/layer3", "interpolate", DEFAULT_CACHE_BYTES),
        ("unit/layer3", "recompute", 1),  # one example per chunk, BN statistics per point
        ("full", "recompute", 1),
    ],
)
def test_plane_matches_plain_loop(resnet_three_states, path, bn, cache_bytes):
    model, origin, first, second, batches = resnet_three_states
    bn_data = [(x + 0.5, y) for x, y in batches] if bn == "recompute" else None
    plane = evaluate_plane(
        model, origin, first, second, batches, XS, YS, path=path, bn_data=bn_data,
        cache_bytes=cache_bytes,
    )  # fmt: skip
    keys = moving_keys(model, first, path)
    losses, accs = reference_plane(
        model, origin, first, second, keys, batches, XS, YS, bn_batches=bn_data
    )
    flat = [v for row in plane["loss"] for v in row]
    assert flat == pytest.approx([v for row in losses for v in row], abs=1e-5)
    assert plane["acc"] == accs
    assert max(flat) - min(flat) > 0.05  # the grid is not flat: agreement means something


def test_plane_at_its_three_states_equals_evaluate_state(resnet_three_states):
    model, origin, first, second, batches = resnet_three_states
    plane = evaluate_plane(model, origin, first, second, batches, XS, YS)
    for state, (x, y) in ((origin, (0.0, 0.0)), (first, (1.0, 0.0)), (second, (0.0, 1.0))):
        work = copy.deepcopy(model).eval()
        work.load_state_dict(state)
        loss, acc = evaluate_state(work, batches, "cross_entropy")
        assert plane["loss"][YS.index(y)][XS.index(x)] == pytest.approx(loss, abs=1e-6)
        assert plane["acc"][YS.index(y)][XS.index(x)] == acc


def test_weights_biases_grid_diagonal_is_the_full_path(resnet_three_states):
    model, theta_i, theta_f, _, batches = resnet_three_states
    alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
    weights_end, biases_end = weights_biases_ends(model, theta_i, theta_f)
    grid = evaluate_plane(model, theta_i, weights_end, biases_end, batches, alphas, alphas)
    full = evaluate_paths(model, theta_i, theta_f, batches, alphas=alphas, paths=["full"])["full"]
    diagonal = [grid["loss"][j][j] for j in range(len(alphas))]
    assert diagonal == pytest.approx(full["loss"], abs=1e-6)
    assert [grid["acc"][j][j] for j in range(len(alphas))] == full["acc"]
    assert max(full["loss"]) - min(full["loss"]) > 0.05
    # off the diagonal the grid is something else: the weights alone do not give the path
    assert grid["loss"][0][2] != pytest.approx(full["loss"][2], abs=1e-3)


def test_plane_coordinates_recover_a_point_of_the_plane(resnet_three_states):
    _, origin, first, second, _ = resnet_three_states
    keys = [k for k, v in first.items() if v.is_floating_point()]
    point = {
        k: origin[k] + 0.3 * (first[k] - origin[k]) - 0.7 * (second[k] - origin[k]) for k in keys
    }
    (found,) = plane_coordinates([point], origin, first, second, keys)
    assert found["x"] == pytest.approx(0.3, abs=1e-6)
    assert found["y"] == pytest.approx(-0.7, abs=1e-6)
    assert found["off_plane"] == pytest.approx(0.0, abs=1e-4)
