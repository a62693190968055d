"""Check-ins over HTTP (and through the service where time has to move): honest phones count,
spoofers are recorded but earn nothing, venue-local days, listing, outbox, idempotency,
validation."""

import uuid
from datetime import datetime, timedelta

import pytest

from tests.checkins_support import (
    MUNICH,
    UTC,
    away,
    check_in,
    create_program,
    events,
    local,
)
from tests.factories import API, BERLIN, rows, scalar

CHECKIN_KEYS = {"id", "venue_id", "created_at", "distance_m", "counted", "reasons", "share"}


def checkins_url(venue) -> str:
    return f"{API}/venues/{venue['id']}/checkins"


def post_checkin(client, customer, venue, where, accuracy_m=10.0, headers=None, **extra):
    body = {"location": where, **extra}
    if accuracy_m is not None:
        body["accuracy_m"] = accuracy_m
    return client.post(
        checkins_url(venue), json=body, headers={**customer["headers"], **(headers or {})}
    )


def my_checkins(client, customer, **params) -> dict:
    response = client.get(f"{API}/me/checkins", headers=customer["headers"], query_string=params)
    assert response.status_code == 200, response.json
    return response.json


def checkin_count(engine) -> int:
    return scalar(engine, "SELECT count(*) FROM checkins")


@pytest.fixture
def cafe(api, merchant):
    return api.create_venue(merchant, name="Café am Markt", location=BERLIN)


# --- the honest phone ------------------------------------------------------------------------


def test_an_honest_phone_walking_up_to_its_venues_with_5_to_30_m_accuracy_is_always_counted(
    app, api, client, merchant, customer, cafe
):
    bakery = api.create_venue(merchant, name="Bäckerei", location=away(BERLIN, 1500, 90))
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first_visit = create_program(
        app,
        merchant["account"]["id"],
        cafe["id"],
        today - timedelta(days=7),
        kind="first_visit",
        title="Free espresso on your first visit",
    )

    def day(n, hour, minute):
        return today + timedelta(days=n, hours=hour, minutes=minute)

    # (when, venue, metres from its door, bearing, accuracy): the phone is still on the pavement,
    # never exactly at the pin, and its fix is ordinary city GPS.
    trace = [
        (day(-6, 8, 40), bakery, 35, 200, 12),
        (day(-6, 9, 5), cafe, 112, 270, 25),  # walked 1.5 km in 25 min; 112 m <= 100 + 25
        (day(-4, 18, 30), cafe, 62, 10, 30),
        (day(-3, 12, 15), cafe, 8, 135, 5),
        (day(-3, 12, 50), bakery, 90, 300, 18),  # 35 min later, round the corner
        (day(-1, 19, 50), cafe, 128, 45, 30),  # 128 m <= 100 + 30
    ]
    for at, venue, metres, bearing, accuracy in trace:
        checkin, _, _ = check_in(
            app,
            customer["account"]["id"],
            venue["id"],
            at,
            away(venue["location"], metres, bearing),
            accuracy_m=accuracy,
        )
        assert (checkin.counted, checkin.reasons) == (True, []), (at, venue["name"])
        assert checkin.distance_m == pytest.approx(metres, abs=0.5)

    response = post_checkin(client, customer, cafe, away(BERLIN, 45, 160), accuracy_m=18)
    assert response.status_code == 201, response.json
    assert response.json["checkin"]["counted"] is True
    assert response.json["checkin"]["reasons"] == []
    assert response.json["checkin"]["distance_m"] == pytest.approx(45, abs=0.5)

    listed = my_checkins(client, customer)["items"]
    assert len(listed) == len(trace) + 1
    assert all(item["counted"] and item["reasons"] == [] for item in listed)
    rewards = client.get(f"{API}/me/rewards", headers=customer["headers"]).json["items"]
    assert [(r["program_id"], r["title"]) for r in rewards] == [
        (str(first_visit.id), "Free espresso on your first visit")
    ]


def test_a_check_in_response_carries_the_checkin_its_rewards_and_progress(
    client, api, merchant, customer, cafe
):
    program = client.post(
        f"{API}/venues/{cafe['id']}/reward-programs",
        headers=merchant["headers"],
        json={"kind": "every_nth", "title": "Every 5th coffee free", "threshold": 5},
    )
    assert program.status_code == 201, program.json

    response = post_checkin(client, customer, cafe, away(BERLIN, 20, 0), message="Flat white time")

    assert response.status_code == 201
    assert set(response.json) == {"checkin", "rewards", "progress"}
    checkin = response.json["checkin"]
    assert set(checkin) == CHECKIN_KEYS
    assert checkin["venue_id"] == cafe["id"]
    assert checkin["created_at"].endswith("Z")
    uuid.UUID(checkin["id"])
    assert response.json["rewards"] == []
    assert response.json["progress"] == [
        {
            "program_id": program.json["id"],
            "kind": "every_nth",
            "title": "Every 5th coffee free",
            "current": 1,
            "target": 5,
            "remaining": 4,
            "achieved": False,
        }
    ]


# --- the spoofers ----------------------------------------------------------------------------


def berlin_ten_minutes_ago(app, customer, berlin_venue):
    earlier, _, _ = check_in(
        app,
        customer["account"]["id"],
        berlin_venue["id"],
        datetime.now(UTC) - timedelta(minutes=10),
        away(BERLIN, 10, 0),
    )
    assert earlier.counted


SPOOFS = {
    "from the sofa 2 km away": (dict(where=away(MUNICH, 2000, 200), accuracy_m=8), ["too-far"]),
    "with a 500 m fix at the door": (
        dict(where=away(MUNICH, 30, 90), accuracy_m=500),
        ["inaccurate"],
    ),
    "with a mock location at the door": (
        dict(where=away(MUNICH, 5, 0), accuracy_m=5, is_mock=True),
        ["mock-location"],
    ),
    "in Munich ten minutes after Berlin": (
        dict(where=away(MUNICH, 5, 0), accuracy_m=5),
        ["too-fast"],
    ),
    "from 500 m away, with a 500 m mock fix": (
        dict(where=away(MUNICH, 500, 0), accuracy_m=500, is_mock=True),
        ["too-far", "inaccurate", "mock-location"],
    ),
}


@pytest.mark.parametrize("spoof", list(SPOOFS))
def test_a_spoofed_check_in_earns_nothing_but_is_recorded_with_its_reasons(
    app, api, client, engine, merchant, customer, cafe, spoof
):
    munich = api.create_venue(merchant, name="Wirtshaus", location=MUNICH, timezone="Europe/Berlin")
    for body in (
        {"kind": "first_visit", "title": "Free pretzel"},
        {"kind": "every_nth", "title": "A beer on every visit", "threshold": 1},
        {"kind": "flash", "title": "First ten", "threshold": 10},
    ):
        created = client.post(
            f"{API}/venues/{munich['id']}/reward-programs", headers=merchant["headers"], json=body
        )
        assert created.status_code == 201, created.json
    request, expected_reasons = SPOOFS[spoof]
    if spoof == "in Munich ten minutes after Berlin":
        berlin_ten_minutes_ago(app, customer, cafe)

    response = post_checkin(
        client,
        customer,
        munich,
        request["where"],
        request["accuracy_m"],
        is_mock=request.get("is_mock", False),
    )

    assert response.status_code == 201, response.json
    assert response.json["checkin"]["counted"] is False
    assert response.json["checkin"]["reasons"] == expected_reasons
    assert response.json["rewards"] == []
    assert {p["kind"]: (p["current"], p["achieved"]) for p in response.json["progress"]} == {
        "first_visit": (0, False),
        "every_nth": (0, False),
        "flash": (0, False),
    }
    newest = my_checkins(client, customer)["items"][0]
    assert newest == response.json["checkin"]
    assert client.get(f"{API}/me/rewards", headers=customer["headers"]).json["items"] == []
    assert scalar(engine, "SELECT count(*) FROM rewards") == 0
    assert [
        p["rewards_issued"]
        for p in client.get(
            f"{API}/venues/{munich['id']}/reward-programs", headers=customer["headers"]
        ).json["items"]
    ] == [0, 0, 0]
    assert events(engine, "reward.earned") == []


def test_checking_in_again_the_same_day_is_recorded_but_not_counted(client, customer, cafe):
    # The same spot: a few metres of GPS jitter within milliseconds would also be too fast.
    first = post_checkin(client, customer, cafe, away(BERLIN, 15, 0))
    again = post_checkin(client, customer, cafe, away(BERLIN, 15, 0))

    assert first.json["checkin"]["counted"] is True
    assert again.status_code == 201
    assert again.json["checkin"]["counted"] is False
    assert again.json["checkin"]["reasons"] == ["already-counted-today"]
    assert [item["counted"] for item in my_checkins(client, customer)["items"]] == [False, True]


def test_a_spoofed_check_in_does_not_use_up_the_day_for_an_honest_one(client, customer, cafe):
    sofa = post_checkin(client, customer, cafe, away(BERLIN, 3000, 0))
    door = post_checkin(client, customer, cafe, away(BERLIN, 10, 0))

    assert sofa.json["checkin"]["reasons"] == ["too-far"]
    assert door.json["checkin"]["counted"] is True


def test_a_refused_check_in_is_not_the_starting_point_of_the_too_fast_rule(
    app, api, merchant, customer, cafe
):
    munich = api.create_venue(merchant, name="Wirtshaus", location=MUNICH)
    now = datetime.now(UTC)
    spoof, _, _ = check_in(
        app,
        customer["account"]["id"],
        munich["id"],
        now - timedelta(minutes=20),
        MUNICH,
        is_mock=True,
    )
    honest, _, _ = check_in(app, customer["account"]["id"], cafe["id"], now, BERLIN)

    assert spoof.reasons == ["mock-location"]
    assert (honest.counted, honest.reasons) == (True, [])


# --- venue-local days ------------------------------------------------------------------------

# (zone, [(local wall-clock time, counted?)]) for one account at one venue.
LOCAL_DAYS = {
    "Asia/Tokyo: a new day at 15:00 UTC": (
        "Asia/Tokyo",
        [
            ((2026, 1, 15, 23, 40), True),
            ((2026, 1, 16, 0, 10), True),  # 15:10 UTC, the same UTC day as the one before
            ((2026, 1, 16, 9, 10), False),  # 00:10 UTC: a new UTC day, still Jan 16 in Tokyo
        ],
    ),
    "America/Los_Angeles: a new day at 08:00 UTC": (
        "America/Los_Angeles",
        [
            ((2026, 1, 15, 15, 50), True),  # 23:50 UTC
            ((2026, 1, 15, 16, 10), False),  # 00:10 UTC: a new UTC day, still Jan 15 in LA
            ((2026, 1, 15, 23, 50), False),
            ((2026, 1, 16, 0, 10), True),  # 08:10 UTC, the same UTC day as the two before
        ],
    ),
    "America/Los_Angeles: a new day at 07:00 UTC after springing forward": (
        "America/Los_Angeles",
        [
            ((2026, 3, 8, 23, 50), True),  # 06:50 UTC Mar 9, PDT
            ((2026, 3, 9, 0, 10), True),  # 07:10 UTC; a fixed UTC-8 would still call it Mar 8
        ],
    ),
}


@pytest.mark.parametrize("case", list(LOCAL_DAYS))
def test_a_second_check_in_counts_around_the_venues_own_midnight_not_utcs(
    app, api, client, merchant, customer, case
):
    zone, visits = LOCAL_DAYS[case]
    venue = api.create_venue(
        merchant, name="Kissaten", location={"lat": 35.6595, "lon": 139.7005}, timezone=zone
    )
    results = []
    for wall_clock, _ in visits:
        checkin, _, _ = check_in(
            app,
            customer["account"]["id"],
            venue["id"],
            local(zone, *wall_clock),
            {"lat": 35.6595, "lon": 139.7005},
        )
        results.append((checkin.counted, checkin.reasons))

    assert results == [
        (counted, [] if counted else ["already-counted-today"]) for _, counted in visits
    ]
    assert [item["counted"] for item in my_checkins(client, customer)["items"]] == [
        counted for _, counted in reversed(visits)
    ]


# --- GET /me/checkins ------------------------------------------------------------------------


def test_my_checkins_lists_only_my_own_newest_first_page_by_page(app, api, client, customer, cafe):
    other = api.register("customer")
    start = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    mine = []
    for n in range(5):
        checkin, _, _ = check_in(
            app,
            customer["account"]["id"],
            cafe["id"],
            start + timedelta(days=n),
            away(BERLIN, 5 * n, 90),
            accuracy_m=None if n == 4 else 400,
        )
        mine.append(checkin)
    check_in(app, other["account"]["id"], cafe["id"], start + timedelta(hours=1), BERLIN)

    seen, cursor = [], None
    for _ in range(5):
        page = my_checkins(client, customer, limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 2
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert [item["id"] for item in seen] == [str(c.id) for c in reversed(mine)]
    assert all(set(item) == CHECKIN_KEYS for item in seen)
    assert seen[0] == {
        "id": str(mine[4].id),
        "venue_id": cafe["id"],
        "created_at": "2026-05-08T09:00:00Z",
        "distance_m": pytest.approx(20, abs=0.5),
        "counted": True,
        "reasons": [],
        "share": "private",
    }
    assert seen[1]["reasons"] == ["inaccurate"]


def test_my_checkins_is_empty_for_a_new_customer(client, customer):
    assert my_checkins(client, customer) == {"items": [], "next_cursor": None}


def test_my_checkins_needs_a_customer_token(client, merchant):
    assert client.get(f"{API}/me/checkins").status_code == 401
    forbidden = client.get(f"{API}/me/checkins", headers=merchant["headers"])
    assert forbidden.status_code == 403
    assert forbidden.json["code"] == "forbidden"


# --- outbox ----------------------------------------------------------------------------------


def test_every_check_in_enqueues_checkin_created_for_the_venues_merchant(
    client, engine, merchant, customer, cafe
):
    counted = post_checkin(client, customer, cafe, away(BERLIN, 10, 0)).json["checkin"]
    refused = post_checkin(client, customer, cafe, away(BERLIN, 10, 0)).json["checkin"]

    owner = merchant["account"]["id"]
    assert events(engine, "checkin.created") == [
        (owner, {"checkin_id": counted["id"], "venue_id": cafe["id"], "counted": True}),
        (owner, {"checkin_id": refused["id"], "venue_id": cafe["id"], "counted": False}),
    ]


def test_a_failed_check_in_request_enqueues_nothing(client, engine, customer):
    response = client.post(
        f"{API}/venues/{uuid.uuid4()}/checkins",
        json={"location": BERLIN},
        headers=customer["headers"],
    )
    assert response.status_code == 404
    assert events(engine, "checkin.created") == []


# --- idempotency -----------------------------------------------------------------------------


def test_a_retried_check_in_with_the_same_idempotency_key_replays_the_first_response(
    client, engine, customer, cafe
):
    key = {"Idempotency-Key": "checkin-7f3a"}
    first = post_checkin(client, customer, cafe, away(BERLIN, 10, 0), headers=key)
    retry = post_checkin(client, customer, cafe, away(BERLIN, 10, 0), headers=key)

    assert first.status_code == retry.status_code == 201
    assert retry.json == first.json
    assert retry.json["checkin"]["counted"] is True
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert checkin_count(engine) == 1
    assert len(events(engine, "checkin.created")) == 1


def test_an_idempotency_key_reused_for_another_check_in_is_refused(client, engine, customer, cafe):
    key = {"Idempotency-Key": "checkin-7f3a"}
    assert post_checkin(client, customer, cafe, away(BERLIN, 10, 0), headers=key).status_code == 201

    reused = post_checkin(client, customer, cafe, away(BERLIN, 40, 0), headers=key)

    assert reused.status_code == 422
    assert reused.json["code"] == "idempotency-key-reused"
    assert checkin_count(engine) == 1


def test_idempotency_keys_belong_to_one_account(api, client, engine, cafe, customer):
    other = api.register("customer")
    key = {"Idempotency-Key": "same-key"}
    mine = post_checkin(client, customer, cafe, BERLIN, headers=key)
    theirs = post_checkin(client, other, cafe, BERLIN, headers=key)

    assert theirs.status_code == 201
    assert theirs.json["checkin"]["id"] != mine.json["checkin"]["id"]
    assert theirs.json["checkin"]["counted"] is True
    assert checkin_count(engine) == 2


# --- validation and errors -------------------------------------------------------------------

INVALID_BODIES = {
    "lat above 90": {"location": {"lat": 90.0001, "lon": 13.405}},
    "lat below -90": {"location": {"lat": -91, "lon": 13.405}},
    "lon beyond 180": {"location": {"lat": 52.52, "lon": 180.5}},
    "lat as the string NaN": {"location": {"lat": "NaN", "lon": 13.405}},
    "lon as the string Infinity": {"location": {"lat": 52.52, "lon": "Infinity"}},
    "no location": {"accuracy_m": 10},
    "location without lon": {"location": {"lat": 52.52}},
    "location as a string": {"location": "52.52,13.405"},
    "negative accuracy": {"location": BERLIN, "accuracy_m": -1},
    "is_mock not a boolean": {"location": BERLIN, "is_mock": "sometimes"},
    "a server-owned field": {"location": BERLIN, "counted": True},
    "an unknown field": {"location": BERLIN, "altitude_m": 34},
}


@pytest.mark.parametrize("case", list(INVALID_BODIES))
def test_an_invalid_check_in_body_is_refused_with_422_and_records_nothing(
    client, engine, customer, cafe, case
):
    response = client.post(
        checkins_url(cafe), json=INVALID_BODIES[case], headers=customer["headers"]
    )

    assert response.status_code == 422, response.json
    assert response.json["code"] == "validation-error"
    assert response.json["errors"]
    assert checkin_count(engine) == 0


@pytest.mark.parametrize(
    "raw",
    [
        '{"location": {"lat": NaN, "lon": 13.405}}',
        '{"location": {"lat": 52.52, "lon": -Infinity}}',
        '{"location": {"lat": 52.52, "lon": 13.405}, "accuracy_m": NaN}',
    ],
)
def test_a_non_finite_number_in_a_check_in_is_refused_with_422(client, engine, customer, cafe, raw):
    response = client.post(
        checkins_url(cafe),
        data=raw,
        headers={**customer["headers"], "Content-Type": "application/json"},
    )

    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["code"] == "validation-error"
    assert checkin_count(engine) == 0


def test_checking_in_at_an_unknown_venue_is_404(client, engine, customer):
    response = client.post(
        f"{API}/venues/{uuid.uuid4()}/checkins",
        json={"location": BERLIN},
        headers=customer["headers"],
    )

    assert response.status_code == 404
    assert response.json["code"] == "not-found"
    assert checkin_count(engine) == 0


def test_only_customers_check_in(client, engine, merchant, cafe):
    assert client.post(checkins_url(cafe), json={"location": BERLIN}).status_code == 401
    forbidden = client.post(
        checkins_url(cafe), json={"location": BERLIN}, headers=merchant["headers"]
    )
    assert forbidden.status_code == 403
    assert forbidden.json["code"] == "forbidden"
    assert checkin_count(engine) == 0


def test_the_reported_point_and_accuracy_are_stored_with_the_check_in(
    client, engine, customer, cafe
):
    where = away(BERLIN, 42, 300)
    post_checkin(client, customer, cafe, where, accuracy_m=17.5, message="Hi")

    stored = rows(
        engine,
        "SELECT ST_Y(location::geometry) AS lat, "
        "ST_X(location::geometry) AS lon, accuracy_m, is_mock, message "
        "FROM checkins",
    )
    assert len(stored) == 1
    assert (stored[0].lat, stored[0].lon) == (
        pytest.approx(where["lat"], abs=1e-9),
        pytest.approx(where["lon"], abs=1e-9),
    )
    assert (stored[0].accuracy_m, stored[0].is_mock, stored[0].message) == (17.5, False, "Hi")
