"""Request and response schemas for accounts and tokens."""

from marshmallow import Schema, fields, validate

from accounts.models import HANDLE_PATTERN, ROLES
from core.schemas import ReadSchema, UtcDateTime

PASSWORD_MIN_LENGTH = 10


class AccountCreateSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(PASSWORD_MIN_LENGTH, 1024)
    )
    display_name = fields.String(required=True, validate=validate.Length(1, 100))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


def handle_field(**kwargs) -> fields.String:
    """A handle: 3-30 characters of `[a-z0-9_]`."""
    return fields.String(
        validate=validate.Regexp(HANDLE_PATTERN, error="3-30 characters: a-z, 0-9 and _."),
        **kwargs,
    )


class AccountPatchSchema(Schema):
    handle = handle_field(
        allow_none=True,
        metadata={"description": "How friends find you (unique); null removes it"},
    )
    display_name = fields.String(validate=validate.Length(1, 100))


class AccountReadSchema(ReadSchema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    display_name = fields.String(required=True)
    role = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    handle = fields.String(allow_none=True, required=True)


class TokenCreateSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(1, 254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(1, 1024))


class TokenReadSchema(ReadSchema):
    token = fields.String(required=True)
    expires_at = UtcDateTime(required=True)
    account = fields.Nested(AccountReadSchema, required=True)
