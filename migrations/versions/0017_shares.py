"""shares and share_visits: share links of deals, visits counted once per visitor and day

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

COUNTERS = ("visits", "commitments", "units", "credit_cents")


def upgrade() -> None:
    op.create_table(
        "shares",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        *(
            sa.Column(counter, sa.Integer(), server_default=sa.text("0"), nullable=False)
            for counter in COUNTERS
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        *(
            sa.CheckConstraint(f"{counter} >= 0", name=op.f(f"ck_shares_{counter}_not_negative"))
            for counter in COUNTERS
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_shares_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_shares_deal_id_deals"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shares")),
        sa.UniqueConstraint("account_id", "deal_id", name="uq_shares_account_deal"),
        sa.UniqueConstraint("code", name="uq_shares_code"),
    )
    op.create_index("ix_shares_account_created", "shares", ["account_id", "created_at"])
    op.create_table(
        "share_visits",
        sa.Column("share_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visitor_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["share_id"],
            ["shares.id"],
            name=op.f("fk_share_visits_share_id_shares"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("share_id", "day", "visitor_hash", name=op.f("pk_share_visits")),
    )


def downgrade() -> None:
    op.drop_table("share_visits")
    op.drop_table("shares")
