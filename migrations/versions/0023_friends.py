"""friends: handles, friend requests and friendships, who sees a check-in or commitment (share,
also kept on a payment until its units are taken), the daily count of friend check-in notices,
friends' reviews newest first, the friends special, deleted accounts

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

KINDS_BEFORE = "'every_nth','first_visit','frequency','mayor','swarm','flash'"
SHARED = "share = 'friends'"


def _share_column() -> sa.Column:
    return sa.Column("share", sa.String(length=16), server_default="private", nullable=False)


def _account_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["accounts.id"], name=op.f(f"fk_{table}_{column}_accounts"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.add_column("accounts", sa.Column("handle", sa.String(length=30), nullable=True))
    op.add_column("accounts", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f("ck_accounts_handle"), "accounts", "handle ~ '^[a-z0-9_]{3,30}$'"
    )
    op.create_unique_constraint(op.f("uq_accounts_handle"), "accounts", ["handle"])

    op.add_column("checkins", _share_column())
    op.create_check_constraint(
        op.f("ck_checkins_share"), "checkins", "share IN ('private','friends')"
    )
    op.create_index(
        "ix_checkins_shared",
        "checkins",
        ["account_id", "created_at", "id"],
        postgresql_where=sa.text(f"counted AND {SHARED}"),
    )
    op.add_column("commitments", _share_column())
    op.create_check_constraint(
        op.f("ck_commitments_share"), "commitments", "share IN ('private','friends')"
    )
    op.create_index(
        "ix_commitments_shared",
        "commitments",
        ["account_id", "created_at", "id"],
        postgresql_where=sa.text(SHARED),
    )
    op.add_column("payments", _share_column())
    op.create_check_constraint(
        op.f("ck_payments_share"), "payments", "share IN ('private','friends')"
    )
    op.create_index(
        "ix_commitments_shared_deal",
        "commitments",
        ["account_id", "deal_id", "created_at"],
        postgresql_where=sa.text(SHARED),
    )

    op.create_index(
        "ix_reviews_account_newest",
        "reviews",
        ["account_id", "created_at", "id"],
        postgresql_where=sa.text("hidden_at IS NULL"),
    )

    op.drop_constraint(op.f("ck_reward_programs_kind"), "reward_programs", type_="check")
    op.create_check_constraint(
        op.f("ck_reward_programs_kind"), "reward_programs", f"kind IN ({KINDS_BEFORE},'friends')"
    )

    op.create_table(
        "friend_requests",
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("addressee_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "requester_id <> addressee_id", name=op.f("ck_friend_requests_never_self")
        ),
        _account_fk("friend_requests", "requester_id"),
        _account_fk("friend_requests", "addressee_id"),
        sa.PrimaryKeyConstraint("requester_id", "addressee_id", name=op.f("pk_friend_requests")),
    )
    op.create_index(
        "ix_friend_requests_addressee_created", "friend_requests", ["addressee_id", "created_at"]
    )
    op.create_index(
        "ix_friend_requests_requester_created", "friend_requests", ["requester_id", "created_at"]
    )
    op.create_table(
        "friendships",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("friend_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("account_id <> friend_id", name=op.f("ck_friendships_never_self")),
        _account_fk("friendships", "account_id"),
        _account_fk("friendships", "friend_id"),
        sa.PrimaryKeyConstraint("account_id", "friend_id", name=op.f("pk_friendships")),
    )
    op.create_index("ix_friendships_account_created", "friendships", ["account_id", "created_at"])
    op.create_table(
        "friend_notice_counts",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("notices", sa.Integer(), nullable=False),
        sa.CheckConstraint("notices >= 1", name=op.f("ck_friend_notice_counts_notices_positive")),
        _account_fk("friend_notice_counts", "account_id"),
        sa.PrimaryKeyConstraint("account_id", "day", name=op.f("pk_friend_notice_counts")),
    )
    op.create_index("ix_friend_notice_counts_day", "friend_notice_counts", ["day"])


def downgrade() -> None:
    op.drop_table("friend_notice_counts")
    op.drop_table("friendships")
    op.drop_table("friend_requests")
    # The kind goes away, and with it its programs and their rewards.
    op.execute(
        "DELETE FROM rewards WHERE program_id IN "
        "(SELECT id FROM reward_programs WHERE kind = 'friends')"
    )
    op.execute("DELETE FROM reward_programs WHERE kind = 'friends'")
    op.drop_constraint(op.f("ck_reward_programs_kind"), "reward_programs", type_="check")
    op.create_check_constraint(
        op.f("ck_reward_programs_kind"), "reward_programs", f"kind IN ({KINDS_BEFORE})"
    )
    op.drop_index("ix_reviews_account_newest", table_name="reviews")
    op.drop_constraint(op.f("ck_payments_share"), "payments", type_="check")
    op.drop_column("payments", "share")
    op.drop_index("ix_commitments_shared_deal", table_name="commitments")
    op.drop_index("ix_commitments_shared", table_name="commitments")
    op.drop_constraint(op.f("ck_commitments_share"), "commitments", type_="check")
    op.drop_column("commitments", "share")
    op.drop_index("ix_checkins_shared", table_name="checkins")
    op.drop_constraint(op.f("ck_checkins_share"), "checkins", type_="check")
    op.drop_column("checkins", "share")
    op.drop_constraint(op.f("uq_accounts_handle"), "accounts", type_="unique")
    op.drop_constraint(op.f("ck_accounts_handle"), "accounts", type_="check")
    op.drop_column("accounts", "deleted_at")
    op.drop_column("accounts", "handle")
