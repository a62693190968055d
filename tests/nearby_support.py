"""Places on both sides of the antimeridian and around the poles, and the reference check of a
nearby search against distances computed independently on the WGS84 ellipsoid (PROJ)."""

import pytest
from pyproj import Geod

WGS84 = Geod(ellps="WGS84")
RADIUS_M = 50000

# Every spelling of a point on the line or at a pole is stored, so that a query at one spelling
# meets a stored point at another; the others lie a few km to either side.
PLACES = [
    (0.0, 180.0),
    (0.0, -180.0),
    (0.1, 179.9),
    (-0.1, -179.9),
    (0.2, 179.99),
    (0.05, -179.99),
    (-16.0, 180.0),
    (-16.1, -179.8),
    (-15.9, 179.8),
    (90.0, 0.0),
    (90.0, 180.0),
    (89.9, -120.0),
    (89.95, 60.0),
    (89.8, 179.0),
    (-90.0, -180.0),
    (-90.0, 45.0),
    (-89.9, 100.0),
    (-89.95, -10.0),
    (-89.7, -179.5),
]
QUERIES = [
    (0.0, 180.0),
    (0.0, -180.0),
    (-16.0, 180.0),
    (-16.0, -180.0),
    (90.0, 0.0),
    (90.0, 180.0),
    (90.0, -180.0),
    (90.0, 77.0),
    (-90.0, 0.0),
    (-90.0, 180.0),
    (-90.0, -180.0),
    (-90.0, -33.0),
]


def geodesic_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Reference distance on the WGS84 ellipsoid (Karney's algorithm, via PROJ)."""
    return WGS84.inv(lon1, lat1, lon2, lat2)[2]


def assert_nearest_first(items: list[dict], lat: float, lon: float, places: dict) -> None:
    """`items` hold exactly the `places` (`{id: (lat, lon)}`) within RADIUS_M of the point, in
    order of their reference distance, each with that distance."""
    reference = {key: geodesic_m(lat, lon, *where) for key, where in places.items()}
    found = [item["id"] for item in items]
    assert len(found) == len(set(found))
    assert {key for key, metres in reference.items() if metres <= RADIUS_M - 1} <= set(found)
    assert set(found) <= {key for key, metres in reference.items() if metres <= RADIUS_M + 1}
    for item in items:
        assert item["distance_m"] == pytest.approx(reference[item["id"]], abs=1.0)
    ordered = [reference[key] for key in found]
    assert all(near <= far + 1.0 for near, far in zip(ordered, ordered[1:]))
