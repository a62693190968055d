"""What the dashboard's pages let a browser do: a Content-Security-Policy that allows nothing
external but map tiles, every asset from the app itself, and hostile text shown as text."""

import re

import pytest

from tests.checkins_support import MUNICH
from tests.dashboard_support import counted_visitor, signed_in
from tests.factories import API, commit

HOSTILE = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
REFERENCES = re.compile(r'\b(?:src|href|action)="([^"]*)"')


@pytest.fixture
def world(api, client, merchant, customer) -> dict:
    """A venue, a deal with a commitment, a reward program and a review with its reply, all
    written in hostile text."""
    venue = api.create_venue(
        merchant, name=HOSTILE, address=HOSTILE, category=HOSTILE, location=MUNICH
    )
    deal = api.create_deal(merchant, venue, title=HOSTILE, description=HOSTILE, min_commitments=2)
    commit(api, customer, deal)
    program = client.post(
        f"{API}/venues/{venue['id']}/reward-programs",
        json={"kind": "first_visit", "title": HOSTILE, "description": HOSTILE},
        headers=merchant["headers"],
    )
    assert program.status_code == 201
    visitor = counted_visitor(api, venue)
    reviewed = client.post(
        f"{API}/venues/{venue['id']}/reviews",
        json={"rating": 1, "text": HOSTILE},
        headers=visitor["headers"],
    )
    assert reviewed.status_code == 201
    reply = client.put(
        f"{API}/reviews/{reviewed.json['id']}/reply",
        json={"text": HOSTILE},
        headers=merchant["headers"],
    )
    assert reply.status_code == 200
    return {"venue": venue, "deal": deal}


def pages_of(world: dict) -> list[str]:
    venue, deal = world["venue"]["id"], world["deal"]["id"]
    return [
        "/merchant/",
        "/merchant/venues",
        "/merchant/venues/new",
        f"/merchant/venues/{venue}/edit",
        f"/merchant/venues/{venue}/programs",
        f"/merchant/venues/{venue}/checkins",
        f"/merchant/venues/{venue}/reviews",
        "/merchant/deals/new",
        f"/merchant/deals/{deal}",
        f"/merchant/deals/{deal}/edit",
        f"/merchant/deals/{deal}/cancel",
        "/merchant/redeem",
        "/merchant/webhooks",
    ]


def test_hostile_venue_deal_program_and_review_text_renders_as_text_on_every_page(
    client, merchant, world
):
    dashboard = signed_in(client, merchant)
    for path in pages_of(world):
        page = dashboard.get(path).get_data(as_text=True)
        assert HOSTILE not in page, path
        if "/new" not in path and path != "/merchant/redeem" and path != "/merchant/webhooks":
            assert ESCAPED in page, path


def test_every_page_carries_a_policy_that_allows_nothing_from_elsewhere(client, merchant, world):
    dashboard = signed_in(client, merchant)
    for path in [*pages_of(world), "/merchant/static/dashboard.css"]:
        response = dashboard.get(path)
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self';" in policy, path
        assert "http" not in policy and "*" not in policy, (path, policy)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in client.get("/merchant/sign-in").headers
    assert dashboard.get("/merchant/").headers["Cache-Control"] == "no-store"


def test_map_tiles_are_the_one_outside_source_a_page_may_load(make_app, api, merchant):
    tiles = "https://{s}.tiles.example.org/{z}/{x}/{y}.png"
    app = make_app(MAP_TILE_URL=tiles)
    dashboard = signed_in(app.test_client(), merchant)
    response = dashboard.get("/merchant/venues/new")
    policy = response.headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://*.tiles.example.org;" in policy
    assert policy.count("http") == 1
    page = response.get_data(as_text=True)
    assert f'data-tiles="{tiles}"' in page
    for asset in ("leaflet.js", "leaflet.css", "images/marker-icon.png"):
        served = dashboard.get(f"/merchant/vendor/leaflet/{asset}")
        assert served.status_code == 200, asset
    assert 'src="/merchant/vendor/leaflet/leaflet.js"' in page


def test_without_map_tiles_the_venue_form_asks_for_typed_coordinates_and_loads_no_map(
    client, merchant
):
    page = signed_in(client, merchant).get("/merchant/venues/new").get_data(as_text=True)
    assert "leaflet" not in page and "data-map" not in page
    assert 'id="f-lat"' in page and 'id="f-lon"' in page


def test_every_asset_and_link_of_the_pages_is_served_by_the_app(client, merchant, world):
    dashboard = signed_in(client, merchant)
    seen = set()
    for path in pages_of(world):
        for reference in REFERENCES.findall(dashboard.get(path).get_data(as_text=True)):
            if reference.startswith(("http://127.0.0.1", "schwarm:", "#", "data:")):
                continue  # the share link (PUBLIC_BASE_URL), in-page anchors, the blank icon
            assert reference.startswith("/") and not reference.startswith("//"), reference
            seen.add(reference.replace("&amp;", "&"))
    for reference in sorted(seen):
        if "/static/" in reference or reference.endswith(".svg"):
            assert dashboard.get(reference).status_code == 200, reference
    assert "/merchant/static/dashboard.js" in seen and "/merchant/static/dashboard.css" in seen
