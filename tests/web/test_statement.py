"""The statement page: the API's statement of captured and refunded units (paid through a real
localstripe), written in the page's language, over whole UTC days."""

from datetime import UTC, datetime, timedelta

import pytest
from babel.numbers import format_currency

from payments.jobs import capture_payments
from tests.dashboard_support import signed_in, text_of
from tests.factories import API
from tests.payments_support import card, commit_paid, run_job

GERMAN = {"Accept-Language": "de-DE,de;q=0.9"}
AMOUNTS = (
    "gross_paid_cents",
    "refunds_cents",
    "referral_commissions_cents",
    "platform_fee_cents",
    "payable_cents",
)


@pytest.fixture
def merchant(paid_api):
    return paid_api.register("merchant")


def paid_units(api, app, localstripe, merchant, venue, *, customers: int, **terms) -> list[str]:
    """A deal that tipped on `customers` paid units, captured; its voucher codes."""
    deal = api.create_deal(merchant, venue, min_commitments=1, original_price_cents=None, **terms)
    codes = []
    for _ in range(customers):
        customer = api.register("customer")
        assert commit_paid(api, customer, deal, card(localstripe)).status_code == 201
        run_job(app, capture_payments)
        vouchers = api.client.get(f"{API}/me/vouchers", headers=customer["headers"]).json
        codes.extend(voucher["code"] for voucher in vouchers["items"])
    return codes


def row_text(page: str, attribute: str, value: str) -> str:
    """The text of the table row marked `data-<attribute>="<value>"`."""
    start = page.index(f'data-{attribute}="{value}"')
    return text_of(page[start : page.index("</tr>", start)])


def test_the_statement_page_shows_the_apis_sums_per_deal_and_currency_in_german_money(
    paid_api, paid_app, localstripe, merchant
):
    venue = paid_api.create_venue(merchant)
    brunch = paid_units(
        paid_api, paid_app, localstripe, merchant, venue, customers=2, price_cents=123456
    )
    paid_units(
        paid_api, paid_app, localstripe, merchant, venue, customers=1, price_cents=2500,
        currency="USD",
    )  # fmt: skip
    refund = paid_api.client.post(f"{API}/vouchers/{brunch[0]}/refund", headers=merchant["headers"])
    assert refund.status_code == 200, refund.json
    today = datetime.now(UTC).date()
    period = {
        "from": f"{today - timedelta(days=1)}T00:00:00Z",
        "to": f"{today + timedelta(days=1)}T00:00:00Z",
    }
    api_statement = paid_api.client.get(
        f"{API}/merchant/statement", query_string=period, headers=merchant["headers"]
    ).json
    assert len(api_statement["deals"]) == 2 and len(api_statement["totals"]) == 2
    assert {row["refunds_cents"] for row in api_statement["deals"]} == {0, 123456}

    response = signed_in(paid_api.client, merchant).get(
        "/merchant/statement",
        query_string={"from": str(today - timedelta(days=1)), "to": str(today)},
        headers=GERMAN,
    )

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "1.234,56 €" in row_text(page, "currency", "EUR")  # one unit refunded of two
    for attribute, key, rows in (
        ("deal", "deal_id", api_statement["deals"]),
        ("currency", "currency", api_statement["totals"]),
    ):
        for row in rows:
            shown = row_text(page, attribute, row[key])
            written = " ".join(
                format_currency(row[name] / 100, row["currency"], locale="de_DE")
                for name in AMOUNTS
            )
            assert " ".join(written.split()) in shown, (written, shown)


def test_a_first_day_after_the_last_is_refused_with_the_apis_message(client, api):
    merchant = api.register("merchant")
    dashboard = signed_in(client, merchant)
    api_answer = client.get(
        f"{API}/merchant/statement",
        query_string={"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
        headers=merchant["headers"],
    )
    assert api_answer.status_code == 422

    response = dashboard.get(
        "/merchant/statement", query_string={"from": "2026-03-02", "to": "2026-03-01"}
    )

    assert response.status_code == 422
    (message,) = api_answer.json["errors"]["from"]
    assert message in text_of(response.get_data(as_text=True))


def test_an_empty_period_says_that_no_money_moved_and_defaults_to_the_last_30_days(client, api):
    merchant = api.register("merchant")
    today = datetime.now(UTC).date()

    response = signed_in(client, merchant).get("/merchant/statement")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'value="{today - timedelta(days=29)}"' in page and f'value="{today}"' in page
    assert "No money moved in this period." in text_of(page)
