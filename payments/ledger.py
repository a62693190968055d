"""The double-entry ledger: balanced transactions in integer minor units, recorded once.

A transaction is its key (`capture:<payment id>`, `refund:<refund id>`, ...) and one entry per
account it moves; the entries sum to zero (checked here, and by the database at commit). The
key and account are unique together, so recording a transaction again inserts nothing: a
retried job or a repeated webhook cannot count money twice.

The platform fee is taken per payment: `PLATFORM_FEE_PERCENT` of the amount captured, rounded
half up to the cent. A refund gives back the part of the fee that the payment no longer owes,
`fee(paid before) - fee(paid after)`, so however a payment is refunded its fee is always the fee
of what is left, and a full refund gives the whole fee back.
"""

import uuid
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from payments.models import CREDIT_ACCOUNTS, EntryKind, LedgerAccount, LedgerEntry

_POST = (
    insert(LedgerEntry)
    .values(
        {
            "transaction_key": bindparam("entry_key"),
            "kind": bindparam("entry_kind"),
            "account": bindparam("entry_account"),
            "amount_cents": bindparam("entry_amount"),
            "currency": bindparam("entry_currency"),
            "payment_id": bindparam("entry_payment_id"),
            "deal_id": bindparam("entry_deal_id"),
            "merchant_id": bindparam("entry_merchant_id"),
            "holder_id": bindparam("entry_holder_id"),
            "credit_id": bindparam("entry_credit_id"),
            "created_at": bindparam("entry_created_at"),
        }
    )
    .on_conflict_do_nothing(index_elements=["transaction_key", "account"])
    .returning(LedgerEntry.id)
)


def fee_percent(value) -> Decimal:
    """`PLATFORM_FEE_PERCENT` as a Decimal in [0, 100] with at most two decimals."""
    try:
        percent = Decimal(str(value))
    except InvalidOperation as exc:
        raise RuntimeError(f"PLATFORM_FEE_PERCENT is not a number: {value!r}") from exc
    if not Decimal(0) <= percent <= Decimal(100) or percent != percent.quantize(Decimal("0.01")):
        raise RuntimeError(f"PLATFORM_FEE_PERCENT must be 0-100 with two decimals: {value!r}")
    return percent


def fee_cents(amount_cents: int, percent: Decimal) -> int:
    """The platform fee of `amount_cents`: `percent` of it, rounded half up to the cent."""
    return int((Decimal(amount_cents) * percent / 100).quantize(Decimal(1), ROUND_HALF_UP))


def post(
    session: Session,
    *,
    key: str,
    kind: EntryKind,
    lines: dict[LedgerAccount, int],
    currency: str,
    deal_id: uuid.UUID,
    merchant_id: uuid.UUID,
    payment_id: uuid.UUID | None,
    now: datetime,
    holder_id: uuid.UUID | None = None,
    credit_id: uuid.UUID | None = None,
) -> bool:
    """Record transaction `key` (amount per account, summing to zero; zero lines are left out)
    in the caller's unit of work; whether it was new. The lines on the credit accounts name
    `holder_id`, the account whose credit moves, and `credit_id`, the credit."""
    if sum(lines.values()) != 0:
        raise ValueError(f"ledger transaction {key} does not balance: {lines}")
    rows = [
        {
            "entry_key": key,
            "entry_kind": kind,
            "entry_account": account,
            "entry_amount": amount,
            "entry_currency": currency,
            "entry_payment_id": payment_id,
            "entry_deal_id": deal_id,
            "entry_merchant_id": merchant_id,
            "entry_holder_id": holder_id if account in CREDIT_ACCOUNTS else None,
            "entry_credit_id": credit_id,
            "entry_created_at": now,
        }
        for account, amount in lines.items()
        if amount
    ]
    if not rows:
        return False
    return bool(session.execute(_POST, rows).all())


def balance(session: Session, *, payment_id: uuid.UUID, account: LedgerAccount) -> int:
    """The sum of one payment's entries on `account`."""
    return session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.payment_id == payment_id, LedgerEntry.account == account
        )
    )
