"""Reviews of venues (with the merchant's one reply), reports of them, and the moderation log."""

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, one_of
from venues.models import RATING_MAX, RATING_MIN

VISIBLE = text("hidden_at IS NULL")
# Built here: inside the classes, the `text` column shadows sqlalchemy's text().
ZERO = text("0")


class VerifiedBy(enum.StrEnum):
    """The visit that entitles an account to review a venue."""

    VOUCHER = "voucher"  # a redeemed voucher of a deal at the venue
    CHECKIN = "checkin"  # a counted check-in at the venue


class ReportReason(enum.StrEnum):
    """Why a reader reports a review."""

    SPAM = "spam"
    OFFENSIVE = "offensive"
    NOT_A_VISIT = "not-a-visit"
    OTHER = "other"


class ModerationAction(enum.StrEnum):
    """What a moderator decided about a reported review."""

    HIDDEN = "hidden"  # out of the list and the venue's rating
    KEPT = "kept"  # stays; its reports so far are settled


class Review(Base):
    """One account's review of one venue; `hidden_at` set by moderation only."""

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("account_id", "venue_id", name="uq_reviews_account_venue"),
        CheckConstraint(f"rating BETWEEN {RATING_MIN} AND {RATING_MAX}", name="rating"),
        CheckConstraint(one_of("verified_by", VerifiedBy), name="verified_by"),
        CheckConstraint("reports_count >= 0", name="reports_count_not_negative"),
        CheckConstraint("(reply_text IS NULL) = (replied_at IS NULL)", name="reply_complete"),
        # The list's three orders, each a backward scan of its own index (keyset pagination).
        Index("ix_reviews_venue_newest", "venue_id", "created_at", "id", postgresql_where=VISIBLE),
        # An author's visible reviews newest first: friends' feeds read one range per friend.
        Index(
            "ix_reviews_account_newest", "account_id", "created_at", "id", postgresql_where=VISIBLE
        ),
        Index(
            "ix_reviews_venue_highest",
            "venue_id",
            "rating",
            "created_at",
            "id",
            postgresql_where=VISIBLE,
        ),
        # Lowest first but newest first among equal ratings: one direction over (-rating).
        Index(
            "ix_reviews_venue_lowest",
            "venue_id",
            text("(- rating)"),
            "created_at",
            "id",
            postgresql_where=VISIBLE,
        ),
        # The moderators' queue: visible reviews with unsettled reports, most reported first.
        Index(
            "ix_reviews_reported",
            "reports_count",
            "last_reported_at",
            postgresql_where=text("reports_count > 0 AND hidden_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    venue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("venues.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    rating: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str | None] = mapped_column(Text)
    verified_by: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    reply_text: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None]
    reply_edited_at: Mapped[datetime | None]
    hidden_at: Mapped[datetime | None]
    # Reports since the last moderation decision (the queue's order), and the latest one.
    reports_count: Mapped[int] = mapped_column(server_default=ZERO)
    last_reported_at: Mapped[datetime | None]
    moderated_at: Mapped[datetime | None]


class ReviewReport(Base):
    """One account's report of one review (a repeat changes nothing)."""

    __tablename__ = "review_reports"
    __table_args__ = (CheckConstraint(one_of("reason", ReportReason), name="reason"),)

    review_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    reason: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class ReviewModeration(Base):
    """The audit log of moderation: who decided what about which review, and why.

    No foreign keys: an entry outlives the review (its author may delete it later), so it keeps
    what the review said when the decision was taken.
    """

    __tablename__ = "review_moderations"
    __table_args__ = (
        CheckConstraint(one_of("action", ModerationAction), name="action"),
        Index("ix_review_moderations_review", "review_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    review_id: Mapped[uuid.UUID]
    venue_id: Mapped[uuid.UUID]
    author_id: Mapped[uuid.UUID]
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    moderator: Mapped[str] = mapped_column(String(100))
    rating: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str | None] = mapped_column(Text)
    reports_count: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
