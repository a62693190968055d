"""referral credit: credits, lifetime earnings, the queue of confirmed commitments to credit,
and the history of device holders

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

LIVE = "status IN ('pending', 'available')"


def upgrade() -> None:
    op.create_table(
        "credits",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("voucher_id", sa.Uuid(), nullable=False),
        sa.Column("share_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('commission', 'bring_friends')", name=op.f("ck_credits_kind")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'available', 'spent', 'reversed', 'expired')",
            name=op.f("ck_credits_status"),
        ),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_credits_amount_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_credits_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_credits_deal_id_deals"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["voucher_id"],
            ["vouchers.id"],
            name=op.f("fk_credits_voucher_id_vouchers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["share_id"],
            ["shares.id"],
            name=op.f("fk_credits_share_id_shares"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credits")),
        sa.UniqueConstraint("voucher_id", name=op.f("uq_credits_voucher_id")),
    )
    op.create_index("ix_credits_account_created", "credits", ["account_id", "created_at"])
    op.create_index(
        "ix_credits_live", "credits", ["voucher_id"], postgresql_where=sa.text(LIVE)
    )
    op.create_index(
        "ix_credits_available_expires",
        "credits",
        ["expires_at"],
        postgresql_where=sa.text("status = 'available'"),
    )
    op.create_table(
        "referral_earnings",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("earned_cents", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(
            "earned_cents >= 0", name=op.f("ck_referral_earnings_earned_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_referral_earnings_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_referral_earnings")),
    )
    op.create_table(
        "referral_queue",
        sa.Column("commitment_id", sa.Uuid(), nullable=False),
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column(
            "queued_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["commitment_id"],
            ["commitments.id"],
            name=op.f("fk_referral_queue_commitment_id_commitments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
            name=op.f("fk_referral_queue_deal_id_deals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("commitment_id", name=op.f("pk_referral_queue")),
    )
    op.create_table(
        "device_holders",
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column(
            "first_registered_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_device_holders_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_digest", "account_id", name=op.f("pk_device_holders")),
    )
    op.create_index(
        op.f("ix_device_holders_account_id"), "device_holders", ["account_id"]
    )
    op.create_index("ix_shares_deal", "shares", ["deal_id"])


def downgrade() -> None:
    op.drop_index("ix_shares_deal", table_name="shares")
    op.drop_table("device_holders")
    op.drop_table("referral_queue")
    op.drop_table("referral_earnings")
    op.drop_table("credits")
