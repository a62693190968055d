"""deliveries.lease_token: an outcome is recorded only by the dispatcher that holds the lease

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing; rows get a token when next leased.
    op.add_column("deliveries", sa.Column("lease_token", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("deliveries", "lease_token")
