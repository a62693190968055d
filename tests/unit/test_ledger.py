"""The ledger's pure rules: the platform fee rounded half up per payment, the fee a refund
gives back, and transactions that must balance."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from payments.ledger import fee_cents, fee_percent, post
from payments.models import EntryKind, LedgerAccount


@pytest.mark.parametrize(
    ("amount", "percent", "fee"),
    [
        (1800, "10", 180),
        (1805, "10", 181),  # 180.5 rounds up
        (1804, "10", 180),  # 180.4 rounds down
        (999, "2.5", 25),  # 24.975
        (1000, "0", 0),
        (1, "50", 1),  # 0.5 rounds up
        (1234567, "100", 1234567),
    ],
)
def test_the_platform_fee_is_its_percent_of_the_payment_rounded_half_up(amount, percent, fee):
    assert fee_cents(amount, fee_percent(percent)) == fee


@pytest.mark.parametrize("bad", ["-1", "100.01", "2.555", "ten"])
def test_a_fee_percent_outside_0_to_100_with_two_decimals_is_refused_at_start(bad):
    with pytest.raises(RuntimeError):
        fee_percent(bad)


@pytest.mark.parametrize("refunded_units", range(0, 4))
def test_refunds_give_back_exactly_the_fee_that_what_is_left_no_longer_owes(refunded_units):
    percent, unit, units = Decimal("7.5"), 1333, 3
    fee = fee_cents(unit * units, percent)
    given_back = 0
    for k in range(refunded_units):  # as payments.settlement.refund computes it, one by one
        paid_before = unit * (units - k)
        given_back += (fee - given_back) - fee_cents(paid_before - unit, percent)
    assert fee - given_back == fee_cents(unit * (units - refunded_units), percent)


def test_a_transaction_that_does_not_balance_is_refused_before_it_is_written():
    with pytest.raises(ValueError):
        post(
            None,
            key="capture:x",
            kind=EntryKind.CAPTURE,
            lines={LedgerAccount.PROVIDER_BALANCE: 100, LedgerAccount.MERCHANT_PAYABLE: -99},
            currency="EUR",
            deal_id=uuid.uuid4(),
            merchant_id=uuid.uuid4(),
            payment_id=None,
            now=datetime.now(UTC),
        )
