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
    losses = [1.0, 0.85, 1.0, 0.5, 0.0]  # rise 0.15 from below the band; 2 of 5 in the band
    alphas = [0, 0.25, 0.5, 0.75, 1.0]
    assert shape_metrics(alphas, losses)["shape"] == "B"
    assert shape_metrics(alphas, losses, barrier_rise=0.2)["shape"] == "NB"
    lower = shape_metrics(alphas, losses, barrier_rise=0.2, plateau_min_fraction=0.4)
    assert lower["shape"] == "P"
    # a band of 0.2 holds the whole rise on a plateau path (3 of 5): noise, in both readings
    wide = shape_metrics(alphas, losses, plateau_band=0.2)
    assert wide["shape"] == wide["strict_shape"] == "P"


def test_a_curve_with_nonfinite_points_says_so_instead_of_a_shape():
    losses = [2.0, 1.0, float("nan"), None, float("inf"), 0.5, 0.1]
    alphas = [i / 6 for i in range(7)]
    m = shape_metrics(alphas, losses)
    assert m["nonfinite"] == 3
    assert m["shape"] == m["strict_shape"] == "nonfinite"
    assert m["max_rise"] is m["barrier_height"] is m["alpha_max"] is None
    assert shape_metrics([0, 0.5, 1], [float("nan"), 1.0, 0.5])["shape"] == "nonfinite"
    # a point beyond the ends is never judged, diverged or not
    beyond = shape_metrics([-1.0, 0, 0.5, 1], [float("inf"), 2.0, 1.0, 0.5])
    assert beyond["shape"] == "NB" and beyond["nonfinite"] == 0


def test_distance_is_relative_frobenius_norm():
    theta_i = {"w": torch.tensor([3.0, 4.0]), "b": torch.tensor([0.0])}
    theta_f = {"w": torch.tensor([3.0, 4.0]), "b": torch.tensor([5.0])}
    assert distance(theta_i, theta_f) == pytest.approx(1.0)
    assert distance(theta_i, theta_f, ["w"]) == 0.0
    assert math.isclose(distance(theta_f, theta_i), 5.0 / math.sqrt(50))


def test_a_path_from_the_trained_end_is_read_from_its_untrained_end():
    """theta_f -> theta_i' climbs by construction; read back from theta_i' it decays."""
    rising = [0.1 + 2.0 * a**2 for a in ALPHAS]
    assert shape_metrics(ALPHAS, rising)["shape"] == "ER"  # read forwards: it never comes down
    read_back = shape_metrics(ALPHAS, rising, read_from_end=True)
    assert read_back["shape"] == "NB" and read_back["max_rise"] == 0.0
    # a bump near theta_f is still a barrier, and alpha_max stays in the path's own alphas
    bump = [0.1, 0.9, 0.5, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0]
    m = shape_metrics(ALPHAS, bump, read_from_end=True)
    assert m["shape"] == "B" and m["max_rise"] == pytest.approx(0.4)
    assert m["alpha_max"] == pytest.approx(0.9)
    assert (m["barrier_start_alpha"], m["barrier_peak_alpha"]) == (0.2, 0.1)


def test_strict_reading_counts_any_rise_the_tolerant_one_only_a_real_one():
    # drop of 2.0 with one rise of 0.01: under 5% of the drop, but a rise
    losses = [2.0, 1.5, 1.0, 1.01, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1, 0.0]
    m = shape_metrics(ALPHAS, losses)
    assert m["strict_shape"] == "B" and m["shape"] == "NB"
    assert m["max_rise"] == pytest.approx(0.01)


def test_a_flat_curve_with_float_noise_is_a_plateau_in_both_readings():
    losses = [0.6931] * 11
    losses[4] += 3e-7
    m = shape_metrics(ALPHAS, losses)
    assert m["shape"] == m["strict_shape"] == "P"  # within the absolute tolerance of L0
    assert m["barrier_start_alpha"] is m["barrier_peak_alpha"] is None
    # with no tolerance at all the rise leaves the (empty) band: a barrier
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


def test_a_noisy_plateau_is_strict_P_and_a_bump_above_its_band_is_not():
    """ResNet-18's full path: chance level (ln 10) with float noise, then the drop."""
    noise = [0.0, 4e-4, -3e-4, 6e-4, -1e-4, 5e-4, 2e-4, -6e-4]
    losses = [2.3026 + n for n in noise] + [1.5, 0.6, 0.3]
    m = shape_metrics(ALPHAS, losses)
    assert m["max_rise"] == pytest.approx(9e-4)  # the rises are there ...
    assert m["strict_shape"] == m["shape"] == "P"  # ... but inside the plateau's band
    bumped = losses[:4] + [2.60] + losses[5:]  # 0.30 above L0: the band is 0.2
    b = shape_metrics(ALPHAS, bumped)
    assert b["strict_shape"] == b["shape"] == "B"
    assert (b["barrier_start_alpha"], b["barrier_peak_alpha"]) == (0.2, 0.4)


def test_a_bump_below_the_start_is_located_at_its_own_top():
    """L0 = ln 10; the bump from 0.5 to 1.2 stays below it, so the curve's highest interior
    point is the step next to theta_i, not the barrier."""
    losses = [2.30, 1.6, 1.0, 0.7, 0.5, 0.8, 1.2, 0.9, 0.4, 0.2, 0.1]
    m = shape_metrics(ALPHAS, losses)
    assert m["shape"] == m["strict_shape"] == "B"
    assert m["alpha_max"] == pytest.approx(0.1)
    assert m["barrier_start_alpha"] == pytest.approx(0.4)
    assert m["barrier_peak_alpha"] == pytest.approx(0.6)
    assert m["max_rise"] == pytest.approx(0.7)


def test_a_rise_to_the_end_is_an_end_rise_without_a_barrier_location():
    """An overfitted net's unit path: down to 0.10 at alpha 0.4, up to 0.167 at theta_f."""
    losses = [0.50, 0.30, 0.18, 0.12, 0.10, 0.11, 0.125, 0.14, 0.15, 0.16, 0.167]
    m = shape_metrics(ALPHAS, losses)
    assert m["shape"] == m["strict_shape"] == "ER"
    assert m["max_rise"] == pytest.approx(0.067)
    assert m["barrier_start_alpha"] is m["barrier_peak_alpha"] is None
    # it comes down by 0.001 at the very end: within the tolerance, still an end rise;
    # the strict reading sees the fall
    dip = losses[:-1] + [0.159]
    assert shape_metrics(ALPHAS, dip)["shape"] == "ER"
    assert shape_metrics(ALPHAS, dip)["strict_shape"] == "B"
    # the paper's letter: any rise is a barrier; then it has a location
    folded = shape_metrics(ALPHAS, losses, end_rise_as_barrier=True)
    assert folded["shape"] == folded["strict_shape"] == "B"
    assert (folded["barrier_start_alpha"], folded["barrier_peak_alpha"]) == (0.4, 1.0)


def test_a_barrier_beside_a_larger_end_rise_is_still_a_barrier():
    losses = [2.0, 1.0, 0.5, 0.8, 0.4, 0.2, 0.1, 0.3, 0.5, 0.7, 0.9]
    m = shape_metrics(ALPHAS, losses)
    assert m["max_rise"] == pytest.approx(0.8)  # the end rise, 0.1 -> 0.9
    assert m["shape"] == "B"  # the bump 0.5 -> 0.8 comes down again
    assert (m["barrier_start_alpha"], m["barrier_peak_alpha"]) == (0.2, 0.3)


def test_monotone_and_plateau_paths_have_no_barrier_location():
    for losses in ([2.0 * (1 - a) for a in ALPHAS], [2.3] * 8 + [1.0, 0.5, 0.1]):
        m = shape_metrics(ALPHAS, losses)
        assert m["shape"] in ("NB", "P")
        assert m["barrier_start_alpha"] is m["barrier_peak_alpha"] is None


@pytest.mark.parametrize("alphas", [[-0.5, -0.1], [0.2, 0.8], [-1.0, 0.5, 1.0, 2.0]])
def test_a_shape_needs_three_points_between_the_ends(alphas):
    m = shape_metrics(alphas, [1.0 + a for a in alphas])
    assert m["shape"] is m["strict_shape"] is m["max_rise"] is m["alpha_max"] is None
    inside = sum(0 <= a <= 1 for a in alphas)
    assert f"{inside} grid point(s) with 0 <= alpha <= 1" in m["note"]
    judged = shape_metrics([-0.5, 0.0, 0.5, 1.0], [5.0, 2.0, 1.0, 0.5])
    assert judged["shape"] == "NB" and "note" not in judged


# Curves exactly at each threshold of the tolerant classes. Every number is a dyadic fraction,
# exact in binary, so "exactly at" is exact: L0 = 2, L1 = 0, drop 2.
EXACT = {"barrier_rise": 0.125, "barrier_atol": 0.0, "plateau_band": 0.125}
QUARTERS = [0.0, 0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize(
    "rise, shape", [(0.25, "NB"), (0.25 + 2**-10, "B")], ids=["at_threshold", "just_above"]
)
def test_a_rise_of_exactly_barrier_rise_times_the_drop_is_no_barrier(rise, shape):
    """B needs a rise > barrier_rise * |L0 - L1| (0.125 * 2 = 0.25): equal is not above."""
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


@pytest.mark.parametrize(
    "end, shape", [(1.0, "ER"), (1.0 - 2**-10, "B")], ids=["fall_at_atol", "just_above"]
)
def test_a_barrier_must_come_down_by_more_than_the_tolerance(end, shape):
    """Rise 0.625 from 0.5 to 1.125, then down to `end`: a fall of exactly barrier_atol
    (0.125, which outweighs barrier_rise * drop here) leaves an end rise, not a barrier."""
    losses = [2.0, 0.5, 1.125, end]
    m = shape_metrics([0.0, 1 / 3, 2 / 3, 1.0], losses, barrier_rise=0.0, barrier_atol=0.125)
    assert m["shape"] == shape
