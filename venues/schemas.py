"""Request and response schemas for venues."""

from functools import cache
from zoneinfo import available_timezones

from marshmallow import Schema, ValidationError, fields, validate

from core.schemas import PageQuerySchema, ReadSchema, UtcDateTime, list_schema
from geo.schemas import LocationSchema, NearbyQuerySchema

RADIUS_DEFAULT_M = 5000
RADIUS_MAX_M = 50000


@cache
@cache
def iana_timezones() -> frozenset[str]:
    """IANA zone names known to zoneinfo. Not merely "a file ZoneInfo can open": that would
    also accept `localtime` (this machine's zone, a symlink to /etc/localtime), `posixrules`,
    `posix/...` and `right/...`."""
    return frozenset(available_timezones()) - {"localtime"}


TIMEZONE_DOC = {
    "format": "iana-timezone",
    "example": "Europe/Berlin",
    "description": "An IANA time zone name",
}


def validate_timezone(name: str) -> None:
    """Accept IANA zone names only."""
    if name not in iana_timezones():
        raise ValidationError("Not a known IANA time zone (e.g. Europe/Berlin).")


class VenuePatchSchema(Schema):
    name = fields.String(validate=validate.Length(1, 200))
    location = fields.Nested(LocationSchema)
    address = fields.String(allow_none=True, validate=validate.Length(max=500))
    category = fields.String(allow_none=True, validate=validate.Length(max=100))
    checkin_radius_m = fields.Integer(strict=True, validate=validate.Range(10, 1000))
    timezone = fields.String(
        validate=[validate.Length(1, 64), validate_timezone], metadata=TIMEZONE_DOC
    )


class VenueCreateSchema(VenuePatchSchema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    location = fields.Nested(LocationSchema, required=True)
    checkin_radius_m = fields.Integer(
        load_default=100, strict=True, validate=validate.Range(10, 1000)
    )
    timezone = fields.String(
        load_default="UTC",
        validate=[validate.Length(1, 64), validate_timezone],
        metadata=TIMEZONE_DOC,
    )


class RatingSchema(ReadSchema):
    average = fields.Float(
        required=True,
        allow_none=True,
        metadata={
            "description": "Mean of the visible reviews' ratings (1-5), unrounded; null when "
            "there are none"
        },
    )
    count = fields.Integer(required=True, metadata={"description": "Visible reviews"})


RATING_DOC = {"description": "The venue's verified reviews: show the count next to the average"}


class VenueReadSchema(ReadSchema):
    id = fields.UUID(required=True)
    merchant_id = fields.UUID(required=True)
    name = fields.String(required=True)
    location = fields.Nested(LocationSchema, attribute="point", required=True)
    address = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    checkin_radius_m = fields.Integer(required=True)
    timezone = fields.String(required=True)
    rating = fields.Nested(RatingSchema, required=True, metadata=RATING_DOC)
    created_at = UtcDateTime(required=True)


class NearbyVenueSchema(VenueReadSchema):
    distance_m = fields.Float(required=True)


class VenueNearbyQuerySchema(NearbyQuerySchema, PageQuerySchema):
    radius_m = fields.Float(
        load_default=RADIUS_DEFAULT_M, allow_nan=False, validate=validate.Range(1, RADIUS_MAX_M)
    )


NearbyVenueListSchema = list_schema(NearbyVenueSchema, "NearbyVenueList")
