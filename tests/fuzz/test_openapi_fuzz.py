"""Schemathesis against the app's own OpenAPI document: every operation, both roles (and no token
at all where the bearer is optional: the public reads), all checks, valid and invalid (negative)
data.

Bounded in `make test` (FUZZ_EXAMPLES, default 4 per operation, mode and role); `make fuzz`
runs it long. Requests go through the WSGI app in-process, against the real PostGIS test
database, so what is checked is the code itself rather than the server in front of it.

Every test starts from a world of real objects owned by the two fuzzing accounts (a venue, deals
with commitments, a voucher, a reward, a review, a webhook, an alert area, devices, notifications,
venues near the antimeridian and the poles), and positive cases put their ids into the path, so each
operation reaches its logic instead of answering 404: the positive run of an operation with a path
id fails when none of its cases got past the id look-up.
"""

import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import available_timezones

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from sqlalchemy import text

from core.db import in_unit_of_work, utcnow
from core.schemas import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP
from models import metadata
from notifications.dispatcher import DispatchSettings, fan_out
from tests.conftest import Api
from tests.factories import API, BERLIN, PASSWORD, commit
from tests.payments_support import insert_payment

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
# The bounded run in `make test` is reproducible; `make fuzz` explores new inputs each time.
DERANDOMIZE = os.environ.get("FUZZ_RANDOM", "") != "true"
load_all_checks()
ALL_CHECKS = CHECKS.get_all()
ROLES = ("customer", "merchant")
# No Authorization header: the caller of the public reads. It reads what a customer may.
ANONYMOUS = "anonymous"
# Where the planar shortcuts of a nearby search break: the antimeridian and the poles.
EDGE_PLACES = [
    {"lat": 0.0, "lon": 180.0},
    {"lat": 0.01, "lon": -180.0},
    {"lat": -0.01, "lon": 179.9999},
    {"lat": 90.0, "lon": 0.0},
    {"lat": -90.0, "lon": 180.0},
]
# Nearby searches start at a venue, or on the antimeridian seen from the other side.
SEARCH_POINTS = [BERLIN, *EDGE_PLACES, {"lat": 0.0, "lon": -180.0}]
# Answers given before an operation looks its path id up: no or a bad token, the wrong role.
BEFORE_LOGIC = {401, 403}


def valid_bbox(values: tuple[float, float, float, float]) -> str:
    min_lon, lat_a, max_lon, lat_b = values
    return f"{min_lon},{min(lat_a, lat_b)},{max_lon},{max(lat_a, lat_b)}"


# Our custom formats: values a client can really send. Cursors are opaque (only values the
# server issued are valid), so positive cases page from the start ("" = no cursor).
LONGITUDE = st.floats(-180, 180, allow_nan=False)
LATITUDE = st.floats(-90, 90, allow_nan=False)
schemathesis.openapi.format(
    "bbox", st.tuples(LONGITUDE, LATITUDE, LONGITUDE, LATITUDE).map(valid_bbox)
)
schemathesis.openapi.format(
    "iana-timezone", st.sampled_from(sorted(available_timezones() - {"localtime"}))
)
schemathesis.openapi.format("cursor", st.just(""))
schemathesis.openapi.format(
    "url", st.sampled_from(["http://127.0.0.1:9/hook", "https://[::1]/hook"])
)
# JSON Schema's date-time has no bounds; the ones the API documents (in each field's
# description) come from core.schemas, in UTC, whatever offset the timestamp is written with.
OFFSETS = st.integers(-18 * 60 + 1, 18 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
schemathesis.openapi.format(
    "date-time",
    st.builds(
        lambda moment, offset: moment.astimezone(offset).isoformat(),
        st.datetimes(
            EARLIEST_TIMESTAMP.replace(tzinfo=None),
            LATEST_TIMESTAMP.replace(tzinfo=None),
            timezones=st.just(UTC),
        ),
        OFFSETS,
    ),
)


@pytest.fixture(scope="module")
def fuzz_app(database_url):
    """The app, with webhooks to loopback allowed (the generated URLs point there) and caps on
    collections out of reach (each deleting case gets a new object of its own first)."""
    from app import create_app
    from core.db import dispose_engines
    from tests.conftest import TEST_CONFIG

    uncapped = {
        name: 10**6
        for name in (
            "ALERT_AREAS_PER_ACCOUNT",
            "DEVICES_PER_ACCOUNT",
            "WEBHOOKS_PER_ACCOUNT",
            "REWARD_PROGRAMS_PER_VENUE",
            "ANONYMOUS_RATE_LIMIT",  # every anonymous case comes from the test client's address
            "REVIEW_RATE_LIMIT",
            "REVIEW_REPORT_RATE_LIMIT",
            "FRIEND_REQUEST_RATE_LIMIT",
            "FRIEND_REQUESTS_PENDING_MAX",
        )
    }
    app = create_app(
        dict(TEST_CONFIG, DATABASE_URL=database_url, WEBHOOK_ALLOW_LOOPBACK=True, **uncapped)
    )
    yield app
    dispose_engines(app)


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    """The app's own OpenAPI document, served by the app."""
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


def operation_labels() -> list[str]:
    """Every documented operation (read from a throwaway app: no database needed)."""
    from app import create_app

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", create_app())
    return [result.ok().label for result in schema.get_all_operations()]


# --- the world: real objects behind every path parameter ----------------------------------------


def created(response, status: int = 201) -> dict:
    """The JSON of a response that must have answered `status`."""
    assert response.status_code == status, (response.status_code, response.json)
    return response.json


@dataclass
class FuzzWorld:
    """The fuzzing accounts by role and, per path parameter, the real values each role may put
    there (its own objects, or the other role's where the operation is about them: a customer
    commits to the merchant's deal, the merchant redeems the customer's voucher)."""

    api: Api
    accounts: dict[str, dict]
    values: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def headers(self, role: str) -> dict:
        return {} if role == ANONYMOUS else self.accounts[role]["headers"]

    def add(self, parameter: str, value: str, *roles: str) -> None:
        for role in roles or ROLES:
            self.values.setdefault(role, {}).setdefault(parameter, []).append(value)

    def choices(self, role: str, path: str, parameter: str) -> list[str]:
        """Real values for `parameter` of the operation at `path`, asked by `role`."""
        if parameter == "code":  # a voucher's or a reward's, by the operation
            parameter = "reward_code" if path.startswith(f"{API}/rewards/") else "voucher_code"
        return self.values["customer" if role == ANONYMOUS else role].get(parameter, [])

    def throwaway(self, role: str) -> dict:
        """Headers of a new account of `role`, for a case that deletes its account."""
        return self.api.register(role)["headers"]

    def fresh_token(self, role: str) -> dict:
        """Headers with a new token of `role`'s account, for a case that revokes its token."""
        login = created(
            self.api.client.post(
                f"{API}/tokens",
                json={"email": self.accounts[role]["account"]["email"], "password": PASSWORD},
            )
        )
        return {"Authorization": f"Bearer {login['token']}"}


def create_device(world: FuzzWorld, role: str) -> str:
    return created(
        world.api.client.post(
            f"{API}/me/devices",
            headers=world.headers(role),
            json={"platform": "android", "token": f"push-{uuid.uuid4().hex}"},
        )
    )["id"]


def create_alert_area(world: FuzzWorld, role: str = "customer") -> str:
    return created(
        world.api.client.post(
            f"{API}/me/alert-areas",
            headers=world.headers(role),
            json={"label": "Home", "location": BERLIN, "radius_m": 5000},
        )
    )["id"]


def create_webhook(world: FuzzWorld, role: str = "merchant") -> str:
    return created(
        world.api.client.post(
            f"{API}/webhooks", headers=world.headers(role), json={"url": "http://127.0.0.1:9/hook"}
        )
    )["id"]


def write_review(world: FuzzWorld) -> str:
    """The customer's review of the Berlin venue (where it checked in), written anew: its
    existing one, if any, deleted first (one review per account and venue)."""
    client, customer = world.api.client, world.accounts["customer"]
    reviews = f"{API}/venues/{world.values['merchant']['venue_id'][0]}/reviews"
    name = customer["account"]["display_name"]
    for review in created(client.get(reviews), 200)["items"]:
        if review["author"]["display_name"] == name:
            client.delete(f"{API}/reviews/{review['id']}", headers=customer["headers"])
    return created(
        client.post(reviews, headers=customer["headers"], json={"rating": 4, "text": "Good"})
    )["id"]


def create_friend_request(world: FuzzWorld) -> str:
    """A new customer asks the fuzzing customer to be friends; the asker's account id."""
    asker = world.api.register("customer")
    created(
        world.api.client.post(
            f"{API}/me/friends",
            json={"handle": world.accounts["customer"]["account"]["handle"]},
            headers=asker["headers"],
        )
    )
    return asker["account"]["id"]


def build_world(api: Api, app, db) -> FuzzWorld:
    """The merchant owns venues (one in Berlin, others at the antimeridian and the poles), deals
    (one tipped, one open, both with the customer's commitments), a reward program and a webhook;
    the customer owns a voucher, a reward from a real check-in, the review that check-in allows
    and an alert area; both own a device and notifications (from the dispatcher's fan-out of the
    events so far)."""
    world = FuzzWorld(api, {role: api.register(role) for role in ROLES})
    merchant, customer = world.accounts["merchant"], world.accounts["customer"]
    venue = api.create_venue(merchant)
    world.add("venue_id", venue["id"])
    deals = []
    for place in EDGE_PLACES:
        edge_venue = api.create_venue(merchant, name="Edge of the map", location=place)
        world.add("venue_id", edge_venue["id"])
        deals.append(api.create_deal(merchant, edge_venue))
    tipped = api.create_deal(merchant, venue, min_commitments=1, per_user_limit=3)
    created(commit(api, customer, tipped))
    open_deal = api.create_deal(merchant, venue, min_commitments=5, per_user_limit=3)
    created(commit(api, customer, open_deal))
    for deal in (open_deal, tipped, *deals):
        world.add("deal_id", deal["id"])
    vouchers = created(api.client.get(f"{API}/me/vouchers", headers=customer["headers"]), 200)
    world.add("voucher_code", vouchers["items"][0]["code"])
    # A payment of the customer's, written directly (the fuzzed app takes no payments online).
    payment = insert_payment(
        app.extensions["db_engine"],
        account_id=customer["account"]["id"],
        merchant_id=merchant["account"]["id"],
        deal_id=open_deal["id"],
    )
    world.add("payment_id", payment)

    program = created(
        api.client.post(
            f"{API}/venues/{venue['id']}/reward-programs",
            headers=merchant["headers"],
            json={"kind": "first_visit", "title": "Welcome"},
        )
    )
    world.add("program_id", program["id"])
    checkin = created(
        api.client.post(
            f"{API}/venues/{venue['id']}/checkins",
            headers=customer["headers"],
            json={"location": BERLIN, "accuracy_m": 10},
        )
    )
    assert checkin["rewards"], checkin
    world.add("reward_code", checkin["rewards"][0]["code"])
    world.add("review_id", write_review(world))

    world.add("webhook_id", create_webhook(world))
    world.add("area_id", create_alert_area(world))
    handle = f"fuzz_{uuid.uuid4().hex[:12]}"
    created(
        api.client.patch(f"{API}/me", json={"handle": handle}, headers=customer["headers"]), 200
    )
    customer["account"]["handle"] = handle
    world.add("account_id", create_friend_request(world))  # the merchant gets 403 for it
    for role in ROLES:
        world.add("device_id", create_device(world, role), role)
    with app.app_context():
        in_unit_of_work(
            db,
            fan_out,
            now=utcnow(),
            settings=DispatchSettings(push_gateway_url=None, allow_loopback=True),
        )
    for role in ROLES:
        inbox = created(api.client.get(f"{API}/me/notifications", headers=world.headers(role)), 200)
        for notification in inbox["items"]:
            world.add("notification_id", notification["id"], role)
    for role in ROLES:  # a role with no inbox row of its own asks for the other's
        other = next(r for r in ROLES if r != role)
        world.values[role].setdefault("notification_id", world.values[other]["notification_id"])
    return world


# Operations that use up their object: each case gets a new one (the owner's), so later cases
# still reach logic.
RENEWED = {
    ("DELETE", f"{API}/me/devices/{{device_id}}"): lambda world, role: {
        "device_id": create_device(world, role)
    },
    ("DELETE", f"{API}/me/alert-areas/{{area_id}}"): lambda world, role: {
        "area_id": create_alert_area(world)
    },
    ("DELETE", f"{API}/webhooks/{{webhook_id}}"): lambda world, role: {
        "webhook_id": create_webhook(world)
    },
    ("DELETE", f"{API}/reviews/{{review_id}}"): lambda world, role: {
        "review_id": write_review(world)
    },
    ("DELETE", f"{API}/me/friends/{{account_id}}"): lambda world, role: {
        "account_id": create_friend_request(world)
    },
    ("POST", f"{API}/me/friends/{{account_id}}/accept"): lambda world, role: {
        "account_id": create_friend_request(world)
    },
}
DELETES_ITS_ACCOUNT = ("DELETE", f"{API}/me")
REVOKES_ITS_TOKEN = ("DELETE", f"{API}/tokens/current")
WITHDRAWS = ("DELETE", f"{API}/deals/{{deal_id}}/commitments/mine")


@dataclass(frozen=True)
class Snapshot:
    """Every row of every table, and every sequence's position, as the world left them."""

    rows: dict[str, list[dict]]
    sequences: dict[str, int]


def take_snapshot(engine) -> Snapshot:
    with engine.connect() as connection:
        rows = {
            table.name: [dict(row._mapping) for row in connection.execute(table.select())]
            for table in metadata.sorted_tables
        }
        sequences = dict(
            connection.execute(
                text(
                    "SELECT format('%I', sequencename), last_value FROM pg_sequences"
                    " WHERE schemaname = 'public' AND last_value IS NOT NULL"
                )
            ).all()
        )
    return Snapshot(rows, sequences)


def restore_snapshot(engine, snapshot: Snapshot) -> None:
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            if snapshot.rows[table.name]:
                connection.execute(table.insert(), snapshot.rows[table.name])
        for sequence, value in snapshot.sequences.items():
            connection.execute(
                text("SELECT setval(:sequence, :value)"), {"sequence": sequence, "value": value}
            )


@pytest.fixture(scope="module")
def world_snapshot(fuzz_app):
    """The world, built once through the API; its rows are restored for every test, because
    building it per test would take longer than the bounded fuzz itself."""
    session = fuzz_app.extensions["db_sessionmaker"]()
    try:
        world = build_world(Api(fuzz_app.test_client()), fuzz_app, session)
    finally:
        session.close()
    return world, take_snapshot(fuzz_app.extensions["db_engine"])


@pytest.fixture
def fuzz_world(fuzz_app, world_snapshot):
    """The world's objects in the database for one test (the tables are emptied after every test:
    the first test finds the world just built, the others get its rows back)."""
    world, snapshot = world_snapshot
    engine = fuzz_app.extensions["db_engine"]
    with engine.connect() as connection:
        is_empty = connection.execute(text("SELECT NOT EXISTS (SELECT FROM accounts)")).scalar()
    if is_empty:
        restore_snapshot(engine, snapshot)
    return FuzzWorld(Api(fuzz_app.test_client()), world.accounts, world.values)


def operation_for(api_schema, label: str):
    return next(r.ok() for r in api_schema.get_all_operations() if r.ok().label == label)


def callers(operation) -> tuple[str, ...]:
    """The roles a case is sent as: both, and no token where the bearer is optional."""
    optional = {} in operation.definition.raw.get("security", [])
    return (*ROLES, ANONYMOUS) if optional else ROLES


def path_parameter_names(operation) -> list[str]:
    return [parameter.name for parameter in operation.path_parameters]


def prepare(case, world: FuzzWorld, role: str, draw) -> dict:
    """Put real ids into `case`'s path and body and real places into its search (unless that is
    what a negative case made invalid), and renew what the operation uses up; returns the headers
    to call it with."""
    operation = case.operation
    key = (operation.method.upper(), operation.path)
    if case.meta.is_negative_at(ParameterLocation.HEADER):
        return {}  # the case's own (invalid) Authorization is what it tests: keep it
    headers = world.headers(role)
    if key == REVOKES_ITS_TOKEN:
        headers = world.fresh_token(role)
    if key == DELETES_ITS_ACCOUNT:
        headers = world.throwaway(role)
    if case.path_parameters and not case.meta.is_negative_at(ParameterLocation.PATH):
        real = {
            name: draw(st.sampled_from(world.choices(role, operation.path, name)))
            for name in case.path_parameters
        }
        if key in RENEWED:
            real.update(RENEWED[key](world, role))
        if key == WITHDRAWS and role == "customer":
            commit(world.api, world.accounts["customer"], {"id": real["deal_id"]})
        case.path_parameters = real
    if {"lat", "lon"} <= set(case.query or {}) and not case.meta.is_negative_at(
        ParameterLocation.QUERY
    ):
        near = draw(st.sampled_from([None, *SEARCH_POINTS]))  # None: the generated point
        if near is not None:
            case.query = {**case.query, **near}
    if (
        isinstance(case.body, dict)
        and "venue_id" in case.body
        and not case.meta.is_negative_at(ParameterLocation.BODY)
    ):
        case.body = {**case.body, "venue_id": draw(st.sampled_from(world.values[role]["venue_id"]))}
    return headers


# --- positive bodies that also keep docs/API.md's cross-field rules ---------------------------------
# A JSON Schema cannot say "ends_at after now" or "threshold required for flash programs", so a
# schema-valid body may break a rule docs/API.md documents (and the answer, 422, is then right).
# Positive cases are what a client may really send: a body breaking such a rule gets the
# smallest change that keeps it, and any 422 left is a finding.

MAX_DEAL_DURATION = timedelta(days=90)
PROGRAM_SETTINGS = {  # docs/API.md "Program kinds": the settings each kind is defined by
    "every_nth": {"threshold": 5},
    "frequency": {"threshold": 3, "window_days": 30},
    "swarm": {"threshold": 3, "window_minutes": 60},
    "flash": {"threshold": 10},
    "friends": {"threshold": 3, "window_minutes": 60},
}


def moment(value) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def deal_times_hold(terms: dict, now: datetime) -> bool:
    """ends_at > starts_at (default now), > now, <= starts_at + 90 days; redeem_until >= ends_at."""
    starts_at = moment(terms.get("starts_at")) or now
    ends_at, redeem_until = moment(terms["ends_at"]), moment(terms.get("redeem_until"))
    try:
        too_long = ends_at > starts_at + MAX_DEAL_DURATION
    except OverflowError:  # a start near year 9999: no end can be 90 days later
        too_long = False
    return (
        now < ends_at
        and starts_at < ends_at
        and not too_long
        and (redeem_until is None or redeem_until >= ends_at)
    )


REFERRAL_SETTINGS = {"commission": ("percent", 10), "bring_friends": ("friends", 3)}


def keep_referral_rules(referral):
    """A referral with exactly the member of its kind (docs/API.md "Referral rewards")."""
    if not isinstance(referral, dict) or referral.get("kind") not in REFERRAL_SETTINGS:
        return referral
    wanted, default = REFERRAL_SETTINGS[referral["kind"]]
    return {"kind": referral["kind"], wanted: referral.get(wanted, default)}


def keep_deal_rules(body: dict, current: dict, now: datetime) -> dict:
    """`body` (a deal's create or patch, over the `current` terms) changed to keep docs/API.md's rules:
    max_commitments >= min_commitments, original_price_cents >= price_cents, the times, and a
    referral's member of its kind."""
    body, terms = dict(body), {**current, **body}
    if "referral" in body:
        body["referral"] = keep_referral_rules(body["referral"])
    maximum = terms.get("max_commitments")
    if maximum is not None and maximum < terms["min_commitments"]:
        body["max_commitments"] = terms["min_commitments"]
    if (
        terms.get("original_price_cents") is not None
        and terms["original_price_cents"] < terms["price_cents"]
    ):
        body["original_price_cents"] = terms["price_cents"]
    if not deal_times_hold(terms, now):
        for name in ("starts_at", "ends_at", "redeem_until"):
            body.pop(name, None)
        if "ends_at" not in current:  # a new deal: one day from now
            body["ends_at"] = (now + timedelta(days=1)).isoformat()
    return body


def keep_program_rules(body: dict, now: datetime) -> dict:
    """A reward program's body with the settings its kind needs and an end after its start."""
    body = {
        **PROGRAM_SETTINGS.get(body["kind"], {}),
        **{name: value for name, value in body.items() if value is not None},
    }
    if "ends_at" in body and moment(body["ends_at"]) <= (moment(body.get("starts_at")) or now):
        del body["ends_at"]
    return body


def keep_statement_rules(query: dict, now: datetime) -> dict:
    """A statement's period: `from` before `to` (default now), else `from` is left out."""
    end = moment(query.get("to")) or now
    if "from" in query and moment(query["from"]) >= end:
        query = {name: value for name, value in query.items() if name != "from"}
    return query


def keep_documented_rules(case, world: FuzzWorld) -> None:
    """Make a positive case's body keep the cross-field rules of docs/API.md (see above)."""
    key, now = (case.operation.method.upper(), case.operation.path), datetime.now(UTC)
    if key == ("GET", f"{API}/merchant/statement") and case.query:
        try:
            case.query = keep_statement_rules(case.query, now)
        except ValueError:  # a timestamp Python cannot read: the server judges it as sent
            pass
    if not isinstance(case.body, dict):
        return
    try:
        if key == ("POST", f"{API}/deals"):
            case.body = keep_deal_rules(case.body, {}, now)
        elif key == ("PATCH", f"{API}/deals/{{deal_id}}"):
            deal_id = case.path_parameters["deal_id"]
            current = created(
                world.api.client.get(f"{API}/deals/{deal_id}", headers=world.headers("merchant")),
                200,
            )
            case.body = keep_deal_rules(case.body, current, now)
        elif key == ("POST", f"{API}/venues/{{venue_id}}/reward-programs"):
            case.body = keep_program_rules(case.body, now)
    except ValueError:  # a timestamp Python cannot read: the server judges it as sent
        pass


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", operation_labels())
def test_every_operation_honours_its_documented_contract(api_schema, fuzz_world, label, mode):
    operation = operation_for(api_schema, label)
    statuses = Counter()

    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=DERANDOMIZE,
    )
    def fuzz(case, data):
        if mode is GenerationMode.POSITIVE and case.query:
            case.query.pop("cursor", None)  # opaque: only server-issued values are valid
        for role in callers(operation):
            headers = prepare(case, fuzz_world, role, data.draw)
            if mode is GenerationMode.POSITIVE:
                keep_documented_rules(case, fuzz_world)
            response = case.call_and_validate(headers=headers, checks=ALL_CHECKS)
            statuses[response.status_code] += 1

    fuzz()
    if mode is GenerationMode.POSITIVE and operation.definition.raw.get("security"):
        assert 401 not in statuses, f"{label}: a positive case lost its token: {dict(statuses)}"
    if mode is GenerationMode.POSITIVE and path_parameter_names(operation):
        reached = {
            status: count
            for status, count in statuses.items()
            if status not in BEFORE_LOGIC | {404}
        }
        assert reached, f"{label}: no positive case got past the id look-up: {dict(statuses)}"


def test_every_path_parameter_has_real_objects_for_both_roles(api_schema, fuzz_world):
    """A new path parameter without real objects behind it would fuzz only 404s."""
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for name in path_parameter_names(operation):
            for role in ROLES:
                assert fuzz_world.choices(role, operation.path, name), (operation.label, name, role)
