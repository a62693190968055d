"""credit spending: the credit accounts of the ledger name their holder and credit, credits can
be split and spent on a commitment, commitments and vouchers carry the credit applied

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

ACCOUNTS = (
    "card_holds",
    "held_for_customers",
    "provider_balance",
    "merchant_payable",
    "platform_fees",
    "referral_credit",
)
NEW_ACCOUNTS = ("referral_credit_pending", "credit_applied")
KINDS = ("hold", "hold_release", "capture", "refund", "referral_commission")
NEW_KINDS = ("credit_available", "credit_spent", "credit_restored", "credit_redeemed")


def _in(column: str, values) -> str:
    return f"{column} IN ({','.join(repr(value) for value in values)})"


def _checks(accounts, kinds) -> None:
    op.drop_constraint(op.f("ck_ledger_entries_account"), "ledger_entries", type_="check")
    op.drop_constraint(op.f("ck_ledger_entries_kind"), "ledger_entries", type_="check")
    op.create_check_constraint("account", "ledger_entries", _in("account", accounts))
    op.create_check_constraint("kind", "ledger_entries", _in("kind", kinds))


def upgrade() -> None:
    op.add_column("ledger_entries", sa.Column("holder_id", sa.Uuid(), nullable=True))
    op.add_column("ledger_entries", sa.Column("credit_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_ledger_entries_holder_id_accounts"),
        "ledger_entries",
        "accounts",
        ["holder_id"],
        ["id"],
    )
    op.create_index(
        "ix_ledger_entries_holder",
        "ledger_entries",
        ["holder_id", "account"],
        postgresql_where=sa.text("holder_id IS NOT NULL"),
    )
    op.create_index(
        "ix_ledger_entries_credit",
        "ledger_entries",
        ["credit_id"],
        postgresql_where=sa.text("credit_id IS NOT NULL"),
    )
    _checks(ACCOUNTS + NEW_ACCOUNTS, KINDS + NEW_KINDS)

    op.add_column("credits", sa.Column("split_from", sa.Uuid(), nullable=True))
    op.add_column("credits", sa.Column("spent_on", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_credits_split_from_credits"),
        "credits",
        "credits",
        ["split_from"],
        ["id"],
        ondelete="CASCADE",
    )
    op.drop_constraint(op.f("uq_credits_voucher_id"), "credits", type_="unique")
    op.create_index(
        "uq_credits_voucher",
        "credits",
        ["voucher_id"],
        unique=True,
        postgresql_where=sa.text("split_from IS NULL"),
    )
    op.create_index(
        "ix_credits_spent_on",
        "credits",
        ["spent_on"],
        postgresql_where=sa.text("spent_on IS NOT NULL"),
    )
    for table in ("commitments", "vouchers"):
        op.add_column(
            table,
            sa.Column("credit_cents", sa.Integer(), server_default=sa.text("0"), nullable=False),
        )


def downgrade() -> None:
    for table in ("commitments", "vouchers"):
        op.drop_column(table, "credit_cents")
    op.drop_index("ix_credits_spent_on", table_name="credits")
    op.drop_index("uq_credits_voucher", table_name="credits")
    op.execute("DELETE FROM credits WHERE split_from IS NOT NULL")
    op.create_unique_constraint(op.f("uq_credits_voucher_id"), "credits", ["voucher_id"])
    op.drop_constraint("fk_credits_split_from_credits", "credits", type_="foreignkey")
    op.drop_column("credits", "spent_on")
    op.drop_column("credits", "split_from")

    op.execute(  # whole transactions, so what is left still balances
        "DELETE FROM ledger_entries WHERE transaction_key IN (SELECT transaction_key FROM"
        f" ledger_entries WHERE {_in('account', NEW_ACCOUNTS)} OR {_in('kind', NEW_KINDS)}"
        " OR holder_id IS NOT NULL)"
    )
    _checks(ACCOUNTS, KINDS)
    op.drop_index("ix_ledger_entries_credit", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_holder", table_name="ledger_entries")
    op.drop_constraint("fk_ledger_entries_holder_id_accounts", "ledger_entries", type_="foreignkey")
    op.drop_column("ledger_entries", "credit_id")
    op.drop_column("ledger_entries", "holder_id")
