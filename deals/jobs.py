"""Deal sweeps: set-based, idempotent statements that take `now` (run by the scheduler).

The statements are in `deals.statements`.
"""

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.db import any_of
from deals import statements
from deals.alerts import alert_nearby
from deals.models import Deal
from notifications.services import enqueue_select
from referrals.services import give_back_credit_of_expired


def activate_deals(*, session: Session, now: datetime) -> dict:
    """scheduled -> active once `starts_at` has come; then announce every newly open deal.

    A commitment or a PATCH can open a scheduled deal before this job runs, so the
    announcement ("a deal near you") is driven by `announced_at`, not by this run's UPDATE.
    """
    activated = session.execute(statements.activate_started_deals(now)).scalars().all()
    announced = session.execute(statements.mark_open_deals_announced(now)).scalars().all()
    alerts = (
        alert_nearby(session, deal_filter=any_of(Deal.id, announced), reason="opened", now=now)
        if announced
        else 0
    )
    return {"activated": len(activated), "nearby_alerts": alerts}


def close_deals(*, session: Session, now: datetime) -> dict:
    """At `ends_at`: tipped -> closed, active (or never activated) -> failed, releasing commitments.

    One UPDATE decides every deal's fate, so concurrent or repeated runs transition each deal
    once; events carry dedupe keys, so they are enqueued once. Each outcome is one group event
    (not one row per committer), fanned out to the recipients by the dispatcher.

    Two statements, because every part of one statement reads one snapshot: a commitment whose
    transaction held a deal's row when the sweep began is waited for by the UPDATE, but stays
    invisible to a release or an audience in the same statement. The second statement starts
    after the UPDATE has waited for every such commit, so its snapshot sees each of them. It finds
    this run's deals by `closed_at` (indexed) rather than as ids sent to Python and back.
    """
    # The per-deal audience subqueries make the event INSERTs look expensive to the planner
    # (cost ~1.3M for 50k deals), so PostgreSQL JIT-compiled each: ~0.7 s apiece of inlining
    # and optimisation (EXPLAIN ANALYZE) for plans that are index lookups.
    session.execute(text("SET LOCAL jit = off"))
    counts = session.execute(statements.close_or_fail_ended_deals(now)).one()._asdict()
    counts.update(released_commitments=0, events=0)
    if counts["closed"] or counts["failed"]:
        counts.update(_settle_ended(session, now))
    return counts


def _settle_ended(session: Session, now: datetime) -> dict:
    """Release the commitments of the deals this run failed and tell every outcome's audience."""
    return (
        session.execute(statements.release_failed_deals_commitments_and_tell_outcomes(now))
        .one()
        ._asdict()
    )


def deal_reminders(*, session: Session, now: datetime) -> dict:
    """`deal.ending_soon` to the committers of untipped deals ending within the lead time, once."""
    lead = timedelta(minutes=current_app.config["REMINDER_LEAD_MINUTES"])
    rows = statements.ending_soon_reminders(now, lead)
    reminded = enqueue_select(session, kind="deal.ending_soon", rows=rows)
    return {"reminded": reminded}


def expire_vouchers(*, session: Session, now: datetime) -> dict:
    """issued -> expired after `redeem_until`; credit applied to an expired unit that was to
    be paid at the venue comes back to its account (the unit was never bought)."""
    expired = session.execute(statements.expire_issued_vouchers(now)).all()
    with_credit = [voucher.id for voucher in expired if voucher.credit_cents]
    restored = give_back_credit_of_expired(session=session, voucher_ids=with_credit, now=now)
    return {"expired": len(expired), "credit_restored_cents": restored}


JOBS = {
    "activate-deals": (activate_deals, "JOB_INTERVAL_SECONDS"),
    "close-deals": (close_deals, "JOB_INTERVAL_SECONDS"),
    "expire-vouchers": (expire_vouchers, "JOB_INTERVAL_SECONDS"),
    "deal-reminders": (deal_reminders, "JOB_INTERVAL_SECONDS"),
}
