"""Accounts and bearer tokens: registration, login, expiry, revocation, roles, brute force."""

import hashlib
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import text

from accounts.passwords import app_password_hashing
from core.ratelimit import window_start

ACCOUNTS = "/api/v1/accounts"
TOKENS = "/api/v1/tokens"
ME = "/api/v1/me"
PASSWORD = "correct horse battery"


def register(client, email, password=PASSWORD, role="customer"):
    return client.post(
        ACCOUNTS,
        json={
            "email": email,
            "password": password,
            "display_name": "Someone",
            "role": role,
        },
    )


def login(client, email, password=PASSWORD):
    return client.post(TOKENS, json={"email": email, "password": password})


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_unauthorized(response):
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


# --- registration -------------------------------------------------------------------------------


def test_a_customer_registers_logs_in_and_sees_itself(client):
    created = register(client, "ada@example.com")
    assert created.status_code == 201
    assert set(created.json) == {"id", "email", "display_name", "role", "created_at", "handle"}
    token = login(client, "ada@example.com")
    assert token.status_code == 201
    assert token.json["account"] == created.json
    me = client.get(ME, headers=bearer(token.json["token"]))
    assert me.status_code == 200
    assert me.json == created.json


def test_a_merchant_registers_with_the_merchant_role(client):
    created = register(client, "shop@example.com", role="merchant")
    assert created.json["role"] == "merchant"
    me = client.get(ME, headers=bearer(login(client, "shop@example.com").json["token"]))
    assert me.json["role"] == "merchant"


def test_an_unknown_role_is_rejected(client):
    response = register(client, "root@example.com", role="admin")
    assert response.status_code == 422
    assert "role" in response.json["errors"]


def test_a_registered_email_is_taken_whatever_its_case(client):
    assert register(client, "Grace.Hopper@Example.com").status_code == 201
    again = register(client, "grace.hopper@EXAMPLE.COM", password="another password 1")
    assert again.status_code == 409
    assert again.mimetype == "application/problem+json"
    assert again.json["code"] == "email-taken"


def test_the_email_is_stored_lower_cased_and_login_ignores_its_case(client):
    assert register(client, "Mixed.Case@Example.com").json["email"] == "mixed.case@example.com"
    assert login(client, "MIXED.case@example.COM").status_code == 201


def test_a_password_shorter_than_10_characters_is_rejected(client, engine):
    response = register(client, "short@example.com", password="123456789")
    assert response.status_code == 422
    assert response.json["code"] == "validation-error"
    assert "password" in response.json["errors"]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM accounts")).scalar_one() == 0


def test_a_password_of_exactly_10_characters_is_accepted(client):
    assert register(client, "ten@example.com", password="1234567890").status_code == 201


def test_the_password_is_never_returned_or_stored_in_clear(client, engine):
    created = register(client, "secret@example.com")
    assert PASSWORD not in created.get_data(as_text=True)
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT password_hash FROM accounts WHERE email = 'secret@example.com'")
        ).scalar_one()
    assert PASSWORD not in stored
    assert stored.startswith("$argon2id$")


# --- login and tokens ---------------------------------------------------------------------------


def test_a_wrong_password_is_401(client):
    register(client, "who@example.com")
    assert_unauthorized(login(client, "who@example.com", "not the password"))


def test_an_unknown_email_is_401_like_a_wrong_password(client):
    assert_unauthorized(login(client, "nobody@example.com"))


def test_a_token_expires_after_30_days_by_default(client):
    register(client, "ttl@example.com")
    before = datetime.now(UTC)
    token = login(client, "ttl@example.com").json
    expires_at = datetime.fromisoformat(token["expires_at"].replace("Z", "+00:00"))
    assert token["expires_at"].endswith("Z")
    assert abs(expires_at - before - timedelta(days=30)) < timedelta(minutes=1)


def test_a_token_has_at_least_128_random_bits_and_is_stored_only_as_a_hash(client, engine):
    register(client, "hash@example.com")
    tokens = {login(client, "hash@example.com").json["token"] for _ in range(3)}
    assert len(tokens) == 3
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT row_to_json(tokens)::text, token_hash FROM tokens")
        ).all()
    assert len(rows) == 3
    stored_hashes = {row.token_hash for row in rows}
    assert stored_hashes == {hashlib.sha256(token.encode()).hexdigest() for token in tokens}
    for token in tokens:
        assert len(token.removeprefix("swm_")) >= 22  # 22 url-safe base64 chars = 132 bits
        for row_text, _hash in rows:
            assert token not in row_text
            assert token.removeprefix("swm_") not in row_text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Bearer swm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        {"Authorization": "Basic YWRhOnNlY3JldA=="},
        {"Authorization": "Token abc"},
    ],
)
def test_a_missing_or_garbage_token_is_401(client, headers):
    assert_unauthorized(client.get(ME, headers=headers))


def test_the_raw_token_hash_does_not_work_as_a_token(api, client, engine):
    api.register()
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT token_hash FROM tokens")).scalar_one()
    assert_unauthorized(client.get(ME, headers=bearer(stored)))


def test_an_expired_token_is_401(api, client, engine):
    user = api.register()
    assert client.get(ME, headers=user["headers"]).status_code == 200
    digest = hashlib.sha256(user["token"].encode()).hexdigest()
    with engine.begin() as connection:
        updated = connection.execute(
            text(
                "UPDATE tokens SET expires_at = now() - interval '1 second' WHERE token_hash = :h"
            ),
            {"h": digest},
        ).rowcount
    assert updated == 1
    assert_unauthorized(client.get(ME, headers=user["headers"]))


def test_a_revoked_token_is_401_while_the_accounts_other_tokens_keep_working(api, client):
    user = api.register()
    email = user["account"]["email"]
    other_token = login(client, email, "correct horse battery").json["token"]
    revoked = client.delete("/api/v1/tokens/current", headers=user["headers"])
    assert revoked.status_code == 204
    assert revoked.get_data() == b""
    assert_unauthorized(client.get(ME, headers=user["headers"]))
    assert_unauthorized(client.delete("/api/v1/tokens/current", headers=user["headers"]))
    assert client.get(ME, headers=bearer(other_token)).status_code == 200


def test_a_customer_calling_a_merchant_route_is_403(api, client):
    customer = api.register("customer")
    response = client.post(
        "/api/v1/venues",
        headers=customer["headers"],
        json={
            "name": "Nope",
            "location": {"lat": 1, "lon": 1},
        },
    )
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "forbidden"


# --- brute force --------------------------------------------------------------------------------


def login_from(client, address, email, password=PASSWORD):
    return client.post(
        TOKENS, json={"email": email, "password": password}, environ_base={"REMOTE_ADDR": address}
    )


def seconds_left_in_window(minutes: int) -> float:
    now = datetime.now(UTC)
    window = timedelta(minutes=minutes)
    return (window_start(now, window) + window - now).total_seconds()


def test_after_10_failed_logins_from_one_address_even_the_right_password_is_refused_there(client):
    register(client, "target@example.com")
    for attempt in range(10):
        # the limit keys on the normalised email: changing its case does not help
        email = "Target@Example.com" if attempt % 2 else "target@example.com"
        assert_unauthorized(login(client, email, f"guess number {attempt}"))
    blocked = login(client, "target@example.com")
    assert blocked.status_code == 429
    assert blocked.mimetype == "application/problem+json"
    assert blocked.json["code"] == "rate-limited"
    # fixed 15-minute windows, like every rate limit: refused until the window ends
    assert abs(int(blocked.headers["Retry-After"]) - seconds_left_in_window(15)) <= 2
    assert "token" not in blocked.json


def test_nine_failed_logins_do_not_lock_the_account_out(client):
    register(client, "careful@example.com")
    for attempt in range(9):
        assert_unauthorized(login(client, "careful@example.com", f"guess number {attempt}"))
    assert login(client, "careful@example.com").status_code == 201


def test_successful_logins_do_not_count_against_the_limit(client):
    register(client, "regular@example.com")
    for _ in range(12):
        assert login(client, "regular@example.com").status_code == 201
    for attempt in range(9):
        assert_unauthorized(login(client, "regular@example.com", f"guess number {attempt}"))
    assert login(client, "regular@example.com").status_code == 201


def test_the_login_limit_for_one_email_does_not_affect_another(client):
    register(client, "victim@example.com")
    register(client, "bystander@example.com")
    for attempt in range(10):
        login(client, "victim@example.com", f"guess number {attempt}")
    assert login(client, "victim@example.com").status_code == 429
    assert login(client, "bystander@example.com").status_code == 201


def test_failed_logins_of_an_earlier_window_no_longer_count(client, engine):
    register(client, "patient@example.com")
    for attempt in range(10):
        login(client, "patient@example.com", f"guess number {attempt}")
    assert login(client, "patient@example.com").status_code == 429
    with engine.begin() as connection:
        moved = connection.execute(
            text(
                "UPDATE rate_limit_counters SET window_start = window_start - interval '16 minutes'"
            )
        ).rowcount
    assert moved == 2  # this email from this address, and this email from everywhere
    assert login(client, "patient@example.com").status_code == 201


def test_the_owner_on_another_address_still_logs_in_while_an_attacker_is_refused(client):
    register(client, "owner@example.com")
    attacker, owner = "203.0.113.66", "198.51.100.7"
    statuses = [
        login_from(client, attacker, "owner@example.com", f"guess {n}").status_code
        for n in range(13)
    ]
    assert statuses == [401] * 10 + [429] * 3
    assert login_from(client, attacker, "owner@example.com").status_code == 429
    assert login_from(client, owner, "owner@example.com").status_code == 201


def test_addresses_of_one_ipv6_64_count_as_one_client(client):
    register(client, "phone@example.com")
    for host in range(1, 11):
        login_from(client, f"2001:db8:0:0::{host:x}", "phone@example.com", f"guess {host}")
    assert login_from(client, "2001:db8::ffff:1", "phone@example.com").status_code == 429
    assert login_from(client, "2001:db8:0:1::1", "phone@example.com").status_code == 201


def test_guesses_spread_over_many_addresses_are_slowed_by_the_per_email_bound(make_app):
    client = make_app(LOGIN_EMAIL_MAX_FAILURES=3, LOGIN_EMAIL_WINDOW_SECONDS=60).test_client()
    register(client, "popular@example.com")
    for host in range(1, 4):
        assert_unauthorized(login_from(client, f"192.0.2.{host}", "popular@example.com", "guess"))
    slowed = login_from(client, "192.0.2.200", "popular@example.com")
    assert slowed.status_code == 429
    assert slowed.json["code"] == "rate-limited"
    assert 1 <= int(slowed.headers["Retry-After"]) <= 60  # a short delay, not a 15-minute lock


def test_thirty_parallel_wrong_passwords_get_at_most_the_limit_of_401s(api, live_server):
    register(api.client, "raced@example.com")  # same database as the live server
    start = threading.Barrier(30)

    def guess(attempt):
        with requests.Session() as session:
            start.wait(timeout=10)
            return session.post(
                live_server + TOKENS,
                timeout=30,
                json={"email": "raced@example.com", "password": f"guess number {attempt}"},
            ).status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = Counter(pool.map(guess, range(30)))

    assert set(statuses) == {401, 429}, statuses
    assert statuses[401] <= 10, statuses  # LOGIN_MAX_FAILURES


def test_password_checks_beyond_the_hashing_bound_get_503_with_retry_after(make_app):
    app = make_app(PASSWORD_HASH_CONCURRENCY=1, PASSWORD_HASH_WAIT_MS=50, LOGIN_MAX_FAILURES=1)
    client = app.test_client()
    assert register(client, "busy@example.com").status_code == 201
    with app.app_context(), app_password_hashing().slot():  # the only slot is taken
        refused = [login(client, "busy@example.com"), register(client, "new@example.com")]
    for response in refused:
        assert response.status_code == 503
        assert response.mimetype == "application/problem+json"
        assert response.json["code"] == "password-hashing-busy"
        assert int(response.headers["Retry-After"]) >= 1
    # the refused login was not counted as a failure: the one allowed failure is still there
    assert_unauthorized(login(client, "busy@example.com", "one wrong guess"))
    assert register(client, "new@example.com").status_code == 201


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(make_app):
    client = make_app(TRUSTED_PROXY_HOPS=1).test_client()
    register(client, "proxied@example.com")

    def via_proxy(forwarded_for, password=PASSWORD):
        return client.post(
            TOKENS,
            json={"email": "proxied@example.com", "password": password},
            headers={"X-Forwarded-For": forwarded_for},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},
        )

    for attempt in range(10):
        # what the client wrote itself (left of the proxy's entry) changes nothing
        assert_unauthorized(via_proxy(f"198.51.100.{attempt}, 203.0.113.66", f"guess {attempt}"))
    assert via_proxy("203.0.113.66").status_code == 429
    assert via_proxy("192.0.2.10").status_code == 201


def test_without_trusted_proxies_a_forged_forwarded_for_does_not_escape_the_limit(client):
    register(client, "forged@example.com")
    for attempt in range(10):
        assert_unauthorized(
            login_from(client, "203.0.113.66", "forged@example.com", f"g {attempt}")
        )
    forged = client.post(
        TOKENS,
        json={"email": "forged@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "192.0.2.10"},
        environ_base={"REMOTE_ADDR": "203.0.113.66"},
    )
    assert forged.status_code == 429
