"""Pure reward-program rules (checkins/rewards.py). No database."""

import pytest

from checkins import rewards as rules
from checkins.models import ProgramKind
from checkins.rewards import Progress

# --- settings each kind needs ----------------------------------------------------------------


def test_every_program_kind_declares_the_settings_it_needs():
    assert set(rules.REQUIRED_SETTINGS) == set(ProgramKind)


@pytest.mark.parametrize(
    "kind, missing",
    [
        ("every_nth", ["threshold"]),
        ("first_visit", []),
        ("frequency", ["threshold", "window_days"]),
        ("mayor", []),
        ("swarm", ["threshold", "window_minutes"]),
        ("flash", ["threshold"]),
        ("friends", ["threshold", "window_minutes"]),
    ],
)
def test_a_program_without_settings_lacks_exactly_what_its_kind_needs(kind, missing):
    assert rules.missing_settings(kind, {}) == missing


def test_a_setting_given_as_null_counts_as_missing():
    settings = {"threshold": 3, "window_days": None}
    assert rules.missing_settings("frequency", settings) == ["window_days"]


def test_a_program_with_all_its_settings_lacks_nothing():
    assert rules.missing_settings("swarm", {"threshold": 3, "window_minutes": 180}) == []


# --- every_nth -------------------------------------------------------------------------------


def test_a_punch_card_of_five_earns_on_the_fifth_and_tenth_check_in_only():
    earned = [n for n in range(1, 13) if rules.every_nth(n, 5)[0]]
    assert earned == [5, 10]


def test_a_punch_card_shows_the_punches_since_the_last_reward():
    assert [rules.every_nth(n, 5)[1] for n in (0, 1, 4, 5, 6, 9, 10)] == [
        Progress(0, 5),
        Progress(1, 5),
        Progress(4, 5),
        Progress(5, 5, True),
        Progress(1, 5),
        Progress(4, 5),
        Progress(5, 5, True),
    ]


def test_a_punch_card_of_one_earns_on_every_counted_check_in():
    assert all(rules.every_nth(n, 1)[0] for n in range(1, 5))
    assert rules.every_nth(0, 1)[0] is False


# --- first_visit -----------------------------------------------------------------------------


def test_the_first_counted_visit_earns():
    assert rules.first_visit(1, True) == (True, Progress(1, 1, True))


def test_a_second_counted_visit_does_not_earn_again():
    assert rules.first_visit(2, True) == (False, Progress(1, 1, True))


def test_a_check_in_that_did_not_count_earns_no_first_visit():
    assert rules.first_visit(0, False) == (False, Progress(0, 1, False))
    assert rules.first_visit(1, False)[0] is False


# --- frequency -------------------------------------------------------------------------------


def test_frequency_earns_when_the_window_holds_the_threshold():
    assert rules.frequency(3, 3, False) == (True, Progress(3, 3, True))


def test_frequency_does_not_earn_one_short_of_the_threshold():
    assert rules.frequency(2, 3, False) == (False, Progress(2, 3, False))


def test_frequency_earns_once_per_window():
    assert rules.frequency(5, 3, True) == (False, Progress(3, 3, True))


# --- mayor -----------------------------------------------------------------------------------


def test_the_first_visitor_with_a_counted_day_becomes_mayor_of_a_venue_without_one():
    assert rules.becomes_mayor(1, None, False) is True
    assert rules.becomes_mayor(0, None, False) is False


def test_without_a_mayor_a_newcomer_does_not_beat_a_regular_with_more_days():
    assert rules.becomes_mayor(1, None, False, best_rival_days=10) is False
    assert rules.becomes_mayor(10, None, False, best_rival_days=10) is True


def test_one_more_distinct_day_than_the_mayor_takes_over():
    assert rules.becomes_mayor(8, 7, False) is True


def test_a_tie_keeps_the_incumbent_mayor():
    assert rules.becomes_mayor(7, 7, False) is False


def test_fewer_days_than_the_mayor_do_not_take_over():
    assert rules.becomes_mayor(6, 7, False) is False


def test_the_mayor_does_not_become_mayor_again():
    assert rules.becomes_mayor(9, 9, True) is False


def test_a_challenger_sees_the_days_needed_to_take_over():
    assert rules.mayor_progress(3, 7, False) == Progress(3, 8, False)
    assert rules.mayor_progress(0, None, False) == Progress(0, 1, False)


def test_the_mayor_sees_the_mayorship_as_achieved():
    assert rules.mayor_progress(7, 7, True) == Progress(7, 7, True)


# --- swarm and flash -------------------------------------------------------------------------


def test_a_swarm_forms_at_the_threshold_of_distinct_accounts():
    assert rules.swarm(2, 3) == (False, Progress(2, 3, False))
    assert rules.swarm(3, 3) == (True, Progress(3, 3, True))
    assert rules.swarm(4, 3) == (True, Progress(3, 3, True))


def test_flash_progress_counts_the_rewards_already_gone():
    assert rules.flash_progress(2, 5, False) == Progress(2, 5, False)
    assert rules.flash_progress(5, 5, True) == Progress(5, 5, True)
