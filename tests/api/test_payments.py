"""Checkout against a real Stripe-compatible server (localstripe on loopback): holds at commit,
captures at the tip, releases, declines, 3-D Secure, saved cards, refunds, the statement."""

from datetime import timedelta

import pytest
from sqlalchemy import text

from deals.jobs import close_deals
from payments.jobs import (
    capture_payments,
    refund_payments,
    release_payments,
    release_unpaid_charges,
)
from referrals.jobs import earn_referral_credit, settle_referral_credit
from tests.factories import API, move_deal_to_past, outbox, rows, scalar, utcnow
from tests.payments_support import (
    DECLINED_ON_CHARGE,
    NEEDS_3DS,
    authenticate,
    balances,
    card,
    commit_paid,
    intent,
    intent_statuses,
    payment_rows,
    refunds_of,
    run_job,
    table_counts,
    unbalanced_transactions,
)

PRICE = 1800


@pytest.fixture
def merchant(paid_api):
    return paid_api.register("merchant")


@pytest.fixture
def venue(paid_api, merchant):
    return paid_api.create_venue(merchant)


def customers(api, count: int) -> list[dict]:
    return [api.register("customer") for _ in range(count)]


def vouchers_of(engine, deal_id) -> list:
    return rows(engine, "SELECT * FROM vouchers WHERE deal_id = :id", id=str(deal_id))


def statement(api, merchant) -> dict:
    response = api.client.get(f"{API}/merchant/statement", headers=merchant["headers"])
    assert response.status_code == 200, response.json
    return response.json


def test_a_deal_that_fails_cancels_every_hold_and_one_that_tips_captures_each_unit_once(
    paid_api, paid_app, engine, localstripe, merchant, venue
):
    failing = paid_api.create_deal(merchant, venue, min_commitments=3, price_cents=PRICE)
    alice, bob, carol = customers(paid_api, 3)
    holds = []
    for customer in (alice, bob):
        response = commit_paid(paid_api, customer, failing, card(localstripe))
        assert response.status_code == 201, response.json
        assert response.json["payment"]["status"] == "held"
        assert response.json["payment"]["method"] == "hold"
        holds.append(response.json["payment"])
    for row in payment_rows(engine, failing["id"]):
        assert intent(localstripe, row.provider_ref)["status"] == "requires_capture"

    move_deal_to_past(engine, failing["id"])
    assert run_job(paid_app, close_deals)["failed"] == 1
    assert run_job(paid_app, release_payments)["cancelled"] == 2
    for row in payment_rows(engine, failing["id"]):
        assert row.status == "cancelled"
        assert intent(localstripe, row.provider_ref)["status"] == "canceled"
    assert run_job(paid_app, capture_payments)["captured"] == 0
    assert all(amount == 0 for amount in balances(engine, failing["id"]).values())
    assert vouchers_of(engine, failing["id"]) == []

    tipping = paid_api.create_deal(merchant, venue, min_commitments=3, price_cents=PRICE)
    for customer in (alice, bob, carol):
        assert commit_paid(paid_api, customer, tipping, card(localstripe)).status_code == 201
    # The third commitment tipped the deal; its own capture ran right after its response.
    captured_at_once = [p.status for p in payment_rows(engine, tipping["id"])]
    assert captured_at_once.count("captured") >= 1
    run_job(paid_app, capture_payments)
    assert run_job(paid_app, capture_payments)["captured"] == 0  # nothing left, nothing twice

    paid = payment_rows(engine, tipping["id"])
    assert [p.status for p in paid] == ["captured"] * 3
    for row in paid:
        charge = intent(localstripe, row.provider_ref)["latest_charge"]
        assert charge["captured"] is True and charge["amount"] == PRICE
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM ledger_entries WHERE kind = 'capture' AND account = 'provider_balance'"
            " AND deal_id = :id",
            id=tipping["id"],
        )
        == 3
    )
    assert len(vouchers_of(engine, tipping["id"])) == 3
    assert unbalanced_transactions(engine) == []
    assert sum(balances(engine, tipping["id"]).values()) == 0
    assert balances(engine, tipping["id"])["provider_balance"] == 3 * PRICE

    (row,) = statement(paid_api, merchant)["deals"]
    assert row["deal_id"] == tipping["id"]
    assert row["gross_paid_cents"] == 3 * PRICE
    assert row["refunds_cents"] == 0 and row["referral_commissions_cents"] == 0
    assert row["platform_fee_cents"] == 3 * 180  # 10 % of 1800, per payment
    assert row["payable_cents"] == 3 * PRICE - 3 * 180


def test_a_declined_card_answers_402_and_leaves_nothing_committed_or_held(
    paid_api, engine, localstripe, merchant, venue
):
    deal = paid_api.create_deal(merchant, venue, min_commitments=2, price_cents=PRICE)
    customer = paid_api.register("customer")
    before = table_counts(engine)

    response = commit_paid(paid_api, customer, deal, card(localstripe, DECLINED_ON_CHARGE))

    assert response.status_code == 402, response.json
    assert response.json["code"] == "payment-declined"
    assert table_counts(engine) == before
    assert paid_api.client.get(f"{API}/deals/{deal['id']}").json["committed_count"] == 0
    assert intent_statuses(localstripe).get("requires_capture", 0) == 0


def test_a_commitment_without_a_payment_method_is_refused_when_payments_are_online(
    paid_api, engine, merchant, venue
):
    deal = paid_api.create_deal(merchant, venue, price_cents=PRICE)
    customer = paid_api.register("customer")
    response = paid_api.client.post(
        f"{API}/deals/{deal['id']}/commitments", json={"quantity": 1}, headers=customer["headers"]
    )
    assert response.status_code == 422, response.json
    assert "payment_method" in response.json["errors"]
    assert scalar(engine, "SELECT count(*) FROM payments") == 0


def test_a_card_that_needs_3d_secure_counts_its_units_only_once_the_customer_confirmed(
    paid_api, engine, localstripe, merchant, venue
):
    deal = paid_api.create_deal(
        merchant, venue, min_commitments=2, per_user_limit=2, price_cents=PRICE
    )
    customer = paid_api.register("customer")

    pending = commit_paid(paid_api, customer, deal, card(localstripe, NEEDS_3DS), quantity=2)

    assert pending.status_code == 202, pending.json
    payment = pending.json["payment"]
    assert payment["status"] == "requires_action" and payment["client_secret"]
    assert payment["commitment_id"] is None
    assert pending.json["deal"]["committed_count"] == 0
    confirm = f"{API}/payments/{payment['id']}/confirm"
    early = paid_api.client.post(confirm, json={}, headers=customer["headers"])
    assert early.status_code == 409 and early.json["code"] == "payment-action-required"
    assert scalar(engine, "SELECT count(*) FROM commitments") == 0

    row = payment_rows(engine, deal["id"])[0]
    authenticate(localstripe, row.provider_ref, payment["client_secret"])
    confirmed = paid_api.client.post(confirm, json={}, headers=customer["headers"])

    assert confirmed.status_code == 201, confirmed.json
    assert confirmed.json["deal"]["committed_count"] == 2
    assert confirmed.json["commitment"]["status"] == "confirmed"
    assert confirmed.json["payment"]["commitment_id"] == confirmed.json["commitment"]["id"]
    again = paid_api.client.post(confirm, json={}, headers=customer["headers"])
    assert again.status_code == 409 and again.json["code"] == "payment-not-actionable"


def test_withdrawing_before_the_tip_cancels_the_hold(
    paid_api, engine, localstripe, merchant, venue
):
    deal = paid_api.create_deal(merchant, venue, min_commitments=5, price_cents=PRICE)
    customer = paid_api.register("customer")
    assert commit_paid(paid_api, customer, deal, card(localstripe)).status_code == 201

    response = paid_api.client.delete(
        f"{API}/deals/{deal['id']}/commitments/mine", headers=customer["headers"]
    )

    assert response.json["released_quantity"] == 1
    (row,) = payment_rows(engine, deal["id"])
    assert row.status == "cancelled"  # released right after the response
    assert intent(localstripe, row.provider_ref)["status"] == "canceled"
    assert all(amount == 0 for amount in balances(engine, deal["id"]).values())


def test_a_30_day_deal_saves_the_card_and_charges_it_off_session_at_the_tip(
    paid_api, paid_app, engine, localstripe, merchant, venue
):
    deal = paid_api.create_deal(
        merchant, venue, min_commitments=2, price_cents=PRICE, ends_at=_days(30)
    )
    alice, bob = customers(paid_api, 2)

    saved = commit_paid(paid_api, alice, deal, card(localstripe))

    assert saved.status_code == 201, saved.json
    assert saved.json["payment"]["method"] == "saved_card"
    assert saved.json["payment"]["status"] == "saved"
    assert intent_statuses(localstripe).get("requires_capture", 0) == 0  # nothing held
    assert commit_paid(paid_api, bob, deal, card(localstripe)).status_code == 201
    run_job(paid_app, capture_payments)

    paid = payment_rows(engine, deal["id"])
    assert [p.status for p in paid] == ["captured", "captured"]
    for row in paid:
        assert row.provider_ref.startswith("seti_")
        assert intent(localstripe, row.charge_ref)["status"] == "succeeded"
    assert len(vouchers_of(engine, deal["id"])) == 2
    assert balances(engine, deal["id"]).get("card_holds", 0) == 0


def test_a_failed_off_session_charge_tells_the_customer_and_releases_the_units_after_48_hours(
    paid_api, paid_app, engine, localstripe, merchant, venue
):
    deal = paid_api.create_deal(
        merchant, venue, min_commitments=2, price_cents=PRICE, ends_at=_days(30)
    )
    alice, bob = customers(paid_api, 2)
    assert (
        commit_paid(paid_api, alice, deal, card(localstripe, DECLINED_ON_CHARGE)).status_code == 201
    )
    assert commit_paid(paid_api, bob, deal, card(localstripe)).status_code == 201

    counts = run_job(paid_app, capture_payments)

    assert counts["failed"] == 1
    failed = next(p for p in payment_rows(engine, deal["id"]) if p.account_id == _id(alice))
    assert failed.status == "charge_failed"
    told = outbox(engine, "payment.failed")
    assert [str(event.recipient_id) for event in told] == [alice["account"]["id"]]
    assert vouchers_of(engine, deal["id"])[0].account_id == _id(bob)

    hours = paid_app.config["PAYMENT_FIX_HOURS"]
    early = run_job(paid_app, release_unpaid_charges, now=utcnow() + timedelta(hours=hours - 1))
    assert early["released"] == 0
    late = run_job(paid_app, release_unpaid_charges, now=utcnow() + timedelta(hours=hours + 1))
    assert late["released"] == 1

    released = paid_api.client.get(f"{API}/deals/{deal['id']}").json
    assert released["committed_count"] == 1
    assert released["status"] == "tipped"  # a tip is never undone
    assert (
        scalar(
            engine,
            "SELECT open_quantity FROM deal_participants WHERE account_id = :a",
            a=alice["account"]["id"],
        )
        == 0
    )
    failed = next(p for p in payment_rows(engine, deal["id"]) if p.account_id == _id(alice))
    assert failed.status == "cancelled"
    assert len(vouchers_of(engine, deal["id"])) == 1


def test_a_failed_charge_fixed_with_another_card_within_48_hours_gets_its_vouchers(
    paid_api, paid_app, engine, localstripe, merchant, venue
):
    deal = paid_api.create_deal(
        merchant, venue, min_commitments=1, price_cents=PRICE, ends_at=_days(30)
    )
    customer = paid_api.register("customer")
    first = commit_paid(paid_api, customer, deal, card(localstripe, DECLINED_ON_CHARGE))
    assert first.status_code == 201, first.json
    run_job(paid_app, capture_payments)
    payment_id = first.json["payment"]["id"]
    confirm = f"{API}/payments/{payment_id}/confirm"

    declined = paid_api.client.post(confirm, json={}, headers=customer["headers"])
    assert declined.status_code == 402, declined.json
    fixed = paid_api.client.post(
        confirm, json={"payment_method": card(localstripe)}, headers=customer["headers"]
    )

    assert fixed.status_code == 200, fixed.json
    assert fixed.json["payment"]["status"] == "captured"
    assert len(vouchers_of(engine, deal["id"])) == 1
    assert (
        run_job(paid_app, release_unpaid_charges, now=utcnow() + timedelta(days=3))["released"] == 0
    )


def tipped_with_vouchers(api, app, merchant, venue, localstripe, customer, **terms) -> dict:
    """A deal that tipped on `customer`'s paid unit and was captured; (deal, voucher code)."""
    deal = api.create_deal(
        merchant, venue, min_commitments=1, price_cents=PRICE, **{"refund_days": 7, **terms}
    )
    assert commit_paid(api, customer, deal, card(localstripe)).status_code == 201
    run_job(app, capture_payments)
    (voucher,) = api.client.get(f"{API}/me/vouchers", headers=customer["headers"]).json["items"]
    return {"deal": deal, "code": voucher["code"]}


def age_payments(engine, deal_id, days: int) -> None:
    """Make the deal's payments and vouchers `days` older (time travel in SQL)."""
    with engine.begin() as connection:
        for table in ("payments", "vouchers"):
            column = "captured_at" if table == "payments" else "created_at"
            connection.execute(
                text(
                    f"UPDATE {table} SET {column} = {column} - make_interval(days => :days)"
                    " WHERE deal_id = :id"
                ),
                {"days": days, "id": str(deal_id)},
            )


def test_a_customer_refund_within_refund_days_pays_the_unit_back_and_voids_its_redemption(
    paid_api, paid_app, engine, localstripe, merchant, venue
):
    customer = paid_api.register("customer")
    paid = tipped_with_vouchers(paid_api, paid_app, merchant, venue, localstripe, customer)
    age_payments(engine, paid["deal"]["id"], 6)

    response = paid_api.client.post(
        f"{API}/vouchers/{paid['code']}/refund", headers=customer["headers"]
    )

    assert response.status_code == 200, response.json
    assert response.json["status"] == "refunded"
    (row,) = payment_rows(engine, paid["deal"]["id"])
    (refund,) = refunds_of(localstripe, row.provider_ref)  # paid back right after the response
    assert refund["amount"] == PRICE
    assert run_job(paid_app, refund_payments)["refunded"] == 0  # and never twice
    redeem = paid_api.client.post(
        f"{API}/vouchers/{paid['code']}/redeem", headers=merchant["headers"]
    )
    assert redeem.status_code == 409 and redeem.json["code"] == "voucher-refunded"
    again = paid_api.client.post(
        f"{API}/vouchers/{paid['code']}/refund", headers=customer["headers"]
    )
    assert again.status_code == 409 and again.json["code"] == "voucher-refunded"

    assert balances(engine, paid["deal"]["id"])["provider_balance"] == 0
    assert balances(engine, paid["deal"]["id"])["merchant_payable"] == 0
    assert balances(engine, paid["deal"]["id"])["platform_fees"] == 0  # the fee goes back too
    (row,) = statement(paid_api, merchant)["deals"]
    assert (row["gross_paid_cents"], row["refunds_cents"], row["payable_cents"]) == (
        PRICE,
        PRICE,
        0,
    )
    assert sorted(str(e.recipient_id) for e in outbox(engine, "voucher.refunded")) == sorted(
        [customer["account"]["id"], merchant["account"]["id"]]
    )


def test_a_customer_refund_after_refund_days_is_refused_but_the_merchant_may_refund(
    paid_api, paid_app, engine, localstripe, merchant, venue
):
    customer = paid_api.register("customer")
    paid = tipped_with_vouchers(paid_api, paid_app, merchant, venue, localstripe, customer)
    age_payments(engine, paid["deal"]["id"], 8)
    path = f"{API}/vouchers/{paid['code']}/refund"

    late = paid_api.client.post(path, headers=customer["headers"])
    assert late.status_code == 409 and late.json["code"] == "refund-window-closed"
    assert scalar(engine, "SELECT count(*) FROM payment_refunds") == 0
    stranger = paid_api.register("merchant")
    assert paid_api.client.post(path, headers=stranger["headers"]).status_code == 404

    by_merchant = paid_api.client.post(path, headers=merchant["headers"])

    assert by_merchant.status_code == 200, by_merchant.json
    assert by_merchant.json["status"] == "refunded"
    assert scalar(engine, "SELECT reason FROM payment_refunds") == "merchant"
    assert scalar(engine, "SELECT status FROM payment_refunds") == "succeeded"


def test_a_redeemed_voucher_cannot_be_refunded_by_anyone(
    paid_api, paid_app, engine, localstripe, merchant, venue
):
    customer = paid_api.register("customer")
    paid = tipped_with_vouchers(paid_api, paid_app, merchant, venue, localstripe, customer)
    redeem = f"{API}/vouchers/{paid['code']}/redeem"
    assert paid_api.client.post(redeem, headers=merchant["headers"]).status_code == 200
    for who in (customer, merchant):
        response = paid_api.client.post(
            f"{API}/vouchers/{paid['code']}/refund", headers=who["headers"]
        )
        assert response.status_code == 409 and response.json["code"] == "already-redeemed"
    assert scalar(engine, "SELECT count(*) FROM payment_refunds") == 0


def test_cancelling_a_tipped_deal_refunds_every_unit_not_redeemed_and_cancels_every_hold(
    paid_api, paid_app, engine, localstripe, merchant, venue
):
    deal = paid_api.create_deal(
        merchant, venue, min_commitments=2, per_user_limit=2, price_cents=PRICE
    )
    alice, bob = customers(paid_api, 2)
    assert commit_paid(paid_api, alice, deal, card(localstripe), quantity=2).status_code == 201
    run_job(paid_app, capture_payments)
    codes = [
        v["code"]
        for v in paid_api.client.get(f"{API}/me/vouchers", headers=alice["headers"]).json["items"]
    ]
    redeemed = paid_api.client.post(
        f"{API}/vouchers/{codes[0]}/redeem", headers=merchant["headers"]
    )
    assert redeemed.status_code == 200
    # bob's unit comes after the tip: charged at once
    assert commit_paid(paid_api, bob, deal, card(localstripe)).status_code == 201

    cancelled = paid_api.client.post(
        f"{API}/deals/{deal['id']}/cancel", headers=merchant["headers"]
    )

    assert cancelled.status_code == 200, cancelled.json
    run_job(paid_app, release_payments)
    run_job(paid_app, refund_payments)
    refunded = {
        row.account_id: sum(r["amount"] for r in refunds_of(localstripe, row.provider_ref))
        for row in payment_rows(engine, deal["id"])
    }
    assert refunded == {_id(alice): PRICE, _id(bob): PRICE}  # alice's redeemed unit stays paid
    assert balances(engine, deal["id"])["provider_balance"] == PRICE
    assert unbalanced_transactions(engine) == []
    assert sum(balances(engine, deal["id"]).values()) == 0
    (row,) = statement(paid_api, merchant)["deals"]
    assert row["gross_paid_cents"] - row["refunds_cents"] == PRICE
    assert row["payable_cents"] == PRICE - 180


def test_a_merchant_statement_sums_exactly_per_deal_and_in_total(
    paid_api, paid_app, engine, localstripe, merchant, venue
):
    deals = [
        paid_api.create_deal(
            merchant, venue, min_commitments=1, price_cents=price, per_user_limit=3
        )
        for price in (999, 1805, 2501)
    ]
    customer = paid_api.register("customer")
    for deal, quantity in zip(deals, (3, 1, 2)):
        assert (
            commit_paid(paid_api, customer, deal, card(localstripe), quantity=quantity).status_code
            == 201
        )
    run_job(paid_app, capture_payments)
    code = scalar(engine, "SELECT min(code) FROM vouchers WHERE deal_id = :id", id=deals[0]["id"])
    refund = paid_api.client.post(f"{API}/vouchers/{code}/refund", headers=merchant["headers"])
    assert refund.status_code == 200, refund.json

    report = statement(paid_api, merchant)

    fields = (
        "gross_paid_cents",
        "refunds_cents",
        "referral_commissions_cents",
        "credit_redeemed_cents",
        "platform_fee_cents",
        "payable_cents",
    )
    (total,) = report["totals"]
    assert total["currency"] == "EUR"
    for name in fields:
        assert total[name] == sum(row[name] for row in report["deals"])
    for row in report["deals"]:
        assert row["payable_cents"] == (
            row["gross_paid_cents"]
            - row["refunds_cents"]
            - row["referral_commissions_cents"]
            + row["credit_redeemed_cents"]
            - row["platform_fee_cents"]
        )
        assert row["payable_cents"] == -balances(engine, row["deal_id"])["merchant_payable"]
    # 10 % per payment, half up: 2997 -> 300, 1805 -> 181 (180.5), 5002 -> 500; refunding
    # one of the 999s leaves 1998 paid, whose fee is 200: 100 of the 300 go back.
    by_deal = {row["deal_id"]: row for row in report["deals"]}
    assert [by_deal[deal["id"]]["platform_fee_cents"] for deal in deals] == [200, 181, 500]
    assert (total["gross_paid_cents"], total["refunds_cents"]) == (9804, 999)
    assert total["payable_cents"] == 9804 - 999 - 881
    assert unbalanced_transactions(engine) == []
    empty = paid_api.client.get(
        f"{API}/merchant/statement?to=2020-01-01T00:00:00Z", headers=merchant["headers"]
    )
    assert empty.status_code == 200 and empty.json["deals"] == [] and empty.json["totals"] == []
    backwards = paid_api.client.get(
        f"{API}/merchant/statement?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z",
        headers=merchant["headers"],
    )
    assert backwards.status_code == 422


def _days(days: int) -> str:
    from tests.factories import from_now

    return from_now(days=days)


def _id(customer: dict):
    import uuid

    return uuid.UUID(customer["account"]["id"])


def test_referral_credit_of_a_paid_unit_waits_for_its_refund_days_and_a_refund_reverses_it(
    paid_api, paid_app, engine, localstripe, merchant, venue
):
    deal = paid_api.create_deal(
        merchant,
        venue,
        min_commitments=1,
        price_cents=PRICE,
        refund_days=7,
        referral={"kind": "commission", "percent": 10},
    )
    sharer, kept, refunded = customers(paid_api, 3)
    code = paid_api.client.post(f"{API}/deals/{deal['id']}/shares", headers=sharer["headers"]).json[
        "code"
    ]
    for buyer in (kept, refunded):
        response = paid_api.client.post(
            f"{API}/deals/{deal['id']}/commitments",
            json={"quantity": 1, "payment_method": card(localstripe), "share_code": code},
            headers=buyer["headers"],
        )
        assert response.status_code == 201, response.json
    run_job(paid_app, capture_payments)
    assert run_job(paid_app, earn_referral_credit)["credited"] == 2 * 180  # once paid

    (voucher,) = paid_api.client.get(f"{API}/me/vouchers", headers=refunded["headers"]).json[
        "items"
    ]
    refund = paid_api.client.post(
        f"{API}/vouchers/{voucher['code']}/refund", headers=refunded["headers"]
    )
    assert refund.status_code == 200, refund.json
    assert run_job(paid_app, settle_referral_credit)["reversed_cents"] == 180
    within = run_job(paid_app, settle_referral_credit, now=utcnow() + timedelta(days=6))
    assert within["available_cents"] == 0  # the kept unit may still be refunded
    after = run_job(paid_app, settle_referral_credit, now=utcnow() + timedelta(days=8))
    assert after["available_cents"] == 180
    statuses = [
        entry["status"]
        for entry in paid_api.client.get(f"{API}/me/credits", headers=sharer["headers"]).json[
            "entries"
        ]
    ]
    assert sorted(statuses) == ["available", "reversed"]


def test_units_the_deal_refuses_after_the_card_was_authorised_cancel_the_hold(
    paid_api, engine, localstripe, merchant, venue, monkeypatch
):
    deal = paid_api.create_deal(
        merchant, venue, min_commitments=1, max_commitments=1, price_cents=PRICE
    )
    alice, bob = customers(paid_api, 2)
    assert commit_paid(paid_api, alice, deal, card(localstripe)).status_code == 201
    # As when another commitment took the last unit between bob's look and his units.
    monkeypatch.setattr("payments.services._refuse_early", lambda *args: None)

    refused = commit_paid(paid_api, bob, deal, card(localstripe))

    assert refused.status_code == 409 and refused.json["code"] == "sold-out"
    bobs = next(p for p in payment_rows(engine, deal["id"]) if p.account_id == _id(bob))
    assert bobs.status == "cancelled"
    assert intent(localstripe, bobs.provider_ref)["status"] == "canceled"
    assert scalar(engine, "SELECT count(*) FROM commitments") == 1
    assert balances(engine, deal["id"])["provider_balance"] == PRICE  # alice's unit only
    assert balances(engine, deal["id"]).get("card_holds", 0) == 0


def test_a_customer_who_fails_3d_secure_gets_402_and_nothing_is_held(
    paid_api, engine, localstripe, merchant, venue
):
    deal = paid_api.create_deal(merchant, venue, min_commitments=2, price_cents=PRICE)
    customer = paid_api.register("customer")
    pending = commit_paid(paid_api, customer, deal, card(localstripe, NEEDS_3DS))
    assert pending.status_code == 202
    (row,) = payment_rows(engine, deal["id"])
    authenticate(localstripe, row.provider_ref, pending.json["payment"]["client_secret"], False)

    response = paid_api.client.post(
        f"{API}/payments/{pending.json['payment']['id']}/confirm",
        json={},
        headers=customer["headers"],
    )

    assert response.status_code == 402, response.json
    assert payment_rows(engine, deal["id"])[0].status == "cancelled"
    assert intent(localstripe, row.provider_ref)["status"] == "canceled"
    assert scalar(engine, "SELECT count(*) FROM commitments") == 0
