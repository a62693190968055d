"""Each StrEnum of statuses and kinds is exactly what its column's CHECK constraint accepts in
the migrated database, so a value added to one and not the other fails here."""

import re

import pytest
from sqlalchemy import CheckConstraint

from checkins.models import ProgramKind, RewardStatus
from deals.models import CommitmentStatus, DealStatus, ReferralKind, VoucherStatus
from models import metadata
from notifications.models import DeliveryChannel, DeliveryStatus, DevicePlatform, OutboxStatus
from payments.models import (
    EntryKind,
    LedgerAccount,
    PaymentMethodKind,
    PaymentStatus,
    RefundReason,
    RefundStatus,
)
from referrals.models import CreditStatus
from reviews.models import ModerationAction, ReportReason, VerifiedBy
from social.models import Audience
from tests.factories import scalar

# (table, column) -> the enum of the values its CHECK constraint `ck_<table>_<column>` accepts.
CHECKED = {
    ("deals", "status"): DealStatus,
    ("commitments", "status"): CommitmentStatus,
    ("vouchers", "status"): VoucherStatus,
    ("outbox_events", "status"): OutboxStatus,
    ("reward_programs", "kind"): ProgramKind,
    ("rewards", "status"): RewardStatus,
    ("deliveries", "status"): DeliveryStatus,
    ("deliveries", "channel"): DeliveryChannel,
    ("devices", "platform"): DevicePlatform,
    ("reviews", "verified_by"): VerifiedBy,
    ("review_reports", "reason"): ReportReason,
    ("review_moderations", "action"): ModerationAction,
    ("credits", "kind"): ReferralKind,
    ("credits", "status"): CreditStatus,
    ("payments", "status"): PaymentStatus,
    ("payments", "method"): PaymentMethodKind,
    ("payment_refunds", "status"): RefundStatus,
    ("payment_refunds", "reason"): RefundReason,
    ("ledger_entries", "account"): LedgerAccount,
    ("ledger_entries", "kind"): EntryKind,
    ("checkins", "share"): Audience,
    ("commitments", "share"): Audience,
    ("payments", "share"): Audience,
}
# Status columns whose default is the enum's first state.
DEFAULTED = {
    ("vouchers", "status"): VoucherStatus.ISSUED,
    ("rewards", "status"): RewardStatus.ISSUED,
    ("deliveries", "status"): DeliveryStatus.PENDING,
    ("outbox_events", "status"): OutboxStatus.PENDING,
    ("credits", "status"): CreditStatus.PENDING,
    ("checkins", "share"): Audience.PRIVATE,
    ("commitments", "share"): Audience.PRIVATE,
    ("payments", "share"): Audience.PRIVATE,
}
# Columns checked against a fixed list of values that is not an enum of this codebase.
NOT_ENUMS = {("accounts", "role")}


def quoted_values(sql: str) -> list[str]:
    return re.findall(r"'([^']*)'", sql)


@pytest.mark.parametrize(("table", "column"), sorted(CHECKED))
def test_an_enum_has_exactly_the_values_its_check_constraint_accepts(engine, table, column):
    definition = scalar(
        engine,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:table AS regclass) AND conname = :name AND contype = 'c'",
        table=table,
        name=f"ck_{table}_{column}",
    )
    assert column in definition
    assert quoted_values(definition) == [member.value for member in CHECKED[table, column]]


@pytest.mark.parametrize(("table", "column"), sorted(DEFAULTED))
def test_a_status_column_defaults_to_its_enums_first_state(engine, table, column):
    default = scalar(
        engine,
        "SELECT column_default FROM information_schema.columns "
        "WHERE table_name = :table AND column_name = :column",
        table=table,
        column=column,
    )
    assert quoted_values(default) == [DEFAULTED[table, column].value]


def test_every_column_checked_against_a_list_of_values_has_its_enum_here():
    listed = {
        (constraint.table.name, match.group(1))
        for table in metadata.tables.values()
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint)
        and (match := re.fullmatch(r"(\w+) IN \(.*\)", str(constraint.sqltext)))
    }
    assert listed == set(CHECKED) | NOT_ENUMS
