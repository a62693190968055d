"""Idempotency keys on creating POSTs (here POST /venues): replay, reuse, scope, concurrency."""
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import text

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
