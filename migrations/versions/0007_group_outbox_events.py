"""outbox_events.recipient_ids: one event for a whole audience (a deal outcome), fanned out by the dispatcher

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('outbox_events', sa.Column('recipient_ids', postgresql.ARRAY(sa.Uuid()), nullable=True))
    op.alter_column('outbox_events', 'recipient_id', existing_type=sa.Uuid(), nullable=True)
    op.create_check_constraint(op.f('ck_outbox_events_one_audience'), 'outbox_events', '(recipient_id IS NULL) <> (recipient_ids IS NULL)')
    # A group event has one inbox entry per recipient.
    op.drop_constraint(op.f('uq_notifications_event_id'), 'notifications', type_='unique')
    op.create_unique_constraint('uq_notifications_event_account', 'notifications', ['event_id', 'account_id'])


def downgrade() -> None:
    op.drop_constraint('uq_notifications_event_account', 'notifications', type_='unique')
    op.create_unique_constraint(op.f('uq_notifications_event_id'), 'notifications', ['event_id'])
    op.drop_constraint(op.f('ck_outbox_events_one_audience'), 'outbox_events', type_='check')
    op.execute('DELETE FROM outbox_events WHERE recipient_id IS NULL')
    op.alter_column('outbox_events', 'recipient_id', existing_type=sa.Uuid(), nullable=False)
    op.drop_column('outbox_events', 'recipient_ids')
