"""Every error is RFC 9457 problem+json with a `code`: one test per case."""

import json
import logging
import re
import socket

import pytest
import requests

from tests.factories import API, deal_body, from_now, scalar

PROBLEM_JSON = "application/problem+json"
VENUES = "/api/v1/venues"
ACCOUNTS = "/api/v1/accounts"
DEVICES = "/api/v1/me/devices"
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


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
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
    response = client.post(
        VENUES, headers=merchant["headers"], json=venue_body() | {"address": padding}
    )
    assert_problem(response, 413, "payload-too-large")


def test_a_body_of_almost_1_mib_is_not_refused_for_its_size(api, client):
    merchant = api.register("merchant")
    body = '{"name": "X", "location": {"lat": 1, "lon": 2}}'
    body += " " * (ONE_MIB - len(body))
    response = client.post(
        VENUES, headers=merchant["headers"], data=body, content_type="application/json"
    )
    assert response.status_code == 201


def test_a_chunked_body_over_1_mib_is_413_on_a_real_server(live_server):
    def chunks():
        yield b'{"email": "big@example.com", "display_name": "'
        for _ in range(1100):
            yield b"x" * 1024
        yield b'"}'

    response = requests.post(
        live_server + ACCOUNTS,
        data=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
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
    response = client.post(
        VENUES, headers=merchant["headers"], json={"name": "X", "location": {"lat": 1}}
    )
    body = assert_problem(response, 422, "validation-error")
    assert "location.lon" in body["errors"]


def test_a_json_body_that_is_not_an_object_is_422(client):
    body = assert_problem(client.post(ACCOUNTS, json=[1, 2, 3]), 422, "validation-error")
    assert body["errors"]


def test_unknown_fields_are_422(api, client):
    merchant = api.register("merchant")
    response = client.post(
        VENUES, headers=merchant["headers"], json=venue_body() | {"owner": "me", "rating": 5}
    )
    body = assert_problem(response, 422, "validation-error")
    assert set(body["errors"]) == {"owner", "rating"}


def test_unknown_nested_fields_are_422(api, client):
    merchant = api.register("merchant")
    response = client.post(VENUES, headers=merchant["headers"], json=venue_body(alt=30))
    body = assert_problem(response, 422, "validation-error")
    assert "location.alt" in body["errors"]


@pytest.mark.parametrize(
    "location, field",
    [
        ({"lat": 90.0001}, "location.lat"),
        ({"lat": -91}, "location.lat"),
        ({"lon": 180.5}, "location.lon"),
        ({"lon": -200}, "location.lon"),
    ],
)
def test_lat_lon_out_of_range_in_a_body_is_422(api, client, location, field):
    merchant = api.register("merchant")
    response = client.post(VENUES, headers=merchant["headers"], json=venue_body(**location))
    body = assert_problem(response, 422, "validation-error")
    assert list(body["errors"]) == [field]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"lat": 91, "lon": 0}, "lat"),
        ({"lat": 0, "lon": -180.1}, "lon"),
        ({"lat": "NaN", "lon": 0}, "lat"),
        ({"lat": 0, "lon": "Infinity"}, "lon"),
        ({"lat": "-inf", "lon": 0}, "lat"),
        ({"lat": "north", "lon": 0}, "lat"),
    ],
)
def test_lat_lon_out_of_range_or_not_finite_in_a_query_is_422(api, client, params, field):
    customer = api.register("customer")
    response = client.get("/api/v1/venues/nearby", query_string=params, headers=customer["headers"])
    body = assert_problem(response, 422, "validation-error")
    assert field in body["errors"]


@pytest.mark.parametrize(
    "literal, field",
    [
        ('{"lat": NaN, "lon": 13.4}', "location.lat"),
        ('{"lat": 52.5, "lon": Infinity}', "location.lon"),
        ('{"lat": -Infinity, "lon": 13.4}', "location.lat"),
    ],
)
def test_nan_and_infinity_literals_in_a_body_are_422(api, client, literal, field):
    merchant = api.register("merchant")
    raw = '{"name": "X", "location": ' + literal + "}"
    response = client.post(
        VENUES, headers=merchant["headers"], data=raw, content_type="application/json"
    )
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
    client = make_app(
        DATABASE_URL="postgresql+psycopg2://postgres@127.0.0.1:9/nowhere"
    ).test_client()

    response = client.get("/api/v1/me", headers={"Authorization": "Bearer swm_whatever"})

    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "database-unavailable"
    assert response.headers["Retry-After"] == "5"


# --- values beyond what the columns and the app's arithmetic hold -----------------------------


INT4_MAX = 2**31 - 1


@pytest.mark.parametrize("field", ["price_cents", "original_price_cents"])
@pytest.mark.parametrize("value", [INT4_MAX + 1, 10**10])
def test_a_price_beyond_the_integer_column_is_422(api, client, merchant, field, value):
    venue = api.create_venue(merchant)
    response = client.post(
        f"{API}/deals",
        headers=merchant["headers"],
        json=deal_body(venue, price_cents=1, original_price_cents=2) | {field: value},
    )
    body = assert_problem(response, 422, "validation-error")
    assert list(body["errors"]) == [field]


def test_a_price_patched_beyond_the_integer_column_is_422(api, client, merchant):
    deal = api.create_deal(merchant, api.create_venue(merchant), starts_at=from_now(days=1))
    response = client.patch(
        f"{API}/deals/{deal['id']}", headers=merchant["headers"], json={"price_cents": INT4_MAX + 1}
    )
    body = assert_problem(response, 422, "validation-error")
    assert list(body["errors"]) == ["price_cents"]


def test_the_largest_integer_price_is_accepted(api, merchant):
    deal = api.create_deal(
        merchant,
        api.create_venue(merchant),
        price_cents=INT4_MAX - 1,
        original_price_cents=INT4_MAX,
    )
    assert (deal["price_cents"], deal["original_price_cents"]) == (INT4_MAX - 1, INT4_MAX)


@pytest.mark.parametrize("field", ["starts_at", "ends_at", "redeem_until"])
@pytest.mark.parametrize(
    "timestamp",
    [
        "0001-01-01T00:00+01:00",  # year 0 in UTC: past what Python's datetime holds
        "9999-12-31T23:59:59-01:00",  # year 10000 in UTC
        "9999-12-31T00:00:00Z",  # ends_at + 90 days (the redeem default) would overflow
        "9000-01-01T00:00:01Z",
        "1969-12-31T23:59:59Z",
    ],
)
def test_a_timestamp_outside_the_accepted_years_is_422(api, client, merchant, field, timestamp):
    venue = api.create_venue(merchant)
    response = client.post(
        f"{API}/deals", headers=merchant["headers"], json=deal_body(venue) | {field: timestamp}
    )
    body = assert_problem(response, 422, "validation-error")
    assert field in body["errors"]


def test_a_deal_may_end_at_the_last_accepted_moment(api, merchant):
    deal = api.create_deal(
        merchant,
        api.create_venue(merchant),
        starts_at="8999-12-01T00:00:00Z",
        ends_at="9000-01-01T01:00:00+01:00",
    )
    assert deal["ends_at"] == "9000-01-01T00:00:00Z"


def nested_json(depth: int) -> str:
    return '{"email": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


@pytest.mark.parametrize("depth", [33, 5000, 100_000])
def test_json_nested_deeper_than_the_limit_is_400(client, depth):
    response = client.post(ACCOUNTS, data=nested_json(depth), content_type="application/json")
    body = assert_problem(response, 400, "malformed-json")
    assert "32" in body["detail"]


def test_json_nested_to_the_limit_reaches_validation(client):
    response = client.post(ACCOUNTS, data=nested_json(32), content_type="application/json")
    assert_problem(response, 422, "validation-error")


def test_brackets_inside_json_strings_do_not_count_as_nesting(api, client, merchant):
    response = client.post(
        VENUES, headers=merchant["headers"], json=venue_body() | {"address": '[{"\\' * 100}
    )
    assert response.status_code == 201, response.json


def test_the_json_depth_limit_is_configurable(make_app):
    response = (
        make_app(JSON_MAX_DEPTH=4)
        .test_client()
        .post(ACCOUNTS, data=nested_json(5), content_type="application/json")
    )
    body = assert_problem(response, 400, "malformed-json")
    assert "4 levels" in body["detail"]


@pytest.mark.parametrize("token", ["x" * 1025, "x" * 3000, "é" * 900, "token with spaces"])
def test_a_device_token_too_long_for_its_index_or_not_ascii_is_422(api, client, token):
    customer = api.register("customer")
    response = client.post(
        DEVICES, headers=customer["headers"], json={"platform": "android", "token": token}
    )
    body = assert_problem(response, 422, "validation-error")
    assert list(body["errors"]) == ["token"]


@pytest.mark.parametrize("token", ["f" * 64, "dGVzdA:APA91b" + "-_x" * 80, "x" * 1024])
def test_real_world_device_tokens_are_accepted(api, client, token):
    customer = api.register("customer")
    response = client.post(
        DEVICES, headers=customer["headers"], json={"platform": "android", "token": token}
    )
    assert response.status_code == 201, response.json


# --- gunicorn's own errors ---------------------------------------------------------------------


def raw_exchange(base_url: str, request: bytes) -> tuple[int, dict, bytes]:
    """Send `request` bytes to the live server; the status, headers and body of its answer."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines)
    }
    return int(status_line.split()[1]), headers, body


def assert_raw_problem(exchange, status: int, code: str) -> dict:
    got_status, headers, body = exchange
    assert got_status == status, body
    assert headers["content-type"] == PROBLEM_JSON
    assert int(headers["content-length"]) == len(body)
    problem = json.loads(body)
    assert (problem["status"], problem["code"]) == (status, code)
    assert problem["type"].endswith("/" + code)
    assert problem["title"] and problem["detail"]
    return problem


@pytest.mark.parametrize(
    "path",
    ["/api/v1/deals", "/api/v1/deals/nearby", "/api/v1/venues/nearby", "/api/v1/me/vouchers"],
)
def test_a_request_line_too_long_for_gunicorn_is_414_problem_json(live_server, path):
    response = requests.get(live_server + path, params={"q": "x" * 9000}, timeout=10)
    assert response.status_code == 414
    assert response.headers["Content-Type"] == PROBLEM_JSON
    assert response.json()["code"] == "uri-too-long"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n",
    ],
)
def test_malformed_http_is_400_problem_json(live_server, request_bytes):
    assert_raw_problem(raw_exchange(live_server, request_bytes), 400, "bad-request")


def test_a_header_too_large_for_gunicorn_is_431_problem_json(live_server):
    request_bytes = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n"
    assert_raw_problem(
        raw_exchange(live_server, request_bytes), 431, "request-header-fields-too-large"
    )


@pytest.mark.parametrize(
    "name",
    [r'"Caf\u00e9 \ud800"', r'"\udfff"', r'"NUL \u0000"'],
    ids=["lone high", "lone low", "nul"],
)
def test_text_postgresql_cannot_store_is_422_and_creates_nothing(api, client, engine, name):
    merchant = api.register("merchant")
    body = '{"name": ' + name + ', "location": {"lat": 52.5, "lon": 13.4}}'
    response = client.post(
        f"{API}/venues",
        data=body,
        content_type="application/json",
        headers=merchant["headers"],
    )
    assert response.status_code == 422, response.json
    assert list(response.json["errors"]) == ["name"]
    assert scalar(engine, "SELECT count(*) FROM venues") == 0


def test_a_surrogate_pair_is_stored_as_the_character_it_encodes(api, client):
    merchant = api.register("merchant")
    body = r'{"name": "Bee \ud83d\udc1d", "location": {"lat": 52.5, "lon": 13.4}}'
    response = client.post(
        f"{API}/venues", data=body, content_type="application/json", headers=merchant["headers"]
    )
    assert (response.status_code, response.json["name"]) == (201, "Bee 🐝")
