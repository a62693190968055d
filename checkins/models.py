"""Check-ins, reward programs and rewards."""

import enum
import uuid
from datetime import date, datetime

from geoalchemy2 import Geography
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from core.codes import CodeStatus
from core.db import Base, one_of
from geo.points import GeographyPoint, to_lat_lon
from social.models import Audience


class ProgramKind(enum.StrEnum):
    """The kinds of reward program (checkins.rules has what each one means)."""

    EVERY_NTH = "every_nth"
    FIRST_VISIT = "first_visit"
    FREQUENCY = "frequency"
    MAYOR = "mayor"
    SWARM = "swarm"
    FLASH = "flash"
    FRIENDS = "friends"


class RewardStatus(enum.StrEnum):
    """A reward's code is issued, then redeemed; it never voids or expires."""

    ISSUED = CodeStatus.ISSUED.value
    REDEEMED = CodeStatus.REDEEMED.value


class Checkin(Base):
    """Every check-in is recorded; `counted` ones feed reward programs."""

    __tablename__ = "checkins"
    __table_args__ = (
        # One counted check-in per account, venue and venue-local day, whatever races.
        Index(
            "uq_checkins_counted_per_day",
            "account_id",
            "venue_id",
            "local_day",
            unique=True,
            postgresql_where=text("counted"),
        ),
        Index(
            "ix_checkins_account_counted",
            "account_id",
            "created_at",
            postgresql_where=text("counted"),
        ),
        Index(
            "ix_checkins_venue_counted", "venue_id", "created_at", postgresql_where=text("counted")
        ),
        # Distinct counted days per account in the mayor window, as an index-only range scan.
        Index(
            "ix_checkins_venue_day",
            "venue_id",
            "local_day",
            "account_id",
            postgresql_where=text("counted"),
        ),
        Index("ix_checkins_account_created", "account_id", "created_at"),
        # A friend's shared check-ins newest first (ties by id, so a page needs no sort): the
        # feed reads one range per friend.
        Index(
            "ix_checkins_shared",
            "account_id",
            "created_at",
            "id",
            postgresql_where=text(f"counted AND share = '{Audience.FRIENDS}'"),
        ),
        CheckConstraint(one_of("share", Audience), name="share"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    venue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("venues.id"))
    location: Mapped[GeographyPoint] = mapped_column(
        Geography(geometry_type="POINT", srid=4326, spatial_index=False)
    )
    accuracy_m: Mapped[float | None]
    is_mock: Mapped[bool]
    message: Mapped[str | None] = mapped_column(Text)
    distance_m: Mapped[float]
    counted: Mapped[bool]
    reasons: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    local_day: Mapped[date]
    created_at: Mapped[datetime]
    share: Mapped[str] = mapped_column(String(16), server_default=text(f"'{Audience.PRIVATE}'"))

    @property
    def point(self) -> dict:
        """The reported location as `{"lat", "lon"}` (only ever shown to its own account)."""
        return to_lat_lon(self.location)


class RewardProgram(Base):
    """A venue's Foursquare-style special."""

    __tablename__ = "reward_programs"
    __table_args__ = (
        CheckConstraint(one_of("kind", ProgramKind), name="kind"),
        CheckConstraint(
            "max_rewards IS NULL OR rewards_issued <= max_rewards", name="within_max_rewards"
        ),
        CheckConstraint(
            f"kind <> '{ProgramKind.FLASH}' OR rewards_issued <= threshold",
            name="flash_within_threshold",
        ),
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="ends_after_start"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    venue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("venues.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    threshold: Mapped[int | None]
    window_days: Mapped[int | None]
    window_minutes: Mapped[int | None]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    max_rewards: Mapped[int | None]
    rewards_issued: Mapped[int] = mapped_column(server_default=text("0"))
    mayor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Reward(Base):
    """A reward earned from a program; `dedupe_key` makes each earning happen once."""

    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint(one_of("status", RewardStatus), name="status"),
        Index("ix_rewards_account_earned", "account_id", "earned_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    code: Mapped[str] = mapped_column(String(14), unique=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_programs.id"), index=True)
    venue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("venues.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    checkin_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("checkins.id"))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), server_default=text(f"'{RewardStatus.ISSUED}'"))
    earned_at: Mapped[datetime]
    redeemed_at: Mapped[datetime | None]
