"""What friends see of each other, and nobody else: the feed (shared check-ins with venue and
time only, shared commitments that still hold units), `viewer.friends_committed` on deals, and
`friend.checked_in` (only to friends, only for shared counted check-ins, capped a day)."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event

from social.jobs import prune_social_proof
from tests.checkins_support import away
from tests.factories import API, BERLIN, recipients, scalar, utcnow
from tests.friends_support import (
    ask,
    befriend,
    check_in,
    commit_shared,
    feed,
    give_handle,
)
from tests.payments_support import NEEDS_3DS, authenticate, card, payment_rows


@pytest.fixture
def place(api, merchant):
    venue = api.create_venue(merchant, name="Café Freunde")
    deal = api.create_deal(
        merchant, venue, min_commitments=10, max_commitments=50, per_user_limit=5
    )
    return {"venue": venue, "deal": deal, "merchant": merchant}


def kinds_and_ids(body: dict) -> list[tuple[str, str]]:
    return [(item["kind"], item["id"]) for item in body["items"]]


def friends_committed(api, account: dict, deal: dict) -> dict:
    response = api.client.get(f"{API}/deals/{deal['id']}", headers=account["headers"])
    assert response.status_code == 200, response.json
    return response.json["viewer"]["friends_committed"]


def test_a_friend_sees_exactly_the_shared_items_and_a_stranger_a_requester_and_an_ex_none(
    api, place
):
    anna = api.register("customer")
    anna["account"]["handle"] = give_handle(api, anna)
    friend, stranger, requester, ex = (api.register("customer") for _ in range(4))
    befriend(api, friend, anna)
    befriend(api, ex, anna)
    assert ask(api, requester, anna["account"]["handle"]).status_code == 201  # never accepted
    other_venue = api.create_venue(place["merchant"], name="Zweites Café")

    shared_checkin = check_in(api, anna, place["venue"], share="friends")["checkin"]
    check_in(api, anna, other_venue)  # private by default
    private_commitment = commit_shared(api, anna, place["deal"], share=None)["commitment"]
    shared_commitment = commit_shared(api, anna, place["deal"], quantity=2)["commitment"]
    assert private_commitment["share"] == "private"
    assert (shared_checkin["share"], shared_commitment["share"]) == ("friends", "friends")
    unfriended = api.client.delete(
        f"{API}/me/friends/{anna['account']['id']}", headers=ex["headers"]
    )
    assert unfriended.status_code == 204

    seen = feed(api, friend)
    assert kinds_and_ids(seen) == [
        ("commitment", shared_commitment["id"]),
        ("checkin", shared_checkin["id"]),
    ]
    commitment_item, checkin_item = seen["items"]
    assert commitment_item["friend"] == {
        "id": anna["account"]["id"],
        "display_name": "Customer",
        "handle": anna["account"]["handle"],
    }
    assert commitment_item["deal"] == {"id": place["deal"]["id"], "title": place["deal"]["title"]}
    assert commitment_item["venue"] == {"id": place["venue"]["id"], "name": "Café Freunde"}
    assert commitment_item["quantity"] == 2
    assert friends_committed(api, friend, place["deal"]) == {"count": 1, "names": ["Customer"]}
    for outsider in (stranger, requester, ex, anna):
        assert feed(api, outsider)["items"] == []
        assert friends_committed(api, outsider, place["deal"]) == {"count": 0, "names": []}


def test_a_check_in_in_the_feed_shows_its_venue_and_time_never_the_point_or_accuracy(api, place):
    anna, friend = api.register("customer"), api.register("customer")
    befriend(api, friend, anna)
    spot = away(BERLIN, 37, bearing=90)
    result = check_in(api, anna, place["venue"], share="friends", location=spot, accuracy_m=7.25)
    (item,) = feed(api, friend)["items"]
    assert set(item) == {
        "id",
        "kind",
        "created_at",
        "friend",
        "venue",
        "deal",
        "quantity",
        "review",
    }
    assert (item["kind"], item["id"], item["created_at"]) == (
        "checkin",
        result["checkin"]["id"],
        result["checkin"]["created_at"],
    )
    assert item["venue"] == {"id": place["venue"]["id"], "name": "Café Freunde"}
    assert (item["deal"], item["quantity"], item["review"]) == (None, None, None)
    text = str(item)
    for secret in (f"{spot['lat']:.6f}"[:9], f"{spot['lon']:.6f}"[:9], "7.25", "distance"):
        assert secret not in text


def test_only_counted_shared_check_ins_reach_the_feed(api, place):
    anna, friend = api.register("customer"), api.register("customer")
    befriend(api, friend, anna)
    far = check_in(api, anna, place["venue"], share="friends", location=away(BERLIN, 5000))
    assert far["checkin"]["counted"] is False
    near = check_in(api, anna, place["venue"], share="friends")
    again = check_in(api, anna, place["venue"], share="friends")  # already counted today
    assert (near["checkin"]["counted"], again["checkin"]["counted"]) == (True, False)
    assert kinds_and_ids(feed(api, friend)) == [("checkin", near["checkin"]["id"])]


def test_a_withdrawn_commitment_leaves_the_feed_and_friends_committed(api, place):
    anna, friend = api.register("customer"), api.register("customer")
    befriend(api, friend, anna)
    commit_shared(api, anna, place["deal"])
    assert friends_committed(api, friend, place["deal"])["count"] == 1
    withdrawn = api.client.delete(
        f"{API}/deals/{place['deal']['id']}/commitments/mine", headers=anna["headers"]
    )
    assert withdrawn.json["released_quantity"] == 1
    assert feed(api, friend)["items"] == []
    assert friends_committed(api, friend, place["deal"]) == {"count": 0, "names": []}


def test_the_feed_pages_every_friends_items_newest_first_without_gaps_or_repeats(api, merchant):
    viewer = api.register("customer")
    friends = [api.register("customer") for _ in range(3)]
    for friend in friends:
        befriend(api, viewer, friend)
    venues = [api.create_venue(merchant, name=f"Ort {n}") for n in range(3)]
    deal = api.create_deal(
        merchant, venues[0], min_commitments=50, max_commitments=100, per_user_limit=5
    )
    made = []  # (kind, id) in the order they happened
    for round_ in range(3):
        for friend in friends:
            made.append(
                ("checkin", check_in(api, friend, venues[round_], share="friends")["checkin"]["id"])
            )
            made.append(("commitment", commit_shared(api, friend, deal)["commitment"]["id"]))
    seen, cursor = [], None
    while True:
        page = feed(api, viewer, limit=4, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 4
        seen += kinds_and_ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]


def test_friends_committed_counts_friends_who_shared_and_names_the_latest_three(api, place):
    viewer = api.register("customer")
    names = ["Anna", "Ben", "Cleo", "Dana"]
    friends = []
    for name in names:
        friend = api.register("customer")
        api.client.patch(f"{API}/me", json={"display_name": name}, headers=friend["headers"])
        befriend(api, viewer, friend)
        friends.append(friend)
    stranger = api.register("customer")
    for friend in friends:
        commit_shared(api, friend, place["deal"])
    commit_shared(api, friends[0], place["deal"])  # Anna again: one friend, and the latest
    commit_shared(api, stranger, place["deal"])
    private = api.register("customer")
    befriend(api, viewer, private)
    commit_shared(api, private, place["deal"], share=None)
    assert friends_committed(api, viewer, place["deal"]) == {
        "count": 4,
        "names": ["Anna", "Dana", "Cleo"],
    }
    listing = api.client.get(
        f"{API}/deals/nearby", query_string=BERLIN, headers=viewer["headers"]
    ).json["items"]
    assert listing[0]["viewer"]["friends_committed"]["count"] == 4


def test_a_page_of_twenty_deals_costs_the_same_statements_as_a_page_of_one(
    api, app, place, merchant
):
    viewer = api.register("customer")
    friends = [api.register("customer") for _ in range(3)]
    for friend in friends:
        befriend(api, viewer, friend)

    def statements_for_a_page(limit: int) -> int:
        executed = []
        engine = app.extensions["db_read_engine"]
        listener = lambda *args: executed.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            page = api.client.get(
                f"{API}/deals",
                query_string={"bbox": "13.3,52.4,13.5,52.6", "limit": limit},
                headers=viewer["headers"],
            )
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert page.status_code == 200 and len(page.json["items"]) == limit
        assert all(item["viewer"]["friends_committed"]["count"] == 3 for item in page.json["items"])
        assert len([sql for sql in executed if "friendships" in sql]) == 1
        return len(executed)

    deals = [place["deal"]] + [
        api.create_deal(merchant, place["venue"], min_commitments=10) for _ in range(19)
    ]
    for friend in friends:
        for deal in deals:
            commit_shared(api, friend, deal)
    assert statements_for_a_page(20) == statements_for_a_page(1)


def test_a_shared_counted_check_in_tells_friends_only_at_most_the_daily_cap(
    make_app, engine, merchant
):
    from tests.conftest import Api

    api = Api(make_app(FRIEND_CHECKIN_NOTICES_PER_DAY=2).test_client())
    venue = api.create_venue(merchant)
    others = [api.create_venue(merchant, name=f"Nebenan {n}") for n in range(3)]
    anna, friend, stranger = (api.register("customer") for _ in range(3))
    befriend(api, friend, anna)
    check_in(api, anna, venue)  # private: nobody is told
    assert recipients(engine, "friend.checked_in") == []
    check_in(api, anna, venue, share="friends", location=away(BERLIN, 3000))  # not counted
    assert recipients(engine, "friend.checked_in") == []
    for other in others:  # three shared, counted check-ins; the cap is two a day
        check_in(api, anna, other, share="friends")
    assert recipients(engine, "friend.checked_in") == [friend["account"]["id"]] * 2
    assert stranger["account"]["id"] not in recipients(engine, "friend.checked_in")


def test_unknown_query_arguments_and_foreign_cursors_are_refused(api, customer):
    bad = api.client.get(
        f"{API}/me/feed", query_string={"cursor": "not-ours"}, headers=customer["headers"]
    )
    assert bad.status_code == 422
    extra = api.client.get(
        f"{API}/me/feed", query_string={"friend": str(uuid.uuid4())}, headers=customer["headers"]
    )
    assert extra.status_code == 422


def test_a_friends_visible_reviews_are_in_the_feed_and_a_hidden_one_leaves_it(api, app, place):
    anna, friend, stranger = (api.register("customer") for _ in range(3))
    befriend(api, friend, anna)
    check_in(api, anna, place["venue"])  # a verified visitor; the check-in itself is private
    written = api.client.post(
        f"{API}/venues/{place['venue']['id']}/reviews",
        headers=anna["headers"],
        json={"rating": 5, "text": "Best soup in town"},
    )
    assert written.status_code == 201, written.json
    (item,) = feed(api, friend)["items"]
    assert (item["kind"], item["id"]) == ("review", written.json["id"])
    assert item["review"] == {"rating": 5, "text": "Best soup in town"}
    assert item["venue"] == {"id": place["venue"]["id"], "name": "Café Freunde"}
    assert (item["deal"], item["quantity"]) == (None, None)
    assert feed(api, stranger)["items"] == []
    hidden = app.test_cli_runner().invoke(
        args=["reviews", "hide", written.json["id"], "--reason", "Spam"]
    )
    assert hidden.exit_code == 0, hidden.output
    assert feed(api, friend)["items"] == []


def test_the_prune_job_forgets_friend_notice_counts_before_yesterday_only(api, db, engine, place):
    anna, friend = api.register("customer"), api.register("customer")
    befriend(api, friend, anna)
    check_in(api, anna, place["venue"], share="friends")
    assert scalar(engine, "SELECT count(*) FROM friend_notice_counts") == 1
    now = utcnow()
    assert prune_social_proof(session=db, now=now + timedelta(days=1))["friend_notice_counts"] == 0
    assert prune_social_proof(session=db, now=now + timedelta(days=2))["friend_notice_counts"] == 1


def test_a_paid_commitment_keeps_its_share_through_3d_secure(paid_api, engine, localstripe):
    merchant = paid_api.register("merchant")
    deal = paid_api.create_deal(merchant, paid_api.create_venue(merchant), price_cents=1800)
    anna, friend = paid_api.register("customer"), paid_api.register("customer")
    befriend(paid_api, friend, anna)
    pending = paid_api.client.post(
        f"{API}/deals/{deal['id']}/commitments",
        headers=anna["headers"],
        json={"payment_method": card(localstripe, NEEDS_3DS), "share": "friends"},
    )
    assert pending.status_code == 202, pending.json
    assert feed(paid_api, friend)["items"] == []  # no units yet, nothing to show
    payment = pending.json["payment"]
    (row,) = payment_rows(engine, deal["id"])
    authenticate(localstripe, row.provider_ref, payment["client_secret"])
    confirmed = paid_api.client.post(
        f"{API}/payments/{payment['id']}/confirm", json={}, headers=anna["headers"]
    )
    assert confirmed.status_code == 201, confirmed.json
    assert confirmed.json["commitment"]["share"] == "friends"
    assert kinds_and_ids(feed(paid_api, friend)) == [
        ("commitment", confirmed.json["commitment"]["id"])
    ]
