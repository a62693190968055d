"""Referral terms in the deal form: the inputs become the API's `referral` and
`new_customers_only`, validated by the API's schema with its messages, changeable only before
the first commitment, and shown on the deal's page."""

import re

import pytest

from tests.checkins_support import MUNICH
from tests.dashboard_support import form_values, signed_in, text_of
from tests.factories import API, commit, from_now
from tests.web.test_pages import api_messages, deal_form


@pytest.fixture
def venue(api, merchant) -> dict:
    return api.create_venue(merchant, timezone="Europe/Berlin", location=MUNICH)


@pytest.fixture
def dashboard(client, merchant):
    return signed_in(client, merchant)


def served(client, deal_id: str) -> dict:
    return client.get(f"{API}/deals/{deal_id}").json


def created(dashboard, venue, **referral_inputs) -> str:
    response = dashboard.post("/merchant/deals/new", deal_form(venue, **referral_inputs))
    assert response.status_code == 303, text_of(response.get_data(as_text=True))
    return response.headers["Location"].rsplit("/", 1)[1]


def test_a_commission_for_new_customers_only_is_created_and_shown_on_the_deal_page(
    client, dashboard, venue
):
    deal_id = created(
        dashboard,
        venue,
        referral_kind="commission",
        referral_percent="15",
        referral_friends="3",  # typed for the other kind: not sent
        new_customers_only="true",
    )

    deal = served(client, deal_id)
    assert deal["referral"] == {"kind": "commission", "percent": 15}
    assert deal["new_customers_only"] is True
    page = text_of(dashboard.get(f"/merchant/deals/{deal_id}").get_data(as_text=True))
    assert "Commission: 15 % of each unit a share link brings" in page
    assert "only for customers new to you" in page


def test_no_referral_reward_is_null_in_the_api_and_the_default_of_the_form(
    client, dashboard, venue
):
    shown = form_values(dashboard.get("/merchant/deals/new").get_data(as_text=True))
    assert shown["referral_kind"] == "none" and "new_customers_only" not in shown

    deal = served(client, created(dashboard, venue, referral_kind="none", referral_percent="20"))

    assert (deal["referral"], deal["new_customers_only"]) == (None, False)


COMMISSION = {"referral_kind": "commission"}
BRING_FRIENDS = {"referral_kind": "bring_friends"}


@pytest.mark.parametrize(
    ("inputs", "referral", "field"),
    [
        (
            {**COMMISSION, "referral_percent": "60"},
            {"kind": "commission", "percent": 60},
            "percent",
        ),
        ({**COMMISSION, "referral_percent": ""}, {"kind": "commission"}, "percent"),
        (
            {**BRING_FRIENDS, "referral_friends": "11"},
            {"kind": "bring_friends", "friends": 11},
            "friends",
        ),
    ],
)
def test_referral_terms_the_api_refuses_show_its_messages_on_their_inputs(
    client, dashboard, merchant, venue, inputs, referral, field
):
    form = deal_form(venue, **inputs)

    response = dashboard.post("/merchant/deals/new", form)

    assert response.status_code == 422
    body = {"venue_id": venue["id"], "title": "x", "price_cents": 100, "min_commitments": 1}
    expected = api_messages(
        client,
        merchant,
        f"{API}/deals",
        {**body, "ends_at": from_now(days=3), "referral": referral},
    )
    page = response.get_data(as_text=True)
    for message in expected[f"referral.{field}"]:
        assert re.search(rf'id="f-referral_{field}-error"><p>{re.escape(message)}', page), message


def test_referral_terms_change_on_the_edit_form_only_until_the_first_commitment(
    api, client, dashboard, merchant, customer, venue
):
    deal = api.create_deal(merchant, venue, min_commitments=3)
    edit = f"/merchant/deals/{deal['id']}/edit"
    values = form_values(dashboard.get(edit).get_data(as_text=True))
    assert values["referral_kind"] == "none"

    friends = dashboard.post(
        edit, {**values, "referral_kind": "bring_friends", "referral_friends": "3"}
    )
    assert friends.status_code == 303
    assert served(client, deal["id"])["referral"] == {"kind": "bring_friends", "friends": 3}
    values = form_values(dashboard.get(edit).get_data(as_text=True))
    assert (values["referral_kind"], values["referral_friends"]) == ("bring_friends", "3")

    assert commit(api, customer, deal).status_code == 201
    refused = dashboard.post(edit, {**values, "referral_kind": "none"})
    assert refused.status_code == 422
    page = text_of(refused.get_data(as_text=True))
    assert "People have committed; only title and description can change." in page
    assert served(client, deal["id"])["referral"] == {"kind": "bring_friends", "friends": 3}
    renamed = dashboard.post(edit, {**values, "title": "Brunch, renamed"})
    assert renamed.status_code == 303  # the unchanged referral inputs were not sent
