"""PostGIS expressions on geography(Point, 4326) columns (lon is X, lat is Y)."""
from sqlalchemy import Float, cast, func
from sqlalchemy.sql.elements import ColumnElement
from geoalchemy2 import Geography, Geometry


def point(lat: float, lon: float) -> ColumnElement:
    """A geography point literal."""
    return cast(func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326), Geography(srid=4326))


def latitude_of(column) -> ColumnElement:
    """Y of a geography point column."""
    return cast(func.ST_Y(cast(column, Geometry)), Float)


def longitude_of(column) -> ColumnElement:
    """X of a geography point column."""
    return cast(func.ST_X(cast(column, Geometry)), Float)


def distance_m(column, target) -> ColumnElement:
    """Geodesic distance in metres on the WGS84 spheroid."""
    return func.ST_Distance(column, target, True)


def within_m(column, target, radius_m: float) -> ColumnElement:
    """Index-assisted "within `radius_m` metres" on geography."""
    return func.ST_DWithin(column, target, radius_m, True)
