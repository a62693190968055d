"""Commitments, withdrawals and vouchers over HTTP (one request at a time; races are elsewhere)."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from core.codes import ALPHABET, normalise_code
from deals.schemas import MAX_UNITS_PER_COMMIT
from tests.factories import (
    API,
    commit,
    from_now,
    move_deal_to_past,
    outbox,
    parse_time,
    recipients,
    scalar,
)

# Crockford base32 without I, L, O, U; three groups of four.
VOUCHER_CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


@pytest.fixture
def venue(api, merchant):
    return api.create_venue(merchant)


def withdraw(client, customer, deal):
    return client.delete(f"{API}/deals/{deal['id']}/commitments/mine", headers=customer["headers"])


def get_deal(client, who, deal):
    return client.get(f"{API}/deals/{deal['id']}", headers=who["headers"]).json


def my_vouchers(client, customer):
    return client.get(
        f"{API}/me/vouchers", query_string={"limit": 100}, headers=customer["headers"]
    ).json["items"]


def my_commitments(client, customer):
    return client.get(f"{API}/me/commitments", headers=customer["headers"]).json["items"]


def redeem(client, merchant, code):
    return client.post(f"{API}/vouchers/{code}/redeem", headers=merchant["headers"])


def assert_conflict(response, code):
    assert response.status_code == 409, response.json
    assert response.json["code"] == code
    assert response.mimetype == "application/problem+json"


# --- committing -----------------------------------------------------------------------------------


def test_a_commitment_takes_one_unit_by_default_and_stays_pending_below_the_tipping_point(
    api, client, engine, merchant, venue, customer
):
    deal = api.create_deal(merchant, venue, min_commitments=3, max_commitments=10)

    response = commit(api, customer, deal)

    assert response.status_code == 201, response.json
    commitment = response.json["commitment"]
    assert commitment["quantity"] == 1
    assert commitment["status"] == "pending"
    assert commitment["deal_id"] == deal["id"]
    assert set(commitment) == {"id", "deal_id", "quantity", "status", "created_at", "share"}
    assert response.json["deal"]["committed_count"] == 1
    assert response.json["deal"]["remaining"] == 9
    assert response.json["deal"]["status"] == "active"
    assert my_vouchers(client, customer) == []
    assert recipients(engine, "commitment.created", deal["id"]) == [merchant["account"]["id"]]


def test_the_merchant_hears_of_each_commitment_with_the_units_and_the_new_count(
    api, engine, merchant, venue, customer
):
    deal = api.create_deal(
        merchant, venue, title="Pasta for two", min_commitments=5, per_user_limit=3
    )
    commit(api, customer, deal, quantity=1)

    commitment = commit(api, customer, deal, quantity=2).json["commitment"]

    event = scalar(
        engine,
        "SELECT row_to_json(e) FROM outbox_events e WHERE dedupe_key = :key",
        key=f"commitment.created:{commitment['id']}:{merchant['account']['id']}",
    )
    assert (event["title"], event["body"]) == (
        "New commitment",
        "2 unit(s) of “Pasta for two”; 3 committed so far.",
    )
    assert event["payload"] == {
        "deal_id": deal["id"],
        "title": "Pasta for two",
        "commitment_id": commitment["id"],
        "quantity": 2,
        "committed_count": 3,
    }
    assert event["recipient_id"] == merchant["account"]["id"]


def test_an_invalid_commitment_body_is_refused(api, client, merchant, venue, customer):
    deal = api.create_deal(merchant, venue)
    for body in (
        {"quantity": 0},
        {"quantity": -1},
        {"quantity": "2"},
        {"quantity": 1.5},
        {"quantity": None},
        {"quantity": 1, "status": "confirmed"},
    ):
        response = client.post(
            f"{API}/deals/{deal['id']}/commitments", json=body, headers=customer["headers"]
        )
        assert response.status_code == 422, body
    assert get_deal(client, customer, deal)["committed_count"] == 0


def test_a_commitment_above_the_per_request_maximum_is_refused_before_it_takes_anything(
    api, client, engine, merchant, venue, customer
):
    deal = api.create_deal(
        merchant, venue, min_commitments=1, max_commitments=None, per_user_limit=1_000_000
    )
    response = commit(api, customer, deal, MAX_UNITS_PER_COMMIT + 1)

    assert response.status_code == 422
    assert "quantity" in response.json["errors"]
    assert get_deal(client, customer, deal)["committed_count"] == 0
    assert scalar(engine, "SELECT count(*) FROM vouchers") == 0
    assert commit(api, customer, deal, MAX_UNITS_PER_COMMIT).status_code == 201
    assert scalar(engine, "SELECT count(*) FROM vouchers") == MAX_UNITS_PER_COMMIT


def test_voucher_codes_drawn_by_the_database_are_readable_and_uniform_at_every_position(engine):
    with engine.connect() as connection:
        codes = (
            connection.execute(text("SELECT voucher_code() FROM generate_series(1, 3000)"))
            .scalars()
            .all()
        )

    assert all(normalise_code(code) == code for code in codes)
    assert len(set(codes)) == len(codes)
    characters = [c for c in codes[0] if c != "-"]
    for position in range(len(characters)):
        seen = {code.replace("-", "")[position] for code in codes}
        assert seen == set(ALPHABET), position  # a fixed bit would halve a position's alphabet


def test_merchants_cannot_commit(api, client, merchant, venue):
    deal = api.create_deal(merchant, venue)
    assert commit(api, merchant, deal).status_code == 403


def test_committing_to_an_unknown_deal_is_not_found(api, customer):
    response = commit(api, customer, {"id": "7f1c1c3e-7d4e-4a8e-9a57-0d5c4c2f0b11"})
    assert response.status_code == 404


def test_the_commitment_that_reaches_the_tipping_point_confirms_every_pending_one_with_vouchers(
    api, client, engine, merchant, venue
):
    deal = api.create_deal(merchant, venue, min_commitments=3, max_commitments=10, per_user_limit=2)
    early, tipper = api.register("customer"), api.register("customer")
    assert commit(api, early, deal, 2).json["commitment"]["status"] == "pending"

    response = commit(api, tipper, deal, 1)

    assert response.status_code == 201
    assert response.json["commitment"]["status"] == "confirmed"
    assert response.json["deal"]["status"] == "tipped"
    assert response.json["deal"]["tipped_at"] is not None
    assert [c["status"] for c in my_commitments(client, early)] == ["confirmed"]
    assert len(my_vouchers(client, early)) == 2
    assert len(my_vouchers(client, tipper)) == 1
    expected = sorted([early["account"]["id"], tipper["account"]["id"], merchant["account"]["id"]])
    assert recipients(engine, "deal.tipped", deal["id"]) == expected


def test_a_commitment_after_the_tip_is_confirmed_at_once_with_its_vouchers(
    api, client, engine, merchant, venue
):
    deal = api.create_deal(merchant, venue, min_commitments=1, max_commitments=10, per_user_limit=3)
    first, later = api.register("customer"), api.register("customer")
    assert commit(api, first, deal).status_code == 201

    response = commit(api, later, deal, 3)

    assert response.status_code == 201
    assert response.json["commitment"]["status"] == "confirmed"
    vouchers = my_vouchers(client, later)
    assert len(vouchers) == 3
    assert {v["commitment_id"] for v in vouchers} == {response.json["commitment"]["id"]}
    # The tip happened once, before: the later committer is not told again.
    assert later["account"]["id"] not in recipients(engine, "deal.tipped", deal["id"])
    assert len(outbox(engine, "deal.tipped", deal["id"])) == 2


def test_a_commitment_that_would_pass_the_cap_is_sold_out_and_takes_nothing(
    api, client, merchant, venue
):
    deal = api.create_deal(merchant, venue, min_commitments=1, max_commitments=3, per_user_limit=3)
    first, second = api.register("customer"), api.register("customer")
    assert commit(api, first, deal, 2).status_code == 201

    assert_conflict(commit(api, second, deal, 2), "sold-out")
    assert get_deal(client, second, deal)["committed_count"] == 2
    assert commit(api, second, deal, 1).status_code == 201
    assert get_deal(client, second, deal)["remaining"] == 0
    assert_conflict(commit(api, api.register("customer"), deal, 1), "sold-out")


def test_the_per_user_limit_counts_every_open_unit_of_the_account(
    api, client, engine, merchant, venue, customer
):
    deal = api.create_deal(merchant, venue, min_commitments=5, max_commitments=10, per_user_limit=2)

    assert_conflict(commit(api, customer, deal, 3), "per-user-limit")
    assert commit(api, customer, deal, 1).status_code == 201
    assert commit(api, customer, deal, 1).status_code == 201
    assert_conflict(commit(api, customer, deal, 1), "per-user-limit")

    assert get_deal(client, customer, deal)["committed_count"] == 2
    assert scalar(engine, "SELECT sum(quantity) FROM commitments WHERE status <> 'released'") == 2


def test_withdrawn_units_count_no_more_against_the_per_user_limit(
    api, client, merchant, venue, customer
):
    deal = api.create_deal(merchant, venue, min_commitments=5, per_user_limit=2)
    assert commit(api, customer, deal, 2).status_code == 201
    assert withdraw(client, customer, deal).status_code == 200
    assert commit(api, customer, deal, 2).status_code == 201


def test_a_scheduled_deal_takes_no_commitment(api, client, merchant, venue, customer):
    deal = api.create_deal(merchant, venue, starts_at=from_now(hours=1))
    assert_conflict(commit(api, customer, deal), "deal-not-open")
    assert get_deal(client, customer, deal)["committed_count"] == 0


def test_a_scheduled_deal_whose_start_has_come_takes_commitments_before_the_activation_sweep(
    api, client, engine, merchant, venue, customer
):
    deal = api.create_deal(merchant, venue, starts_at=from_now(hours=1), min_commitments=5)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE deals SET starts_at = now() - interval '1 second' WHERE id = :id"),
            {"id": deal["id"]},
        )

    response = commit(api, customer, deal)

    assert response.status_code == 201, response.json
    assert response.json["deal"]["status"] == "active"
    assert response.json["deal"]["committed_count"] == 1


def test_a_cancelled_deal_takes_no_commitment(api, client, merchant, venue, customer):
    deal = api.create_deal(merchant, venue)
    assert (
        client.post(f"{API}/deals/{deal['id']}/cancel", headers=merchant["headers"]).status_code
        == 200
    )
    assert_conflict(commit(api, customer, deal), "deal-not-open")


def test_a_deal_past_its_end_refuses_commitments_before_any_sweep_has_closed_it(
    api, client, engine, merchant, venue, customer
):
    deal = api.create_deal(merchant, venue, min_commitments=1, max_commitments=10)
    move_deal_to_past(engine, deal["id"])

    response = commit(api, customer, deal)

    assert_conflict(response, "deal-not-open")
    current = get_deal(client, customer, deal)
    assert current["status"] == "active"  # no sweep ran
    assert current["committed_count"] == 0
    assert scalar(engine, "SELECT count(*) FROM commitments") == 0


def test_a_tipped_deal_past_its_end_refuses_commitments_before_the_sweep(
    api, client, engine, merchant, venue, customer
):
    deal = api.create_deal(merchant, venue, min_commitments=1, max_commitments=10)
    assert commit(api, api.register("customer"), deal).status_code == 201
    move_deal_to_past(engine, deal["id"])
    assert_conflict(commit(api, customer, deal), "deal-not-open")
    assert get_deal(client, customer, deal)["committed_count"] == 1


# --- withdrawing ------------------------------------------------------------------------------


def test_withdrawing_before_the_tip_frees_the_units_for_others(
    api, client, engine, merchant, venue
):
    deal = api.create_deal(merchant, venue, min_commitments=3, max_commitments=3, per_user_limit=2)
    leaver, other = api.register("customer"), api.register("customer")
    assert commit(api, leaver, deal, 2).status_code == 201
    assert_conflict(commit(api, other, deal, 2), "sold-out")

    response = withdraw(client, leaver, deal)

    assert response.status_code == 200, response.json
    assert response.json["released_quantity"] == 2
    assert response.json["deal"]["committed_count"] == 0
    assert response.json["deal"]["remaining"] == 3
    assert [c["status"] for c in my_commitments(client, leaver)] == ["released"]
    assert commit(api, other, deal, 2).status_code == 201
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM deal_participants WHERE account_id = :id",
            id=leaver["account"]["id"],
        )
        == 0
    )


def test_withdrawing_without_a_commitment_releases_nothing(api, client, merchant, venue, customer):
    deal = api.create_deal(merchant, venue)
    assert commit(api, api.register("customer"), deal).status_code == 201
    response = withdraw(client, customer, deal)
    assert response.status_code == 200
    assert response.json["released_quantity"] == 0
    assert response.json["deal"]["committed_count"] == 1


def test_withdrawing_after_the_tip_is_refused_and_keeps_the_units(api, client, merchant, venue):
    deal = api.create_deal(merchant, venue, min_commitments=2, max_commitments=5)
    first, second = api.register("customer"), api.register("customer")
    assert commit(api, first, deal).status_code == 201
    assert commit(api, second, deal).status_code == 201

    assert_conflict(withdraw(client, first, deal), "deal-tipped")
    assert get_deal(client, first, deal)["committed_count"] == 2
    assert [c["status"] for c in my_commitments(client, first)] == ["confirmed"]
    assert [v["status"] for v in my_vouchers(client, first)] == ["issued"]


# --- idempotency --------------------------------------------------------------------------------


def test_a_repeated_commitment_with_the_same_idempotency_key_is_replayed_not_repeated(
    api, client, engine, merchant, venue, customer
):
    deal = api.create_deal(merchant, venue, min_commitments=5, per_user_limit=5)
    key = {"Idempotency-Key": "commit-7f1c1c3e"}

    first = commit(api, customer, deal, 2, headers=key)
    again = commit(api, customer, deal, 2, headers=key)

    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert scalar(engine, "SELECT count(*) FROM commitments") == 1
    assert get_deal(client, customer, deal)["committed_count"] == 2
    # A new key is a new request.
    assert commit(api, customer, deal, 2, headers={"Idempotency-Key": "another"}).status_code == 201
    assert get_deal(client, customer, deal)["committed_count"] == 4


def test_the_same_idempotency_key_with_another_body_is_refused(
    api, client, merchant, venue, customer
):
    deal = api.create_deal(merchant, venue, min_commitments=5, per_user_limit=5)
    key = {"Idempotency-Key": "commit-abc"}
    assert commit(api, customer, deal, 1, headers=key).status_code == 201
    response = commit(api, customer, deal, 2, headers=key)
    assert response.status_code == 422
    assert response.json["code"] == "idempotency-key-reused"
    assert get_deal(client, customer, deal)["committed_count"] == 1


def test_a_refused_commitment_is_not_stored_under_its_idempotency_key(
    api, client, merchant, venue, customer
):
    deal = api.create_deal(merchant, venue, min_commitments=1, max_commitments=1)
    assert commit(api, api.register("customer"), deal).status_code == 201
    key = {"Idempotency-Key": "retry-me"}
    assert_conflict(commit(api, customer, deal, headers=key), "sold-out")
    assert_conflict(commit(api, customer, deal, headers=key), "sold-out")


# --- lists ----------------------------------------------------------------------------------------


def test_my_commitments_lists_only_my_own_newest_first(api, client, merchant, venue, customer):
    first = api.create_deal(merchant, venue, min_commitments=5)
    second = api.create_deal(merchant, venue, min_commitments=5)
    assert commit(api, customer, first).status_code == 201
    assert commit(api, customer, second).status_code == 201
    assert commit(api, api.register("customer"), first).status_code == 201

    items = my_commitments(client, customer)

    assert [item["deal_id"] for item in items] == [second["id"], first["id"]]
    assert all(item["status"] == "pending" for item in items)


def test_merchants_have_no_commitment_or_voucher_lists(client, merchant):
    assert client.get(f"{API}/me/commitments", headers=merchant["headers"]).status_code == 403
    assert client.get(f"{API}/me/vouchers", headers=merchant["headers"]).status_code == 403


# --- vouchers -------------------------------------------------------------------------------------


def test_each_confirmed_unit_gets_one_readable_unique_voucher(api, client, engine, merchant, venue):
    deal = api.create_deal(merchant, venue, min_commitments=4, max_commitments=20, per_user_limit=3)
    customers = [api.register("customer") for _ in range(3)]
    for customer in customers:
        assert commit(api, customer, deal, 3).status_code == 201

    codes = []
    for customer in customers:
        vouchers = my_vouchers(client, customer)
        assert len(vouchers) == 3
        for voucher in vouchers:
            assert VOUCHER_CODE.match(voucher["code"]), voucher["code"]
            assert voucher["deal_id"] == deal["id"]
            assert voucher["status"] == "issued"
            assert voucher["redeemed_at"] is None
            assert parse_time(voucher["redeem_until"]) == parse_time(deal["redeem_until"])
            assert set(voucher) == {
                "code",
                "deal_id",
                "commitment_id",
                "status",
                "redeem_until",
                "redeemed_at",
                "price_cents",
                "credit_cents",
                "to_pay_cents",
            }
            assert voucher["to_pay_cents"] == voucher["price_cents"] == deal["price_cents"]
            codes.append(voucher["code"])
    assert len(set(codes)) == 9
    assert scalar(engine, "SELECT count(*) FROM vouchers") == 9


def test_the_deals_merchant_redeems_a_voucher_once(api, client, engine, merchant, venue, customer):
    deal = api.create_deal(merchant, venue, min_commitments=1)
    assert commit(api, customer, deal).status_code == 201
    code = my_vouchers(client, customer)[0]["code"]

    response = redeem(client, merchant, code)

    assert response.status_code == 200, response.json
    assert response.json["code"] == code
    assert response.json["status"] == "redeemed"
    assert response.json["redeemed_at"] is not None
    assert my_vouchers(client, customer)[0]["status"] == "redeemed"
    assert_conflict(redeem(client, merchant, code), "already-redeemed")
    events = outbox(engine, "voucher.redeemed")
    assert sorted(str(e.recipient_id) for e in events) == sorted(
        [merchant["account"]["id"], customer["account"]["id"]]
    )
    assert {e.payload["code"] for e in events} == {code}


def test_a_voucher_code_read_out_loud_is_accepted_in_any_case_and_without_hyphens(
    api, client, merchant, venue, customer
):
    deal = api.create_deal(merchant, venue, min_commitments=1)
    assert commit(api, customer, deal).status_code == 201
    code = my_vouchers(client, customer)[0]["code"]
    response = redeem(client, merchant, code.replace("-", "").lower())
    assert response.status_code == 200
    assert response.json["code"] == code


def test_a_voucher_past_redeem_until_is_expired(api, client, engine, merchant, venue, customer):
    deal = api.create_deal(merchant, venue, min_commitments=1)
    assert commit(api, customer, deal).status_code == 201
    code = my_vouchers(client, customer)[0]["code"]
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE deals SET starts_at = now() - interval '3 days',"
                " ends_at = now() - interval '2 days',"
                " redeem_until = now() - interval '1 second' WHERE id = :id"
            ),
            {"id": deal["id"]},
        )
        connection.execute(text("UPDATE vouchers SET redeem_until = now() - interval '1 second'"))

    assert_conflict(redeem(client, merchant, code), "voucher-expired")
    assert my_vouchers(client, customer)[0]["status"] == "issued"
    assert outbox(engine, "voucher.redeemed") == []


def test_a_voucher_of_a_cancelled_deal_is_void(api, client, engine, merchant, venue, customer):
    deal = api.create_deal(merchant, venue, min_commitments=1)
    assert commit(api, customer, deal).status_code == 201
    code = my_vouchers(client, customer)[0]["code"]
    assert (
        client.post(f"{API}/deals/{deal['id']}/cancel", headers=merchant["headers"]).status_code
        == 200
    )

    assert_conflict(redeem(client, merchant, code), "voucher-void")
    assert outbox(engine, "voucher.redeemed") == []


def test_another_merchant_cannot_redeem_and_learns_nothing(
    api, client, engine, merchant, venue, customer
):
    deal = api.create_deal(merchant, venue, min_commitments=1)
    assert commit(api, customer, deal).status_code == 201
    code = my_vouchers(client, customer)[0]["code"]
    rival = api.register("merchant")

    mine = redeem(client, rival, code)
    unknown = redeem(client, rival, "7KQ3-M9XD-2VHT")

    assert mine.status_code == unknown.status_code == 404
    assert mine.json["code"] == unknown.json["code"] == "not-found"
    assert my_vouchers(client, customer)[0]["status"] == "issued"
    assert outbox(engine, "voucher.redeemed") == []


def test_unknown_or_malformed_voucher_codes_are_not_found(client, merchant):
    for code in (
        "7KQ3-M9XD-2VHT",
        "not-a-code",
        "UUUU-UUUU-UUUU",
        "7KQ3M9XD2VH",
        "7KQ3-M9XD-2VHT-0000",
    ):
        response = redeem(client, merchant, code)
        assert response.status_code == 404, code
        assert response.json["code"] == "not-found"


def test_a_customer_cannot_redeem_vouchers(api, client, merchant, venue, customer):
    deal = api.create_deal(merchant, venue, min_commitments=1)
    assert commit(api, customer, deal).status_code == 201
    code = my_vouchers(client, customer)[0]["code"]
    assert redeem(client, customer, code).status_code == 403


def test_vouchers_carry_the_deals_redeem_until(api, client, merchant, venue, customer):
    redeem_until = parse_time(from_now(days=30))
    deal = api.create_deal(
        merchant,
        venue,
        min_commitments=1,
        ends_at=from_now(days=2),
        redeem_until=redeem_until.isoformat(),
    )
    assert commit(api, customer, deal).status_code == 201
    voucher = my_vouchers(client, customer)[0]
    assert abs(parse_time(voucher["redeem_until"]) - redeem_until) < timedelta(microseconds=1)
