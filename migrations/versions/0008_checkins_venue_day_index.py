"""checkins: (venue_id, local_day, account_id) index of counted check-ins, for the mayor window

Revision ID: 0008
Revises: 0007
"""
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The best rival's distinct days in the 60-day window: an index-only range scan instead of
    # every counted check-in the venue ever had.
    op.create_index('ix_checkins_venue_day', 'checkins', ['venue_id', 'local_day', 'account_id'],
                    unique=False, postgresql_where='counted')


def downgrade() -> None:
    op.drop_index('ix_checkins_venue_day', table_name='checkins', postgresql_where='counted')
