"""Deals, commitments, per-account open quantities and vouchers."""

import enum
import uuid
from datetime import datetime

from flask import current_app
from geoalchemy2 import Geography
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, column_property, mapped_column

from core.codes import CodeStatus
from core.db import Base, one_of
from geo.points import GeographyPoint, to_lat_lon
from social.models import Audience


class DealStatus(enum.StrEnum):
    """scheduled -> active -> tipped -> closed; untipped at the end: failed; or cancelled."""

    SCHEDULED = "scheduled"
    ACTIVE = "active"
    TIPPED = "tipped"
    CLOSED = "closed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Listed by the searches.
OPEN_STATUSES = (DealStatus.ACTIVE, DealStatus.TIPPED)
# Not ended yet: takes commitments (once started), can be cancelled, is ended at `ends_at`.
UNFINISHED_STATUSES = (DealStatus.SCHEDULED, DealStatus.ACTIVE, DealStatus.TIPPED)
# What `ends_at` makes of an unfinished deal.
OUTCOME_STATUSES = (DealStatus.CLOSED, DealStatus.FAILED)
# Has tipped and not been cancelled since: its vouchers are issued.
TIPPED_STATUSES = (DealStatus.TIPPED, DealStatus.CLOSED)


class CommitmentStatus(enum.StrEnum):
    """pending until the deal tips (then confirmed), or released (withdrawn, failed, cancelled)."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    RELEASED = "released"


# Units an account holds on a deal.
OPEN_COMMITMENT_STATUSES = (CommitmentStatus.PENDING, CommitmentStatus.CONFIRMED)


class VoucherStatus(enum.StrEnum):
    """Every state a redeemable code has, and `refunded` (its unit's price was paid back)."""

    ISSUED = CodeStatus.ISSUED.value
    REDEEMED = CodeStatus.REDEEMED.value
    VOID = CodeStatus.VOID.value
    EXPIRED = CodeStatus.EXPIRED.value
    REFUNDED = "refunded"


DEFAULT_REFUND_DAYS = 7


class ReferralKind(enum.StrEnum):
    """How a deal rewards the accounts whose shares bring customers."""

    COMMISSION = "commission"  # a percent of each referred unit's price
    BRING_FRIENDS = "bring_friends"  # your own units back once enough friends bought


REFERRAL_PERCENT_MAX = 50
REFERRAL_FRIENDS_MAX = 10
# The two shapes of `deals.referral`, exactly: the schema validates them, the database insists.
REFERRAL_SHAPES = (
    # CASE all the way down: AND and OR do not promise to test a type before what needs it.
    "referral IS NULL OR CASE WHEN jsonb_typeof(referral) <> 'object' THEN false"
    + "".join(
        f" WHEN referral ->> 'kind' = '{kind}' THEN referral - 'kind' - '{key}' = '{{}}'::jsonb"
        f" AND CASE WHEN jsonb_typeof(referral -> '{key}') = 'number'"
        f" THEN (referral ->> '{key}')::numeric BETWEEN 1 AND {maximum}"
        f" AND (referral ->> '{key}')::numeric = trunc((referral ->> '{key}')::numeric)"
        " ELSE false END"
        for kind, key, maximum in (
            (ReferralKind.COMMISSION, "percent", REFERRAL_PERCENT_MAX),
            (ReferralKind.BRING_FRIENDS, "friends", REFERRAL_FRIENDS_MAX),
        )
    )
    + " ELSE false END"
)


class Deal(Base):
    """A group deal at a venue: tips at `min_commitments`, never sells past `max_commitments`."""

    __tablename__ = "deals"
    __table_args__ = (
        CheckConstraint(one_of("status", DealStatus), name="status"),
        CheckConstraint("committed_count >= 0", name="committed_count_not_negative"),
        CheckConstraint(
            "max_commitments IS NULL OR committed_count <= max_commitments",
            name="committed_count_within_max",
        ),
        CheckConstraint("min_commitments >= 1", name="min_commitments_positive"),
        CheckConstraint(
            "max_commitments IS NULL OR max_commitments >= min_commitments",
            name="max_not_below_min",
        ),
        CheckConstraint("per_user_limit >= 1", name="per_user_limit_positive"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("refund_days >= 0", name="refund_days_not_negative"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("redeem_until >= ends_at", name="redeemable_after_end"),
        CheckConstraint(
            f"({one_of('status', TIPPED_STATUSES)}) = (tipped_at IS NOT NULL) "
            f"OR status = '{DealStatus.CANCELLED}'",
            name="tipped_at_matches_status",
        ),
        # Nearby search: geography KNN / ST_DWithin over open deals only.
        Index(
            "ix_deals_open_location",
            "location",
            postgresql_using="gist",
            postgresql_where=text(one_of("status", OPEN_STATUSES)),
        ),
        # Map viewport: lat/lon rectangles are geometry boxes (edges along parallels).
        Index(
            "ix_deals_open_geometry",
            text("geometry(location)"),
            postgresql_using="gist",
            postgresql_where=text(one_of("status", OPEN_STATUSES)),
        ),
        Index("ix_deals_merchant_created", "merchant_id", "created_at"),
        Index(
            "ix_deals_scheduled_starts",
            "starts_at",
            postgresql_where=text(f"status = '{DealStatus.SCHEDULED}'"),
        ),
        Index(
            "ix_deals_unannounced",
            "id",
            postgresql_where=text(f"announced_at IS NULL AND {one_of('status', OPEN_STATUSES)}"),
        ),
        Index(
            "ix_deals_open_ends",
            "ends_at",
            postgresql_where=text(one_of("status", UNFINISHED_STATUSES)),
        ),
        # close-deals finds the deals one run ended by their closing time.
        Index("ix_deals_closed_at", "closed_at", postgresql_where=text("closed_at IS NOT NULL")),
        CheckConstraint(REFERRAL_SHAPES, name="referral_shape"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    venue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("venues.id"), index=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    price_cents: Mapped[int]
    original_price_cents: Mapped[int | None]
    currency: Mapped[str] = mapped_column(String(3))
    location: Mapped[GeographyPoint] = mapped_column(
        Geography(geometry_type="POINT", srid=4326, spatial_index=False)
    )
    min_commitments: Mapped[int]
    max_commitments: Mapped[int | None]
    per_user_limit: Mapped[int] = mapped_column(server_default=text("1"))
    committed_count: Mapped[int] = mapped_column(server_default=text("0"))
    status: Mapped[str] = mapped_column(String(16))
    tipped_at: Mapped[datetime | None]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    redeem_until: Mapped[datetime]
    # How long after paying a customer may ask for a voucher's refund.
    refund_days: Mapped[int] = mapped_column(server_default=text(str(DEFAULT_REFUND_DAYS)))
    closed_at: Mapped[datetime | None]
    # When "a deal near you" went out for its opening (NULL: still to announce).
    announced_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # What a sharer earns for the customers they bring (REFERRAL_SHAPES), or nothing.
    referral: Mapped[dict | None] = mapped_column(JSONB(none_as_null=True))
    new_customers_only: Mapped[bool] = mapped_column(server_default=text("false"))

    @property
    def point(self) -> dict:
        """The location as `{"lat", "lon"}`."""
        return to_lat_lon(self.location)

    @property
    def remaining(self) -> int | None:
        """Units still available, or None without a cap."""
        if self.max_commitments is None:
            return None
        return self.max_commitments - self.committed_count


class Commitment(Base):
    """Units one account committed to a deal in one request."""

    __tablename__ = "commitments"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint(one_of("status", CommitmentStatus), name="status"),
        # No index on status or released_at, and room on each page for one more row version:
        # a commitment's one status change is then a HOT update (see migration 0009).
        Index("ix_commitments_deal", "deal_id"),
        Index("ix_commitments_account_created", "account_id", "created_at"),
        # For the foreign keys' ON DELETE SET NULL; share_id and referrer_id never change, so
        # status changes stay HOT.
        Index("ix_commitments_share", "share_id", postgresql_where=text("share_id IS NOT NULL")),
        Index(
            "ix_commitments_referrer",
            "referrer_id",
            postgresql_where=text("referrer_id IS NOT NULL"),
        ),
        # Shared commitments, for friends: the feed (one range per friend, newest first) and
        # `friends_committed` (a friend and a page of deals). `share` never changes, so status
        # changes stay HOT.
        Index(
            "ix_commitments_shared",
            "account_id",
            "created_at",
            "id",
            postgresql_where=text(f"share = '{Audience.FRIENDS}'"),
        ),
        Index(
            "ix_commitments_shared_deal",
            "account_id",
            "deal_id",
            "created_at",
            postgresql_where=text(f"share = '{Audience.FRIENDS}'"),
        ),
        CheckConstraint(one_of("share", Audience), name="share"),
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    quantity: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    confirmed_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    # Referral credit applied to its units, paid at the venue (payments `none`).
    credit_cents: Mapped[int] = mapped_column(server_default=text("0"))
    # The share it was made through and the account that shared it, when attributed.
    share_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("shares.id", ondelete="SET NULL"))
    referrer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    share: Mapped[str] = mapped_column(String(16), server_default=text(f"'{Audience.PRIVATE}'"))


class DealCommitmentMinute(Base):
    """Units committed to a deal in one minute (net of withdrawals): `recent_commitments` sums
    the last hour's rows of a page of deals, never the commitments themselves."""

    __tablename__ = "deal_commitment_minutes"
    __table_args__ = (Index("ix_deal_commitment_minutes_minute", "minute"),)

    deal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deals.id", ondelete="CASCADE"), primary_key=True
    )
    minute: Mapped[datetime] = mapped_column(primary_key=True)
    units: Mapped[int]


class DealParticipant(Base):
    """An account's open (pending + confirmed) quantity on a deal: the per-user limit lives here."""

    __tablename__ = "deal_participants"
    __table_args__ = (CheckConstraint("open_quantity >= 0", name="open_quantity_not_negative"),)

    deal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deals.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    open_quantity: Mapped[int]


class Voucher(Base):
    """One redeemable unit of a confirmed commitment."""

    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint(one_of("status", VoucherStatus), name="status"),
        Index("ix_vouchers_account_created", "account_id", "created_at"),
        Index(
            "ix_vouchers_issued_redeem_until",
            "redeem_until",
            postgresql_where=text(f"status = '{VoucherStatus.ISSUED}'"),
        ),
        # Verified visits (reviews): whether an account redeemed a voucher of one of a venue's
        # deals, probed per deal, or over the account's redemptions in a window.
        Index(
            "ix_vouchers_account_redeemed",
            "account_id",
            "deal_id",
            "redeemed_at",
            postgresql_where=text(f"status = '{VoucherStatus.REDEEMED}'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    # voucher_code() (migration 0012): the code shape of core.codes, drawn by the database.
    code: Mapped[str] = mapped_column(
        String(14), unique=True, server_default=text("voucher_code()")
    )
    deal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deals.id", ondelete="CASCADE"), index=True
    )
    commitment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("commitments.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    status: Mapped[str] = mapped_column(
        String(16), server_default=text(f"'{VoucherStatus.ISSUED}'")
    )
    redeem_until: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    redeemed_at: Mapped[datetime | None]
    # Referral credit that pays for part of this unit at the venue (payments `none`).
    credit_cents: Mapped[int] = mapped_column(server_default=text("0"))
    # The deal's price, read with the voucher (a primary-key lookup; never locked with it).
    price_cents: Mapped[int] = column_property(
        select(Deal.price_cents).where(Deal.id == deal_id).correlate_except(Deal).scalar_subquery()
    )

    @property
    def to_pay_cents(self) -> int:
        """What is left to pay at the venue: the price less the credit applied (nothing when
        payments are online: vouchers exist only for paid units)."""
        if current_app.config["PAYMENT_PROVIDER"] != "none":
            return 0
        return self.price_cents - self.credit_cents
