"""Payment jobs: set-based claims (`FOR UPDATE SKIP LOCKED` over small partial indexes) and
idempotent settlement (payments.settlement), so runs that overlap, repeat or follow a crash
move each payment's money once.

Each batch is a unit of work of its own: the provider is called for every payment in it, so a
batch keeps its rows locked only while it runs and what it recorded is durable as it goes. A
run that dies between the provider's answer and the batch's commit is repaired by the next run
(a repeated capture is refused by the provider and read back as captured; a refund is found by
its metadata).

`only` (a list of ids) settles just those, right after the request that made them due (see
payments.services.settle_after_response); the scheduled runs are the backstop.
"""

import logging
from collections import Counter
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy.orm import Session

from core.db import unit_of_work
from deals.services import release_unpaid_commitments
from payments import settlement, statements
from payments.models import Payment
from payments.providers import payment_provider

logger = logging.getLogger("schwarm.payments")


def _batch_size() -> int:
    return current_app.config["PAYMENT_BATCH_SIZE"]


def _in_batches(session: Session, claim, settle, outcomes: tuple[str, ...]) -> dict:
    """Claim and settle batch after batch, one unit of work each, until a batch comes back
    short; what must be retried is left for the next run (not claimed again in this one)."""
    counts, retried = Counter(), set()
    while True:
        with unit_of_work(session):
            batch = claim(retried)
            for item in batch:
                outcome = settle(item)
                counts[outcome] += 1
                if outcome == "retry":
                    retried.add(_payment_of(item).id)
        if len(batch) < _batch_size():
            return {name: counts[name] for name in outcomes}


def _payment_of(item) -> Payment:
    return item if isinstance(item, Payment) else item[1]


def _not_retried(query, retried: set, column):
    return query.where(column.not_in(retried)) if retried else query


def capture_payments(*, session: Session, now: datetime, only=None) -> dict:
    """Capture the holds and charge the saved cards of payments due (their deal has tipped)."""
    gateway = payment_provider()
    outcomes = ("captured", "failed", "retry")
    if not gateway.online:
        return dict.fromkeys(outcomes, 0)

    def claim(retried):
        query = statements.due_captures(now, _batch_size(), only)
        return session.scalars(_not_retried(query, retried, Payment.id)).all()

    return _in_batches(
        session, claim, lambda p: settlement.capture(session, gateway, p, now=now), outcomes
    )


def release_payments(*, session: Session, now: datetime, only=None) -> dict:
    """Cancel the holds of released units: withdrawn, or of deals that failed or were
    cancelled (found by their closing time, `PAYMENT_SWEEP_LOOKBACK_HOURS` back); captured
    units of cancelled deals get their refunds; intents the customer never finished are
    cancelled after `PAYMENT_PENDING_MINUTES`."""
    gateway = payment_provider()
    outcomes = ("cancelled", "captured", "retry", "abandoned", "refunds")
    if not gateway.online:
        return dict.fromkeys(outcomes, 0)
    refunds = 0
    if only is None:
        with unit_of_work(session):
            since = now - timedelta(hours=current_app.config["PAYMENT_SWEEP_LOOKBACK_HOURS"])
            session.execute(statements.release_payments_of_ended_deals(since))
            ended = Payment.deal_id.in_(statements.ended_deals(since))
            refunds = len(session.execute(statements.refund_void_units(ended)).all())

    def claim(retried):
        query = statements.releases(_batch_size(), only)
        return session.scalars(_not_retried(query, retried, Payment.id)).all()

    counts = _in_batches(
        session, claim, lambda p: settlement.release(session, gateway, p, now=now), outcomes
    )
    counts["refunds"] = refunds
    if only is None:
        counts["abandoned"] = _cancel_abandoned(session, gateway, now)
    return counts


def _cancel_abandoned(session: Session, gateway, now: datetime) -> int:
    before = now - timedelta(minutes=current_app.config["PAYMENT_PENDING_MINUTES"])

    def claim(retried):
        query = statements.abandoned_intents(before, _batch_size())
        return session.scalars(_not_retried(query, retried, Payment.id)).all()

    def cancel(payment):
        released = settlement.release_unfinished(session, gateway, payment, now=now)
        return "cancelled" if released else "retry"

    return _in_batches(session, claim, cancel, ("cancelled",))["cancelled"]


def release_unpaid_charges(*, session: Session, now: datetime, only=None) -> dict:
    """Release the units of charges that failed at the tip and were not fixed within
    `PAYMENT_FIX_HOURS`: the deal's counters and the account's open quantity drop, the
    payment is cancelled."""
    gateway = payment_provider()
    outcomes = ("released", "captured", "retry")
    if not gateway.online:
        return dict.fromkeys(outcomes, 0)
    before = now - timedelta(hours=current_app.config["PAYMENT_FIX_HOURS"])

    def claim(retried):
        query = statements.unfixed_charges(before, _batch_size())
        if only is not None:
            query = query.where(Payment.id.in_(only))
        return session.scalars(_not_retried(query, retried, Payment.id)).all()

    def release(payment):
        # The provider first: a fix that went through after all keeps the units.
        outcome = settlement.release(session, gateway, payment, now=now)
        if outcome != "cancelled":
            return outcome
        release_unpaid_commitments(session=session, commitment_ids=[payment.commitment_id], now=now)
        return "released"

    return _in_batches(session, claim, release, outcomes)


def refund_payments(*, session: Session, now: datetime, only=None) -> dict:
    """Pay back the refunds asked for (customer, merchant, cancelled deals)."""
    gateway = payment_provider()
    outcomes = ("refunded", "retry")
    if not gateway.online:
        return dict.fromkeys(outcomes, 0)

    def claim(retried):
        query = statements.pending_refunds(_batch_size(), only)
        return session.execute(_not_retried(query, retried, Payment.id)).all()

    return _in_batches(
        session,
        claim,
        lambda pair: settlement.refund(session, gateway, pair[0], pair[1], now=now),
        outcomes,
    )


def reconcile_payments(*, session: Session, now: datetime) -> dict:
    """Daily: compare the ledger with the provider's records for holds older than a hold
    should live and payments settled within `PAYMENT_RECONCILE_DAYS`; repair what can be (a
    capture not recorded, a lapsed hold, a hold left behind) and report every difference."""
    gateway = payment_provider()
    if not gateway.online:
        return {"checked": 0, "differences": 0}
    config = current_app.config
    settled_since = now - timedelta(days=config["PAYMENT_RECONCILE_DAYS"])
    held_before = now - timedelta(days=config["PAYMENT_HOLD_DAYS"])
    checked, differences, after = 0, 0, None
    while True:
        with unit_of_work(session):  # per batch: the provider is called for each payment
            batch = session.scalars(
                statements.to_reconcile(settled_since, held_before, _batch_size(), after)
            ).all()
            for payment in batch:
                checked += 1
                for difference in settlement.reconcile(session, gateway, payment, now=now):
                    differences += 1
                    logger.warning("reconcile: %s", difference)
        if len(batch) < _batch_size():
            return {"checked": checked, "differences": differences}
        after = (batch[-1].created_at, batch[-1].id)


JOBS = {
    "capture-payments": (capture_payments, "PAYMENT_JOB_INTERVAL_SECONDS"),
    "release-payments": (release_payments, "PAYMENT_JOB_INTERVAL_SECONDS"),
    "release-unpaid-charges": (release_unpaid_charges, "PAYMENT_JOB_INTERVAL_SECONDS"),
    "refund-payments": (refund_payments, "PAYMENT_JOB_INTERVAL_SECONDS"),
    "reconcile-payments": (reconcile_payments, "PAYMENT_RECONCILE_INTERVAL_SECONDS"),
}
