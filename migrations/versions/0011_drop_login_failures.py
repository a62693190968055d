"""login_failures dropped (failed logins are counted in rate_limit_counters, before the hash);
stored idempotent responses scrubbed of what the keyed fingerprints and redaction now protect

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Counting rows after Argon2 let parallel guesses all read the same stale count; the upsert
    # in rate_limit_counters counts each attempt atomically before the hash. Old rows are at
    # most one window old: dropping them forgives at most one window of failures.
    op.drop_index("ix_login_failures_email_failed_at", table_name="login_failures")
    op.drop_table("login_failures")
    # Anonymous keys are now scoped per client address, so the rows of the old shared scope can
    # never be replayed again; their plain SHA-256 fingerprints cover bodies holding passwords.
    op.execute("DELETE FROM idempotency_keys WHERE scope = 'anonymous'")
    # Webhook secrets are stored redacted from now on; so are those already stored. (The CASE
    # keeps the jsonb cast away from bodies that are not JSON.)
    op.execute("""
        UPDATE idempotency_keys
           SET response_body = jsonb_set(
                 response_body::jsonb, '{secret}',
                 to_jsonb('redacted: shown only in the first response'::text))::text
         WHERE CASE WHEN response_body LIKE '%"whsec\\_%'
                    THEN jsonb_typeof(response_body::jsonb) = 'object'
                         AND response_body::jsonb ? 'secret'
                    ELSE false END
    """)


def downgrade() -> None:
    # The scrubbed fingerprints and secrets are gone for good; only the table comes back.
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(
        "ix_login_failures_email_failed_at", "login_failures", ["email", "failed_at"], unique=False
    )
