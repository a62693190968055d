"""Schemas for the in-app inbox."""

from marshmallow import Schema, fields, validate

from core.schemas import ReadSchema, UtcDateTime, list_schema
from geo.schemas import LocationSchema
from notifications.models import (
    EVENT_KINDS,
    MAX_ALERT_RADIUS_M,
    MIN_ALERT_RADIUS_M,
    DeliveryStatus,
    DevicePlatform,
)

MAX_DEVICE_TOKEN_LENGTH = 1024


class NotificationReadSchema(ReadSchema):
    id = fields.UUID(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    data = fields.Dict(required=True)
    created_at = UtcDateTime(required=True)
    read_at = UtcDateTime(allow_none=True, required=True)


NotificationListSchema = list_schema(NotificationReadSchema, "NotificationList")


class DeviceCreateSchema(Schema):
    platform = fields.String(required=True, validate=validate.OneOf(list(DevicePlatform)))
    # FCM tokens run to ~250 characters, APNs tokens are 64 hex digits; printable ASCII of at
    # most 1024 bytes stays well inside the 2704-byte row limit of the unique btree index.
    token = fields.String(
        required=True,
        validate=[
            validate.Length(1, MAX_DEVICE_TOKEN_LENGTH),
            validate.Regexp(r"^[\x21-\x7e]+$", error="Printable ASCII without spaces."),
        ],
    )


class DeviceReadSchema(ReadSchema):
    id = fields.UUID(required=True)
    platform = fields.String(required=True, validate=validate.OneOf(list(DevicePlatform)))
    token = fields.String(required=True)
    created_at = UtcDateTime(required=True)


class WebhookCreateSchema(Schema):
    url = fields.Url(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2048),
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_KINDS)),
        load_default=list,
        validate=validate.Length(max=len(EVENT_KINDS)),
        metadata={"description": "Event kinds to receive; empty = all"},
    )


class WebhookReadSchema(ReadSchema):
    id = fields.UUID(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    created_at = UtcDateTime(required=True)


class WebhookCreatedSchema(WebhookReadSchema):
    secret = fields.String(
        required=True,
        metadata={
            "description": "Shown once: keep it (a replay of this request answers a note instead)"
        },
    )


class DeliveryReadSchema(ReadSchema):
    id = fields.Integer(required=True)
    event_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(list(DeliveryStatus)))
    attempts = fields.Integer(required=True)
    last_error = fields.String(allow_none=True, required=True)
    next_attempt_at = UtcDateTime(required=True)
    delivered_at = UtcDateTime(allow_none=True, required=True)
    created_at = UtcDateTime(required=True)


class AlertAreaCreateSchema(Schema):
    label = fields.String(allow_none=True, validate=validate.Length(max=100))
    location = fields.Nested(LocationSchema, required=True)
    radius_m = fields.Integer(
        strict=True, required=True, validate=validate.Range(MIN_ALERT_RADIUS_M, MAX_ALERT_RADIUS_M)
    )


class AlertAreaReadSchema(ReadSchema):
    id = fields.UUID(required=True)
    label = fields.String(allow_none=True, required=True)
    location = fields.Nested(LocationSchema, attribute="point", required=True)
    radius_m = fields.Integer(required=True)
    created_at = UtcDateTime(required=True)


WebhookListSchema = list_schema(WebhookReadSchema, "WebhookList")
DeliveryListSchema = list_schema(DeliveryReadSchema, "DeliveryList")
AlertAreaListSchema = list_schema(AlertAreaReadSchema, "AlertAreaList")
