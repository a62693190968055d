"""deals.referral (commission or bring_friends) and deals.new_customers_only

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# The constraint as it was written (deals.models.REFERRAL_SHAPES then), frozen here.
REFERRAL_SHAPES = (
    "referral IS NULL OR CASE WHEN jsonb_typeof(referral) <> 'object' THEN false"
    " WHEN referral ->> 'kind' = 'commission' THEN referral - 'kind' - 'percent' = '{}'::jsonb"
    " AND CASE WHEN jsonb_typeof(referral -> 'percent') = 'number'"
    " THEN (referral ->> 'percent')::numeric BETWEEN 1 AND 50"
    " AND (referral ->> 'percent')::numeric = trunc((referral ->> 'percent')::numeric)"
    " ELSE false END"
    " WHEN referral ->> 'kind' = 'bring_friends' THEN referral - 'kind' - 'friends' = '{}'::jsonb"
    " AND CASE WHEN jsonb_typeof(referral -> 'friends') = 'number'"
    " THEN (referral ->> 'friends')::numeric BETWEEN 1 AND 10"
    " AND (referral ->> 'friends')::numeric = trunc((referral ->> 'friends')::numeric)"
    " ELSE false END"
    " ELSE false END"
)


def upgrade() -> None:
    op.add_column(
        "deals", sa.Column("referral", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.add_column(
        "deals",
        sa.Column(
            "new_customers_only", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
    )
    op.create_check_constraint(op.f("ck_deals_referral_shape"), "deals", REFERRAL_SHAPES)


def downgrade() -> None:
    op.drop_constraint(op.f("ck_deals_referral_shape"), "deals", type_="check")
    op.drop_column("deals", "new_customers_only")
    op.drop_column("deals", "referral")
