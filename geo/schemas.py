"""Marshmallow fields for locations: finite lat/lon within range."""

from marshmallow import Schema, ValidationError, fields, validate

from geo.bbox import BBox, parse_bbox

LATITUDE = validate.Range(-90, 90)
LONGITUDE = validate.Range(-180, 180)


def latitude(**kwargs) -> fields.Float:
    """A finite latitude in [-90, 90]."""
    return fields.Float(allow_nan=False, validate=LATITUDE, **kwargs)


def longitude(**kwargs) -> fields.Float:
    """A finite longitude in [-180, 180]."""
    return fields.Float(allow_nan=False, validate=LONGITUDE, **kwargs)


class LocationSchema(Schema):
    """`{"lat": 52.52, "lon": 13.405}`."""

    lat = latitude(required=True)
    lon = longitude(required=True)


class NearbyQuerySchema(Schema):
    """`lat`, `lon` and `radius_m` of a nearby search (bounds set per resource)."""

    lat = latitude(required=True)
    lon = longitude(required=True)


class BBoxField(fields.Field):
    """A `minLon,minLat,maxLon,maxLat` query value, loaded as a `BBox`."""

    def _deserialize(self, value, attr, data, **kwargs) -> BBox:
        if not isinstance(value, str):
            raise ValidationError("Expected minLon,minLat,maxLon,maxLat.")
        try:
            return parse_bbox(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
