"""Reviews on the dashboard: a venue's reviews in the API's orders, and the merchant's one reply
through the API's service, limit and messages."""

import pytest

from tests.checkins_support import MUNICH
from tests.dashboard_support import counted_visitor, csrf_token_of, signed_in, text_of
from tests.factories import API

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def venue(api, merchant) -> dict:
    return api.create_venue(merchant, timezone="Europe/Berlin", location=MUNICH)


def review(api, client, venue: dict, rating: int, text: str) -> dict:
    """A review by a new customer who checked in at the venue (a verified visitor)."""
    customer = counted_visitor(api, venue)
    written = client.post(
        f"{API}/venues/{venue['id']}/reviews",
        json={"rating": rating, "text": text},
        headers=customer["headers"],
    )
    assert written.status_code == 201, written.json
    return written.json


def reviews_path(venue: dict, **query) -> str:
    suffix = "".join(f"&{key}={value}" for key, value in query.items()).replace("&", "?", 1)
    return f"/merchant/venues/{venue['id']}/reviews{suffix}"


def test_the_merchant_replies_to_a_review_and_the_api_shows_the_reply(api, client, merchant, venue):
    written = review(api, client, venue, 2, "Cold coffee.")
    dashboard = signed_in(client, merchant)
    page = dashboard.get(reviews_path(venue)).get_data(as_text=True)
    assert "Cold coffee." in text_of(page) and "2 of 5 stars" in page
    reply = f"/merchant/venues/{venue['id']}/reviews/{written['id']}/reply"
    answered = dashboard.post(
        reply, {"text": "Sorry, the machine is fixed."}, form_page=reviews_path(venue)
    )
    assert answered.status_code == 303
    assert answered.headers["Location"].endswith(f"#review-{written['id']}")
    listed = client.get(f"{API}/venues/{venue['id']}/reviews").json["items"][0]
    assert listed["reply"]["text"] == "Sorry, the machine is fixed."
    assert listed["reply"]["edited_at"] is None
    changed = dashboard.post(
        reply, {"text": "Fixed, and a coffee on us."}, form_page=reviews_path(venue)
    )
    assert changed.status_code == 303
    listed = client.get(f"{API}/venues/{venue['id']}/reviews").json["items"][0]
    assert listed["reply"]["text"] == "Fixed, and a coffee on us."
    assert listed["reply"]["edited_at"] is not None
    assert "Fixed, and a coffee on us." in text_of(
        dashboard.get(reviews_path(venue)).get_data(True)
    )


def test_an_empty_reply_is_refused_with_the_message_the_api_gives_for_a_missing_text(
    api, client, merchant, venue
):
    written = review(api, client, venue, 5, "Lovely.")
    dashboard = signed_in(client, merchant)
    refused = dashboard.post(
        f"/merchant/venues/{venue['id']}/reviews/{written['id']}/reply",
        {"text": ""},
        form_page=reviews_path(venue),
    )
    assert refused.status_code == 422
    api_answer = client.put(
        f"{API}/reviews/{written['id']}/reply", json={}, headers=merchant["headers"]
    )
    assert api_answer.status_code == 422
    for message in api_answer.json["errors"]["text"]:
        assert message in text_of(refused.get_data(as_text=True))
    assert client.get(f"{API}/venues/{venue['id']}/reviews").json["items"][0]["reply"] is None


def test_reviews_are_listed_in_the_orders_of_the_api(api, client, merchant, venue):
    for rating, text in ((4, "Good."), (1, "Bad."), (5, "Great.")):
        review(api, client, venue, rating, text)
    dashboard = signed_in(client, merchant)
    for sort, expected in (
        ("newest", ["Great.", "Bad.", "Good."]),
        ("lowest", ["Bad.", "Good.", "Great."]),
        ("highest", ["Great.", "Good.", "Bad."]),
    ):
        shown = text_of(dashboard.get(reviews_path(venue, sort=sort)).get_data(as_text=True))
        positions = [shown.index(text) for text in expected]
        assert positions == sorted(positions), sort


def test_another_merchants_reviews_are_not_found_and_cannot_be_answered(
    api, client, app, merchant, venue
):
    written = review(api, client, venue, 3, HOSTILE)
    owner = signed_in(client, merchant)
    page = owner.get(reviews_path(venue)).get_data(as_text=True)
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    intruder = signed_in(app.test_client(), api.register("merchant"))
    assert intruder.get(reviews_path(venue)).status_code == 404
    token = csrf_token_of(intruder.get("/merchant/").get_data(as_text=True))
    refused = intruder.client.post(
        f"/merchant/venues/{venue['id']}/reviews/{written['id']}/reply",
        data={"csrf_token": token, "text": "Not my venue."},
    )
    assert refused.status_code == 404
    assert client.get(f"{API}/venues/{venue['id']}/reviews").json["items"][0]["reply"] is None
