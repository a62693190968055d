"""Request and response schemas for check-ins, reward programs and rewards."""

from marshmallow import Schema, fields, validate

from checkins.models import ProgramKind, RewardStatus
from core.schemas import ReadSchema, UtcDateTime, list_schema
from geo.schemas import LocationSchema
from social.fields import share_field
from social.models import Audience

positive = validate.Range(1, 1_000_000)


class CheckinCreateSchema(Schema):
    location = fields.Nested(LocationSchema, required=True)
    accuracy_m = fields.Float(allow_nan=False, allow_none=True, validate=validate.Range(0, 100_000))
    is_mock = fields.Boolean(load_default=False)
    message = fields.String(allow_none=True, validate=validate.Length(max=500))
    share = share_field()


class CheckinReadSchema(ReadSchema):
    id = fields.UUID(required=True)
    venue_id = fields.UUID(required=True)
    created_at = UtcDateTime(required=True)
    distance_m = fields.Float(required=True)
    counted = fields.Boolean(required=True)
    reasons = fields.List(fields.String(), required=True)
    share = fields.String(required=True, validate=validate.OneOf(list(Audience)))


class RewardReadSchema(ReadSchema):
    code = fields.String(required=True)
    program_id = fields.UUID(required=True)
    venue_id = fields.UUID(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(list(RewardStatus)))
    earned_at = UtcDateTime(required=True)
    redeemed_at = UtcDateTime(allow_none=True)


class ProgressSchema(ReadSchema):
    program_id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(list(ProgramKind)))
    title = fields.String(required=True)
    current = fields.Integer(required=True)
    target = fields.Integer(required=True)
    remaining = fields.Integer(required=True)
    achieved = fields.Boolean(required=True)


class CheckinResultSchema(ReadSchema):
    checkin = fields.Nested(CheckinReadSchema, required=True)
    rewards = fields.List(fields.Nested(RewardReadSchema), required=True)
    progress = fields.List(fields.Nested(ProgressSchema), required=True)


class ProgramCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(list(ProgramKind)))
    title = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    threshold = fields.Integer(strict=True, allow_none=True, validate=positive)
    window_days = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 3650))
    window_minutes = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 10080))
    starts_at = UtcDateTime(allow_none=True)
    ends_at = UtcDateTime(allow_none=True)
    max_rewards = fields.Integer(strict=True, allow_none=True, validate=positive)


class ProgramReadSchema(ReadSchema):
    id = fields.UUID(required=True)
    venue_id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(list(ProgramKind)))
    title = fields.String(required=True)
    description = fields.String(allow_none=True, required=True)
    threshold = fields.Integer(allow_none=True, required=True)
    window_days = fields.Integer(allow_none=True, required=True)
    window_minutes = fields.Integer(allow_none=True, required=True)
    starts_at = UtcDateTime(required=True)
    ends_at = UtcDateTime(allow_none=True, required=True)
    max_rewards = fields.Integer(allow_none=True, required=True)
    rewards_issued = fields.Integer(required=True)
    created_at = UtcDateTime(required=True)


CheckinListSchema = list_schema(CheckinReadSchema, "CheckinList")
ProgramListSchema = list_schema(ProgramReadSchema, "ProgramList")
RewardListSchema = list_schema(RewardReadSchema, "RewardList")
