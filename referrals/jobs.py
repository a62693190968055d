"""Referral credit sweeps: set-based, idempotent statements that take `now` (run by the
scheduler). The statements are in `referrals.statements`."""

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from deals.models import Deal
from notifications.services import enqueue
from payments.statements import ended_deals
from referrals import statements
from referrals.models import ReferralQueue
from referrals.services import restore_credit_of_released

CREDIT_LIFETIME = timedelta(days=180)
EARN_LOCK = "earn-referral-credit"

NOTICES = {
    "credit.earned": ("Referral credit earned", "You earned {amount} credit for “{title}”."),
    "credit.available": ("Referral credit available", "{amount} credit is yours to spend."),
    "credit.reversed": (
        "Referral credit reversed",
        "{amount} credit for “{title}” was reversed: the unit was not bought after all.",
    ),
}


def earn_referral_credit(*, session: Session, now: datetime) -> dict:
    """Credit the units of queued confirmed commitments, cut at each account's lifetime cap.

    Runs one at a time (a transaction-level advisory lock): the cap is read and written by
    the same statement, and two runs with different batches would both see the earnings
    before either. A concurrent run waits, then takes what is still queued.
    """
    session.execute(select(func.pg_advisory_xact_lock(func.hashtext(EARN_LOCK))))
    batch = list(
        session.scalars(
            select(ReferralQueue.commitment_id)
            .order_by(ReferralQueue.queued_at)
            .limit(current_app.config["REFERRAL_EARN_BATCH"])
            .with_for_update(skip_locked=True)
        )
    )
    if not batch:
        return {"queued": 0, "credited": 0}
    earned = session.execute(
        statements.EARN_CREDIT,
        {
            "commitment_ids": [str(commitment_id) for commitment_id in batch],
            "cap": current_app.config["REFERRAL_CAP_CENTS"],
            "now": now,
        },
    ).all()
    session.execute(delete(ReferralQueue).where(ReferralQueue.commitment_id.in_(batch)))
    _tell(session, "credit.earned", earned)
    return {"queued": len(batch), "credited": sum(row.amount_cents for row in earned)}


def settle_referral_credit(*, session: Session, now: datetime) -> dict:
    """Reverse credit whose unit is gone, make credit of redeemed units available, expire
    available credit after its lifetime, give back credit spent on units paid at the venue
    of deals that failed or were cancelled."""
    reversed_ = session.execute(statements.REVERSE_CREDIT, {"now": now}).all()
    released = session.execute(
        statements.RELEASE_CREDIT, {"now": now, "expires_at": now + CREDIT_LIFETIME}
    ).all()
    expired = session.execute(statements.EXPIRE_CREDIT, {"now": now}).scalar_one()
    # Deals that failed or were cancelled lately (their closing time's index): the credit spent
    # on their released units paid at the venue comes back (withdrawals give it back at once).
    since = now - timedelta(hours=current_app.config["PAYMENT_SWEEP_LOOKBACK_HOURS"])
    restored = restore_credit_of_released(session=session, deal_ids=ended_deals(since), now=now)
    _tell(session, "credit.reversed", reversed_)
    _tell(session, "credit.available", released)
    return {
        "reversed_cents": sum(row.amount_cents for row in reversed_),
        "available_cents": sum(row.amount_cents for row in released),
        "expired": expired,
        "restored_cents": restored,
    }


def _tell(session: Session, kind: str, rows) -> None:
    """One event per account and deal of this run's movement (its first credit names it)."""
    title, body = NOTICES[kind]
    if not rows:
        return
    deal_ids = {row.deal_id for row in rows}
    titles = dict(session.execute(select(Deal.id, Deal.title).where(Deal.id.in_(deal_ids))).all())
    for row in rows:
        amount = f"{row.amount_cents / 100:.2f}"
        deal_title = titles[row.deal_id]
        enqueue(
            session,
            kind=kind,
            recipients=[row.account_id],
            title=title,
            body=body.format(amount=amount, title=deal_title),
            payload={
                "deal_id": str(row.deal_id),
                "amount_cents": row.amount_cents,
                "credit_id": row.first_credit,
            },
            dedupe_key=f"{kind}:{row.first_credit}",
        )


JOBS = {
    "earn-referral-credit": (earn_referral_credit, "JOB_INTERVAL_SECONDS"),
    "settle-referral-credit": (settle_referral_credit, "JOB_INTERVAL_SECONDS"),
}
