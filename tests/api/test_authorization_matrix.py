"""Object-level authorization and mass assignment.

Every route under /api/v1 that takes an id or a code is called as the object's owner, as another
account of the same role, as the other role, anonymously, with a bad token and with the owner's
revoked token, and for an id that does not exist. The expected status of each call is written
out in ROUTES below (from docs/API.md: another account's object -> 404 `not-found`, wrong role -> 403
`forbidden`, no or bad token -> 401 `unauthorized`; public reads answer anyone, without a token
too, with the body a signed-in account gets, but a bad or revoked token is still 401). A route that is missing from ROUTES fails `test_every_route_with_an_id_or_a_code_...`,
so a new route cannot slip through unchecked.

Every call that is not the owner's is bracketed by a dump of every table: a refused call must
change nothing at all; an allowed call by someone else (a public read, another customer's
commitment or check-in) may only add the caller's own rows and touch the counters named in
ROUTES. The owner's call comes last, so it also proves the object survived the foreign calls.
"""

import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import text

from core.db import in_unit_of_work, utcnow
from models import metadata
from notifications.dispatcher import DispatchSettings, fan_out
from tests.factories import API, BERLIN, commit, from_now, without_viewer
from tests.payments_support import insert_payment

PROBLEM_CODES = {401: "unauthorized", 403: "forbidden", 404: "not-found", 422: "validation-error"}
# The caller's own rate-limit counter is bookkeeping about the caller, not anyone's object.
SNAPSHOT_TABLES = [t.name for t in metadata.sorted_tables if t.name != "rate_limit_counters"]
UNKNOWN_CODE = "0000-0000-0000"  # well-formed, never issued (codes are random, 60 bits)
WEBHOOK_URL = "https://93.184.216.34/hook"  # a public address: passes the SSRF guard, no DNS


# --- the world: two merchants, two customers, one object of every kind ------------------------


@dataclass
class World:
    """Accounts by name (`m1`, `m2`: merchants; `c1`, `c2`: customers; `anonymous`, `bad_token`,
    `revoked`: header sets) and object ids/codes by name."""

    callers: dict[str, dict] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def account_id(self, name: str) -> str:
        return self.callers[name]["account"]["id"]


def created(response, status: int = 201) -> dict:
    assert response.status_code == status, (response.status_code, response.json)
    return response.json


def build_world(api, app, db, engine) -> World:
    """m1 owns a venue, deals, a reward program, a webhook; c1 owns commitments, a voucher, a
    reward, a notification, a device, an alert area. m2 and c2 own the same kinds of things
    elsewhere, so "someone else's" is never "nobody's"."""
    client = api.client
    world = World()
    for name, role in (
        ("m1", "merchant"),
        ("m2", "merchant"),
        ("c1", "customer"),
        ("c2", "customer"),
    ):
        world.callers[name] = api.register(role)
    m1, m2, c1, c2 = (world.callers[name] for name in ("m1", "m2", "c1", "c2"))
    world.callers["anonymous"] = {"headers": {}}
    world.callers["bad_token"] = {"headers": {"Authorization": "Bearer not-a-token"}}

    venue = api.create_venue(m1, name="Owner's café")
    other_venue = api.create_venue(m2, name="Other café")
    world.ids.update(venue=venue["id"], other_venue=other_venue["id"])

    for merchant in (m1, m2):
        webhook = created(
            client.post(f"{API}/webhooks", json={"url": WEBHOOK_URL}, headers=merchant["headers"])
        )
        world.ids.setdefault("webhook", webhook["id"])
    for customer in (c1, c2):
        device = created(
            client.post(
                f"{API}/me/devices",
                headers=customer["headers"],
                json={"platform": "ios", "token": f"push-{uuid.uuid4().hex}"},
            )
        )
        area = created(
            client.post(
                f"{API}/me/alert-areas",
                headers=customer["headers"],
                json={"label": "Home", "location": BERLIN, "radius_m": 2000},
            )
        )
        world.ids.setdefault("device", device["id"])
        world.ids.setdefault("alert_area", area["id"])

    # A deal that tips at the first unit (c1 gets a voucher) and an open one c1 committed to.
    tipping = api.create_deal(m1, venue, min_commitments=1, max_commitments=10, per_user_limit=3)
    created(commit(api, c1, tipping, quantity=2))
    deal = api.create_deal(m1, venue, min_commitments=5, max_commitments=10, per_user_limit=3)
    created(commit(api, c1, deal))
    other_deal = api.create_deal(m2, other_venue, min_commitments=1, max_commitments=10)
    created(commit(api, c2, other_deal))
    world.ids.update(deal=deal["id"], tipped_deal=tipping["id"], other_deal=other_deal["id"])
    vouchers = created(client.get(f"{API}/me/vouchers", headers=c1["headers"]), 200)["items"]
    assert [v["deal_id"] for v in vouchers] == [tipping["id"]] * 2
    world.ids["voucher"], world.ids["refundable_voucher"] = (v["code"] for v in vouchers)
    # A payment of c1's (written directly: this app takes no payments online).
    world.ids["payment"] = insert_payment(
        engine, account_id=c1["account"]["id"], merchant_id=m1["account"]["id"], deal_id=deal["id"]
    )

    # A first-visit program at each venue; c1 earns one at m1's venue, c2 at m2's.
    for merchant, place in ((m1, venue), (m2, other_venue)):
        program = created(
            client.post(
                f"{API}/venues/{place['id']}/reward-programs",
                headers=merchant["headers"],
                json={"kind": "first_visit", "title": "Welcome"},
            )
        )
        world.ids.setdefault("program", program["id"])
    for customer, place in ((c1, venue), (c2, other_venue)):
        result = created(
            client.post(
                f"{API}/venues/{place['id']}/checkins",
                headers=customer["headers"],
                json={"location": BERLIN, "accuracy_m": 10},
            )
        )
        assert result["checkin"]["counted"], result
        assert len(result["rewards"]) == 1, result
        world.ids.setdefault("reward", result["rewards"][0]["code"])

    # c1 (after a check-in there too) and c2 review m2's venue; c1 has not reviewed m1's yet.
    created(
        client.post(
            f"{API}/venues/{other_venue['id']}/checkins",
            headers=c1["headers"],
            json={"location": BERLIN, "accuracy_m": 10},
        )
    )
    for name, customer in (("review", c1), ("other_review", c2)):
        written = created(
            client.post(
                f"{API}/venues/{other_venue['id']}/reviews",
                headers=customer["headers"],
                json={"rating": 4, "text": "Nice"},
            )
        )
        world.ids[name] = written["id"]
    # c1 has a pending friend request from another customer (the object of the friend routes:
    # its account id); c2 has a friend request of its own from someone else.
    requester, other_requester = api.register("customer"), api.register("customer")
    for customer, asker in ((c1, requester), (c2, other_requester)):
        handle = f"h_{uuid.uuid4().hex[:12]}"
        assert (
            client.patch(
                f"{API}/me", json={"handle": handle}, headers=customer["headers"]
            ).status_code
            == 200
        )
        created(client.post(f"{API}/me/friends", json={"handle": handle}, headers=asker["headers"]))
        customer["account"]["handle"] = handle
    world.ids["requester"] = requester["account"]["id"]

    # Inbox rows (and webhook deliveries) from the events so far, without sending anything.
    with app.app_context():
        in_unit_of_work(
            db,
            fan_out,
            now=utcnow(),
            settings=DispatchSettings(push_gateway_url=None, allow_loopback=False),
        )
    inbox = created(client.get(f"{API}/me/notifications", headers=c1["headers"]), 200)["items"]
    assert inbox, "c1 should have notifications (deal.tipped at least)"
    world.ids["notification"] = inbox[0]["id"]
    deliveries = created(
        client.get(f"{API}/webhooks/{world.ids['webhook']}/deliveries", headers=m1["headers"]), 200
    )["items"]
    assert deliveries, "m1's webhook should have deliveries to hide"

    # The owners' second, revoked tokens.
    for name in ("m1", "c1"):
        login = created(
            client.post(
                f"{API}/tokens",
                json={
                    "email": world.callers[name]["account"]["email"],
                    "password": "correct horse battery",
                },
            )
        )
        headers = {"Authorization": f"Bearer {login['token']}"}
        assert client.delete(f"{API}/tokens/current", headers=headers).status_code == 204
        world.callers[f"revoked_{name}"] = {"headers": headers}
    return world


# --- the expectation table ----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One method of one route, and who may call it on `obj` (a key of `World.ids`).

    `owner`, `same_role`, `other_role` name callers of the World; `expect` is their statuses in
    that order. `anonymous`: the status without a token (401, or 200 for a public read, whose
    body must then be the same role's); bad and revoked tokens always answer 401; an unknown id
    or code asked by the owner answers 404. `adds`: tables where an allowed non-owner call may insert rows
    (value: the column that must hold the caller's id, or None); `touches`: tables where it may
    change one existing row (value: the World id of that row), or write the rows whose column
    holds that id (value: `(World id, column)`, for rows of an object without an id of their own);
    `codes`: the problem code of a status where the route's own differs from PROBLEM_CODES' (or
    where it has one of its own).
    """

    method: str
    rule: str
    obj: str
    owner: str
    same_role: str
    other_role: str
    expect: tuple[int, int, int]
    body: dict | None = None
    anonymous: int = 401
    adds: dict = field(default_factory=dict)
    touches: dict = field(default_factory=dict)
    codes: dict = field(default_factory=dict)  # problem codes docs/API.md gives this route

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.rule

    def path(self, value: str) -> str:
        return re.sub(r"<[^>]+>", value, self.rule)

    @property
    def takes_code(self) -> bool:
        return "<string:" in self.rule


V = API  # short, for the route table below
COMMIT_EFFECTS = dict(
    adds={"commitments": "account_id", "deal_participants": "account_id", "outbox_events": None},
    touches={"deals": "deal", "deal_commitment_minutes": ("deal", "deal_id")},
)
CHECKIN_EFFECTS = dict(
    adds={"checkins": "account_id", "rewards": "account_id", "outbox_events": None},
    touches={"reward_programs": "program"},
)

# The walk makes every foreign call first and the owners' calls afterwards, in this order: an
# object's reads come before the calls that change or remove it (withdraw before commit, so c2's
# foreign withdrawal finds nothing of its own; cancel and webhook DELETE last of their object).
ROUTES = [
    # method, rule, object, owner, same role, other role, (their statuses in that order)
    # Public reads: anyone, also without a token.
    Route(
        "GET",
        f"{V}/venues/<uuid:venue_id>",
        "venue",
        "m1",
        "m2",
        "c1",
        (200, 200, 200),
        anonymous=200,
    ),
    Route(
        "PATCH",
        f"{V}/venues/<uuid:venue_id>",
        "venue",
        "m1",
        "m2",
        "c1",
        (200, 404, 403),
        body={"name": "Renamed"},
    ),
    # Check-ins: any customer at any venue (the caller's own check-in); merchants may not.
    Route(
        "POST",
        f"{V}/venues/<uuid:venue_id>/checkins",
        "venue",
        "c1",
        "c2",
        "m1",
        (201, 201, 403),
        body={"location": BERLIN, "accuracy_m": 10},
        **CHECKIN_EFFECTS,
    ),
    Route(
        "GET",
        f"{V}/venues/<uuid:venue_id>/reward-programs",
        "venue",
        "m1",
        "m2",
        "c1",
        (200, 200, 200),
        anonymous=200,
    ),
    Route(
        "POST",
        f"{V}/venues/<uuid:venue_id>/reward-programs",
        "venue",
        "m1",
        "m2",
        "c1",
        (201, 404, 403),
        body={"kind": "every_nth", "title": "Punch card", "threshold": 5},
    ),
    Route(
        "GET", f"{V}/deals/<uuid:deal_id>", "deal", "m1", "m2", "c1", (200, 200, 200), anonymous=200
    ),
    Route(
        "PATCH",
        f"{V}/deals/<uuid:deal_id>",
        "deal",
        "m1",
        "m2",
        "c1",
        (200, 404, 403),
        body={"title": "Renamed"},
    ),
    # Withdrawing releases the caller's own commitments only: c2 has none, so nothing changes.
    Route(
        "DELETE",
        f"{V}/deals/<uuid:deal_id>/commitments/mine",
        "deal",
        "c1",
        "c2",
        "m1",
        (200, 200, 403),
    ),
    # Commitments: any customer on any deal (the caller's own commitment); merchants may not.
    Route(
        "POST",
        f"{V}/deals/<uuid:deal_id>/commitments",
        "deal",
        "c1",
        "c2",
        "m1",
        (201, 201, 403),
        body={"quantity": 1},
        **COMMIT_EFFECTS,
    ),
    # Sharing: any account shares any deal (the caller's own share).
    Route(
        "POST",
        f"{V}/deals/<uuid:deal_id>/shares",
        "deal",
        "c1",
        "c2",
        "m1",
        (201, 201, 201),
        adds={"shares": "account_id"},
    ),
    Route("POST", f"{V}/deals/<uuid:deal_id>/cancel", "deal", "m1", "m2", "c1", (200, 404, 403)),
    Route(
        "POST", f"{V}/vouchers/<string:code>/redeem", "voucher", "m1", "m2", "c1", (200, 404, 403)
    ),
    # Refunds: the voucher's customer, or the merchant of its deal (not another merchant).
    Route(
        "POST",
        f"{V}/vouchers/<string:code>/refund",
        "refundable_voucher",
        "c1",
        "c2",
        "m2",
        (200, 404, 404),
    ),
    # The owner's call reaches the payment: 409, as this app takes no payments online.
    Route(
        "POST",
        f"{V}/payments/<uuid:payment_id>/confirm",
        "payment",
        "c1",
        "c2",
        "m1",
        (409, 404, 403),
        body={},
    ),
    Route("POST", f"{V}/rewards/<string:code>/redeem", "reward", "m1", "m2", "c1", (200, 404, 403)),
    # Any role has an inbox and devices: the other role is just another account there.
    Route(
        "POST",
        f"{V}/me/notifications/<uuid:notification_id>/read",
        "notification",
        "c1",
        "c2",
        "m1",
        (200, 404, 404),
    ),
    Route(
        "DELETE", f"{V}/me/devices/<uuid:device_id>", "device", "c1", "c2", "m1", (204, 404, 404)
    ),
    Route(
        "DELETE",
        f"{V}/me/alert-areas/<uuid:area_id>",
        "alert_area",
        "c1",
        "c2",
        "m1",
        (204, 404, 403),
    ),
    # Reviews of m1's venue: c1 checked in there; c2 did too, through the check-in route above,
    # so c2's review is its own new row; merchants are never verified visitors.
    Route(
        "POST",
        f"{V}/venues/<uuid:venue_id>/reviews",
        "venue",
        "c1",
        "c2",
        "m1",
        (201, 201, 403),
        body={"rating": 3, "text": "Fine"},
        adds={"reviews": "account_id", "outbox_events": None},
        touches={"venues": "venue"},
        codes={403: "not-a-verified-visitor"},
    ),
    Route(
        "GET",
        f"{V}/venues/<uuid:venue_id>/reviews",
        "venue",
        "m1",
        "m2",
        "c1",
        (200, 200, 200),
        anonymous=200,
    ),
    # c1's review of m2's venue: only c1 edits or deletes it, only m2 replies, anyone but c1
    # reports it (the author's own report is refused).
    Route(
        "PATCH",
        f"{V}/reviews/<uuid:review_id>",
        "review",
        "c1",
        "c2",
        "m1",
        (200, 404, 404),
        body={"rating": 2},
    ),
    Route(
        "PUT",
        f"{V}/reviews/<uuid:review_id>/reply",
        "review",
        "m2",
        "m1",
        "c1",
        (200, 404, 403),
        body={"text": "Thank you!"},
    ),
    Route(
        "POST",
        f"{V}/reviews/<uuid:review_id>/reports",
        "review",
        "c2",
        "c1",
        "m1",
        (202, 409, 202),
        body={"reason": "spam"},
        adds={"review_reports": "account_id"},
        touches={"reviews": "review"},
        codes={409: "own-review"},
    ),
    Route("DELETE", f"{V}/reviews/<uuid:review_id>", "review", "c1", "c2", "m1", (204, 404, 404)),
    # Friends: the object is the other account; only the one it asked may accept, only the two
    # of them may remove what is between them (accept before delete: the owner then unfriends).
    Route(
        "POST",
        f"{V}/me/friends/<uuid:account_id>/accept",
        "requester",
        "c1",
        "c2",
        "m1",
        (200, 404, 403),
    ),
    Route(
        "DELETE",
        f"{V}/me/friends/<uuid:account_id>",
        "requester",
        "c1",
        "c2",
        "m1",
        (204, 404, 403),
    ),
    Route("GET", f"{V}/webhooks/<uuid:webhook_id>", "webhook", "m1", "m2", "c1", (200, 404, 403)),
    Route(
        "GET",
        f"{V}/webhooks/<uuid:webhook_id>/deliveries",
        "webhook",
        "m1",
        "m2",
        "c1",
        (200, 404, 403),
    ),
    Route(
        "DELETE", f"{V}/webhooks/<uuid:webhook_id>", "webhook", "m1", "m2", "c1", (204, 404, 403)
    ),
]
ROUTES_BY_KEY = {route.key: route for route in ROUTES}


def routes_with_an_id_or_a_code(app) -> set[tuple[str, str]]:
    """(method, rule) of every /api/v1 route whose path takes a parameter (an id or a code)."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(V + "/") and rule.arguments:
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                found.add((method, rule.rule))
    return found


def test_every_route_with_an_id_or_a_code_is_in_the_authorization_table(app):
    in_app = routes_with_an_id_or_a_code(app)
    in_table = [route.key for route in ROUTES]
    assert len(in_table) == len(set(in_table)), "a route is listed twice"
    missing, stale = sorted(in_app - set(in_table)), sorted(set(in_table) - in_app)
    assert not missing, f"routes missing from ROUTES: {missing}"
    assert not stale, f"ROUTES lists routes that do not exist: {stale}"


# --- snapshots -----------------------------------------------------------------------------------


def snapshot(engine) -> dict[str, Counter]:
    """Every row of every table (as canonical JSON), per table, in one round trip."""
    query = " UNION ALL ".join(
        f"SELECT '{table}', to_jsonb(t) FROM \"{table}\" t" for table in SNAPSHOT_TABLES
    )
    tables: dict[str, Counter] = {table: Counter() for table in SNAPSHOT_TABLES}
    with engine.connect() as connection:
        for table, row in connection.execute(text(query)):
            tables[table][json.dumps(row, sort_keys=True)] += 1
    return tables


def changes(before: dict, after: dict) -> dict[str, dict[str, list[dict]]]:
    """{table: {"added": rows, "removed": rows}} for every table that differs (an update is a
    removed old row plus an added new one)."""
    diff = {}
    for table in SNAPSHOT_TABLES:
        added, removed = after[table] - before[table], before[table] - after[table]
        if added or removed:
            diff[table] = {
                "added": [json.loads(r) for r in added.elements()],
                "removed": [json.loads(r) for r in removed.elements()],
            }
    return diff


def describe(diff: dict) -> str:
    """A short account of a diff: per table, how many rows were added and removed, and one."""
    parts = []
    for table, rows in diff.items():
        example = (rows["added"] or rows["removed"])[0]
        parts.append(
            f"{table}: +{len(rows['added'])} -{len(rows['removed'])} (e.g. "
            f"{json.dumps(example)[:300]})"
        )
    return "; ".join(parts)


def assert_only_allowed_changes(diff: dict, route: Route, world: World, caller: str) -> None:
    """An allowed non-owner call may add the caller's rows to `route.adds` tables and change the
    one row of each `route.touches` table; anything else is a change to someone else's data."""
    touched = {
        table: (world.ids[spec], "id") if isinstance(spec, str) else (world.ids[spec[0]], spec[1])
        for table, spec in route.touches.items()
    }

    def is_touched(table: str, row: dict) -> bool:
        return table in touched and row.get(touched[table][1]) == touched[table][0]

    for table, rows in diff.items():
        for row in rows["removed"]:
            assert is_touched(table, row), f"{caller} changed or deleted a row of {table}: {row}"
        for row in rows["added"]:
            if is_touched(table, row):
                continue
            assert table in route.adds, f"{caller} added a row to {table}: {row}"
            owner_column = route.adds[table]
            if owner_column is not None:
                assert row[owner_column] == world.account_id(caller), (
                    f"{caller} added a row to {table} for someone else: {row}"
                )


# --- the matrix ----------------------------------------------------------------------------------


def send(client, method: str, path: str, headers: dict, body=None):
    if body is None:
        return client.open(path, method=method, headers=headers)
    return client.open(path, method=method, headers=headers, json=body)


def status_problem(response, expected: int, codes: dict | None = None) -> str | None:
    """Why `response` is not the expected status (with the problem code docs/API.md fixes, or
    the route's own `codes`), or None."""
    if response.status_code != expected:
        return f"got {response.status_code} {response.get_json(silent=True)}, expected {expected}"
    code = {**PROBLEM_CODES, **(codes or {})}.get(expected)
    if code is not None:
        if response.mimetype != "application/problem+json":
            return f"{expected} as {response.mimetype}, not application/problem+json"
        if response.json.get("code") != code:
            return f"{expected} with code {response.json.get('code')!r}"
    return None


def foreign_calls(route: Route, world: World) -> list[tuple[str, str, str, int]]:
    """(who, caller, path, expected status) of every call but the owner's."""
    path = route.path(world.ids[route.obj])
    unknown = route.path(UNKNOWN_CODE if route.takes_code else str(uuid.uuid4()))
    role = world.callers[route.owner]["account"]["role"]
    revoked = "revoked_m1" if role == "merchant" else "revoked_c1"
    _, same_role_status, other_role_status = route.expect
    return [
        ("anonymous", "anonymous", path, route.anonymous),
        ("a bad token", "bad_token", path, 401),
        ("the owner's revoked token", revoked, path, 401),
        (f"the other role ({route.other_role})", route.other_role, path, other_role_status),
        (f"the same role ({route.same_role})", route.same_role, path, same_role_status),
        ("the owner, for an unknown id", route.owner, unknown, 404),
    ]


def test_every_route_with_an_id_answers_only_its_owner_and_foreign_calls_change_nothing(
    api, app, db, engine
):
    world = build_world(api, app, db, engine)
    client = api.client
    failures = []
    in_app = routes_with_an_id_or_a_code(app)
    missing = sorted(in_app - set(ROUTES_BY_KEY))
    assert not missing, f"no expectations for {missing}: add them to ROUTES"

    for route in ROUTES:  # every foreign call first ...
        name = f"{route.method} {route.rule}"
        bodies = {}
        for who, caller, path, expected in foreign_calls(route, world):
            before = snapshot(engine)
            response = send(
                client, route.method, path, world.callers[caller]["headers"], route.body
            )
            bodies[caller if path == route.path(world.ids[route.obj]) else "unknown"] = (
                response.get_json(silent=True)
            )
            problem = status_problem(response, expected, route.codes)
            if problem:
                failures.append(f"{name} as {who}: {problem}")
            diff = changes(before, snapshot(engine))
            if 200 <= response.status_code < 300 and caller != route.owner:
                try:
                    assert_only_allowed_changes(diff, route, world, caller)
                except AssertionError as error:
                    failures.append(f"{name} as {who}: {error}")
            elif diff:
                failures.append(
                    f"{name} as {who} got {response.status_code} but changed {describe(diff)}"
                )
        if route.anonymous == 200 and bodies["anonymous"] != without_viewer(
            bodies[route.same_role]
        ):
            failures.append(
                f"{name}: anonymously not the body a signed-in account gets: "
                f"{bodies['anonymous']} vs {bodies[route.same_role]}"
            )
        if route.expect[1] == 404 and bodies[route.same_role] != bodies["unknown"]:
            failures.append(
                f"{name}: another account's object is not answered like a missing "
                f"one: {bodies[route.same_role]} vs {bodies['unknown']}"
            )

    for route in ROUTES:  # ... then the owners: their objects are all still there
        path = route.path(world.ids[route.obj])
        response = send(
            client, route.method, path, world.callers[route.owner]["headers"], route.body
        )
        problem = status_problem(response, route.expect[0], route.codes)
        if problem:
            failures.append(f"{route.method} {route.rule} as the owner ({route.owner}): {problem}")

    assert not failures, "\n".join(failures)


def test_withdrawing_as_another_customer_leaves_the_owners_commitment(api, app, db, engine):
    m1, c1, c2 = api.register("merchant"), api.register("customer"), api.register("customer")
    deal = api.create_deal(m1, api.create_venue(m1), min_commitments=5)
    created(commit(api, c1, deal))
    path = f"{API}/deals/{deal['id']}/commitments/mine"
    response = api.client.delete(path, headers=c2["headers"])
    assert response.status_code == 200, response.json
    assert response.json["released_quantity"] == 0
    assert response.json["deal"]["committed_count"] == 1
    response = api.client.delete(path, headers=c1["headers"])
    assert response.json["released_quantity"] == 1
    assert response.json["deal"]["committed_count"] == 0


def test_another_accounts_idempotency_key_never_replays_the_owners_response(api):
    m1, c1, c2 = api.register("merchant"), api.register("customer"), api.register("customer")
    deal = api.create_deal(m1, api.create_venue(m1), min_commitments=5)
    key = {"Idempotency-Key": "same-key-on-two-phones"}
    first = commit(api, c1, deal, headers=key)
    second = commit(api, c2, deal, headers=key)
    assert first.status_code == second.status_code == 201, (first.json, second.json)
    assert "Idempotent-Replayed" not in second.headers
    assert second.json["commitment"]["id"] != first.json["commitment"]["id"]
    assert second.json["deal"]["committed_count"] == 2
    mine = api.client.get(f"{API}/me/commitments", headers=c2["headers"]).json["items"]
    assert [c["id"] for c in mine] == [second.json["commitment"]["id"]]


# --- creating under someone else's object --------------------------------------------------------


def test_a_deal_at_another_merchants_venue_is_404_like_an_unknown_venue_and_creates_nothing(
    api, engine
):
    m1, m2 = api.register("merchant"), api.register("merchant")
    own_venue, other_venue = api.create_venue(m1), api.create_venue(m2)
    body = {
        "title": "Hijack",
        "price_cents": 100,
        "min_commitments": 1,
        "ends_at": from_now(days=1),
    }
    before = snapshot(engine)
    foreign = api.client.post(
        f"{API}/deals", headers=m1["headers"], json={**body, "venue_id": other_venue["id"]}
    )
    assert status_problem(foreign, 404) is None, foreign.json
    unknown = api.client.post(
        f"{API}/deals", headers=m1["headers"], json={**body, "venue_id": str(uuid.uuid4())}
    )
    assert status_problem(unknown, 404) is None, unknown.json
    assert foreign.json == unknown.json
    assert not changes(before, snapshot(engine))
    own = api.client.post(
        f"{API}/deals", headers=m1["headers"], json={**body, "venue_id": own_venue["id"]}
    )
    assert own.status_code == 201, own.json


# --- mass assignment -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Creation:
    """A creating or patching request: a valid body, and the server-owned fields to smuggle in."""

    name: str
    method: str
    path: str  # may contain {venue}, {deal}, {review}
    caller: str | None  # None: anonymous
    body: object  # dict, or a callable(World) -> dict for bodies that must be unique
    server_owned: tuple[str, ...]
    status: int = 201


def forged_value(name: str, world: World):
    """A plausible value for a server-owned field (other accounts' ids where it is an owner)."""
    values = {
        "id": str(uuid.uuid4()),
        "merchant_id": world.account_id("m2"),
        "account_id": world.account_id("c2"),
        "venue_id": world.ids["other_venue"],
        "deal_id": world.ids["other_deal"],
        "mayor_id": world.account_id("c2"),
        "status": "tipped",
        "committed_count": 999,
        "remaining": 0,
        "tipped_at": "2026-01-01T00:00:00Z",
        "closed_at": "2026-01-01T00:00:00Z",
        "announced_at": "2026-01-01T00:00:00Z",
        "confirmed_at": "2026-01-01T00:00:00Z",
        "deleted_at": "2026-01-01T00:00:00Z",
        "expires_at": "2099-01-01T00:00:00Z",
        "created_at": "2020-01-01T00:00:00Z",
        "rewards_issued": 99,
        "secret": "whsec_" + "A" * 43 + "=",
        "counted": True,
        "reasons": [],
        "distance_m": 0,
        "local_day": "2026-01-01",
        "password_hash": "plaintext",
        "token": "forged",
        "location": {"lat": 0.0, "lon": 0.0},
        "author": {"display_name": "Someone else"},
        "verified_by": "voucher",
        "edited_at": "2026-01-01T00:00:00Z",
        "hidden_at": "2026-01-01T00:00:00Z",
        "reply": {"text": "Forged reply"},
        "review_id": world.ids["other_review"],
        "email": "forged@example.com",
        "role": "merchant",
    }
    return values[name]


REVIEW_SERVER_FIELDS = (
    "id",
    "venue_id",
    "account_id",
    "author",
    "verified_by",
    "created_at",
    "edited_at",
    "hidden_at",
    "reply",
)
CREATIONS = [
    Creation(
        "register",
        "POST",
        f"{V}/accounts",
        None,
        lambda w: {
            "email": f"new-{uuid.uuid4().hex[:8]}@example.com",
            "password": "correct horse battery",
            "display_name": "New",
            "role": "customer",
        },
        ("id", "created_at", "password_hash"),
    ),
    Creation(
        "log in",
        "POST",
        f"{V}/tokens",
        None,
        lambda w: {
            "email": w.callers["c1"]["account"]["email"],
            "password": "correct horse battery",
        },
        ("account_id", "expires_at", "token"),
    ),
    Creation(
        "patch me",
        "PATCH",
        f"{V}/me",
        "c1",
        {"display_name": "Renamed"},
        ("id", "email", "role", "created_at", "deleted_at"),
        status=200,
    ),
    Creation(
        "ask to be friends",
        "POST",
        f"{V}/me/friends",
        "c1",
        lambda w: {"handle": w.callers["c2"]["account"]["handle"]},
        ("account_id", "status", "created_at"),
    ),
    Creation(
        "create venue",
        "POST",
        f"{V}/venues",
        "m1",
        {"name": "New place", "location": BERLIN},
        ("id", "merchant_id", "created_at", "distance_m"),
    ),
    Creation(
        "patch venue",
        "PATCH",
        f"{V}/venues/{{venue}}",
        "m1",
        {"name": "New name"},
        ("id", "merchant_id", "created_at", "distance_m"),
        status=200,
    ),
    Creation(
        "create deal",
        "POST",
        f"{V}/deals",
        "m1",
        lambda w: {
            "venue_id": w.ids["venue"],
            "title": "New deal",
            "price_cents": 100,
            "min_commitments": 1,
            "ends_at": from_now(days=1),
        },
        (
            "id",
            "merchant_id",
            "location",
            "status",
            "committed_count",
            "remaining",
            "tipped_at",
            "closed_at",
            "announced_at",
            "created_at",
        ),
    ),
    Creation(
        "patch deal",
        "PATCH",
        f"{V}/deals/{{deal}}",
        "m1",
        {"title": "New title"},
        (
            "id",
            "venue_id",
            "merchant_id",
            "location",
            "status",
            "committed_count",
            "remaining",
            "tipped_at",
            "closed_at",
            "announced_at",
            "created_at",
        ),
        status=200,
    ),
    Creation(
        "commit",
        "POST",
        f"{V}/deals/{{deal}}/commitments",
        "c2",
        {"quantity": 1},
        ("id", "deal_id", "account_id", "status", "created_at", "confirmed_at"),
    ),
    Creation(
        "check in",
        "POST",
        f"{V}/venues/{{venue}}/checkins",
        "c2",
        {"location": BERLIN, "accuracy_m": 10},
        (
            "id",
            "venue_id",
            "account_id",
            "counted",
            "reasons",
            "distance_m",
            "local_day",
            "created_at",
        ),
    ),
    Creation(
        "create reward program",
        "POST",
        f"{V}/venues/{{venue}}/reward-programs",
        "m1",
        {"kind": "every_nth", "title": "Punch card", "threshold": 5},
        ("id", "venue_id", "rewards_issued", "mayor_id", "created_at"),
    ),
    Creation(
        "register device",
        "POST",
        f"{V}/me/devices",
        "c1",
        lambda w: {"platform": "android", "token": f"push-{uuid.uuid4().hex}"},
        ("id", "account_id", "created_at"),
    ),
    Creation(
        "create alert area",
        "POST",
        f"{V}/me/alert-areas",
        "c1",
        {"location": BERLIN, "radius_m": 500},
        ("id", "account_id", "created_at"),
    ),
    Creation(
        "create webhook",
        "POST",
        f"{V}/webhooks",
        "m1",
        {"url": WEBHOOK_URL},
        ("id", "account_id", "secret", "created_at", "deleted_at"),
    ),
    Creation(
        "review venue",
        "POST",
        f"{V}/venues/{{venue}}/reviews",
        "c1",
        {"rating": 4, "text": "Good"},
        REVIEW_SERVER_FIELDS,
    ),
    Creation(
        "edit review",
        "PATCH",
        f"{V}/reviews/{{review}}",
        "c1",
        {"rating": 5},
        REVIEW_SERVER_FIELDS,
        status=200,
    ),
    Creation(
        "reply to review",
        "PUT",
        f"{V}/reviews/{{review}}/reply",
        "m2",
        {"text": "Thank you"},
        ("created_at", "edited_at"),
        status=200,
    ),
    Creation(
        "report review",
        "POST",
        f"{V}/reviews/{{review}}/reports",
        "c2",
        {"reason": "spam"},
        ("review_id", "account_id", "created_at"),
        status=202,
    ),
]
WITH_LOCATION = ("create venue", "patch venue", "check in", "create alert area")


def test_server_owned_fields_in_any_creating_or_patching_body_are_refused_and_change_nothing(
    api, app, db, engine
):
    world = build_world(api, app, db, engine)
    failures = []
    for creation in CREATIONS:
        path = creation.path.format(
            venue=world.ids["venue"], deal=world.ids["deal"], review=world.ids["review"]
        )
        headers = world.callers[creation.caller]["headers"] if creation.caller else {}
        body = creation.body(world) if callable(creation.body) else dict(creation.body)
        forged = [
            (name, {**body, name: forged_value(name, world)}) for name in creation.server_owned
        ]
        if creation.name in WITH_LOCATION:  # nested too: a location is lat and lon, nothing else
            forged.append(("location.srid", {**body, "location": {**BERLIN, "srid": 3857}}))
        for name, forged_body in forged:
            before = snapshot(engine)
            response = api.client.open(
                path, method=creation.method, headers=headers, json=forged_body
            )
            problem = status_problem(response, 422)
            if problem is None and name not in response.json.get("errors", {}):
                problem = f"the errors do not name {name}: {response.json}"
            if problem:
                failures.append(f"{creation.name} with {name}: {problem}")
            diff = changes(before, snapshot(engine))
            if diff:
                failures.append(f"{creation.name} with {name} changed {describe(diff)}")
        # The same body without the smuggled field is fine: the 422s were about the field alone.
        response = api.client.open(path, method=creation.method, headers=headers, json=body)
        if response.status_code != creation.status:
            failures.append(
                f"{creation.name} without forged fields: got "
                f"{response.status_code} {response.get_json(silent=True)}"
            )
    assert not failures, "\n".join(failures)
