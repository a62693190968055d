"""Request and response schemas for deals, commitments and vouchers."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.schemas import INT4_MAX, PageQuerySchema, ReadSchema, UtcDateTime, list_schema
from deals.models import (
    DEFAULT_REFUND_DAYS,
    REFERRAL_FRIENDS_MAX,
    REFERRAL_PERCENT_MAX,
    CommitmentStatus,
    DealStatus,
    ReferralKind,
    VoucherStatus,
)
from geo.schemas import BBoxField, LocationSchema, NearbyQuerySchema
from payments.schemas import PAYMENT_METHOD_ID, PaymentReadSchema
from social.fields import share_field
from social.models import Audience
from venues.schemas import RATING_DOC, RatingSchema

RADIUS_DEFAULT_M = 5000
RADIUS_MAX_M = 50000
MAX_UNITS = 1_000_000
# Units one request may take: every unit becomes a voucher row when the deal has tipped.
MAX_UNITS_PER_COMMIT = 100
MAX_REFUND_DAYS = 365

money = validate.Range(0, INT4_MAX)
units = validate.Range(1, MAX_UNITS)


class ReferralSchema(Schema):
    """`{"kind": "commission", "percent": 1..50}` or `{"kind": "bring_friends", "friends": 1..10}`."""

    kind = fields.String(required=True, validate=validate.OneOf(list(ReferralKind)))
    percent = fields.Integer(
        strict=True,
        validate=validate.Range(1, REFERRAL_PERCENT_MAX),
        metadata={"description": "commission: the referrer's percent of each referred unit"},
    )
    friends = fields.Integer(
        strict=True,
        validate=validate.Range(1, REFERRAL_FRIENDS_MAX),
        metadata={"description": "bring_friends: distinct friends who make your own units free"},
    )

    @validates_schema
    def one_shape(self, data, **kwargs):
        """Exactly the member of its kind: `percent` for commission, `friends` for bring_friends."""
        wanted = "percent" if data.get("kind") == ReferralKind.COMMISSION else "friends"
        unwanted = "friends" if wanted == "percent" else "percent"
        errors = {}
        if "kind" in data and wanted not in data:
            errors[wanted] = [f"Required for {data['kind']}."]
        if unwanted in data:
            errors[unwanted] = [f"Not for {data.get('kind', 'this kind')}."]
        if errors:
            raise ValidationError(errors)


class ReferralReadSchema(ReadSchema):
    kind = fields.String(required=True, validate=validate.OneOf(list(ReferralKind)))
    percent = fields.Integer(metadata={"description": "commission only"})
    friends = fields.Integer(metadata={"description": "bring_friends only"})


class DealPatchSchema(Schema):
    title = fields.String(validate=validate.Length(1, 200))
    description = fields.String(allow_none=True, validate=validate.Length(max=5000))
    price_cents = fields.Integer(strict=True, validate=money)
    original_price_cents = fields.Integer(strict=True, allow_none=True, validate=money)
    currency = fields.String(
        validate=validate.Regexp(r"^[A-Z]{3}$", error="An ISO 4217 code, e.g. EUR.")
    )
    min_commitments = fields.Integer(strict=True, validate=units)
    max_commitments = fields.Integer(strict=True, allow_none=True, validate=units)
    per_user_limit = fields.Integer(strict=True, validate=units)
    starts_at = UtcDateTime()
    ends_at = UtcDateTime()
    redeem_until = UtcDateTime()
    referral = fields.Nested(
        ReferralSchema,
        allow_none=True,
        metadata={"description": "What sharers earn for the customers they bring; null: nothing"},
    )
    new_customers_only = fields.Boolean(
        metadata={"description": "Referral credit only for customers new to this merchant"}
    )
    refund_days = fields.Integer(
        strict=True,
        validate=validate.Range(0, MAX_REFUND_DAYS),
        metadata={"description": "Days after paying in which a customer may ask for a refund"},
    )


class DealCreateSchema(DealPatchSchema):
    venue_id = fields.UUID(required=True)
    title = fields.String(required=True, validate=validate.Length(1, 200))
    price_cents = fields.Integer(strict=True, required=True, validate=money)
    currency = fields.String(
        load_default="EUR",
        validate=validate.Regexp(r"^[A-Z]{3}$", error="An ISO 4217 code, e.g. EUR."),
    )
    min_commitments = fields.Integer(strict=True, required=True, validate=units)
    per_user_limit = fields.Integer(strict=True, load_default=1, validate=units)
    starts_at = UtcDateTime(allow_none=True, metadata={"description": "Default: now"})
    ends_at = UtcDateTime(required=True)
    redeem_until = UtcDateTime(
        allow_none=True, metadata={"description": "Default: ends_at + 90 days"}
    )
    new_customers_only = fields.Boolean(load_default=False)
    refund_days = fields.Integer(
        strict=True,
        load_default=DEFAULT_REFUND_DAYS,
        validate=validate.Range(0, MAX_REFUND_DAYS),
        metadata={"description": "Days after paying in which a customer may ask for a refund"},
    )


class DealReadSchema(ReadSchema):
    id = fields.UUID(required=True)
    venue_id = fields.UUID(required=True)
    merchant_id = fields.UUID(required=True)
    title = fields.String(required=True)
    description = fields.String(allow_none=True, required=True)
    price_cents = fields.Integer(required=True)
    original_price_cents = fields.Integer(allow_none=True, required=True)
    currency = fields.String(required=True)
    location = fields.Nested(LocationSchema, attribute="point", required=True)
    min_commitments = fields.Integer(required=True)
    max_commitments = fields.Integer(allow_none=True, required=True)
    per_user_limit = fields.Integer(required=True)
    committed_count = fields.Integer(required=True)
    remaining = fields.Integer(allow_none=True, required=True)
    status = fields.String(required=True, validate=validate.OneOf(list(DealStatus)))
    tipped_at = UtcDateTime(allow_none=True, required=True)
    starts_at = UtcDateTime(required=True)
    ends_at = UtcDateTime(required=True)
    redeem_until = UtcDateTime(required=True)
    refund_days = fields.Integer(required=True)
    created_at = UtcDateTime(required=True)
    referral = fields.Nested(ReferralReadSchema, allow_none=True, required=True)
    new_customers_only = fields.Boolean(required=True)


class FriendsCommittedSchema(ReadSchema):
    count = fields.Integer(required=True)
    names = fields.List(
        fields.String(), required=True, metadata={"description": "At most 3 display names"}
    )


class ViewerSchema(ReadSchema):
    committed_quantity = fields.Integer(
        required=True, metadata={"description": "Your open (pending or confirmed) units"}
    )
    share_code = fields.String(
        allow_none=True, required=True, metadata={"description": "Your share of the deal, if any"}
    )
    friends_committed = fields.Nested(FriendsCommittedSchema, required=True)


class DealListingSchema(DealReadSchema):
    """A deal as the reads show it: with social proof, and `viewer` for a signed-in account."""

    recent_commitments = fields.Integer(
        required=True, metadata={"description": "Units committed in the last hour"}
    )
    rating = fields.Nested(RatingSchema, required=True, metadata=RATING_DOC)
    viewer = fields.Nested(
        ViewerSchema, metadata={"description": "Only with a valid token: you and this deal"}
    )


class NearbyDealSchema(DealListingSchema):
    distance_m = fields.Float(required=True)


class VoucherCountsSchema(ReadSchema):
    issued = fields.Integer(required=True)
    redeemed = fields.Integer(required=True)
    void = fields.Integer(required=True)
    expired = fields.Integer(required=True)
    refunded = fields.Integer(required=True)


class MerchantDealSchema(DealListingSchema):
    commitments = fields.Integer(required=True, metadata={"description": "Open commitments"})
    committers = fields.Integer(
        required=True, metadata={"description": "Distinct accounts with open commitments"}
    )
    vouchers = fields.Nested(VoucherCountsSchema, required=True)


class DealNearbyQuerySchema(NearbyQuerySchema, PageQuerySchema):
    radius_m = fields.Float(
        load_default=RADIUS_DEFAULT_M, allow_nan=False, validate=validate.Range(1, RADIUS_MAX_M)
    )


class BboxQuerySchema(PageQuerySchema):
    bbox = BBoxField(
        required=True,
        metadata={
            "description": "minLon,minLat,maxLon,maxLat (lon in [-180, 180], lat in [-90, 90], "
            "minLat <= maxLat); minLon > maxLon crosses the antimeridian",
            "type": "string",
            "format": "bbox",
            "example": "13.3,52.4,13.5,52.6",
        },
    )


class MerchantDealQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(list(DealStatus)))


class CommitmentCreateSchema(Schema):
    quantity = fields.Integer(
        strict=True, load_default=1, validate=validate.Range(1, MAX_UNITS_PER_COMMIT)
    )
    share_code = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^[0-9A-Za-z]{1,32}$", error="A share code: letters and digits."),
        metadata={
            "description": "The code of the share link that brought you (from /s/{code}). "
            "Another account's share of this deal records that account as the referrer; "
            "your own code, an unknown code or one of another deal is not attributed"
        },
    )
    payment_method = fields.String(
        validate=PAYMENT_METHOD_ID,
        metadata={
            "description": "A PaymentMethod id of the payment provider: required when payments "
            "are online (PAYMENT_PROVIDER=stripe) and the deal has a price, else ignored"
        },
    )
    share = share_field()


class CommitmentReadSchema(ReadSchema):
    id = fields.UUID(required=True)
    deal_id = fields.UUID(required=True)
    quantity = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(list(CommitmentStatus)))
    created_at = UtcDateTime(required=True)
    share = fields.String(required=True, validate=validate.OneOf(list(Audience)))


class CommitmentResultSchema(ReadSchema):
    commitment = fields.Nested(CommitmentReadSchema, required=True)
    deal = fields.Nested(DealReadSchema, required=True)
    payment = fields.Nested(
        PaymentReadSchema, metadata={"description": "Only when the units are paid online"}
    )


class PaymentPendingSchema(ReadSchema):
    payment = fields.Nested(PaymentReadSchema, required=True)
    deal = fields.Nested(DealReadSchema, required=True)


class WithdrawalResultSchema(ReadSchema):
    released_quantity = fields.Integer(required=True)
    deal = fields.Nested(DealReadSchema, required=True)


class VoucherReadSchema(ReadSchema):
    code = fields.String(required=True)
    deal_id = fields.UUID(required=True)
    commitment_id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(list(VoucherStatus)))
    redeem_until = UtcDateTime(required=True)
    redeemed_at = UtcDateTime(allow_none=True, required=True)
    price_cents = fields.Integer(required=True)
    credit_cents = fields.Integer(
        required=True, metadata={"description": "Referral credit applied (payments at the venue)"}
    )
    to_pay_cents = fields.Integer(
        required=True, metadata={"description": "Left to pay at the venue (0 if paid online)"}
    )


DealListSchema = list_schema(DealListingSchema, "DealList")
NearbyDealListSchema = list_schema(NearbyDealSchema, "NearbyDealList")
MerchantDealListSchema = list_schema(MerchantDealSchema, "MerchantDealList")
CommitmentListSchema = list_schema(CommitmentReadSchema, "CommitmentList")
VoucherListSchema = list_schema(VoucherReadSchema, "VoucherList")
