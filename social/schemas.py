"""Share link, friendship, feed and account export bodies."""

from marshmallow import Schema, fields, validate

from accounts.schemas import AccountReadSchema, handle_field
from checkins.schemas import CheckinReadSchema, RewardReadSchema
from core.schemas import PageQuerySchema, ReadSchema, UtcDateTime, list_schema
from deals.schemas import CommitmentReadSchema, ReferralReadSchema, VoucherReadSchema
from geo.schemas import LocationSchema
from notifications.schemas import AlertAreaReadSchema, NotificationReadSchema
from referrals.schemas import CreditEntrySchema

FRIEND_STATUSES = ("friends", "incoming", "outgoing")
FEED_KINDS = ("checkin", "commitment", "review")


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


class FriendAccountSchema(ReadSchema):
    id = fields.UUID(required=True)
    display_name = fields.String(required=True)
    handle = fields.String(allow_none=True, required=True)


class FriendSchema(ReadSchema):
    account = fields.Nested(FriendAccountSchema, required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(FRIEND_STATUSES),
        metadata={
            "description": "`friends`; `incoming`: they asked you (accept or delete it); "
            "`outgoing`: you asked them"
        },
    )
    created_at = UtcDateTime(
        required=True, metadata={"description": "When the request was sent or accepted"}
    )


class FriendRequestSchema(Schema):
    handle = handle_field(required=True)


class FriendQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(FRIEND_STATUSES))


class FeedVenueSchema(ReadSchema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)


class FeedDealSchema(ReadSchema):
    id = fields.UUID(required=True)
    title = fields.String(required=True)


class FeedReviewSchema(ReadSchema):
    rating = fields.Integer(required=True)
    text = fields.String(allow_none=True, required=True)


class FeedItemSchema(ReadSchema):
    id = fields.UUID(required=True, metadata={"description": "The check-in, commitment or review"})
    kind = fields.String(required=True, validate=validate.OneOf(FEED_KINDS))
    created_at = UtcDateTime(required=True)
    friend = fields.Nested(FriendAccountSchema, required=True)
    venue = fields.Nested(FeedVenueSchema, required=True)
    deal = fields.Nested(FeedDealSchema, allow_none=True, required=True)
    quantity = fields.Integer(
        allow_none=True, required=True, metadata={"description": "Units of a commitment"}
    )
    review = fields.Nested(FeedReviewSchema, allow_none=True, required=True)


FriendListSchema = list_schema(FriendSchema, "FriendList")
FeedSchema = list_schema(FeedItemSchema, "Feed")


class ExportCheckinSchema(CheckinReadSchema):
    location = fields.Nested(LocationSchema, attribute="point", required=True)
    accuracy_m = fields.Float(allow_none=True, required=True)
    is_mock = fields.Boolean(required=True)
    message = fields.String(allow_none=True, required=True)


class ExportShareSchema(ReadSchema):
    code = fields.String(required=True)
    deal_id = fields.UUID(required=True)
    visits = fields.Integer(required=True)
    commitments = fields.Integer(required=True)
    units = fields.Integer(required=True)
    created_at = UtcDateTime(required=True)


class ExportDeviceSchema(ReadSchema):
    id = fields.UUID(required=True)
    platform = fields.String(required=True)
    created_at = UtcDateTime(required=True)


class ExportReviewSchema(ReadSchema):
    id = fields.UUID(required=True)
    venue_id = fields.UUID(required=True)
    rating = fields.Integer(required=True)
    text = fields.String(allow_none=True, required=True)
    verified_by = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    edited_at = UtcDateTime(allow_none=True, required=True)
    hidden_at = UtcDateTime(allow_none=True, required=True)


class ExportSchema(ReadSchema):
    account = fields.Nested(AccountReadSchema, required=True)
    friends = fields.List(fields.Nested(FriendSchema), required=True)
    checkins = fields.List(fields.Nested(ExportCheckinSchema), required=True)
    commitments = fields.List(fields.Nested(CommitmentReadSchema), required=True)
    vouchers = fields.List(fields.Nested(VoucherReadSchema), required=True)
    rewards = fields.List(fields.Nested(RewardReadSchema), required=True)
    shares = fields.List(fields.Nested(ExportShareSchema), required=True)
    alert_areas = fields.List(fields.Nested(AlertAreaReadSchema), required=True)
    devices = fields.List(
        fields.Nested(ExportDeviceSchema),
        required=True,
        metadata={"description": "Without push tokens"},
    )
    notifications = fields.List(fields.Nested(NotificationReadSchema), required=True)
    reviews = fields.List(fields.Nested(ExportReviewSchema), required=True)
    credits = fields.List(fields.Nested(CreditEntrySchema), required=True)
