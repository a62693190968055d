"""Stripe's webhook: signatures checked with the stripe package, each event id handled once, and
every event answered by the provider's current state, so order does not matter."""

from deals.models import CommitmentStatus
from payments.jobs import capture_payments
from tests.factories import API, rows, scalar
from tests.payments_support import (
    NEEDS_3DS,
    authenticate,
    card,
    commit_paid,
    event,
    payment_rows,
    run_job,
    signed,
    stripe_client,
    table_counts,
)

WEBHOOK = f"{API}/payments/stripe/webhook"


def deliver(api, body: bytes, headers: dict):
    return api.client.post(WEBHOOK, data=body, headers=headers)


def state(engine) -> dict:
    """Everything a repeated event could change: row counts, payments, ledger entries."""
    return {
        "counts": table_counts(engine),
        "payments": [tuple(row) for row in rows(engine, "SELECT * FROM payments ORDER BY id")],
        "ledger": [tuple(row) for row in rows(engine, "SELECT * FROM ledger_entries ORDER BY id")],
        "commitments": [
            tuple(row) for row in rows(engine, "SELECT * FROM commitments ORDER BY id")
        ],
    }


def test_a_webhook_with_a_bad_signature_is_400_and_changes_nothing(paid_api, engine, localstripe):
    merchant, customer = paid_api.register("merchant"), paid_api.register("customer")
    deal = paid_api.create_deal(merchant, paid_api.create_venue(merchant), min_commitments=2)
    assert commit_paid(paid_api, customer, deal, card(localstripe)).status_code == 201
    (row,) = payment_rows(engine, deal["id"])
    body, headers = signed(
        event("evt_forged", "payment_intent.succeeded", localstripe, row.provider_ref),
        secret="whsec_not_ours",
    )
    before = state(engine)

    forged = deliver(paid_api, body, headers)
    unsigned = deliver(paid_api, body, {"Content-Type": "application/json"})

    assert forged.status_code == 400 and forged.json["code"] == "invalid-signature"
    assert unsigned.status_code == 400
    assert state(engine) == before
    assert scalar(engine, "SELECT count(*) FROM payment_events") == 0


def test_a_webhook_delivered_twice_and_out_of_order_changes_nothing_the_second_time(
    paid_api, paid_app, engine, localstripe
):
    merchant, customer = paid_api.register("merchant"), paid_api.register("customer")
    deal = paid_api.create_deal(merchant, paid_api.create_venue(merchant), min_commitments=1)
    pending = commit_paid(paid_api, customer, deal, card(localstripe, NEEDS_3DS))
    assert pending.status_code == 202, pending.json
    (row,) = payment_rows(engine, deal["id"])
    early = event("evt_1_action", "payment_intent.requires_action", localstripe, row.provider_ref)
    authenticate(localstripe, row.provider_ref, pending.json["payment"]["client_secret"])
    authorised = event(
        "evt_2_capturable",
        "payment_intent.amount_capturable_updated",
        localstripe,
        row.provider_ref,
    )

    first = deliver(paid_api, *signed(authorised))

    assert first.status_code == 200 and first.json == {"received": True, "duplicate": False}
    (commitment,) = rows(engine, "SELECT * FROM commitments")
    assert commitment.status == CommitmentStatus.CONFIRMED  # the units counted, the deal tipped
    after_first = state(engine)
    again = deliver(paid_api, *signed(authorised))
    late = deliver(paid_api, *signed(early))  # older than the first, delivered after it
    assert again.json == {"received": True, "duplicate": True}
    assert late.json == {"received": True, "duplicate": False}
    assert state(engine) == after_first

    run_job(paid_app, capture_payments)
    captured = state(engine)
    succeeded = event("evt_3_succeeded", "payment_intent.succeeded", localstripe, row.provider_ref)
    for body, headers in (signed(succeeded), signed(succeeded), signed(authorised)):
        assert deliver(paid_api, body, headers).status_code == 200
    assert state(engine) == captured
    assert scalar(engine, "SELECT count(*) FROM payment_events") == 3


def test_a_capture_the_provider_made_but_we_never_recorded_is_recorded_from_its_webhook(
    paid_api, engine, localstripe
):
    merchant = paid_api.register("merchant")
    alice, bob = paid_api.register("customer"), paid_api.register("customer")
    deal = paid_api.create_deal(merchant, paid_api.create_venue(merchant), min_commitments=2)
    assert commit_paid(paid_api, alice, deal, card(localstripe)).status_code == 201
    assert commit_paid(paid_api, bob, deal, card(localstripe)).status_code == 201  # the tip
    held = [row for row in payment_rows(engine, deal["id"]) if row.status == "held"]
    assert len(held) == 1  # bob's was captured right after his response; alice's is due
    # As if a capture job had captured alice's hold and died before recording it.
    stripe_client(localstripe).v1.payment_intents.capture(held[0].provider_ref)
    succeeded = event("evt_captured", "payment_intent.succeeded", localstripe, held[0].provider_ref)

    assert deliver(paid_api, *signed(succeeded)).status_code == 200

    assert [row.status for row in payment_rows(engine, deal["id"])] == ["captured"] * 2
    captures = scalar(
        engine, "SELECT count(DISTINCT transaction_key) FROM ledger_entries WHERE kind = 'capture'"
    )
    assert captures == 2
    assert scalar(engine, "SELECT count(*) FROM vouchers WHERE status = 'issued'") == 2


def test_the_webhook_is_not_found_without_online_payments(client):
    body, headers = signed({"id": "evt_x", "type": "payment_intent.succeeded", "data": {}})
    response = client.post(WEBHOOK, data=body, headers=headers)
    assert response.status_code == 404 and response.json["code"] == "not-found"
