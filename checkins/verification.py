"""Pure check-in verification rules (docs/API.md §Check-ins): what makes a check-in count."""

from dataclasses import dataclass

MAX_ACCURACY_ALLOWANCE_M = 100.0
MAX_ACCURACY_M = 200.0
MAX_SPEED_KMH = 300.0

REASONS = ("too-far", "inaccurate", "mock-location", "too-fast", "already-counted-today")


@dataclass(frozen=True)
class PreviousCheckin:
    """The account's previous counted check-in, as seen from the new one."""

    distance_m: float
    seconds_ago: float


def is_too_far(distance_m: float, radius_m: float, accuracy_m: float | None) -> bool:
    """Farther than the venue's radius plus the phone's accuracy (at most 100 m of allowance)."""
    allowance = min(accuracy_m or 0.0, MAX_ACCURACY_ALLOWANCE_M)
    return distance_m > radius_m + allowance


def is_inaccurate(accuracy_m: float | None) -> bool:
    """A fix worse than 200 m proves nothing."""
    return accuracy_m is not None and accuracy_m > MAX_ACCURACY_M


def is_too_fast(previous: PreviousCheckin | None) -> bool:
    """Getting here from the previous counted check-in would need more than 300 km/h."""
    if previous is None:
        return False
    max_distance_m = MAX_SPEED_KMH / 3.6 * max(previous.seconds_ago, 0.0)
    return previous.distance_m > max_distance_m


def failed_rules(
    *,
    distance_m: float,
    radius_m: float,
    accuracy_m: float | None,
    is_mock: bool,
    previous: PreviousCheckin | None,
    counted_today: bool,
) -> list[str]:
    """Every rule the check-in breaks, in docs/API.md's order; empty means it counts."""
    checks = {
        "too-far": is_too_far(distance_m, radius_m, accuracy_m),
        "inaccurate": is_inaccurate(accuracy_m),
        "mock-location": is_mock,
        "too-fast": is_too_fast(previous),
        "already-counted-today": counted_today,
    }
    return [reason for reason in REASONS if checks[reason]]
