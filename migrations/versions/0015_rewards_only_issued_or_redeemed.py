"""rewards: status is issued or redeemed (nothing ever voids or expires a reward)

Revision ID: 0015
Revises: 0013
"""

from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_rewards_status"), "rewards", type_="check")
    op.create_check_constraint(
        op.f("ck_rewards_status"), "rewards", "status IN ('issued','redeemed')"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_rewards_status"), "rewards", type_="check")
    op.create_check_constraint(
        op.f("ck_rewards_status"), "rewards", "status IN ('issued','redeemed','void','expired')"
    )
