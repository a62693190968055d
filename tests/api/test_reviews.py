"""Verified reviews: who may write one, one per account and venue, the 30-day edit window,
deletion, the public list in three orders, the merchant's reply, reports, and `rating`."""

import uuid
from datetime import timedelta

import pytest

from tests.factories import API, BERLIN, commit, outbox, rows, scalar
from tests.reviews_support import (
    age_review,
    age_visits,
    check_in,
    rating_of,
    redeemed_voucher,
    review,
    reviews_of,
    unredeemed_voucher_of,
    visible_rating,
)

YEAR_AND_A_DAY = timedelta(days=366)


@pytest.fixture
def venue(api, merchant) -> dict:
    return api.create_venue(merchant, location=BERLIN)


@pytest.fixture
def reviewer(api, merchant, venue) -> dict:
    """A customer with a counted check-in at the venue."""
    customer = api.register("customer")
    check_in(api, customer, venue)
    return customer


def problem(response, status: int, code: str) -> None:
    assert response.status_code == status, response.json
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == code, response.json


# --- who may review -------------------------------------------------------------------------------


def test_a_customer_who_redeemed_a_voucher_here_reviews_the_venue_verified_by_voucher(
    api, merchant, venue, customer
):
    redeemed_voucher(api, merchant, venue, customer)
    response = review(api, customer, venue, rating=5, text="Best dinner in town.")
    assert response.status_code == 201, response.json
    body = response.json
    assert set(body) == {
        "id",
        "venue_id",
        "author",
        "rating",
        "text",
        "verified_by",
        "created_at",
        "edited_at",
        "reply",
    }
    assert body["author"] == {"display_name": customer["account"]["display_name"]}
    assert (body["venue_id"], body["rating"], body["text"]) == (
        venue["id"],
        5,
        "Best dinner in town.",
    )
    assert (body["verified_by"], body["edited_at"], body["reply"]) == ("voucher", None, None)


def test_a_customer_with_a_counted_checkin_here_reviews_the_venue_verified_by_checkin(
    api, venue, reviewer
):
    response = review(api, reviewer, venue, rating=3)
    assert response.status_code == 201, response.json
    assert response.json["verified_by"] == "checkin"


def test_with_both_proofs_the_redeemed_voucher_is_the_one_recorded(api, merchant, venue, reviewer):
    redeemed_voucher(api, merchant, venue, reviewer)
    response = review(api, reviewer, venue)
    assert response.json["verified_by"] == "voucher"


def test_a_rating_without_text_is_a_review(api, venue, reviewer):
    response = api.client.post(
        f"{API}/venues/{venue['id']}/reviews", headers=reviewer["headers"], json={"rating": 2}
    )
    assert response.status_code == 201, response.json
    assert response.json["text"] is None


def uncounted_checkin(api, merchant, venue, customer, engine):
    assert not check_in(api, customer, venue, is_mock=True)["counted"]


def unredeemed_voucher(api, merchant, venue, customer, engine):
    deal = api.create_deal(merchant, venue, min_commitments=1)
    assert commit(api, customer, deal).status_code == 201
    assert unredeemed_voucher_of(api, customer, deal["id"])


def visit_of_another_venue(api, merchant, venue, customer, engine):
    elsewhere = api.create_venue(merchant, name="The merchant's other café", location=BERLIN)
    redeemed_voucher(api, merchant, elsewhere, customer)
    check_in(api, customer, elsewhere)


def visits_older_than_365_days(api, merchant, venue, customer, engine):
    redeemed_voucher(api, merchant, venue, customer)
    check_in(api, customer, venue)
    age_visits(engine, customer["account"]["id"], YEAR_AND_A_DAY)


@pytest.mark.parametrize(
    "visit",
    [uncounted_checkin, unredeemed_voucher, visit_of_another_venue, visits_older_than_365_days],
)
def test_a_customer_without_a_verified_visit_gets_403_and_nothing_changes(
    api, merchant, venue, customer, engine, visit
):
    visit(api, merchant, venue, customer, engine)
    response = review(api, customer, venue)
    problem(response, 403, "not-a-verified-visitor")
    assert scalar(engine, "SELECT count(*) FROM reviews") == 0
    assert rating_of(api, venue) == {"average": None, "count": 0}


def test_a_visit_just_inside_365_days_still_verifies(api, merchant, venue, customer, engine):
    redeemed_voucher(api, merchant, venue, customer)
    age_visits(engine, customer["account"]["id"], timedelta(days=364, hours=23))
    assert review(api, customer, venue).status_code == 201


def test_the_merchant_of_the_venue_gets_403_not_a_verified_visitor(api, merchant, venue):
    problem(review(api, merchant, venue), 403, "not-a-verified-visitor")


def test_another_merchant_is_no_verified_visitor_either(api, venue):
    problem(review(api, api.register("merchant"), venue), 403, "not-a-verified-visitor")


def test_reviewing_an_unknown_venue_is_404(api, reviewer):
    problem(review(api, reviewer, {"id": str(uuid.uuid4())}), 404, "not-found")


def test_reviewing_needs_a_token(api, venue):
    response = api.client.post(f"{API}/venues/{venue['id']}/reviews", json={"rating": 4})
    problem(response, 401, "unauthorized")


def test_a_second_review_of_the_venue_by_the_same_account_is_409(api, venue, reviewer, engine):
    assert review(api, reviewer, venue, rating=5).status_code == 201
    problem(review(api, reviewer, venue, rating=1), 409, "already-reviewed")
    assert rating_of(api, venue) == {"average": 5.0, "count": 1}
    assert scalar(engine, "SELECT count(*) FROM reviews") == 1


@pytest.mark.parametrize(
    "body",
    [
        {"rating": 0},
        {"rating": 6},
        {"rating": 4.5},
        {"rating": "4"},
        {},
        {"rating": 4, "text": "x" * 5001},
        {"rating": 4, "text": "bell\x07"},
        {"rating": 4, "text": "escape \x1b[31m red"},
        {"rating": 4, "text": "nul \x00"},
        {"rating": 4, "text": "c1 \x85"},
        {"rating": 4, "verified_by": "voucher"},
        {"rating": 4, "hidden_at": "2026-01-01T00:00:00Z"},
        {"rating": 4, "reply": {"text": "forged"}},
    ],
)
def test_an_invalid_review_body_is_422_and_writes_nothing(api, venue, reviewer, engine, body):
    response = api.client.post(
        f"{API}/venues/{venue['id']}/reviews", headers=reviewer["headers"], json=body
    )
    problem(response, 422, "validation-error")
    assert scalar(engine, "SELECT count(*) FROM reviews") == 0


def test_a_lone_surrogate_in_the_text_is_422(api, venue, reviewer):
    response = api.client.post(
        f"{API}/venues/{venue['id']}/reviews",
        headers={**reviewer["headers"], "Content-Type": "application/json"},
        data='{"rating": 4, "text": "half a pair \\ud83d"}',
    )
    problem(response, 422, "validation-error")
    assert "text" in response.json["errors"]


def test_text_of_exactly_5000_characters_with_line_breaks_and_emoji_is_kept_as_written(
    api, venue, reviewer
):
    text = ("Schön 😀\n\tgut. " * 400)[:5000]
    response = review(api, reviewer, venue, text=text)
    assert response.status_code == 201, response.json
    assert response.json["text"] == text


# --- rating ------------------------------------------------------------------------------------------


def test_the_venue_carries_the_average_and_count_of_its_reviews(api, merchant, venue):
    assert rating_of(api, venue) == {"average": None, "count": 0}
    for stars in (5, 4, 4):
        customer = api.register("customer")
        check_in(api, customer, venue)
        assert review(api, customer, venue, rating=stars).status_code == 201
    assert rating_of(api, venue) == {"average": 13 / 3, "count": 3}
    nearby = api.client.get(f"{API}/venues/nearby", query_string={**BERLIN, "radius_m": 1000}).json[
        "items"
    ]
    assert [item["rating"] for item in nearby if item["id"] == venue["id"]] == [
        {"average": 13 / 3, "count": 3}
    ]


# --- edit and delete --------------------------------------------------------------------------------


def test_the_author_edits_rating_and_text_and_the_rating_follows(api, venue, reviewer, engine):
    written = review(api, reviewer, venue, rating=2, text="Cold soup.").json
    path = f"{API}/reviews/{written['id']}"
    edited = api.client.patch(path, headers=reviewer["headers"], json={"rating": 4})
    assert edited.status_code == 200, edited.json
    assert (edited.json["rating"], edited.json["text"]) == (4, "Cold soup.")
    assert edited.json["edited_at"] is not None
    assert edited.json["created_at"] == written["created_at"]
    assert rating_of(api, venue) == {"average": 4.0, "count": 1}
    again = api.client.patch(path, headers=reviewer["headers"], json={"text": None})
    assert (again.json["rating"], again.json["text"]) == (4, None)
    assert rating_of(api, venue) == visible_rating(engine, venue["id"])


def test_an_edit_after_30_days_is_409_review_locked_and_changes_nothing(
    api, venue, reviewer, engine
):
    written = review(api, reviewer, venue, rating=2).json
    age_review(engine, written["id"], timedelta(days=30, minutes=1))
    response = api.client.patch(
        f"{API}/reviews/{written['id']}", headers=reviewer["headers"], json={"rating": 5}
    )
    problem(response, 409, "review-locked")
    assert rating_of(api, venue) == {"average": 2.0, "count": 1}


def test_an_edit_just_inside_30_days_is_allowed(api, venue, reviewer, engine):
    written = review(api, reviewer, venue, rating=2).json
    age_review(engine, written["id"], timedelta(days=29, hours=23))
    response = api.client.patch(
        f"{API}/reviews/{written['id']}", headers=reviewer["headers"], json={"rating": 5}
    )
    assert response.status_code == 200, response.json


def test_nobody_but_the_author_edits_or_deletes_a_review_not_even_the_venues_merchant(
    api, merchant, venue, reviewer
):
    written = review(api, reviewer, venue, rating=2).json
    path = f"{API}/reviews/{written['id']}"
    for caller in (merchant, api.register("customer"), api.register("merchant")):
        problem(
            api.client.patch(path, headers=caller["headers"], json={"rating": 5}), 404, "not-found"
        )
        problem(api.client.delete(path, headers=caller["headers"]), 404, "not-found")
    assert rating_of(api, venue) == {"average": 2.0, "count": 1}


def test_the_author_deletes_the_review_and_it_leaves_the_list_and_the_rating(
    api, venue, reviewer, engine
):
    written = review(api, reviewer, venue, rating=2).json
    path = f"{API}/reviews/{written['id']}"
    assert api.client.delete(path, headers=reviewer["headers"]).status_code == 204
    assert rating_of(api, venue) == {"average": None, "count": 0}
    assert reviews_of(api, venue)["items"] == []
    problem(api.client.delete(path, headers=reviewer["headers"]), 404, "not-found")
    # Deleted, not hidden: the account may write a new review of the venue.
    assert review(api, reviewer, venue, rating=3).status_code == 201


# --- the list -----------------------------------------------------------------------------------------


def many_reviews(api, venue, engine, stars: list[int]) -> list[dict]:
    """One review per rating in `stars`, each a minute older than the one after it."""
    written = []
    for age, rating in enumerate(reversed(stars)):
        customer = api.register("customer")
        check_in(api, customer, venue)
        body = review(api, customer, venue, rating=rating, text=f"{rating} stars").json
        age_review(engine, body["id"], timedelta(minutes=age))
        written.append(body)
    return list(reversed(written))


def walk(api, venue, **query) -> list[dict]:
    """Every page of the list, two at a time."""
    seen, cursor = [], None
    while True:
        page = reviews_of(api, venue, limit=2, **query, **({"cursor": cursor} if cursor else {}))
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_the_list_pages_newest_highest_and_lowest_first_without_gaps_or_repeats(api, venue, engine):
    many_reviews(api, venue, engine, [3, 5, 1, 5, 3, 2, 4])  # the first written is the oldest
    newest = walk(api, venue)
    assert [r["rating"] for r in newest] == [4, 2, 3, 5, 1, 5, 3]
    assert newest == walk(api, venue, sort="newest")
    highest = walk(api, venue, sort="highest")
    lowest = walk(api, venue, sort="lowest")
    assert [r["rating"] for r in highest] == [5, 5, 4, 3, 3, 2, 1]
    assert [r["rating"] for r in lowest] == [1, 2, 3, 3, 4, 5, 5]
    for ordered in (highest, lowest):  # newest first among equal ratings
        for earlier, later in zip(ordered, ordered[1:]):
            if earlier["rating"] == later["rating"]:
                assert earlier["created_at"] > later["created_at"]
    assert sorted(r["id"] for r in highest) == sorted(r["id"] for r in newest)


def test_the_list_shows_the_author_only_by_display_name(api, venue, reviewer):
    review(api, reviewer, venue)
    item = reviews_of(api, venue)["items"][0]
    assert item["author"] == {"display_name": reviewer["account"]["display_name"]}
    assert reviewer["account"]["id"] not in str(item)
    assert reviewer["account"]["email"] not in str(item)


def test_a_cursor_of_another_order_or_a_forged_one_is_422(api, venue, engine):
    many_reviews(api, venue, engine, [1, 2, 3])
    highest = reviews_of(api, venue, sort="highest", limit=1)["next_cursor"]
    newest = reviews_of(api, venue, limit=1)["next_cursor"]
    for sort, cursor in (
        ("lowest", highest),
        ("newest", highest),
        ("highest", newest),
        ("newest", "nope"),
    ):
        response = api.client.get(
            f"{API}/venues/{venue['id']}/reviews", query_string={"sort": sort, "cursor": cursor}
        )
        problem(response, 422, "validation-error")


def test_a_forged_cursor_with_an_impossible_rating_is_422(api, venue):
    from core.schemas import encode_cursor

    forged = encode_cursor(["highest", 10**30, "2026-01-01T00:00:00+00:00", str(uuid.uuid4())])
    response = api.client.get(
        f"{API}/venues/{venue['id']}/reviews", query_string={"sort": "highest", "cursor": forged}
    )
    problem(response, 422, "validation-error")


def test_an_unknown_sort_is_422_and_an_unknown_venue_404(api, venue):
    problem(
        api.client.get(f"{API}/venues/{venue['id']}/reviews", query_string={"sort": "best"}),
        422,
        "validation-error",
    )
    problem(api.client.get(f"{API}/venues/{uuid.uuid4()}/reviews"), 404, "not-found")


def test_a_venue_without_reviews_lists_none(api, venue):
    assert reviews_of(api, venue) == {"items": [], "next_cursor": None}


# --- the merchant's reply -------------------------------------------------------------------------------


def reply(api, caller, review_id, text="Thank you!"):
    return api.client.put(
        f"{API}/reviews/{review_id}/reply", headers=caller["headers"], json={"text": text}
    )


def test_the_venues_merchant_replies_once_edits_the_reply_and_readers_see_it(
    api, merchant, venue, reviewer, engine
):
    written = review(api, reviewer, venue, rating=2).json
    first = reply(api, merchant, written["id"], "Sorry, we fixed the heating.")
    assert first.status_code == 200, first.json
    assert first.json["reply"]["text"] == "Sorry, we fixed the heating."
    assert first.json["reply"]["edited_at"] is None
    assert first.json["rating"] == 2  # a reply changes nothing of the review
    edited = reply(api, merchant, written["id"], "Sorry! We fixed the heating.")
    assert edited.json["reply"]["text"] == "Sorry! We fixed the heating."
    assert edited.json["reply"]["created_at"] == first.json["reply"]["created_at"]
    assert edited.json["reply"]["edited_at"] is not None
    listed = reviews_of(api, venue)["items"][0]
    assert listed["reply"] == edited.json["reply"]
    assert rating_of(api, venue) == {"average": 2.0, "count": 1}
    # The author is told about the reply once, not about every correction of it.
    told = outbox(engine, "review.replied")
    assert [str(row.recipient_id) for row in told] == [reviewer["account"]["id"]]
    assert told[0].payload["review_id"] == written["id"]


def test_another_merchants_reply_is_404_and_a_customers_403(api, venue, reviewer):
    written = review(api, reviewer, venue).json
    problem(reply(api, api.register("merchant"), written["id"]), 404, "not-found")
    problem(reply(api, reviewer, written["id"]), 403, "forbidden")
    problem(reply(api, api.register("merchant"), str(uuid.uuid4())), 404, "not-found")
    assert reviews_of(api, venue)["items"][0]["reply"] is None


@pytest.mark.parametrize("text", ["", "x" * 5001, "bell\x07"])
def test_an_empty_or_too_long_reply_is_422(api, merchant, venue, reviewer, text):
    written = review(api, reviewer, venue).json
    problem(reply(api, merchant, written["id"], text), 422, "validation-error")


# --- events -----------------------------------------------------------------------------------------------


def test_a_new_review_is_a_review_created_event_for_the_venues_merchant(
    api, merchant, venue, reviewer, engine
):
    written = review(api, reviewer, venue, rating=5, text="Great!").json
    events = outbox(engine, "review.created")
    assert [str(row.recipient_id) for row in events] == [merchant["account"]["id"]]
    assert events[0].payload == {
        "review_id": written["id"],
        "venue_id": venue["id"],
        "venue_name": venue["name"],
        "rating": 5,
        "text": "Great!",
        "verified_by": "checkin",
    }


def test_a_refused_review_leaves_no_event(api, venue, customer, engine):
    problem(review(api, customer, venue), 403, "not-a-verified-visitor")
    assert outbox(engine, "review.created") == []


# --- reports ------------------------------------------------------------------------------------------------


def report(api, caller, review_id, **body):
    return api.client.post(
        f"{API}/reviews/{review_id}/reports",
        headers=caller["headers"],
        json={"reason": "spam", **body},
    )


def test_a_report_is_202_and_a_repeat_is_the_same_202_counted_once(api, venue, reviewer, engine):
    written = review(api, reviewer, venue).json
    reader = api.register("customer")
    first = report(api, reader, written["id"], reason="offensive", detail="Insults the staff.")
    assert first.status_code == 202, first.json
    assert first.json["review_id"] == written["id"]
    assert (first.json["reason"], first.json["detail"]) == ("offensive", "Insults the staff.")
    again = report(api, reader, written["id"], reason="spam")
    assert again.status_code == 202, again.json
    assert again.json == first.json
    assert scalar(engine, "SELECT reports_count FROM reviews") == 1
    assert scalar(engine, "SELECT count(*) FROM review_reports") == 1


def test_the_venues_merchant_may_report_a_review_but_the_author_may_not(
    api, merchant, venue, reviewer, engine
):
    written = review(api, reviewer, venue).json
    assert report(api, merchant, written["id"], reason="not-a-visit").status_code == 202
    problem(report(api, reviewer, written["id"]), 409, "own-review")
    assert scalar(engine, "SELECT reports_count FROM reviews") == 1


@pytest.mark.parametrize(
    "body", [{"reason": "boring"}, {}, {"reason": "spam", "detail": "x" * 1001}]
)
def test_an_invalid_report_is_422(api, venue, reviewer, body):
    written = review(api, reviewer, venue).json
    response = api.client.post(
        f"{API}/reviews/{written['id']}/reports",
        headers=api.register("customer")["headers"],
        json=body,
    )
    problem(response, 422, "validation-error")


def test_reporting_an_unknown_review_is_404_and_needs_a_token(api, venue, reviewer):
    problem(report(api, reviewer, str(uuid.uuid4())), 404, "not-found")
    written = review(api, reviewer, venue).json
    response = api.client.post(f"{API}/reviews/{written['id']}/reports", json={"reason": "spam"})
    problem(response, 401, "unauthorized")


# --- rate limits ----------------------------------------------------------------------------------------------


def test_review_writes_are_rate_limited_per_account(database_url, make_app):
    from tests.conftest import Api

    client = make_app(REVIEW_RATE_LIMIT=2, REVIEW_RATE_WINDOW_SECONDS=60).test_client()
    api = Api(client)
    merchant, customer = api.register("merchant"), api.register("customer")
    venue = api.create_venue(merchant, location=BERLIN)
    check_in(api, customer, venue)
    written = review(api, customer, venue, rating=3).json
    path = f"{API}/reviews/{written['id']}"
    assert client.patch(path, headers=customer["headers"], json={"rating": 4}).status_code == 200
    refused = client.patch(path, headers=customer["headers"], json={"rating": 5})
    problem(refused, 429, "rate-limited")
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # The budget is the account's: the merchant still replies.
    assert reply(api, merchant, written["id"]).status_code == 200
    assert rating_of(api, venue) == {"average": 4.0, "count": 1}


def test_reports_are_rate_limited_per_account(database_url, make_app):
    from tests.conftest import Api

    client = make_app(
        REVIEW_REPORT_RATE_LIMIT=1, REVIEW_REPORT_RATE_WINDOW_SECONDS=60
    ).test_client()
    api = Api(client)
    merchant = api.register("merchant")
    venue = api.create_venue(merchant, location=BERLIN)
    written = []
    for _ in range(2):
        author = api.register("customer")
        check_in(api, author, venue)
        written.append(review(api, author, venue).json)
    reader = api.register("customer")
    assert report(api, reader, written[0]["id"]).status_code == 202
    problem(report(api, reader, written[1]["id"]), 429, "rate-limited")


def test_no_reward_or_deal_changes_when_a_review_is_written(api, merchant, venue, engine):
    """Nothing may depend on writing a review: the tables of rewards, credits and deals are
    untouched by it (only the review, the venue's counters and the merchant's event change)."""
    customer = api.register("customer")
    api.client.post(
        f"{API}/venues/{venue['id']}/reward-programs",
        headers=merchant["headers"],
        json={"kind": "every_nth", "title": "Punch card", "threshold": 2},
    )
    check_in(api, customer, venue)
    before = rows(engine, "SELECT * FROM rewards") + rows(engine, "SELECT * FROM deals")
    assert review(api, customer, venue, rating=1).status_code == 201
    assert rows(engine, "SELECT * FROM rewards") + rows(engine, "SELECT * FROM deals") == before


def test_every_read_of_a_deal_at_the_venue_carries_the_venues_rating(api, merchant, venue):
    deal = api.create_deal(merchant, venue, title="Dinner for two")
    elsewhere = api.create_deal(merchant, api.create_venue(merchant, location=BERLIN))
    for stars in (5, 2):
        customer = api.register("customer")
        check_in(api, customer, venue)
        assert review(api, customer, venue, rating=stars).status_code == 201
    expected, unreviewed = {"average": 3.5, "count": 2}, {"average": None, "count": 0}
    share = api.client.post(f"{API}/deals/{deal['id']}/shares", headers=merchant["headers"]).json

    def ratings(items):
        return {item["id"]: item["rating"] for item in items}

    for headers in ({}, merchant["headers"]):  # anonymous and signed in alike
        one = api.client.get(f"{API}/deals/{deal['id']}", headers=headers).json
        assert one["rating"] == expected
        nearby = api.client.get(
            f"{API}/deals/nearby", query_string={**BERLIN, "radius_m": 1000}, headers=headers
        ).json["items"]
        assert ratings(nearby) == {deal["id"]: expected, elsewhere["id"]: unreviewed}
        geojson = api.client.get(
            f"{API}/deals/nearby",
            query_string={**BERLIN, "radius_m": 1000},
            headers={**headers, "Accept": "application/geo+json"},
        ).json["features"]
        assert {f["id"]: f["properties"]["rating"] for f in geojson} == ratings(nearby)
        boxed = api.client.get(
            f"{API}/deals", query_string={"bbox": "13.3,52.4,13.5,52.6"}, headers=headers
        ).json["items"]
        assert ratings(boxed) == ratings(nearby)
        landing = api.client.get(
            f"/s/{share['code']}", headers={**headers, "Accept": "application/json"}
        ).json
        assert landing["rating"] == expected
    mine = api.client.get(f"{API}/merchant/deals", headers=merchant["headers"]).json["items"]
    assert ratings(mine) == ratings(nearby)
    page = api.client.get(f"/s/{share['code']}", headers={"Accept": "text/html"})
    assert "3.5/5 from 2 verified reviews" in page.get_data(as_text=True)


def test_a_landing_page_of_an_unreviewed_venue_claims_no_rating(api, merchant, venue):
    deal = api.create_deal(merchant, venue)
    share = api.client.post(f"{API}/deals/{deal['id']}/shares", headers=merchant["headers"]).json
    page = api.client.get(f"/s/{share['code']}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "verified review" not in page.get_data(as_text=True)


def test_review_events_reach_the_merchants_webhook_and_inbox_and_the_authors_inbox(
    api, app, db, merchant, venue, reviewer, engine
):
    from core.db import in_unit_of_work, utcnow
    from notifications.dispatcher import DispatchSettings, fan_out

    hook = api.client.post(
        f"{API}/webhooks",
        headers=merchant["headers"],
        json={"url": "https://93.184.216.34/hook", "events": ["review.created"]},
    )
    assert hook.status_code == 201, hook.json
    written = review(api, reviewer, venue, rating=5).json
    assert reply(api, merchant, written["id"]).status_code == 200
    with app.app_context():
        in_unit_of_work(
            db,
            fan_out,
            now=utcnow(),
            settings=DispatchSettings(push_gateway_url=None, allow_loopback=False),
        )
    deliveries = api.client.get(
        f"{API}/webhooks/{hook.json['id']}/deliveries", headers=merchant["headers"]
    ).json["items"]
    assert [d["kind"] for d in deliveries] == ["review.created"]

    def inbox(caller):
        items = api.client.get(f"{API}/me/notifications", headers=caller["headers"]).json["items"]
        return [(n["kind"], n["data"]["review_id"]) for n in items if "review_id" in n["data"]]

    assert inbox(merchant) == [("review.created", written["id"])]
    assert inbox(reviewer) == [("review.replied", written["id"])]
