"""Outbox events (written in the transaction that caused them) and in-app inbox notifications."""

import enum
import uuid
from datetime import datetime

from geoalchemy2 import Geography
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, one_of
from geo.points import GeographyPoint, to_lat_lon

EVENT_KINDS = (
    "deal.tipped",
    "deal.closed",
    "deal.failed",
    "deal.cancelled",
    "deal.ending_soon",
    "deal.nearby",
    "voucher.expiring",
    "reward.earned",
    "mayor.lost",
    "commitment.created",
    "voucher.redeemed",
    "checkin.created",
    "review.created",
    "review.replied",
    "review.hidden",
    "credit.earned",
    "credit.available",
    "credit.reversed",
    "payment.failed",
    "voucher.refunded",
    "friend.requested",
    "friend.accepted",
    "friend.checked_in",
)
MIN_ALERT_RADIUS_M, MAX_ALERT_RADIUS_M = 100, 50_000


class OutboxStatus(enum.StrEnum):
    """An outbox event is pending until the dispatcher has fanned it out."""

    PENDING = "pending"
    DISPATCHED = "dispatched"


class DeliveryStatus(enum.StrEnum):
    """A delivery is pending (and retried) until delivered, or dead when out of attempts."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class DeliveryChannel(enum.StrEnum):
    """How a delivery reaches its target: a device's push service or a merchant's webhook."""

    PUSH = "push"
    WEBHOOK = "webhook"


class DevicePlatform(enum.StrEnum):
    """The push platform a device registered for."""

    IOS = "ios"
    ANDROID = "android"
    WEB = "web"


class DeliveryState:
    """Columns of something that is delivered with retries: status, attempts, when next, why not."""

    # Outbox events and deliveries both start pending (OutboxStatus, DeliveryStatus).
    status: Mapped[str] = mapped_column(
        String(16), server_default=text(f"'{DeliveryStatus.PENDING}'")
    )
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    delivered_at: Mapped[datetime | None]


class OutboxEvent(DeliveryState, Base):
    """One event for one recipient account, or for a group of them, waiting to be delivered.

    A group event (`recipient_ids`, e.g. one deal outcome for all its committers) is one row
    however large the group; the dispatcher fans it out to each recipient's inbox and devices.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index(
            "ix_outbox_events_pending",
            "next_attempt_at",
            postgresql_where=text(f"status = '{OutboxStatus.PENDING}'"),
        ),
        CheckConstraint("(recipient_id IS NULL) <> (recipient_ids IS NULL)", name="one_audience"),
        CheckConstraint(one_of("status", OutboxStatus), name="status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    recipient_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    recipient_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(Uuid))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JSONB)
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)


class Notification(Base):
    """An in-app inbox entry, made from one outbox event."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_account_created", "account_id", "created_at", "id"),
        UniqueConstraint("event_id", "account_id", name="uq_notifications_event_account"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("outbox_events.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    read_at: Mapped[datetime | None]


class Device(Base):
    """A phone or browser registered for push; a token belongs to one account at a time."""

    __tablename__ = "devices"
    __table_args__ = (CheckConstraint(one_of("platform", DevicePlatform), name="platform"),)

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(String(4096), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DeviceHolder(Base):
    """Every account that ever registered a push token (as a keyed digest): the device's
    history, which outlives the token moving to another account."""

    __tablename__ = "device_holders"

    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    first_registered_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Webhook(Base):
    """A merchant's endpoint for signed event deliveries (Standard Webhooks)."""

    __tablename__ = "webhooks"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    deleted_at: Mapped[datetime | None]


class Delivery(DeliveryState, Base):
    """One outbox event on its way to one device (push) or one webhook, with its retry state."""

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint(one_of("channel", DeliveryChannel), name="channel"),
        CheckConstraint(one_of("status", DeliveryStatus), name="status"),
        UniqueConstraint("event_id", "channel", "target_id", name="uq_deliveries_event_target"),
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text(f"status = '{DeliveryStatus.PENDING}'"),
        ),
        Index("ix_deliveries_target_created", "target_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("outbox_events.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[uuid.UUID]
    lease_token: Mapped[uuid.UUID | None]  # the dispatcher batch that holds (or held) it


class AlertArea(Base):
    """A circle in which an account wants to hear about new and almost-tipped deals."""

    __tablename__ = "alert_areas"
    __table_args__ = (
        CheckConstraint(
            f"radius_m BETWEEN {MIN_ALERT_RADIUS_M} AND {MAX_ALERT_RADIUS_M}", name="radius"
        ),
        Index("ix_alert_areas_location", "location", postgresql_using="gist"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str | None] = mapped_column(String(100))
    location: Mapped[GeographyPoint] = mapped_column(
        Geography(geometry_type="POINT", srid=4326, spatial_index=False)
    )
    radius_m: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    @property
    def point(self) -> dict:
        """The centre as `{"lat", "lon"}`."""
        return to_lat_lon(self.location)
