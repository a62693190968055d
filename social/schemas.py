"""Share link bodies."""

from marshmallow import fields

from core.schemas import ReadSchema, UtcDateTime, list_schema
from deals.schemas import ReferralReadSchema


class ShareSchema(ReadSchema):
    code = fields.String(required=True, metadata={"description": "8 Crockford base32 chars"})
    url = fields.String(required=True, metadata={"description": "PUBLIC_BASE_URL/s/{code}"})
    deal_id = fields.UUID(required=True)
    created_at = UtcDateTime(required=True)


class MyShareSchema(ReadSchema):
    code = fields.String(required=True)
    url = fields.String(required=True)
    deal_id = fields.UUID(required=True)
    visits = fields.Integer(
        required=True, metadata={"description": "Visitors counted once per visitor and UTC day"}
    )
    commitments = fields.Integer(required=True, metadata={"description": "Attributed commitments"})
    units = fields.Integer(required=True, metadata={"description": "Attributed units"})
    credit_cents = fields.Integer(required=True, metadata={"description": "Referral credit"})
    referral = fields.Nested(
        ReferralReadSchema,
        allow_none=True,
        required=True,
        metadata={"description": "What the deal pays you for the customers you bring"},
    )


MyShareListSchema = list_schema(MyShareSchema, "MyShareList")
