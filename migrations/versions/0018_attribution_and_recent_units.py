"""attribution of commitments to shares, referrals, and units committed per deal and minute

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("commitments", sa.Column("share_id", sa.Uuid(), nullable=True))
    op.add_column("commitments", sa.Column("referrer_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_commitments_share_id_shares"),
        "commitments",
        "shares",
        ["share_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        op.f("fk_commitments_referrer_id_accounts"),
        "commitments",
        "accounts",
        ["referrer_id"],
        ["id"],
        ondelete="SET NULL",
    )
    for column in ("share_id", "referrer_id"):
        op.create_index(
            f"ix_commitments_{column.removesuffix('_id')}",
            "commitments",
            [column],
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )
    op.create_table(
        "referrals",
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("share_id", sa.Uuid(), nullable=False),
        sa.Column("referrer_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "referrer_id <> account_id", name=op.f("ck_referrals_never_self")
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_referrals_deal_id_deals"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_referrals_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["share_id"],
            ["shares.id"],
            name=op.f("fk_referrals_share_id_shares"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            ["accounts.id"],
            name=op.f("fk_referrals_referrer_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deal_id", "account_id", name=op.f("pk_referrals")),
    )
    op.create_index("ix_referrals_share", "referrals", ["share_id"])
    op.create_table(
        "deal_commitment_minutes",
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
            name=op.f("fk_deal_commitment_minutes_deal_id_deals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deal_id", "minute", name=op.f("pk_deal_commitment_minutes")),
    )
    op.create_index("ix_deal_commitment_minutes_minute", "deal_commitment_minutes", ["minute"])
    op.create_index("ix_share_visits_day", "share_visits", ["day"])


def downgrade() -> None:
    op.drop_index("ix_share_visits_day", table_name="share_visits")
    op.drop_table("deal_commitment_minutes")
    op.drop_table("referrals")
    op.drop_index("ix_commitments_referrer", table_name="commitments")
    op.drop_index("ix_commitments_share", table_name="commitments")
    op.drop_constraint(op.f("fk_commitments_referrer_id_accounts"), "commitments")
    op.drop_constraint(op.f("fk_commitments_share_id_shares"), "commitments")
    op.drop_column("commitments", "referrer_id")
    op.drop_column("commitments", "share_id")
