"""deals: deals, commitments, per-account open quantities, vouchers

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import geoalchemy2
from geoalchemy2 import Geography

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_geospatial_table('deals',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('venue_id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('price_cents', sa.Integer(), nullable=False),
    sa.Column('original_price_cents', sa.Integer(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('location', Geography(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeogFromText', name='geography', nullable=False), nullable=False),
    sa.Column('min_commitments', sa.Integer(), nullable=False),
    sa.Column('max_commitments', sa.Integer(), nullable=True),
    sa.Column('per_user_limit', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('committed_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('tipped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('redeem_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(status IN ('tipped','closed')) = (tipped_at IS NOT NULL) OR status = 'cancelled'", name=op.f('ck_deals_tipped_at_matches_status')),
    sa.CheckConstraint("status IN ('scheduled','active','tipped','closed','failed','cancelled')", name=op.f('ck_deals_status')),
    sa.CheckConstraint('committed_count >= 0', name=op.f('ck_deals_committed_count_not_negative')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_deals_ends_after_start')),
    sa.CheckConstraint('max_commitments IS NULL OR committed_count <= max_commitments', name=op.f('ck_deals_committed_count_within_max')),
    sa.CheckConstraint('max_commitments IS NULL OR max_commitments >= min_commitments', name=op.f('ck_deals_max_not_below_min')),
    sa.CheckConstraint('min_commitments >= 1', name=op.f('ck_deals_min_commitments_positive')),
    sa.CheckConstraint('per_user_limit >= 1', name=op.f('ck_deals_per_user_limit_positive')),
    sa.CheckConstraint('price_cents >= 0', name=op.f('ck_deals_price_not_negative')),
    sa.CheckConstraint('redeem_until >= ends_at', name=op.f('ck_deals_redeemable_after_end')),
    sa.ForeignKeyConstraint(['merchant_id'], ['accounts.id'], name=op.f('fk_deals_merchant_id_accounts')),
    sa.ForeignKeyConstraint(['venue_id'], ['venues.id'], name=op.f('fk_deals_venue_id_venues')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deals'))
    )
    op.create_index('ix_deals_merchant_created', 'deals', ['merchant_id', 'created_at'], unique=False)
    op.create_index('ix_deals_open_ends', 'deals', ['ends_at'], unique=False, postgresql_where=sa.text("status IN ('scheduled', 'active', 'tipped')"))
    op.create_index('ix_deals_open_geometry', 'deals', [sa.literal_column('geometry(location)')], unique=False, postgresql_using='gist', postgresql_where=sa.text("status IN ('active', 'tipped')"))
    op.create_geospatial_index('ix_deals_open_location', 'deals', ['location'], unique=False, postgresql_using='gist', postgresql_where=sa.text("status IN ('active', 'tipped')"), postgresql_ops={})
    op.create_index('ix_deals_scheduled_starts', 'deals', ['starts_at'], unique=False, postgresql_where=sa.text("status = 'scheduled'"))
    op.create_index(op.f('ix_deals_venue_id'), 'deals', ['venue_id'], unique=False)
    op.create_table('commitments',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('deal_id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending','confirmed','released')", name=op.f('ck_commitments_status')),
    sa.CheckConstraint('quantity >= 1', name=op.f('ck_commitments_quantity_positive')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_commitments_account_id_accounts')),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_commitments_deal_id_deals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commitments'))
    )
    op.create_index('ix_commitments_account_created', 'commitments', ['account_id', 'created_at'], unique=False)
    op.create_index('ix_commitments_deal_status', 'commitments', ['deal_id', 'status'], unique=False)
    op.create_table('deal_participants',
    sa.Column('deal_id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('open_quantity', sa.Integer(), nullable=False),
    sa.CheckConstraint('open_quantity >= 0', name=op.f('ck_deal_participants_open_quantity_not_negative')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_deal_participants_account_id_accounts')),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_deal_participants_deal_id_deals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('deal_id', 'account_id', name=op.f('pk_deal_participants'))
    )
    op.create_table('vouchers',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('code', sa.String(length=14), nullable=False),
    sa.Column('deal_id', sa.Uuid(), nullable=False),
    sa.Column('commitment_id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default=sa.text("'issued'"), nullable=False),
    sa.Column('redeem_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('issued','redeemed','void','expired')", name=op.f('ck_vouchers_status')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_vouchers_account_id_accounts')),
    sa.ForeignKeyConstraint(['commitment_id'], ['commitments.id'], name=op.f('fk_vouchers_commitment_id_commitments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_vouchers_deal_id_deals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vouchers')),
    sa.UniqueConstraint('code', name=op.f('uq_vouchers_code'))
    )
    op.create_index('ix_vouchers_account_created', 'vouchers', ['account_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_vouchers_commitment_id'), 'vouchers', ['commitment_id'], unique=False)
    op.create_index(op.f('ix_vouchers_deal_id'), 'vouchers', ['deal_id'], unique=False)
    op.create_index('ix_vouchers_issued_redeem_until', 'vouchers', ['redeem_until'], unique=False, postgresql_where=sa.text("status = 'issued'"))


def downgrade() -> None:
    op.drop_index('ix_vouchers_issued_redeem_until', table_name='vouchers', postgresql_where=sa.text("status = 'issued'"))
    op.drop_index(op.f('ix_vouchers_deal_id'), table_name='vouchers')
    op.drop_index(op.f('ix_vouchers_commitment_id'), table_name='vouchers')
    op.drop_index('ix_vouchers_account_created', table_name='vouchers')
    op.drop_table('vouchers')
    op.drop_table('deal_participants')
    op.drop_index('ix_commitments_deal_status', table_name='commitments')
    op.drop_index('ix_commitments_account_created', table_name='commitments')
    op.drop_table('commitments')
    op.drop_index(op.f('ix_deals_venue_id'), table_name='deals')
    op.drop_index('ix_deals_scheduled_starts', table_name='deals', postgresql_where=sa.text("status = 'scheduled'"))
    op.drop_geospatial_index('ix_deals_open_location', table_name='deals', postgresql_using='gist', postgresql_where=sa.text("status IN ('active', 'tipped')"), column_name='location')
    op.drop_index('ix_deals_open_geometry', table_name='deals', postgresql_using='gist', postgresql_where=sa.text("status IN ('active', 'tipped')"))
    op.drop_index('ix_deals_open_ends', table_name='deals', postgresql_where=sa.text("status IN ('scheduled', 'active', 'tipped')"))
    op.drop_index('ix_deals_merchant_created', table_name='deals')
    op.drop_geospatial_table('deals')
