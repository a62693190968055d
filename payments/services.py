"""Checkout verbs: commit with a card, confirm a payment, withdraw, cancel, refund, the
statement, the provider's webhook.

With `PAYMENT_PROVIDER=none` committing is exactly `deals.services.commit_units` (nothing is
paid online; vouchers are paid at the venue). With a provider, a commitment is paid in steps,
because the provider must never be called while the deal's row is locked:

1. an unconfirmed intent is made at the provider (nothing held yet) and recorded as a payment
   in a unit of work of its own, so from here on a crash leaves a row the release job finds;
2. the intent is confirmed (the card is authorised, or saved for a long deal) outside any
   transaction: a decline answers 402 with the payment forgotten;
3. the request's own transaction marks the payment `held`/`saved` and takes the units with the
   deal's one conditional statement; units refused cancel the hold before the refusal answers.

The money moves later, in the jobs (payments.jobs) and right after the response where it can
(`settle_after_response`).
"""

import logging
import uuid
from datetime import datetime, timedelta

from flask import after_this_request, current_app
from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from accounts.models import Account
from core.codes import normalise_code
from core.db import newest_first, utcnow
from core.errors import AlreadyRedeemed, CodeExpired, CodeVoid, NotFound, ValidationFailed
from deals import services as deals
from deals.errors import DealNotOpen, PerUserLimit, SoldOut, VoucherRefunded
from deals.models import UNFINISHED_STATUSES as OPEN_TO_COMMIT
from deals.models import Deal, Voucher, VoucherStatus
from notifications.services import enqueue
from payments import jobs, statements
from payments.errors import (
    CreditChangedError,
    InvalidWebhookSignature,
    PaymentActionRequired,
    PaymentDeclinedError,
    PaymentNotActionable,
    PaymentProviderUnavailable,
    PaymentsOffline,
    RefundWindowClosed,
    WebhookNotConfigured,
)
from payments.models import (
    UNFINISHED_STATUSES,
    Payment,
    PaymentCustomer,
    PaymentEvent,
    PaymentMethodKind,
    PaymentRefund,
    PaymentStatus,
    RefundReason,
    RefundStatus,
)
from payments.providers import (
    IntentStatus,
    InvalidSignature,
    PaymentDeclined,
    PaymentProvider,
    ProviderRefused,
    ProviderUnavailable,
    payment_provider,
)
from payments.providers import WebhookNotConfigured as NoWebhookSecret
from payments.settlement import (
    GONE,
    UNITS_REFUSED,
    on_its_own,
    reconcile,
    record_capture,
    release_unfinished,
    take_units,
)
from referrals import services as referrals
from social.models import Audience

logger = logging.getLogger("schwarm.payments")


def commit_to_deal(
    *,
    session: Session,
    deal_id: uuid.UUID,
    account: Account,
    quantity: int,
    payment_method: str | None,
    now: datetime,
    share_code: str | None = None,
    share: str = Audience.PRIVATE,
) -> tuple[dict, int]:
    """Commit to units of a deal (attributed to the share behind `share_code` as the rules
    allow, seen by the account's friends when `share` says so), paying for them online when a
    provider is configured; `(body, status)`: 201 with the commitment, or 202 while the customer
    must confirm."""
    gateway = payment_provider()
    if not gateway.online:
        # Read outside the deal's row lock: an account without credit pays nothing more.
        has_credit = referrals.available_credit(session=session, account_id=account.id) > 0
        body = _committed(session, deal_id, account, quantity, now, share_code, share)
        if has_credit:
            referrals.apply_credit_at_venue(
                session=session,
                account=account,
                commitment=body["commitment"],
                deal=body["deal"],
                now=now,
            )
        return body, 201
    terms = session.execute(
        statements.DEAL_TERMS, {"terms_deal_id": deal_id, "committer_id": account.id}
    ).one_or_none()
    if terms is None:
        raise NotFound("No such deal.")
    if terms.price_cents == 0:  # nothing to pay: committed as without a provider
        return _committed(session, deal_id, account, quantity, now, share_code, share), 201
    if not payment_method:
        raise ValidationFailed({"payment_method": ["Required: a PaymentMethod id to pay with."]})
    _refuse_early(terms, quantity, now)
    for _attempt in range(CREDIT_ATTEMPTS):
        credit = _credit_to_spend(session, account, terms.price_cents * quantity)
        try:
            payment = _authorise(
                gateway,
                terms,
                account,
                quantity,
                payment_method,
                share_code,
                now,
                share=share,
                credit=credit,
            )
            break
        except CreditChanged:  # a parallel commitment spent it first: price it again
            continue
    else:
        raise CreditChangedError("Your credit changed while paying; please retry.")
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        return {"payment": payment, "deal": deals.get_deal(session=session, deal_id=deal_id)}, 202
    commitment, deal = _take_or_release(session, gateway, payment, account, now)
    return {"commitment": commitment, "deal": deal, "payment": payment}, 201


def confirm_payment(
    *,
    session: Session,
    payment_id: uuid.UUID,
    account: Account,
    payment_method: str | None,
    now: datetime,
) -> tuple[dict, int]:
    """Go on with a payment the customer had to act on: after confirming it (3-D Secure) the
    units are taken (201 with the commitment); after a failed charge at the tip, a card is
    charged again (200)."""
    payment = session.scalars(
        select(Payment).where(Payment.id == payment_id, Payment.account_id == account.id)
    ).one_or_none()
    if payment is None:
        raise NotFound("No such payment.")
    # Detached: every change below is written by a conditional statement, never by a flush
    # that would lock the row before the units are taken (the release of a refused hold
    # writes it from a unit of work of its own).
    session.expunge(payment)
    gateway = payment_provider()
    if not gateway.online:
        raise PaymentsOffline("This server takes no payments online.")
    if payment.status in UNFINISHED_STATUSES:
        intent = _provider_call(gateway.retrieve, payment.provider_ref)
        if intent.status == IntentStatus.REQUIRES_ACTION:
            raise PaymentActionRequired(
                "Confirm the payment in the app first.", client_secret=intent.client_secret
            )
        if intent.status != IntentStatus.AUTHORISED:
            if intent.status in GONE:
                with on_its_own() as side:
                    release_unfinished(side, gateway, payment, now=now)
                raise PaymentDeclinedError("The payment was not authorised.")
            raise PaymentActionRequired("The provider has not authorised the payment yet.")
        payment.payment_method = intent.payment_method or payment.payment_method
        commitment, deal = _take_or_release(session, gateway, payment, account, now)
        return {"commitment": commitment, "deal": deal, "payment": payment}, 201
    if payment.status == PaymentStatus.CHARGE_FAILED:
        return {"payment": _charge_again(session, gateway, payment, payment_method, now)}, 200
    raise PaymentNotActionable(f"The payment is {payment.status}; there is nothing to confirm.")


def withdraw(*, session: Session, deal_id: uuid.UUID, account: Account, now: datetime):
    """Withdraw the account's pending commitments; their holds are cancelled right after (and
    the credit spent on them given back), or, paid at the venue, their credit given back now."""
    released, deal = deals.withdraw(session=session, deal_id=deal_id, account=account, now=now)
    if released and payment_provider().online:
        releasing = session.execute(
            statements.release_payments_of_released_commitments(deal_id, account.id)
        ).scalars()
        settle_after_response(jobs.release_payments, list(releasing))
    elif released:
        referrals.restore_credit_of_released(
            session=session, deal_ids=[deal_id], account_id=account.id, now=now
        )
    return released, deal


def cancel_deal(*, session: Session, deal_id: uuid.UUID, merchant: Account, now: datetime) -> Deal:
    """Cancel a deal: holds are cancelled and captured units refunded right after."""
    deal = deals.cancel_deal(session=session, deal_id=deal_id, merchant=merchant, now=now)
    if payment_provider().online:
        releasing = session.execute(statements.release_payments_of_deal(deal.id)).scalars()
        settle_after_response(jobs.release_payments, list(releasing))
        refunds = session.execute(statements.refund_void_units(Payment.deal_id == deal.id))
        settle_after_response(jobs.refund_payments, list(refunds.scalars()))
    return deal


def refund_voucher(*, session: Session, code: str, account: Account, now: datetime) -> Voucher:
    """Refund a voucher: its customer within the deal's `refund_days` after paying, its deal's
    merchant any time before redemption. The money goes back right after the response."""
    canonical = normalise_code(code)
    found = (
        session.execute(
            select(Voucher, Deal)
            .join(Deal, Deal.id == Voucher.deal_id)
            .where(
                Voucher.code == canonical,
                or_(Voucher.account_id == account.id, Deal.merchant_id == account.id),
            )
            .with_for_update(of=Voucher)
        ).one_or_none()
        if canonical
        else None
    )
    if found is None:
        raise NotFound("No such voucher.")
    voucher, deal = found
    by_merchant = deal.merchant_id == account.id
    _refuse_refund(voucher.status)
    payment = session.scalars(
        select(Payment).where(Payment.commitment_id == voucher.commitment_id).with_for_update()
    ).one_or_none()
    if not by_merchant:
        if voucher.status == VoucherStatus.EXPIRED or voucher.redeem_until < now:
            raise CodeExpired("This voucher has expired.")
        paid_at = payment.captured_at if payment is not None else voucher.created_at
        if now > paid_at + timedelta(days=deal.refund_days):
            raise RefundWindowClosed(
                f"Vouchers of this deal can be refunded within {deal.refund_days} day(s) of "
                "paying; ask the merchant."
            )
    # A refunded unit takes its referral credit with it: settle-referral-credit reverses the
    # credit of every refunded voucher (referrals.statements.REVERSE_CREDIT).
    voucher.status = VoucherStatus.REFUNDED
    if payment is not None:
        refund = PaymentRefund(
            payment_id=payment.id,
            voucher_id=voucher.id,
            amount_cents=payment.amount_cents // payment.quantity,
            status=RefundStatus.PENDING,
            reason=RefundReason.MERCHANT if by_merchant else RefundReason.CUSTOMER,
            created_at=now,
        )
        session.add(refund)
        session.flush()
        settle_after_response(jobs.refund_payments, [refund.id])
    elif voucher.credit_cents:  # paid at the venue, partly with credit not used after all
        referrals.give_back_unit_credit(
            session=session,
            commitment_id=voucher.commitment_id,
            cents=voucher.credit_cents,
            key=f"credit-return:{voucher.id}",
            paid_to_merchant=False,
            deal_id=deal.id,
            merchant_id=deal.merchant_id,
            currency=deal.currency,
            payment_id=None,
            now=now,
        )
    enqueue(
        session,
        kind="voucher.refunded",
        recipients=[voucher.account_id, deal.merchant_id],
        title="Voucher refunded",
        body=f"A voucher for “{deal.title}” was refunded.",
        payload={"deal_id": str(deal.id), "title": deal.title, "code": voucher.code},
        dedupe_key=f"voucher.refunded:{voucher.id}",
    )
    session.flush()
    return voucher


def my_payments(*, session: Session, account: Account, limit: int, after=None) -> list[Payment]:
    """The account's payments, newest first."""
    query = select(Payment).where(Payment.account_id == account.id).limit(limit)
    return list(session.scalars(newest_first(query, Payment.created_at, Payment.id, after)))


STATEMENT_FIELDS = tuple(statements.STATEMENT_COLUMNS)


def merchant_statement(
    *, session: Session, merchant: Account, start: datetime, end: datetime
) -> dict:
    """The merchant's money per deal over [start, end) from the ledger, and totals per
    currency: gross paid, refunds, referral commissions, platform fee and payable."""
    if start >= end:
        raise ValidationFailed({"from": ["Must be before `to` (default: now)."]})
    rows = session.execute(
        statements.MERCHANT_STATEMENT,
        {"statement_merchant_id": merchant.id, "statement_from": start, "statement_to": end},
    ).all()
    per_deal = [row._asdict() for row in rows]
    totals: dict[str, dict] = {}
    for row in per_deal:
        total = totals.setdefault(
            row["currency"], {"currency": row["currency"], **dict.fromkeys(STATEMENT_FIELDS, 0)}
        )
        for name in STATEMENT_FIELDS:
            total[name] += row[name]
    return {"start": start, "end": end, "deals": per_deal, "totals": list(totals.values())}


def receive_webhook(
    *, session: Session, payload: bytes, signature: str | None, now: datetime
) -> dict:
    """A provider event: verified, handled once per event id, and answered by bringing the
    payment it is about in line with what the provider says now (so the order events arrive
    in does not matter)."""
    gateway = payment_provider()
    try:
        event = gateway.parse_webhook(payload, signature)
    except NoWebhookSecret as missing:
        raise WebhookNotConfigured(str(missing)) from missing
    except InvalidSignature as invalid:
        raise InvalidWebhookSignature("The Stripe-Signature header does not verify.") from invalid
    first = session.execute(
        insert(PaymentEvent)
        .values(id=event.id, type=event.type, received_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(PaymentEvent.id)
    ).scalar_one_or_none()
    if first is None:
        return {"received": True, "duplicate": True}
    payment = None
    if event.object_id:
        payment = session.scalars(
            select(Payment)
            .where(
                or_(Payment.provider_ref == event.object_id, Payment.charge_ref == event.object_id)
            )
            .with_for_update()
        ).one_or_none()
    if payment is not None:
        for difference in reconcile(session, gateway, payment, now=now):
            logger.warning("webhook %s: %s", event.id, difference)
    return {"received": True, "duplicate": False}


def settle_after_response(job, ids: list) -> None:
    """Run `job` for `ids` right after this request's transaction committed, in a unit of work
    of its own; if it fails, the scheduled job does it on its next run."""
    if not ids:
        return

    @after_this_request
    def settle(response):
        try:
            with on_its_own() as session:
                job(session=session, now=utcnow(), only=ids)
        except Exception:  # the scheduled job retries; the answer stands
            logger.exception("settling %s after the response failed", job.__name__)
        return response


def _committed(session, deal_id, account, quantity, now, share_code, share) -> dict:
    commitment, deal = deals.commit_units(
        session=session,
        deal_id=deal_id,
        account=account,
        quantity=quantity,
        now=now,
        share_code=share_code,
        share=share,
    )
    return {"commitment": commitment, "deal": deal}


class CreditChanged(Exception):
    """The credit priced into a hold was spent meanwhile by a parallel commitment."""


CREDIT_ATTEMPTS = 3


def _credit_to_spend(session: Session, account: Account, price_cents: int) -> int:
    """Available credit to take off a card payment of `price_cents`: the card is still charged
    `PAYMENT_MIN_CHARGE_CENTS` (Stripe's minimum charge), the rest of the credit stays."""
    available = referrals.available_credit(session=session, account_id=account.id)
    most = price_cents - current_app.config["PAYMENT_MIN_CHARGE_CENTS"]
    return max(0, min(available, most))


def _refuse_early(terms, quantity: int, now: datetime) -> None:
    """Refuse what the deal would surely refuse, before a card is touched."""
    if terms.status not in OPEN_TO_COMMIT or terms.starts_at > now or terms.ends_at <= now:
        raise DealNotOpen("The deal is not open for commitments.")
    cap = terms.max_commitments
    if cap is not None and terms.committed_count + quantity > cap:
        raise SoldOut(f"Only {cap - terms.committed_count} unit(s) left; you asked for {quantity}.")
    if terms.open_quantity + quantity > terms.per_user_limit:
        raise PerUserLimit(f"At most {terms.per_user_limit} unit(s) per account on this deal.")


def _provider_call(method, *args, **kwargs):
    """A provider call from a request: unreachable is 503, refused is a bad payment method."""
    try:
        return method(*args, **kwargs)
    except ProviderUnavailable as unavailable:
        raise PaymentProviderUnavailable("The payment provider did not answer; retry.") from (
            unavailable
        )
    except ProviderRefused as refused:
        raise ValidationFailed(
            {"payment_method": ["The payment provider refused it: " + str(refused)]}
        ) from refused


def _authorise(
    gateway: PaymentProvider,
    terms,
    account: Account,
    quantity: int,
    payment_method: str,
    share_code: str | None,
    now: datetime,
    *,
    share: str = Audience.PRIVATE,
    credit: int = 0,
) -> Payment:
    """Steps 1 and 2: the intent made for the price less `credit` and recorded with that
    credit spent, then confirmed; the payment (detached), `requires_action` if the customer
    must confirm, else authorised. Raises 402 on a decline (the payment forgotten, its credit
    back, nothing held), CreditChanged if the credit was spent meanwhile (nothing left)."""
    tipped = terms.tipped_at is not None
    saves_card = not tipped and terms.ends_at - now > timedelta(
        days=current_app.config["PAYMENT_HOLD_DAYS"]
    )
    payment = Payment(
        id=uuid.uuid4(),
        commitment_id=uuid.uuid4(),
        deal_id=terms.id,
        account_id=account.id,
        merchant_id=terms.merchant_id,
        quantity=quantity,
        amount_cents=terms.price_cents * quantity - credit,
        currency=terms.currency,
        method=PaymentMethodKind.SAVED_CARD if saves_card else PaymentMethodKind.HOLD,
        status=PaymentStatus.AUTHORISING,
        payment_method=payment_method,
        share_code=share_code,
        share=share,
        charge_attempts=0,
        created_at=now,
        due_at=now if tipped else None,  # after the tip, charged at once
    )
    reference = str(payment.id)
    if saves_card:
        payment.provider_customer = _provider_customer(gateway, account)
        intent = _provider_call(
            gateway.create_card_saving,
            reference=reference,
            customer=payment.provider_customer,
            key=f"{reference}:setup",
        )
    else:
        intent = _provider_call(
            gateway.create_payment,
            reference=reference,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            payment_method=payment_method,
            customer=None,
            manual_capture=True,
            key=f"{reference}:hold",
        )
    payment.provider_ref = intent.id
    try:
        with on_its_own() as side:
            side.add(payment)
            side.flush()
            if credit and _spend(side, payment, credit, now) != credit:
                raise CreditChanged()
    except CreditChanged:
        _cancel_quietly(gateway, payment)
        raise
    try:
        intent = _provider_call(
            gateway.confirm, intent.id, payment_method=payment_method, key=f"{reference}:confirm"
        )
    except PaymentDeclined as declined:
        _forget(gateway, payment)
        raise PaymentDeclinedError(str(declined), decline_code=declined.decline_code) from declined
    except ValidationFailed:
        _forget(gateway, payment)
        raise
    payment.payment_method = intent.payment_method or payment_method
    if intent.status == IntentStatus.REQUIRES_ACTION:
        with on_its_own() as side:
            side.execute(
                update(Payment)
                .where(Payment.id == payment.id, Payment.status == PaymentStatus.AUTHORISING)
                .values(status=PaymentStatus.REQUIRES_ACTION)
            )
        payment.status, payment.client_secret = PaymentStatus.REQUIRES_ACTION, intent.client_secret
    elif intent.status != IntentStatus.AUTHORISED:
        _forget(gateway, payment)
        raise PaymentDeclinedError("The payment was not authorised.")
    return payment


def _spend(session: Session, payment: Payment, credit: int, now: datetime) -> int:
    return referrals.spend_credit(
        session=session,
        account_id=payment.account_id,
        commitment_id=payment.commitment_id,
        up_to_cents=credit,
        deal_id=payment.deal_id,
        merchant_id=payment.merchant_id,
        currency=payment.currency,
        payment_id=payment.id,
        now=now,
    )


def _cancel_quietly(gateway: PaymentProvider, payment: Payment) -> None:
    try:
        gateway.cancel(payment.provider_ref, key=f"{payment.id}:cancel")
    except (ProviderRefused, ProviderUnavailable):
        pass  # a declined intent holds no money; the release job tries again if it must


def _forget(gateway: PaymentProvider, payment: Payment) -> None:
    """A declined payment leaves nothing: its intent cancelled (it holds nothing), its credit
    back, its row gone (kept as cancelled when credit was spent: the ledger names it)."""
    _cancel_quietly(gateway, payment)
    now = utcnow()
    with on_its_own() as side:
        unfinished = (Payment.id == payment.id, Payment.status.in_(UNFINISHED_STATUSES))
        if referrals.restore_credit(session=side, commitment_ids=[payment.commitment_id], now=now):
            side.execute(
                update(Payment)
                .where(*unfinished)
                .values(status=PaymentStatus.CANCELLED, released_at=now, settled_at=now)
            )
        else:
            side.execute(delete(Payment).where(*unfinished))


def _provider_customer(gateway: PaymentProvider, account: Account) -> str:
    """The provider's customer of the account (saved cards belong to one), made once."""
    with on_its_own() as side:
        known = side.get(PaymentCustomer, account.id)
        if known is not None:
            return known.provider_customer
    made = _provider_call(
        gateway.ensure_customer, account_id=str(account.id), key=f"customer:{account.id}"
    )
    with on_its_own() as side:
        side.execute(
            insert(PaymentCustomer)
            .values(account_id=account.id, provider_customer=made)
            .on_conflict_do_nothing(index_elements=["account_id"])
        )
        return side.get(PaymentCustomer, account.id).provider_customer


def _take_or_release(session, gateway, payment, account, now):
    """Step 3: take the units; if the deal refuses them, cancel the hold, then refuse."""
    try:
        commitment, deal = take_units(session, payment, now=now, account=account)
    except UNITS_REFUSED:
        with on_its_own() as side:
            release_unfinished(side, gateway, payment, now=now)
        raise
    if payment.due_at is not None:  # the deal has tipped: charged at once
        settle_after_response(jobs.capture_payments, [payment.id])
    return commitment, deal


def _charge_again(
    session: Session, gateway: PaymentProvider, payment: Payment, payment_method, now
) -> Payment:
    """After a failed charge at the tip: finish a charge the customer confirmed, or charge the
    card given (or the saved one) again. The attempt and the charge's id are recorded before
    the charge is confirmed, so a crash never charges twice."""
    if payment.charge_ref and payment_method is None:
        intent = _provider_call(gateway.retrieve, payment.charge_ref)
        if intent.status == IntentStatus.SUCCEEDED:
            return _record_fixed(session, payment, now)
        if intent.status == IntentStatus.REQUIRES_ACTION:
            payment.client_secret = intent.client_secret
            return payment
    method = payment_method or (
        payment.payment_method if payment.method == PaymentMethodKind.SAVED_CARD else None
    )
    if method is None:
        raise ValidationFailed({"payment_method": ["Required: the card hold lapsed."]})
    with on_its_own() as side:
        attempt = side.execute(
            update(Payment)
            .where(Payment.id == payment.id, Payment.status == PaymentStatus.CHARGE_FAILED)
            .values(charge_attempts=Payment.charge_attempts + 1)
            .returning(Payment.charge_attempts)
        ).scalar_one_or_none()
    if attempt is None:
        raise PaymentNotActionable("The payment was settled meanwhile.")
    key = f"{payment.id}:fix:{attempt}"
    reused = method == payment.payment_method and payment.method == PaymentMethodKind.SAVED_CARD
    intent = _provider_call(
        gateway.create_payment,
        reference=str(payment.id),
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        payment_method=method,
        customer=payment.provider_customer if reused else None,
        manual_capture=False,
        key=f"{key}:create",
    )
    with on_its_own() as side:
        side.execute(
            update(Payment)
            .where(Payment.id == payment.id, Payment.status == PaymentStatus.CHARGE_FAILED)
            .values(charge_ref=intent.id, payment_method=method)
        )
    payment.charge_ref, payment.payment_method = intent.id, method
    try:
        intent = _provider_call(
            gateway.confirm, intent.id, payment_method=None, key=f"{key}:confirm"
        )
    except PaymentDeclined as declined:
        with on_its_own() as side:
            side.execute(
                update(Payment).where(Payment.id == payment.id).values(last_error=str(declined))
            )
        raise PaymentDeclinedError(str(declined), decline_code=declined.decline_code) from declined
    if intent.status == IntentStatus.SUCCEEDED:
        return _record_fixed(session, payment, now)
    payment.client_secret = intent.client_secret
    return payment


def _record_fixed(session: Session, payment: Payment, now: datetime) -> Payment:
    locked = session.scalars(
        select(Payment).where(Payment.id == payment.id).with_for_update()
    ).one()
    if locked.status == PaymentStatus.CHARGE_FAILED:
        record_capture(session, locked, now=now)
    return locked


def _refuse_refund(status: str) -> None:
    if status == VoucherStatus.REFUNDED:
        raise VoucherRefunded("This voucher was refunded already.")
    if status == VoucherStatus.REDEEMED:
        raise AlreadyRedeemed("This voucher was redeemed; it can no longer be refunded.")
    if status == VoucherStatus.VOID:
        raise CodeVoid("This voucher is void.")
