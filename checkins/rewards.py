"""Pure reward-program rules: who earns what, and how far an account is from the next reward."""

from dataclasses import dataclass

from checkins.models import ProgramKind

MAYOR_WINDOW_DAYS = 60

REQUIRED_SETTINGS = {
    ProgramKind.EVERY_NTH: ("threshold",),
    ProgramKind.FIRST_VISIT: (),
    ProgramKind.FREQUENCY: ("threshold", "window_days"),
    ProgramKind.MAYOR: (),
    ProgramKind.SWARM: ("threshold", "window_minutes"),
    ProgramKind.FLASH: ("threshold",),
    ProgramKind.FRIENDS: ("threshold", "window_minutes"),
}


@dataclass(frozen=True)
class Progress:
    """`current` of `target` towards the program's next reward; `achieved` once it is earned."""

    current: int
    target: int
    achieved: bool = False


def missing_settings(kind: str, settings: dict) -> list[str]:
    """The settings a program of `kind` needs but lacks."""
    return [name for name in REQUIRED_SETTINGS[kind] if settings.get(name) is None]


def every_nth(counted: int, threshold: int) -> tuple[bool, Progress]:
    """A punch card: every `threshold`-th counted check-in earns."""
    earned = counted > 0 and counted % threshold == 0
    return earned, Progress(threshold if earned else counted % threshold, threshold, earned)


def first_visit(counted_ever: int, counted_now: bool) -> tuple[bool, Progress]:
    """The account's first counted check-in at the venue earns."""
    earned = counted_now and counted_ever == 1
    return earned, Progress(min(counted_ever, 1), 1, counted_ever >= 1)


def frequency(
    counted_in_window: int, threshold: int, rewarded_in_window: bool
) -> tuple[bool, Progress]:
    """`threshold` counted check-ins within the window earn, once per window."""
    earned = not rewarded_in_window and counted_in_window >= threshold
    return earned, Progress(
        min(counted_in_window, threshold), threshold, earned or rewarded_in_window
    )


def becomes_mayor(
    days: int, incumbent_days: int | None, is_incumbent: bool, best_rival_days: int = 0
) -> bool:
    """Most distinct counted days wins; a tie keeps the incumbent.

    Without an incumbent (a new program at a venue with history) the account must have at
    least as many days as anyone else, so a newcomer cannot take it from a regular.
    """
    if is_incumbent or days == 0:
        return False
    if incumbent_days is None:
        return days >= best_rival_days
    return days > incumbent_days


def mayor_progress(days: int, incumbent_days: int | None, is_mayor: bool) -> Progress:
    """Days so far against the days needed to take over (or hold) the mayorship."""
    if is_mayor:
        return Progress(days, days, True)
    return Progress(days, (incumbent_days or 0) + 1, False)


def swarm(distinct_accounts: int, threshold: int) -> tuple[bool, Progress]:
    """`threshold` distinct accounts within the window: all of them earn (a swarm counts every
    account at the venue, a friends special the account and its friends)."""
    earned = distinct_accounts >= threshold
    return earned, Progress(min(distinct_accounts, threshold), threshold, earned)


def flash_progress(rewards_issued: int, threshold: int, has_reward: bool) -> Progress:
    """How many of the `threshold` flash rewards are gone."""
    return Progress(rewards_issued, threshold, has_reward)
