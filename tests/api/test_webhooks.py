"""POST/GET/DELETE /webhooks: SSRF refusals, the secret shown once, ownership, event filters."""

import base64
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app import create_app
from core.db import dispose_engines
from notifications.dispatcher import DispatchSettings, dispatch
from tests.conftest import TEST_CONFIG, Api
from tests.factories import commit, scalar

WEBHOOKS = "/api/v1/webhooks"

REFUSED_ALWAYS = [
    "http://10.0.0.1/hook",
    "http://10.20.30.40:8080/hook",
    "http://172.16.0.1/hook",
    "http://172.31.255.254/hook",
    "http://192.168.0.1/hook",
    "http://192.168.1.100:3000/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/hook",
    "http://100.64.0.1/hook",
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "gopher://127.0.0.1/",
    "not a url",
]
LOOPBACK = [
    "http://localhost/hook",
    "http://localhost:8080/hook",
    "http://127.0.0.1/hook",
    "http://127.0.0.53:9000/hook",
    "http://[::1]/hook",
    "http://[::1]:8080/hook",
]


def _app(database_url, allow_loopback: bool):
    app = create_app(
        dict(TEST_CONFIG, DATABASE_URL=database_url, WEBHOOK_ALLOW_LOOPBACK=allow_loopback)
    )
    yield app
    dispose_engines(app)


@pytest.fixture(scope="module")
def strict_app(database_url):
    """The production setting: no loopback targets."""
    yield from _app(database_url, allow_loopback=False)


@pytest.fixture(scope="module")
def loopback_app(database_url):
    """The development/test setting: loopback targets allowed."""
    yield from _app(database_url, allow_loopback=True)


@pytest.fixture
def strict(strict_app, database_url) -> Api:
    return Api(strict_app.test_client())


@pytest.fixture
def loopback(loopback_app, database_url) -> Api:
    return Api(loopback_app.test_client())


def post_webhook(api: Api, user: dict, url: str, events=None):
    body = {"url": url} if events is None else {"url": url, "events": events}
    return api.client.post(WEBHOOKS, json=body, headers=user["headers"])


def created(api: Api, user: dict, url="https://93.184.216.34/hook", events=None) -> dict:
    response = post_webhook(api, user, url, events)
    assert response.status_code == 201, response.json
    return response.json


# --- SSRF -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", REFUSED_ALWAYS + LOOPBACK)
def test_a_webhook_to_a_loopback_private_link_local_or_non_http_url_is_refused_with_422(
    strict, engine, url
):
    merchant = strict.register("merchant")
    response = post_webhook(strict, merchant, url)
    assert response.status_code == 422, response.json
    assert response.json["code"] == "validation-error"
    assert "url" in response.json["errors"]
    assert scalar(engine, "SELECT count(*) FROM webhooks") == 0


@pytest.mark.parametrize("url", REFUSED_ALWAYS)
def test_private_link_local_and_metadata_urls_stay_refused_when_loopback_is_allowed(loopback, url):
    merchant = loopback.register("merchant")
    assert post_webhook(loopback, merchant, url).status_code == 422


@pytest.mark.parametrize("url", LOOPBACK)
def test_loopback_urls_are_accepted_when_the_config_allows_loopback(loopback, url):
    merchant = loopback.register("merchant")
    assert created(loopback, merchant, url)["url"] == url


def test_a_public_url_is_accepted_in_the_production_setting(strict):
    merchant = strict.register("merchant")
    assert created(strict, merchant, "https://93.184.216.34/hook")["url"] == (
        "https://93.184.216.34/hook"
    )


def test_a_webhook_host_whose_dns_never_answers_is_refused_with_422_without_pinning_the_thread(
    strict,
    monkeypatch,
):
    merchant = strict.register("merchant")
    answer = threading.Event()

    def getaddrinfo(*_args, **_kwargs):  # a DNS server that never answers (until the test ends)
        answer.wait(timeout=60)
        raise socket.gaierror("no answer")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    responses = []
    request = threading.Thread(
        target=lambda: responses.append(
            post_webhook(strict, merchant, "https://hangs.example/hook")
        ),
        daemon=True,
    )
    try:
        request.start()
        request.join(timeout=15)
        assert not request.is_alive(), "the request thread is still waiting for DNS"
    finally:
        answer.set()
        request.join(timeout=65)
    (response,) = responses
    assert response.status_code == 422
    assert response.json["errors"]["url"] == [
        "The look-up of host hangs.example timed out (after 2 s)."
    ]


# --- the secret, shown once ---------------------------------------------------------------------


def test_the_signing_secret_is_returned_once_on_creation_and_never_again(strict):
    merchant = strict.register("merchant")
    hook = created(strict, merchant, events=["deal.tipped", "deal.closed"])

    assert set(hook) == {"id", "url", "events", "secret", "created_at"}
    assert hook["secret"].startswith("whsec_")
    assert len(base64.b64decode(hook["secret"].removeprefix("whsec_"))) >= 24
    assert hook["events"] == ["deal.closed", "deal.tipped"]
    assert created(strict, merchant)["secret"] != hook["secret"]  # one secret per webhook

    one = strict.client.get(f"{WEBHOOKS}/{hook['id']}", headers=merchant["headers"])
    assert one.status_code == 200
    assert "secret" not in one.json
    assert {key: one.json[key] for key in ("id", "url", "events")} == {
        key: hook[key] for key in ("id", "url", "events")
    }
    listed = strict.client.get(WEBHOOKS, headers=merchant["headers"])
    assert listed.status_code == 200
    assert len(listed.json["items"]) == 2
    assert all("secret" not in item for item in listed.json["items"])
    assert hook["secret"] not in listed.get_data(as_text=True) + one.get_data(as_text=True)


def test_an_unknown_event_kind_is_refused(strict):
    merchant = strict.register("merchant")
    response = post_webhook(strict, merchant, "https://93.184.216.34/hook", ["deal.exploded"])
    assert response.status_code == 422


# --- who may ----------------------------------------------------------------------------------------


def test_customers_cannot_use_webhooks(strict):
    customer = strict.register("customer")
    assert post_webhook(strict, customer, "https://93.184.216.34/hook").status_code == 403
    assert strict.client.get(WEBHOOKS, headers=customer["headers"]).status_code == 403
    assert strict.client.get(WEBHOOKS).status_code == 401


def test_another_merchants_webhook_is_not_found_and_stays_untouched(strict):
    owner, other = strict.register("merchant"), strict.register("merchant")
    hook = created(strict, owner)

    for method, path in (
        ("get", f"{WEBHOOKS}/{hook['id']}"),
        ("delete", f"{WEBHOOKS}/{hook['id']}"),
        ("get", f"{WEBHOOKS}/{hook['id']}/deliveries"),
    ):
        response = getattr(strict.client, method)(path, headers=other["headers"])
        assert response.status_code == 404, (method, path)
        assert response.json["code"] == "not-found"
    assert strict.client.get(WEBHOOKS, headers=other["headers"]).json["items"] == []
    assert (
        strict.client.get(f"{WEBHOOKS}/{hook['id']}", headers=owner["headers"]).status_code == 200
    )


def test_an_unknown_webhook_is_not_found(strict):
    merchant = strict.register("merchant")
    assert (
        strict.client.get(f"{WEBHOOKS}/{uuid.uuid4()}", headers=merchant["headers"]).status_code
        == 404
    )


# --- deliveries follow the subscription ---------------------------------------------------------------


def run_dispatcher(db, now=None):
    return dispatch(
        session=db,
        now=now or datetime.now(UTC),
        settings=DispatchSettings(push_gateway_url=None, allow_loopback=True),
    )


def test_a_webhook_gets_only_the_event_kinds_it_subscribed_to(loopback, db, receiver):
    merchant = loopback.register("merchant")
    created(loopback, merchant, receiver.url("/tipped-only"), ["deal.tipped"])
    created(loopback, merchant, receiver.url("/everything"), [])
    deal = loopback.create_deal(merchant, loopback.create_venue(merchant), min_commitments=2)
    for _ in range(2):
        assert commit(loopback, loopback.register(), deal).status_code == 201

    run_dispatcher(db)

    types = {
        path: sorted(r.json()["type"] for r in receiver.accepted(path))
        for path in ("/tipped-only", "/everything")
    }
    assert types == {
        "/tipped-only": ["deal.tipped"],
        "/everything": ["commitment.created", "commitment.created", "deal.tipped"],
    }
    (tipped,) = receiver.accepted("/tipped-only")
    assert tipped.json()["data"]["deal_id"] == deal["id"]


def test_a_deleted_webhook_gets_nothing_more_and_its_delivery_log_stays_readable(
    loopback, db, engine, receiver
):
    merchant = loopback.register("merchant")
    hook = created(loopback, merchant, receiver.url())
    deal = loopback.create_deal(merchant, loopback.create_venue(merchant), min_commitments=5)
    assert commit(loopback, loopback.register(), deal).status_code == 201
    receiver.mode = "error"
    assert run_dispatcher(db)["retried"] == 1  # a retry is pending when the webhook goes

    deleted = loopback.client.delete(f"{WEBHOOKS}/{hook['id']}", headers=merchant["headers"])
    assert deleted.status_code == 204
    assert commit(loopback, loopback.register(), deal).status_code == 201
    receiver.mode = "ok"
    run_dispatcher(db, now=datetime.now(UTC) + timedelta(hours=1))

    assert len(receiver.received()) == 1  # only the first, failed attempt ever arrived
    assert scalar(engine, "SELECT count(*) FROM deliveries") == 1
    log = loopback.client.get(f"{WEBHOOKS}/{hook['id']}/deliveries", headers=merchant["headers"])
    assert log.status_code == 200
    assert [
        (item["status"], item["last_error"], item["attempts"]) for item in log.json["items"]
    ] == [("dead", "webhook deleted", 2)]
    assert (
        loopback.client.get(f"{WEBHOOKS}/{hook['id']}", headers=merchant["headers"]).status_code
        == 404
    )
    assert loopback.client.get(WEBHOOKS, headers=merchant["headers"]).json["items"] == []
    assert (
        loopback.client.delete(f"{WEBHOOKS}/{hook['id']}", headers=merchant["headers"]).status_code
        == 404
    )
