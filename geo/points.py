"""Conversions between stored geography points and `{lat, lon}`."""

from geoalchemy2.elements import WKBElement, WKTElement
from geoalchemy2.shape import to_shape

# What a geography point column holds in Python: WKB as loaded, or EWKT (`to_ewkt`) as written.
GeographyPoint = WKBElement | str


def to_ewkt(lat: float, lon: float) -> str:
    """EWKT of a WGS84 point, for inserting into a geography column."""
    return f"SRID=4326;POINT({lon!r} {lat!r})"


def to_lat_lon(element: GeographyPoint | None) -> dict | None:
    """`{"lat", "lon"}` of a stored point."""
    if element is None:
        return None
    if isinstance(element, str):  # EWKT as written by `to_ewkt`, before a refresh
        element = WKTElement(element, extended=element.upper().startswith("SRID="))
    shape = to_shape(element)
    return {"lat": shape.y, "lon": shape.x}
