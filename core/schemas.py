"""Shared marshmallow pieces: UTC timestamps, problem documents, list envelopes, cursors."""

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from functools import partial

from marshmallow import Schema, ValidationError, fields, missing, validate
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from marshmallow.schema import SchemaMeta

from core.errors import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
INT4_MAX = 2**31 - 1  # the largest value of a PostgreSQL `integer` column

# Timestamps the app accepts: PostgreSQL holds far more, but Python's datetime ends at year
# 9999 and the app adds days to client times (`redeem_until` defaults to `ends_at` + 90 days),
# so a margin of centuries keeps every sum representable; nothing in the domain predates 1970.
EARLIEST_TIMESTAMP = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIMESTAMP = datetime(9000, 1, 1, tzinfo=UTC)


class UtcDateTime(fields.AwareDateTime):
    """RFC 3339 timestamp: input must carry an offset and lie in EARLIEST..LATEST_TIMESTAMP;
    output is UTC with a `Z`."""

    default_error_messages = {
        "out_of_range": f"Must lie between {EARLIEST_TIMESTAMP.isoformat()} and "
        f"{LATEST_TIMESTAMP.isoformat()}.",
    }

    def __init__(self, **kwargs):
        metadata = dict(kwargs.pop("metadata", {}))
        bounds = self.default_error_messages["out_of_range"]
        metadata["description"] = (
            f"{metadata['description']}. {bounds}" if "description" in metadata else bounds
        )
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def _deserialize(self, value, attr, data, **kwargs):
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:  # an offset can carry 0001-01-01 or 9999-12-31 past what datetime holds
            utc = parsed.astimezone(UTC)
        except OverflowError as exc:
            raise self.make_error("out_of_range") from exc
        if not EARLIEST_TIMESTAMP <= utc <= LATEST_TIMESTAMP:
            raise self.make_error("out_of_range")
        return utc


# Free text as people write it: line breaks and tabs, but no other control character (C0, DEL,
# C1). Written with \u escapes, so the OpenAPI `pattern` means the same in ECMA-262 regexes.
PLAIN_TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
_NO_CONTROL_CHARACTERS = validate.Regexp(
    PLAIN_TEXT_PATTERN,
    error="Must not contain control characters (other than line breaks and tabs).",
)


def _no_lone_surrogates(value: str) -> None:
    # JSON can spell half of a UTF-16 pair ("\ud800"); UTF-8, and so PostgreSQL, cannot store it.
    # Not in the pattern: an ECMA-262 regex sees every emoji as two such halves.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError("Must not contain unpaired UTF-16 surrogates.") from exc


def plain_text(max_length: int, min_length: int = 0) -> list:
    """Validators of a free-text field: its length, no control characters, valid Unicode."""
    return [validate.Length(min_length, max_length), _NO_CONTROL_CHARACTERS, _no_lone_surrogates]


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
    cursor = fields.String(
        load_default=None,
        validate=validate.Length(max=500),
        metadata={
            "format": "cursor",
            "description": "Opaque: the `next_cursor` of the previous page (only values the server "
            "issued are valid)",
        },
    )


def list_schema(item_schema: type[Schema], name: str) -> type[Schema]:
    """A `{items, next_cursor}` envelope schema around `item_schema`."""
    return ReadSchema.from_dict(
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
    """Parse an ISO timestamp stored in a cursor (aware and in the accepted range, or ValueError)."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None or not EARLIEST_TIMESTAMP <= parsed <= LATEST_TIMESTAMP:
        raise ValueError("timestamp out of range")
    return parsed


def parse_bigint(value) -> int:
    """Parse an id stored in a cursor that fits a PostgreSQL `bigint` (or ValueError)."""
    parsed = int(value)
    if not -(2**63) <= parsed < 2**63:
        raise ValueError("id out of range")
    return parsed


def page_of(rows: list, limit: int, sort_key) -> dict:
    """A list envelope from `limit + 1` fetched rows; the extra row only signals a next page."""
    page = rows[:limit]
    cursor = encode_cursor(sort_key(page[-1])) if len(rows) > limit else None
    return {"items": page, "next_cursor": cursor}


# Fields that do not read their own attribute, so the dumper's missing-attribute check is wrong.
ATTRIBUTELESS_FIELDS = (fields.Method, fields.Function, fields.Constant)


def refuse_uncompilable(schema: Schema) -> None:
    """Raise TypeError if `compile_dumper(schema)` would not dump exactly as marshmallow does."""
    name = type(schema).__name__
    hooks = type(schema).resolve_hooks()
    if hooks.get(PRE_DUMP) or hooks.get(POST_DUMP):
        raise TypeError(f"{name}: the compiled dumper does not run @pre_dump/@post_dump hooks")
    if type(schema).get_attribute is not Schema.get_attribute:
        raise TypeError(f"{name}: the compiled dumper does not call an overridden get_attribute")
    for field_name, field in schema.dump_fields.items():
        where = f"{name}.{field_name}"
        if field.dump_default is not missing:
            raise TypeError(
                f"{where}: the compiled dumper leaves out missing values (dump_default)"
            )
        if isinstance(field, ATTRIBUTELESS_FIELDS):
            raise TypeError(f"{where}: the compiled dumper needs fields that read an attribute")
        if isinstance(field, fields.Number) and field.as_string:
            raise TypeError(f"{where}: the compiled dumper does not dump numbers as strings")
        if isinstance(field, fields.List):
            field = field.inner
        if isinstance(field, fields.Nested):
            refuse_uncompilable(field.schema)


class CompiledDumpMeta(SchemaMeta):
    """Schema metaclass that refuses, when the class is created, what `compile_dumper` cannot do."""

    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        refuse_uncompilable(cls())


class ReadSchema(Schema, metaclass=CompiledDumpMeta):
    """A response schema whose `dump` is compiled once into plain attribute reads.

    Profiles of list endpoints showed marshmallow's generic per-field machinery taking most of
    a request's time; the compiled dumper gives the same output (tests compare the two) for
    the field types our responses use, and defers to marshmallow for any other field. A
    schema using what the dumper does not reproduce (dump hooks, an attribute getter, defaults,
    fields that read no attribute) is refused at import instead of being dumped differently.
    """

    def dump(self, obj, *, many: bool | None = None):
        """Serialise like `Schema.dump`, faster."""
        dumper = self.__dict__.get("_fast_dumper") or self.__dict__.setdefault(
            "_fast_dumper", compile_dumper(self)
        )
        many = self.many if many is None else bool(many)
        return [dumper(item) for item in obj] if many else dumper(obj)


def _utc_text(value):
    if value.tzinfo is not UTC:  # the database's values are UTC already
        value = value.astimezone(UTC)
    return value.isoformat()[:-6] + "Z"


def _as_is(value):
    return value


def _converter(field: fields.Field):
    """A fast `value -> serialised value` (for values other than None), or None to use marshmallow."""
    if isinstance(field, fields.Nested):
        inner = compile_dumper(field.schema)
        if field.many or field.schema.many:
            return lambda values: [inner(v) for v in values]
        return inner
    if isinstance(field, fields.List):
        inner = _converter(field.inner)
        return (lambda values: [None if v is None else inner(v) for v in values]) if inner else None
    simple = {
        UtcDateTime: _utc_text,
        fields.UUID: str,
        fields.Integer: int,
        fields.Float: float,
        fields.Boolean: bool,
        fields.String: str,
    }.get(type(field))
    if simple is not None:
        return simple
    if type(field) is fields.Dict and field.key_field is None and field.value_field is None:
        return _as_is
    return None


def compile_dumper(schema: Schema):
    """`obj -> dict` equivalent to `schema.dump(obj)` for schemas `refuse_uncompilable` accepts.

    Generated as straight-line code, one block per field: on a page of results, calling a
    closure per field cost more than the conversions themselves.
    """
    refuse_uncompilable(schema)  # again: `only`/`exclude` and nested plain schemas come late
    namespace = {"missing": missing, "partial": partial, "schema": schema}
    lines = [
        "def dump(obj):",
        "    get = obj.get if isinstance(obj, dict) else partial(getattr, obj)",
        "    result = {}",
    ]
    for i, (name, field) in enumerate(schema.dump_fields.items()):
        convert = _converter(field)
        namespace[f"convert{i}"], namespace[f"field{i}"] = convert, field
        key = field.data_key or name
        lines += [
            f"    value = get({field.attribute or name!r}, missing)",
            "    if value is not missing:",
        ]
        if convert is None:
            lines.append(
                f"        result[{key!r}] = field{i}.serialize({name!r}, obj, "
                "accessor=schema.get_attribute)"
            )
        elif convert is _as_is:
            lines.append(f"        result[{key!r}] = value")
        else:
            lines.append(f"        result[{key!r}] = None if value is None else convert{i}(value)")
    lines.append("    return result")
    exec("\n".join(lines), namespace)  # noqa: S102 (source built above from field names)
    return namespace["dump"]


def newest_first_page(
    args: dict, fetch, *, created_attribute: str = "created_at", id_type: type = uuid.UUID
) -> dict:
    """One page of a newest-first list: decode the cursor, fetch `limit + 1`, encode the next.

    `fetch(limit=, after=)` returns rows (objects or dicts) ordered by (created, id) descending
    after the cursor.
    """
    parse_id = parse_bigint if id_type is int else id_type
    after = decode_cursor(args["cursor"], (parse_datetime, parse_id)) if args["cursor"] else None
    rows = fetch(limit=args["limit"] + 1, after=after)

    def value(row, name: str):
        return row[name] if isinstance(row, dict) else getattr(row, name)

    return page_of(
        rows,
        args["limit"],
        lambda row: [
            value(row, created_attribute).isoformat(),
            value(row, "id") if id_type is int else str(value(row, "id")),
        ],
    )
