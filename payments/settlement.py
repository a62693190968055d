"""Moving money at the provider and recording it, one payment at a time.

Every operation here is safe to repeat: the provider's idempotency keys are derived from our
ids, what the provider already did is read back when a repeated call is refused (a capture of
a captured hold), ledger transactions are recorded once by their keys, and vouchers once per
commitment. The caller holds the payment's row lock (a job's claim, the webhook's lookup), so
two of them never settle the same payment at once; no deal row is locked while the provider is
called.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from accounts.models import Account
from core.db import unit_of_work
from core.errors import NotFound
from deals.errors import DealNotOpen, PerUserLimit, SoldOut
from deals.models import Commitment, CommitmentStatus
from deals.services import commit_units, issue_paid_vouchers
from notifications.services import enqueue
from payments import ledger, statements
from payments.errors import PaymentExpired
from payments.models import (
    UNFINISHED_STATUSES,
    EntryKind,
    LedgerAccount,
    LedgerEntry,
    Payment,
    PaymentMethodKind,
    PaymentRefund,
    PaymentStatus,
    RefundStatus,
)
from payments.providers import (
    IntentStatus,
    PaymentDeclined,
    PaymentProvider,
    ProviderError,
    ProviderIntent,
    ProviderRefused,
    ProviderUnavailable,
)
from referrals.services import give_back_unit_credit, restore_credit

logger = logging.getLogger("schwarm.payments")

# What the deal may answer when the units are taken: the card's hold is then cancelled.
UNITS_REFUSED = (DealNotOpen, SoldOut, PerUserLimit, NotFound)
GONE = (IntentStatus.CANCELED, IntentStatus.FAILED)


@contextmanager
def on_its_own() -> Iterator[Session]:
    """A unit of work on a session of its own, not the request's: what it records is durable
    before the provider is called, whatever becomes of the request."""
    session = current_app.extensions["db_sessionmaker"]()
    try:
        with unit_of_work(session):
            yield session
    finally:
        session.close()


def take_units(
    session: Session, payment: Payment, *, now: datetime, account: Account | None = None
) -> tuple[Commitment, dict]:
    """Take the units of a payment whose card is authorised (or saved), in a savepoint of the
    caller's transaction: the payment becomes `held`/`saved` with its hold in the ledger only
    if the deal takes the units. Raises what the deal answers (see UNITS_REFUSED), with the
    savepoint rolled back, and PaymentExpired if the payment was settled meanwhile."""
    taken = PaymentStatus.HELD if payment.method == PaymentMethodKind.HOLD else PaymentStatus.SAVED
    account = account or session.get(Account, payment.account_id)
    with session.begin_nested():
        claimed = session.execute(
            statements.MARK_UNITS_TAKEN,
            {
                "taken_payment_id": payment.id,
                "taken_status": taken,
                "taken_at": now,
                "taken_payment_method": payment.payment_method,
            },
        ).scalar_one_or_none()
        if claimed is None:
            raise PaymentExpired(
                "This payment no longer waits for its units (taken or released meanwhile)."
            )
        if payment.method == PaymentMethodKind.HOLD:
            _post(
                session,
                payment,
                f"hold:{payment.id}",
                EntryKind.HOLD,
                _hold_lines(payment.amount_cents),
                now,
            )
        commitment, deal = commit_units(
            session=session,
            deal_id=payment.deal_id,
            account=account,
            quantity=payment.quantity,
            now=now,
            share_code=payment.share_code,
            share=payment.share,
            paid_commitment_id=payment.commitment_id,
        )
        confirmed = commitment.status == CommitmentStatus.CONFIRMED
        if confirmed and payment.due_at is None:
            # This commitment tipped the deal (or the deal tipped since we looked): everything
            # held on it is due, this payment included.
            session.execute(statements.mark_deal_payments_due(payment.deal_id, now))
    payment.status, payment.authorised_at = taken, now
    if confirmed and payment.due_at is None:
        payment.due_at = now
    return commitment, deal


def release_unfinished(
    session: Session, gateway: PaymentProvider, payment: Payment, *, now: datetime
) -> bool:
    """Cancel the intent of a payment whose units were never taken and record it cancelled;
    False if the provider could not be reached (the release job tries again)."""
    try:
        gateway.cancel(payment.provider_ref, key=f"{payment.id}:cancel")
    except ProviderRefused:  # already cancelled, or failed: read what it is
        if gateway.retrieve(payment.provider_ref).status not in GONE:
            return False
    except ProviderUnavailable:
        logger.warning("payment %s: cannot cancel its intent yet", payment.id)
        return False
    session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status.in_(UNFINISHED_STATUSES))
        .values(status=PaymentStatus.CANCELLED, released_at=now, settled_at=now)
    )
    restore_credit(session=session, commitment_ids=[payment.commitment_id], now=now)
    payment.status = PaymentStatus.CANCELLED
    return True


def capture(session: Session, gateway: PaymentProvider, payment: Payment, *, now: datetime) -> str:
    """Take the money of a due payment: capture its hold, or charge its saved card off-session.
    Returns `captured`, `failed` (the customer is told and has time to fix it) or `retry`."""
    if payment.method == PaymentMethodKind.HOLD:
        try:
            intent = gateway.capture(payment.provider_ref, key=f"{payment.id}:capture")
        except ProviderRefused:  # captured before (a run that died before recording), or lapsed
            intent = _retrieve(gateway, payment.provider_ref)
        except ProviderUnavailable:
            return "retry"
        return _settle_charge(session, payment, intent, now=now, lapsed="The card hold lapsed.")
    if payment.charge_ref:  # a charge was made and not settled: read it, never charge twice
        intent = _retrieve(gateway, payment.charge_ref)
        return _settle_charge(session, payment, intent, now=now, lapsed="The charge failed.")
    attempt = payment.charge_attempts + 1
    try:
        intent = gateway.charge(
            reference=str(payment.id),
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            customer=payment.provider_customer,
            payment_method=payment.payment_method,
            off_session=True,
            key=f"{payment.id}:charge:{attempt}",
        )
    except PaymentDeclined as declined:
        payment.charge_attempts = attempt
        charge_failed(session, payment, now=now, error=str(declined), charge_ref=declined.intent_id)
        return "failed"
    except ProviderError:
        return "retry"
    payment.charge_attempts, payment.charge_ref = attempt, intent.id
    return _settle_charge(session, payment, intent, now=now, lapsed="The charge failed.")


def _retrieve(gateway: PaymentProvider, intent_id: str) -> ProviderIntent | None:
    try:
        return gateway.retrieve(intent_id)
    except ProviderError:
        return None


def _settle_charge(
    session: Session, payment: Payment, intent: ProviderIntent | None, *, now, lapsed: str
) -> str:
    if intent is None or intent.status == IntentStatus.PROCESSING:
        return "retry"
    if intent.status == IntentStatus.SUCCEEDED:
        record_capture(session, payment, now=now)
        return "captured"
    if intent.status == IntentStatus.AUTHORISED:  # a hold not captured yet
        return "retry"
    reason = (
        "The bank asks the customer to confirm."
        if intent.status == IntentStatus.REQUIRES_ACTION
        else lapsed
    )
    charge_failed(session, payment, now=now, error=reason)
    return "failed"


def record_capture(session: Session, payment: Payment, *, now: datetime) -> None:
    """Record that the payment's money was taken: the ledger (hold reversed, money at the
    provider, the merchant's share and the platform fee), the payment, and its vouchers."""
    percent = ledger.fee_percent(current_app.config["PLATFORM_FEE_PERCENT"])
    amount = payment.amount_cents
    fee = ledger.fee_cents(amount, percent)
    hold = ledger.balance(session, payment_id=payment.id, account=LedgerAccount.CARD_HOLDS)
    lines = {
        **_hold_lines(-hold),
        LedgerAccount.PROVIDER_BALANCE: amount,
        LedgerAccount.MERCHANT_PAYABLE: fee - amount,
        LedgerAccount.PLATFORM_FEES: -fee,
    }
    _post(session, payment, f"capture:{payment.id}", EntryKind.CAPTURE, lines, now)
    # Credit spent on the payment is now the merchant's too, owed by the platform.
    credit = -ledger.balance(session, payment_id=payment.id, account=LedgerAccount.CREDIT_APPLIED)
    credit_lines = {LedgerAccount.CREDIT_APPLIED: credit, LedgerAccount.MERCHANT_PAYABLE: -credit}
    key = f"credit-redeem:{payment.id}"
    _post(session, payment, key, EntryKind.CREDIT_REDEEMED, credit_lines, now)
    payment.status, payment.captured_at, payment.settled_at = PaymentStatus.CAPTURED, now, now
    payment.fee_percent, payment.last_error = percent, None
    session.flush()
    issue_paid_vouchers(session=session, commitment_id=payment.commitment_id)


def charge_failed(
    session: Session,
    payment: Payment,
    *,
    now: datetime,
    error: str,
    charge_ref: str | None = None,
) -> None:
    """The money could not be taken at the tip: no hold is left, and the customer is told they
    have `PAYMENT_FIX_HOURS` to fix it before the units are released."""
    _release_hold_in_ledger(session, payment, now)
    payment.status, payment.failed_at, payment.last_error = PaymentStatus.CHARGE_FAILED, now, error
    if charge_ref:
        payment.charge_ref = charge_ref
    fix_by = now + timedelta(hours=current_app.config["PAYMENT_FIX_HOURS"])
    enqueue(
        session,
        kind="payment.failed",
        recipients=[payment.account_id],
        title="Your payment did not go through",
        body=f"{error} Confirm a card by {fix_by:%Y-%m-%d %H:%M} UTC to keep your units.",
        payload={
            "payment_id": str(payment.id),
            "deal_id": str(payment.deal_id),
            "fix_by": fix_by.isoformat(),
        },
        dedupe_key=f"payment.failed:{payment.id}:{payment.charge_attempts}",
    )
    session.flush()


def release(session: Session, gateway: PaymentProvider, payment: Payment, *, now: datetime) -> str:
    """Cancel what a payment whose units were released holds at the provider and record it
    cancelled (its hold reversed in the ledger). Returns `cancelled`, `captured` (the provider
    had taken the money after all: it is recorded, and refunded as a void unit) or `retry`."""
    for ref in (payment.provider_ref, payment.charge_ref):
        if not ref:
            continue
        try:
            intent = gateway.cancel(ref, key=f"{payment.id}:cancel:{ref}")
        except ProviderRefused:  # cancelled before, or in a state that cannot be cancelled
            intent = _retrieve(gateway, ref)
        except ProviderUnavailable:
            return "retry"
        if intent is not None and intent.status == IntentStatus.SUCCEEDED:
            record_capture(session, payment, now=now)
            return "captured"
        # A saved card holds no money: a SetupIntent that succeeded is left as it is.
        saved_card = ref.startswith("seti_") and intent is not None
        if intent is None or not (intent.status in GONE or saved_card):
            return "retry"
    _release_hold_in_ledger(session, payment, now)
    restore_credit(session=session, commitment_ids=[payment.commitment_id], now=now)
    payment.status, payment.released_at, payment.settled_at = PaymentStatus.CANCELLED, now, now
    session.flush()
    return "cancelled"


def refund(
    session: Session,
    gateway: PaymentProvider,
    pending: PaymentRefund,
    payment: Payment,
    *,
    now: datetime,
) -> str:
    """Pay one unit back at the provider (once: a refund made before a crash is found by its
    metadata) and record it. Returns `refunded` or `retry`."""
    paid_by = payment.charge_ref or payment.provider_ref
    try:
        made = gateway.find_refund(paid_by, reference=str(pending.id)) or gateway.refund(
            paid_by,
            amount_cents=pending.amount_cents,
            reference=str(pending.id),
            key=f"refund:{pending.id}",
        )
    except ProviderError as error:
        logger.warning("refund %s: not made yet: %s", pending.id, error)
        return "retry"
    paid = ledger.balance(session, payment_id=payment.id, account=LedgerAccount.PROVIDER_BALANCE)
    fee_so_far = -ledger.balance(
        session, payment_id=payment.id, account=LedgerAccount.PLATFORM_FEES
    )
    fee_left = ledger.fee_cents(paid - pending.amount_cents, payment.fee_percent)
    fee_back = fee_so_far - fee_left
    lines = {
        LedgerAccount.PROVIDER_BALANCE: -pending.amount_cents,
        LedgerAccount.MERCHANT_PAYABLE: pending.amount_cents - fee_back,
        LedgerAccount.PLATFORM_FEES: fee_back,
    }
    _post(session, payment, f"refund:{pending.id}", EntryKind.REFUND, lines, now)
    pending.status, pending.provider_ref, pending.refunded_at = RefundStatus.SUCCEEDED, made.id, now
    session.flush()
    _give_back_credit_of_refunded_units(session, payment, pending, now)
    return "refunded"


def _give_back_credit_of_refunded_units(session, payment, pending, now) -> None:
    """The credit share of the units refunded so far (spent credit x refunded / quantity,
    rounded down, so all units refunded give it all back) is available to the customer again,
    taken back from the merchant."""
    credit_totals = session.execute(
        select(
            func.coalesce(
                func.sum(
                    case(
                        (LedgerEntry.kind == EntryKind.CREDIT_SPENT, LedgerEntry.amount_cents),
                        else_=0,
                    )
                ),
                0,
            ),
            func.coalesce(
                -func.sum(
                    case(
                        (LedgerEntry.kind == EntryKind.CREDIT_REDEEMED, LedgerEntry.amount_cents),
                        else_=0,
                    )
                ),
                0,
            ),
        ).where(
            LedgerEntry.payment_id == payment.id,
            LedgerEntry.account == LedgerAccount.REFERRAL_CREDIT,
        )
    ).one()
    spent, given_back = credit_totals
    if not spent:
        return
    refunded_units = session.scalar(
        select(func.count()).where(
            PaymentRefund.payment_id == payment.id, PaymentRefund.status == RefundStatus.SUCCEEDED
        )
    )
    due = spent * refunded_units // payment.quantity - given_back
    if due > 0:
        give_back_unit_credit(
            session=session,
            commitment_id=payment.commitment_id,
            cents=due,
            key=f"credit-return:{pending.id}",
            paid_to_merchant=True,
            deal_id=payment.deal_id,
            merchant_id=payment.merchant_id,
            currency=payment.currency,
            payment_id=payment.id,
            now=now,
        )


def reconcile(
    session: Session, gateway: PaymentProvider, payment: Payment, *, now: datetime
) -> list[str]:
    """Bring the payment in line with what the provider says now (the webhook's answer to any
    event, whatever its order, and the daily reconciliation's); returns the differences found,
    each already repaired unless it says it needs a person."""
    status = payment.status
    if status in UNFINISHED_STATUSES:
        intent = _retrieve(gateway, payment.provider_ref)
        if intent is not None and intent.status == IntentStatus.AUTHORISED:
            try:
                take_units(session, payment, now=now)
            except UNITS_REFUSED:
                release_unfinished(session, gateway, payment, now=now)
            except PaymentExpired:
                pass
        elif intent is not None and intent.status in GONE:
            release_unfinished(session, gateway, payment, now=now)
        return []
    if status == PaymentStatus.HELD:
        return _reconcile_hold(session, gateway, payment, now)
    if status == PaymentStatus.CHARGE_FAILED and payment.charge_ref:
        intent = _retrieve(gateway, payment.charge_ref)
        if intent is not None and intent.status == IntentStatus.SUCCEEDED:
            record_capture(session, payment, now=now)
            return [f"payment {payment.id}: the fixed charge was taken but not recorded; recorded"]
        return []
    if status == PaymentStatus.CAPTURED:
        return _compare_captured(session, gateway, payment)
    if status == PaymentStatus.CANCELLED:
        return _reconcile_cancelled(gateway, payment)
    return []


def _reconcile_hold(session, gateway, payment, now) -> list[str]:
    intent = _retrieve(gateway, payment.provider_ref)
    if intent is None:
        return []
    if intent.status == IntentStatus.SUCCEEDED:
        record_capture(session, payment, now=now)
        return [f"payment {payment.id}: captured at the provider but not recorded; recorded"]
    if intent.status in GONE:
        if payment.due_at is None:  # the capture at the tip will ask the customer for a card
            return [f"payment {payment.id}: the hold lapsed at the provider before the tip"]
        charge_failed(session, payment, now=now, error="The card hold lapsed.")
        return [f"payment {payment.id}: the hold lapsed at the provider; the customer is told"]
    if intent.amount_cents != payment.amount_cents:
        return [
            f"payment {payment.id}: holds {intent.amount_cents} at the provider, "
            f"{payment.amount_cents} here (needs a person)"
        ]
    return []


def _compare_captured(session, gateway, payment) -> list[str]:
    intent = _retrieve(gateway, payment.charge_ref or payment.provider_ref)
    if intent is None:
        return []
    paid = ledger.balance(session, payment_id=payment.id, account=LedgerAccount.PROVIDER_BALANCE)
    provider_paid = intent.captured_cents - intent.refunded_cents
    if provider_paid != paid:
        return [
            f"payment {payment.id}: {provider_paid} kept at the provider, {paid} in the ledger "
            "(needs a person)"
        ]
    return []


def _reconcile_cancelled(gateway, payment) -> list[str]:
    differences = []
    for ref in (payment.provider_ref, payment.charge_ref):
        intent = _retrieve(gateway, ref) if ref else None
        if intent is None:
            continue
        if intent.status == IntentStatus.AUTHORISED and not ref.startswith("seti_"):
            try:
                gateway.cancel(ref, key=f"{payment.id}:cancel:{ref}")
                differences.append(f"payment {payment.id}: a hold was left behind; cancelled")
            except ProviderError:
                differences.append(f"payment {payment.id}: a hold is left behind (retrying)")
        elif intent.status == IntentStatus.SUCCEEDED:
            differences.append(
                f"payment {payment.id}: money taken for released units (needs a person)"
            )
    return differences


def _hold_lines(amount: int) -> dict:
    return {LedgerAccount.CARD_HOLDS: amount, LedgerAccount.HELD_FOR_CUSTOMERS: -amount}


def _release_hold_in_ledger(session: Session, payment: Payment, now: datetime) -> None:
    hold = ledger.balance(session, payment_id=payment.id, account=LedgerAccount.CARD_HOLDS)
    if hold:
        key = f"hold-release:{payment.id}"
        _post(session, payment, key, EntryKind.HOLD_RELEASE, _hold_lines(-hold), now)


def _post(session: Session, payment: Payment, key: str, kind: EntryKind, lines: dict, now) -> bool:
    return ledger.post(
        session,
        key=key,
        kind=kind,
        lines=lines,
        currency=payment.currency,
        deal_id=payment.deal_id,
        merchant_id=payment.merchant_id,
        payment_id=payment.id,
        now=now,
    )
