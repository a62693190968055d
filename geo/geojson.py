"""GeoJSON (RFC 7946) rendering: coordinates are [lon, lat]."""


def point_feature(lat: float, lon: float, feature_id, properties: dict) -> dict:
    """A Point Feature."""
    return {
        "type": "Feature",
        "id": str(feature_id),
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


def feature_collection(features: list[dict], **members) -> dict:
    """A FeatureCollection, with extra foreign members (e.g. `next_cursor`)."""
    return {"type": "FeatureCollection", "features": features, **members}
