"""The merchant dashboard in a real Chromium against a live gunicorn and the real PostGIS: what a
merchant does at the counter, on a tablet and on a phone, in English and German."""

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, POLL_SECONDS, WIDE
from tests.checkins_support import MUNICH
from tests.factories import from_now

HOSTILE = "<img src=x onerror=alert(1)>"
BERLIN = ZoneInfo("Europe/Berlin")


def unique_email(role: str) -> str:
    return f"{role}-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture
def merchant(http) -> dict:
    return http.register("merchant", unique_email("merchant"))


def a_deal(http, merchant, **terms) -> tuple[dict, dict]:
    venue = http.call(
        "POST",
        "/venues",
        merchant,
        201,
        json={
            "name": terms.pop("venue_name", "Café Sonntag"),
            "location": MUNICH,
            "timezone": "Europe/Berlin",
        },
    )
    body = {
        "venue_id": venue["id"],
        "title": "Brunch -30%",
        "price_cents": 1400,
        "min_commitments": 2,
        "max_commitments": 3,
        "ends_at": from_now(days=2),
        **terms,
    }
    return venue, http.call("POST", "/deals", merchant, 201, json=body)


def test_a_merchant_signs_in_creates_a_venue_by_clicking_the_map_and_then_a_deal(
    visit, http, merchant
):
    page = visit.page
    visit.go("/merchant/")
    assert page.url.startswith(visit.base_url + "/merchant/sign-in")
    visit.sign_in(merchant["account"]["email"])
    assert page.get_by_role("heading", name="Deals").is_visible()

    page.get_by_role("link", name="Venues").click()
    page.get_by_role("link", name="New venue").click()
    page.get_by_label("Name").fill("Bäckerei am Markt")
    assert page.get_by_label("Latitude").input_value() == ""
    page.locator("[data-map]").click(position={"x": 200, "y": 120})
    lat, lon = (
        page.get_by_label("Latitude").input_value(),
        page.get_by_label("Longitude").input_value(),
    )
    assert lat and lon, "clicking the map sets the pin's coordinates"
    page.get_by_label("Time zone").select_option("Europe/Berlin")
    page.get_by_role("button", name="Create venue").click()
    assert page.get_by_role("heading", name="Bäckerei am Markt").is_visible()

    page.get_by_role("link", name="New deal here").click()
    page.get_by_label("Title").fill("Sunday brunch -30 %")
    page.get_by_label("Price", exact=False).first.fill("14,90")
    page.get_by_label("Tipping point (units)").fill("20")
    page.get_by_label("Cap (units)").fill("40")
    ends = (datetime.now(BERLIN) + timedelta(days=5)).replace(hour=11, minute=0)
    page.get_by_label("Ends (required)", exact=True).fill(ends.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Create deal").click()
    assert page.get_by_role("heading", name="Sunday brunch -30 %").is_visible()
    assert page.locator("[data-status]").inner_text() == "active"

    venue = http.call("GET", "/merchant/deals", merchant)["items"][0]
    assert (venue["price_cents"], venue["min_commitments"], venue["max_commitments"]) == (
        1490,
        20,
        40,
    )
    assert datetime.fromisoformat(venue["ends_at"]).astimezone(BERLIN).hour == 11
    placed = http.call("GET", f"/venues/{venue['venue_id']}", merchant)["location"]
    assert placed == {"lat": float(lat), "lon": float(lon)}
    assert visit.foreign_requests() == [] and visit.policy_violations() == []


def test_the_progress_bar_moves_without_a_reload_as_customers_commit_and_shows_tipped(
    visit, http, merchant
):
    _venue, deal = a_deal(http, merchant)
    visit.sign_in(merchant["account"]["email"])
    page = visit.page
    visit.go("/merchant/")
    page.evaluate("window.notReloaded = true")
    box = page.locator(f'[data-deal="{deal["id"]}"]')
    assert box.locator("[data-tip]").get_attribute("value") == "0"

    first = http.register("customer", unique_email("customer"))
    http.call("POST", f"/deals/{deal['id']}/commitments", first, 201, json={"quantity": 1})
    live = POLL_SECONDS * 10_000  # ms: several polls
    expect(box.locator("[data-tip-text]")).to_have_text("1 / 2", timeout=live)
    assert box.locator("[data-tip]").evaluate("bar => bar.value") == 1
    assert box.locator("[data-status]").inner_text() == "active"

    second = http.register("customer", unique_email("customer"))
    http.call("POST", f"/deals/{deal['id']}/commitments", second, 201, json={"quantity": 1})
    expect(box.locator("[data-status]")).to_have_text("tipped", timeout=live)
    assert box.locator("[data-tip-text]").inner_text() == "2 / 2"
    assert box.locator("[data-cap]").evaluate("bar => bar.value") == 2
    assert box.locator("[data-cap-text]").inner_text() == "2 / 3"
    assert page.evaluate("window.notReloaded") is True


def test_a_voucher_redeemed_by_typing_its_code_and_a_second_time_shows_already_redeemed(
    visit, http, merchant
):
    _venue, deal = a_deal(http, merchant, min_commitments=1)
    customer = http.register("customer", unique_email("customer"))
    http.call("POST", f"/deals/{deal['id']}/commitments", customer, 201, json={})
    code = http.call("GET", "/me/vouchers", customer)["items"][0]["code"]

    visit.sign_in(merchant["account"]["email"])
    page = visit.page
    page.get_by_role("link", name="Redeem").click()
    page.get_by_label("Voucher code").fill(code.lower())
    with page.expect_navigation():
        page.get_by_label("Voucher code").press("Enter")
    assert page.get_by_role("status").inner_text().startswith("Redeemed")
    assert code in page.get_by_role("status").inner_text()

    page.get_by_label("Voucher code").fill(code)
    page.get_by_role("button", name="Redeem", exact=True).click()
    alert = page.get_by_role("alert")
    assert "Already redeemed" in alert.inner_text()
    assert "This code was already redeemed." in alert.inner_text()
    assert http.call("GET", "/me/vouchers", customer)["items"][0]["status"] == "redeemed"


def a_review(http, venue: dict, customer: dict, rating: int, text: str) -> dict:
    """A review of the venue by `customer`, who checks in there first (a verified visitor)."""
    checked_in = http.call(
        "POST",
        f"/venues/{venue['id']}/checkins",
        customer,
        201,
        json={"location": MUNICH, "accuracy_m": 10},
    )
    assert checked_in["checkin"]["counted"]
    return http.call(
        "POST",
        f"/venues/{venue['id']}/reviews",
        customer,
        201,
        json={"rating": rating, "text": text},
    )


def test_the_merchant_replies_to_a_review_from_the_venues_page(visit, http, merchant):
    venue, _deal = a_deal(http, merchant)
    customer = http.register("customer", unique_email("customer"))
    written = a_review(http, venue, customer, 2, "The coffee was cold.")
    visit.sign_in(merchant["account"]["email"])
    page = visit.page
    page.get_by_role("link", name="Venues").click()
    page.get_by_role("link", name="Reviews Café Sonntag").click()
    card = page.locator(f"#review-{written['id']}")
    assert "The coffee was cold." in card.inner_text()
    card.get_by_label("Reply").fill("Sorry! The machine is fixed: come by for one on us.")
    card.get_by_role("button", name="Send reply").click()
    card = page.locator(f"#review-{written['id']}")
    assert "Sorry! The machine is fixed" in card.locator(".reply").inner_text()
    listed = http.call("GET", f"/venues/{venue['id']}/reviews", merchant)["items"][0]
    assert listed["reply"]["text"] == "Sorry! The machine is fixed: come by for one on us."


def test_a_form_sent_without_its_csrf_token_is_refused(visit, http, merchant):
    visit.sign_in(merchant["account"]["email"])
    page = visit.page
    visit.go("/merchant/venues/new")
    page.get_by_label("Name").fill("Without a token")
    page.get_by_label("Latitude").fill("52.52")
    page.get_by_label("Longitude").fill("13.405")
    page.evaluate(
        "document.querySelectorAll('main form input[name=csrf_token]').forEach(i => i.remove())"
    )
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.get_by_role("button", name="Create venue").click()
    assert answer.value.status == 400
    assert "The CSRF token is missing." in page.locator("main").inner_text()
    visit.go("/merchant/venues")
    assert "Without a token" not in page.locator("main").inner_text()


def test_a_customer_account_cannot_sign_in_to_the_dashboard(visit, http):
    customer = http.register("customer", unique_email("customer"))
    visit.sign_in(customer["account"]["email"])
    page = visit.page
    assert page.url.startswith(visit.base_url + "/merchant/sign-in")
    assert "The dashboard is for merchant accounts" in page.get_by_role("alert").inner_text()
    visit.go("/merchant/")
    assert page.url.startswith(visit.base_url + "/merchant/sign-in")


def dashboard_pages(venue: dict, deal: dict) -> dict[str, str]:
    return {
        "deals": "/merchant/",
        "deal": f"/merchant/deals/{deal['id']}",
        "deal-new": "/merchant/deals/new",
        "deal-edit": f"/merchant/deals/{deal['id']}/edit",
        "venues": "/merchant/venues",
        "venue-new": "/merchant/venues/new",
        "programs": f"/merchant/venues/{venue['id']}/programs",
        "checkins": f"/merchant/venues/{venue['id']}/checkins",
        "reviews": f"/merchant/venues/{venue['id']}/reviews",
        "redeem": "/merchant/redeem",
        "webhooks": "/merchant/webhooks",
        "statement": "/merchant/statement",
    }


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter(e => e.type !== 'hidden' && !e.hidden && e.offsetParent !== null)
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                 && !(e.tagName === 'BUTTON' && e.textContent.trim()))
    .map(e => e.outerHTML)"""


def test_every_page_at_1280_and_375_px_is_screenshotted_readable_labelled_and_self_contained(
    open_context, http, merchant, artifacts
):
    venue, deal = a_deal(http, merchant, title=HOSTILE, venue_name=HOSTILE, description=HOSTILE)
    http.call(
        "POST",
        f"/venues/{venue['id']}/reward-programs",
        merchant,
        201,
        json={"kind": "first_visit", "title": HOSTILE},
    )
    customer = http.register("customer", unique_email("customer"))
    http.call("POST", f"/deals/{deal['id']}/commitments", customer, 201, json={})
    a_review(http, venue, customer, 2, HOSTILE)
    for viewport in (WIDE, PHONE):
        visit = open_context(viewport=viewport, locale="en-GB")
        visit.sign_in(merchant["account"]["email"])
        for name, path in dashboard_pages(venue, deal).items():
            response = visit.go(path)
            assert response.status == 200, path
            policy = response.headers["content-security-policy"]
            assert "default-src 'none'" in policy, path
            page = visit.page
            page.screenshot(path=artifacts / f"{name}-{viewport['width']}.png", full_page=True)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], f"{path} scrolls sideways at {viewport['width']} px"
            assert page.evaluate(UNLABELLED) == [], path
            no_text = ("deal-new", "venue-new", "redeem", "webhooks", "venues", "statement")
            if name not in no_text:
                assert HOSTILE in page.locator("main").inner_text(), path  # shown as text
        assert visit.dialogs == []  # nothing hostile ran
        assert visit.foreign_requests() == []
        assert visit.policy_violations() == []
        assert len(visit.requests) > 20  # pages, scripts, styles, Leaflet, QR code...


def test_the_dashboard_speaks_german_to_a_german_browser(open_context, http, merchant):
    _venue, deal = a_deal(http, merchant)
    visit = open_context(viewport=PHONE, locale="de-DE")
    visit.go("/merchant/sign-in")
    page = visit.page
    assert page.get_by_role("heading", name="Im Händlerbereich anmelden").is_visible()
    page.get_by_label("E-Mail").fill(merchant["account"]["email"])
    page.get_by_label("Passwort").fill("correct horse battery")
    page.get_by_role("button", name="Anmelden").click()
    assert page.get_by_role("link", name="Orte").is_visible()
    assert "Mindestmenge" in page.locator(f'[data-deal="{deal["id"]}"]').inner_text()
    assert "aktiv" in page.locator("[data-status]").first.inner_text()
    assert "14,00\xa0€" in page.locator("main").inner_text()
    page.get_by_role("button", name="English").click()
    assert page.get_by_role("link", name="Venues").is_visible()


def test_no_page_has_a_serious_accessibility_violation_by_axe_core(open_context, http, merchant):
    axe = pytest.importorskip("axe_playwright_python.sync_playwright", reason="axe-core for Python")
    venue, deal = a_deal(http, merchant)
    a_review(http, venue, http.register("customer", unique_email("customer")), 4, "Good bread.")
    visit = open_context(viewport=WIDE, locale="en-GB")
    found = {}
    for name in ("sign-in", "sign-up"):
        visit.go(f"/merchant/{name}")
        found[name] = _serious(axe.Axe().run(visit.page))
    visit.sign_in(merchant["account"]["email"])
    for name, path in dashboard_pages(venue, deal).items():
        visit.go(path)
        found[name] = _serious(axe.Axe().run(visit.page))
    assert {name: rules for name, rules in found.items() if rules} == {}


def _serious(results) -> list[str]:
    return [
        f"{violation['id']}: {violation['help']} ({len(violation['nodes'])}x)"
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
