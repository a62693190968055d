"""Helpers for the check-in tests: points at a known distance, service check-ins at an injected
`now`, venue-local times, and SQL look-ups."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import requests
from pyproj import Geod

from accounts.models import Account
from checkins import services
from core.db import in_unit_of_work
from tests.factories import rows, scalar

UTC = UTC
GEOD = Geod(ellps="WGS84")
MUNICH = {"lat": 48.1374, "lon": 11.5755}


def away(origin: dict, metres: float, bearing: float = 0.0) -> dict:
    """The point `metres` from `origin` on the WGS84 ellipsoid, heading `bearing` degrees."""
    lon, lat, _ = GEOD.fwd(origin["lon"], origin["lat"], bearing, metres)
    return {"lat": lat, "lon": lon}


def local(zone: str, *args) -> datetime:
    """A wall-clock time in `zone` (`local("Asia/Tokyo", 2026, 1, 15, 23, 40)`) as aware UTC."""
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def midday_timezone(now: datetime | None = None) -> str:
    """An IANA zone (Etc/GMT±N) where it is about noon now, so a live test never straddles the
    venue's midnight."""
    now = now or datetime.now(UTC)
    offset = 12 - now.hour  # local hour = utc hour + offset ≈ 12; offset in [-11, 12]
    if offset == 0:
        return "Etc/GMT"
    # POSIX-style names: Etc/GMT-3 is UTC+3.
    return f"Etc/GMT-{offset}" if offset > 0 else f"Etc/GMT+{-offset}"


def check_in(
    app,
    account_id,
    venue_id,
    at: datetime,
    where: dict,
    accuracy_m: float | None = 10.0,
    is_mock: bool = False,
    message: str | None = None,
):
    """`checkins.services.check_in` in its own session and unit of work at the injected time `at`.

    Returns `(checkin, rewards, progress)`; the objects stay readable (expire_on_commit=False).
    """
    session = app.extensions["db_sessionmaker"]()
    try:
        account = session.get(Account, uuid.UUID(str(account_id)))
        return in_unit_of_work(
            session,
            services.check_in,
            venue_id=uuid.UUID(str(venue_id)),
            account=account,
            lat=where["lat"],
            lon=where["lon"],
            accuracy_m=accuracy_m,
            is_mock=is_mock,
            message=message,
            now=at,
        )
    finally:
        session.close()


def create_program(app, merchant_id, venue_id, at: datetime, **settings):
    """`checkins.services.create_program` at the injected time `at` (starts_at defaults to it)."""
    session = app.extensions["db_sessionmaker"]()
    try:
        merchant = session.get(Account, uuid.UUID(str(merchant_id)))
        settings.setdefault("title", f"{settings['kind']} special")
        return in_unit_of_work(
            session,
            services.create_program,
            venue_id=uuid.UUID(str(venue_id)),
            merchant=merchant,
            now=at,
            cap=app.config["REWARD_PROGRAMS_PER_VENUE"],
            **settings,
        )
    finally:
        session.close()


def rewards_by_account(engine, program_id) -> dict[str, int]:
    """{account id: number of rewards} for one program."""
    found = rows(
        engine,
        "SELECT account_id, count(*) FROM rewards WHERE program_id = :p GROUP BY account_id",
        p=str(program_id),
    )
    return {str(account_id): count for account_id, count in found}


def rewards_issued(engine, program_id) -> int:
    return scalar(
        engine, "SELECT rewards_issued FROM reward_programs WHERE id = :p", p=str(program_id)
    )


def events(engine, kind: str) -> list:
    """Outbox events of `kind`: rows of (recipient_id as str, payload)."""
    found = rows(
        engine,
        "SELECT recipient_id, payload FROM outbox_events WHERE kind = :k ORDER BY id",
        k=kind,
    )
    return [(str(r.recipient_id), r.payload) for r in found]


# --- live server ----------------------------------------------------------------------------


def post_all_at_once(requests_to_send: list[tuple[str, dict, dict]]) -> list[requests.Response]:
    """POST every `(url, json, headers)` from its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(requests_to_send))

    def one(item):
        url, body, headers = item
        with requests.Session() as http:
            http.get(url.split("/api/")[0] + "/healthz", timeout=30)  # open the connection first
            barrier.wait(timeout=30)
            return http.post(url, json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=len(requests_to_send)) as pool:
        return list(pool.map(one, requests_to_send))
