"""Exactness under concurrency: real parallel HTTP requests to a real gunicorn (2 workers x 8
threads) on the test database. The venue's time zone is chosen so that it is about noon there,
so no run straddles the venue's midnight."""

import requests
from sqlalchemy import text

from tests.checkins_support import (
    events,
    midday_timezone,
    post_all_at_once,
    rewards_by_account,
    rewards_issued,
)
from tests.factories import API, BERLIN, register_over_http, rows


def setup_venue(base_url: str, *programs: dict) -> tuple[dict, list[dict]]:
    """A merchant's venue (about noon local time) with `programs`, all over HTTP."""
    (merchant,) = register_over_http(base_url, 1, "merchant")
    venue = requests.post(
        f"{base_url}{API}/venues",
        headers=merchant["headers"],
        timeout=30,
        json={
            "name": "Café am Markt",
            "location": BERLIN,
            "timezone": midday_timezone(),
        },
    )
    assert venue.status_code == 201, venue.text
    created = []
    for body in programs:
        response = requests.post(
            f"{base_url}{API}/venues/{venue.json()['id']}/reward-programs",
            headers=merchant["headers"],
            json=body,
            timeout=30,
        )
        assert response.status_code == 201, response.text
        created.append(response.json())
    return venue.json(), created


def check_in_together(base_url: str, venue: dict, customers: list[dict]) -> list[requests.Response]:
    """Every customer checks in at the venue's door at the same moment; all must be 201."""
    url = f"{base_url}{API}/venues/{venue['id']}/checkins"
    responses = post_all_at_once(
        [(url, {"location": BERLIN, "accuracy_m": 8}, c["headers"]) for c in customers]
    )
    assert [r.status_code for r in responses] == [201] * len(customers), [r.text for r in responses]
    return responses


def each_member_is_paid_once_a_round(live_server, engine, rounds, crowd, members) -> None:
    """Each round (a venue with one group program) the whole `crowd` checks in at once: exactly
    `members` earn the program, once each; the first round's crowd again, the same local day,
    earns nothing more."""
    for venue, (program,) in rounds:
        check_in_together(live_server, venue, crowd)

        assert rewards_by_account(engine, program["id"]) == {account: 1 for account in members}
        assert rewards_issued(engine, program["id"]) == len(members)

    venue, (program,) = rounds[0]
    again = check_in_together(live_server, venue, crowd)  # the same local day: not twice

    assert not any(r.json()["checkin"]["counted"] or r.json()["rewards"] for r in again)
    assert rewards_by_account(engine, program["id"]) == {account: 1 for account in members}
    earned = sorted(recipient for recipient, _ in events(engine, "reward.earned"))
    assert earned == sorted(list(members) * len(rounds))


def counted_and_total(engine) -> tuple[int, int]:
    ((counted, total),) = rows(
        engine, "SELECT count(*) FILTER (WHERE counted), count(*) FROM checkins"
    )
    return counted, total


def test_ten_parallel_check_ins_by_one_account_at_one_venue_count_exactly_once(live_server, engine):
    venue, (welcome, every) = setup_venue(
        live_server,
        {"kind": "first_visit", "title": "Welcome"},
        {"kind": "every_nth", "title": "Every visit", "threshold": 1},
    )
    (customer,) = register_over_http(live_server, 1)

    responses = check_in_together(live_server, venue, [customer] * 10)

    results = sorted(
        (r.json()["checkin"]["counted"], tuple(r.json()["checkin"]["reasons"])) for r in responses
    )
    assert results == [(False, ("already-counted-today",))] * 9 + [(True, ())]
    assert counted_and_total(engine) == (1, 10)
    assert sum(len(r.json()["rewards"]) for r in responses) == 2
    for program in (welcome, every):
        assert rewards_by_account(engine, program["id"]) == {customer["account"]["id"]: 1}
        assert rewards_issued(engine, program["id"]) == 1


def test_flash_with_threshold_5_gives_exactly_5_rewards_to_20_parallel_check_ins(
    live_server, engine
):
    venue, (flash,) = setup_venue(
        live_server, {"kind": "flash", "title": "First five", "threshold": 5}
    )
    customers = register_over_http(live_server, 20)

    responses = check_in_together(live_server, venue, customers)

    assert all(r.json()["checkin"]["counted"] for r in responses)
    winners = [r for r in responses if r.json()["rewards"]]
    assert len(winners) == 5
    assert all(len(r.json()["rewards"]) == 1 for r in winners)
    by_account = rewards_by_account(engine, flash["id"])
    assert len(by_account) == 5 and set(by_account.values()) == {1}
    assert rewards_issued(engine, flash["id"]) == 5
    earned = sorted(recipient for recipient, _ in events(engine, "reward.earned"))
    assert earned == sorted(by_account)


def test_a_parallel_swarm_rewards_every_member_exactly_once(live_server, engine):
    customers = register_over_http(live_server, 12)
    everyone = {c["account"]["id"] for c in customers}
    # Three venues, three swarms by the same twelve people (standing in one food hall, so
    # hopping between them is not too fast): each round is another chance for a race to show.
    rounds = [
        setup_venue(
            live_server, {"kind": "swarm", "title": "Swarm", "threshold": 3, "window_minutes": 180}
        )
        for _ in range(3)
    ]

    each_member_is_paid_once_a_round(live_server, engine, rounds, customers, everyone)


def test_max_rewards_is_never_exceeded_under_parallel_check_ins(live_server, engine):
    venue, programs = setup_venue(
        live_server,
        {"kind": "first_visit", "title": "Welcome", "max_rewards": 7},
        {"kind": "every_nth", "title": "Every visit", "threshold": 1, "max_rewards": 4},
        {"kind": "swarm", "title": "Swarm", "threshold": 2, "window_minutes": 60, "max_rewards": 5},
        {"kind": "flash", "title": "Flash", "threshold": 10, "max_rewards": 3},
    )
    customers = register_over_http(live_server, 20)

    responses = check_in_together(live_server, venue, customers)

    assert all(r.json()["checkin"]["counted"] for r in responses)
    caps = {"first_visit": 7, "every_nth": 4, "swarm": 5, "flash": 3}
    for program in programs:
        by_account = rewards_by_account(engine, program["id"])
        assert sum(by_account.values()) == caps[program["kind"]], program["kind"]
        assert set(by_account.values()) == {1}, program["kind"]
        assert rewards_issued(engine, program["id"]) == caps[program["kind"]], program["kind"]


def make_friends(engine, group: list[dict]) -> None:
    """Every two accounts of `group` friends (both rows of each friendship), in SQL."""
    ids = [member["account"]["id"] for member in group]
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO friendships (account_id, friend_id) "
                "SELECT a, b FROM unnest(CAST(:ids AS uuid[])) a, unnest(CAST(:ids AS uuid[])) b "
                "WHERE a <> b"
            ),
            {"ids": ids},
        )


def test_a_parallel_friends_special_pays_each_friend_exactly_once_and_no_stranger(
    live_server, engine
):
    friends = register_over_http(live_server, 10)
    strangers = register_over_http(live_server, 5)
    make_friends(engine, friends)
    group = {f["account"]["id"] for f in friends}
    rounds = [
        setup_venue(
            live_server,
            {"kind": "friends", "title": "Bring friends", "threshold": 3, "window_minutes": 180},
        )
        for _ in range(2)
    ]

    # Friends and strangers at the door at the same moment: only the friends are paid.
    each_member_is_paid_once_a_round(live_server, engine, rounds, friends + strangers, group)
