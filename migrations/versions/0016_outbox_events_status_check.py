"""outbox_events: status is pending or dispatched, checked like every other status column

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_check_constraint(
        op.f("ck_outbox_events_status"), "outbox_events", "status IN ('pending','dispatched')"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_outbox_events_status"), "outbox_events", type_="check")
