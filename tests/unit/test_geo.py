"""Pure spatial helpers (no database): EWKT in, `{lat, lon}` out, GeoJSON, location schemas."""

import math
import random

import pytest
from geoalchemy2.elements import WKTElement
from geoalchemy2.shape import from_shape
from marshmallow import ValidationError
from shapely import wkt
from shapely.geometry import Point

from geo.geojson import feature_collection, point_feature
from geo.points import to_ewkt, to_lat_lon
from geo.schemas import LocationSchema


def test_to_ewkt_writes_longitude_first_with_the_wgs84_srid():
    assert to_ewkt(52.52, 13.405) == "SRID=4326;POINT(13.405 52.52)"


def test_to_ewkt_keeps_every_bit_of_the_coordinates():
    rng = random.Random(7)
    for _ in range(200):
        lat, lon = rng.uniform(-90, 90), rng.uniform(-180, 180)
        srid, _, geometry = to_ewkt(lat, lon).partition(";")
        parsed = wkt.loads(geometry)
        assert srid == "SRID=4326"
        assert (parsed.x, parsed.y) == (lon, lat)


def test_to_ewkt_output_with_tiny_and_negative_values_is_still_valid_wkt():
    srid, _, geometry = to_ewkt(-1e-05, -5e-324).partition(";")
    parsed = wkt.loads(geometry)
    assert (parsed.x, parsed.y) == (-5e-324, -1e-05)


def test_to_lat_lon_reads_a_stored_wkb_point_as_lat_and_lon():
    element = from_shape(Point(13.405, 52.52), srid=4326)
    assert to_lat_lon(element) == {"lat": 52.52, "lon": 13.405}


def test_to_lat_lon_reads_ewkt_written_by_to_ewkt():
    assert to_lat_lon(to_ewkt(-33.8688, 151.2093)) == {"lat": -33.8688, "lon": 151.2093}
    assert to_lat_lon(WKTElement("POINT(179.9995 0.5)", srid=4326)) == {"lat": 0.5, "lon": 179.9995}


def test_to_lat_lon_of_nothing_is_none():
    assert to_lat_lon(None) is None


def test_a_point_feature_uses_lon_lat_order_as_rfc_7946_requires():
    feature = point_feature(52.52, 13.405, 42, {"name": "Café"})
    assert feature == {
        "type": "Feature",
        "id": "42",
        "geometry": {"type": "Point", "coordinates": [13.405, 52.52]},
        "properties": {"name": "Café"},
    }


def test_a_feature_collection_carries_foreign_members_like_next_cursor():
    collection = feature_collection([{"type": "Feature"}], next_cursor=None)
    assert collection == {
        "type": "FeatureCollection",
        "features": [{"type": "Feature"}],
        "next_cursor": None,
    }


@pytest.mark.parametrize("lat, lon", [(-90, -180), (90, 180), (0, 0), (-90.0, 179.9999999)])
def test_the_location_schema_accepts_the_edges_of_the_valid_range(lat, lon):
    assert LocationSchema().load({"lat": lat, "lon": lon}) == {"lat": lat, "lon": lon}


@pytest.mark.parametrize(
    "field, value",
    [
        ("lat", 90.000001),
        ("lat", -90.5),
        ("lon", 180.0001),
        ("lon", -181),
        ("lat", math.nan),
        ("lon", math.inf),
        ("lat", -math.inf),
        ("lat", True),
        ("lon", None),
    ],
)
def test_the_location_schema_rejects_out_of_range_or_non_finite_values(field, value):
    data = {"lat": 10.0, "lon": 10.0, field: value}
    with pytest.raises(ValidationError) as excinfo:
        LocationSchema().load(data)
    assert list(excinfo.value.messages) == [field]


def test_the_location_schema_rejects_unknown_fields():
    with pytest.raises(ValidationError) as excinfo:
        LocationSchema().load({"lat": 1, "lon": 2, "alt": 3})
    assert excinfo.value.messages == {"alt": ["Unknown field."]}
