"""An in-process payment provider behind the same interface as payments.providers.StripeProvider,
with an injected clock, for what localstripe cannot do: holds that lapse (Stripe's 7 days, less
on some networks) and declines with a specific reason at authorisation (insufficient funds,
expired card), which localstripe only gives as a generic `card_declined` for one card.

Payment methods: `pm_card_visa` succeeds; `pm_insufficient_funds` and `pm_expired_card` are
declined with that code when confirmed.
"""

import itertools
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from payments.providers import (
    IntentStatus,
    PaymentDeclined,
    ProviderIntent,
    ProviderRefund,
    ProviderRefused,
)

DECLINES = {"pm_insufficient_funds": "insufficient_funds", "pm_expired_card": "expired_card"}


@dataclass
class FakeIntent:
    intent: ProviderIntent
    manual_capture: bool
    authorised_at: datetime | None = None
    refunds: list = field(default_factory=list)


class FakeProvider:
    """Holds lapse `hold_lifetime` after they were placed, by `clock()`."""

    online = True

    def __init__(self, clock, hold_lifetime: timedelta = timedelta(days=7)):
        self.clock = clock
        self.hold_lifetime = hold_lifetime
        self.intents: dict[str, FakeIntent] = {}
        self.calls = Counter()
        self._ids = itertools.count(1)

    def _new(self, prefix: str, amount: int, manual: bool, method: str | None) -> ProviderIntent:
        intent = ProviderIntent(
            id=f"{prefix}_fake{next(self._ids)}",
            status=IntentStatus.REQUIRES_CONFIRMATION,
            amount_cents=amount,
            client_secret="secret",
            payment_method=method,
        )
        self.intents[intent.id] = FakeIntent(intent, manual)
        return intent

    def _set(self, intent_id: str, **changes) -> ProviderIntent:
        held = self.intents[intent_id]
        held.intent = replace(held.intent, **changes)
        return held.intent

    def _lapse(self, intent_id: str) -> FakeIntent:
        held = self.intents.get(intent_id)
        if held is None:
            raise ProviderRefused(f"no such intent {intent_id}")
        lapsed = (
            held.intent.status == IntentStatus.AUTHORISED
            and held.manual_capture
            and self.clock() - held.authorised_at >= self.hold_lifetime
        )
        if lapsed:
            self._set(intent_id, status=IntentStatus.CANCELED)
        return held

    def create_payment(self, *, reference, amount_cents, currency, payment_method, customer,
                       manual_capture, key) -> ProviderIntent:  # fmt: skip
        self.calls["create_payment"] += 1
        return self._new("pi", amount_cents, manual_capture, payment_method)

    def create_card_saving(self, *, reference, customer, key) -> ProviderIntent:
        self.calls["create_card_saving"] += 1
        return self._new("seti", 0, False, None)

    def confirm(self, intent_id, *, payment_method, key) -> ProviderIntent:
        self.calls["confirm"] += 1
        held = self.intents[intent_id]
        method = payment_method or held.intent.payment_method
        if method in DECLINES:
            self._set(intent_id, status=IntentStatus.FAILED)
            raise PaymentDeclined("Your card was declined.", decline_code=DECLINES[method])
        if intent_id.startswith("seti") or held.manual_capture:
            held.authorised_at = self.clock()
            return self._set(intent_id, status=IntentStatus.AUTHORISED, payment_method=method)
        amount = held.intent.amount_cents
        return self._set(intent_id, status=IntentStatus.SUCCEEDED, captured_cents=amount)

    def ensure_customer(self, *, account_id, key) -> str:
        return f"cus_fake_{account_id}"

    def capture(self, intent_id, *, key) -> ProviderIntent:
        self.calls["capture"] += 1
        held = self._lapse(intent_id)
        if held.intent.status != IntentStatus.AUTHORISED:
            raise ProviderRefused(f"cannot capture a {held.intent.status} intent")
        return self._set(
            intent_id, status=IntentStatus.SUCCEEDED, captured_cents=held.intent.amount_cents
        )

    def cancel(self, intent_id, *, key) -> ProviderIntent:
        self.calls["cancel"] += 1
        held = self._lapse(intent_id)
        if held.intent.status in (IntentStatus.SUCCEEDED, IntentStatus.CANCELED):
            raise ProviderRefused(f"cannot cancel a {held.intent.status} intent")
        return self._set(intent_id, status=IntentStatus.CANCELED)

    def charge(self, *, reference, amount_cents, currency, customer, payment_method, off_session,
               key) -> ProviderIntent:  # fmt: skip
        intent = self.create_payment(
            reference=reference,
            amount_cents=amount_cents,
            currency=currency,
            payment_method=payment_method,
            customer=customer,
            manual_capture=False,
            key=key,
        )
        return self.confirm(intent.id, payment_method=payment_method, key=key)

    def refund(self, intent_id, *, amount_cents, reference, key) -> ProviderRefund:
        held = self.intents[intent_id]
        refund = ProviderRefund(f"re_fake{next(self._ids)}", amount_cents)
        held.refunds.append((reference, refund))
        self._set(intent_id, refunded_cents=held.intent.refunded_cents + amount_cents)
        return refund

    def find_refund(self, intent_id, *, reference) -> ProviderRefund | None:
        return next((r for ref, r in self.intents[intent_id].refunds if ref == reference), None)

    def retrieve(self, intent_id) -> ProviderIntent:
        self.calls["retrieve"] += 1
        return self._lapse(intent_id).intent

    def parse_webhook(self, payload, signature):
        raise ProviderRefused("the fake sends no webhooks")
