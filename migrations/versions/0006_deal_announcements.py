"""deals.announced_at: when the "deal near you" announcement of an open deal went out

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa
import geoalchemy2


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('deals', sa.Column('announced_at', sa.DateTime(timezone=True), nullable=True))
    # Deals that exist already are not announced again.
    op.execute("UPDATE deals SET announced_at = now() WHERE status <> 'scheduled'")
    op.create_index('ix_deals_unannounced', 'deals', ['id'], unique=False, postgresql_where=sa.text("announced_at IS NULL AND status IN ('active', 'tipped')"))


def downgrade() -> None:
    op.drop_index('ix_deals_unannounced', table_name='deals', postgresql_where=sa.text("announced_at IS NULL AND status IN ('active', 'tipped')"))
    op.drop_column('deals', 'announced_at')
