"""payments: payments of commitments, refunds, provider customers and events, the ledger (with a
deferred check that every transaction balances), deals.refund_days, vouchers.status refunded

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

PAYMENT_STATUSES = (
    "'authorising','requires_action','held','saved','captured','charge_failed','releasing',"
    "'cancelled'"
)
VOUCHER_STATUSES = "'issued','redeemed','void','expired'"


def _timestamp(name: str, nullable: bool = True, default: bool = False) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=sa.func.now() if default else None,
        nullable=nullable,
    )


def upgrade() -> None:
    op.add_column(
        "deals",
        sa.Column("refund_days", sa.Integer(), server_default=sa.text("7"), nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_deals_refund_days_not_negative"), "deals", "refund_days >= 0"
    )
    op.drop_constraint(op.f("ck_vouchers_status"), "vouchers", type_="check")
    op.create_check_constraint(
        op.f("ck_vouchers_status"), "vouchers", f"status IN ({VOUCHER_STATUSES},'refunded')"
    )

    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("commitment_id", sa.Uuid(), nullable=False),
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider_ref", sa.String(length=255), nullable=False),
        sa.Column("charge_ref", sa.String(length=255), nullable=True),
        sa.Column("provider_customer", sa.String(length=255), nullable=True),
        sa.Column("payment_method", sa.String(length=255), nullable=True),
        sa.Column("share_code", sa.String(length=32), nullable=True),
        sa.Column("charge_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("fee_percent", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _timestamp("created_at", nullable=False, default=True),
        _timestamp("authorised_at"),
        _timestamp("due_at"),
        _timestamp("captured_at"),
        _timestamp("failed_at"),
        _timestamp("released_at"),
        _timestamp("settled_at"),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_payments_amount_positive")),
        sa.CheckConstraint("method IN ('hold','saved_card')", name=op.f("ck_payments_method")),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_payments_quantity_positive")),
        sa.CheckConstraint(f"status IN ({PAYMENT_STATUSES})", name=op.f("ck_payments_status")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_payments_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name=op.f("fk_payments_deal_id_deals")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["accounts.id"], name=op.f("fk_payments_merchant_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("charge_ref", name=op.f("uq_payments_charge_ref")),
        sa.UniqueConstraint("commitment_id", name=op.f("uq_payments_commitment_id")),
        sa.UniqueConstraint("provider_ref", name=op.f("uq_payments_provider_ref")),
    )
    op.create_index("ix_payments_account_created", "payments", ["account_id", "created_at"])
    op.create_index("ix_payments_deal", "payments", ["deal_id"])
    op.create_index(
        "ix_payments_due",
        "payments",
        ["due_at"],
        postgresql_where=sa.text("status IN ('held','saved') AND due_at IS NOT NULL"),
    )
    op.create_index(
        "ix_payments_releasing",
        "payments",
        ["created_at"],
        postgresql_where=sa.text("status = 'releasing'"),
    )
    op.create_index(
        "ix_payments_unfinished",
        "payments",
        ["created_at"],
        postgresql_where=sa.text("status IN ('authorising','requires_action')"),
    )
    op.create_index(
        "ix_payments_charge_failed",
        "payments",
        ["failed_at"],
        postgresql_where=sa.text("status = 'charge_failed'"),
    )
    op.create_index(
        "ix_payments_held_since",
        "payments",
        ["authorised_at"],
        postgresql_where=sa.text("status = 'held'"),
    )
    op.create_index(
        "ix_payments_settled",
        "payments",
        ["settled_at"],
        postgresql_where=sa.text("settled_at IS NOT NULL"),
    )

    op.create_table(
        "payment_refunds",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("voucher_id", sa.Uuid(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("provider_ref", sa.String(length=255), nullable=True),
        _timestamp("created_at", nullable=False, default=True),
        _timestamp("refunded_at"),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_payment_refunds_amount_positive")),
        sa.CheckConstraint(
            "reason IN ('customer','merchant','deal_cancelled')",
            name=op.f("ck_payment_refunds_reason"),
        ),
        sa.CheckConstraint(
            "status IN ('pending','succeeded')", name=op.f("ck_payment_refunds_status")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_refunds_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["voucher_id"], ["vouchers.id"], name=op.f("fk_payment_refunds_voucher_id_vouchers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_refunds")),
        sa.UniqueConstraint("voucher_id", name=op.f("uq_payment_refunds_voucher_id")),
    )
    op.create_index(
        op.f("ix_payment_refunds_payment_id"), "payment_refunds", ["payment_id"]
    )
    op.create_index(
        "ix_payment_refunds_pending",
        "payment_refunds",
        ["created_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )

    op.create_table(
        "payment_customers",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("provider_customer", sa.String(length=255), nullable=False),
        _timestamp("created_at", nullable=False, default=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_payment_customers_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_payment_customers")),
        sa.UniqueConstraint(
            "provider_customer", name=op.f("uq_payment_customers_provider_customer")
        ),
    )

    op.create_table(
        "payment_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        _timestamp("received_at", nullable=False, default=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
    )

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("transaction_key", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("account", sa.String(length=24), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        _timestamp("created_at", nullable=False, default=True),
        sa.CheckConstraint(
            "account IN ('card_holds','held_for_customers','provider_balance',"
            "'merchant_payable','platform_fees','referral_credit')",
            name=op.f("ck_ledger_entries_account"),
        ),
        sa.CheckConstraint("amount_cents <> 0", name=op.f("ck_ledger_entries_amount_not_zero")),
        sa.CheckConstraint(
            "kind IN ('hold','hold_release','capture','refund','referral_commission')",
            name=op.f("ck_ledger_entries_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_ledger_entries_deal_id_deals")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["accounts.id"], name=op.f("fk_ledger_entries_merchant_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_ledger_entries_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint(
            "transaction_key", "account", name="uq_ledger_entries_transaction_account"
        ),
    )
    op.create_index(op.f("ix_ledger_entries_deal_id"), "ledger_entries", ["deal_id"])
    op.create_index(op.f("ix_ledger_entries_payment_id"), "ledger_entries", ["payment_id"])
    op.create_index(
        "ix_ledger_entries_merchant_created", "ledger_entries", ["merchant_id", "created_at"]
    )
    # Every transaction balances, checked when its transaction commits (its entries are
    # inserted together, so the check must wait for the last of them).
    op.execute(
        """
        CREATE FUNCTION ledger_transaction_balances() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF (SELECT sum(amount_cents) FROM ledger_entries
                 WHERE transaction_key = NEW.transaction_key) <> 0 THEN
                RAISE EXCEPTION 'ledger transaction % does not balance', NEW.transaction_key;
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE CONSTRAINT TRIGGER ledger_entries_balance
        AFTER INSERT ON ledger_entries DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balances()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_entries_balance ON ledger_entries")
    op.execute("DROP FUNCTION ledger_transaction_balances()")
    op.drop_table("ledger_entries")
    op.drop_table("payment_events")
    op.drop_table("payment_customers")
    op.drop_table("payment_refunds")
    op.drop_table("payments")
    # A refunded voucher was paid back: void is what it was before refunds existed.
    op.execute("UPDATE vouchers SET status = 'void' WHERE status = 'refunded'")
    op.drop_constraint(op.f("ck_vouchers_status"), "vouchers", type_="check")
    op.create_check_constraint(
        op.f("ck_vouchers_status"), "vouchers", f"status IN ({VOUCHER_STATUSES})"
    )
    op.drop_constraint(op.f("ck_deals_refund_days_not_negative"), "deals", type_="check")
    op.drop_column("deals", "refund_days")
