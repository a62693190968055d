"""Merchant venues."""

import uuid
from datetime import datetime

from geoalchemy2 import Geography
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from geo.points import GeographyPoint, to_lat_lon


class Venue(Base):
    """A merchant's place: where its deals run and where people check in."""

    __tablename__ = "venues"
    __table_args__ = (
        CheckConstraint("checkin_radius_m BETWEEN 10 AND 1000", name="checkin_radius"),
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
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    @property
    def point(self) -> dict:
        """The location as `{"lat", "lon"}`."""
        return to_lat_lon(self.location)
