"""deals: index on closed_at, so close-deals finds the deals one run ended in a second statement

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_deals_closed_at",
        "deals",
        ["closed_at"],
        unique=False,
        postgresql_where=sa.text("closed_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_deals_closed_at", table_name="deals", postgresql_where=sa.text("closed_at IS NOT NULL")
    )
