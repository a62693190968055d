"""Referral credit entries and each account's lifetime earnings (the cap)."""

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, one_of
from deals.models import ReferralKind


class CreditStatus(enum.StrEnum):
    """pending (the referred unit can still be refunded) -> available (for 180 days) -> spent
    or expired; reversed when the referred unit is refunded or released, also after it became
    available (the balance may then go below zero)."""

    PENDING = "pending"
    AVAILABLE = "available"
    SPENT = "spent"
    REVERSED = "reversed"
    EXPIRED = "expired"


# Credit that still counts towards the account's lifetime cap and may yet be reversed.
LIVE_STATUSES = (CreditStatus.PENDING, CreditStatus.AVAILABLE)


class Credit(Base):
    """Credit one account earned for one unit: a referred customer's unit (commission) or its
    own unit made free by the friends it brought (bring_friends)."""

    __tablename__ = "credits"
    __table_args__ = (
        CheckConstraint(one_of("kind", ReferralKind), name="kind"),
        CheckConstraint(one_of("status", CreditStatus), name="status"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("ix_credits_account_created", "account_id", "created_at"),
        # What the settling job looks at: credit that can still change.
        Index(
            "ix_credits_live",
            "voucher_id",
            postgresql_where=text(one_of("status", LIVE_STATUSES)),
        ),
        # One credit per unit; the parts split off it when it is partly spent name it too.
        Index(
            "uq_credits_voucher",
            "voucher_id",
            unique=True,
            postgresql_where=text("split_from IS NULL"),
        ),
        Index("ix_credits_spent_on", "spent_on", postgresql_where=text("spent_on IS NOT NULL")),
        Index(
            "ix_credits_available_expires",
            "expires_at",
            postgresql_where=text(f"status = '{CreditStatus.AVAILABLE}'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int]
    status: Mapped[str] = mapped_column(
        String(16), server_default=text(f"'{CreditStatus.PENDING}'")
    )
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    # The unit the credit stands or falls with.
    voucher_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vouchers.id", ondelete="CASCADE"))
    # The credit this part was split off when that one was partly spent (it keeps the expiry).
    split_from: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("credits.id", ondelete="CASCADE")
    )
    # The commitment the credit pays for while spent (cleared when it comes back).
    spent_on: Mapped[uuid.UUID | None]
    share_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shares.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    available_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]


class ReferralEarnings(Base):
    """An account's credit earned and not reversed, over its lifetime: the cap is checked here."""

    __tablename__ = "referral_earnings"
    __table_args__ = (CheckConstraint("earned_cents >= 0", name="earned_not_negative"),)

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    earned_cents: Mapped[int] = mapped_column(server_default=text("0"))


class ReferralQueue(Base):
    """A confirmed commitment of a deal with referral terms, waiting for the earning job: the
    confirming statement writes it, so the job never scans the history of commitments."""

    __tablename__ = "referral_queue"

    commitment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("commitments.id", ondelete="CASCADE"), primary_key=True
    )
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    queued_at: Mapped[datetime] = mapped_column(server_default=func.now())
