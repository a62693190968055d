"""Referral credit verbs: an account's balance and its credit entries.

Each runs in the caller's unit of work (core.db.unit_of_work); the sweeps are in
`referrals.jobs`.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import Account
from core.db import newest_first
from referrals.models import Credit, CreditStatus


def credit_balance(*, session: Session, account: Account) -> dict:
    """The account's `available_cents` and `pending_cents`."""
    totals = dict(
        session.execute(
            select(Credit.status, func.sum(Credit.amount_cents))
            .where(
                Credit.account_id == account.id,
                Credit.status.in_((CreditStatus.AVAILABLE, CreditStatus.PENDING)),
            )
            .group_by(Credit.status)
        ).all()
    )
    return {
        "available_cents": totals.get(CreditStatus.AVAILABLE, 0),
        "pending_cents": totals.get(CreditStatus.PENDING, 0),
    }


def my_credit_entries(*, session: Session, account: Account, limit: int, after=None) -> list:
    """The account's credit entries, newest first."""
    query = select(Credit).where(Credit.account_id == account.id).limit(limit)
    return list(session.scalars(newest_first(query, Credit.created_at, Credit.id, after)))
