"""Rate limits answer 429 with Retry-After and key on the account, never on the client IP."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from core.db import in_unit_of_work
from core.ratelimit import RateLimitCounter, prune_job, window_start
from tests.conftest import Api

BERLIN = {"lat": 52.52, "lon": 13.405}


def checkin(client, customer, venue):
    return client.post(
        f"/api/v1/venues/{venue['id']}/checkins",
        headers=customer["headers"],
        json={"location": BERLIN, "accuracy_m": 10},
    )


def test_check_ins_past_the_per_minute_limit_get_429_with_retry_after(database_url, make_app):
    client = make_app(CHECKIN_RATE_LIMIT=3, CHECKIN_RATE_WINDOW_SECONDS=3600).test_client()
    api = Api(client)
    merchant, anna = api.register("merchant"), api.register("customer")
    venue = api.create_venue(merchant, location=BERLIN)

    statuses = [checkin(client, anna, venue).status_code for _ in range(3)]
    refused = checkin(client, anna, venue)
    now = datetime.now(UTC)
    window = timedelta(seconds=3600)
    seconds_left = (window_start(now, window) + window - now).total_seconds()

    assert statuses == [201, 201, 201]
    assert refused.status_code == 429
    assert refused.json["code"] == "rate-limited"
    assert refused.mimetype == "application/problem+json"
    assert abs(int(refused.headers["Retry-After"]) - seconds_left) <= 2


def test_the_check_in_limit_is_per_account_not_per_address(database_url, make_app):
    client = make_app(CHECKIN_RATE_LIMIT=2, CHECKIN_RATE_WINDOW_SECONDS=3600).test_client()
    api = Api(client)
    merchant = api.register("merchant")
    venue = api.create_venue(merchant, location=BERLIN)
    anna, ben = api.register("customer"), api.register("customer")

    for _ in range(2):
        checkin(client, anna, venue)
    assert checkin(client, anna, venue).status_code == 429
    assert checkin(client, ben, venue).status_code == 201  # same client address, other account


def test_a_refused_check_in_is_not_recorded(database_url, make_app, engine):
    client = make_app(CHECKIN_RATE_LIMIT=1, CHECKIN_RATE_WINDOW_SECONDS=3600).test_client()
    api = Api(client)
    merchant, anna = api.register("merchant"), api.register("customer")
    venue = api.create_venue(merchant, location=BERLIN)
    checkin(client, anna, venue)
    checkin(client, anna, venue)

    listed = client.get("/api/v1/me/checkins", headers=anna["headers"]).json["items"]
    assert len(listed) == 1


def test_windows_are_aligned_to_their_length():
    moment = datetime(2026, 11, 23, 10, 17, 42, 500000, tzinfo=UTC)
    assert window_start(moment, timedelta(minutes=1)) == datetime(2026, 11, 23, 10, 17, tzinfo=UTC)
    assert window_start(moment, timedelta(hours=1)) == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_a_replayed_check_in_does_not_count_against_the_limit(database_url, make_app):
    client = make_app(CHECKIN_RATE_LIMIT=1, CHECKIN_RATE_WINDOW_SECONDS=3600).test_client()
    api = Api(client)
    merchant, anna = api.register("merchant"), api.register("customer")
    venue = api.create_venue(merchant, location=BERLIN)
    headers = {**anna["headers"], "Idempotency-Key": "checkin-1"}
    body = {"location": BERLIN, "accuracy_m": 10}

    first = client.post(f"/api/v1/venues/{venue['id']}/checkins", headers=headers, json=body)
    again = client.post(f"/api/v1/venues/{venue['id']}/checkins", headers=headers, json=body)

    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"


def commit(client, customer, deal):
    return client.post(
        f"/api/v1/deals/{deal['id']}/commitments", headers=customer["headers"], json={"quantity": 1}
    )


def test_parallel_commitments_past_the_per_account_limit_get_429_and_take_no_units(
    database_url, make_app
):
    app = make_app(COMMIT_RATE_LIMIT=3, COMMIT_RATE_WINDOW_SECONDS=3600)
    api = Api(app.test_client())
    merchant, anna = api.register("merchant"), api.register("customer")
    venue = api.create_venue(merchant, location=BERLIN)
    deal = api.create_deal(
        merchant, venue, min_commitments=50, max_commitments=100, per_user_limit=20
    )

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(
            pool.map(lambda _: commit(app.test_client(), anna, deal).status_code, range(10))
        )
    after = api.client.get(f"/api/v1/deals/{deal['id']}", headers=anna["headers"]).json

    assert sorted(statuses) == [201] * 3 + [429] * 7
    assert after["committed_count"] == 3


def test_the_commitment_limit_is_per_account(database_url, make_app):
    client = make_app(COMMIT_RATE_LIMIT=1, COMMIT_RATE_WINDOW_SECONDS=3600).test_client()
    api = Api(client)
    merchant, anna, ben = (
        api.register("merchant"),
        api.register("customer"),
        api.register("customer"),
    )
    venue = api.create_venue(merchant, location=BERLIN)
    deal = api.create_deal(merchant, venue, per_user_limit=5)

    assert commit(client, anna, deal).status_code == 201
    refused = commit(client, anna, deal)
    assert (refused.status_code, refused.json["code"]) == (429, "rate-limited")
    assert "Retry-After" in refused.headers
    assert commit(client, ben, deal).status_code == 201


def test_the_prune_keeps_counters_of_a_login_window_longer_than_an_hour(database_url, make_app):
    app = make_app(LOGIN_FAILURE_WINDOW_MINUTES=180)
    now = datetime.now(UTC)
    with app.app_context():
        session = app.extensions["db_sessionmaker"]()
        session.add_all(
            [
                RateLimitCounter(
                    key="login:still-open", window_start=now - timedelta(hours=2), hits=9
                ),
                RateLimitCounter(
                    key="login:long-gone", window_start=now - timedelta(hours=4), hits=9
                ),
            ]
        )
        session.commit()
        assert in_unit_of_work(session, prune_job, now=now) == {"deleted": 1}
        assert [c.key for c in session.query(RateLimitCounter)] == ["login:still-open"]
        session.close()
