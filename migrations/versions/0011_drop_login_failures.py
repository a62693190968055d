"""login_failures dropped: failed logins are counted in rate_limit_counters, before the hash

Revision ID: 0011
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Counting rows after Argon2 let parallel guesses all read the same stale count; the upsert
    # in rate_limit_counters counts each attempt atomically before the hash. Old rows are at
    # most one window old: dropping them forgives at most one window of failures.
    op.drop_index('ix_login_failures_email_failed_at', table_name='login_failures')
    op.drop_table('login_failures')


def downgrade() -> None:
    op.create_table('login_failures',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    op.create_index('ix_login_failures_email_failed_at', 'login_failures', ['email', 'failed_at'], unique=False)
