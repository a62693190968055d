"""Helpers of the payment tests: test cards on localstripe, signed webhook events, running the
payment jobs at a given time, and the ledger's sums.

localstripe (tests/conftest.py `localstripe`) answers the official `stripe` client as Stripe
would for what these tests use: manual-capture PaymentIntents, capture, cancel, refunds,
SetupIntents and off-session charges, 3-D Secure (`requires_action`, then its
`/_authenticate` endpoint plays the customer), declines at authorisation (card
4000000000000341) and at card saving (4000000000000002). It has no idempotency keys and no hold
expiry: tests/payment_fake.py covers those.
"""

import hashlib
import hmac
import json
import time
from collections import Counter

import requests
import stripe
from sqlalchemy import text

from core.db import in_unit_of_work, open_session, utcnow
from tests.conftest import STRIPE_TEST_KEY, STRIPE_WEBHOOK_SECRET
from tests.factories import API, rows

VISA = "4242424242424242"
DECLINED_ON_CHARGE = "4000000000000341"  # saved fine, every charge declined
DECLINED_ON_SAVING = "4000000000000002"  # refused when saved to a customer
NEEDS_3DS = "4000002500003155"


def stripe_client(localstripe: str) -> stripe.StripeClient:
    """The official client on localstripe, for what the tests do as Stripe or as the app."""
    return stripe.StripeClient(STRIPE_TEST_KEY, base_addresses={"api": localstripe})


def card(localstripe: str, number: str = VISA) -> str:
    """A new PaymentMethod for the card `number`: its id, as a phone's SDK would send it."""
    method = stripe_client(localstripe).v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    return method.id


def authenticate(localstripe: str, intent_id: str, client_secret: str, success: bool = True):
    """Play the customer passing (or failing) 3-D Secure in the app."""
    response = requests.post(
        f"{localstripe}/v1/payment_intents/{intent_id}/_authenticate",
        data={"client_secret": client_secret, "success": str(success).lower(), "key": "pk_test"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def intent(localstripe: str, intent_id: str) -> dict:
    """A PaymentIntent as localstripe has it now (with its latest charge)."""
    response = requests.get(
        f"{localstripe}/v1/payment_intents/{intent_id}", auth=(STRIPE_TEST_KEY, ""), timeout=10
    )
    response.raise_for_status()
    return response.json()


def intent_statuses(localstripe: str) -> Counter:
    """How many of localstripe's PaymentIntents are in each status."""
    statuses, after = Counter(), None
    while True:
        params = {"limit": 100, **({"starting_after": after} if after else {})}
        page = requests.get(
            f"{localstripe}/v1/payment_intents",
            params=params,
            auth=(STRIPE_TEST_KEY, ""),
            timeout=10,
        ).json()
        statuses.update(item["status"] for item in page["data"])
        if not page["has_more"]:
            return statuses
        after = page["data"][-1]["id"]


def refunds_of(localstripe: str, intent_id: str) -> list[dict]:
    """localstripe's refunds of a PaymentIntent."""
    response = requests.get(
        f"{localstripe}/v1/refunds",
        params={"payment_intent": intent_id},
        auth=(STRIPE_TEST_KEY, ""),
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["data"]


def signed(event: dict, secret: str = STRIPE_WEBHOOK_SECRET, timestamp: int | None = None):
    """`(body, headers)` of a webhook request carrying `event`, signed as Stripe signs."""
    body = json.dumps(event).encode()
    timestamp = timestamp or int(time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": f"t={timestamp},v1={signature.hexdigest()}",
    }
    return body, headers


def event(event_id: str, kind: str, localstripe: str, intent_id: str) -> dict:
    """A Stripe event about a PaymentIntent, with its current state from localstripe."""
    return {
        "id": event_id,
        "object": "event",
        "type": kind,
        "api_version": "2026-10-28",
        "created": int(time.time()),
        "data": {"object": intent(localstripe, intent_id)},
    }


def run_job(app, job, now=None) -> dict:
    """Run a payment job once in its own unit of work, as the scheduler would, at `now`."""
    with app.app_context():
        return in_unit_of_work(open_session(), job, now=now or utcnow())


def commit_paid(api, customer: dict, deal: dict, payment_method: str, quantity: int = 1):
    """`POST /deals/{id}/commitments` with a payment method; the response."""
    return api.client.post(
        f"{API}/deals/{deal['id']}/commitments",
        json={"quantity": quantity, "payment_method": payment_method},
        headers=customer["headers"],
    )


def unbalanced_transactions(engine) -> list:
    """Ledger transactions whose entries do not sum to zero (there must be none)."""
    return rows(
        engine,
        "SELECT transaction_key, sum(amount_cents) FROM ledger_entries"
        " GROUP BY transaction_key HAVING sum(amount_cents) <> 0",
    )


def balances(engine, deal_id=None) -> dict[str, int]:
    """The sum of the ledger's entries per account (of one deal, if given)."""
    where = "" if deal_id is None else "WHERE deal_id = :deal_id"
    return {
        row.account: int(row.total)
        for row in rows(
            engine,
            f"SELECT account, sum(amount_cents) AS total FROM ledger_entries {where}"
            " GROUP BY account",
            deal_id=str(deal_id) if deal_id else None,
        )
    }


def payment_rows(engine, deal_id) -> list:
    """The payments of a deal, oldest first."""
    return rows(
        engine,
        "SELECT * FROM payments WHERE deal_id = :deal_id ORDER BY created_at, id",
        deal_id=str(deal_id),
    )


def table_counts(engine) -> dict[str, int]:
    """Rows in each table checkout writes (a refused request must leave them all alone)."""
    tables = (
        "payments",
        "payment_refunds",
        "ledger_entries",
        "commitments",
        "vouchers",
        "deal_participants",
        "outbox_events",
    )
    with engine.connect() as connection:
        return {
            table: connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar()
            for table in tables
        }


def insert_payment(engine, *, account_id, merchant_id, deal_id, status="charge_failed") -> str:
    """A payment row written straight to the database (an app without a provider has none of
    its own to show): its id."""
    with engine.begin() as connection:
        return str(
            connection.execute(
                text(
                    "INSERT INTO payments (id, commitment_id, deal_id, account_id, merchant_id,"
                    " quantity, amount_cents, currency, method, status, provider_ref)"
                    " VALUES (gen_random_uuid(), gen_random_uuid(), :deal, :account, :merchant,"
                    " 1, 1800, 'EUR', 'hold', :status, 'pi_' || md5(random()::text))"
                    " RETURNING id"
                ),
                {
                    "deal": str(deal_id),
                    "account": str(account_id),
                    "merchant": str(merchant_id),
                    "status": status,
                },
            ).scalar_one()
        )
