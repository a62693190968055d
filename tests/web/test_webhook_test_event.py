"""The "send test event" button: one signed `webhook.test` delivery to that webhook alone,
sent by the dispatcher like any other and shown in the webhook's delivery log."""

from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook as StandardWebhook

from notifications.dispatcher import DispatchSettings, dispatch
from tests.conftest import Api
from tests.dashboard_support import signed_in, text_of
from tests.factories import API, rows, scalar

SETTINGS = DispatchSettings(push_gateway_url=None, allow_loopback=True)


@pytest.fixture
def loopback_app(make_app, database_url):
    """An app whose webhooks may target 127.0.0.1 (the local receiver)."""
    return make_app(WEBHOOK_ALLOW_LOOPBACK=True, WEBHOOK_TEST_RATE_LIMIT=2)


def test_a_test_event_reaches_that_webhook_alone_signed_and_shows_in_its_log(
    loopback_app, db, engine, receiver
):
    api = Api(loopback_app.test_client())
    merchant = api.register("merchant")
    hooks = [
        api.client.post(
            f"{API}/webhooks", json={"url": receiver.url(path)}, headers=merchant["headers"]
        ).json
        for path in ("/tested", "/other")
    ]
    dashboard = signed_in(loopback_app.test_client(), merchant)
    log = f"/merchant/webhooks/{hooks[0]['id']}"
    sent = dashboard.post(f"{log}/test", form_page=log)
    assert sent.status_code == 303
    assert "Test event queued" in text_of(dashboard.get(sent.headers["Location"]).get_data(True))

    outcome = dispatch(session=db, now=datetime.now(UTC), settings=SETTINGS)
    assert outcome["delivered"] == 1
    [request] = receiver.received()
    assert request.path == "/tested"
    message = StandardWebhook(hooks[0]["secret"]).verify(request.body, request.headers)
    assert message["type"] == "webhook.test"
    assert message["data"] == {"webhook_id": hooks[0]["id"], "test": True}
    assert scalar(engine, "SELECT count(*) FROM notifications") == 0  # no inbox entry, no push
    targets = [str(row.target_id) for row in rows(engine, "SELECT target_id FROM deliveries")]
    assert targets == [hooks[0]["id"]]

    listed = api.client.get(
        f"{API}/webhooks/{hooks[0]['id']}/deliveries", headers=merchant["headers"]
    ).json["items"]
    assert [(d["kind"], d["status"]) for d in listed] == [("webhook.test", "delivered")]
    page = text_of(dashboard.get(log).get_data(as_text=True))
    assert "webhook.test delivered" in page


def test_test_events_are_limited_per_merchant(loopback_app, receiver, engine):
    api = Api(loopback_app.test_client())
    merchant = api.register("merchant")
    hook = api.client.post(
        f"{API}/webhooks", json={"url": receiver.url()}, headers=merchant["headers"]
    ).json
    dashboard = signed_in(loopback_app.test_client(), merchant)
    log = f"/merchant/webhooks/{hook['id']}"
    statuses = [dashboard.post(f"{log}/test", form_page=log).status_code for _ in range(3)]
    assert statuses == [303, 303, 429]
    assert scalar(engine, "SELECT count(*) FROM deliveries") == 2
