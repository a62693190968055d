"""Helpers for the friends tests: handles, friendships and the feed through the API."""

import uuid

from tests.factories import API, BERLIN


def give_handle(api, account: dict, handle: str | None = None) -> str:
    """Set a fresh (or the given) handle on `account` with PATCH /me; returns it."""
    handle = handle or f"u_{uuid.uuid4().hex[:12]}"
    response = api.client.patch(f"{API}/me", json={"handle": handle}, headers=account["headers"])
    assert response.status_code == 200, response.json
    return handle


def ask(api, asker: dict, handle: str):
    """`POST /me/friends {handle}` as `asker`; the response."""
    return api.client.post(f"{API}/me/friends", json={"handle": handle}, headers=asker["headers"])


def befriend(api, first: dict, second: dict) -> None:
    """Make `first` and `second` friends: a request and its acceptance."""
    handle = second["account"].get("handle") or give_handle(api, second)
    second["account"]["handle"] = handle
    assert ask(api, first, handle).status_code == 201
    accepted = api.client.post(
        f"{API}/me/friends/{first['account']['id']}/accept", headers=second["headers"]
    )
    assert accepted.status_code == 200, accepted.json


def feed(api, account: dict, **query) -> dict:
    """`GET /me/feed` as `account` (asserting 200); the body."""
    response = api.client.get(f"{API}/me/feed", query_string=query, headers=account["headers"])
    assert response.status_code == 200, response.json
    return response.json


def check_in(api, account: dict, venue: dict, share: str | None = None, **body):
    """`POST /venues/{id}/checkins` at the venue's door (asserting 201); the result."""
    payload = {"location": BERLIN, "accuracy_m": 10, **body}
    if share is not None:
        payload["share"] = share
    response = api.client.post(
        f"{API}/venues/{venue['id']}/checkins", json=payload, headers=account["headers"]
    )
    assert response.status_code == 201, response.json
    return response.json


def commit_shared(api, account: dict, deal: dict, share: str | None = "friends", quantity=1):
    """`POST /deals/{id}/commitments` with `share` (asserting 201); the result."""
    body = {"quantity": quantity} if share is None else {"quantity": quantity, "share": share}
    response = api.client.post(
        f"{API}/deals/{deal['id']}/commitments", json=body, headers=account["headers"]
    )
    assert response.status_code == 201, response.json
    return response.json
