"""The SQL of checkout: the deal's terms before paying, the claims of the jobs (each served by a
partial index of a small set), the sweeps of ended deals and the merchant's statement.

Bind parameters are never named like a column of a table a statement writes (see
deals.statements).
"""

from sqlalchemy import (
    String,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert

from deals.models import (
    Commitment,
    CommitmentStatus,
    Deal,
    DealParticipant,
    DealStatus,
    Voucher,
    VoucherStatus,
)
from payments.models import (
    UNCAPTURED_STATUSES,
    UNFINISHED_STATUSES,
    EntryKind,
    LedgerAccount,
    LedgerEntry,
    Payment,
    PaymentRefund,
    PaymentStatus,
    RefundReason,
    RefundStatus,
)

# What a commitment will cost, and whether it could be taken at all, read before the card is
# touched (the conditional UPDATE decides; this only spares holds that would surely be refused).
DEAL_TERMS = (
    select(
        Deal.id,
        Deal.merchant_id,
        Deal.price_cents,
        Deal.currency,
        Deal.status,
        Deal.starts_at,
        Deal.ends_at,
        Deal.tipped_at,
        Deal.max_commitments,
        Deal.committed_count,
        Deal.per_user_limit,
        func.coalesce(
            select(DealParticipant.open_quantity)
            .where(
                DealParticipant.deal_id == Deal.id,
                DealParticipant.account_id == bindparam("committer_id"),
            )
            .scalar_subquery(),
            0,
        ).label("open_quantity"),
    )
    .where(Deal.id == bindparam("terms_deal_id"))
    .limit(1)
)

# The units are taken in the same transaction: the payment holds or saved the card for them.
MARK_UNITS_TAKEN = (
    update(Payment)
    .where(
        Payment.id == bindparam("taken_payment_id"),
        Payment.status.in_(UNFINISHED_STATUSES),
    )
    .values(
        status=bindparam("taken_status"),
        authorised_at=bindparam("taken_at"),
        payment_method=bindparam("taken_payment_method"),
    )
    .returning(Payment.id)
)


def mark_deal_payments_due(deal_id, now):
    """The tip: every held or saved payment of the deal is due for capture now."""
    return (
        update(Payment)
        .where(
            Payment.deal_id == deal_id,
            Payment.status.in_(UNCAPTURED_STATUSES),
            Payment.due_at.is_(None),
        )
        .values(due_at=now)
    )


def _claim(*where, order_by, limit: int):
    return (
        select(Payment)
        .where(*where)
        .order_by(order_by)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def due_captures(now, limit: int, only=None):
    """Held or saved payments due for capture (locked, skipping those another run holds)."""
    where = [Payment.status.in_(UNCAPTURED_STATUSES), Payment.due_at <= now]
    if only is not None:
        where.append(Payment.id.in_(only))
    return _claim(*where, order_by=Payment.due_at, limit=limit)


def releases(limit: int, only=None):
    """Payments whose units were released: their holds are to be cancelled."""
    where = [Payment.status == PaymentStatus.RELEASING]
    if only is not None:
        where.append(Payment.id.in_(only))
    return _claim(*where, order_by=Payment.created_at, limit=limit)


def abandoned_intents(before, limit: int):
    """Payments the customer never finished (or whose request died) since `before`."""
    return _claim(
        Payment.status.in_(UNFINISHED_STATUSES),
        Payment.created_at < before,
        order_by=Payment.created_at,
        limit=limit,
    )


def unfixed_charges(before, limit: int):
    """Failed charges not fixed since `before`: their units are to be released."""
    return _claim(
        Payment.status == PaymentStatus.CHARGE_FAILED,
        Payment.failed_at < before,
        order_by=Payment.failed_at,
        limit=limit,
    )


def pending_refunds(limit: int, only=None):
    """Refunds the provider has not paid yet (locked with their payment)."""
    where = [PaymentRefund.status == RefundStatus.PENDING]
    if only is not None:
        where.append(PaymentRefund.id.in_(only))
    return (
        select(PaymentRefund, Payment)
        .join(Payment, Payment.id == PaymentRefund.payment_id)
        .where(*where)
        .order_by(PaymentRefund.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def to_reconcile(settled_since, held_before, limit: int, after=None):
    """What the daily reconciliation compares with the provider, oldest first after `after`
    (created_at, id): holds older than a hold may live, and payments settled (captured or
    cancelled) since `settled_since`."""
    query = select(Payment).where(
        (Payment.settled_at >= settled_since)
        | and_(Payment.status == PaymentStatus.HELD, Payment.authorised_at < held_before)
    )
    if after is not None:
        query = query.where(tuple_(Payment.created_at, Payment.id) > tuple_(*after))
    return (
        query.order_by(Payment.created_at, Payment.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def ended_deals(since):
    """Deals failed or cancelled since `since` (the closing-time index)."""
    return (
        select(Deal.id)
        .where(
            Deal.closed_at >= since,
            Deal.status.in_((DealStatus.FAILED, DealStatus.CANCELLED)),
        )
        .scalar_subquery()
    )


def release_payments_of_ended_deals(since):
    """Held, saved or unpaid payments of deals that failed or were cancelled: to release."""
    return (
        update(Payment)
        .where(
            Payment.deal_id.in_(ended_deals(since)),
            Payment.status.in_((*UNCAPTURED_STATUSES, PaymentStatus.CHARGE_FAILED)),
        )
        .values(status=PaymentStatus.RELEASING)
        .returning(Payment.id)
    )


def release_payments_of_released_commitments(deal_id, account_id):
    """Held or saved payments of one account's commitments on a deal that were released."""
    return (
        update(Payment)
        .where(
            Payment.deal_id == deal_id,
            Payment.account_id == account_id,
            Payment.status.in_(UNCAPTURED_STATUSES),
            exists().where(
                Commitment.id == Payment.commitment_id,
                Commitment.status == CommitmentStatus.RELEASED,
            ),
        )
        .values(status=PaymentStatus.RELEASING)
        .returning(Payment.id)
    )


def release_payments_of_deal(deal_id):
    """Every payment of a cancelled deal not captured yet: to release."""
    return (
        update(Payment)
        .where(
            Payment.deal_id == deal_id,
            Payment.status.in_((*UNCAPTURED_STATUSES, PaymentStatus.CHARGE_FAILED)),
        )
        .values(status=PaymentStatus.RELEASING)
        .returning(Payment.id)
    )


def refund_void_units(deal_filter):
    """A pending refund for each void voucher (its deal was cancelled) of a captured payment of
    the deals `deal_filter` selects, unless it has one; returns the refunds' ids."""
    unit_price = Payment.amount_cents // Payment.quantity
    return (
        insert(PaymentRefund)
        .from_select(
            ["payment_id", "voucher_id", "amount_cents", "status", "reason"],
            select(
                Payment.id,
                Voucher.id,
                unit_price,
                literal(RefundStatus.PENDING.value, String),
                literal(RefundReason.DEAL_CANCELLED.value, String),
            )
            .join(Voucher, Voucher.commitment_id == Payment.commitment_id)
            .where(
                deal_filter,
                Payment.status == PaymentStatus.CAPTURED,
                Voucher.status == VoucherStatus.VOID,
            ),
        )
        .on_conflict_do_nothing(index_elements=["voucher_id"])
        .returning(PaymentRefund.id)
    )


def _column(account: LedgerAccount, kind: EntryKind | None = None, sign: int = 1):
    condition = LedgerEntry.account == account
    if kind is not None:
        condition = and_(condition, LedgerEntry.kind == kind)
    total = func.coalesce(func.sum(case((condition, LedgerEntry.amount_cents), else_=0)), 0)
    return total if sign > 0 else -total


STATEMENT_COLUMNS = {
    "gross_paid_cents": _column(LedgerAccount.PROVIDER_BALANCE, EntryKind.CAPTURE),
    "refunds_cents": _column(LedgerAccount.PROVIDER_BALANCE, EntryKind.REFUND, -1),
    "referral_commissions_cents": _column(
        LedgerAccount.MERCHANT_PAYABLE, EntryKind.REFERRAL_COMMISSION
    ),
    "credit_redeemed_cents": _column(LedgerAccount.MERCHANT_PAYABLE, EntryKind.CREDIT_REDEEMED, -1),
    "platform_fee_cents": _column(LedgerAccount.PLATFORM_FEES, sign=-1),
    "payable_cents": _column(LedgerAccount.MERCHANT_PAYABLE, sign=-1),
}

# A merchant's money per deal over [statement_from, statement_to): one range of the
# (merchant_id, created_at) index, holds left out (they move no money).
MERCHANT_STATEMENT = (
    select(
        LedgerEntry.deal_id,
        Deal.title,
        LedgerEntry.currency,
        *(column.label(name) for name, column in STATEMENT_COLUMNS.items()),
    )
    .join(Deal, Deal.id == LedgerEntry.deal_id)
    .where(
        LedgerEntry.merchant_id == bindparam("statement_merchant_id"),
        LedgerEntry.created_at >= bindparam("statement_from", type_=LedgerEntry.created_at.type),
        LedgerEntry.created_at < bindparam("statement_to", type_=LedgerEntry.created_at.type),
        LedgerEntry.account.in_(
            (
                LedgerAccount.PROVIDER_BALANCE,
                LedgerAccount.MERCHANT_PAYABLE,
                LedgerAccount.PLATFORM_FEES,
            )
        ),
    )
    .group_by(LedgerEntry.deal_id, Deal.title, LedgerEntry.currency)
    .order_by(func.min(LedgerEntry.created_at), LedgerEntry.deal_id)
)
