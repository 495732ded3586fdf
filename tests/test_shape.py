"""Shape metrics on hand-made curves whose answers are known."""

from __future__ import annotations

import math

import pytest
import torch

from landscape import distance, shape_metrics
from landscape.shape import path_metrics

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


def test_a_curve_with_nonfinite_points_says_so_instead_of_a_shape():
    losses = [2.0, 1.0, float("nan"), None, float("inf"), 0.5, 0.1]
    alphas = [i / 6 for i in range(7)]
    m = shape_metrics(alphas, losses)
    assert m["nonfinite"] == 3
    assert m["shape"] == m["strict_shape"] == "nonfinite"
    assert m["max_rise"] is m["barrier_height"] is m["alpha_max"] is None
    assert shape_metrics([0, 1], [float("nan"), 1.0])["shape"] == "nonfinite"


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


def test_strict_reading_counts_any_rise_the_tolerant_one_only_a_real_one():
    # drop of 2.0 with one rise of 0.01: under 5% of the drop, but a rise
    losses = [2.0, 1.5, 1.0, 1.01, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1, 0.0]
    m = shape_metrics(ALPHAS, losses)
    assert m["strict_shape"] == "B" and m["shape"] == "NB"
    assert m["max_rise"] == pytest.approx(0.01)


def test_a_flat_curve_with_float_noise_is_no_tolerant_barrier():
    losses = [0.6931] * 11
    losses[4] += 3e-7
    m = shape_metrics(ALPHAS, losses)
    assert m["shape"] == "P"  # flat: within the absolute tolerance of L0 everywhere
    assert m["strict_shape"] == "B"  # the paper's literal reading still sees the rise
    assert shape_metrics(ALPHAS, losses, barrier_atol=0.0)["shape"] == "B"


def test_chord_barrier_and_largest_bump_against_brute_force():
    losses = [1.0, 1.4, 0.9, 1.2, 0.3, 0.5, 0.2, 0.25, 0.1, 0.15, 0.0]
    m = shape_metrics(ALPHAS, losses)
    bump = max(losses[j] - losses[i] for i in range(11) for j in range(i, 11))
    chord = max(v - ((1 - a) * losses[0] + a * losses[-1]) for a, v in zip(ALPHAS, losses))
    assert m["max_rise"] == pytest.approx(bump) == pytest.approx(0.4)
    assert m["barrier_height"] == pytest.approx(chord) == pytest.approx(0.5)


def test_the_same_definitions_on_accuracy_read_the_error():
    # accuracy climbs from 0.1 to 0.9 with a dip of 0.2 at alpha 0.5; loss decays smoothly
    accs = [0.1, 0.2, 0.3, 0.4, 0.5, 0.3, 0.6, 0.7, 0.8, 0.85, 0.9]
    losses = [2.0 * (1 - a) for a in ALPHAS]
    m = path_metrics(ALPHAS, losses, accs)
    assert m["shape"] == m["strict_shape"] == "NB"
    assert m["error_shape"] == m["error_strict_shape"] == "B"
    assert m["error_max_rise"] == pytest.approx(0.2)
    # chord of the error at 0.5 is 0.5; the error there is 0.7
    assert m["error_barrier_height"] == pytest.approx(0.2)
    assert path_metrics(ALPHAS, losses, [None] + accs[1:])["error_shape"] == "nonfinite"


def test_points_outside_the_ends_are_not_judged():
    alphas = [-0.5, *ALPHAS, 1.5]
    losses = [9.0, *[2.0 * (1 - a) for a in ALPHAS], 5.0]  # climbs beyond both ends
    m = shape_metrics(alphas, losses)
    assert m["shape"] == "NB" and m["max_rise"] == 0.0
    assert m["barrier_height"] == pytest.approx(0.0, abs=1e-12)


# Curves exactly at each threshold of the tolerant classes. Every number is a dyadic fraction,
# exact in binary, so "exactly at" is exact: L0 = 2, L1 = 0, drop 2.
EXACT = {"barrier_rise": 0.125, "barrier_atol": 0.0, "plateau_band": 0.125}
QUARTERS = [0.0, 0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize(
    "rise, shape", [(0.25, "NB"), (0.25 + 2**-10, "B")], ids=["at_threshold", "just_above"]
)
def test_a_rise_of_exactly_barrier_rise_times_the_drop_is_no_barrier(rise, shape):
    """B needs max_rise > barrier_rise * |L0 - L1| (0.125 * 2 = 0.25): equal is not above."""
    losses = [2.0, 1.0, 1.0 + rise, 0.5, 0.0]
    m = shape_metrics(QUARTERS, losses, plateau_min_fraction=0.5, **EXACT)
    assert m["max_rise"] == rise
    assert m["shape"] == shape


@pytest.mark.parametrize(
    "rise, shape", [(2**-10, "P"), (2**-10 + 2**-20, "B")], ids=["at_atol", "just_above"]
)
def test_a_rise_of_exactly_barrier_atol_on_a_flat_curve_is_no_barrier(rise, shape):
    """On a flat curve (drop 0) the threshold is barrier_atol alone."""
    losses = [1.0, 1.0, 1.0 + rise, 1.0, 1.0]
    m = shape_metrics(QUARTERS, losses, barrier_rise=0.05, barrier_atol=2**-10)
    assert m["shape"] == shape


@pytest.mark.parametrize(
    "second, fraction, shape",
    [(1.75, 0.5, "P"), (1.75 - 2**-10, 0.25, "NB")],
    ids=["on_the_band_edge", "just_outside"],
)
def test_a_point_exactly_on_the_plateau_band_is_inside_it(second, fraction, shape):
    """Within the band is |L - L0| <= plateau_band * drop (0.25 here); with 2 of 4 points in
    it the fraction is exactly plateau_min_fraction = 0.5, which is enough for P."""
    losses = [2.0, second, 1.0, 0.0]
    m = shape_metrics([0.0, 1 / 3, 2 / 3, 1.0], losses, plateau_min_fraction=0.5, **EXACT)
    assert m["max_rise"] == 0.0
    assert m["plateau_fraction"] == fraction
    assert m["shape"] == m["strict_shape"] == shape


@pytest.mark.parametrize(
    "minimum, shape", [(0.5, "P"), (0.5 + 2**-10, "NB")], ids=["at_minimum", "just_above"]
)
def test_a_plateau_fraction_of_exactly_the_minimum_is_a_plateau(minimum, shape):
    losses = [2.0, 2.0, 1.0, 0.0]  # 2 of 4 points at L0
    m = shape_metrics([0.0, 1 / 3, 2 / 3, 1.0], losses, plateau_min_fraction=minimum, **EXACT)
    assert m["plateau_fraction"] == 0.5
    assert m["shape"] == shape
