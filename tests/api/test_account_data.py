"""An account's own data: GET /me/export (everything, for itself) and DELETE /me (personal data
gone, what others' records need kept anonymous, every counter still equal to its rows)."""

import uuid

from tests.checkins_support import away
from tests.factories import API, BERLIN, PASSWORD, fan_out_events, rows, scalar
from tests.friends_support import ask, befriend, check_in, commit_shared, feed, give_handle
from tests.integration.test_crash_safety import World, assert_counters_equal_their_rows
from tests.payments_support import (
    card,
    commit_paid,
    intent,
    payment_rows,
    unbalanced_transactions,
)


def assert_share_and_minute_counters_equal_their_rows(engine) -> None:
    """A share counts its attributed commitments and their units (released ones too); an open
    deal's minute rows hold the units of its commitments that are not released."""
    assert (
        rows(
            engine,
            """
        SELECT s.id FROM shares s LEFT JOIN commitments c ON c.share_id = s.id
         GROUP BY s.id
        HAVING s.commitments <> count(c.id) OR s.units <> coalesce(sum(c.quantity), 0)""",
        )
        == []
    )
    assert (
        rows(
            engine,
            """
        SELECT d.id FROM deals d
         WHERE d.status IN ('active', 'tipped')
           AND (SELECT coalesce(sum(units), 0) FROM deal_commitment_minutes m WHERE m.deal_id = d.id)
            <> (SELECT coalesce(sum(quantity), 0) FROM commitments c
                 WHERE c.deal_id = d.id AND c.status <> 'released')""",
        )
        == []
    )


def test_the_export_holds_the_accounts_own_data_and_nobody_elses(api, app, db, merchant):
    venue = api.create_venue(merchant)
    deal = api.create_deal(merchant, venue, min_commitments=1, per_user_limit=2)
    me, friend = api.register("customer"), api.register("customer")
    befriend(api, me, friend)
    spot = away(BERLIN, 20)
    check_in(api, me, venue, share="friends", location=spot, accuracy_m=9.5, message="hi")
    commit_shared(api, me, deal)
    commit_shared(api, friend, deal)
    api.client.post(
        f"{API}/me/devices", headers=me["headers"], json={"platform": "ios", "token": "tok-123"}
    )
    fan_out_events(app, db)

    export = api.client.get(f"{API}/me/export", headers=me["headers"])
    assert export.status_code == 200, export.json
    data = export.json
    assert data["account"]["email"] == me["account"]["email"]
    assert [f["account"]["id"] for f in data["friends"]] == [friend["account"]["id"]]
    (checkin,) = data["checkins"]
    assert checkin["location"] == spot and (checkin["accuracy_m"], checkin["message"]) == (
        9.5,
        "hi",
    )
    assert [c["share"] for c in data["commitments"]] == ["friends"]
    assert len(data["vouchers"]) == 1 and data["notifications"]
    assert [d["platform"] for d in data["devices"]] == ["ios"]
    assert "tok-123" not in export.get_data(as_text=True)  # a push token is no data of yours
    assert friend["account"]["email"] not in export.get_data(as_text=True)


def test_deleting_an_account_keeps_every_counter_equal_to_its_rows(api, app, db, engine):
    merchant = api.register("merchant")
    venue = api.create_venue(merchant)
    for body in (
        {"kind": "first_visit", "title": "Welcome"},
        {"kind": "mayor", "title": "Mayor"},
        {"kind": "friends", "title": "Friends", "threshold": 2, "window_minutes": 60},
    ):
        assert (
            api.client.post(
                f"{API}/venues/{venue['id']}/reward-programs",
                headers=merchant["headers"],
                json=body,
            ).status_code
            == 201
        )
    untipped = api.create_deal(merchant, venue, min_commitments=10, per_user_limit=3)
    tipped = api.create_deal(merchant, venue, min_commitments=2, per_user_limit=3)
    shared = api.create_deal(merchant, venue, min_commitments=10, per_user_limit=3)
    gone, friend, other = (api.register("customer") for _ in range(3))
    befriend(api, gone, friend)
    assert ask(api, other, give_handle(api, gone)).status_code == 201

    commit_shared(api, gone, untipped, quantity=2)
    commit_shared(api, friend, untipped)
    commit_shared(api, gone, tipped)
    commit_shared(api, friend, tipped)  # tips it: both confirmed, vouchers issued
    code = api.client.post(f"{API}/deals/{shared['id']}/shares", headers=gone["headers"]).json[
        "code"
    ]
    through = api.client.post(
        f"{API}/deals/{shared['id']}/commitments",
        headers=other["headers"],
        json={"quantity": 2, "share_code": code},
    )
    assert through.status_code == 201
    commit_shared(api, gone, shared)
    earned = check_in(api, gone, venue, share="friends")["rewards"]
    assert {r["title"] for r in earned} == {"Welcome", "Mayor"}
    check_in(api, friend, venue, share="friends")  # the two of them: the friends special
    titles = "SELECT title FROM rewards WHERE account_id = :id ORDER BY title"
    assert [row.title for row in rows(engine, titles, id=gone["account"]["id"])] == [
        "Friends",
        "Mayor",
        "Welcome",
    ]
    api.client.post(
        f"{API}/me/alert-areas",
        headers=gone["headers"],
        json={"location": BERLIN, "radius_m": 500},
    )
    api.client.post(
        f"{API}/me/devices", headers=gone["headers"], json={"platform": "web", "token": "t-1"}
    )
    fan_out_events(app, db)
    assert len(feed(api, friend)["items"]) == 4  # a check-in and three commitments

    deleted = api.client.delete(f"{API}/me", headers=gone["headers"])
    assert deleted.status_code == 204, deleted.json

    world = World("", merchant, [], [untipped, tipped, shared], [venue], [])
    assert_counters_equal_their_rows(engine, world)
    assert_share_and_minute_counters_equal_their_rows(engine)
    deals = {
        deal["id"]: api.client.get(f"{API}/deals/{deal['id']}").json["committed_count"]
        for deal in (untipped, tipped, shared)
    }
    # Pending units were withdrawn; confirmed ones (and their vouchers) stay, as the merchant's.
    assert deals == {untipped["id"]: 1, tipped["id"]: 2, shared["id"]: 2}
    assert (
        scalar(
            engine, "SELECT count(*) FROM vouchers WHERE account_id = :id", id=gone["account"]["id"]
        )
        == 1
    )
    # Rewards stay, for the venue's programs (their counters match them, checked above).
    assert len(rows(engine, titles, id=gone["account"]["id"])) == 3
    # The share's counts stay: they say what the link brought; the link attributes nothing new.
    newcomer = api.register("customer")
    late = api.client.post(
        f"{API}/deals/{shared['id']}/commitments",
        headers=newcomer["headers"],
        json={"quantity": 1, "share_code": code},
    )
    assert late.status_code == 201, late.json
    assert rows(engine, "SELECT commitments, units FROM shares WHERE code = :c", c=code) == [(1, 2)]
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM referrals WHERE account_id = :id",
            id=newcomer["account"]["id"],
        )
        == 0
    )

    # Nothing of the account can be read, or used, any more.
    assert api.client.get(f"{API}/me", headers=gone["headers"]).status_code == 401
    login = api.client.post(
        f"{API}/tokens", json={"email": gone["account"]["email"], "password": PASSWORD}
    )
    assert login.status_code == 401
    assert feed(api, friend)["items"] == []
    assert api.client.get(f"{API}/me/friends", headers=friend["headers"]).json["items"] == []
    assert api.client.get(f"{API}/me/friends", headers=other["headers"]).json["items"] == []
    viewer = api.client.get(f"{API}/deals/{tipped['id']}", headers=friend["headers"]).json["viewer"]
    assert viewer["friends_committed"] == {"count": 0, "names": []}
    ((email, name, handle, password_hash),) = rows(
        engine,
        "SELECT email, display_name, handle, password_hash FROM accounts WHERE id = :id",
        id=gone["account"]["id"],
    )
    assert (name, handle, password_hash) == ("Former member", None, "!")
    assert gone["account"]["email"] != email
    for table in ("tokens", "devices", "alert_areas", "notifications", "friend_notice_counts"):
        count = f"SELECT count(*) FROM {table} WHERE account_id = :id"
        assert scalar(engine, count, id=gone["account"]["id"]) == 0, table
    for table, column in (("friendships", "friend_id"), ("friend_requests", "requester_id")):
        count = f"SELECT count(*) FROM {table} WHERE {column} = :id"
        assert scalar(engine, count, id=gone["account"]["id"]) == 0, table
    assert rows(
        engine,
        "SELECT accuracy_m, message, share, ST_Equals(c.location::geometry, v.location::geometry)"
        " FROM checkins c JOIN venues v ON v.id = c.venue_id WHERE c.account_id = :id",
        id=gone["account"]["id"],
    ) == [(None, None, "private", True)]
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM commitments WHERE account_id = :id AND share <> 'private'",
            id=gone["account"]["id"],
        )
        == 0
    )


def test_merchant_accounts_are_not_deleted_through_the_api(api, merchant):
    response = api.client.delete(f"{API}/me", headers=merchant["headers"])
    assert response.status_code == 403
    assert api.client.get(f"{API}/me", headers=merchant["headers"]).status_code == 200


def test_deleting_an_account_cancels_its_card_holds_and_leaves_the_ledger_balanced(
    paid_api, engine, localstripe
):
    merchant = paid_api.register("merchant")
    venue = paid_api.create_venue(merchant)
    waiting = paid_api.create_deal(merchant, venue, min_commitments=5, price_cents=1800)
    tipped = paid_api.create_deal(merchant, venue, min_commitments=1, price_cents=1800)
    gone, other = paid_api.register("customer"), paid_api.register("customer")
    for customer in (gone, other):
        held = commit_paid(paid_api, customer, waiting, card(localstripe))
        assert held.status_code == 201, held.json
    bought = commit_paid(paid_api, gone, tipped, card(localstripe))  # tips it: charged at once
    assert bought.status_code == 201, bought.json

    assert paid_api.client.delete(f"{API}/me", headers=gone["headers"]).status_code == 204

    statuses = {
        (row.deal_id, row.account_id): row.status
        for deal in (waiting, tipped)
        for row in payment_rows(engine, deal["id"])
    }
    by_id = {deal["id"]: uuid.UUID(deal["id"]) for deal in (waiting, tipped)}
    gone_id, other_id = (uuid.UUID(c["account"]["id"]) for c in (gone, other))
    assert statuses == {
        (by_id[waiting["id"]], gone_id): "cancelled",  # released right after the response
        (by_id[waiting["id"]], other_id): "held",
        (by_id[tipped["id"]], gone_id): "captured",  # the merchant's sale stays
    }
    (released,) = [row for row in payment_rows(engine, waiting["id"]) if row.account_id == gone_id]
    assert intent(localstripe, released.provider_ref)["status"] == "canceled"
    assert unbalanced_transactions(engine) == []
    world = World("", merchant, [], [waiting, tipped], [venue], [])
    assert_counters_equal_their_rows(engine, world)
    assert paid_api.client.get(f"{API}/deals/{waiting['id']}").json["committed_count"] == 1
