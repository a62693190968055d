"""Handles and friendships: PATCH /me, requests by handle (never by email), accept, decline,
cancel, unfriend, GET /me/friends, the caps, the rate limit and the friend events."""

import pytest

from tests.factories import API, outbox, recipients, scalar
from tests.friends_support import ask, befriend, give_handle


def friends_of(api, account: dict, **query) -> dict:
    response = api.client.get(f"{API}/me/friends", query_string=query, headers=account["headers"])
    assert response.status_code == 200, response.json
    return response.json


def listed(api, account: dict, **query) -> list[tuple[str, str]]:
    """(account id, status) of `account`'s friends and requests, newest first."""
    return [
        (item["account"]["id"], item["status"])
        for item in friends_of(api, account, **query)["items"]
    ]


def test_a_handle_is_set_and_removed_with_patch_me_and_shown_on_the_account(api, customer):
    handle = give_handle(api, customer, "anna_42")
    me = api.client.get(f"{API}/me", headers=customer["headers"]).json
    assert (me["handle"], me["display_name"]) == (handle, "Customer")
    renamed = api.client.patch(
        f"{API}/me", json={"handle": None, "display_name": "Anna"}, headers=customer["headers"]
    )
    assert renamed.status_code == 200, renamed.json
    assert (renamed.json["handle"], renamed.json["display_name"]) == (None, "Anna")


def test_a_handle_another_account_has_is_409_handle_taken_and_changes_nothing(api, customer):
    other = api.register("customer")
    give_handle(api, other, "taken_one")
    response = api.client.patch(
        f"{API}/me",
        json={"handle": "taken_one", "display_name": "Thief"},
        headers=customer["headers"],
    )
    assert response.status_code == 409 and response.json["code"] == "handle-taken"
    me = api.client.get(f"{API}/me", headers=customer["headers"]).json
    assert (me["handle"], me["display_name"]) == (None, "Customer")


@pytest.mark.parametrize("handle", ["ab", "x" * 31, "Anna", "anna-b", "anna b", "ännä", ""])
def test_a_handle_is_3_to_30_lowercase_letters_digits_or_underscores(api, customer, handle):
    response = api.client.patch(f"{API}/me", json={"handle": handle}, headers=customer["headers"])
    assert response.status_code == 422 and "handle" in response.json["errors"]


def test_a_request_and_its_acceptance_make_two_friends_and_tell_each_side(api, engine):
    anna, ben = api.register("customer"), api.register("customer")
    handle = give_handle(api, ben)
    asked = ask(api, anna, handle)
    assert asked.status_code == 201, asked.json
    assert asked.json["status"] == "outgoing"
    assert asked.json["account"] == {
        "id": ben["account"]["id"],
        "display_name": "Customer",
        "handle": handle,
    }
    assert listed(api, ben) == [(anna["account"]["id"], "incoming")]
    assert recipients(engine, "friend.requested") == [ben["account"]["id"]]

    again = ask(api, anna, handle)  # asking again changes nothing
    assert (again.status_code, again.json["status"]) == (200, "outgoing")
    accepted = api.client.post(
        f"{API}/me/friends/{anna['account']['id']}/accept", headers=ben["headers"]
    )
    assert (accepted.status_code, accepted.json["status"]) == (200, "friends")
    assert listed(api, anna) == [(ben["account"]["id"], "friends")]
    assert listed(api, ben) == [(anna["account"]["id"], "friends")]
    assert recipients(engine, "friend.accepted") == [anna["account"]["id"]]
    assert scalar(engine, "SELECT count(*) FROM friend_requests") == 0
    assert scalar(engine, "SELECT count(*) FROM friendships") == 2
    # The requests' payloads name the account by display name and handle, never by email.
    for _, _, payload in outbox(engine, "friend.requested") + outbox(engine, "friend.accepted"):
        assert "@" not in str(payload)


def test_asking_someone_who_asked_you_accepts_their_request(api, engine):
    anna, ben = api.register("customer"), api.register("customer")
    anna_handle = give_handle(api, anna)
    assert ask(api, anna, give_handle(api, ben)).status_code == 201
    response = ask(api, ben, anna_handle)
    assert (response.status_code, response.json["status"]) == (200, "friends")
    assert listed(api, anna) == [(ben["account"]["id"], "friends")]
    assert recipients(engine, "friend.accepted") == [anna["account"]["id"]]


def test_an_unknown_handle_a_merchant_and_ones_own_handle_are_told_apart_from_nothing(
    api, customer
):
    merchant = api.register("merchant")
    merchant_handle = give_handle(api, merchant)
    unknown = ask(api, customer, "nobody_has_this")
    not_accepting = ask(api, customer, merchant_handle)
    assert unknown.status_code == not_accepting.status_code == 404
    assert unknown.json == not_accepting.json  # no way to tell a merchant from nobody
    own = ask(api, customer, give_handle(api, customer))
    assert own.status_code == 422 and "handle" in own.json["errors"]


def test_a_request_is_by_handle_only_an_email_is_refused(api, customer):
    other = api.register("customer")
    response = api.client.post(
        f"{API}/me/friends",
        json={"email": other["account"]["email"]},
        headers=customer["headers"],
    )
    assert response.status_code == 422
    response = ask(api, customer, other["account"]["email"])
    assert response.status_code == 422 and "handle" in response.json["errors"]


def test_delete_declines_cancels_or_unfriends_and_404s_when_there_is_nothing(api, engine):
    anna, ben, cleo = (api.register("customer") for _ in range(3))
    assert ask(api, anna, give_handle(api, ben)).status_code == 201
    assert ask(api, anna, give_handle(api, cleo)).status_code == 201
    # Ben declines, Anna cancels the one to Cleo.
    path = f"{API}/me/friends/"
    assert (
        api.client.delete(path + anna["account"]["id"], headers=ben["headers"]).status_code == 204
    )
    assert (
        api.client.delete(path + cleo["account"]["id"], headers=anna["headers"]).status_code == 204
    )
    assert listed(api, anna) == listed(api, ben) == listed(api, cleo) == []
    befriend(api, anna, ben)
    assert (
        api.client.delete(path + anna["account"]["id"], headers=ben["headers"]).status_code == 204
    )
    assert listed(api, anna) == listed(api, ben) == []
    nothing = api.client.delete(path + cleo["account"]["id"], headers=anna["headers"])
    assert nothing.status_code == 404 and nothing.json["code"] == "not-found"
    assert scalar(engine, "SELECT count(*) FROM friendships") == 0


def test_accepting_needs_a_request_from_that_account(api):
    anna, ben = api.register("customer"), api.register("customer")
    assert ask(api, anna, give_handle(api, ben)).status_code == 201
    # The requester cannot accept its own request.
    own = api.client.post(
        f"{API}/me/friends/{ben['account']['id']}/accept", headers=anna["headers"]
    )
    assert own.status_code == 404
    twice = f"{API}/me/friends/{anna['account']['id']}/accept"
    assert api.client.post(twice, headers=ben["headers"]).status_code == 200
    assert api.client.post(twice, headers=ben["headers"]).json["status"] == "friends"


def test_the_list_pages_friends_and_requests_both_ways_newest_first_and_filters_by_status(api):
    me = api.register("customer")
    others = [api.register("customer") for _ in range(5)]
    befriend(api, me, others[0])
    befriend(api, others[1], me)
    assert ask(api, me, give_handle(api, others[2])).status_code == 201
    my_handle = give_handle(api, me)
    for other in others[3:]:
        assert ask(api, other, my_handle).status_code == 201
    expected = [
        (others[4]["account"]["id"], "incoming"),
        (others[3]["account"]["id"], "incoming"),
        (others[2]["account"]["id"], "outgoing"),
        (others[1]["account"]["id"], "friends"),
        (others[0]["account"]["id"], "friends"),
    ]
    seen, cursor = [], None
    while True:
        page = friends_of(api, me, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [(item["account"]["id"], item["status"]) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert listed(api, me, status="incoming") == expected[:2]
    assert listed(api, me, status="friends") == expected[3:]


def test_friends_are_customers_merchants_get_403(api, merchant):
    assert api.client.get(f"{API}/me/friends", headers=merchant["headers"]).status_code == 403
    assert api.client.get(f"{API}/me/feed", headers=merchant["headers"]).status_code == 403


def test_waiting_requests_are_capped_and_one_more_is_409_limit_reached(make_app, engine):
    from tests.conftest import Api

    api = Api(make_app(FRIEND_REQUESTS_PENDING_MAX=2).test_client())
    me = api.register("customer")
    others = [api.register("customer") for _ in range(4)]
    handles = [give_handle(api, other) for other in others]
    assert [ask(api, me, handle).status_code for handle in handles[:2]] == [201, 201]
    refused = ask(api, me, handles[2])
    assert refused.status_code == 409 and refused.json["code"] == "limit-reached"
    # An answered request frees its place.
    accepted = api.client.post(
        f"{API}/me/friends/{me['account']['id']}/accept", headers=others[0]["headers"]
    )
    assert accepted.status_code == 200
    assert ask(api, me, handles[2]).status_code == 201


def test_friends_per_account_are_capped_at_acceptance(make_app, engine):
    from tests.conftest import Api

    api = Api(make_app(FRIENDS_PER_ACCOUNT=1).test_client())
    me, first, second = (api.register("customer") for _ in range(3))
    befriend(api, me, first)
    assert ask(api, second, give_handle(api, me)).status_code == 201
    refused = api.client.post(
        f"{API}/me/friends/{second['account']['id']}/accept", headers=me["headers"]
    )
    assert refused.status_code == 409 and refused.json["code"] == "limit-reached"
    assert listed(api, me, status="friends") == [(first["account"]["id"], "friends")]


def test_friend_requests_are_rate_limited_per_account(make_app, engine):
    from tests.conftest import Api

    api = Api(make_app(FRIEND_REQUEST_RATE_LIMIT=3).test_client())
    me = api.register("customer")
    statuses = [ask(api, me, f"nobody_{n}").status_code for n in range(4)]
    assert statuses == [404, 404, 404, 429]
    # Guessing handles costs the same budget as asking real ones: no free enumeration.
    limited = ask(api, me, "nobody_x")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1


def test_a_friend_request_is_told_once_a_day_however_often_it_is_cancelled_and_sent(api, engine):
    anna, ben = api.register("customer"), api.register("customer")
    handle = give_handle(api, ben)
    for _ in range(3):
        assert ask(api, anna, handle).status_code == 201
        cancel = api.client.delete(
            f"{API}/me/friends/{ben['account']['id']}", headers=anna["headers"]
        )
        assert cancel.status_code == 204
    assert recipients(engine, "friend.requested") == [ben["account"]["id"]]
