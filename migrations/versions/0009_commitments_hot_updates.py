"""commitments: (deal_id) index instead of (deal_id, status), fillfactor 50, so status changes are HOT updates

Revision ID: 0009
Revises: 0008
"""
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A commitment changes status once in its life (confirmed at the tip, or released when the
    # deal fails, is cancelled or the account withdraws). With no index on status or released_at
    # and room on the page for that one new row version, the update is HOT: it writes no entry
    # into any of the three indexes. close-deals releases ~500k rows at once; non-HOT, each wrote
    # three index entries at random leaf pages (about 5 WAL records and most of its time per row).
    op.create_index('ix_commitments_deal', 'commitments', ['deal_id'], unique=False)
    op.drop_index('ix_commitments_deal_status', table_name='commitments')
    # Applies to pages filled from now on; existing rows stay where they are.
    op.execute('ALTER TABLE commitments SET (fillfactor = 50)')


def downgrade() -> None:
    op.execute('ALTER TABLE commitments RESET (fillfactor)')
    op.create_index('ix_commitments_deal_status', 'commitments', ['deal_id', 'status'], unique=False)
    op.drop_index('ix_commitments_deal', table_name='commitments')
