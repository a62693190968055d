"""PostGIS expressions on geography(Point, 4326) columns (lon is X, lat is Y)."""
from sqlalchemy import Float, Select, cast, func, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from geoalchemy2 import Geography


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


def nearest_first(
    session: Session, query: Select, column, id_column, *, lat: float, lon: float,
    radius_m: float, limit: int, after: tuple[float, object] | None = None,
) -> list[tuple]:
    """Rows of `query` within `radius_m`, nearest first by geodesic distance (ties by id).

    Returns `(entity, distance_m)` pairs. Candidates come from the GiST index in KNN order
    (`ORDER BY column <-> point LIMIT n`, which reads only about n index entries however
    dense the area); their geodesic distances are then sorted exactly. Because the two
    distances differ by less than SPHERE_ERROR, the page is provably the true one when its
    last distance lies below what any unread candidate could have; otherwise (rare: a page
    of near-equal distances) the exact ST_DWithin + ORDER BY query answers instead.
    """
    target = point(lat, lon)
    sphere = column.op("<->", return_type=Float)(target)
    geodesic = distance_m(column, target)
    fetch = limit + 10 + limit // 4
    knn = query.add_columns(geodesic, sphere).order_by(sphere).limit(fetch)
    if after is not None:
        knn = knn.where(sphere >= after[0] / (1 + SPHERE_ERROR))
    rows = session.execute(knn).all()
    id_of = id_column.key

    def sort_key(row):
        return (row[1], getattr(row[0], id_of))

    page = sorted(
        (row for row in rows
         if row[1] <= radius_m and (after is None or sort_key(row) > tuple(after))),
        key=sort_key,
    )[:limit]
    unread_floor = rows[-1][2] * (1 - SPHERE_ERROR) if len(rows) == fetch else float("inf")
    if unread_floor > radius_m or (len(page) == limit and page[-1][1] < unread_floor):
        return [(row[0], row[1]) for row in page]
    exact = (
        query.add_columns(geodesic)
        .where(within_m(column, target, radius_m))
        .order_by(geodesic, id_column)
        .limit(limit)
    )
    if after is not None:
        exact = exact.where(tuple_(geodesic, id_column) > tuple_(*after))
    return [(row[0], row[1]) for row in session.execute(exact)]
