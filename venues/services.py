"""Venue verbs: create, read, update, search nearby."""

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from accounts.models import Account
from core.db import any_of, newest_first
from core.errors import NotFound
from geo.points import to_ewkt
from geo.postgis import located, nearest_first, point_columns
from venues.models import Venue, rating_of


def create_venue(*, session: Session, merchant: Account, **values) -> Venue:
    """Create a venue owned by `merchant`."""
    venue = Venue(merchant_id=merchant.id, **_store_location(values))
    session.add(venue)
    session.flush()
    session.refresh(venue)
    return venue


def get_venue(*, session: Session, venue_id: uuid.UUID) -> Venue:
    """A venue by id; 404 if there is none."""
    venue = session.get(Venue, venue_id)
    if venue is None:
        raise NotFound("No such venue.")
    return venue


def get_owned_venue(
    *, session: Session, venue_id: uuid.UUID, merchant: Account, lock: bool = False
) -> Venue:
    """A venue the merchant owns; 404 for anyone else's (its existence is not revealed)."""
    query = select(Venue).where(Venue.id == venue_id, Venue.merchant_id == merchant.id)
    venue = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if venue is None:
        raise NotFound("No such venue.")
    return venue


def merchant_venues(*, session: Session, merchant: Account, limit: int, after=None) -> list[Venue]:
    """The merchant's venues, newest first."""
    query = select(Venue).where(Venue.merchant_id == merchant.id).limit(limit)
    return list(session.scalars(newest_first(query, Venue.created_at, Venue.id, after)))


def owned_venues_by_id(*, session: Session, merchant: Account, venue_ids) -> dict[uuid.UUID, Venue]:
    """The merchant's venues among `venue_ids`, by id (others' are left out)."""
    query = select(Venue).where(any_of(Venue.id, list(venue_ids)), Venue.merchant_id == merchant.id)
    return {venue.id: venue for venue in session.scalars(query)}


def update_venue(*, session: Session, venue_id: uuid.UUID, merchant: Account, **changes) -> Venue:
    """Change a venue's fields (owner only)."""
    venue = get_owned_venue(session=session, venue_id=venue_id, merchant=merchant, lock=True)
    for name, value in _store_location(changes).items():
        setattr(venue, name, value)
    session.flush()
    session.refresh(venue)
    return venue


NEARBY_VENUES = select(*point_columns(Venue.__table__))


def nearby_venues(
    *,
    session: Session,
    lat: float,
    lon: float,
    radius_m: float,
    limit: int,
    after: tuple[float, uuid.UUID] | None = None,
) -> list[dict]:
    """Venues within `radius_m` of the point, nearest first (ties by id), each with `distance_m`."""
    found = nearest_first(
        session,
        NEARBY_VENUES,
        Venue.location,
        Venue.id,
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        limit=limit,
        after=after,
    )
    return [
        located(row, distance_m=metres, rating=rating_of(row.rating_count, row.rating_sum))
        for row, metres in found
    ]


def change_rating(*, session: Session, venue_id: uuid.UUID, count: int, total: int) -> None:
    """Add `count` reviews and `total` stars to the venue's rating counters, in the caller's
    transaction: one UPDATE, so concurrent review changes add up exactly (the row lock orders
    them), and the CHECK constraint refuses counters no set of reviews could give."""
    session.execute(
        update(Venue)
        .where(Venue.id == venue_id)
        .values(rating_count=Venue.rating_count + count, rating_sum=Venue.rating_sum + total)
    )


def _store_location(values: dict) -> dict:
    """`values` with a `{lat, lon}` location as the EWKT the column stores."""
    location = values.pop("location", None)
    if location is not None:
        values["location"] = to_ewkt(location["lat"], location["lon"])
    return values
