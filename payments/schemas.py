"""Request and response schemas of checkout: payments, the merchant's statement, the webhook."""

from datetime import timedelta

from marshmallow import Schema, fields, validate

from core.schemas import ReadSchema, UtcDateTime, list_schema
from payments.models import PaymentMethodKind, PaymentStatus

STATEMENT_DEFAULT_SPAN = timedelta(days=30)
PAYMENT_METHOD_ID = validate.Regexp(
    r"^[A-Za-z0-9_]{1,255}$", error="A payment method id of the provider, e.g. pm_card_visa."
)


class PaymentReadSchema(ReadSchema):
    id = fields.UUID(required=True)
    deal_id = fields.UUID(required=True)
    commitment_id = fields.UUID(
        attribute="taken_commitment_id",
        allow_none=True,
        required=True,
        metadata={"description": "Null until the units are taken"},
    )
    quantity = fields.Integer(required=True)
    amount_cents = fields.Integer(required=True)
    currency = fields.String(required=True)
    method = fields.String(
        required=True,
        validate=validate.OneOf(list(PaymentMethodKind)),
        metadata={
            "description": "`hold`: authorised now, captured at the tip; `saved_card`: the "
            "card is saved and charged off-session at the tip (deals ending more than "
            "PAYMENT_HOLD_DAYS after the commitment)"
        },
    )
    status = fields.String(required=True, validate=validate.OneOf(list(PaymentStatus)))
    client_secret = fields.String(
        metadata={
            "description": "Only while the customer must confirm (3-D Secure): what the "
            "provider's SDK confirms the payment with"
        }
    )
    last_error = fields.String(allow_none=True, required=True)
    created_at = UtcDateTime(required=True)
    captured_at = UtcDateTime(allow_none=True, required=True)
    failed_at = UtcDateTime(
        allow_none=True,
        required=True,
        metadata={"description": "When the charge at the tip failed; fix it within 48 h"},
    )


class PaymentResultSchema(ReadSchema):
    payment = fields.Nested(PaymentReadSchema, required=True)


class PaymentConfirmSchema(Schema):
    payment_method = fields.String(
        validate=PAYMENT_METHOD_ID,
        metadata={"description": "After a failed charge: the card to charge instead"},
    )


class StatementQuerySchema(Schema):
    start = UtcDateTime(
        data_key="from", metadata={"description": "Inclusive; default: `to` minus 30 days"}
    )
    end = UtcDateTime(data_key="to", metadata={"description": "Exclusive; default: now"})


class StatementAmountsSchema(ReadSchema):
    currency = fields.String(required=True)
    gross_paid_cents = fields.Integer(required=True)
    refunds_cents = fields.Integer(required=True)
    referral_commissions_cents = fields.Integer(
        required=True,
        metadata={"description": "Referral credit earned on the deal, less reversed and expired"},
    )
    credit_redeemed_cents = fields.Integer(
        required=True,
        metadata={"description": "Customers' referral credit spent on the deal, owed to you"},
    )
    platform_fee_cents = fields.Integer(required=True)
    payable_cents = fields.Integer(
        required=True,
        metadata={
            "description": "gross paid - refunds - referral commissions + credit redeemed"
            " - platform fee"
        },
    )


class StatementDealSchema(StatementAmountsSchema):
    deal_id = fields.UUID(required=True)
    title = fields.String(required=True)


class StatementSchema(ReadSchema):
    start = UtcDateTime(data_key="from", required=True)
    end = UtcDateTime(data_key="to", required=True)
    deals = fields.List(fields.Nested(StatementDealSchema), required=True)
    totals = fields.List(
        fields.Nested(StatementAmountsSchema),
        required=True,
        metadata={"description": "The deals' sums, one per currency"},
    )


class WebhookResultSchema(ReadSchema):
    received = fields.Boolean(required=True)
    duplicate = fields.Boolean(
        required=True, metadata={"description": "This event id was handled before: no change"}
    )


PaymentListSchema = list_schema(PaymentReadSchema, "PaymentList")
