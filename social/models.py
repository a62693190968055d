"""Share links of deals and their daily de-duplicated visits; friendships, friend requests, and
who sees a check-in or commitment."""

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base

SHARE_CODE_LENGTH = 8  # Crockford base32: 40 random bits


class Share(Base):
    """One account's link to one deal; the counters are what `GET /me/shares` reads."""

    __tablename__ = "shares"
    __table_args__ = (
        UniqueConstraint("account_id", "deal_id", name="uq_shares_account_deal"),
        UniqueConstraint("code", name="uq_shares_code"),
        Index("ix_shares_account_created", "account_id", "created_at"),
        Index("ix_shares_deal", "deal_id"),
        CheckConstraint("visits >= 0", name="visits_not_negative"),
        CheckConstraint("commitments >= 0", name="commitments_not_negative"),
        CheckConstraint("units >= 0", name="units_not_negative"),
        CheckConstraint("credit_cents >= 0", name="credit_cents_not_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    code: Mapped[str] = mapped_column(String(SHARE_CODE_LENGTH))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    visits: Mapped[int] = mapped_column(server_default=text("0"))
    commitments: Mapped[int] = mapped_column(server_default=text("0"))
    units: Mapped[int] = mapped_column(server_default=text("0"))
    credit_cents: Mapped[int] = mapped_column(server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ShareVisit(Base):
    """A visitor (a keyed hash rotating daily, never the address) who opened a share on a day."""

    __tablename__ = "share_visits"

    share_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shares.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    visitor_hash: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_share_visits_day", "day"),)


class Referral(Base):
    """Who brought an account to a deal: the first share it committed through (never its own)."""

    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint("referrer_id <> account_id", name="never_self"),
        Index("ix_referrals_share", "share_id"),
    )

    deal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deals.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    share_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shares.id", ondelete="CASCADE"))
    referrer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Audience(enum.StrEnum):
    """Who sees a check-in or a commitment besides its account: nobody (the default) or its
    friends (their feed, `friends_committed` on deals, `friend.checked_in`)."""

    PRIVATE = "private"
    FRIENDS = "friends"


class FriendRequest(Base):
    """A pending friendship: `requester_id` asked `addressee_id`; accepting turns it into two
    `Friendship` rows, declining or cancelling deletes it."""

    __tablename__ = "friend_requests"
    __table_args__ = (
        CheckConstraint("requester_id <> addressee_id", name="never_self"),
        # The addressee's incoming requests, newest first.
        Index("ix_friend_requests_addressee_created", "addressee_id", "created_at"),
        # The requester's outgoing ones (the pending cap counts them), newest first.
        Index("ix_friend_requests_requester_created", "requester_id", "created_at"),
    )

    requester_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    addressee_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Friendship(Base):
    """One direction of a mutual friendship: a friendship is two rows, (a, b) and (b, a), so an
    account's friends are one prefix of the primary key (the feed and `friends_committed` start
    there)."""

    __tablename__ = "friendships"
    __table_args__ = (
        CheckConstraint("account_id <> friend_id", name="never_self"),
        # The account's friends newest first (GET /me/friends).
        Index("ix_friendships_account_created", "account_id", "created_at"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    friend_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class FriendNoticeCount(Base):
    """How many `friend.checked_in` notices an account got on a UTC day: the daily cap is a
    conditional upsert of this row, exact however many friends check in at once."""

    __tablename__ = "friend_notice_counts"
    __table_args__ = (
        CheckConstraint("notices >= 1", name="notices_positive"),
        Index("ix_friend_notice_counts_day", "day"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    notices: Mapped[int]
