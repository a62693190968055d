"""Spending referral credit: available credit lowers the account's next commitment, oldest
credit first and never below zero, a credit spent in part is split, credit spent on units not
bought comes back once; with payments at the venue the voucher shows the price less the credit
and the merchant is owed it when the voucher is redeemed; with Stripe the card hold is lower.
Every movement is on the ledger, and an account's balance is the sum of its entries."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from deals.jobs import close_deals, expire_vouchers
from payments.jobs import capture_payments, refund_payments, release_payments
from referrals import jobs
from tests.api.test_referral_credit import commit, credits, redeem_all, run, share, vouchers
from tests.factories import API, iso, move_deal_to_past, parse_time, rows, scalar, utcnow
from tests.payments_support import (
    DECLINED_ON_CHARGE,
    card,
    commit_paid,
    intent,
    payment_rows,
    run_job,
    unbalanced_transactions,
)

PRICE = 1800  # 10 % commission: 180 credit per referred unit
COMMISSION = {"kind": "commission", "percent": 10}


@pytest.fixture
def venue(api, merchant) -> dict:
    return api.create_venue(merchant)


@pytest.fixture
def other_merchant(api) -> dict:
    return api.register("merchant")


@pytest.fixture
def other_venue(api, other_merchant) -> dict:
    return api.create_venue(other_merchant)


def earn_available_credit(api, client, app, merchant, venue, sharer, units: int = 1) -> dict:
    """`units` referred units of a commission deal, redeemed, so the sharer has units x 180
    available; the deal."""
    deal = api.create_deal(
        merchant,
        venue,
        price_cents=PRICE,
        min_commitments=1,
        per_user_limit=10,
        referral=COMMISSION,
    )
    code = share(client, sharer, deal)
    friend = api.register("customer")
    commit(client, friend, deal, code, quantity=units)
    run(app, jobs.earn_referral_credit)
    redeem_all(client, merchant, friend)
    run(app, jobs.settle_referral_credit)
    assert credits(client, sharer)["available_cents"] == units * 180
    deal["friend"] = friend
    return deal


def my_vouchers(client, account) -> list[dict]:
    return client.get(f"{API}/me/vouchers", headers=account["headers"]).json["items"]


def statement_row(client, merchant, deal, until=None) -> dict:
    query = {"to": iso(until)} if until else {}
    report = client.get(
        f"{API}/merchant/statement", query_string=query, headers=merchant["headers"]
    ).json
    (row,) = [row for row in report["deals"] if row["deal_id"] == deal["id"]]
    return row


def assert_ledger_is_the_balance(engine, client, account) -> None:
    """The account's reported balance is the sum of its ledger entries, and it agrees with its
    credits: available ones, less those reversed after being spent (owed back)."""
    assert unbalanced_transactions(engine) == []
    mine = credits(client, account)
    holder = account["account"]["id"]
    ledger = {
        row.account: -int(row.total)
        for row in rows(
            engine,
            "SELECT account, sum(amount_cents) AS total FROM ledger_entries"
            " WHERE holder_id = :holder GROUP BY account",
            holder=holder,
        )
    }
    assert mine["available_cents"] == ledger.get("referral_credit", 0)
    assert mine["pending_cents"] == ledger.get("referral_credit_pending", 0)
    by_status = {
        row.status: (int(row.total), int(row.owed))
        for row in rows(
            engine,
            "SELECT status, sum(amount_cents) AS total,"
            " coalesce(sum(amount_cents) FILTER (WHERE spent_on IS NOT NULL), 0) AS owed"
            " FROM credits WHERE account_id = :holder GROUP BY status",
            holder=holder,
        )
    }
    available = by_status.get("available", (0, 0))[0] - by_status.get("reversed", (0, 0))[1]
    assert mine["available_cents"] == available
    assert mine["pending_cents"] == by_status.get("pending", (0, 0))[0]


def test_credit_lowers_the_price_at_the_venue_and_the_merchant_is_owed_it_on_redemption(
    api, client, app, engine, merchant, venue, other_merchant, other_venue
):
    sharer = api.register("customer")
    earned_on = earn_available_credit(api, client, app, merchant, venue, sharer)
    deal = api.create_deal(other_merchant, other_venue, price_cents=1000, min_commitments=1)

    commit(client, sharer, deal)

    (voucher,) = my_vouchers(client, sharer)
    assert (voucher["price_cents"], voucher["credit_cents"], voucher["to_pay_cents"]) == (
        1000,
        180,
        820,
    )
    mine = credits(client, sharer)
    assert mine["available_cents"] == 0
    assert [entry["status"] for entry in mine["entries"]] == ["spent"]
    assert statement_row(client, merchant, earned_on)["referral_commissions_cents"] == 180
    assert statement_row(client, merchant, earned_on)["payable_cents"] == -180
    redeemed = client.post(
        f"{API}/vouchers/{voucher['code']}/redeem", headers=other_merchant["headers"]
    )
    assert redeemed.status_code == 200, redeemed.json
    row = statement_row(client, other_merchant, deal)
    assert (row["credit_redeemed_cents"], row["payable_cents"]) == (180, 180)
    assert_ledger_is_the_balance(engine, client, sharer)


def test_credit_worth_more_than_the_units_pays_them_all_and_the_rest_keeps_its_expiry(
    api, client, app, engine, merchant, venue, other_merchant, other_venue
):
    sharer = api.register("customer")
    earn_available_credit(api, client, app, merchant, venue, sharer, units=2)  # 2 x 180
    before = {e["id"]: e for e in credits(client, sharer)["entries"]}
    deal = api.create_deal(
        other_merchant, other_venue, price_cents=100, min_commitments=1, per_user_limit=2
    )

    commit(client, sharer, deal, quantity=2)

    assert sorted(v["to_pay_cents"] for v in my_vouchers(client, sharer)) == [0, 0]
    assert sorted(v["credit_cents"] for v in my_vouchers(client, sharer)) == [100, 100]
    mine = credits(client, sharer)
    assert mine["available_cents"] == 160
    spent = sorted(e["amount_cents"] for e in mine["entries"] if e["status"] == "spent")
    assert spent == [20, 180]  # the oldest credit whole, 20 split off the next one
    (left,) = [e for e in mine["entries"] if e["status"] == "available"]
    assert left["amount_cents"] == 160
    assert left["expires_at"] == before[left["id"]]["expires_at"]
    assert_ledger_is_the_balance(engine, client, sharer)


def test_credit_spent_on_units_that_are_released_comes_back_exactly_once(
    api, client, app, engine, merchant, venue, other_merchant, other_venue
):
    sharer = api.register("customer")
    earn_available_credit(api, client, app, merchant, venue, sharer)
    deal = api.create_deal(other_merchant, other_venue, price_cents=1000, min_commitments=5)
    commit(client, sharer, deal)
    assert credits(client, sharer)["available_cents"] == 0

    withdrawn = client.delete(
        f"{API}/deals/{deal['id']}/commitments/mine", headers=sharer["headers"]
    )
    assert withdrawn.status_code == 200, withdrawn.json
    assert credits(client, sharer)["available_cents"] == 180  # back with the withdrawal
    assert run(app, jobs.settle_referral_credit)["restored_cents"] == 0

    failing = api.create_deal(other_merchant, other_venue, price_cents=1000, min_commitments=5)
    commit(client, sharer, failing)
    assert credits(client, sharer)["available_cents"] == 0
    move_deal_to_past(engine, failing["id"])
    run(app, close_deals)

    assert run(app, jobs.settle_referral_credit)["restored_cents"] == 180
    assert run(app, jobs.settle_referral_credit)["restored_cents"] == 0  # once
    mine = credits(client, sharer)
    assert mine["available_cents"] == 180
    assert [e["status"] for e in mine["entries"]] == ["available"]
    assert_ledger_is_the_balance(engine, client, sharer)


def test_credit_reversed_after_it_was_spent_shows_a_negative_balance_and_spends_nothing_more(
    api, client, app, engine, merchant, venue, other_merchant, other_venue
):
    sharer = api.register("customer")
    earned_on = earn_available_credit(api, client, app, merchant, venue, sharer)
    spent_on = api.create_deal(other_merchant, other_venue, price_cents=1000, min_commitments=1)
    commit(client, sharer, spent_on)
    # The referred unit was redeemed; its merchant refunds it after all.
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE vouchers SET status = 'refunded' WHERE deal_id = %s", (earned_on["id"],)
        )

    assert run(app, jobs.settle_referral_credit)["reversed_cents"] == 180

    assert credits(client, sharer)["available_cents"] == -180
    assert statement_row(client, merchant, earned_on)["referral_commissions_cents"] == 0
    later = api.create_deal(other_merchant, other_venue, price_cents=1000, min_commitments=1)
    commit(client, sharer, later)
    assert sorted(v["credit_cents"] for v in my_vouchers(client, sharer)) == [0, 180]
    assert_ledger_is_the_balance(engine, client, sharer)


def test_two_parallel_commits_of_one_account_spend_its_credit_once(
    live_server, api, client, app, engine, merchant, venue, other_merchant, other_venue
):
    sharer = api.register("customer")
    earn_available_credit(api, client, app, merchant, venue, sharer)
    deals = [
        api.create_deal(other_merchant, other_venue, price_cents=1000, min_commitments=1)
        for _ in range(2)
    ]
    barrier = threading.Barrier(2)

    def send(deal):
        barrier.wait()
        return requests.post(
            f"{live_server}{API}/deals/{deal['id']}/commitments",
            json={"quantity": 1},
            headers=sharer["headers"],
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(send, deals)) == [201, 201]

    applied = scalar(
        engine,
        "SELECT sum(credit_cents) FROM commitments WHERE account_id = :id",
        id=sharer["account"]["id"],
    )
    assert applied == 180
    assert sorted(v["credit_cents"] for v in my_vouchers(client, sharer)) == [0, 180]
    assert credits(client, sharer)["available_cents"] == 0
    assert_ledger_is_the_balance(engine, client, sharer)


def test_with_stripe_credit_lowers_the_hold_and_comes_back_once_when_the_hold_is_released(
    api, client, app, paid_api, paid_app, engine, localstripe, merchant, venue
):
    sharer = api.register("customer")
    earn_available_credit(api, client, app, merchant, venue, sharer)
    deal = paid_api.create_deal(merchant, venue, price_cents=1000, min_commitments=5)
    response = commit_paid(paid_api, sharer, deal, card(localstripe))
    assert response.status_code == 201, response.json
    (payment,) = payment_rows(engine, deal["id"])
    assert payment.amount_cents == 820
    assert intent(localstripe, payment.provider_ref)["amount"] == 820
    assert credits(client, sharer)["available_cents"] == 0

    withdrawn = paid_api.client.delete(
        f"{API}/deals/{deal['id']}/commitments/mine", headers=sharer["headers"]
    )
    assert withdrawn.status_code == 200, withdrawn.json

    assert payment_rows(engine, deal["id"])[0].status == "cancelled"
    run_job(paid_app, release_payments)
    assert run(app, jobs.settle_referral_credit)["restored_cents"] == 0  # already back
    mine = credits(client, sharer)
    assert mine["available_cents"] == 180
    assert [e["status"] for e in mine["entries"]] == ["available"]
    assert_ledger_is_the_balance(engine, client, sharer)


def test_with_stripe_credit_covering_the_price_still_charges_the_minimum_and_the_merchant_is_owed_the_rest(  # noqa: E501
    api, client, app, paid_api, paid_app, engine, localstripe, merchant, venue
):
    sharer = api.register("customer")
    earn_available_credit(api, client, app, merchant, venue, sharer)
    deal = paid_api.create_deal(merchant, venue, price_cents=100, min_commitments=1)
    response = commit_paid(paid_api, sharer, deal, card(localstripe))
    assert response.status_code == 201, response.json
    run_job(paid_app, capture_payments)

    (payment,) = payment_rows(engine, deal["id"])
    assert (payment.status, payment.amount_cents) == ("captured", 50)
    assert credits(client, sharer)["available_cents"] == 130
    row = statement_row(client, merchant, deal)
    assert (row["gross_paid_cents"], row["credit_redeemed_cents"]) == (50, 50)
    assert row["payable_cents"] == 100 - row["platform_fee_cents"]
    assert_ledger_is_the_balance(engine, client, sharer)


def test_with_stripe_a_declined_card_gives_the_credit_back(
    api, client, app, paid_api, engine, localstripe, merchant, venue
):
    sharer = api.register("customer")
    earn_available_credit(api, client, app, merchant, venue, sharer)
    deal = paid_api.create_deal(merchant, venue, price_cents=1000, min_commitments=1)
    response = commit_paid(paid_api, sharer, deal, card(localstripe, DECLINED_ON_CHARGE))
    assert response.status_code == 402, response.json
    assert credits(client, sharer)["available_cents"] == 180
    assert_ledger_is_the_balance(engine, client, sharer)


def test_with_stripe_commission_of_twenty_paid_units_is_exactly_ten_percent_and_three_refunds_reverse_three(  # noqa: E501
    api, client, paid_api, paid_app, engine, localstripe, merchant, venue
):
    deal = paid_api.create_deal(
        merchant,
        venue,
        price_cents=PRICE,
        min_commitments=1,
        max_commitments=100,
        per_user_limit=5,
        refund_days=7,
        referral=COMMISSION,
    )
    sharer = paid_api.register("customer")
    code = share(paid_api.client, sharer, deal)
    friends = [paid_api.register("customer") for _ in range(4)]
    for friend in friends:
        response = paid_api.client.post(
            f"{API}/deals/{deal['id']}/commitments",
            json={"quantity": 5, "payment_method": card(localstripe), "share_code": code},
            headers=friend["headers"],
        )
        assert response.status_code == 201, response.json
    run_job(paid_app, capture_payments)
    assert run(paid_app, jobs.earn_referral_credit)["credited"] == 20 * 180
    assert run(paid_app, jobs.settle_referral_credit)["available_cents"] == 0  # refundable
    later = utcnow() + timedelta(days=8)
    assert run(paid_app, jobs.settle_referral_credit, now=later)["available_cents"] == 20 * 180
    assert credits(client, sharer)["available_cents"] == 20 * 180 == 20 * PRICE // 10

    for voucher_code in vouchers(paid_api.client, friends[0])[:3]:
        refunded = paid_api.client.post(
            f"{API}/vouchers/{voucher_code}/refund", headers=merchant["headers"]
        )
        assert refunded.status_code == 200, refunded.json
    run_job(paid_app, refund_payments)

    assert run(paid_app, jobs.settle_referral_credit, now=later)["reversed_cents"] == 3 * 180
    mine = credits(client, sharer)
    assert [e["status"] for e in mine["entries"]].count("reversed") == 3
    assert mine["available_cents"] == 17 * 180
    row = statement_row(client, merchant, deal, until=later + timedelta(seconds=1))
    assert row["referral_commissions_cents"] == 17 * 180
    assert_ledger_is_the_balance(engine, client, sharer)


def test_a_refunded_unit_paid_partly_with_credit_gives_the_card_and_the_credit_back(
    api, client, app, paid_api, paid_app, engine, localstripe, merchant, venue
):
    sharer = api.register("customer")
    earn_available_credit(api, client, app, merchant, venue, sharer)
    deal = paid_api.create_deal(merchant, venue, price_cents=1000, min_commitments=1)
    response = commit_paid(paid_api, sharer, deal, card(localstripe))
    assert response.status_code == 201, response.json
    run_job(paid_app, capture_payments)
    (code,) = vouchers(paid_api.client, sharer)

    refunded = paid_api.client.post(f"{API}/vouchers/{code}/refund", headers=merchant["headers"])
    assert refunded.status_code == 200, refunded.json
    run_job(paid_app, refund_payments)

    assert scalar(engine, "SELECT sum(amount_cents) FROM payment_refunds") == 820
    assert credits(client, sharer)["available_cents"] == 180
    row = statement_row(client, merchant, deal)
    assert (row["credit_redeemed_cents"], row["payable_cents"]) == (0, 0)
    assert_ledger_is_the_balance(engine, client, sharer)


def test_a_unit_paid_at_the_venue_partly_with_credit_and_refunded_gives_the_credit_back(
    api, client, app, engine, merchant, venue, other_merchant, other_venue
):
    sharer = api.register("customer")
    earn_available_credit(api, client, app, merchant, venue, sharer)
    deal = api.create_deal(other_merchant, other_venue, price_cents=1000, min_commitments=1)
    commit(client, sharer, deal)
    (code,) = vouchers(client, sharer)

    refunded = client.post(f"{API}/vouchers/{code}/refund", headers=other_merchant["headers"])

    assert refunded.status_code == 200, refunded.json
    assert credits(client, sharer)["available_cents"] == 180
    assert_ledger_is_the_balance(engine, client, sharer)


def test_credit_applied_to_a_unit_that_expires_unredeemed_comes_back_once(
    api, client, app, engine, merchant, venue, other_merchant, other_venue
):
    sharer = api.register("customer")
    earn_available_credit(api, client, app, merchant, venue, sharer)
    deal = api.create_deal(other_merchant, other_venue, price_cents=1000, min_commitments=1)
    commit(client, sharer, deal)
    assert credits(client, sharer)["available_cents"] == 0
    (voucher,) = my_vouchers(client, sharer)
    after_redemption_period = parse_time(voucher["redeem_until"]) + timedelta(seconds=1)

    expired = run(app, expire_vouchers, now=after_redemption_period)

    assert expired == {"expired": 1, "credit_restored_cents": 180}
    assert my_vouchers(client, sharer)[0]["status"] == "expired"
    assert credits(client, sharer)["available_cents"] == 180
    assert_ledger_is_the_balance(engine, client, sharer)
    later = after_redemption_period + timedelta(days=1)
    assert run(app, expire_vouchers, now=later) == {"expired": 0, "credit_restored_cents": 0}
    assert credits(client, sharer)["available_cents"] == 180
    redeemed = scalar(
        engine,
        "SELECT count(*) FROM ledger_entries WHERE deal_id = :deal AND kind = 'credit_redeemed'",
        deal=deal["id"],
    )
    assert redeemed == 0  # the merchant is owed nothing for a unit nobody came for
