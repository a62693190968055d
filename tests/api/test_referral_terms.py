"""A deal's referral terms: `commission` with a percent or `bring_friends` with a count, and
`new_customers_only`; set at creation, changed only before the first commitment like the other
terms, shown on the deal, on the share landing page (with the disclosure) and in /me/shares."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.factories import API, commit, deal_body, scalar

COMMISSION = {"kind": "commission", "percent": 10}
BRING_FRIENDS = {"kind": "bring_friends", "friends": 3}


@pytest.fixture
def venue(api, merchant) -> dict:
    return api.create_venue(merchant)


@pytest.mark.parametrize("referral", [COMMISSION, BRING_FRIENDS, None])
def test_a_deal_carries_the_referral_terms_it_was_created_with(
    api, client, merchant, venue, referral
):
    deal = api.create_deal(merchant, venue, referral=referral, new_customers_only=True)
    assert (deal["referral"], deal["new_customers_only"]) == (referral, True)
    read = client.get(f"{API}/deals/{deal['id']}").json
    assert (read["referral"], read["new_customers_only"]) == (referral, True)


def test_a_deal_without_referral_terms_pays_nobody_and_takes_every_customer(api, merchant, venue):
    deal = api.create_deal(merchant, venue)
    assert (deal["referral"], deal["new_customers_only"]) == (None, False)


@pytest.mark.parametrize(
    ("referral", "field"),
    [
        ({"kind": "commission", "percent": 0}, "percent"),
        ({"kind": "commission", "percent": 51}, "percent"),
        ({"kind": "commission", "percent": 10.5}, "percent"),
        ({"kind": "commission", "percent": "10"}, "percent"),
        ({"kind": "commission"}, "percent"),
        ({"kind": "commission", "percent": 10, "friends": 3}, "friends"),
        ({"kind": "bring_friends", "friends": 11}, "friends"),
        ({"kind": "bring_friends", "percent": 10}, "percent"),
        ({"kind": "pyramid", "percent": 10}, "kind"),
        ({"percent": 10}, "kind"),
        ({"kind": "commission", "percent": 10, "cap": 5}, "cap"),
    ],
)
def test_a_referral_of_the_wrong_shape_is_refused_and_creates_nothing(
    api, client, engine, merchant, venue, referral, field
):
    response = client.post(
        f"{API}/deals", json=deal_body(venue, referral=referral), headers=merchant["headers"]
    )
    assert response.status_code == 422, response.json
    assert f"referral.{field}" in response.json["errors"], response.json
    assert scalar(engine, "SELECT count(*) FROM deals") == 0


@pytest.mark.parametrize(
    "stored",
    [
        '{"kind": "commission", "percent": 60}',
        '{"kind": "commission", "percent": "ten"}',
        '{"kind": "commission", "percent": 2.5}',
        '{"kind": "bring_friends", "friends": 3, "percent": 1}',
        '{"kind": "other", "percent": 1}',
        "null",
        "[1, 2]",
    ],
)
def test_the_database_refuses_a_referral_the_schema_would_refuse(
    api, engine, merchant, venue, stored
):
    deal = api.create_deal(merchant, venue)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text("UPDATE deals SET referral = CAST(:stored AS jsonb) WHERE id = :id"),
            {"stored": stored, "id": deal["id"]},
        )


def test_referral_terms_change_before_the_first_commitment_only(api, client, merchant, venue):
    deal = api.create_deal(merchant, venue, min_commitments=5)
    url = f"{API}/deals/{deal['id']}"
    changed = client.patch(url, json={"referral": BRING_FRIENDS}, headers=merchant["headers"])
    assert (changed.status_code, changed.json["referral"]) == (200, BRING_FRIENDS)
    assert commit(api, api.register("customer"), deal).status_code == 201
    for change in ({"referral": COMMISSION}, {"referral": None}, {"new_customers_only": True}):
        refused = client.patch(url, json=change, headers=merchant["headers"])
        assert (refused.status_code, refused.json["code"]) == (409, "deal-has-commitments")
    read = client.get(url).json
    assert (read["referral"], read["new_customers_only"]) == (BRING_FRIENDS, False)


def share_code(client, account: dict, deal: dict) -> str:
    response = client.post(f"{API}/deals/{deal['id']}/shares", headers=account["headers"])
    assert response.status_code == 201, response.json
    return response.json["code"]


def test_the_landing_page_discloses_that_the_sharer_earns_credit(api, client, merchant, venue):
    customer = api.register("customer")
    paying = api.create_deal(merchant, venue, referral=COMMISSION, new_customers_only=True)
    plain = api.create_deal(merchant, venue)
    page = client.get(f"/s/{share_code(client, customer, paying)}").get_data(as_text=True)
    assert "The person who shared this earns credit" in page
    assert "10% of each unit bought through the link" in page
    assert "new to this merchant only" in page
    page = client.get(f"/s/{share_code(client, customer, plain)}").get_data(as_text=True)
    assert "earns credit" not in page


def test_my_shares_show_what_each_deal_pays_for_referrals(api, client, merchant, venue):
    customer = api.register("customer")
    deals = {
        "commission": api.create_deal(merchant, venue, referral=COMMISSION),
        "bring_friends": api.create_deal(merchant, venue, referral=BRING_FRIENDS),
        "none": api.create_deal(merchant, venue),
    }
    codes = {share_code(client, customer, deal): name for name, deal in deals.items()}
    items = client.get(f"{API}/me/shares", headers=customer["headers"]).json["items"]
    shown = {codes[item["code"]]: item["referral"] for item in items}
    assert shown == {"commission": COMMISSION, "bring_friends": BRING_FRIENDS, "none": None}
