"""The dashboard's pages through the Flask test client: every action reaches the API's own
services (the API then serves what the page did), refusals and validation read as the API's
messages, and another merchant's objects are not found."""

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.checkins_support import MUNICH
from tests.dashboard_support import (
    counted_visitor,
    csrf_token_of,
    form_values,
    signed_in,
    text_of,
)
from tests.factories import API, commit, from_now, rows, scalar

BERLIN_TIME = ZoneInfo("Europe/Berlin")


@pytest.fixture
def venue(api, merchant) -> dict:
    return api.create_venue(merchant, timezone="Europe/Berlin", location=MUNICH)


@pytest.fixture
def dashboard(client, merchant):
    return signed_in(client, merchant)


def page_text(response) -> str:
    return text_of(response.get_data(as_text=True))


def local_input(moment: datetime) -> str:
    """How <input type="datetime-local"> sends a Berlin wall-clock time."""
    return moment.astimezone(BERLIN_TIME).strftime("%Y-%m-%dT%H:%M")


def api_messages(client, merchant, path: str, body: dict) -> dict[str, list[str]]:
    response = client.post(path, json=body, headers=merchant["headers"])
    assert response.status_code == 422, response.json
    return response.json["errors"]


def assert_page_shows_what_the_api_says(page, client, merchant, path: str, body: dict) -> dict:
    """The page (a 422) shows every message the API gives for `body`; those messages."""
    assert page.status_code == 422
    expected = api_messages(client, merchant, path, body)
    shown = page_text(page)
    missing = [text for texts in expected.values() for text in texts if text not in shown]
    assert not missing, (missing, shown)
    return expected


def deal_form(venue: dict, **overrides) -> dict:
    ends = datetime.now(BERLIN_TIME).replace(second=0, microsecond=0) + timedelta(days=3)
    form = {
        "venue_id": venue["id"],
        "title": "Brunch for two",
        "description": "Sunday only.",
        "price": "18,50",
        "original_price": "30",
        "currency": "EUR",
        "min_commitments": "2",
        "max_commitments": "4",
        "per_user_limit": "2",
        "starts_at": "",
        "ends_at": local_input(ends),
        "redeem_until": "",
    }
    return {**form, **overrides}


# --- venues ------------------------------------------------------------------------------------


def test_a_venue_created_on_the_dashboard_is_the_venue_the_api_serves(client, dashboard, merchant):
    response = dashboard.post(
        "/merchant/venues/new",
        {
            "name": "Bäckerei Sonntag",
            "lat": "52,5200",  # a comma as decimal point, as German keyboards type it
            "lon": "13.4050",
            "address": "Torstraße 1",
            "category": "",
            "checkin_radius_m": "150",
            "timezone": "Europe/Berlin",
        },
    )
    assert response.status_code == 303
    venue_id = scalar(client.application.extensions["db_engine"], "SELECT id FROM venues")
    served = client.get(f"{API}/venues/{venue_id}").json
    assert served["merchant_id"] == merchant["account"]["id"]
    assert (served["name"], served["address"], served["category"]) == (
        "Bäckerei Sonntag",
        "Torstraße 1",
        None,
    )
    assert served["location"] == {"lat": 52.52, "lon": 13.405}
    assert (served["checkin_radius_m"], served["timezone"]) == (150, "Europe/Berlin")
    assert "Bäckerei Sonntag" in page_text(dashboard.get("/merchant/venues"))


def test_the_venue_form_shows_the_messages_the_api_gives_for_the_same_venue(
    client, dashboard, merchant, engine
):
    form = {"name": "", "lat": "91", "lon": "east", "checkin_radius_m": "5", "timezone": "UTC"}
    response = dashboard.post("/merchant/venues/new", form)
    assert_page_shows_what_the_api_says(
        response,
        client,
        merchant,
        f"{API}/venues",
        {"location": {"lat": 91, "lon": "east"}, "checkin_radius_m": 5, "timezone": "UTC"},
    )
    assert scalar(engine, "SELECT count(*) FROM venues") == 0


def test_editing_a_venue_changes_what_was_changed_and_keeps_the_rest(
    client, dashboard, venue, engine
):
    edit = f"/merchant/venues/{venue['id']}/edit"
    values = form_values(dashboard.get(edit).get_data(as_text=True))
    response = dashboard.post(edit, {**values, "name": "Neuer Name"})
    assert response.status_code == 303
    served = client.get(f"{API}/venues/{venue['id']}").json
    assert served["name"] == "Neuer Name"
    assert served["location"] == venue["location"]
    assert served["checkin_radius_m"] == venue["checkin_radius_m"]


# --- deals -------------------------------------------------------------------------------------


def test_a_deal_created_on_the_dashboard_has_its_times_in_the_venue_time_zone_and_prices_in_cents(
    client, dashboard, venue
):
    form = deal_form(venue)
    response = dashboard.post("/merchant/deals/new", form)
    assert response.status_code == 303
    deal_id = response.headers["Location"].rsplit("/", 1)[1]
    served = client.get(f"{API}/deals/{deal_id}").json
    assert (served["price_cents"], served["original_price_cents"]) == (1850, 3000)
    assert (served["min_commitments"], served["max_commitments"], served["per_user_limit"]) == (
        2,
        4,
        2,
    )
    ends = datetime.fromisoformat(served["ends_at"])
    assert local_input(ends) == form["ends_at"]
    assert served["redeem_until"] == (ends + timedelta(days=90)).isoformat().replace("+00:00", "Z")
    assert served["status"] == "active"


def test_the_deal_form_shows_the_messages_the_api_gives_for_the_same_terms(
    client, dashboard, merchant, venue, engine
):
    now = datetime.now(BERLIN_TIME)
    form = deal_form(
        venue,
        starts_at=local_input(now + timedelta(days=2)),
        ends_at=local_input(now + timedelta(days=1)),
        min_commitments="5",
        max_commitments="3",
        price="30",
        original_price="18",
    )
    response = dashboard.post("/merchant/deals/new", form)
    expected = assert_page_shows_what_the_api_says(
        response,
        client,
        merchant,
        f"{API}/deals",
        {
            "venue_id": venue["id"],
            "title": "x",
            "price_cents": 3000,
            "original_price_cents": 1800,
            "min_commitments": 5,
            "max_commitments": 3,
            "starts_at": from_now(days=2),
            "ends_at": from_now(days=1),
        },
    )
    assert set(expected) == {"ends_at", "max_commitments", "original_price_cents"}
    assert scalar(engine, "SELECT count(*) FROM deals") == 0


def test_an_amount_that_is_no_amount_and_a_missing_end_are_shown_on_their_fields(dashboard, venue):
    response = dashboard.post("/merchant/deals/new", deal_form(venue, price="cheap", ends_at=""))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'id="f-price-error"><p>Not a valid amount', page)
    assert re.search(r'id="f-ends_at-error"><p>Missing data for required field', page)


def test_once_people_committed_the_title_still_changes_but_the_terms_do_not(
    api, client, dashboard, merchant, customer, venue
):
    deal = api.create_deal(merchant, venue, min_commitments=3, max_commitments=10)
    assert commit(api, customer, deal).status_code == 201
    edit = f"/merchant/deals/{deal['id']}/edit"
    values = form_values(dashboard.get(edit).get_data(as_text=True))
    renamed = dashboard.post(edit, {**values, "title": "Dinner, renamed"})
    assert renamed.status_code == 303  # the unchanged terms were not sent as changes
    assert client.get(f"{API}/deals/{deal['id']}").json["title"] == "Dinner, renamed"
    refused = dashboard.post(edit, {**values, "min_commitments": "2"})
    assert refused.status_code == 422
    assert "People have committed; only title and description can change." in page_text(refused)
    assert client.get(f"{API}/deals/{deal['id']}").json["min_commitments"] == 3


def test_cancelling_a_deal_on_the_dashboard_releases_its_commitments(
    api, client, dashboard, merchant, customer, venue, engine
):
    deal = api.create_deal(merchant, venue, min_commitments=3)
    commit(api, customer, deal)
    response = dashboard.post(f"/merchant/deals/{deal['id']}/cancel")
    assert response.status_code == 303
    assert client.get(f"{API}/deals/{deal['id']}").json["status"] == "cancelled"
    assert scalar(engine, "SELECT status FROM commitments") == "released"
    again = dashboard.client.post(
        f"/merchant/deals/{deal['id']}/cancel",
        data={"csrf_token": _token(dashboard, f"/merchant/deals/{deal['id']}/cancel")},
    )
    assert again.status_code == 409
    assert "it can no longer be cancelled" in page_text(again)


def _token(dashboard, path: str) -> str:
    return csrf_token_of(dashboard.get(path).get_data(as_text=True))


def test_the_live_progress_json_gives_the_merchants_own_deals_only(
    api, dashboard, merchant, customer, venue
):
    own = api.create_deal(merchant, venue, min_commitments=1)
    other_merchant = api.register("merchant")
    other = api.create_deal(other_merchant, api.create_venue(other_merchant), min_commitments=1)
    commit(api, customer, own)
    response = dashboard.get(
        "/merchant/deals/progress",
        query_string=[("id", own["id"]), ("id", other["id"]), ("id", "not-a-uuid")],
    )
    assert response.status_code == 200
    assert response.json == {
        "deals": [
            {
                "id": own["id"],
                "status": "tipped",
                "status_label": "tipped",
                "committed_count": 1,
                "min_commitments": 1,
                "max_commitments": 10,
                "tipped": True,
            }
        ]
    }


def test_the_deal_page_charts_the_units_held_and_shows_the_share_qr_code(
    api, client, dashboard, merchant, customer, venue, engine
):
    deal = api.create_deal(merchant, venue, min_commitments=3, max_commitments=6)
    commit(api, customer, deal, quantity=1)
    second = api.register("customer")
    commit(api, second, deal, quantity=1)
    client.delete(f"{API}/deals/{deal['id']}/commitments/mine", headers=second["headers"])
    page = dashboard.get(f"/merchant/deals/{deal['id']}").get_data(as_text=True)
    assert re.search(r'<polyline class="series" points="[\d., ]+"', page)
    assert "Committed now: 1; the deal tips at 3." in text_of(page)
    changes = re.findall(r"<td>([+-]\d+)</td>", page)
    assert sum(int(change) for change in changes) == 1  # the running sum is committed_count
    assert "Make a share link and QR code" in text_of(page)
    made = dashboard.post(
        f"/merchant/deals/{deal['id']}/share", form_page=f"/merchant/deals/{deal['id']}"
    )
    assert made.status_code == 303
    page = dashboard.get(f"/merchant/deals/{deal['id']}").get_data(as_text=True)
    code = scalar(engine, "SELECT code FROM shares")
    assert f'src="/s/{code}/qr.svg"' in page
    qr = client.get(f"/s/{code}/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml"


def test_another_merchants_objects_are_not_found_on_the_dashboard(
    api, client, app, merchant, venue
):
    deal = api.create_deal(merchant, venue)
    hook = client.post(
        f"{API}/webhooks", json={"url": "https://93.184.216.34/hook"}, headers=merchant["headers"]
    ).json
    intruder = signed_in(app.test_client(), api.register("merchant"))
    for path in (
        f"/merchant/deals/{deal['id']}",
        f"/merchant/deals/{deal['id']}/edit",
        f"/merchant/deals/{deal['id']}/cancel",
        f"/merchant/venues/{venue['id']}/edit",
        f"/merchant/venues/{venue['id']}/programs",
        f"/merchant/venues/{venue['id']}/checkins",
        f"/merchant/webhooks/{hook['id']}",
        f"/merchant/deals/{uuid.uuid4()}",
    ):
        assert intruder.get(path).status_code == 404, path
    token = _token(intruder, "/merchant/")
    for path in (
        f"/merchant/deals/{deal['id']}/cancel",
        f"/merchant/deals/{deal['id']}/share",
        f"/merchant/webhooks/{hook['id']}/test",
        f"/merchant/webhooks/{hook['id']}/delete",
    ):
        assert intruder.client.post(path, data={"csrf_token": token}).status_code == 404, path
    assert client.get(f"{API}/deals/{deal['id']}").json["status"] == "active"
    assert rows(app.extensions["db_engine"], "SELECT * FROM deliveries") == []


# --- vouchers ----------------------------------------------------------------------------------


def test_a_voucher_redeemed_by_typing_its_code_then_again_is_already_redeemed(
    api, client, dashboard, merchant, customer, venue
):
    deal = api.create_deal(merchant, venue, min_commitments=1)
    commit(api, customer, deal)
    code = client.get(f"{API}/me/vouchers", headers=customer["headers"]).json["items"][0]["code"]
    typed = code.lower().replace("-", " ")  # as someone might read it out
    first = dashboard.post("/merchant/redeem", {"code": typed})
    assert first.status_code == 200
    assert f"Redeemed : {code}" in page_text(first)
    again = dashboard.post("/merchant/redeem", {"code": code})
    assert again.status_code == 409
    assert "Already redeemed This code was already redeemed." in page_text(again)
    voucher = client.get(f"{API}/me/vouchers", headers=customer["headers"]).json["items"][0]
    assert voucher["status"] == "redeemed"


def test_a_void_voucher_and_an_unknown_code_say_why_they_cannot_be_redeemed(
    api, client, dashboard, merchant, customer, venue
):
    deal = api.create_deal(merchant, venue, min_commitments=1)
    commit(api, customer, deal)
    code = client.get(f"{API}/me/vouchers", headers=customer["headers"]).json["items"][0]["code"]
    client.post(f"{API}/deals/{deal['id']}/cancel", headers=merchant["headers"])
    void = dashboard.post("/merchant/redeem", {"code": code})
    assert void.status_code == 409
    assert "This code is void." in page_text(void)
    unknown = dashboard.post("/merchant/redeem", {"code": "0000-0000-0000"})
    assert unknown.status_code == 404
    assert "No such voucher." in page_text(unknown)


# --- reward programs and check-ins -------------------------------------------------------------


def test_a_reward_program_created_on_the_dashboard_is_listed_by_the_api(client, dashboard, venue):
    path = f"/merchant/venues/{venue['id']}/programs"
    missing = dashboard.post(path, {"kind": "every_nth", "title": "Punch card"})
    assert missing.status_code == 422
    assert "Required for every_nth programs." in page_text(missing)
    made = dashboard.post(path, {"kind": "every_nth", "title": "Punch card", "threshold": "5"})
    assert made.status_code == 303
    listed = client.get(f"{API}/venues/{venue['id']}/reward-programs").json["items"]
    assert [(p["kind"], p["title"], p["threshold"]) for p in listed] == [
        ("every_nth", "Punch card", 5)
    ]
    assert "Punch card" in page_text(dashboard.get(path))


def test_check_ins_per_day_count_the_counted_check_ins_of_each_venue_local_day(
    api, client, dashboard, venue
):
    for _ in range(2):
        counted_visitor(api, venue)
    page = dashboard.get(f"/merchant/venues/{venue['id']}/checkins?days=7").get_data(as_text=True)
    cells = re.findall(r'<th scope="row">([^<]+)</th>\s*<td>(\d+)</td>\s*<td>(\d+)</td>', page)
    assert len(cells) == 7
    assert [(int(checkins), int(visitors)) for _day, checkins, visitors in cells] == [
        (2, 2),
        *[(0, 0)] * 6,
    ]  # newest first: today, in Berlin


# --- webhooks ----------------------------------------------------------------------------------


def test_a_webhook_registered_on_the_dashboard_shows_its_secret_once(
    client, dashboard, merchant, engine
):
    response = dashboard.post(
        "/merchant/webhooks", {"url": "https://93.184.216.34/hook", "events": ["deal.tipped"]}
    )
    assert response.status_code == 201
    secret = scalar(engine, "SELECT secret FROM webhooks")
    assert secret in response.get_data(as_text=True)
    hook = client.get(f"{API}/webhooks", headers=merchant["headers"]).json["items"][0]
    assert hook["events"] == ["deal.tipped"]
    for path in ("/merchant/webhooks", f"/merchant/webhooks/{hook['id']}"):
        assert secret not in dashboard.get(path).get_data(as_text=True)


def test_a_webhook_to_a_private_address_is_refused_with_the_api_message(
    client, dashboard, merchant
):
    response = dashboard.post("/merchant/webhooks", {"url": "https://10.0.0.1/hook"})
    assert response.status_code == 422
    expected = api_messages(client, merchant, f"{API}/webhooks", {"url": "https://10.0.0.1/hook"})
    assert expected["url"][0] in page_text(response)


def test_text_postgresql_cannot_store_is_refused_on_its_field_as_the_api_refuses_it(
    dashboard, engine
):
    form = {"name": "Nul\x00Bar", "lat": "52.5", "lon": "13.4", "timezone": "UTC"}
    response = dashboard.post("/merchant/venues/new", form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'id="f-name-error"><p>Must not contain NUL', page)
    assert scalar(engine, "SELECT count(*) FROM venues") == 0
