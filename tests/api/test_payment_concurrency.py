"""Real parallel paid commits against a live gunicorn taking payments through localstripe, and
localstripe's own signed webhooks delivered to it."""

import pytest
import requests

from payments.jobs import capture_payments
from tests.api.test_commit_concurrency import fire_in_parallel
from tests.conftest import STRIPE_WEBHOOK_SECRET
from tests.factories import API, deal_body, register_over_http, rows, scalar
from tests.payments_support import intent_statuses, run_job, table_counts
from tests.processes import wait_until

PRICE = 1800
WEBHOOK_ID = "schwarm-live"


@pytest.fixture
def localstripe_webhooks(localstripe, paid_live_server):
    """localstripe signs and sends its events to the live server during the test."""

    def register(events):
        response = requests.post(
            f"{localstripe}/_config/webhooks/{WEBHOOK_ID}",
            json={
                "url": f"{paid_live_server}{API}/payments/stripe/webhook",
                "secret": STRIPE_WEBHOOK_SECRET,
                "events": events,
            },
            timeout=10,
        )
        response.raise_for_status()

    register(["payment_intent.succeeded", "payment_intent.canceled"])
    yield
    register([])  # no event goes anywhere after the test


def test_100_parallel_paid_commits_on_a_cap_of_50_capture_50_and_leave_no_hold_on_a_refusal(
    paid_api, paid_app, paid_live_server, localstripe, localstripe_webhooks, engine
):
    merchant = register_over_http(paid_live_server, 1, role="merchant")[0]
    venue = requests.post(
        f"{paid_live_server}{API}/venues",
        headers=merchant["headers"],
        json={"name": "Hot spot", "location": {"lat": 52.52, "lon": 13.405}},
        timeout=30,
    ).json()
    deal = requests.post(
        f"{paid_live_server}{API}/deals",
        headers=merchant["headers"],
        json=deal_body(venue, min_commitments=10, max_commitments=50, price_cents=PRICE),
        timeout=30,
    ).json()
    customers = register_over_http(paid_live_server, 100)

    results = fire_in_parallel(
        paid_live_server,
        deal["id"],
        [(c["headers"], {"quantity": 1, "payment_method": "pm_card_visa"}) for c in customers],
    )

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 50 + [409] * 50, [body for _, body in results if _ >= 500]
    assert {body["code"] for status, body in results if status == 409} == {"sold-out"}
    run_job(paid_app, capture_payments)  # whatever the responses did not capture already

    payments = rows(engine, "SELECT status, count(*) AS n FROM payments GROUP BY status")
    by_status = {row.status: row.n for row in payments}
    assert by_status.pop("captured") == 50
    assert set(by_status) <= {"cancelled"}  # refused after the hold: cancelled, nothing else
    provider = intent_statuses(localstripe)
    assert provider["succeeded"] == 50
    assert provider.get("requires_capture", 0) == 0  # no hold left behind
    assert provider.get("canceled", 0) == by_status.get("cancelled", 0)
    assert scalar(engine, "SELECT committed_count FROM deals WHERE id = :id", id=deal["id"]) == 50
    assert scalar(engine, "SELECT count(*) FROM vouchers") == 50
    assert (
        scalar(
            engine,
            "SELECT sum(amount_cents) FROM ledger_entries WHERE account = 'provider_balance'",
        )
        == 50 * PRICE
    )
    assert scalar(engine, "SELECT sum(amount_cents) FROM ledger_entries") == 0

    # localstripe's own signed events about those captures change nothing already recorded.
    settled = table_counts(engine)
    assert wait_until(
        lambda: scalar(engine, "SELECT count(*) FROM payment_events") >= 50, timeout=30
    )
    assert table_counts(engine) == settled
