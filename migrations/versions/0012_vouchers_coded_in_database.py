"""vouchers: codes made by the database (voucher_code() as the column default), so only units
the database accepted get one, and a tip issues its vouchers without a row per unit in Python

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The shape of core.codes: Crockford base32, XXXX-XXXX-XXXX, 60 bits of randomness.
# gen_random_uuid() draws from pg_strong_random; bytes 6 and 8 hold its version and variant
# bits, so the 9 bytes taken skip them. Base64 of 9 bytes is 12 uniform characters out of 64;
# mapping the 64 onto the 32 two to one keeps each uniform (5 bits each).
VOUCHER_CODE = """
CREATE FUNCTION voucher_code() RETURNS text LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS $$
DECLARE
    bits bytea := uuid_send(gen_random_uuid());
    chars text := translate(
        encode(substring(bits FROM 10 FOR 7) || substring(bits FOR 2), 'base64'),
        'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
        '0123456789ABCDEFGHJKMNPQRSTVWXYZ0123456789ABCDEFGHJKMNPQRSTVWXYZ');
BEGIN
    RETURN substr(chars, 1, 4) || '-' || substr(chars, 5, 4) || '-' || substr(chars, 9, 4);
END
$$
"""


def upgrade() -> None:
    op.execute(VOUCHER_CODE)
    op.execute("ALTER TABLE vouchers ALTER COLUMN code SET DEFAULT voucher_code()")


def downgrade() -> None:
    op.execute("ALTER TABLE vouchers ALTER COLUMN code DROP DEFAULT")
    op.execute("DROP FUNCTION voucher_code()")
