"""Test data builders for deals: request bodies, many accounts at once, direct-SQL time travel."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import text

from core.db import in_unit_of_work
from notifications.dispatcher import DispatchSettings, fan_out

API = "/api/v1"
PASSWORD = "correct horse battery"
BERLIN = {"lat": 52.52, "lon": 13.405}


def utcnow() -> datetime:
    """Aware UTC now (the real clock, as the routes use it)."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """RFC 3339 UTC timestamp with a `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def from_now(**delta) -> str:
    """`iso(now + timedelta(**delta))`."""
    return iso(utcnow() + timedelta(**delta))


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 timestamp from a response."""
    return datetime.fromisoformat(value)


def deal_body(venue: dict, **overrides) -> dict:
    """A valid `POST /deals` body for `venue`; overrides win, an override of `...` drops the key."""
    body = {
        "venue_id": venue["id"],
        "title": "-40% on dinner",
        "description": "Three courses, Friday nights.",
        "price_cents": 1800,
        "original_price_cents": 3000,
        "min_commitments": 2,
        "max_commitments": 10,
        "ends_at": from_now(days=2),
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def deal_terms(listing: dict) -> dict:
    """A deal as the reads list it, without what only the reads add (social proof, the venue's
    `rating`, `viewer`): what the writes answer."""
    return {
        name: value
        for name, value in listing.items()
        if name not in ("recent_commitments", "rating", "viewer")
    }


def without_viewer(body):
    """A signed-in read's body without the `viewer` objects of its deals (all that differs from
    the anonymous body)."""
    if isinstance(body, dict) and "items" in body:
        return {**body, "items": [without_viewer(item) for item in body["items"]]}
    if isinstance(body, dict):
        return {name: value for name, value in body.items() if name != "viewer"}
    return body


def create_deal(api, merchant: dict, venue: dict, **overrides) -> dict:
    """Create a deal through the API (asserting 201); returns the deal JSON."""
    response = api.client.post(
        f"{API}/deals", json=deal_body(venue, **overrides), headers=merchant["headers"]
    )
    assert response.status_code == 201, response.json
    return response.json


def commit(
    api, customer: dict, deal: dict, quantity: int | None = None, headers: dict | None = None
):
    """`POST /deals/{id}/commitments` through the test client; returns the response."""
    body = {} if quantity is None else {"quantity": quantity}
    return api.client.post(
        f"{API}/deals/{deal['id']}/commitments",
        json=body,
        headers={**customer["headers"], **(headers or {})},
    )


def register_over_http(
    base_url: str, count: int, role: str = "customer", workers: int = 16
) -> list[dict]:
    """Register and log in `count` accounts against a live server in parallel.

    Returns `{account, token, headers}` dicts like `Api.register`.
    """
    tag = uuid.uuid4().hex[:8]
    local = threading.local()

    def one(index: int) -> dict:
        http = getattr(local, "http", None)
        if http is None:
            http = local.http = requests.Session()
        email = f"{role}-{tag}-{index}@example.com"
        created = http.post(
            f"{base_url}{API}/accounts",
            json={
                "email": email,
                "password": PASSWORD,
                "display_name": f"{role} {index}",
                "role": role,
            },
            timeout=30,
        )
        assert created.status_code == 201, created.text
        login = http.post(
            f"{base_url}{API}/tokens", json={"email": email, "password": PASSWORD}, timeout=30
        )
        assert login.status_code == 201, login.text
        token = login.json()["token"]
        return {
            "account": created.json(),
            "token": token,
            "headers": {"Authorization": f"Bearer {token}"},
        }

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, range(count)))


def move_deal_to_past(engine, deal_id, *, ended_ago: timedelta = timedelta(seconds=1)) -> None:
    """Make a deal's `ends_at` lie in the past (without running any sweep): time travel in SQL."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE deals SET starts_at = now() - interval '2 days' - :ago,"
                " ends_at = now() - :ago,"
                " redeem_until = greatest(redeem_until, now() - :ago) WHERE id = :id"
            ),
            {"ago": ended_ago, "id": str(deal_id)},
        )


def fan_out_events(app, db) -> None:
    """Run the dispatcher's fan-out once (inbox rows and deliveries of every pending event),
    sending nothing."""
    with app.app_context():
        in_unit_of_work(
            db,
            fan_out,
            now=utcnow(),
            settings=DispatchSettings(push_gateway_url=None, allow_loopback=False),
        )


def scalar(engine, sql: str, **params):
    """One value from a SQL query."""
    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def rows(engine, sql: str, **params) -> list:
    """All rows of a SQL query."""
    with engine.connect() as connection:
        return connection.execute(text(sql), params).all()


def outbox(engine, kind: str, deal_id=None) -> list:
    """Outbox events of `kind` (of one deal, if given): a (recipient_id, dedupe_key, payload) row
    per recipient, so a group event gives one row for each of its recipients."""
    sql = (
        "SELECT r.recipient_id, dedupe_key, payload FROM outbox_events CROSS JOIN LATERAL"
        " unnest(coalesce(recipient_ids, ARRAY[recipient_id])) AS r(recipient_id)"
        " WHERE kind = :kind"
    )
    params = {"kind": kind}
    if deal_id is not None:
        sql += " AND payload->>'deal_id' = :deal_id"
        params["deal_id"] = str(deal_id)
    return rows(engine, sql + " ORDER BY id, r.recipient_id", **params)


def recipients(engine, kind: str, deal_id=None) -> list[str]:
    """Recipient account ids (as strings, with repeats) of the outbox events of `kind`."""
    return sorted(str(row.recipient_id) for row in outbox(engine, kind, deal_id))
