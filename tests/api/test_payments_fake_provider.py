"""Checkout against an in-process provider with an injected clock (tests/payment_fake.py), for
what localstripe cannot do: holds that lapse, and declines that give their reason."""

from datetime import timedelta

import pytest

from payments.jobs import capture_payments, reconcile_payments, release_unpaid_charges
from tests.conftest import Api
from tests.factories import API, from_now, outbox, scalar, utcnow
from tests.payment_fake import FakeProvider
from tests.payments_support import balances, commit_paid, payment_rows, run_job, table_counts

PRICE = 1800


class Clock:
    """The provider's clock, moved by the test."""

    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock) -> FakeProvider:
    """Holds lapse after 3 days, as on networks with windows shorter than Stripe's 7."""
    return FakeProvider(clock, hold_lifetime=timedelta(days=3))


@pytest.fixture
def fake_app(make_app, fake, database_url):
    app = make_app(PAYMENT_PROVIDER="stripe", STRIPE_API_KEY="sk_test_fake")
    app.extensions["payment_provider"] = fake
    return app


@pytest.fixture
def fake_api(fake_app) -> Api:
    return Api(fake_app.test_client())


def test_a_decline_for_insufficient_funds_answers_402_with_its_reason_and_leaves_nothing(
    fake_api, fake, engine
):
    merchant, customer = fake_api.register("merchant"), fake_api.register("customer")
    deal = fake_api.create_deal(merchant, fake_api.create_venue(merchant), price_cents=PRICE)
    before = table_counts(engine)

    response = commit_paid(fake_api, customer, deal, "pm_insufficient_funds")

    assert response.status_code == 402, response.json
    assert response.json["code"] == "payment-declined"
    assert response.json["decline_code"] == "insufficient_funds"
    assert table_counts(engine) == before
    assert {held.intent.status for held in fake.intents.values()} <= {"failed", "canceled"}


def test_a_hold_that_lapsed_before_the_tip_tells_the_customer_and_releases_after_48_hours(
    fake_api, fake_app, fake, clock, engine
):
    merchant = fake_api.register("merchant")
    alice, bob = fake_api.register("customer"), fake_api.register("customer")
    deal = fake_api.create_deal(
        merchant, fake_api.create_venue(merchant), min_commitments=2, ends_at=from_now(days=5)
    )
    assert commit_paid(fake_api, alice, deal, "pm_card_visa").status_code == 201
    clock.advance(days=4)  # alice's hold has lapsed at the provider
    assert commit_paid(fake_api, bob, deal, "pm_card_visa").status_code == 201  # the tip

    counts = run_job(fake_app, capture_payments)

    assert counts == {"captured": 0, "failed": 1, "retry": 0}  # bob's was captured at once
    alices = next(
        p for p in payment_rows(engine, deal["id"]) if str(p.account_id) == alice["account"]["id"]
    )
    assert alices.status == "charge_failed"
    assert [str(e.recipient_id) for e in outbox(engine, "payment.failed")] == [
        alice["account"]["id"]
    ]
    assert balances(engine, deal["id"])["card_holds"] == 0  # no hold is left to count

    later = utcnow() + timedelta(hours=fake_app.config["PAYMENT_FIX_HOURS"] + 1)
    assert run_job(fake_app, release_unpaid_charges, now=later)["released"] == 1
    assert fake_api.client.get(f"{API}/deals/{deal['id']}").json["committed_count"] == 1
    assert scalar(engine, "SELECT count(*) FROM vouchers WHERE status = 'issued'") == 1


def test_a_lapsed_hold_fixed_with_a_new_card_is_charged_and_gets_its_voucher(
    fake_api, fake_app, clock, engine
):
    merchant, customer = fake_api.register("merchant"), fake_api.register("customer")
    other = fake_api.register("customer")
    deal = fake_api.create_deal(
        merchant, fake_api.create_venue(merchant), min_commitments=2, ends_at=from_now(days=5)
    )
    first = commit_paid(fake_api, customer, deal, "pm_card_visa")
    clock.advance(days=4)
    assert commit_paid(fake_api, other, deal, "pm_card_visa").status_code == 201
    run_job(fake_app, capture_payments)
    confirm = f"{API}/payments/{first.json['payment']['id']}/confirm"

    without_card = fake_api.client.post(confirm, json={}, headers=customer["headers"])
    fixed = fake_api.client.post(
        confirm, json={"payment_method": "pm_card_visa"}, headers=customer["headers"]
    )

    assert without_card.status_code == 422  # a lapsed hold needs a card
    assert fixed.status_code == 200, fixed.json
    assert fixed.json["payment"]["status"] == "captured"
    assert scalar(engine, "SELECT count(*) FROM vouchers WHERE status = 'issued'") == 2
    assert balances(engine, deal["id"])["provider_balance"] == 2 * PRICE


def test_the_daily_reconciliation_reports_a_hold_that_lapsed_before_the_tip(
    fake_api, fake_app, clock, engine
):
    merchant, customer = fake_api.register("merchant"), fake_api.register("customer")
    deal = fake_api.create_deal(
        merchant, fake_api.create_venue(merchant), min_commitments=2, ends_at=from_now(days=1)
    )
    assert commit_paid(fake_api, customer, deal, "pm_card_visa").status_code == 201
    clock.advance(days=7)

    counts = run_job(fake_app, reconcile_payments, now=utcnow() + timedelta(days=7))

    assert counts == {"checked": 1, "differences": 1}
    assert payment_rows(engine, deal["id"])[0].status == "held"  # the tip will ask for a card
