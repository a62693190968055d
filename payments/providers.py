"""The payment provider interface and its implementations: `none` (paid at the venue) and
`stripe` (the official `stripe` package, pointed at `STRIPE_API_BASE` when set).

Every call that moves money carries an idempotency key derived from our own ids, and every
object made carries our id in its metadata (`payment_id`, `refund_id`), so a retry after a
crash finds or repeats the same operation instead of making a second one.
"""

import enum
import logging
from dataclasses import dataclass
from typing import Protocol

import stripe
from flask import Flask, current_app

logger = logging.getLogger("schwarm.payments")


class IntentStatus(enum.StrEnum):
    """A provider intent's state, the same for PaymentIntents and SetupIntents."""

    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"  # the customer must confirm (3-D Secure)
    PROCESSING = "processing"
    AUTHORISED = "authorised"  # a hold to capture, or a card saved for later charges
    SUCCEEDED = "succeeded"  # the money is taken
    FAILED = "failed"  # declined; no money held
    CANCELED = "canceled"  # cancelled, or a hold that lapsed


@dataclass(frozen=True)
class ProviderIntent:
    """What the provider says about one PaymentIntent or SetupIntent."""

    id: str
    status: IntentStatus
    amount_cents: int = 0
    captured_cents: int = 0
    refunded_cents: int = 0
    client_secret: str | None = None
    payment_method: str | None = None


@dataclass(frozen=True)
class ProviderRefund:
    """A refund made at the provider."""

    id: str
    amount_cents: int


@dataclass(frozen=True)
class ProviderEvent:
    """A verified webhook event: its id, type and the id of the intent it is about."""

    id: str
    type: str
    object_id: str | None


class ProviderError(Exception):
    """The provider could not do what was asked."""


class PaymentDeclined(ProviderError):
    """The card was declined (or failed authentication); nothing is held."""

    def __init__(self, message: str, *, decline_code: str | None = None, intent_id=None):
        super().__init__(message)
        self.decline_code = decline_code
        self.intent_id = intent_id


class ProviderRefused(ProviderError):
    """The provider refused the request as invalid (unknown object, wrong state)."""


class ProviderUnavailable(ProviderError):
    """The provider did not answer, or answered with a server error: retry later."""


class InvalidSignature(ProviderError):
    """A webhook whose signature does not verify."""


class PaymentProvider(Protocol):
    """What checkout needs from a payment provider."""

    online: bool

    def create_payment(
        self,
        *,
        reference: str,
        amount_cents: int,
        currency: str,
        payment_method: str,
        customer: str | None,
        manual_capture: bool,
        key: str,
    ) -> ProviderIntent:
        """An unconfirmed PaymentIntent (nothing is held or taken until `confirm`): a hold to
        capture later (`manual_capture`), or a charge."""

    def create_card_saving(self, *, reference: str, customer: str, key: str) -> ProviderIntent:
        """An unconfirmed SetupIntent for off-session charges of `customer`."""

    def confirm(self, intent_id: str, *, payment_method: str | None, key: str) -> ProviderIntent:
        """Confirm an intent: the hold is placed or the card saved; raises PaymentDeclined."""

    def ensure_customer(self, *, account_id: str, key: str) -> str:
        """The id of a new provider customer for `account_id`."""

    def capture(self, intent_id: str, *, key: str) -> ProviderIntent:
        """Capture a hold in full."""

    def cancel(self, intent_id: str, *, key: str) -> ProviderIntent:
        """Cancel an intent (release a hold, or drop a card saving)."""

    def charge(
        self,
        *,
        reference: str,
        amount_cents: int,
        currency: str,
        customer: str | None,
        payment_method: str,
        off_session: bool,
        key: str,
    ) -> ProviderIntent:
        """Charge a card at once (a saved card off-session at the tip, or a customer's fix);
        raises PaymentDeclined."""

    def refund(
        self, intent_id: str, *, amount_cents: int, reference: str, key: str
    ) -> ProviderRefund:
        """Refund part of a captured intent."""

    def find_refund(self, intent_id: str, *, reference: str) -> ProviderRefund | None:
        """The refund of `intent_id` made for `reference`, if there is one."""

    def retrieve(self, intent_id: str) -> ProviderIntent:
        """The current state of an intent."""

    def parse_webhook(self, payload: bytes, signature: str | None) -> ProviderEvent:
        """A verified event from a webhook request; raises InvalidSignature."""


class WebhookNotConfigured(ProviderError):
    """No webhook secret: the webhook endpoint takes nothing."""


class NoProvider:
    """`PAYMENT_PROVIDER=none`: nothing is paid online; vouchers are paid at the venue."""

    online = False

    def parse_webhook(self, payload: bytes, signature: str | None) -> ProviderEvent:
        """There is no provider to send events."""
        raise WebhookNotConfigured("Online payments are not configured.")


def _stripe_status(intent: dict) -> IntentStatus:
    status = intent["status"]
    if status == "requires_capture":
        return IntentStatus.AUTHORISED
    if status == "succeeded":
        is_setup = intent["object"] == "setup_intent"
        return IntentStatus.AUTHORISED if is_setup else IntentStatus.SUCCEEDED
    if status == "requires_payment_method":
        failed = intent.get("last_payment_error") or intent.get("last_setup_error")
        return IntentStatus.FAILED if failed else IntentStatus.REQUIRES_CONFIRMATION
    return IntentStatus(status)


def _charge_amounts(intent: dict) -> tuple[int, int]:
    """(captured, refunded) of a PaymentIntent from its latest charge (expanded or not)."""
    charge = intent.get("latest_charge")
    if not isinstance(charge, dict):
        return (intent.get("amount_received") or 0), 0
    captured = charge.get("amount_captured")
    if captured is None:
        captured = charge.get("amount") if charge.get("captured") else 0
    return captured or 0, charge.get("amount_refunded") or 0


def _intent(found) -> ProviderIntent:
    intent = found.to_dict()
    setup = intent["object"] == "setup_intent"
    captured, refunded = (0, 0) if setup else _charge_amounts(intent)
    method = intent.get("payment_method")
    return ProviderIntent(
        id=intent["id"],
        status=_stripe_status(intent),
        amount_cents=intent.get("amount") or 0,
        captured_cents=captured,
        refunded_cents=refunded,
        client_secret=intent.get("client_secret"),
        payment_method=method.get("id") if isinstance(method, dict) else method,
    )


def _translated(error: stripe.StripeError) -> ProviderError:
    if isinstance(error, stripe.CardError):
        details = error.error
        intent = getattr(details, "payment_intent", None) if details else None
        return PaymentDeclined(
            error.user_message or "The card was declined.",
            decline_code=(getattr(details, "decline_code", None) if details else None)
            or error.code,
            intent_id=getattr(intent, "id", None),
        )
    if isinstance(error, stripe.InvalidRequestError):
        return ProviderRefused(str(error))
    return ProviderUnavailable(str(error))


class StripeProvider:
    """Stripe through the official client; `api_base` points it at a local test server."""

    online = True

    def __init__(
        self, *, api_key: str, api_base: str | None, webhook_secret: str | None, timeout: int
    ):
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=2,  # safe: every mutating call carries an idempotency key
            http_client=stripe.RequestsClient(timeout=timeout),
        )
        self.webhook_secret = webhook_secret

    def _call(self, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except stripe.StripeError as error:
            raise _translated(error) from error

    def create_payment(
        self,
        *,
        reference: str,
        amount_cents: int,
        currency: str,
        payment_method: str,
        customer: str | None,
        manual_capture: bool,
        key: str,
    ) -> ProviderIntent:
        """An unconfirmed PaymentIntent (nothing is held or taken until `confirm`): a hold to
        capture later (`manual_capture`), or a charge."""
        params = {
            "amount": amount_cents,
            "currency": currency.lower(),
            "payment_method": payment_method,
            "payment_method_types": ["card"],
            "capture_method": "manual" if manual_capture else "automatic",
            "metadata": {"payment_id": reference},
        }
        if customer:
            params["customer"] = customer
        created = self._call(
            self.client.v1.payment_intents.create, params=params, options={"idempotency_key": key}
        )
        return _intent(created)

    def create_card_saving(self, *, reference: str, customer: str, key: str) -> ProviderIntent:
        """An unconfirmed SetupIntent for off-session charges of `customer`."""
        params = {
            "customer": customer,
            "usage": "off_session",
            "payment_method_types": ["card"],
            "metadata": {"payment_id": reference},
        }
        created = self._call(
            self.client.v1.setup_intents.create, params=params, options={"idempotency_key": key}
        )
        return _intent(created)

    def confirm(self, intent_id: str, *, payment_method: str | None, key: str) -> ProviderIntent:
        """Confirm an intent: the hold is placed or the card saved; raises PaymentDeclined."""
        options = {"idempotency_key": key}
        if intent_id.startswith("seti_"):
            confirmed = self._call(
                self.client.v1.setup_intents.confirm,
                intent_id,
                params={"payment_method": payment_method},
                options=options,
            )
        else:
            confirmed = self._call(
                self.client.v1.payment_intents.confirm, intent_id, options=options
            )
        return _intent(confirmed)

    def ensure_customer(self, *, account_id: str, key: str) -> str:
        """The id of a new provider customer for `account_id`."""
        customer = self._call(
            self.client.v1.customers.create,
            params={"metadata": {"account_id": account_id}},
            options={"idempotency_key": key},
        )
        return customer.id

    def capture(self, intent_id: str, *, key: str) -> ProviderIntent:
        """Capture a hold in full."""
        captured = self._call(
            self.client.v1.payment_intents.capture, intent_id, options={"idempotency_key": key}
        )
        return _intent(captured)

    def cancel(self, intent_id: str, *, key: str) -> ProviderIntent:
        """Cancel an intent (release a hold, or drop a card saving)."""
        resource = (
            self.client.v1.setup_intents
            if intent_id.startswith("seti_")
            else self.client.v1.payment_intents
        )
        cancelled = self._call(resource.cancel, intent_id, options={"idempotency_key": key})
        return _intent(cancelled)

    def charge(
        self,
        *,
        reference: str,
        amount_cents: int,
        currency: str,
        customer: str | None,
        payment_method: str,
        off_session: bool,
        key: str,
    ) -> ProviderIntent:
        """Charge a card at once; raises PaymentDeclined."""
        params = {
            "amount": amount_cents,
            "currency": currency.lower(),
            "payment_method": payment_method,
            "payment_method_types": ["card"],
            "confirm": True,
            "metadata": {"payment_id": reference},
        }
        if customer:
            params["customer"] = customer
        if off_session:
            params["off_session"] = True
        charged = self._call(
            self.client.v1.payment_intents.create, params=params, options={"idempotency_key": key}
        )
        return _intent(charged)

    def refund(
        self, intent_id: str, *, amount_cents: int, reference: str, key: str
    ) -> ProviderRefund:
        """Refund part of a captured intent."""
        refund = self._call(
            self.client.v1.refunds.create,
            params={
                "payment_intent": intent_id,
                "amount": amount_cents,
                "metadata": {"refund_id": reference},
            },
            options={"idempotency_key": key},
        )
        return ProviderRefund(refund.id, refund.amount)

    def find_refund(self, intent_id: str, *, reference: str) -> ProviderRefund | None:
        """The refund of `intent_id` made for `reference`, if there is one."""
        refunds = self._call(self.client.v1.refunds.list, params={"payment_intent": intent_id})
        for refund in refunds.auto_paging_iter():
            if (refund.to_dict().get("metadata") or {}).get("refund_id") == reference:
                return ProviderRefund(refund.id, refund.amount)
        return None

    def retrieve(self, intent_id: str) -> ProviderIntent:
        """The current state of an intent (a PaymentIntent with its latest charge)."""
        if intent_id.startswith("seti_"):
            return _intent(self._call(self.client.v1.setup_intents.retrieve, intent_id))
        intent = self._call(
            self.client.v1.payment_intents.retrieve,
            intent_id,
            params={"expand": ["latest_charge"]},
        )
        return _intent(intent)

    def parse_webhook(self, payload: bytes, signature: str | None) -> ProviderEvent:
        """A verified event from a webhook request; raises InvalidSignature."""
        if not self.webhook_secret:
            raise WebhookNotConfigured("STRIPE_WEBHOOK_SECRET is not set.")
        try:
            event = stripe.Webhook.construct_event(payload, signature or "", self.webhook_secret)
        except (stripe.SignatureVerificationError, ValueError) as error:
            raise InvalidSignature(str(error)) from error
        found = (event.to_dict().get("data") or {}).get("object")
        object_id = found.get("id") if isinstance(found, dict) else None
        return ProviderEvent(event.id, event.type, object_id)


PROVIDERS = ("none", "stripe")


def build_provider(config: dict) -> PaymentProvider:
    """The provider `PAYMENT_PROVIDER` names, configured from `config`."""
    name = config["PAYMENT_PROVIDER"]
    if name == "none":
        return NoProvider()
    if name == "stripe":
        if not config["STRIPE_API_KEY"]:
            raise RuntimeError("PAYMENT_PROVIDER=stripe needs STRIPE_API_KEY")
        return StripeProvider(
            api_key=config["STRIPE_API_KEY"],
            api_base=config["STRIPE_API_BASE"],
            webhook_secret=config["STRIPE_WEBHOOK_SECRET"],
            timeout=config["STRIPE_TIMEOUT_SECONDS"],
        )
    raise RuntimeError(f"PAYMENT_PROVIDER must be one of {', '.join(PROVIDERS)}, not {name!r}")


def init_app(app: Flask) -> None:
    """Attach the configured provider (tests may replace `app.extensions["payment_provider"]`)."""
    app.extensions["payment_provider"] = build_provider(app.config)


def payment_provider() -> PaymentProvider:
    """The app's payment provider."""
    return current_app.extensions["payment_provider"]
