"""Every error is RFC 9457 problem+json with a `code` (issue 2, item 7): one test per case."""
import logging
import re

import pytest
import requests

PROBLEM_JSON = "application/problem+json"
VENUES = "/api/v1/venues"
ACCOUNTS = "/api/v1/accounts"
ONE_MIB = 1024 * 1024


def assert_problem(response, status: int, code: str) -> dict:
    """Status, `code`, content type and the RFC 9457 members; returns the body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == PROBLEM_JSON
    body = response.json
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith("/" + code)
    assert body["title"] and body["detail"]
    return body


def venue_body(**location) -> dict:
    return {"name": "X", "location": {"lat": 52.5, "lon": 13.4, **location}}


def test_an_unknown_route_is_404(client):
    assert_problem(client.get("/api/v1/no-such-thing"), 404, "not-found")


def test_a_wrong_method_is_405_with_allow(client):
    response = client.delete(ACCOUNTS)
    assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
def test_a_body_that_is_not_json_is_415(client, content_type):
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.post(ACCOUNTS, data="email=a@b.c&password=x", **kwargs)
    assert_problem(response, 415, "unsupported-media-type")


@pytest.mark.parametrize("raw", ['{"email": ', "{'email': 'a'}", '{"a": 1} trailing', "\xff\xfe"])
def test_malformed_json_is_400(client, raw):
    response = client.post(ACCOUNTS, data=raw, content_type="application/json")
    assert_problem(response, 400, "malformed-json")


def test_a_body_over_1_mib_is_413(api, client):
    merchant = api.register("merchant")
    padding = "x" * ONE_MIB
    response = client.post(VENUES, headers=merchant["headers"],
                           json=venue_body() | {"address": padding})
    assert_problem(response, 413, "payload-too-large")


def test_a_body_of_almost_1_mib_is_not_refused_for_its_size(api, client):
    merchant = api.register("merchant")
    body = '{"name": "X", "location": {"lat": 1, "lon": 2}}'
    body += " " * (ONE_MIB - len(body))
    response = client.post(VENUES, headers=merchant["headers"], data=body,
                           content_type="application/json")
    assert response.status_code == 201


def test_a_chunked_body_over_1_mib_is_413_on_a_real_server(live_server):
    def chunks():
        yield b'{"email": "big@example.com", "display_name": "'
        for _ in range(1100):
            yield b"x" * 1024
        yield b'"}'

    response = requests.post(live_server + ACCOUNTS, data=chunks(),
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 413
    assert response.headers["Content-Type"] == PROBLEM_JSON
    assert response.json()["code"] == "payload-too-large"


def test_a_validation_error_is_422_with_per_field_errors(client):
    response = client.post(ACCOUNTS, json={"email": "not an email", "password": "short"})
    body = assert_problem(response, 422, "validation-error")
    errors = body["errors"]
    assert set(errors) == {"email", "password", "display_name", "role"}
    assert all(isinstance(messages, list) and messages for messages in errors.values())


def test_nested_validation_errors_name_the_nested_field(api, client):
    merchant = api.register("merchant")
    response = client.post(VENUES, headers=merchant["headers"],
                           json={"name": "X", "location": {"lat": 1}})
    body = assert_problem(response, 422, "validation-error")
    assert "location.lon" in body["errors"]


def test_a_json_body_that_is_not_an_object_is_422(client):
    body = assert_problem(client.post(ACCOUNTS, json=[1, 2, 3]), 422, "validation-error")
    assert body["errors"]


def test_unknown_fields_are_422(api, client):
    merchant = api.register("merchant")
    response = client.post(VENUES, headers=merchant["headers"],
                           json=venue_body() | {"owner": "me", "rating": 5})
    body = assert_problem(response, 422, "validation-error")
    assert set(body["errors"]) == {"owner", "rating"}


def test_unknown_nested_fields_are_422(api, client):
    merchant = api.register("merchant")
    response = client.post(VENUES, headers=merchant["headers"], json=venue_body(alt=30))
    body = assert_problem(response, 422, "validation-error")
    assert "location.alt" in body["errors"]


@pytest.mark.parametrize("location, field", [
    ({"lat": 90.0001}, "location.lat"), ({"lat": -91}, "location.lat"),
    ({"lon": 180.5}, "location.lon"), ({"lon": -200}, "location.lon"),
])
def test_lat_lon_out_of_range_in_a_body_is_422(api, client, location, field):
    merchant = api.register("merchant")
    response = client.post(VENUES, headers=merchant["headers"], json=venue_body(**location))
    body = assert_problem(response, 422, "validation-error")
    assert list(body["errors"]) == [field]


@pytest.mark.parametrize("params, field", [
    ({"lat": 91, "lon": 0}, "lat"), ({"lat": 0, "lon": -180.1}, "lon"),
    ({"lat": "NaN", "lon": 0}, "lat"), ({"lat": 0, "lon": "Infinity"}, "lon"),
    ({"lat": "-inf", "lon": 0}, "lat"), ({"lat": "north", "lon": 0}, "lat"),
])
def test_lat_lon_out_of_range_or_not_finite_in_a_query_is_422(api, client, params, field):
    customer = api.register("customer")
    response = client.get("/api/v1/venues/nearby", query_string=params, headers=customer["headers"])
    body = assert_problem(response, 422, "validation-error")
    assert field in body["errors"]


@pytest.mark.parametrize("literal, field", [
    ('{"lat": NaN, "lon": 13.4}', "location.lat"),
    ('{"lat": 52.5, "lon": Infinity}', "location.lon"),
    ('{"lat": -Infinity, "lon": 13.4}', "location.lat"),
])
def test_nan_and_infinity_literals_in_a_body_are_422(api, client, literal, field):
    merchant = api.register("merchant")
    raw = '{"name": "X", "location": ' + literal + "}"
    response = client.post(VENUES, headers=merchant["headers"], data=raw,
                           content_type="application/json")
    body = assert_problem(response, 422, "validation-error")
    assert list(body["errors"]) == [field]


def test_no_token_is_401(client):
    response = client.get("/api/v1/me")
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_the_wrong_role_is_403(api, client):
    customer = api.register("customer")
    response = client.post(VENUES, headers=customer["headers"], json=venue_body())
    assert_problem(response, 403, "forbidden")


@pytest.fixture
def crashing_app(make_app):
    """A separate app with one extra route that crashes (never part of the production app)."""
    crashing = make_app()

    def crash():
        raise RuntimeError("secret: /srv/schwarm/db.py password=hunter2")

    crashing.add_url_rule("/test-only/crash", "crash", crash, methods=["GET", "POST"])
    return crashing


def test_a_crash_is_500_without_a_stack_trace_and_quotes_the_request_id(crashing_app, caplog):
    with caplog.at_level(logging.ERROR, logger="schwarm.errors"):
        response = crashing_app.test_client().get("/test-only/crash")
    body = assert_problem(response, 500, "internal-error")
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", "hunter2", "db.py", 'File "'):
        assert leak not in text
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert request_id in body["detail"]
    # ... and the log has the stack trace under the same request id
    logged = [record for record in caplog.records if request_id in record.getMessage()]
    assert logged and logged[0].exc_info[0] is RuntimeError


def test_a_crash_quotes_the_request_id_the_client_sent(crashing_app):
    response = crashing_app.test_client().post(
        "/test-only/crash", json={}, headers={"X-Request-ID": "phone-42-abc"}
    )
    body = assert_problem(response, 500, "internal-error")
    assert response.headers["X-Request-ID"] == "phone-42-abc"
    assert "phone-42-abc" in body["detail"]


def test_the_crash_route_exists_only_on_the_test_app(client):
    assert client.get("/test-only/crash").status_code == 404


def test_every_response_carries_a_request_id(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/api/v1/nope").headers["X-Request-ID"]
    assert first and second and first != second


def test_an_unreachable_database_answers_503_with_retry_after(make_app):
    client = make_app(DATABASE_URL="postgresql+psycopg2://postgres@127.0.0.1:9/nowhere").test_client()

    response = client.get("/api/v1/me", headers={"Authorization": "Bearer swm_whatever"})

    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "database-unavailable"
    assert response.headers["Retry-After"] == "5"
