"""Errors of checkout (codes fixed by docs/API.md)."""

from core.errors import Conflict, DomainError


class PaymentDeclinedError(DomainError):
    status, code, title = 402, "payment-declined", "The payment was declined"


class PaymentProviderUnavailable(DomainError):
    status, code, title = 503, "payment-provider-unavailable", "The payment provider is unavailable"

    def __init__(self, detail: str | None = None):
        super().__init__(detail, headers={"Retry-After": "5"})


class PaymentExpired(Conflict):
    code, title = "payment-expired", "The payment lapsed before the units were taken"


class PaymentActionRequired(Conflict):
    code, title = "payment-action-required", "The customer has not confirmed the payment yet"


class PaymentNotActionable(Conflict):
    code, title = "payment-not-actionable", "There is nothing to confirm on this payment"


class PaymentsOffline(Conflict):
    code, title = "payments-offline", "Online payments are not configured"


class RefundWindowClosed(Conflict):
    code, title = "refund-window-closed", "The refund period of this voucher has passed"


class InvalidWebhookSignature(DomainError):
    status, code, title = 400, "invalid-signature", "The webhook signature does not verify"


class WebhookNotConfigured(DomainError):
    status, code, title = 404, "not-found", "Not found"


class CreditChangedError(Conflict):
    code, title = "credit-changed", "The credit changed while paying"
