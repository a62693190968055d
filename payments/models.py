"""Payments of commitments, their refunds, the provider's customers and events, and the ledger."""

import enum
import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, one_of
from social.models import Audience


class PaymentStatus(enum.StrEnum):
    """Where the money of one commitment is.

    authorising -> (requires_action ->) held | saved -> captured; a failed charge at the tip:
    charge_failed -> captured (fixed) or cancelled (48 h later); released units: releasing ->
    cancelled. Until `held` or `saved` no unit is taken.
    """

    AUTHORISING = "authorising"
    REQUIRES_ACTION = "requires_action"
    HELD = "held"
    SAVED = "saved"
    CAPTURED = "captured"
    CHARGE_FAILED = "charge_failed"
    RELEASING = "releasing"
    CANCELLED = "cancelled"


# The provider has authorised, nothing is taken yet: the units wait for the tip.
UNCAPTURED_STATUSES = (PaymentStatus.HELD, PaymentStatus.SAVED)
# The customer has not finished paying: no unit is taken.
UNFINISHED_STATUSES = (PaymentStatus.AUTHORISING, PaymentStatus.REQUIRES_ACTION)


class PaymentMethodKind(enum.StrEnum):
    """How the money is taken: a card hold captured at the tip, or a card saved and charged
    off-session at the tip (deals ending after a hold would lapse)."""

    HOLD = "hold"
    SAVED_CARD = "saved_card"


class RefundStatus(enum.StrEnum):
    """A refund is pending until the provider has paid it back."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"


class RefundReason(enum.StrEnum):
    """Who asked: the customer, the merchant, or the deal's cancellation."""

    CUSTOMER = "customer"
    MERCHANT = "merchant"
    DEAL_CANCELLED = "deal_cancelled"


class LedgerAccount(enum.StrEnum):
    """The ledger's accounts; every transaction's entries sum to zero across them."""

    CARD_HOLDS = "card_holds"  # authorised on customers' cards, not yet taken
    HELD_FOR_CUSTOMERS = "held_for_customers"  # the counter-entry of a hold
    PROVIDER_BALANCE = "provider_balance"  # money taken and kept at the provider
    MERCHANT_PAYABLE = "merchant_payable"  # owed to merchants (negative: we owe)
    PLATFORM_FEES = "platform_fees"  # the platform's fee income (negative: earned)
    REFERRAL_CREDIT = "referral_credit"  # credit available to its holder (negative: we owe)
    REFERRAL_CREDIT_PENDING = "referral_credit_pending"  # earned, the unit still refundable
    CREDIT_APPLIED = "credit_applied"  # spent on units not yet paid or redeemed


# The accounts whose entries name the account holding the credit (`holder_id`).
CREDIT_ACCOUNTS = (LedgerAccount.REFERRAL_CREDIT, LedgerAccount.REFERRAL_CREDIT_PENDING)


class EntryKind(enum.StrEnum):
    """What a ledger transaction records."""

    HOLD = "hold"
    HOLD_RELEASE = "hold_release"
    CAPTURE = "capture"
    REFUND = "refund"
    # Credit earned, reversed or expired: the merchant's marketing cost (or its return).
    REFERRAL_COMMISSION = "referral_commission"
    CREDIT_AVAILABLE = "credit_available"  # pending credit made available
    CREDIT_SPENT = "credit_spent"  # available credit applied to a commitment
    CREDIT_RESTORED = "credit_restored"  # applied credit back: the units were not bought
    CREDIT_REDEEMED = "credit_redeemed"  # applied credit paid to the merchant of the units


class Payment(Base):
    """The money of one commitment, from the card's authorisation to its capture or release.

    `id` and `commitment_id` are made before the provider is called (its idempotency keys and
    metadata carry them); the commitment exists only from `held`/`saved` on, so it has no
    foreign key here.
    """

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(one_of("status", PaymentStatus), name="status"),
        CheckConstraint(one_of("method", PaymentMethodKind), name="method"),
        CheckConstraint(one_of("share", Audience), name="share"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        Index("ix_payments_account_created", "account_id", "created_at"),
        Index("ix_payments_deal", "deal_id"),
        # What the jobs claim, each a small set: due captures, releases, unfinished intents,
        # failed charges waiting for a fix.
        Index(
            "ix_payments_due",
            "due_at",
            postgresql_where=text(
                f"{one_of('status', UNCAPTURED_STATUSES)} AND due_at IS NOT NULL"
            ),
        ),
        Index(
            "ix_payments_releasing",
            "created_at",
            postgresql_where=text(f"status = '{PaymentStatus.RELEASING}'"),
        ),
        Index(
            "ix_payments_unfinished",
            "created_at",
            postgresql_where=text(one_of("status", UNFINISHED_STATUSES)),
        ),
        Index(
            "ix_payments_charge_failed",
            "failed_at",
            postgresql_where=text(f"status = '{PaymentStatus.CHARGE_FAILED}'"),
        ),
        # The daily reconciliation: holds getting old, and what was settled lately.
        Index(
            "ix_payments_held_since",
            "authorised_at",
            postgresql_where=text(f"status = '{PaymentStatus.HELD}'"),
        ),
        Index("ix_payments_settled", "settled_at", postgresql_where=text("settled_at IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    commitment_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    quantity: Mapped[int]
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    # The PaymentIntent (hold) or SetupIntent (saved card) made at the commitment.
    provider_ref: Mapped[str] = mapped_column(String(255), unique=True)
    # The PaymentIntent of the charge at the tip (saved card) or of the customer's fix.
    charge_ref: Mapped[str | None] = mapped_column(String(255), unique=True)
    provider_customer: Mapped[str | None] = mapped_column(String(255))
    payment_method: Mapped[str | None] = mapped_column(String(255))
    # The share link the commitment came through, and who is to see it (the commitment's
    # `share`): its units are taken only once authorised.
    share_code: Mapped[str | None] = mapped_column(String(32))
    share: Mapped[str] = mapped_column(String(16), server_default=text(f"'{Audience.PRIVATE}'"))
    charge_attempts: Mapped[int] = mapped_column(server_default=text("0"))
    fee_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    authorised_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    captured_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    # When it was captured or cancelled: what the daily reconciliation looks at again.
    settled_at: Mapped[datetime | None]

    @property
    def taken_commitment_id(self) -> uuid.UUID | None:
        """The commitment this payment pays for, once its units are taken."""
        return None if self.status in UNFINISHED_STATUSES else self.commitment_id


class PaymentRefund(Base):
    """One voucher's price paid back; pending until the provider has refunded it."""

    __tablename__ = "payment_refunds"
    __table_args__ = (
        CheckConstraint(one_of("status", RefundStatus), name="status"),
        CheckConstraint(one_of("reason", RefundReason), name="reason"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index(
            "ix_payment_refunds_pending",
            "created_at",
            postgresql_where=text(f"status = '{RefundStatus.PENDING}'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), index=True)
    voucher_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vouchers.id"), unique=True)
    amount_cents: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(16))
    provider_ref: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    refunded_at: Mapped[datetime | None]


class PaymentCustomer(Base):
    """The provider's customer object of an account (saved cards belong to it)."""

    __tablename__ = "payment_customers"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    provider_customer: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PaymentEvent(Base):
    """A provider webhook event already handled: a second delivery changes nothing."""

    __tablename__ = "payment_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())


class LedgerEntry(Base):
    """One side of a ledger transaction (`transaction_key`), in integer minor units.

    A transaction's entries sum to zero (a deferred constraint trigger checks it at commit,
    migration 0022) and name each account once, so recording a transaction again inserts
    nothing. Deal and merchant are on every entry, so a statement is one index range.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(one_of("account", LedgerAccount), name="account"),
        CheckConstraint(one_of("kind", EntryKind), name="kind"),
        CheckConstraint("amount_cents <> 0", name="amount_not_zero"),
        UniqueConstraint(
            "transaction_key", "account", name="uq_ledger_entries_transaction_account"
        ),
        Index("ix_ledger_entries_merchant_created", "merchant_id", "created_at"),
        Index(
            "ix_ledger_entries_holder",
            "holder_id",
            "account",
            postgresql_where=text("holder_id IS NOT NULL"),
        ),
        Index(
            "ix_ledger_entries_credit", "credit_id", postgresql_where=text("credit_id IS NOT NULL")
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    transaction_key: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(24))
    account: Mapped[str] = mapped_column(String(24))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"), index=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id"), index=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    # On the credit accounts' entries: whose credit it is, and which credit moved.
    holder_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    credit_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
