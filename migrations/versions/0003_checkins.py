"""checkins: check-ins, reward programs, rewards

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import geoalchemy2
from geoalchemy2 import Geography
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_geospatial_table('checkins',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('venue_id', sa.Uuid(), nullable=False),
    sa.Column('location', Geography(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeogFromText', name='geography', nullable=False), nullable=False),
    sa.Column('accuracy_m', sa.Double(), nullable=True),
    sa.Column('is_mock', sa.Boolean(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('distance_m', sa.Double(), nullable=False),
    sa.Column('counted', sa.Boolean(), nullable=False),
    sa.Column('reasons', postgresql.ARRAY(sa.String(length=32)), nullable=False),
    sa.Column('local_day', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_checkins_account_id_accounts')),
    sa.ForeignKeyConstraint(['venue_id'], ['venues.id'], name=op.f('fk_checkins_venue_id_venues')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkins'))
    )
    op.create_index('ix_checkins_account_counted', 'checkins', ['account_id', 'created_at'], unique=False, postgresql_where=sa.text('counted'))
    op.create_index('ix_checkins_account_created', 'checkins', ['account_id', 'created_at'], unique=False)
    op.create_index('ix_checkins_venue_counted', 'checkins', ['venue_id', 'created_at'], unique=False, postgresql_where=sa.text('counted'))
    op.create_index('uq_checkins_counted_per_day', 'checkins', ['account_id', 'venue_id', 'local_day'], unique=True, postgresql_where=sa.text('counted'))
    op.create_table('reward_programs',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('venue_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('threshold', sa.Integer(), nullable=True),
    sa.Column('window_days', sa.Integer(), nullable=True),
    sa.Column('window_minutes', sa.Integer(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('max_rewards', sa.Integer(), nullable=True),
    sa.Column('rewards_issued', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('mayor_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind <> 'flash' OR rewards_issued <= threshold", name=op.f('ck_reward_programs_flash_within_threshold')),
    sa.CheckConstraint("kind IN ('every_nth','first_visit','frequency','mayor','swarm','flash')", name=op.f('ck_reward_programs_kind')),
    sa.CheckConstraint('ends_at IS NULL OR ends_at > starts_at', name=op.f('ck_reward_programs_ends_after_start')),
    sa.CheckConstraint('max_rewards IS NULL OR rewards_issued <= max_rewards', name=op.f('ck_reward_programs_within_max_rewards')),
    sa.ForeignKeyConstraint(['mayor_id'], ['accounts.id'], name=op.f('fk_reward_programs_mayor_id_accounts')),
    sa.ForeignKeyConstraint(['venue_id'], ['venues.id'], name=op.f('fk_reward_programs_venue_id_venues')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reward_programs'))
    )
    op.create_index(op.f('ix_reward_programs_venue_id'), 'reward_programs', ['venue_id'], unique=False)
    op.create_table('rewards',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('code', sa.String(length=14), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('program_id', sa.Uuid(), nullable=False),
    sa.Column('venue_id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('checkin_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), server_default=sa.text("'issued'"), nullable=False),
    sa.Column('earned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('issued','redeemed','void','expired')", name=op.f('ck_rewards_status')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_rewards_account_id_accounts')),
    sa.ForeignKeyConstraint(['checkin_id'], ['checkins.id'], name=op.f('fk_rewards_checkin_id_checkins')),
    sa.ForeignKeyConstraint(['program_id'], ['reward_programs.id'], name=op.f('fk_rewards_program_id_reward_programs')),
    sa.ForeignKeyConstraint(['venue_id'], ['venues.id'], name=op.f('fk_rewards_venue_id_venues')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rewards')),
    sa.UniqueConstraint('code', name=op.f('uq_rewards_code')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_rewards_dedupe_key'))
    )
    op.create_index('ix_rewards_account_earned', 'rewards', ['account_id', 'earned_at'], unique=False)
    op.create_index(op.f('ix_rewards_program_id'), 'rewards', ['program_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_rewards_program_id'), table_name='rewards')
    op.drop_index('ix_rewards_account_earned', table_name='rewards')
    op.drop_table('rewards')
    op.drop_index(op.f('ix_reward_programs_venue_id'), table_name='reward_programs')
    op.drop_table('reward_programs')
    op.drop_index('uq_checkins_counted_per_day', table_name='checkins', postgresql_where=sa.text('counted'))
    op.drop_index('ix_checkins_venue_counted', table_name='checkins', postgresql_where=sa.text('counted'))
    op.drop_index('ix_checkins_account_created', table_name='checkins')
    op.drop_index('ix_checkins_account_counted', table_name='checkins', postgresql_where=sa.text('counted'))
    op.drop_geospatial_table('checkins')
