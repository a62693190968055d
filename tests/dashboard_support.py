"""Helpers for the dashboard tests: a signed-in browser-like client over the Flask test client
(CSRF tokens read from the pages, as a browser would send them), and page text."""

import html
import re
from html.parser import HTMLParser

from tests.checkins_support import MUNICH
from tests.factories import API, PASSWORD

COOKIE = "schwarm_dashboard"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
TAG = re.compile(r"<[^>]+>")


def csrf_token_of(page: str) -> str:
    """The CSRF token a dashboard page's forms carry."""
    found = CSRF_FIELD.search(page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def text_of(page: str) -> str:
    """A page's text, tags dropped and whitespace squeezed (as a reader sees it)."""
    return " ".join(html.unescape(TAG.sub(" ", page)).split())


class _FormReader(HTMLParser):
    """The fields of the page's own form (the POST form without an `action`), as a browser
    would send them unchanged."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, object] = {}
        self._inside = False
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self._inside = attributes.get("method") == "post" and "action" not in attributes
        elif not self._inside or "name" not in attributes and tag != "option":
            return
        elif tag == "input" and attributes.get("type") == "checkbox":
            if "checked" in attributes:
                self.values.setdefault(attributes["name"], []).append(attributes["value"])
        elif tag == "input":
            self.values[attributes["name"]] = attributes.get("value", "")
        elif tag == "select":
            self._select = attributes["name"]
        elif tag == "option" and self._select:
            if "selected" in attributes or self._select not in self.values:
                self.values[self._select] = attributes.get("value", "")
        elif tag == "textarea":
            self._textarea = attributes["name"]
            self.values[self._textarea] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data


def form_values(page: str) -> dict:
    """What the page's own form sends when submitted as shown (CSRF token included)."""
    reader = _FormReader()
    reader.feed(page)
    return reader.values


class Dashboard:
    """The dashboard through the Flask test client, with its session cookie and CSRF tokens."""

    def __init__(self, client):
        self.client = client

    def get(self, path: str, **kwargs):
        """GET a dashboard page."""
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, *, form_page: str | None = None, **kwargs):
        """POST a form as the page `form_page` (default: `path`) would send it, CSRF included."""
        page = self.client.get(form_page or path)
        assert page.status_code == 200, (page.status_code, page.get_data(as_text=True)[:500])
        token = csrf_token_of(page.get_data(as_text=True))
        return self.client.post(path, data={"csrf_token": token, **(data or {})}, **kwargs)

    def sign_in(self, email: str, password: str = PASSWORD):
        """Sign in through the sign-in form; the response (a redirect on success)."""
        return self.post("/merchant/sign-in", {"email": email, "password": password})


def signed_in(client, account: dict) -> Dashboard:
    """A dashboard session of `account` (from `Api.register`)."""
    dashboard = Dashboard(client)
    response = dashboard.sign_in(account["account"]["email"])
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return dashboard


def counted_visitor(api, venue: dict) -> dict:
    """A new customer with a counted check-in at `venue` (at MUNICH): a verified visitor."""
    customer = api.register("customer")
    checked_in = api.client.post(
        f"{API}/venues/{venue['id']}/checkins",
        json={"location": MUNICH, "accuracy_m": 10},
        headers=customer["headers"],
    )
    assert checked_in.json["checkin"]["counted"], checked_in.json
    return customer
