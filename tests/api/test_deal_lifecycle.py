"""Merchant deal lifecycle over HTTP: create (every rule of docs/API.md), get, patch, cancel, list."""

from datetime import timedelta

import pytest

from tests.factories import (
    API,
    commit,
    deal_body,
    deal_terms,
    from_now,
    iso,
    outbox,
    parse_time,
    recipients,
    scalar,
    utcnow,
)


@pytest.fixture
def venue(api, merchant):
    return api.create_venue(merchant, location={"lat": 48.137, "lon": 11.575})


def post_deal(client, merchant, venue, **overrides):
    return client.post(
        f"{API}/deals", json=deal_body(venue, **overrides), headers=merchant["headers"]
    )


def assert_invalid(response, field):
    assert response.status_code == 422, response.json
    assert response.json["code"] == "validation-error"
    assert field in response.json["errors"], response.json["errors"]


# --- create ---------------------------------------------------------------------------------


def test_a_merchant_creates_an_active_deal_at_its_own_venue_with_the_documented_defaults(
    client, merchant, venue
):
    before = utcnow()
    ends_at = from_now(days=3)
    response = post_deal(
        client,
        merchant,
        venue,
        ends_at=ends_at,
        currency=...,
        per_user_limit=...,
        starts_at=...,
        redeem_until=...,
    )
    after = utcnow()

    assert response.status_code == 201, response.json
    deal = response.json
    assert deal["status"] == "active"
    assert deal["currency"] == "EUR"
    assert deal["per_user_limit"] == 1
    assert before - timedelta(seconds=1) <= parse_time(deal["starts_at"]) <= after
    assert parse_time(deal["redeem_until"]) == parse_time(ends_at) + timedelta(days=90)
    assert deal["merchant_id"] == merchant["account"]["id"]
    assert deal["venue_id"] == venue["id"]
    assert deal["location"] == {"lat": 48.137, "lon": 11.575}
    assert deal["committed_count"] == 0
    assert deal["remaining"] == 10
    assert deal["tipped_at"] is None
    assert deal["id"] and deal["created_at"].endswith("Z")


def test_timestamps_with_an_offset_are_stored_and_answered_in_utc(client, merchant, venue):
    response = post_deal(
        client,
        merchant,
        venue,
        starts_at="2030-01-01T12:00:00+02:00",
        ends_at="2030-01-02T12:00:00-05:00",
    )
    assert response.status_code == 201, response.json
    assert response.json["starts_at"] == "2030-01-01T10:00:00Z"
    assert response.json["ends_at"] == "2030-01-02T17:00:00Z"
    assert response.json["redeem_until"] == "2030-04-02T17:00:00Z"


def test_a_deal_without_a_cap_has_no_remaining_count(client, merchant, venue):
    response = post_deal(client, merchant, venue, max_commitments=None)
    assert response.status_code == 201, response.json
    assert response.json["max_commitments"] is None
    assert response.json["remaining"] is None


def test_a_deal_starting_in_the_future_is_scheduled(client, merchant, venue):
    response = post_deal(
        client, merchant, venue, starts_at=from_now(hours=2), ends_at=from_now(days=1)
    )
    assert response.status_code == 201, response.json
    assert response.json["status"] == "scheduled"


def test_the_edges_of_the_rules_are_accepted(client, merchant, venue):
    starts_at = utcnow() + timedelta(hours=1)
    ends_at = starts_at + timedelta(days=90)
    response = post_deal(
        client,
        merchant,
        venue,
        min_commitments=5,
        max_commitments=5,
        starts_at=iso(starts_at),
        ends_at=iso(ends_at),
        redeem_until=iso(ends_at),
        currency="CHF",
    )
    assert response.status_code == 201, response.json
    assert response.json["currency"] == "CHF"
    assert parse_time(response.json["redeem_until"]) == ends_at


BROKEN_RULES = [  # (body overrides, the field the 422 must name)
    ({"min_commitments": 0}, "min_commitments"),
    ({"min_commitments": 5, "max_commitments": 4}, "max_commitments"),
    ({"per_user_limit": 0}, "per_user_limit"),
    ({"price_cents": -1}, "price_cents"),
    ({"price_cents": "12.00"}, "price_cents"),
    ({"currency": "eur"}, "currency"),
    ({"currency": "EURO"}, "currency"),
    ({"title": ""}, "title"),
    ({"title": ...}, "title"),
    ({"venue_id": ...}, "venue_id"),
    ({"price_cents": ...}, "price_cents"),
    ({"min_commitments": ...}, "min_commitments"),
    ({"ends_at": ...}, "ends_at"),
    ({"ends_at": "2030-01-01T10:00:00"}, "ends_at"),  # no offset: not RFC 3339
    ({"starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T10:00:00Z"}, "ends_at"),
    ({"starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T09:00:00Z"}, "ends_at"),
    ({"starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-04-01T10:00:01Z"}, "ends_at"),  # > 90 d
    ({"ends_at": "2030-01-01T10:00:00Z", "redeem_until": "2030-01-01T09:59:59Z"}, "redeem_until"),
    ({"original_price_cents": 1000, "price_cents": 2000}, "original_price_cents"),
]


def test_a_deal_breaking_any_rule_is_refused_with_422_naming_the_field(
    client, engine, merchant, venue
):
    for overrides, field in BROKEN_RULES:
        response = post_deal(client, merchant, venue, **overrides)
        assert response.status_code == 422, (overrides, response.json)
        assert response.json["code"] == "validation-error"
        assert field in response.json["errors"], (overrides, response.json["errors"])
    assert scalar(engine, "SELECT count(*) FROM deals") == 0


def test_a_deal_that_ends_in_the_past_is_refused(client, merchant, venue):
    response = post_deal(
        client, merchant, venue, starts_at=from_now(hours=-3), ends_at=from_now(hours=-1)
    )
    assert_invalid(response, "ends_at")
    assert any("future" in message for message in response.json["errors"]["ends_at"])


def test_a_deal_ending_more_than_90_days_after_a_default_start_is_refused(client, merchant, venue):
    assert_invalid(
        post_deal(client, merchant, venue, ends_at=from_now(days=90, minutes=5)), "ends_at"
    )


SERVER_OWNED_ON_CREATE = [
    ("id", "7f1c1c3e-7d4e-4a8e-9a57-0d5c4c2f0b11"),
    ("status", "tipped"),
    ("committed_count", 3),
    ("merchant_id", "7f1c1c3e-7d4e-4a8e-9a57-0d5c4c2f0b11"),
    ("tipped_at", "2030-01-01T10:00:00Z"),
    ("remaining", 1),
    ("created_at", "2030-01-01T10:00:00Z"),
    ("location", {"lat": 1, "lon": 2}),
]


def test_server_owned_fields_in_a_create_body_are_refused(client, engine, merchant, venue):
    for field, value in SERVER_OWNED_ON_CREATE:
        assert_invalid(post_deal(client, merchant, venue, **{field: value}), field)
    assert scalar(engine, "SELECT count(*) FROM deals") == 0


def test_a_deal_at_another_merchants_venue_is_not_found(api, client, merchant):
    rival = api.register("merchant")
    rivals_venue = api.create_venue(rival)
    response = post_deal(client, merchant, rivals_venue)
    assert response.status_code == 404
    assert response.json["code"] == "not-found"


def test_a_deal_at_an_unknown_venue_is_not_found(client, merchant):
    response = post_deal(client, merchant, {"id": "7f1c1c3e-7d4e-4a8e-9a57-0d5c4c2f0b11"})
    assert response.status_code == 404


def test_a_customer_cannot_create_deals(api, client, venue):
    customer = api.register("customer")
    response = post_deal(client, customer, venue)
    assert response.status_code == 403
    assert response.json["code"] == "forbidden"


def test_creating_a_deal_needs_a_token(client, venue):
    response = client.post(f"{API}/deals", json=deal_body(venue))
    assert response.status_code == 401


# --- get --------------------------------------------------------------------------------------


def test_anyone_signed_in_can_get_a_deal(api, client, merchant, venue):
    deal = api.create_deal(merchant, venue)
    customer = api.register("customer")
    response = client.get(f"{API}/deals/{deal['id']}", headers=customer["headers"])
    assert response.status_code == 200
    listing = dict(response.json)
    assert (listing.pop("recent_commitments"), listing.pop("viewer")["committed_quantity"]) == (
        0,
        0,
    )
    assert listing.pop("rating") == {"average": None, "count": 0}
    assert listing == deal


def test_an_unknown_deal_is_not_found(client, merchant):
    response = client.get(
        f"{API}/deals/7f1c1c3e-7d4e-4a8e-9a57-0d5c4c2f0b11", headers=merchant["headers"]
    )
    assert response.status_code == 404
    assert response.json["code"] == "not-found"


# --- patch ------------------------------------------------------------------------------------


def patch(client, merchant, deal, **changes):
    return client.patch(f"{API}/deals/{deal['id']}", json=changes, headers=merchant["headers"])


def test_the_owner_can_change_any_term_before_the_first_commitment(api, client, merchant, venue):
    deal = api.create_deal(merchant, venue)
    response = patch(
        client,
        merchant,
        deal,
        price_cents=1500,
        min_commitments=3,
        max_commitments=None,
        currency="USD",
    )
    assert response.status_code == 200, response.json
    assert (response.json["price_cents"], response.json["min_commitments"]) == (1500, 3)
    assert response.json["max_commitments"] is None and response.json["remaining"] is None
    assert (
        client.get(f"{API}/deals/{deal['id']}", headers=merchant["headers"]).json["currency"]
        == "USD"
    )


def test_moving_the_start_into_the_future_schedules_the_deal(api, client, merchant, venue):
    deal = api.create_deal(merchant, venue)
    response = patch(client, merchant, deal, starts_at=from_now(hours=1))
    assert response.status_code == 200, response.json
    assert response.json["status"] == "scheduled"


def test_a_patch_breaking_a_rule_is_refused_and_changes_nothing(api, client, merchant, venue):
    deal = api.create_deal(merchant, venue, min_commitments=2, max_commitments=10)
    assert_invalid(patch(client, merchant, deal, min_commitments=11), "max_commitments")
    assert_invalid(patch(client, merchant, deal, redeem_until=deal["starts_at"]), "redeem_until")
    assert (
        deal_terms(client.get(f"{API}/deals/{deal['id']}", headers=merchant["headers"]).json)
        == deal
    )


def test_after_the_first_commitment_only_title_and_description_can_change(
    api, client, merchant, venue
):
    deal = api.create_deal(merchant, venue)
    customer = api.register("customer")
    assert commit(api, customer, deal).status_code == 201

    for changes in (
        {"price_cents": 1},
        {"max_commitments": 50},
        {"ends_at": from_now(days=5)},
        {"title": "New title", "min_commitments": 1},
    ):
        response = patch(client, merchant, deal, **changes)
        assert response.status_code == 409, (changes, response.json)
        assert response.json["code"] == "deal-has-commitments"

    response = patch(client, merchant, deal, title="Now -50%", description=None)
    assert response.status_code == 200, response.json
    assert response.json["title"] == "Now -50%"
    assert response.json["description"] is None
    assert response.json["price_cents"] == deal["price_cents"]
    assert response.json["committed_count"] == 1


def test_a_withdrawn_commitment_still_locks_the_terms(api, client, merchant, venue):
    deal = api.create_deal(merchant, venue)
    customer = api.register("customer")
    assert commit(api, customer, deal).status_code == 201
    assert (
        client.delete(
            f"{API}/deals/{deal['id']}/commitments/mine", headers=customer["headers"]
        ).status_code
        == 200
    )
    response = patch(client, merchant, deal, price_cents=1)
    assert response.status_code == 409
    assert response.json["code"] == "deal-has-commitments"


SERVER_OWNED_ON_PATCH = [
    ("id", "7f1c1c3e-7d4e-4a8e-9a57-0d5c4c2f0b11"),
    ("status", "cancelled"),
    ("committed_count", 0),
    ("merchant_id", "7f1c1c3e-7d4e-4a8e-9a57-0d5c4c2f0b11"),
    ("tipped_at", "2030-01-01T10:00:00Z"),
    ("venue_id", "7f1c1c3e-7d4e-4a8e-9a57-0d5c4c2f0b11"),
]


def test_server_owned_fields_in_a_patch_body_are_refused(api, client, merchant, venue):
    deal = api.create_deal(merchant, venue)
    for field, value in SERVER_OWNED_ON_PATCH:
        assert_invalid(patch(client, merchant, deal, **{field: value}), field)
    assert (
        deal_terms(client.get(f"{API}/deals/{deal['id']}", headers=merchant["headers"]).json)
        == deal
    )


# --- BOLA ---------------------------------------------------------------------------------------


def test_another_merchant_cannot_patch_cancel_or_redeem_the_deal(api, client, merchant, venue):
    deal = api.create_deal(merchant, venue, min_commitments=1)
    customer = api.register("customer")
    assert commit(api, customer, deal).status_code == 201
    code = client.get(f"{API}/me/vouchers", headers=customer["headers"]).json["items"][0]["code"]
    rival = api.register("merchant")

    patched = patch(client, rival, deal, title="Mine now")
    cancelled = client.post(f"{API}/deals/{deal['id']}/cancel", headers=rival["headers"])
    redeemed = client.post(f"{API}/vouchers/{code}/redeem", headers=rival["headers"])

    for response in (patched, cancelled, redeemed):
        assert response.status_code == 404, response.json
        assert response.json["code"] == "not-found"
    current = client.get(f"{API}/deals/{deal['id']}", headers=merchant["headers"]).json
    assert current["title"] == deal["title"]
    assert current["status"] == "tipped"
    voucher = client.get(f"{API}/me/vouchers", headers=customer["headers"]).json["items"][0]
    assert voucher["status"] == "issued"


def test_a_customer_cannot_patch_or_cancel_a_deal(api, client, merchant, venue):
    deal = api.create_deal(merchant, venue)
    customer = api.register("customer")
    assert patch(client, customer, deal, title="x").status_code == 403
    assert (
        client.post(f"{API}/deals/{deal['id']}/cancel", headers=customer["headers"]).status_code
        == 403
    )


# --- cancel -------------------------------------------------------------------------------------


def test_cancelling_releases_commitments_voids_vouchers_and_tells_each_committer_once(
    api, client, engine, merchant, venue
):
    deal = api.create_deal(merchant, venue, min_commitments=2, max_commitments=10, per_user_limit=2)
    first, second, late = (api.register("customer") for _ in range(3))
    assert commit(api, first, deal, 2).status_code == 201  # tips: 2 >= 2
    assert commit(api, second, deal).status_code == 201  # confirmed at once
    assert commit(api, late, deal).status_code == 201
    assert (
        client.delete(
            f"{API}/deals/{deal['id']}/commitments/mine", headers=late["headers"]
        ).status_code
        == 409
    )  # tipped: cannot withdraw

    response = client.post(f"{API}/deals/{deal['id']}/cancel", headers=merchant["headers"])

    assert response.status_code == 200, response.json
    assert response.json["status"] == "cancelled"
    assert response.json["committed_count"] == 0
    for customer in (first, second, late):
        commitments = client.get(f"{API}/me/commitments", headers=customer["headers"]).json["items"]
        assert [c["status"] for c in commitments] == ["released"]
        vouchers = client.get(f"{API}/me/vouchers", headers=customer["headers"]).json["items"]
        assert vouchers and {v["status"] for v in vouchers} == {"void"}
    assert scalar(engine, "SELECT count(*) FROM vouchers WHERE status <> 'void'") == 0
    assert scalar(engine, "SELECT count(*) FROM deal_participants") == 0
    committers = sorted(c["account"]["id"] for c in (first, second, late))
    assert recipients(engine, "deal.cancelled", deal["id"]) == committers
    assert all(
        row.dedupe_key.startswith(f"deal.cancelled:{deal['id']}:")
        for row in outbox(engine, "deal.cancelled")
    )


def test_cancelling_a_deal_before_it_tips_releases_pending_commitments(
    api, client, engine, merchant, venue
):
    deal = api.create_deal(merchant, venue, min_commitments=5)
    customer = api.register("customer")
    assert commit(api, customer, deal).status_code == 201

    response = client.post(f"{API}/deals/{deal['id']}/cancel", headers=merchant["headers"])

    assert response.status_code == 200
    assert scalar(engine, "SELECT status FROM commitments") == "released"
    assert scalar(engine, "SELECT count(*) FROM vouchers") == 0
    assert recipients(engine, "deal.cancelled", deal["id"]) == [customer["account"]["id"]]


def test_a_cancelled_deal_cannot_be_cancelled_again_and_nobody_is_told_twice(
    api, client, engine, merchant, venue
):
    deal = api.create_deal(merchant, venue)
    customer = api.register("customer")
    assert commit(api, customer, deal).status_code == 201
    assert (
        client.post(f"{API}/deals/{deal['id']}/cancel", headers=merchant["headers"]).status_code
        == 200
    )

    again = client.post(f"{API}/deals/{deal['id']}/cancel", headers=merchant["headers"])

    assert again.status_code == 409
    assert again.json["code"] == "deal-not-open"
    assert len(outbox(engine, "deal.cancelled", deal["id"])) == 1


def test_a_scheduled_deal_can_be_cancelled(api, client, merchant, venue):
    deal = api.create_deal(merchant, venue, starts_at=from_now(hours=1))
    response = client.post(f"{API}/deals/{deal['id']}/cancel", headers=merchant["headers"])
    assert response.status_code == 200
    assert response.json["status"] == "cancelled"


# --- merchant list --------------------------------------------------------------------------------


def test_the_merchant_list_shows_only_the_merchants_own_deals_newest_first_with_counts(
    api, client, merchant, venue
):
    quiet = api.create_deal(merchant, venue, title="Quiet")
    busy = api.create_deal(merchant, venue, title="Busy", min_commitments=2, per_user_limit=3)
    rival = api.register("merchant")
    api.create_deal(rival, api.create_venue(rival), title="Rival's")
    alice, bob = api.register("customer"), api.register("customer")
    assert commit(api, alice, busy, 1).status_code == 201
    assert commit(api, alice, busy, 2).status_code == 201  # tips at 3 >= 2: 3 vouchers for alice
    assert commit(api, bob, busy, 1).status_code == 201
    code = client.get(f"{API}/me/vouchers", headers=bob["headers"]).json["items"][0]["code"]
    assert (
        client.post(f"{API}/vouchers/{code}/redeem", headers=merchant["headers"]).status_code == 200
    )

    response = client.get(f"{API}/merchant/deals", headers=merchant["headers"])

    assert response.status_code == 200, response.json
    items = response.json["items"]
    assert [item["title"] for item in items] == ["Busy", "Quiet"]
    assert response.json["next_cursor"] is None
    by_title = {item["title"]: item for item in items}
    assert by_title["Busy"]["commitments"] == 3
    assert by_title["Busy"]["committers"] == 2
    assert by_title["Busy"]["committed_count"] == 4
    assert by_title["Busy"]["vouchers"] == {
        "issued": 3,
        "redeemed": 1,
        "void": 0,
        "expired": 0,
        "refunded": 0,
    }
    assert by_title["Quiet"]["commitments"] == 0
    assert by_title["Quiet"]["vouchers"] == {
        "issued": 0,
        "redeemed": 0,
        "void": 0,
        "expired": 0,
        "refunded": 0,
    }
    assert by_title["Quiet"]["id"] == quiet["id"]


def test_the_merchant_list_includes_every_status_and_can_filter_and_page(
    api, client, merchant, venue
):
    ids = [api.create_deal(merchant, venue, title=f"Deal {n}")["id"] for n in range(5)]
    assert (
        client.post(f"{API}/deals/{ids[0]}/cancel", headers=merchant["headers"]).status_code == 200
    )

    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(
            f"{API}/merchant/deals", query_string=query, headers=merchant["headers"]
        ).json
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5

    cancelled = client.get(
        f"{API}/merchant/deals", query_string={"status": "cancelled"}, headers=merchant["headers"]
    ).json["items"]
    assert [item["id"] for item in cancelled] == [ids[0]]


def test_a_customer_has_no_merchant_deal_list(api, client):
    customer = api.register("customer")
    response = client.get(f"{API}/merchant/deals", headers=customer["headers"])
    assert response.status_code == 403
