"""Accounts and their bearer tokens (failed logins are rate-limit counters: core.ratelimit)."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base

ROLES = ("customer", "merchant")
HANDLE_PATTERN = r"^[a-z0-9_]{3,30}$"
# What a deleted account is called wherever its past shows (reviews, a mayorship).
FORMER_MEMBER = "Former member"


class Account(Base):
    """A customer or merchant; email is stored lower-cased and unique, the optional `handle`
    (how friends find each other) too. A deleted account stays as an anonymous tombstone
    (`deleted_at`), so what others' counters and a merchant's records refer to stays."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("role IN ('customer', 'merchant')", name="role"),
        CheckConstraint(f"handle ~ '{HANDLE_PATTERN}'", name="handle"),
        UniqueConstraint("handle", name="uq_accounts_handle"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    handle: Mapped[str | None] = mapped_column(String(30))
    deleted_at: Mapped[datetime | None]


class Token(Base):
    """An opaque bearer token, stored only as its SHA-256 hash."""

    __tablename__ = "tokens"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
