"""Share links of deals and their daily de-duplicated visits."""

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
