"""Marshmallow fields for locations: finite lat/lon within range."""
from marshmallow import Schema, fields, validate

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
