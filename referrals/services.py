"""Referral credit verbs: an account's balance, its credit entries, and spending credit on a
commitment (and giving it back when the units are not bought after all).

Each runs in the caller's unit of work (core.db.unit_of_work); the sweeps are in
`referrals.jobs`. An account's balance is the sum of its entries on the ledger's credit
accounts (negative there: owed to the account), so `available_cents` may be below zero when
credit was spent and then reversed.
"""

import uuid
from datetime import datetime

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from accounts.models import Account
from core.db import newest_first
from deals.models import Commitment, CommitmentStatus, Deal, Voucher
from payments import ledger
from payments.models import EntryKind, LedgerAccount, LedgerEntry, Payment
from referrals import statements
from referrals.models import Credit, CreditStatus


def credit_balance(*, session: Session, account: Account) -> dict:
    """The account's `available_cents` and `pending_cents`, from the ledger."""
    totals = dict(
        session.execute(
            select(LedgerEntry.account, -func.sum(LedgerEntry.amount_cents))
            .where(
                LedgerEntry.holder_id == account.id,
                LedgerEntry.account.in_(
                    (LedgerAccount.REFERRAL_CREDIT, LedgerAccount.REFERRAL_CREDIT_PENDING)
                ),
            )
            .group_by(LedgerEntry.account)
        ).all()
    )
    return {
        "available_cents": int(totals.get(LedgerAccount.REFERRAL_CREDIT, 0)),
        "pending_cents": int(totals.get(LedgerAccount.REFERRAL_CREDIT_PENDING, 0)),
    }


def available_credit(*, session: Session, account_id: uuid.UUID) -> int:
    """What the account could spend now (one index range of the ledger; 0 when in debt)."""
    owed = session.scalar(
        select(func.coalesce(-func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.holder_id == account_id,
            LedgerEntry.account == LedgerAccount.REFERRAL_CREDIT,
        )
    )
    return max(int(owed), 0)


def my_credit_entries(*, session: Session, account: Account, limit: int, after=None) -> list:
    """The account's credit entries, newest first."""
    query = select(Credit).where(Credit.account_id == account.id).limit(limit)
    return list(session.scalars(newest_first(query, Credit.created_at, Credit.id, after)))


def spend_credit(
    *,
    session: Session,
    account_id: uuid.UUID,
    commitment_id: uuid.UUID,
    up_to_cents: int,
    deal_id: uuid.UUID,
    merchant_id: uuid.UUID,
    currency: str,
    payment_id: uuid.UUID | None,
    now: datetime,
) -> int:
    """Spend up to `up_to_cents` of the account's available credit on a commitment, oldest
    credit first and never more than the balance; returns what was spent.

    The account's spends are serialized by a transaction-level advisory lock, so two parallel
    commitments never spend one credit twice. A credit spent in part is split: the part spent
    becomes a credit of its own (`split_from`), the remainder stays available with its expiry.
    Each part spent is a ledger transaction `credit-spend:<commitment>:<credit>`.
    """
    session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"credit:{account_id}"))))
    left = min(up_to_cents, available_credit(session=session, account_id=account_id))
    spent = 0
    for credit in session.scalars(
        select(Credit)
        .where(Credit.account_id == account_id, Credit.status == CreditStatus.AVAILABLE)
        .order_by(Credit.expires_at, Credit.created_at, Credit.id)
        .with_for_update()
    ).all():
        if left <= 0:
            break
        part = min(left, credit.amount_cents)
        credit = _part_of(session, credit, part)
        credit.status, credit.spent_on = CreditStatus.SPENT, commitment_id
        session.flush()
        ledger.post(
            session,
            key=f"credit-spend:{commitment_id}:{credit.id}",
            kind=EntryKind.CREDIT_SPENT,
            lines={LedgerAccount.REFERRAL_CREDIT: part, LedgerAccount.CREDIT_APPLIED: -part},
            currency=currency,
            deal_id=deal_id,
            merchant_id=merchant_id,
            payment_id=payment_id,
            now=now,
            holder_id=account_id,
            credit_id=credit.id,
        )
        left -= part
        spent += part
    return spent


def restore_credit(*, session: Session, commitment_ids: list[uuid.UUID], now: datetime) -> int:
    """Give back the credit spent on commitments whose units were not bought after all (the
    hold released or declined, the units refused or released), exactly once: the ledger's
    counter-entry, and the credit available again with its expiry (unless it was reversed
    meanwhile: its debt is then settled). Returns the cents given back."""
    if not commitment_ids:
        return 0
    return session.execute(
        statements.RESTORE_CREDIT,
        {"commitment_ids": [str(commitment_id) for commitment_id in commitment_ids], "now": now},
    ).scalar_one()


def restore_credit_of_released(
    *, session: Session, deal_ids, account_id: uuid.UUID | None = None, now: datetime
) -> int:
    """Give back the credit spent on the released commitments paid at the venue of `deal_ids`
    (a list, or a subquery of deal ids), only `account_id`'s when given."""
    where = [
        Commitment.deal_id.in_(deal_ids),
        Commitment.status == CommitmentStatus.RELEASED,
        Commitment.credit_cents > 0,
        ~exists().where(Payment.commitment_id == Commitment.id),
    ]
    if account_id is not None:
        where.append(Commitment.account_id == account_id)
    released = list(session.scalars(select(Commitment.id).where(*where)))
    return restore_credit(session=session, commitment_ids=released, now=now)


def give_back_unit_credit(
    *,
    session: Session,
    commitment_id: uuid.UUID,
    cents: int,
    key: str,
    paid_to_merchant: bool,
    deal_id: uuid.UUID,
    merchant_id: uuid.UUID,
    currency: str,
    payment_id: uuid.UUID | None,
    now: datetime,
) -> int:
    """A refunded unit paid partly with credit: `cents` of the credit spent on its commitment
    is available again (split off a spent credit where needed, keeping its expiry), taken
    back from the merchant when it was paid to them, else from the credit applied. Each part
    is a ledger transaction `<key>:<credit>`; returns the cents given back."""
    left, given = cents, 0
    source = LedgerAccount.MERCHANT_PAYABLE if paid_to_merchant else LedgerAccount.CREDIT_APPLIED
    for credit in session.scalars(
        select(Credit)
        .where(Credit.spent_on == commitment_id, Credit.status == CreditStatus.SPENT)
        .order_by(Credit.expires_at, Credit.id)
        .with_for_update()
    ).all():
        if left <= 0:
            break
        part = min(left, credit.amount_cents)
        credit = _part_of(session, credit, part)
        credit.status, credit.spent_on = CreditStatus.AVAILABLE, None
        session.flush()
        ledger.post(
            session,
            key=f"{key}:{credit.id}",
            kind=EntryKind.CREDIT_REDEEMED if paid_to_merchant else EntryKind.CREDIT_RESTORED,
            lines={source: part, LedgerAccount.REFERRAL_CREDIT: -part},
            currency=currency,
            deal_id=deal_id,
            merchant_id=merchant_id,
            payment_id=payment_id,
            now=now,
            holder_id=credit.account_id,
            credit_id=credit.id,
        )
        left -= part
        given += part
    return given


def give_back_credit_of_expired(
    *, session: Session, voucher_ids: list[uuid.UUID], now: datetime
) -> int:
    """Vouchers that expired unredeemed, to be paid at the venue partly with credit: nothing
    was bought, so that credit is available again (from the credit applied), once per voucher.
    Returns the cents given back."""
    if not voucher_ids:
        return 0
    unpaid = session.execute(
        select(
            Voucher.id,
            Voucher.commitment_id,
            Voucher.credit_cents,
            Deal.id.label("deal_id"),
            Deal.merchant_id,
            Deal.currency,
        )
        .join(Deal, Deal.id == Voucher.deal_id)
        .where(
            Voucher.id.in_(voucher_ids),
            Voucher.credit_cents > 0,
            ~exists().where(Payment.commitment_id == Voucher.commitment_id),
        )
    ).all()
    return sum(
        give_back_unit_credit(
            session=session,
            commitment_id=voucher.commitment_id,
            cents=voucher.credit_cents,
            key=f"credit-return:{voucher.id}",
            paid_to_merchant=False,
            deal_id=voucher.deal_id,
            merchant_id=voucher.merchant_id,
            currency=voucher.currency,
            payment_id=None,
            now=now,
        )
        for voucher in unpaid
    )


def _part_of(session: Session, credit: Credit, part: int) -> Credit:
    """`credit` itself when `part` is all of it, else a new credit of `part` cents split off
    it (same unit, kind and expiry; the caller sets its status); the rest stays behind."""
    if part == credit.amount_cents:
        return credit
    credit.amount_cents -= part
    split = Credit(
        account_id=credit.account_id,
        kind=credit.kind,
        amount_cents=part,
        deal_id=credit.deal_id,
        voucher_id=credit.voucher_id,
        share_id=credit.share_id,
        created_at=credit.created_at,
        available_at=credit.available_at,
        expires_at=credit.expires_at,
        split_from=credit.split_from or credit.id,
    )
    session.add(split)
    return split


def apply_credit_at_venue(
    *, session: Session, account: Account, commitment, deal: dict, now: datetime
) -> int:
    """Without online payments: spend available credit on a new commitment's units (the price
    to pay at the venue goes down by it, unit by unit); returns what was applied."""
    applied = spend_credit(
        session=session,
        account_id=account.id,
        commitment_id=commitment.id,
        up_to_cents=deal["price_cents"] * commitment.quantity,
        deal_id=commitment.deal_id,
        merchant_id=deal["merchant_id"],
        currency=deal["currency"],
        payment_id=None,
        now=now,
    )
    if applied:
        session.execute(
            update(type(commitment))
            .where(type(commitment).id == commitment.id)
            .values(credit_cents=applied)
        )
        session.execute(statements.ALLOCATE_VOUCHER_CREDIT, {"commitment_id": commitment.id})
        commitment.credit_cents = applied
    return applied


def redeem_credit_of_voucher(*, session: Session, voucher, merchant_id, currency, now) -> None:
    """A voucher paid partly with credit was redeemed: the platform owes its merchant that
    credit (`credit-redeem:<voucher>`, the merchant's payable)."""
    if voucher.credit_cents:
        ledger.post(
            session,
            key=f"credit-redeem:{voucher.id}",
            kind=EntryKind.CREDIT_REDEEMED,
            lines={
                LedgerAccount.CREDIT_APPLIED: voucher.credit_cents,
                LedgerAccount.MERCHANT_PAYABLE: -voucher.credit_cents,
            },
            currency=currency,
            deal_id=voucher.deal_id,
            merchant_id=merchant_id,
            payment_id=None,
            now=now,
        )
