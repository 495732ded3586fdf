"""Shape metrics on hand-made curves whose answers are known."""

from __future__ import annotations

import math

import pytest
import torch

from landscape import distance, shape_metrics

ALPHAS = [i / 10 for i in range(11)]


def test_monotone_decay_is_NB():
    losses = [2.0 * (1 - a) ** 2 for a in ALPHAS]
    m = shape_metrics(ALPHAS, losses)
    assert m["shape"] == "NB"
    assert m["max_rise"] == 0.0
    assert m["barrier_height"] == pytest.approx(0.0, abs=1e-12)
    assert m["plateau_fraction"] == pytest.approx(1 / 11)


def test_barrier_above_the_start():
    # decays to 1.0, climbs to 3.0 at alpha 0.5, ends at 0.1
    losses = [2.0, 1.5, 1.0, 2.0, 2.5, 3.0, 2.0, 1.0, 0.5, 0.2, 0.1]
    m = shape_metrics(ALPHAS, losses)
    assert m["shape"] == "B"
    assert m["max_rise"] == pytest.approx(2.0)  # 3.0 minus the running minimum 1.0
    assert m["alpha_max"] == pytest.approx(0.5)
    # chord at 0.5: 2.0 - 0.5 * 1.9 = 1.05
    assert m["barrier_height"] == pytest.approx(3.0 - 1.05)


def test_plateau_then_drop_is_P():
    losses = [2.30, 2.31, 2.30, 2.29, 2.30, 2.31, 2.30, 2.28, 1.5, 0.6, 0.1]
    m = shape_metrics(ALPHAS, losses)
    assert m["plateau_fraction"] == pytest.approx(8 / 11)
    assert m["max_rise"] == pytest.approx(0.02)
    assert m["shape"] == "P"


def test_thresholds_are_parameters():
    losses = [1.0, 0.9, 1.0, 0.5, 0.0]  # rise 0.1; 3 of 5 points within 0.1 of the start
    alphas = [0, 0.25, 0.5, 0.75, 1.0]
    assert shape_metrics(alphas, losses)["shape"] == "B"
    assert shape_metrics(alphas, losses, barrier_rise=0.2)["shape"] == "P"
    strict = shape_metrics(alphas, losses, barrier_rise=0.2, plateau_min_fraction=0.7)
    assert strict["shape"] == "NB"


def test_nonfinite_points_are_dropped_and_counted():
    losses = [2.0, 1.0, float("nan"), None, float("inf"), 0.5, 0.1]
    alphas = [i / 6 for i in range(7)]
    m = shape_metrics(alphas, losses)
    assert m["nonfinite"] == 3
    assert m["shape"] == "NB"
    assert shape_metrics([0, 1], [float("nan"), 1.0])["shape"] is None


def test_distance_is_relative_frobenius_norm():
    theta_i = {"w": torch.tensor([3.0, 4.0]), "b": torch.tensor([0.0])}
    theta_f = {"w": torch.tensor([3.0, 4.0]), "b": torch.tensor([5.0])}
    assert distance(theta_i, theta_f) == pytest.approx(1.0)
    assert distance(theta_i, theta_f, ["w"]) == 0.0
    assert math.isclose(distance(theta_f, theta_i), 5.0 / math.sqrt(50))


def test_a_path_from_the_trained_end_is_read_from_its_untrained_end():
    """theta_f -> theta_i' climbs by construction; read back from theta_i' it decays."""
    rising = [0.1 + 2.0 * a**2 for a in ALPHAS]
    assert shape_metrics(ALPHAS, rising)["shape"] == "B"
    read_back = shape_metrics(ALPHAS, rising, read_from_end=True)
    assert read_back["shape"] == "NB" and read_back["max_rise"] == 0.0
    # a bump near theta_f is still a barrier, and alpha_max stays in the path's own alphas
    bump = [0.1, 0.9, 0.5, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0]
    m = shape_metrics(ALPHAS, bump, read_from_end=True)
    assert m["shape"] == "B" and m["max_rise"] == pytest.approx(0.4)
    assert m["alpha_max"] == pytest.approx(0.9)
