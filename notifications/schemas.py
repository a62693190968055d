"""Schemas for the in-app inbox."""
from marshmallow import Schema, fields

from core.schemas import UtcDateTime, list_schema


class NotificationReadSchema(Schema):
    id = fields.UUID(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    data = fields.Dict(required=True)
    created_at = UtcDateTime(required=True)
    read_at = UtcDateTime(allow_none=True, required=True)


NotificationListSchema = list_schema(NotificationReadSchema, "NotificationList")
