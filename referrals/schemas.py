"""Referral credit bodies."""

from marshmallow import fields, validate

from core.schemas import ReadSchema, UtcDateTime
from deals.models import ReferralKind
from referrals.models import CreditStatus


class CreditEntrySchema(ReadSchema):
    id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(list(ReferralKind)))
    amount_cents = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(list(CreditStatus)))
    deal_id = fields.UUID(required=True)
    created_at = UtcDateTime(required=True)
    available_at = UtcDateTime(allow_none=True, required=True)
    expires_at = UtcDateTime(allow_none=True, required=True)


class CreditsSchema(ReadSchema):
    available_cents = fields.Integer(required=True, metadata={"description": "Yours to spend"})
    pending_cents = fields.Integer(
        required=True, metadata={"description": "Until the referred units are bought for good"}
    )
    entries = fields.List(fields.Nested(CreditEntrySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
