"""Pure pieces of error handling and list paging (no database)."""

import base64
import json
import re
import uuid
from datetime import UTC, datetime

import pytest
from flask import Flask
from werkzeug.exceptions import MethodNotAllowed

from core.errors import (
    PROBLEM_JSON,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationFailed,
    flatten_validation_messages,
    handle_error,
)
from core.gunicorn_errors import problem_response
from core.schemas import decode_cursor, encode_cursor, page_of, parse_bigint, parse_datetime

# --- flatten_validation_messages ---------------------------------------------------------


def test_flattening_drops_the_webargs_location_level():
    messages = {"json": {"email": ["Not a valid email address."], "role": ["Missing."]}}
    assert flatten_validation_messages(messages) == {
        "email": ["Not a valid email address."],
        "role": ["Missing."],
    }


def test_flattening_joins_nested_field_names_with_dots():
    messages = {"json": {"location": {"lat": ["Too big."], "lon": ["Not a number."]}}}
    assert flatten_validation_messages(messages) == {
        "location.lat": ["Too big."],
        "location.lon": ["Not a number."],
    }


def test_flattening_names_list_items_by_their_index():
    messages = {"json": {"items": {0: {"quantity": ["Too small."]}, 3: ["Not an object."]}}}
    assert flatten_validation_messages(messages) == {
        "items.0.quantity": ["Too small."],
        "items.3": ["Not an object."],
    }


def test_flattening_a_list_of_nested_error_dicts_numbers_them():
    messages = {"json": {"tags": [{"name": ["Empty."]}, {"name": ["Too long."]}]}}
    assert flatten_validation_messages(messages) == {
        "tags.0.name": ["Empty."],
        "tags.1.name": ["Too long."],
    }


def test_flattening_puts_whole_body_errors_under_body():
    assert flatten_validation_messages({"json": ["Invalid input type."]}) == {
        "_body": ["Invalid input type."],
    }
    assert flatten_validation_messages({"json": {"_schema": ["Ends before it starts."]}}) == {
        "_schema": ["Ends before it starts."],
    }


def test_flattening_merges_the_same_field_from_several_locations():
    messages = {"query": {"limit": ["Too big."]}, "json": {"limit": ["Not an integer."]}}
    assert flatten_validation_messages(messages) == {"limit": ["Too big.", "Not an integer."]}


def test_flattening_turns_a_bare_message_into_a_list():
    assert flatten_validation_messages({"json": {"name": "Bad."}}) == {"name": ["Bad."]}


def test_flattening_nothing_gives_nothing():
    assert flatten_validation_messages({}) == {}


# --- domain errors and the handler --------------------------------------------------------


@pytest.fixture
def bare_app():
    app = Flask(__name__)
    app.config["PROBLEM_TYPE_BASE"] = "https://example.test/problems/"
    return app


def test_a_domain_error_renders_as_problem_json_with_its_code_in_type(bare_app):
    with bare_app.test_request_context():
        response = handle_error(NotFound("No such venue."))
    assert response.status_code == 404
    assert response.mimetype == PROBLEM_JSON
    assert response.json == {
        "type": "https://example.test/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "No such venue.",
        "code": "not-found",
    }


def test_a_validation_failure_carries_per_field_errors(bare_app):
    with bare_app.test_request_context():
        response = handle_error(ValidationFailed({"cursor": ["Not a valid cursor."]}))
    assert response.status_code == 422
    assert response.json["code"] == "validation-error"
    assert response.json["errors"] == {"cursor": ["Not a valid cursor."]}


def test_unauthorized_asks_for_a_bearer_token(bare_app):
    with bare_app.test_request_context():
        response = handle_error(Unauthorized())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("seconds, header", [(899.4, "899"), (0.2, "1"), (-5, "1")])
def test_rate_limited_sends_a_whole_positive_retry_after(bare_app, seconds, header):
    with bare_app.test_request_context():
        response = handle_error(RateLimited(seconds))
    assert response.status_code == 429
    assert response.json["code"] == "rate-limited"
    assert response.headers["Retry-After"] == header


def test_a_405_lists_the_allowed_methods(bare_app):
    with bare_app.test_request_context():
        response = handle_error(MethodNotAllowed(valid_methods=["GET", "POST"]))
    assert response.status_code == 405
    assert response.json["code"] == "method-not-allowed"
    assert response.headers["Allow"] == "GET, POST"


def test_an_unexpected_exception_becomes_a_500_without_its_message(bare_app):
    with bare_app.test_request_context():
        response = handle_error(RuntimeError("password=hunter2 in /srv/app.py line 3"))
    assert response.status_code == 500
    assert response.json["code"] == "internal-error"
    assert "hunter2" not in response.get_data(as_text=True)


# --- cursors ---------------------------------------------------------------------------------


def test_a_cursor_round_trips_floats_exactly_and_uuids():
    venue_id = uuid.uuid4()
    distance = 1234.5678901234567
    cursor = encode_cursor([distance, str(venue_id)])
    assert decode_cursor(cursor, (float, uuid.UUID)) == [distance, venue_id]


def test_a_cursor_round_trips_timestamps():
    created_at = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)
    cursor = encode_cursor([created_at.isoformat(), "x"])
    assert decode_cursor(cursor, (parse_datetime, str)) == [created_at, "x"]


def test_a_cursor_is_url_safe_and_unpadded():
    for n in range(50):
        cursor = encode_cursor([0.1 * n, str(uuid.uuid4()), "a" * n])
        assert "=" not in cursor
        assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)


def _raw_cursor(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!not base64!!!",
        "",
        _raw_cursor(b"not json"),
        _raw_cursor(b"\xff\xfe\x00garbage"),
        _raw_cursor(json.dumps({"distance": 1}).encode()),
        _raw_cursor(json.dumps([1.5]).encode()),
        _raw_cursor(json.dumps([1.5, "x", "y"]).encode()),
        _raw_cursor(json.dumps(["far", str(uuid.uuid4())]).encode()),
        _raw_cursor(json.dumps([1.5, "not-a-uuid"]).encode()),
        _raw_cursor(json.dumps([None, str(uuid.uuid4())]).encode()),
        _raw_cursor(json.dumps([[1], str(uuid.uuid4())]).encode()),
    ],
)
def test_a_cursor_that_is_not_ours_is_a_validation_error_on_cursor(cursor):
    with pytest.raises(ValidationFailed) as excinfo:
        decode_cursor(cursor, (float, uuid.UUID))
    assert excinfo.value.status == 422
    assert excinfo.value.extra["errors"] == {"cursor": ["Not a valid cursor."]}


def test_a_page_has_a_cursor_to_its_last_item_only_when_more_rows_exist():
    rows = [{"n": n} for n in range(4)]
    page = page_of(rows, 3, lambda row: [row["n"]])
    assert page["items"] == rows[:3]
    assert decode_cursor(page["next_cursor"], (int,)) == [2]
    assert page_of(rows, 4, lambda row: [row["n"]]) == {"items": rows, "next_cursor": None}
    assert page_of([], 4, lambda row: [row["n"]]) == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "values",
    [
        ["0001-01-01T00:00:00+00:00", 1],  # before the accepted years
        ["9999-12-31T23:59:59+00:00", 1],  # after them
        ["2026-01-01T00:00:00", 1],  # no offset
        ["2026-01-01T00:00:00+00:00", 2**63],  # id beyond bigint
    ],
)
def test_a_forged_cursor_out_of_range_is_refused(values):
    with pytest.raises(ValidationFailed):
        decode_cursor(encode_cursor(values), (parse_datetime, parse_bigint))


def test_gunicorns_error_pages_have_the_shape_of_the_apps_problems(bare_app):
    with bare_app.test_request_context():
        ours = handle_error(MethodNotAllowed(valid_methods=["GET"])).json
    head, _, body = problem_response(
        "https://example.test/problems/",
        414,
        "URI Too Long",
        "Request Line is too large (8192 > 4094)",
    ).partition(b"\r\n\r\n")
    theirs = json.loads(body)
    assert set(theirs) == set(ours) - {"errors"}
    assert theirs["type"] == "https://example.test/problems/uri-too-long"
    assert (theirs["status"], theirs["code"]) == (414, "uri-too-long")
    assert b"Content-Type: application/problem+json\r\n" in head + b"\r\n"
    assert f"Content-Length: {len(body)}".encode() in head
