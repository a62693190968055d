"""Pure check-in verification rules (docs/API.md §Check-ins): each bound accepts just inside and
refuses just outside. No database."""

import pytest

from checkins.verification import REASONS, PreviousCheckin, failed_rules

RADIUS_M = 100.0
HONEST = dict(
    distance_m=20.0,
    radius_m=RADIUS_M,
    accuracy_m=10.0,
    is_mock=False,
    previous=None,
    counted_today=False,
)


def reasons(**changes) -> list[str]:
    return failed_rules(**{**HONEST, **changes})


def previous(km: float, minutes: float) -> PreviousCheckin:
    return PreviousCheckin(distance_m=km * 1000, seconds_ago=minutes * 60)


def test_an_honest_check_in_breaks_no_rule():
    assert reasons() == []


def test_the_first_check_in_of_an_account_is_never_too_fast():
    assert reasons(previous=None) == []


# --- too-far: distance > radius + min(accuracy, 100) ----------------------------------------


@pytest.mark.parametrize(
    "distance_m, accuracy_m",
    [
        (100.0, None),  # no accuracy reported: the radius alone
        (100.0, 0.0),
        (125.0, 25.0),  # the radius plus the phone's accuracy
        (200.0, 100.0),  # the full allowance
        (200.0, 180.0),  # a worse fix earns no more than 100 m of allowance
    ],
)
def test_a_check_in_on_the_edge_of_the_radius_plus_accuracy_allowance_is_near_enough(
    distance_m, accuracy_m
):
    assert reasons(distance_m=distance_m, accuracy_m=accuracy_m) == []


@pytest.mark.parametrize(
    "distance_m, accuracy_m",
    [
        (100.01, None),
        (100.01, 0.0),
        (125.01, 25.0),
        (200.01, 100.0),
        (200.01, 180.0),
    ],
)
def test_a_check_in_just_beyond_the_radius_plus_accuracy_allowance_is_too_far(
    distance_m, accuracy_m
):
    assert reasons(distance_m=distance_m, accuracy_m=accuracy_m) == ["too-far"]


def test_the_accuracy_allowance_is_capped_at_100_m_however_bad_the_fix():
    assert reasons(distance_m=250.0, accuracy_m=150.0) == ["too-far"]
    assert reasons(distance_m=199.0, accuracy_m=150.0) == []


def test_the_allowance_follows_the_venues_own_radius():
    assert reasons(distance_m=530.0, radius_m=500.0, accuracy_m=30.0) == []
    assert reasons(distance_m=530.5, radius_m=500.0, accuracy_m=30.0) == ["too-far"]


# --- inaccurate: accuracy > 200 m ------------------------------------------------------------


def test_a_fix_of_exactly_200_m_accuracy_is_accurate_enough():
    assert reasons(accuracy_m=200.0) == []


def test_a_fix_just_worse_than_200_m_is_inaccurate():
    assert reasons(accuracy_m=200.01) == ["inaccurate"]


def test_a_500_m_fix_at_the_door_is_inaccurate_but_not_too_far():
    assert reasons(distance_m=5.0, accuracy_m=500.0) == ["inaccurate"]


def test_a_check_in_without_an_accuracy_is_not_called_inaccurate():
    assert reasons(accuracy_m=None) == []


# --- mock-location ----------------------------------------------------------------------------


def test_a_mock_location_never_counts_even_at_the_door():
    assert reasons(distance_m=0.0, accuracy_m=3.0, is_mock=True) == ["mock-location"]


# --- too-fast: implied speed from the previous counted check-in > 300 km/h --------------------


@pytest.mark.parametrize(
    "km, minutes",
    [
        (300.0, 60.0),  # exactly 300 km/h
        (299.999, 60.0),
        (5.0, 1.0),  # 300 km/h over a minute
        (1.5, 25.0),  # a walk between two cafés
        (0.0, 0.0),  # the same spot again at once
    ],
)
def test_a_check_in_reachable_at_300_kmh_or_less_is_not_too_fast(km, minutes):
    assert reasons(previous=previous(km, minutes)) == []


@pytest.mark.parametrize(
    "km, minutes",
    [
        (300.01, 60.0),
        (5.001, 1.0),
        (504.0, 10.0),  # Berlin, then Munich ten minutes later
        (0.05, 0.0),  # anywhere else in the same instant
    ],
)
def test_a_check_in_that_needs_more_than_300_kmh_is_too_fast(km, minutes):
    assert reasons(previous=previous(km, minutes)) == ["too-fast"]


def test_a_previous_check_in_reported_from_the_future_makes_any_distance_too_fast():
    assert reasons(previous=PreviousCheckin(distance_m=10.0, seconds_ago=-60.0)) == ["too-fast"]


# --- already-counted-today ------------------------------------------------------------------


def test_the_first_counted_check_in_of_the_venue_local_day_counts():
    assert reasons(counted_today=False) == []


def test_a_second_check_in_on_the_same_venue_local_day_is_already_counted():
    assert reasons(counted_today=True) == ["already-counted-today"]


# --- all together ----------------------------------------------------------------------------


def test_every_broken_rule_is_listed_in_the_order_of_the_api_contract():
    assert reasons(
        distance_m=10_000.0,
        accuracy_m=500.0,
        is_mock=True,
        previous=previous(500.0, 10.0),
        counted_today=True,
    ) == list(REASONS)
    assert list(REASONS) == [
        "too-far",
        "inaccurate",
        "mock-location",
        "too-fast",
        "already-counted-today",
    ]
