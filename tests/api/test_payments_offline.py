"""With `PAYMENT_PROVIDER=none` (the default) nothing is paid online: commits work as ever,
vouchers are paid at the venue, and a refund gives the unused voucher back."""

from sqlalchemy import text

from payments.jobs import JOBS
from tests.factories import API, commit, scalar
from tests.payments_support import commit_paid, run_job, table_counts


def tipped(api, merchant, customer, **terms) -> tuple[dict, str]:
    deal = api.create_deal(merchant, api.create_venue(merchant), min_commitments=1, **terms)
    assert commit(api, customer, deal).status_code == 201
    newest = api.client.get(f"{API}/me/vouchers", headers=customer["headers"]).json["items"][0]
    assert newest["deal_id"] == deal["id"]
    return deal, newest["code"]


def test_a_commitment_is_taken_as_without_payments_and_a_payment_method_is_ignored(
    api, engine, merchant, customer
):
    deal = api.create_deal(merchant, api.create_venue(merchant), min_commitments=1)
    response = commit_paid(api, customer, deal, "pm_card_visa")
    assert response.status_code == 201, response.json
    assert "payment" not in response.json
    assert response.json["commitment"]["status"] == "confirmed"
    assert scalar(engine, "SELECT count(*) FROM vouchers") == 1
    assert scalar(engine, "SELECT count(*) FROM payments") == 0


def test_a_customer_gives_an_unused_voucher_back_within_refund_days_and_not_after(
    api, engine, merchant, customer
):
    deal, code = tipped(api, merchant, customer, refund_days=2)
    with engine.begin() as connection:
        connection.execute(text("UPDATE vouchers SET created_at = now() - interval '3 days'"))
    late = api.client.post(f"{API}/vouchers/{code}/refund", headers=customer["headers"])
    assert late.status_code == 409 and late.json["code"] == "refund-window-closed"

    _, fresh = tipped(api, merchant, customer)
    refunded = api.client.post(f"{API}/vouchers/{fresh}/refund", headers=customer["headers"])

    assert refunded.status_code == 200, refunded.json
    assert refunded.json["status"] == "refunded"
    redeem = api.client.post(f"{API}/vouchers/{fresh}/redeem", headers=merchant["headers"])
    assert redeem.status_code == 409 and redeem.json["code"] == "voucher-refunded"
    assert scalar(engine, "SELECT count(*) FROM payment_refunds") == 0  # nothing was paid


def test_the_merchant_takes_a_voucher_back_before_redemption_and_another_customer_cannot(
    api, merchant, customer
):
    _, code = tipped(api, merchant, customer, refund_days=0)
    stranger = api.register("customer")
    path = f"{API}/vouchers/{code}/refund"
    assert api.client.post(path, headers=stranger["headers"]).status_code == 404
    by_merchant = api.client.post(path, headers=merchant["headers"])
    assert by_merchant.status_code == 200 and by_merchant.json["status"] == "refunded"


def test_the_statement_is_empty_and_the_payment_jobs_do_nothing(app, api, engine, merchant):
    response = api.client.get(f"{API}/merchant/statement", headers=merchant["headers"])
    assert response.status_code == 200
    assert response.json["deals"] == [] and response.json["totals"] == []
    before = table_counts(engine)
    for job, _interval in JOBS.values():
        assert not any(run_job(app, job).values())
    assert table_counts(engine) == before


def test_a_deal_takes_refund_days_and_shows_them(api, merchant):
    venue = api.create_venue(merchant)
    assert api.create_deal(merchant, venue)["refund_days"] == 7
    assert api.create_deal(merchant, venue, refund_days=14)["refund_days"] == 14
    response = api.client.post(
        f"{API}/deals",
        json={
            "venue_id": venue["id"],
            "title": "x",
            "price_cents": 1,
            "min_commitments": 1,
            "ends_at": "2099-01-01T00:00:00Z",
            "refund_days": -1,
        },
        headers=merchant["headers"],
    )
    assert response.status_code == 422 and "refund_days" in response.json["errors"]
