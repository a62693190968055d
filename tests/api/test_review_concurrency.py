"""Real parallel review writes against a live gunicorn: the venue's `rating` stays exactly the
mean and count of its visible reviews, and one account gets one review whatever races."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.factories import API, BERLIN, register_over_http
from tests.reviews_support import visible_rating


def in_parallel(calls: list) -> list:
    """Run every `call()` at once (released together by a barrier); their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.fixture
def venue(live_server) -> dict:
    merchant = register_over_http(live_server, 1, role="merchant")[0]
    response = requests.post(
        f"{live_server}{API}/venues",
        headers=merchant["headers"],
        json={"name": "Busy café", "location": BERLIN},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()


def visitors(live_server, venue: dict, count: int) -> list[dict]:
    """`count` customers, each with a counted check-in at the venue."""
    customers = register_over_http(live_server, count)

    def check_in(customer):
        return requests.post(
            f"{live_server}{API}/venues/{venue['id']}/checkins",
            headers=customer["headers"],
            json={"location": BERLIN, "accuracy_m": 10},
            timeout=30,
        ).json()["checkin"]["counted"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(check_in, customers))
    return customers


def write(live_server, venue, customer, rating):
    return lambda: requests.post(
        f"{live_server}{API}/venues/{venue['id']}/reviews",
        headers=customer["headers"],
        json={"rating": rating, "text": f"{rating} stars"},
        timeout=30,
    )


def edit(live_server, review_id, customer, rating):
    return lambda: requests.patch(
        f"{live_server}{API}/reviews/{review_id}",
        headers=customer["headers"],
        json={"rating": rating},
        timeout=30,
    )


def rating(live_server, venue) -> dict:
    return requests.get(f"{live_server}{API}/venues/{venue['id']}", timeout=30).json()["rating"]


def test_20_parallel_reviews_and_edits_leave_the_rating_exactly_the_visible_reviews(
    live_server, engine, app, venue
):
    customers = visitors(live_server, venue, 20)
    early, late = customers[:10], customers[10:]
    first = in_parallel([write(live_server, venue, c, 1 + i % 5) for i, c in enumerate(early)])
    assert [r.status_code for r in first] == [201] * 10, [r.text for r in first]
    # Ten new reviews and ten edits of the first ones, all at once.
    final = {c["account"]["id"]: 1 + (i * 3) % 5 for i, c in enumerate(customers)}
    calls = [write(live_server, venue, c, final[c["account"]["id"]]) for c in late] + [
        edit(live_server, r.json()["id"], c, final[c["account"]["id"]])
        for c, r in zip(early, first, strict=True)
    ]
    results = in_parallel(calls)
    assert [r.status_code for r in results] == [201] * 10 + [200] * 10, [r.text for r in results]

    expected = {"average": sum(final.values()) / 20, "count": 20}
    assert rating(live_server, venue) == visible_rating(engine, venue["id"]) == expected

    hidden = results[0].json()
    result = app.test_cli_runner().invoke(
        args=["reviews", "hide", hidden["id"], "--reason", "Spam"]
    )
    assert result.exit_code == 0, result.output
    total = sum(final.values()) - hidden["rating"]
    after = {"average": total / 19, "count": 19}
    assert rating(live_server, venue) == visible_rating(engine, venue["id"]) == after


def test_one_account_sending_10_parallel_reviews_of_a_venue_gets_one(live_server, engine, venue):
    [customer] = visitors(live_server, venue, 1)
    results = in_parallel([write(live_server, venue, customer, 5) for _ in range(10)])
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] + [409] * 9, [r.text for r in results]
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"already-reviewed"}
    assert (
        rating(live_server, venue)
        == visible_rating(engine, venue["id"])
        == {
            "average": 5.0,
            "count": 1,
        }
    )
