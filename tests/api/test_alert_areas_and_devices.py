"""Alert areas and devices (/me/alert-areas, /me/devices), and the `deal.nearby` alerts."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event, text

from core.db import in_unit_of_work
from deals.jobs import activate_deals
from notifications.dispatcher import DispatchSettings, dispatch, fan_out
from notifications.services import enqueue
from tests.factories import commit, from_now, parse_time, rows, scalar, utcnow
from tests.receiver import Receiver

AREAS = "/api/v1/me/alert-areas"
DEVICES = "/api/v1/me/devices"
VENUE = {"lat": 52.52, "lon": 13.405}  # where `api.create_venue` puts venues by default
HAMBURG = {"lat": 53.5511, "lon": 9.9937}


def north_of(place: dict, metres: float) -> dict:
    """A point `metres` north of `place` (1° of latitude is ~111.2 km)."""
    return {"lat": place["lat"] + metres / 111_195, "lon": place["lon"]}


def add_area(api, user, location=VENUE, radius_m=1000, label="home"):
    response = api.client.post(
        AREAS,
        json={"label": label, "location": location, "radius_m": radius_m},
        headers=user["headers"],
    )
    assert response.status_code == 201, response.json
    return response.json


def nearby_alerts(engine, user) -> list[tuple[str, str]]:
    """(deal_id, reason) of the `deal.nearby` events for `user`, oldest first."""
    return [
        (row.payload["deal_id"], row.payload["reason"])
        for row in rows(
            engine,
            "SELECT payload FROM outbox_events WHERE kind = 'deal.nearby' "
            "AND recipient_id = :id ORDER BY id",
            id=user["account"]["id"],
        )
    ]


@pytest.fixture
def venue(api, merchant):
    return api.create_venue(merchant)


# --- /me/alert-areas ------------------------------------------------------------------------------


def test_a_customer_adds_lists_and_deletes_alert_areas(api, client):
    alice = api.register()
    home = add_area(api, alice, VENUE, 2500, "home")
    work = add_area(api, alice, HAMBURG, 100, None)

    assert set(home) == {"id", "label", "location", "radius_m", "created_at"}
    assert (home["label"], home["radius_m"]) == ("home", 2500)
    assert home["location"] == pytest.approx(VENUE)
    listed = client.get(AREAS, headers=alice["headers"])
    assert listed.status_code == 200
    assert [area["id"] for area in listed.json["items"]] == [work["id"], home["id"]]  # newest first

    assert client.delete(f"{AREAS}/{home['id']}", headers=alice["headers"]).status_code == 204
    assert [a["id"] for a in client.get(AREAS, headers=alice["headers"]).json["items"]] == [
        work["id"]
    ]
    assert client.delete(f"{AREAS}/{home['id']}", headers=alice["headers"]).status_code == 404


@pytest.mark.parametrize("radius_m", [100, 50000])
def test_a_radius_of_100_m_to_50_km_is_accepted(api, radius_m):
    assert add_area(api, api.register(), radius_m=radius_m)["radius_m"] == radius_m


@pytest.mark.parametrize(
    "body",
    [
        {"location": VENUE, "radius_m": 99},
        {"location": VENUE, "radius_m": 50001},
        {"location": VENUE, "radius_m": 0},
        {"location": VENUE, "radius_m": -500},
        {"location": VENUE, "radius_m": 500.5},
        {"location": VENUE, "radius_m": "500"},
        {"location": VENUE},
        {"radius_m": 500},
        {"location": {"lat": 91, "lon": 0}, "radius_m": 500},
        {"location": {"lat": 0, "lon": 181}, "radius_m": 500},
    ],
    ids=[
        "99",
        "50001",
        "zero",
        "negative",
        "fraction",
        "string",
        "no-radius",
        "no-location",
        "lat-91",
        "lon-181",
    ],
)
def test_an_alert_area_with_a_bad_radius_or_location_is_refused_with_422(api, client, engine, body):
    response = client.post(AREAS, json=body, headers=api.register()["headers"])
    assert response.status_code == 422, response.json
    assert response.json["code"] == "validation-error"
    assert scalar(engine, "SELECT count(*) FROM alert_areas") == 0


def test_alert_areas_are_for_customers_only(api, client, merchant):
    response = client.post(
        AREAS, json={"location": VENUE, "radius_m": 500}, headers=merchant["headers"]
    )
    assert response.status_code == 403
    assert client.get(AREAS, headers=merchant["headers"]).status_code == 403
    assert client.get(AREAS).status_code == 401


def test_another_accounts_alert_area_is_not_found_and_stays(api, client, engine):
    alice, mallory = api.register(), api.register()
    area = add_area(api, alice)

    assert client.delete(f"{AREAS}/{area['id']}", headers=mallory["headers"]).status_code == 404
    assert client.delete(f"{AREAS}/{uuid.uuid4()}", headers=mallory["headers"]).status_code == 404
    assert client.get(AREAS, headers=mallory["headers"]).json["items"] == []
    assert scalar(engine, "SELECT count(*) FROM alert_areas") == 1


# --- /me/devices ------------------------------------------------------------------------------------


def test_a_device_is_registered_and_unregistered_by_its_owner_only(api, client, engine):
    alice, mallory = api.register(), api.register()
    response = client.post(
        DEVICES, json={"platform": "ios", "token": "apns-token-1"}, headers=alice["headers"]
    )
    assert response.status_code == 201, response.json
    device = response.json
    assert (device["platform"], device["token"]) == ("ios", "apns-token-1")
    uuid.UUID(device["id"])

    assert client.delete(f"{DEVICES}/{device['id']}", headers=mallory["headers"]).status_code == 404
    assert scalar(engine, "SELECT count(*) FROM devices") == 1
    assert client.delete(f"{DEVICES}/{device['id']}", headers=alice["headers"]).status_code == 204
    assert scalar(engine, "SELECT count(*) FROM devices") == 0
    assert client.delete(f"{DEVICES}/{device['id']}", headers=alice["headers"]).status_code == 404


def test_merchants_can_register_devices_too(api, client, merchant):
    response = client.post(
        DEVICES, json={"platform": "web", "token": "web-push-1"}, headers=merchant["headers"]
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"platform": "blackberry", "token": "t"},
        {"platform": "ios", "token": ""},
        {"platform": "ios"},
        {"token": "t"},
        {"platform": "ios", "token": "t" * 4097},
    ],
)
def test_a_device_with_an_unknown_platform_or_no_token_is_refused(api, client, body):
    response = client.post(DEVICES, json=body, headers=api.register()["headers"])
    assert response.status_code == 422


def test_a_push_token_belongs_to_whoever_registered_it_last(api, client, engine):
    alice, bob = api.register(), api.register()
    for user in (alice, alice, bob):
        response = client.post(
            DEVICES, json={"platform": "android", "token": "fcm-shared"}, headers=user["headers"]
        )
        assert response.status_code == 201
    assert rows(engine, "SELECT account_id::text FROM devices") == [(bob["account"]["id"],)]


def register(api, user, token: str, platform="android") -> dict:
    response = api.client.post(
        DEVICES, json={"platform": platform, "token": token}, headers=user["headers"]
    )
    assert response.status_code == 201, response.json
    return response.json


def push_to(db, user, title: str, payload: dict) -> None:
    enqueue(
        db,
        kind="reward.earned",
        recipients=[uuid.UUID(user["account"]["id"])],
        title=title,
        body="You earned it.",
        payload=payload,
        dedupe_key=f"test:{title}",
    )
    db.commit()


def test_pushes_queued_for_the_old_holder_of_a_token_never_reach_the_account_it_moved_to(
    api, client, db, engine
):
    alice, bob = api.register(), api.register()
    alices = register(api, alice, "shared-phone")
    with Receiver() as gateway:
        settings = DispatchSettings(push_gateway_url=gateway.url("/push"), allow_loopback=False)
        push_to(db, alice, "Alice's reward", {"code": "ALICE-CODE"})
        fanned = in_unit_of_work(db, fan_out, now=utcnow(), settings=settings)
        assert fanned["push"] == 1  # queued, unsent

        bobs = register(api, bob, "shared-phone")  # the phone changes hands
        push_to(db, bob, "Bob's reward", {"code": "BOB-CODE"})
        result = dispatch(session=db, now=utcnow(), settings=settings)

        sent = [request.json()["message"] for request in gateway.received("/push")]
    assert [
        (message["token"], message["notification"]["title"], message["data"]["code"])
        for message in sent
    ] == [("shared-phone", "Bob's reward", "BOB-CODE")]
    assert (result["delivered"], result["dead"]) == (1, 1)
    assert bobs["id"] != alices["id"]  # a new device for the new holder
    assert client.delete(f"{DEVICES}/{alices['id']}", headers=alice["headers"]).status_code == 404
    assert rows(engine, "SELECT account_id::text, token FROM devices") == [
        (bob["account"]["id"], "shared-phone")
    ]


def test_re_registering_a_token_by_its_holder_keeps_the_device_and_its_queued_pushes(api, db):
    alice = api.register()
    first = register(api, alice, "my-phone", "android")
    with Receiver() as gateway:
        settings = DispatchSettings(push_gateway_url=gateway.url("/push"), allow_loopback=False)
        push_to(db, alice, "Alice's reward", {"code": "ALICE-CODE"})
        in_unit_of_work(db, fan_out, now=utcnow(), settings=settings)

        again = register(api, alice, "my-phone", "ios")
        dispatch(session=db, now=utcnow(), settings=settings)

        sent = [request.json()["message"]["data"]["code"] for request in gateway.accepted("/push")]
    assert (again["id"], again["platform"]) == (first["id"], "ios")
    assert sent == ["ALICE-CODE"]


def test_devices_need_a_token(client):
    assert client.post(DEVICES, json={"platform": "ios", "token": "t"}).status_code == 401


# --- deal.nearby ----------------------------------------------------------------------------------


def test_a_deal_opening_inside_an_alert_area_alerts_that_account_once_and_nobody_outside(
    api, engine, merchant, venue
):
    inside = api.register()
    add_area(api, inside, north_of(VENUE, 800), 1000)
    twice_inside = api.register()  # two overlapping areas, still one alert
    add_area(api, twice_inside, VENUE, 500)
    add_area(api, twice_inside, north_of(VENUE, 300), 2000)
    too_small = api.register()  # 800 m away, radius 700 m
    add_area(api, too_small, north_of(VENUE, 800), 700)
    far_away = api.register()
    add_area(api, far_away, HAMBURG, 50000)

    deal = api.create_deal(
        merchant, venue, title="Dumplings for 25", min_commitments=25, max_commitments=50
    )

    assert nearby_alerts(engine, inside) == [(deal["id"], "opened")]
    assert nearby_alerts(engine, twice_inside) == [(deal["id"], "opened")]
    assert nearby_alerts(engine, too_small) == []
    assert nearby_alerts(engine, far_away) == []
    assert nearby_alerts(engine, merchant) == []
    (event,) = rows(
        engine,
        "SELECT title, body, payload FROM outbox_events "
        "WHERE kind = 'deal.nearby' AND recipient_id = :id",
        id=inside["account"]["id"],
    )
    assert event.title == "A deal near you"
    assert event.payload == {
        "deal_id": deal["id"],
        "title": "Dumplings for 25",
        "reason": "opened",
        "units_needed": 25,
    }


def test_a_scheduled_deal_alerts_when_activate_deals_opens_it_and_only_once(
    api, app, db, engine, merchant, venue
):
    watcher = api.register()
    add_area(api, watcher)
    deal = api.create_deal(merchant, venue, starts_at=from_now(hours=1), ends_at=from_now(days=1))
    assert deal["status"] == "scheduled"
    assert nearby_alerts(engine, watcher) == []  # not open yet

    opened_at = parse_time(deal["starts_at"]) + timedelta(seconds=1)
    with app.app_context():
        assert in_unit_of_work(db, activate_deals, now=opened_at)["nearby_alerts"] == 1
        in_unit_of_work(db, activate_deals, now=opened_at + timedelta(minutes=1))

    assert nearby_alerts(engine, watcher) == [(deal["id"], "opened")]


def test_a_scheduled_deal_opened_by_its_first_commitment_still_alerts_nearby_accounts(
    api, app, db, engine, merchant, venue
):
    watcher = api.register()
    add_area(api, watcher)
    deal = api.create_deal(
        merchant, venue, min_commitments=5, starts_at=from_now(hours=1), ends_at=from_now(days=1)
    )
    with engine.begin() as connection:  # its start has come, the sweep has not run yet
        connection.execute(
            text("UPDATE deals SET starts_at = now() - interval '1 second' WHERE id = :id"),
            {"id": deal["id"]},
        )
    assert commit(api, api.register(), deal).status_code == 201  # opens the deal
    with app.app_context():
        in_unit_of_work(db, activate_deals, now=utcnow())
        in_unit_of_work(db, activate_deals, now=utcnow())

    assert nearby_alerts(engine, watcher) == [(deal["id"], "opened")]


@pytest.mark.parametrize(
    ("min_commitments", "zone"),
    [
        (20, 4),  # 20 % of 20 = 4 units
        (5, 3),  # 20 % of 5 is 1, but at least 3 units
        (50, 10),
    ],
    ids=["20-percent", "3-units", "50-needs-10"],
)
def test_commitments_that_bring_a_deal_within_reach_of_tipping_alert_once(
    api, engine, merchant, venue, min_commitments, zone
):
    watcher, far_away = api.register(), api.register()
    add_area(api, watcher)
    add_area(api, far_away, HAMBURG, 50000)
    deal = api.create_deal(
        merchant,
        venue,
        min_commitments=min_commitments,
        max_commitments=min_commitments * 2,
        per_user_limit=min_commitments,
    )
    buyer = api.register()

    # one unit short of the zone: no alert yet
    assert commit(api, buyer, deal, min_commitments - zone - 1).status_code == 201
    assert nearby_alerts(engine, watcher) == [(deal["id"], "opened")]
    assert commit(api, buyer, deal, 1).status_code == 201  # now `zone` units are missing
    assert commit(api, buyer, deal, 1).status_code == 201  # deeper in the zone: no new alert

    assert nearby_alerts(engine, watcher) == [(deal["id"], "opened"), (deal["id"], "about_to_tip")]
    assert nearby_alerts(engine, far_away) == []
    (payload,) = [
        row.payload
        for row in rows(
            engine,
            "SELECT payload FROM outbox_events WHERE kind = 'deal.nearby' "
            "AND payload->>'reason' = 'about_to_tip'",
        )
    ]
    assert payload["units_needed"] == zone


def test_a_commitment_that_tips_the_deal_at_once_sends_no_about_to_tip_alert(
    api, engine, merchant, venue
):
    watcher = api.register()
    add_area(api, watcher)
    deal = api.create_deal(merchant, venue, min_commitments=5, per_user_limit=5)
    assert commit(api, api.register(), deal, 5).status_code == 201
    assert nearby_alerts(engine, watcher) == [(deal["id"], "opened")]


def test_nobody_gets_more_than_five_nearby_alerts_a_day_by_default(api, engine, merchant, venue):
    watcher = api.register()
    add_area(api, watcher, radius_m=5000)
    deals = [
        api.create_deal(merchant, venue, title=f"deal {n}", min_commitments=5, per_user_limit=5)
        for n in range(7)
    ]
    assert [deal_id for deal_id, _ in nearby_alerts(engine, watcher)] == [
        deal["id"] for deal in deals[:5]
    ]

    assert commit(api, api.register(), deals[0], 2).status_code == 201  # about to tip: capped too
    assert len(nearby_alerts(engine, watcher)) == 5

    newcomer = api.register()  # the cap is per account
    add_area(api, newcomer)
    api.create_deal(merchant, venue, title="deal 8")
    assert len(nearby_alerts(engine, newcomer)) == 1


def scatter_alert_areas(engine, count: int) -> None:
    """`count` accounts, each with one alert area at a pseudo-random spot within about 400 km of
    the venue and a pseudo-random radius of 100 m to 50 km (a fixed seed); then ANALYZE."""
    with engine.begin() as connection:
        connection.execute(text("SELECT setseed(0.25)"))
        connection.execute(
            text(
                "WITH spots AS (SELECT n, random() AS dy, random() AS dx, random() AS r "
                "  FROM generate_series(1, :count) AS n), "
                "people AS (INSERT INTO accounts (email, password_hash, display_name, role) "
                "  SELECT 'watcher-' || n || '@example.com', 'x', 'Watcher', 'customer' FROM spots "
                "  RETURNING id, split_part(split_part(email, '@', 1), '-', 2)::int AS n) "
                "INSERT INTO alert_areas (account_id, location, radius_m) "
                "SELECT people.id, ST_SetSRID(ST_MakePoint("
                "  :lon + (dx - 0.5) * 10, :lat + (dy - 0.5) * 7), 4326)::geography, 100 + floor(r * 49900)::int FROM people JOIN spots USING (n)"
            ),
            {"count": count, **VENUE},
        )
        connection.execute(text("ANALYZE alert_areas"))


def test_nearby_alerts_find_areas_through_the_alert_area_gist_index_with_the_same_recipients(
    api, engine, merchant, venue
):
    scatter_alert_areas(engine, 4000)
    statements = []

    def capture(_conn, _cursor, statement, parameters, _context, _executemany):
        if "deal.nearby" in str(parameters) and statement.startswith("INSERT INTO outbox_events"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        deal = api.create_deal(merchant, venue)
    finally:
        event.remove(engine, "before_cursor_execute", capture)

    ((statement, parameters),) = statements
    with engine.connect() as connection:
        connection.execute(text("SET enable_seqscan = off"))  # no seq scan unless unavoidable
        plan = "\n".join(connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars())
        connection.execute(text("RESET enable_seqscan"))
    assert "ix_alert_areas_location" in plan, plan
    # the same accounts as every area's own radius says, each once
    expected = {
        row.id
        for row in rows(
            engine,
            "SELECT a.account_id::text AS id FROM alert_areas a, deals d WHERE d.id = :deal "
            "AND ST_DWithin(a.location, d.location, a.radius_m)",
            deal=deal["id"],
        )
    }
    alerted = [
        row.id
        for row in rows(
            engine, "SELECT recipient_id::text AS id FROM outbox_events WHERE kind = 'deal.nearby'"
        )
    ]
    assert len(expected) >= 10  # a fair number inside, most outside
    assert sorted(alerted) == sorted(expected)


def test_a_sweep_opening_many_deals_at_once_respects_a_configured_cap_nearest_first(
    api, make_app, engine, merchant
):
    watcher = api.register()
    add_area(api, watcher, radius_m=10000)
    deals_by_distance = []
    for metres in (4000, 1000, 3000, 2000):
        venue = api.create_venue(merchant, location=north_of(VENUE, metres))
        deal = api.create_deal(
            merchant, venue, starts_at=from_now(minutes=30), ends_at=from_now(days=1)
        )
        deals_by_distance.append((metres, deal["id"]))
    capped = make_app(NEARBY_ALERTS_PER_DAY=2)

    session = capped.extensions["db_sessionmaker"]()
    try:
        with capped.app_context():
            result = in_unit_of_work(session, activate_deals, now=parse_time(deal["starts_at"]))
    finally:
        session.close()

    assert result["activated"] == 4
    nearest_two = [deal_id for _, deal_id in sorted(deals_by_distance)[:2]]
    assert sorted(deal_id for deal_id, _ in nearby_alerts(engine, watcher)) == sorted(nearest_two)
