"""Merchant venues."""

import uuid
from datetime import datetime

from geoalchemy2 import Geography
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from geo.points import GeographyPoint, to_lat_lon

# The stars a review gives (reviews.models); the venue's counters are bounded by them.
RATING_MIN, RATING_MAX = 1, 5


def rating_of(count: int, total: int) -> dict:
    """`{average, count}` from a venue's review counters (average null without reviews)."""
    return {"average": total / count if count else None, "count": count}


class Venue(Base):
    """A merchant's place: where its deals run and where people check in."""

    __tablename__ = "venues"
    __table_args__ = (
        CheckConstraint("checkin_radius_m BETWEEN 10 AND 1000", name="checkin_radius"),
        # Every visible review adds its 1..5 stars to rating_sum and one to rating_count.
        CheckConstraint(
            f"rating_count >= 0 AND rating_sum BETWEEN {RATING_MIN} * rating_count "
            f"AND {RATING_MAX} * rating_count",
            name="rating_counters",
        ),
        Index("ix_venues_location", "location", postgresql_using="gist"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    location: Mapped[GeographyPoint] = mapped_column(
        Geography(geometry_type="POINT", srid=4326, spatial_index=False)
    )
    address: Mapped[str | None] = mapped_column(String(500))
    category: Mapped[str | None] = mapped_column(String(100))
    checkin_radius_m: Mapped[int] = mapped_column(server_default=text("100"))
    timezone: Mapped[str] = mapped_column(String(64), server_default=text("'UTC'"))
    # Visible reviews and the sum of their ratings, changed in the transaction of every review
    # change (reviews.services), so reads never aggregate over reviews.
    rating_count: Mapped[int] = mapped_column(server_default=text("0"))
    rating_sum: Mapped[int] = mapped_column(server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    @property
    def rating(self) -> dict:
        """`{average, count}` of the venue's visible reviews."""
        return rating_of(self.rating_count, self.rating_sum)

    @property
    def point(self) -> dict:
        """The location as `{"lat", "lon"}`."""
        return to_lat_lon(self.location)
