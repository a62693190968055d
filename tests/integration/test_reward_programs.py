"""Reward programs, evaluated by `checkins.services.check_in` on real PostGIS with an injected
`now`: punch card, first visit, frequency, mayor, swarm, flash, max_rewards, progress, events."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from tests.checkins_support import (
    away,
    check_in,
    create_program,
    events,
    local,
    rewards_by_account,
    rewards_issued,
)
from tests.factories import BERLIN, rows, scalar
from tests.friends_support import befriend
from tests.processes import wait_until

ZONE = "Europe/Berlin"
T0 = local(ZONE, 2026, 3, 2, 10, 0)  # a Monday morning at the venue


@pytest.fixture
def venue(api, merchant):
    return api.create_venue(merchant, name="Café am Markt", location=BERLIN, timezone=ZONE)


@pytest.fixture
def customers(api):
    """`customers(n)`: n new customer accounts."""
    return lambda n: [api.register("customer") for _ in range(n)]


@pytest.fixture
def program(app, merchant, venue):
    """`program(kind, **settings)`: a program at the venue that started at T0."""

    def make(kind, **settings):
        settings.setdefault("starts_at", T0)
        return create_program(
            app, merchant["account"]["id"], venue["id"], T0, kind=kind, **settings
        )

    return make


@pytest.fixture
def visit(app, venue):
    """`visit(customer, at, **kw)`: check in at the venue's door at `at`."""

    def go(customer, at, where=None, **kw):
        return check_in(
            app, customer["account"]["id"], venue["id"], at, where or away(BERLIN, 8, 45), **kw
        )

    return go


def uid(customer) -> str:
    return customer["account"]["id"]


def progress_of(progress: list[dict], program) -> tuple[int, int, bool]:
    (entry,) = [p for p in progress if p["program_id"] == program.id]
    assert entry["remaining"] == max(entry["target"] - entry["current"], 0)
    return entry["current"], entry["target"], entry["achieved"]


def reward_events_for(engine, program) -> list[str]:
    """Recipients of the `reward.earned` events of one program, sorted."""
    return sorted(
        recipient
        for recipient, payload in events(engine, "reward.earned")
        if payload["program_id"] == str(program.id)
    )


# --- every_nth -------------------------------------------------------------------------------


def test_a_punch_card_of_five_over_ten_local_days_earns_two_rewards(
    engine, program, visit, customers
):
    card = program("every_nth", threshold=5, title="Every 5th coffee free")
    (customer,) = customers(1)
    seen = []
    for day in range(10):
        at = T0 + timedelta(days=day, hours=9)  # 19:00 local
        checkin, rewards, progress = visit(customer, at)
        assert checkin.counted
        seen.append((len(rewards), progress_of(progress, card)))
        if day == 2:  # back for dessert the same evening: no extra punch
            again, more, progress = visit(customer, at + timedelta(hours=2))
            assert (again.counted, more, progress_of(progress, card)) == (False, [], (3, 5, False))

    assert seen == [
        (0, (1, 5, False)),
        (0, (2, 5, False)),
        (0, (3, 5, False)),
        (0, (4, 5, False)),
        (1, (5, 5, True)),
        (0, (1, 5, False)),
        (0, (2, 5, False)),
        (0, (3, 5, False)),
        (0, (4, 5, False)),
        (1, (5, 5, True)),
    ]
    assert rewards_by_account(engine, card.id) == {uid(customer): 2}
    assert rewards_issued(engine, card.id) == 2
    assert reward_events_for(engine, card) == [uid(customer)] * 2


def test_each_account_has_its_own_punch_card(engine, program, visit, customers):
    card = program("every_nth", threshold=2)
    anna, ben = customers(2)
    visit(anna, T0)
    visit(ben, T0 + timedelta(minutes=5))
    _, anna_rewards, _ = visit(anna, T0 + timedelta(days=1))

    assert len(anna_rewards) == 1
    assert rewards_by_account(engine, card.id) == {uid(anna): 1}


def test_a_punch_card_counts_only_visits_since_the_program_started(
    app, merchant, venue, engine, visit, customers
):
    (customer,) = customers(1)
    visit(customer, T0 - timedelta(days=2))
    visit(customer, T0 - timedelta(days=1))
    card = create_program(
        app, merchant["account"]["id"], venue["id"], T0, kind="every_nth", threshold=3
    )

    _, rewards, progress = visit(customer, T0 + timedelta(hours=1))

    assert rewards == []
    assert progress_of(progress, card) == (1, 3, False)


# --- first_visit -----------------------------------------------------------------------------


def test_the_first_counted_visit_earns_once_and_a_refused_attempt_does_not_spend_it(
    engine, program, visit, customers
):
    welcome = program("first_visit", title="Free espresso")
    (customer,) = customers(1)

    sofa, nothing, progress = visit(customer, T0, where=away(BERLIN, 2500, 0))
    assert (sofa.counted, nothing, progress_of(progress, welcome)) == (False, [], (0, 1, False))

    _, rewards, progress = visit(customer, T0 + timedelta(hours=1))
    assert [(r.title, r.program_id) for r in rewards] == [("Free espresso", welcome.id)]
    assert progress_of(progress, welcome) == (1, 1, True)

    for day in (1, 2, 8):
        checkin, rewards, _ = visit(customer, T0 + timedelta(days=day))
        assert checkin.counted and rewards == []

    assert rewards_by_account(engine, welcome.id) == {uid(customer): 1}
    assert reward_events_for(engine, welcome) == [uid(customer)]


# --- frequency -------------------------------------------------------------------------------


def test_frequency_rewards_three_visits_within_seven_days_once_per_window(
    engine, program, visit, customers
):
    regular = program("frequency", threshold=3, window_days=7, title="Regular")
    (customer,) = customers(1)
    rewarded_on = []
    for day in (0, 5, 10, 15, 16, 17, 18, 22, 24):
        checkin, rewards, progress = visit(customer, T0 + timedelta(days=day))
        assert checkin.counted
        if rewards:
            rewarded_on.append(day)
        if day == 15:  # two in the last seven days: one to go
            assert progress_of(progress, regular) == (2, 3, False)
        if day == 22:  # three since the reward on day 16, but that reward is in this window
            assert progress_of(progress, regular) == (3, 3, True)

    # 0/5/10/15: never three within seven days. 16: 10, 15, 16. 24: 17, 18, 22, 24 after the
    # reward of day 16, which has left the window.
    assert rewarded_on == [16, 24]
    assert rewards_by_account(engine, regular.id) == {uid(customer): 2}


def test_a_reward_from_another_program_does_not_restart_the_frequency_window(
    engine, program, visit, customers
):
    regular = program("frequency", threshold=2, window_days=7, title="Regular")
    program("first_visit", title="Welcome")
    (customer,) = customers(1)
    _, rewards, _ = visit(customer, T0)  # earns the welcome reward, not the regular one
    assert [r.title for r in rewards] == ["Welcome"]

    _, rewards, progress = visit(customer, T0 + timedelta(days=1))

    assert [r.title for r in rewards] == ["Regular"]
    assert progress_of(progress, regular) == (2, 2, True)


# --- mayor -----------------------------------------------------------------------------------


def test_the_mayorship_changes_once_on_more_distinct_days_and_a_tie_keeps_the_incumbent(
    engine, program, visit, customers
):
    mayor = program("mayor", title="Mayor's coffee")
    anna, ben = customers(2)

    def day(n, minutes=0):
        return T0 + timedelta(days=n, minutes=minutes)

    _, rewards, progress = visit(anna, day(0))
    assert len(rewards) == 1 and progress_of(progress, mayor) == (1, 1, True)
    for n in (0, 1, 2):
        if n:
            visit(anna, day(n))
        _, rewards, progress = visit(ben, day(n, 30))
        assert rewards == []  # tied (or behind): anna stays mayor
    assert progress_of(progress, mayor) == (3, 4, False)
    assert scalar(engine, "SELECT mayor_id::text FROM reward_programs") == uid(anna)
    assert events(engine, "mayor.lost") == []

    _, rewards, progress = visit(ben, day(3))  # 4 days against 3
    assert [r.program_id for r in rewards] == [mayor.id]
    assert progress_of(progress, mayor) == (4, 4, True)
    _, rewards, _ = visit(ben, day(4))  # already mayor: nothing new
    assert rewards == []
    visit(anna, day(3, 30))
    _, rewards, _ = visit(anna, day(4, 30))  # 5 against 5: ben keeps it
    assert rewards == []

    assert scalar(engine, "SELECT mayor_id::text FROM reward_programs") == uid(ben)
    lost = events(engine, "mayor.lost")
    assert [recipient for recipient, _ in lost] == [uid(anna)]
    assert lost[0][1]["program_id"] == str(mayor.id)
    assert rewards_by_account(engine, mayor.id) == {uid(anna): 1, uid(ben): 1}


def test_mayor_days_are_distinct_counted_days_within_the_last_60(engine, program, visit, customers):
    mayor = program("mayor")
    anna, ben = customers(2)
    visit(anna, T0)
    visit(anna, T0 + timedelta(days=1))
    visit(anna, T0 + timedelta(days=1, hours=2))  # the same day again: still two days

    _, rewards, progress = visit(ben, T0 + timedelta(days=59))
    assert rewards == []
    assert progress_of(progress, mayor) == (1, 3, False)  # anna's day 0 is the 60th day back

    _, rewards, _ = visit(ben, T0 + timedelta(days=60))  # anna's day 0 has left the window
    assert [r.program_id for r in rewards] == [mayor.id]
    assert [recipient for recipient, _ in events(engine, "mayor.lost")] == [uid(anna)]


def test_a_new_mayor_program_does_not_crown_a_newcomer_over_a_regular(
    engine, program, visit, customers
):
    anna, ben = customers(2)
    for n in range(5):  # anna's history at the venue predates the program
        visit(anna, T0 + timedelta(days=n))
    mayor = program("mayor", starts_at=T0 + timedelta(days=5))

    _, rewards, _ = visit(ben, T0 + timedelta(days=6))
    assert rewards == []
    assert scalar(engine, "SELECT mayor_id FROM reward_programs") is None

    _, rewards, _ = visit(anna, T0 + timedelta(days=6))
    assert [r.program_id for r in rewards] == [mayor.id]
    assert scalar(engine, "SELECT mayor_id::text FROM reward_programs") == uid(anna)


def test_a_swarm_counts_a_member_whose_concurrent_request_committed_first_with_a_later_clock(
    engine, program, visit, customers
):
    swarm = program("swarm", threshold=3, window_minutes=180)
    anna, ben, cleo = customers(3)
    visit(anna, T0)
    # Ben's request read the clock after Cleo's but won the lock and committed first.
    visit(ben, T0 + timedelta(seconds=2))
    _, rewards, _ = visit(cleo, T0 + timedelta(seconds=1))

    assert [r.program_id for r in rewards] == [swarm.id]
    assert rewards_by_account(engine, swarm.id) == {uid(anna): 1, uid(ben): 1, uid(cleo): 1}


def test_only_a_check_in_that_could_take_the_mayorship_waits_for_the_program_lock(
    engine, venue, program, visit, customers
):
    mayor = program("mayor")
    anna, ben, cleo = customers(3)
    for at in (T0, T0 + timedelta(days=1)):
        visit(anna, at)  # anna: mayor on two days
    visit(ben, T0 + timedelta(days=1, minutes=10))
    for at in (T0 + timedelta(minutes=10), T0 + timedelta(days=1, minutes=20)):
        visit(cleo, at)  # cleo: two days too, a tie that anna keeps
    day_two = T0 + timedelta(days=2)

    # The pool is left last, so the blocker's lock is gone before it waits for its threads.
    with ThreadPoolExecutor(max_workers=2) as pool, engine.connect() as anna_now:
        # anna's own third-day check-in, mid-transaction, holding the program's lock
        anna_now.execute(text("BEGIN"))
        anna_now.execute(
            text("SELECT 1 FROM reward_programs WHERE id = :p FOR UPDATE"), {"p": str(mayor.id)}
        )
        anna_now.execute(
            text("""
            INSERT INTO checkins (account_id, venue_id, location, is_mock, distance_m, counted,
                                  reasons, local_day, created_at)
            SELECT :a, id, location, false, 0, true, '{}', :day, :at FROM venues WHERE id = :v
        """),
            {
                "a": uid(anna),
                "v": venue["id"],
                "at": day_two,
                "day": day_two.astimezone(ZoneInfo(ZONE)).date(),
            },
        )
        # ben's second day only ties anna: nothing to decide, so he does not wait for her
        checkin, rewards, _ = pool.submit(visit, ben, day_two).result(timeout=30)
        assert checkin.counted and rewards == []
        # cleo's third day would beat anna's two: decided under the lock, after anna's third
        cleo_visit = pool.submit(visit, cleo, day_two + timedelta(minutes=5))
        assert wait_until(
            lambda: (
                scalar(
                    engine,
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()",
                )
                == 1
            ),
            timeout=30,
        )
        anna_now.execute(text("COMMIT"))
        checkin, rewards, progress = cleo_visit.result(timeout=30)

    assert checkin.counted and rewards == []  # three days against three: anna keeps it
    assert progress_of(progress, mayor) == (3, 4, False)
    assert scalar(engine, "SELECT mayor_id::text FROM reward_programs") == uid(anna)
    assert events(engine, "mayor.lost") == []


def test_refused_check_ins_never_make_a_mayor(engine, program, visit, customers):
    program("mayor")
    anna, ben = customers(2)
    visit(anna, T0)
    for n in range(1, 5):
        checkin, rewards, _ = visit(ben, T0 + timedelta(days=n), is_mock=True)
        assert not checkin.counted and rewards == []

    assert scalar(engine, "SELECT mayor_id::text FROM reward_programs") == uid(anna)
    assert events(engine, "mayor.lost") == []


# --- swarm -----------------------------------------------------------------------------------


def test_a_swarm_of_three_within_180_minutes_rewards_each_member_once_a_local_day(
    engine, program, visit, customers
):
    swarm = program("swarm", threshold=3, window_minutes=180, title="Swarm: a round on the house")
    a, b, c, d, e, f, g = people = customers(7)
    names = {uid(p): n for p, n in zip(people, "abcdefg")}

    def members_rewarded():
        by_account = rewards_by_account(engine, swarm.id)
        return {names[account]: count for account, count in by_account.items()}

    def at(hour, minute, day=0):
        return local(ZONE, 2026, 3, 2 + day, hour, minute)

    _, rewards, progress = visit(a, at(10, 0))
    assert (rewards, progress_of(progress, swarm)) == ([], (1, 3, False))
    _, rewards, progress = visit(b, at(10, 30))
    assert (rewards, progress_of(progress, swarm)) == ([], (2, 3, False))

    _, rewards, progress = visit(c, at(11, 0))  # the third: the swarm forms
    assert [str(r.account_id) for r in rewards] == [uid(c)]  # the response lists the caller's own
    assert progress_of(progress, swarm) == (3, 3, True)
    assert members_rewarded() == {"a": 1, "b": 1, "c": 1}
    assert reward_events_for(engine, swarm) == sorted([uid(a), uid(b), uid(c)])

    _, rewards, _ = visit(d, at(12, 40))  # a fourth within 180 minutes of a: joins, once
    assert len(rewards) == 1
    assert members_rewarded() == {"a": 1, "b": 1, "c": 1, "d": 1}

    visit(e, at(14, 10))  # window from 11:10: d, e
    assert members_rewarded() == {"a": 1, "b": 1, "c": 1, "d": 1}
    spoof, _, _ = visit(g, at(14, 15), is_mock=True)  # a refused check-in is no member
    assert not spoof.counted
    assert members_rewarded() == {"a": 1, "b": 1, "c": 1, "d": 1}
    visit(f, at(14, 20))  # d, e, f: a new swarm, but d already had it today
    assert members_rewarded() == {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1}

    for minute, person in ((0, a), (10, b), (20, c)):  # the next local day: a new swarm earns again
        visit(person, at(10, minute, day=1))
    assert members_rewarded() == {"a": 2, "b": 2, "c": 2, "d": 1, "e": 1, "f": 1}
    assert rewards_issued(engine, swarm.id) == 9
    assert len(reward_events_for(engine, swarm)) == 9


def test_a_swarm_across_midnight_rewards_each_visit_once(engine, program, visit, customers):
    swarm = program("swarm", threshold=3, window_minutes=180)
    a, b, c, d = people = customers(4)
    times = ((2, 22, 30), (2, 23, 0), (2, 23, 30), (3, 0, 10))
    for person, (day, hour, minute) in zip(people, times):
        visit(person, local(ZONE, 2026, 3, day, hour, minute))

    # d joins last night's swarm just after midnight: d earns it; a, b and c, who each came once
    # and were rewarded for that visit last night, do not earn it again for the same visit.
    assert rewards_by_account(engine, swarm.id) == {uid(p): 1 for p in people}
    assert rewards_issued(engine, swarm.id) == 4


def test_a_swarm_needs_distinct_accounts_not_repeated_visits(engine, program, visit, customers):
    swarm = program("swarm", threshold=2, window_minutes=60)
    (loner,) = customers(1)
    for minute in (0, 10, 20):
        _, rewards, progress = visit(loner, T0 + timedelta(minutes=minute))
        assert rewards == [] and progress_of(progress, swarm) == (1, 2, False)
    assert rewards_issued(engine, swarm.id) == 0


# --- friends (the friends special) ----------------------------------------------------------


def test_a_friends_special_of_three_rewards_the_account_and_its_two_friends_once_a_local_day(
    api, engine, program, visit, customers
):
    special = program("friends", threshold=3, window_minutes=120, title="Bring two friends")
    a, b, c, d = people = customers(4)
    for first, second in ((a, b), (a, c), (b, c), (c, d)):
        befriend(api, first, second)
    names = {uid(p): n for p, n in zip(people, "abcd")}

    def rewarded():
        return {names[acc]: n for acc, n in rewards_by_account(engine, special.id).items()}

    def at(hour, minute, day=0):
        return local(ZONE, 2026, 3, 2 + day, hour, minute)

    _, rewards, progress = visit(a, at(10, 0))
    assert (rewards, progress_of(progress, special)) == ([], (1, 3, False))
    _, rewards, progress = visit(b, at(10, 20))
    assert (rewards, progress_of(progress, special)) == ([], (2, 3, False))
    _, rewards, progress = visit(c, at(10, 40))  # c and two friends: each of them earns
    assert [str(r.account_id) for r in rewards] == [uid(c)]
    assert progress_of(progress, special) == (3, 3, True)
    assert rewarded() == {"a": 1, "b": 1, "c": 1}
    assert reward_events_for(engine, special) == sorted([uid(a), uid(b), uid(c)])

    _, again, _ = visit(c, at(11, 0))  # the same local day: not counted, nothing again
    assert again == []
    _, rewards, progress = visit(d, at(11, 10))  # d's only friend here is c: two, not three
    assert (rewards, progress_of(progress, special)) == ([], (2, 3, False))
    assert rewarded() == {"a": 1, "b": 1, "c": 1}

    for minute, person in ((0, a), (10, b), (20, c)):  # the next local day: once more each
        visit(person, at(10, minute, day=1))
    assert rewarded() == {"a": 2, "b": 2, "c": 2}
    assert rewards_issued(engine, special.id) == 6


def test_three_strangers_together_do_not_earn_a_friends_special(engine, program, visit, customers):
    special = program("friends", threshold=3, window_minutes=120)
    for minute, stranger in enumerate(customers(3)):
        _, rewards, progress = visit(stranger, T0 + timedelta(minutes=minute))
        assert (rewards, progress_of(progress, special)) == ([], (1, 3, False))
    assert rewards_issued(engine, special.id) == 0


def test_a_friends_special_counts_the_checking_in_accounts_own_friends_within_the_window(
    api, engine, program, visit, customers
):
    special = program("friends", threshold=3, window_minutes=60)
    hub, left, right = customers(3)  # left and right are friends of the hub, not of each other
    befriend(api, hub, left)
    befriend(api, hub, right)

    visit(hub, T0)
    visit(left, T0 + timedelta(minutes=10))
    visit(right, T0 + timedelta(minutes=20))  # right's friends here: the hub only
    assert rewards_issued(engine, special.id) == 0

    next_day = T0 + timedelta(days=1)
    visit(left, next_day)
    visit(right, next_day + timedelta(minutes=10))
    visit(hub, next_day + timedelta(minutes=90))  # left is out of the window by then
    assert rewards_issued(engine, special.id) == 0
    visit(left, next_day + timedelta(days=1))
    visit(right, next_day + timedelta(days=1, minutes=10))
    visit(hub, next_day + timedelta(days=1, minutes=20))  # both of the hub's friends: all earn
    assert rewards_by_account(engine, special.id) == {uid(hub): 1, uid(left): 1, uid(right): 1}


# --- flash -----------------------------------------------------------------------------------


def test_flash_rewards_the_first_three_accounts_counted_after_it_starts(
    engine, program, visit, customers
):
    flash = program("flash", threshold=3, starts_at=T0 + timedelta(hours=1), title="First three")
    early, *rest = customers(6)

    _, rewards, progress = visit(early, T0 + timedelta(minutes=30))  # before the start
    assert rewards == [] and progress == []

    got = []
    for n, person in enumerate(rest):
        _, rewards, progress = visit(person, T0 + timedelta(hours=1, minutes=n))
        got.append(len(rewards))
    assert got == [1, 1, 1, 0, 0]
    assert progress_of(progress, flash) == (3, 3, False)

    _, rewards, progress = visit(rest[0], T0 + timedelta(days=1))  # no second one for a winner
    assert rewards == [] and progress_of(progress, flash) == (3, 3, True)
    _, rewards, _ = visit(early, T0 + timedelta(days=1))
    assert rewards == []

    assert rewards_by_account(engine, flash.id) == {uid(p): 1 for p in rest[:3]}
    assert rewards_issued(engine, flash.id) == 3


def test_a_flash_reward_is_not_taken_by_a_refused_check_in(engine, program, visit, customers):
    flash = program("flash", threshold=1)
    cheat, honest = customers(2)
    visit(cheat, T0, where=away(BERLIN, 5000, 0))
    _, rewards, _ = visit(honest, T0 + timedelta(minutes=1))

    assert len(rewards) == 1
    assert rewards_by_account(engine, flash.id) == {uid(honest): 1}


# --- max_rewards, program windows ------------------------------------------------------------


def test_max_rewards_caps_a_program_across_accounts(engine, program, visit, customers):
    limited = program("every_nth", threshold=1, max_rewards=2)
    people = customers(3)
    got = [len(visit(p, T0 + timedelta(minutes=n))[1]) for n, p in enumerate(people)]
    got.append(len(visit(people[0], T0 + timedelta(days=1))[1]))

    assert got == [1, 1, 0, 0]
    assert rewards_issued(engine, limited.id) == 2
    assert scalar(engine, "SELECT count(*) FROM rewards") == 2


def test_a_swarm_with_max_rewards_stops_mid_swarm(engine, program, visit, customers):
    swarm = program("swarm", threshold=3, window_minutes=60, max_rewards=2)
    for n, person in enumerate(customers(4)):
        visit(person, T0 + timedelta(minutes=n))

    assert sum(rewards_by_account(engine, swarm.id).values()) == 2
    assert rewards_issued(engine, swarm.id) == 2


def test_programs_outside_their_dates_neither_reward_nor_report_progress(
    engine, program, visit, customers
):
    program("first_visit", starts_at=T0 - timedelta(days=10), ends_at=T0 - timedelta(days=1))
    program("first_visit", starts_at=T0 + timedelta(days=1))
    (customer,) = customers(1)

    checkin, rewards, progress = visit(customer, T0)

    assert checkin.counted
    assert (rewards, progress) == ([], [])
    assert scalar(engine, "SELECT count(*) FROM rewards") == 0


# --- progress and events ---------------------------------------------------------------------


def test_the_first_check_in_reports_progress_towards_every_active_program(
    engine, program, visit, customers
):
    programs = [
        program("every_nth", threshold=3, title="Punch card"),
        program("first_visit", title="Welcome"),
        program("frequency", threshold=2, window_days=7, title="Regular"),
        program("mayor", title="Mayor"),
        program("swarm", threshold=3, window_minutes=60, title="Swarm"),
        program("flash", threshold=10, title="Flash"),
    ]
    (customer,) = customers(1)

    _, rewards, progress = visit(customer, T0 + timedelta(hours=1))

    assert [
        (
            p["program_id"],
            p["kind"],
            p["title"],
            p["current"],
            p["target"],
            p["remaining"],
            p["achieved"],
        )
        for p in progress
    ] == [
        (programs[0].id, "every_nth", "Punch card", 1, 3, 2, False),
        (programs[1].id, "first_visit", "Welcome", 1, 1, 0, True),
        (programs[2].id, "frequency", "Regular", 1, 2, 1, False),
        (programs[3].id, "mayor", "Mayor", 1, 1, 0, True),
        (programs[4].id, "swarm", "Swarm", 1, 3, 2, False),
        (programs[5].id, "flash", "Flash", 1, 10, 9, True),
    ]
    assert sorted(r.title for r in rewards) == ["Flash", "Mayor", "Welcome"]


def test_every_reward_enqueues_one_reward_earned_event_for_its_account(
    engine, program, visit, customers
):
    program("first_visit", title="Welcome")
    program("swarm", threshold=2, window_minutes=60, title="Duo")
    anna, ben = customers(2)
    visit(anna, T0)
    visit(ben, T0 + timedelta(minutes=5))

    earned = events(engine, "reward.earned")
    rewards = {
        code: (str(account), str(program_id), title)
        for code, account, program_id, title in rows(
            engine, "SELECT code, account_id, program_id, title FROM rewards"
        )
    }
    assert len(rewards) == 4  # two welcomes, two duo rewards
    assert sorted(payload["code"] for _, payload in earned) == sorted(rewards)
    for recipient, payload in earned:
        account, program_id, title = rewards[payload["code"]]
        assert (recipient, payload["program_id"], payload["title"]) == (account, program_id, title)
        assert payload["venue_id"]
