"""Map viewports: `minLon,minLat,maxLon,maxLat` boxes, including ones across the antimeridian."""

import math
from typing import NamedTuple


class BBox(NamedTuple):
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


def parse_bbox(raw: str) -> BBox:
    """Parse and check a bbox string; ValueError says what is wrong."""
    parts = raw.split(",")
    if len(parts) != 4:
        raise ValueError("Four comma-separated numbers: minLon,minLat,maxLon,maxLat.")
    try:
        values = [float(part) for part in parts]
    except ValueError as exc:
        raise ValueError("Four comma-separated numbers: minLon,minLat,maxLon,maxLat.") from exc
    if not all(math.isfinite(v) for v in values):
        raise ValueError("Numbers must be finite.")
    box = BBox(*values)
    if not (-180 <= box.min_lon <= 180 and -180 <= box.max_lon <= 180):
        raise ValueError("Longitudes must be within [-180, 180].")
    if not (-90 <= box.min_lat <= box.max_lat <= 90):
        raise ValueError("Latitudes must be within [-90, 90] with minLat <= maxLat.")
    return box


def split_at_antimeridian(box: BBox) -> list[BBox]:
    """One box, or two when minLon > maxLon means the box crosses 180°."""
    if box.min_lon <= box.max_lon:
        return [box]
    return [
        BBox(box.min_lon, box.min_lat, 180.0, box.max_lat),
        BBox(-180.0, box.min_lat, box.max_lon, box.max_lat),
    ]
