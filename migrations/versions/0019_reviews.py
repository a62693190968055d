"""reviews, review_reports, review_moderations; venues' rating counters; redeemed vouchers index

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

VISIBLE = sa.text("hidden_at IS NULL")


def _timestamp(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column(
        "venues",
        sa.Column("rating_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "venues",
        sa.Column("rating_sum", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_venues_rating_counters"),
        "venues",
        "rating_count >= 0 AND rating_sum BETWEEN 1 * rating_count AND 5 * rating_count",
    )
    op.create_index(
        "ix_vouchers_account_redeemed",
        "vouchers",
        ["account_id", "deal_id", "redeemed_at"],
        postgresql_where=sa.text("status = 'redeemed'"),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("verified_by", sa.String(length=16), nullable=False),
        _timestamp("created_at", nullable=False),
        _timestamp("edited_at"),
        sa.Column("reply_text", sa.Text(), nullable=True),
        _timestamp("replied_at"),
        _timestamp("reply_edited_at"),
        _timestamp("hidden_at"),
        sa.Column("reports_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _timestamp("last_reported_at"),
        _timestamp("moderated_at"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_reviews_rating")),
        sa.CheckConstraint(
            "verified_by IN ('voucher','checkin')", name=op.f("ck_reviews_verified_by")
        ),
        sa.CheckConstraint(
            "reports_count >= 0", name=op.f("ck_reviews_reports_count_not_negative")
        ),
        sa.CheckConstraint(
            "(reply_text IS NULL) = (replied_at IS NULL)", name=op.f("ck_reviews_reply_complete")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_reviews_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venues.id"], name=op.f("fk_reviews_venue_id_venues")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("account_id", "venue_id", name="uq_reviews_account_venue"),
    )
    op.create_index(
        "ix_reviews_venue_newest",
        "reviews",
        ["venue_id", "created_at", "id"],
        postgresql_where=VISIBLE,
    )
    op.create_index(
        "ix_reviews_venue_highest",
        "reviews",
        ["venue_id", "rating", "created_at", "id"],
        postgresql_where=VISIBLE,
    )
    op.create_index(
        "ix_reviews_venue_lowest",
        "reviews",
        ["venue_id", sa.text("(- rating)"), "created_at", "id"],
        postgresql_where=VISIBLE,
    )
    op.create_index(
        "ix_reviews_reported",
        "reviews",
        ["reports_count", "last_reported_at"],
        postgresql_where=sa.text("reports_count > 0 AND hidden_at IS NULL"),
    )
    op.create_table(
        "review_reports",
        sa.Column("review_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        _timestamp("created_at", nullable=False),
        sa.CheckConstraint(
            "reason IN ('spam','offensive','not-a-visit','other')",
            name=op.f("ck_review_reports_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_review_reports_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["reviews.id"],
            name=op.f("fk_review_reports_review_id_reviews"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("review_id", "account_id", name=op.f("pk_review_reports")),
    )
    op.create_table(
        "review_moderations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("review_id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("moderator", sa.String(length=100), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("reports_count", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "action IN ('hidden','kept')", name=op.f("ck_review_moderations_action")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_moderations")),
    )
    op.create_index("ix_review_moderations_review", "review_moderations", ["review_id"])


def downgrade() -> None:
    op.drop_table("review_moderations")
    op.drop_table("review_reports")
    op.drop_table("reviews")
    op.drop_index("ix_vouchers_account_redeemed", table_name="vouchers")
    op.drop_constraint(op.f("ck_venues_rating_counters"), "venues", type_="check")
    op.drop_column("venues", "rating_sum")
    op.drop_column("venues", "rating_count")
