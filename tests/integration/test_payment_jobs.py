"""The payment jobs against localstripe: a capture run killed between the provider's capture and
its record, and capture runs that overlap, move each payment's money exactly once."""

import os
import subprocess
import sys
import threading
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from payments import statements
from payments.jobs import capture_payments, reconcile_payments, release_payments
from payments.providers import payment_provider
from payments.services import _authorise
from tests.conftest import ROOT, stripe_config
from tests.factories import rows, scalar, utcnow
from tests.payments_support import (
    card,
    commit_paid,
    intent,
    payment_rows,
    run_job,
    stripe_client,
)

PRICE = 1800
# The capture job in a process of its own that SIGKILLs itself as soon as the provider has
# captured the first hold: after the capture, before anything about it is committed.
CAPTURE_THEN_DIE = """
import os, signal
from app import create_app
from core.scheduler import run_job

app = create_app()
provider = app.extensions["payment_provider"]
capture = provider.capture

def capture_then_die(*args, **kwargs):
    capture(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

provider.capture = capture_then_die
run_job(app, "capture-payments")
"""


def tipped_deal_with_due_holds(api, localstripe, customers: int) -> dict:
    """A deal that tipped on its last customer's unit: that one was captured right after its
    response, the others' holds are due for the capture job."""
    merchant = api.register("merchant")
    deal = api.create_deal(
        merchant, api.create_venue(merchant), min_commitments=customers, price_cents=PRICE
    )
    for _ in range(customers):
        customer = api.register("customer")
        assert commit_paid(api, customer, deal, card(localstripe)).status_code == 201
    return deal


def assert_each_payment_captured_once(engine, localstripe, deal_id, expected: int) -> None:
    payments = payment_rows(engine, deal_id)
    assert [p.status for p in payments] == ["captured"] * expected
    for payment in payments:
        charge = intent(localstripe, payment.provider_ref)["latest_charge"]
        assert charge["captured"] is True and charge["amount"] == PRICE
    captures = rows(
        engine,
        "SELECT payment_id, count(DISTINCT transaction_key) AS transactions,"
        " sum(amount_cents) FILTER (WHERE account = 'provider_balance') AS taken"
        " FROM ledger_entries WHERE kind = 'capture' AND deal_id = :id GROUP BY payment_id",
        id=str(deal_id),
    )
    assert len(captures) == expected
    assert all(row.transactions == 1 and row.taken == PRICE for row in captures)
    assert (
        scalar(engine, "SELECT count(*) FROM vouchers WHERE deal_id = :id", id=str(deal_id))
        == expected
    )


def test_a_capture_run_killed_between_capture_and_record_captures_once_and_records_once_after(
    paid_api, paid_app, engine, localstripe, database_url
):
    deal = tipped_deal_with_due_holds(paid_api, localstripe, 3)
    due = [p for p in payment_rows(engine, deal["id"]) if p.status == "held"]
    assert len(due) == 2

    killed = subprocess.run(
        [sys.executable, "-c", CAPTURE_THEN_DIE],
        cwd=ROOT,
        env=dict(
            os.environ,
            DATABASE_URL=database_url,
            PASSWORD_HASH_FAST="true",
            **stripe_config(localstripe),
        ),
        capture_output=True,
        timeout=60,
    )

    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    captured_there = [
        p for p in due if intent(localstripe, p.provider_ref)["status"] == "succeeded"
    ]
    assert len(captured_there) == 1  # the provider captured one hold ...
    assert [p.status for p in payment_rows(engine, deal["id"])].count("held") == 2  # ... unrecorded
    counts = run_job(paid_app, capture_payments)
    assert counts == {"captured": 2, "failed": 0, "retry": 0}
    assert_each_payment_captured_once(engine, localstripe, deal["id"], 3)


@pytest.fixture
def small_batches_app(make_app, localstripe):
    """The paying app claiming two payments per batch, so overlapping runs interleave."""
    return make_app(PAYMENT_BATCH_SIZE=2, **stripe_config(localstripe))


def test_two_capture_runs_at_once_capture_each_payment_exactly_once(
    paid_api, small_batches_app, engine, localstripe
):
    deal = tipped_deal_with_due_holds(paid_api, localstripe, 9)
    barrier, results = threading.Barrier(2), []

    def run():
        barrier.wait()
        results.append(run_job(small_batches_app, capture_payments))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(result["captured"] for result in results) == 8
    assert all(result["retry"] == 0 and result["failed"] == 0 for result in results)
    assert_each_payment_captured_once(engine, localstripe, deal["id"], 9)


def test_the_daily_reconciliation_records_an_unrecorded_capture_and_cancels_a_hold_left_behind(
    paid_api, paid_app, engine, localstripe
):
    deal = tipped_deal_with_due_holds(paid_api, localstripe, 3)
    unrecorded, left_behind = [p for p in payment_rows(engine, deal["id"]) if p.status == "held"]
    # The provider captured one hold without our knowing; another is cancelled here but not
    # at the provider (its cancel never went through).
    stripe_client(localstripe).v1.payment_intents.capture(unrecorded.provider_ref)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE payments SET status = 'cancelled', released_at = now(), settled_at = now()"
                " WHERE id = :id"
            ),
            {"id": left_behind.id},
        )
        # ... and the first hold is older than a hold should live: the reconciliation looks.
        connection.execute(
            text(
                "UPDATE payments SET authorised_at = authorised_at - make_interval(days => :days)"
                " WHERE id = :id"
            ),
            {"id": unrecorded.id, "days": paid_app.config["PAYMENT_HOLD_DAYS"] + 1},
        )

    counts = run_job(paid_app, reconcile_payments)

    assert counts["differences"] == 2
    assert intent(localstripe, left_behind.provider_ref)["status"] == "canceled"
    statuses = {p.id: p.status for p in payment_rows(engine, deal["id"])}
    assert statuses[unrecorded.id] == "captured"
    assert run_job(paid_app, reconcile_payments)["differences"] == 0


def test_a_hold_whose_request_died_before_the_units_were_taken_is_cancelled_later(
    paid_app, paid_api, engine, localstripe
):
    merchant, customer = paid_api.register("merchant"), paid_api.register("customer")
    deal = paid_api.create_deal(merchant, paid_api.create_venue(merchant), min_commitments=2)
    with paid_app.test_request_context():
        terms = scalar_row(engine, deal["id"])
        account = SimpleNamespace(id=uuid.UUID(customer["account"]["id"]))
        # Steps 1 and 2 of a commitment (the hold is placed), then the request dies.
        payment = _authorise(
            payment_provider(), terms, account, 1, card(localstripe), None, utcnow()
        )
    assert intent(localstripe, payment.provider_ref)["status"] == "requires_capture"

    soon = run_job(paid_app, release_payments)
    minutes = paid_app.config["PAYMENT_PENDING_MINUTES"]
    later = run_job(paid_app, release_payments, now=utcnow() + timedelta(minutes=minutes + 1))

    assert soon["abandoned"] == 0 and later["abandoned"] == 1
    assert intent(localstripe, payment.provider_ref)["status"] == "canceled"
    assert payment_rows(engine, deal["id"])[0].status == "cancelled"
    assert scalar(engine, "SELECT count(*) FROM commitments") == 0


def scalar_row(engine, deal_id):
    """The deal's terms as checkout reads them before touching a card."""
    with engine.connect() as connection:
        return connection.execute(
            statements.DEAL_TERMS, {"terms_deal_id": deal_id, "committer_id": uuid.uuid4()}
        ).one()
