"""HTTP routes of checkout: payments, refunds, the merchant's statement, Stripe's webhook."""

import uuid
from datetime import datetime
from functools import partial

from flask import request
from flask.views import MethodView

from accounts.auth import current_account
from core.api import Blueprint
from core.db import get_session, utcnow
from core.endpoint import endpoint
from core.schemas import PageQuerySchema, newest_first_page
from deals.schemas import CommitmentResultSchema, VoucherReadSchema
from payments import services
from payments.schemas import (
    STATEMENT_DEFAULT_SPAN,
    PaymentConfirmSchema,
    PaymentListSchema,
    PaymentResultSchema,
    StatementQuerySchema,
    StatementSchema,
    WebhookResultSchema,
)

blp = Blueprint(
    "payments", __name__, url_prefix="/api/v1", description="Payments, refunds and statements"
)

STRIPE_EVENT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "object", "description": "A Stripe event, as Stripe sends it"}
        }
    },
}
STRIPE_SIGNATURE = {
    "in": "header",
    "name": "Stripe-Signature",
    "required": True,
    "schema": {"type": "string"},
    "description": "Stripe's signature of the body (checked with STRIPE_WEBHOOK_SECRET)",
}


@blp.route("/payments/stripe/webhook")
class StripeWebhook(MethodView):
    @endpoint(public=True)
    @blp.doc(requestBody=STRIPE_EVENT_BODY, parameters=[STRIPE_SIGNATURE])
    @blp.response(200, WebhookResultSchema)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self):
        """Stripe's events: verified, handled once per event id, in any order."""
        return services.receive_webhook(
            session=get_session(),
            payload=request.get_data(cache=True),
            signature=request.headers.get("Stripe-Signature"),
            now=utcnow(),
        )


@blp.route("/payments/<uuid:payment_id>/confirm")
class ConfirmPayment(MethodView):
    @endpoint(role="customer", idempotent=True)
    @blp.arguments(PaymentConfirmSchema)
    @blp.response(201, CommitmentResultSchema)
    @blp.alt_response(
        200,
        schema=PaymentResultSchema,
        description="After a failed charge: the payment, `captured`, or with a `client_secret` "
        "to confirm the new charge with",
    )
    @blp.alt_response(402, response="PAYMENT_REQUIRED")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, data, payment_id: uuid.UUID):
        """Go on with your payment after confirming it (3-D Secure) or after a failed charge."""
        return services.confirm_payment(
            session=get_session(),
            payment_id=payment_id,
            account=current_account(),
            payment_method=data.get("payment_method"),
            now=utcnow(),
        )


@blp.route("/me/payments")
class MyPayments(MethodView):
    @endpoint(role="customer", read_only=True)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, PaymentListSchema)
    def get(self, args):
        """Your payments, newest first."""
        return newest_first_page(
            args, partial(services.my_payments, session=get_session(), account=current_account())
        )


@blp.route("/vouchers/<string:code>/refund")
class RefundVoucher(MethodView):
    @endpoint()
    @blp.response(200, VoucherReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, code: str):
        """Refund a voucher: yours within the deal's refund days, or one of your deal's."""
        return services.refund_voucher(
            session=get_session(), code=code, account=current_account(), now=utcnow()
        )


@blp.route("/merchant/statement")
class MerchantStatement(MethodView):
    @endpoint(role="merchant", read_only=True)
    @blp.arguments(StatementQuerySchema, location="query")
    @blp.response(200, StatementSchema)
    def get(self, args):
        """Your money per deal over a period: gross paid, refunds, fees, payable."""
        end: datetime = args.get("end") or utcnow()
        start: datetime = args.get("start") or end - STATEMENT_DEFAULT_SPAN
        return services.merchant_statement(
            session=get_session(), merchant=current_account(), start=start, end=end
        )
