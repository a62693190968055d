"""Shared marshmallow pieces: UTC timestamps, problem documents, list envelopes, cursors."""
import base64
import binascii
import json
from datetime import datetime, timezone

from marshmallow import Schema, ValidationError, fields, validate

from core.errors import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class UtcDateTime(fields.AwareDateTime):
    """RFC 3339 timestamp: input must carry an offset, output is UTC with a `Z`."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).astimezone(timezone.utc)


class ProblemSchema(Schema):
    """RFC 9457 problem details with our `code` member."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    code = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class PageQuerySchema(Schema):
    """`limit` and `cursor` query arguments shared by every list."""

    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(1, MAX_LIMIT))
    cursor = fields.String(load_default=None, validate=validate.Length(max=500), metadata={
        "format": "cursor",
        "description": "Opaque: the `next_cursor` of the previous page (only values the server "
                       "issued are valid)",
    })


def list_schema(item_schema: type[Schema], name: str) -> type[Schema]:
    """A `{items, next_cursor}` envelope schema around `item_schema`."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "next_cursor": fields.String(allow_none=True, required=True),
        },
        name=name,
    )


def encode_cursor(values: list) -> str:
    """Opaque cursor from the sort key of the last item of a page."""
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, types: tuple[type, ...]) -> list:
    """Read a cursor made by `encode_cursor`, checking its shape; 422 if it is not ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("wrong shape")
        return [parse(value) for parse, value in zip(types, values)]
    except (ValueError, TypeError, binascii.Error, ValidationError) as exc:
        raise ValidationFailed({"cursor": ["Not a valid cursor."]}) from exc


def parse_datetime(value: str) -> datetime:
    """Parse an ISO timestamp stored in a cursor."""
    return datetime.fromisoformat(value)


def page_of(rows: list, limit: int, sort_key) -> dict:
    """A list envelope from `limit + 1` fetched rows; the extra row only signals a next page."""
    page = rows[:limit]
    cursor = encode_cursor(sort_key(page[-1])) if len(rows) > limit else None
    return {"items": page, "next_cursor": cursor}
