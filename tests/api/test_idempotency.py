"""Idempotency keys on creating POSTs: replay, reuse, scope, concurrency, what is stored."""

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import text

from core.idempotency import REDACTED
from tests.conftest import Api

VENUES = "/api/v1/venues"
BODY = {"name": "Späti am Eck", "location": {"lat": 52.5, "lon": 13.4}, "category": "kiosk"}


def post_venue(client, merchant, key, body=BODY):
    return client.post(VENUES, json=body, headers={**merchant["headers"], "Idempotency-Key": key})


def count(engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_a_replay_returns_the_identical_status_and_body_and_creates_nothing_new(
    api, client, engine
):
    merchant = api.register("merchant")
    first = post_venue(client, merchant, "create-spaeti-1")
    second = post_venue(client, merchant, "create-spaeti-1")
    assert first.status_code == second.status_code == 201
    assert second.get_data() == first.get_data()
    assert second.headers["Content-Type"] == first.headers["Content-Type"] == "application/json"
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(engine, "venues") == 1


def test_a_replay_ignores_the_key_order_of_the_json_body(api, client, engine):
    merchant = api.register("merchant")
    first = post_venue(client, merchant, "k", {"name": "A", "location": {"lat": 1, "lon": 2}})
    second = post_venue(client, merchant, "k", {"location": {"lon": 2, "lat": 1}, "name": "A"})
    assert second.status_code == 201
    assert second.json == first.json
    assert count(engine, "venues") == 1


def test_without_a_key_every_post_creates_a_venue(api, client, engine):
    merchant = api.register("merchant")
    ids = {client.post(VENUES, json=BODY, headers=merchant["headers"]).json["id"] for _ in range(2)}
    assert len(ids) == 2
    assert count(engine, "venues") == 2


def test_reusing_a_key_with_a_different_body_is_422(api, client, engine):
    merchant = api.register("merchant")
    assert post_venue(client, merchant, "same-key").status_code == 201
    response = post_venue(client, merchant, "same-key", BODY | {"name": "Something else"})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "idempotency-key-reused"
    assert count(engine, "venues") == 1


def test_the_same_key_from_another_account_is_independent(api, client, engine):
    first_merchant = api.register("merchant")
    second_merchant = api.register("merchant")
    first = post_venue(client, first_merchant, "shared-key")
    second = post_venue(client, second_merchant, "shared-key", BODY | {"name": "Other shop"})
    assert first.status_code == second.status_code == 201
    assert first.json["id"] != second.json["id"]
    assert second.json["merchant_id"] == second_merchant["account"]["id"]
    assert second.json["name"] == "Other shop"
    assert count(engine, "venues") == 2


def test_a_request_that_failed_validation_does_not_use_up_its_key(api, client, engine):
    merchant = api.register("merchant")
    invalid = post_venue(client, merchant, "retry-me", {"name": "No location"})
    assert invalid.status_code == 422
    valid = post_venue(client, merchant, "retry-me")
    assert valid.status_code == 201
    assert count(engine, "venues") == 1


def test_a_key_of_255_characters_is_accepted_and_256_is_422(api, client, engine):
    merchant = api.register("merchant")
    assert post_venue(client, merchant, "k" * 255).status_code == 201
    response = post_venue(client, merchant, "k" * 256, BODY | {"name": "Second"})
    assert response.status_code == 422
    assert response.json["code"] == "validation-error"
    assert "Idempotency-Key" in response.json["errors"]
    assert count(engine, "venues") == 1


def test_an_empty_key_is_422(api, client):
    merchant = api.register("merchant")
    response = post_venue(client, merchant, "")
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["errors"]


def test_twenty_concurrent_requests_with_one_key_create_exactly_one_venue(api, live_server, engine):
    merchant = api.register("merchant")  # same database as the live server
    headers = {**merchant["headers"], "Idempotency-Key": "tap-tap-tap-tap"}
    start = threading.Barrier(20)

    def send(_):
        with requests.Session() as session:
            start.wait(timeout=10)
            return session.post(live_server + VENUES, json=BODY, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(send, range(20)))

    assert count(engine, "venues") == 1
    with engine.connect() as connection:
        venue_id = str(connection.execute(text("SELECT id FROM venues")).scalar_one())
    statuses = {}
    for response in responses:
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code == 201:
            assert response.json()["id"] == venue_id
        else:
            assert response.status_code == 409, response.text
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.json()["code"] == "idempotency-key-in-use"
    assert statuses.get(201, 0) >= 1
    # once the first request is done, the key replays that first response
    replay = requests.post(live_server + VENUES, json=BODY, headers=headers, timeout=10)
    assert replay.status_code == 201
    assert replay.json()["id"] == venue_id


# --- what the stored rows reveal ----------------------------------------------------------------

ACCOUNTS = "/api/v1/accounts"
SIGNUP = {
    "email": "new@example.com",
    "password": "correct horse battery",
    "display_name": "New",
    "role": "customer",
}


def stored_rows(engine):
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT fingerprint, row_to_json(idempotency_keys)::text AS row FROM idempotency_keys"
            )
        ).all()


def forget_everything(engine):
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM idempotency_keys"))
        connection.execute(text("DELETE FROM accounts"))


def test_the_stored_fingerprint_of_a_registration_is_keyed_with_the_server_key(make_app, engine):
    canonical = json.dumps(SIGNUP, sort_keys=True, separators=(",", ":"))
    plain_sha256 = hashlib.sha256(f"POST {ACCOUNTS}\n{canonical}".encode()).hexdigest()
    fingerprints = []
    for server_key in ("first-server-key-0123456789abcdef", "second-server-key-0123456789abcd"):
        client = make_app(SECRET_KEY=server_key).test_client()
        headers = {"Idempotency-Key": "signup-1"}
        first = client.post(ACCOUNTS, json=SIGNUP, headers=headers)
        replay = client.post(ACCOUNTS, json=SIGNUP, headers=headers)
        assert first.status_code == replay.status_code == 201
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json == first.json
        [(fingerprint, row)] = stored_rows(engine)
        assert SIGNUP["password"] not in row
        fingerprints.append(fingerprint)
        forget_everything(engine)
    assert plain_sha256 not in fingerprints
    assert fingerprints[0] != fingerprints[1]


def test_the_stored_webhook_response_holds_no_secret_and_a_replay_says_it_was_shown_once(
    make_app, engine
):
    client = make_app(WEBHOOK_ALLOW_LOOPBACK=True).test_client()
    merchant = Api(client).register("merchant")
    headers = {**merchant["headers"], "Idempotency-Key": "hook-1"}
    body = {"url": "http://127.0.0.1:9/x", "events": []}
    first = client.post("/api/v1/webhooks", json=body, headers=headers)
    assert first.status_code == 201
    secret = first.json["secret"]
    assert secret.startswith("whsec_")

    [(_fingerprint, row)] = stored_rows(engine)
    assert "whsec_" not in row
    assert secret.removeprefix("whsec_") not in row

    replay = client.post("/api/v1/webhooks", json=body, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json["secret"] == REDACTED
    assert {**replay.json, "secret": secret} == first.json
    assert count(engine, "webhooks") == 1


def test_two_anonymous_clients_with_the_same_key_and_body_do_not_share_a_response(client, engine):
    headers = {"Idempotency-Key": "signup-1"}

    def signup(address):
        return client.post(
            ACCOUNTS, json=SIGNUP, headers=headers, environ_base={"REMOTE_ADDR": address}
        )

    first = signup("203.0.113.10")
    other = signup("198.51.100.20")
    again = signup("203.0.113.10")
    assert first.status_code == 201
    # the other client's request runs as its own: the email is taken by then
    assert "Idempotent-Replayed" not in other.headers
    assert other.status_code == 409
    assert other.json["code"] == "email-taken"
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert count(engine, "accounts") == 1
