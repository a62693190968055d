"""PostGIS expressions on geography(Point, 4326) columns (lon is X, lat is Y)."""

from functools import lru_cache

from geoalchemy2 import Geography
from sqlalchemy import Float, Integer, Select, String, bindparam, cast, func, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement


def point(lat: float, lon: float) -> ColumnElement:
    """A geography point literal."""
    return cast(func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326), Geography(srid=4326))


def distance_m(column, target) -> ColumnElement:
    """Geodesic distance in metres on the WGS84 spheroid."""
    return func.ST_Distance(column, target, True)


def within_m(column, target, radius_m: float) -> ColumnElement:
    """Index-assisted "within `radius_m` metres" on geography."""
    return func.ST_DWithin(column, target, radius_m, True)


# `<->` on geography is a great-circle distance on a sphere; the WGS84 geodesic differs from it
# by less than 0.6 % (north-south near the equator), so 1 % bounds one by the other.
SPHERE_ERROR = 0.01

# Points on the antimeridian or at a pole have several spellings (lon 180 and -180 are one
# place). PostGIS's KNN scan then bounds a stored point's distance from one spelling while its
# recheck measures from the other: a bound of ~1e-9 m above an exact 0, which PostgreSQL
# rejects as "index returned tuples in wrong order". Within this many degrees of the line or a
# pole the exact ST_DWithin query answers instead (the error shows only for points a float's
# rounding apart, far inside this margin).
AMBIGUOUS_POINT_MARGIN_DEG = 1e-6


def _has_several_spellings(lat: float, lon: float) -> bool:
    """Whether a point lies (within AMBIGUOUS_POINT_MARGIN_DEG) on the antimeridian or a pole."""
    return min(180 - abs(lon), 90 - abs(lat)) < AMBIGUOUS_POINT_MARGIN_DEG


@lru_cache(maxsize=64)
def _nearest_statements(query: Select, column, id_column, paged: bool) -> tuple[Select, Select]:
    """The KNN and the exact statement for `nearest_first`, built once per query shape.

    Everything that varies per call is a bind parameter, so a search does not pay for building
    a statement and its cache key (profiles showed about 0.5 ms per request).
    """
    target = point(bindparam("lat", type_=Float), bindparam("lon", type_=Float))
    sphere = column.op("<->", return_type=Float)(target)
    geodesic = distance_m(column, target)
    # Extra columns by label (`_distance`, `_sphere`, `_key`), underscored so that they cannot
    # shadow the query's own. The id as text sorts as the uuid does and spares parsing one per
    # candidate.
    knn = (
        query.add_columns(
            geodesic.label("_distance"),
            sphere.label("_sphere"),
            id_column.cast(String).label("_key"),
        )
        .order_by(sphere)
        .limit(bindparam("fetch", type_=Integer))
    )
    exact = (
        query.add_columns(geodesic.label("_distance"))
        .where(within_m(column, target, bindparam("radius_m", type_=Float)))
        .order_by(geodesic, id_column)
        .limit(bindparam("limit", type_=Integer))
    )
    if paged:
        knn = knn.where(sphere >= bindparam("after_sphere", type_=Float))
        exact = exact.where(
            tuple_(geodesic, id_column)
            > tuple_(
                bindparam("after_distance", type_=Float),
                bindparam("after_id", type_=id_column.type),
            )
        )
    return knn, exact


def nearest_first(
    session: Session,
    query: Select,
    column,
    id_column,
    *,
    lat: float,
    lon: float,
    radius_m: float,
    limit: int,
    after: tuple[float, object] | None = None,
    params: dict | None = None,
) -> list[tuple]:
    """Rows of `query` (with bind `params`) within `radius_m`, nearest first by geodesic distance.

    Ties go by id. Returns `(row, distance_m)` pairs, `row` holding the query's own columns first
    and then `_distance` (the geodesic one; KNN rows also `_sphere` and `_key`, the id as text).
    Candidates come from the GiST index in KNN order (`ORDER BY column <-> point LIMIT n`, which
    reads only about n index entries however dense the area); their geodesic distances are then
    sorted exactly. Because the two distances differ by less than SPHERE_ERROR, the page is
    provably the true one when its last distance lies below what any unread candidate could
    have; otherwise (rare: a page of near-equal distances, or a point on the antimeridian or at
    a pole, where the KNN scan fails) the exact ST_DWithin + ORDER BY query answers instead.
    """
    knn, exact = _nearest_statements(query, column, id_column, after is not None)
    fetch = limit + 10 + limit // 4
    values = {
        **(params or {}),
        "lat": lat,
        "lon": lon,
        "fetch": fetch,
        "limit": limit,
        "radius_m": radius_m,
    }
    if after is not None:
        values.update(
            after_sphere=after[0] / (1 + SPHERE_ERROR), after_distance=after[0], after_id=after[1]
        )
    # Core rows straight from the connection: the ORM's result processing showed in profiles.
    connection = session.connection()
    if _has_several_spellings(lat, lon):
        return [(row, row._distance) for row in connection.execute(exact, values)]
    rows = connection.execute(knn, values).all()

    def sort_key(row):
        return (row._distance, row._key)

    start = None if after is None else (after[0], str(after[1]))
    page = sorted(
        (
            row
            for row in rows
            if row._distance <= radius_m and (start is None or sort_key(row) > start)
        ),
        key=sort_key,
    )[:limit]
    unread_floor = rows[-1]._sphere * (1 - SPHERE_ERROR) if len(rows) == fetch else float("inf")
    if unread_floor > radius_m or (len(page) == limit and page[-1]._distance < unread_floor):
        return [(row, row._distance) for row in page]
    return [(row, row._distance) for row in connection.execute(exact, values)]


def lat_lon_columns(column) -> tuple[ColumnElement, ColumnElement]:
    """`lat` and `lon` of a geography point column, read as plain floats by the database."""
    flat = func.geometry(column)
    return func.ST_Y(flat).label("lat"), func.ST_X(flat).label("lon")


def point_columns(table) -> tuple:
    """A table's columns with its `location` point as `lat_lon_columns` (for `located`)."""
    return (
        *(column for column in table.c if column.key != "location"),
        *lat_lon_columns(table.c.location),
    )


def located(row, **extra) -> dict:
    """A row of `point_columns` as a dict with the point as `{"lat", "lon"}` (what read schemas
    dump as `location`), plus `extra`. Search results are dicts, not ORM objects: loading
    objects and parsing WKB cost several times the query itself."""
    item = row._asdict()
    item["point"] = {"lat": item.pop("lat"), "lon": item.pop("lon")}
    item.update(extra)
    return item
