"""Browser tests: one headless Debian Chromium per session (Playwright drives it; its own browser
download does not work here) against a live gunicorn on the test database, serving the dashboard
with map tiles from its own origin and a quick live-progress poll."""

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import free_port, gunicorn_server
from tests.factories import API, PASSWORD

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
POLL_SECONDS = 1
WIDE, PHONE = {"width": 1280, "height": 900}, {"width": 375, "height": 740}


@pytest.fixture(scope="package")
def dashboard_server(database_url):
    """A gunicorn whose dashboard shows a map (tiles from its own origin: nothing external to
    fetch here, and the CSP's tile source is then `'self'`) and polls progress every second."""
    port = free_port()
    tiles = f"http://127.0.0.1:{port}/merchant/static/tiles/{{z}}/{{x}}/{{y}}.png"
    with gunicorn_server(
        database_url,
        port,
        MAP_TILE_URL=tiles,
        DASHBOARD_POLL_SECONDS=str(POLL_SECONDS),
    ) as base_url:
        yield base_url


@pytest.fixture(scope="package")
def browser():
    """Debian's Chromium, launched once for the browser tests. Not for the whole session:
    Playwright's sync API runs an event loop in this thread while it is open, and the tests
    after these run code of their own that starts one (`asyncio.run`)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: `make browser` installs it")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


class Visit:
    """A browser page with everything it requested and every console message recorded."""

    def __init__(self, page, base_url: str):
        self.page, self.base_url = page, base_url
        self.requests: list[str] = []
        self.console: list[str] = []
        self.dialogs: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", lambda message: self.console.append(message.text))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def go(self, path: str):
        """Open a dashboard path; the main document's response."""
        return self.page.goto(self.base_url + path)

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        """Sign in with the keyboard only, as someone at the counter might."""
        self.go("/merchant/sign-in")
        self.page.get_by_label("Email").focus()
        self.page.keyboard.type(email)
        self.page.keyboard.press("Tab")
        self.page.keyboard.type(password)
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")

    def foreign_requests(self) -> list[str]:
        """Requests to anywhere but the app's own origin (data: URLs fetch nothing)."""
        origin = urlsplit(self.base_url)
        return [
            url
            for url in self.requests
            if not url.startswith("data:") and urlsplit(url)[:2] != origin[:2]
        ]

    def policy_violations(self) -> list[str]:
        """Console messages of the Content-Security-Policy refusing something."""
        return [text for text in self.console if "Content Security Policy" in text]


@pytest.fixture
def visit(browser, dashboard_server):
    """A fresh browser context (no cookies) at 1280 px, in English."""
    context = browser.new_context(viewport=WIDE, locale="en-GB")
    yield Visit(context.new_page(), dashboard_server)
    context.close()


@pytest.fixture
def open_context(browser, dashboard_server):
    """Open further contexts (another viewport or language); closed after the test."""
    contexts = []

    def make(**options) -> Visit:
        context = browser.new_context(**options)
        contexts.append(context)
        return Visit(context.new_page(), dashboard_server)

    yield make
    for context in contexts:
        context.close()


class Http:
    """The JSON API of the live server, as the apps use it."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()

    def register(self, role: str, email: str) -> dict:
        created = self.session.post(
            f"{self.base_url}{API}/accounts",
            json={"email": email, "password": PASSWORD, "display_name": role.title(), "role": role},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        token = self.session.post(
            f"{self.base_url}{API}/tokens",
            json={"email": email, "password": PASSWORD},
            timeout=30,
        ).json()["token"]
        return {"account": created.json(), "headers": {"Authorization": f"Bearer {token}"}}

    def call(self, method: str, path: str, account: dict, status: int = 200, **kwargs):
        response = self.session.request(
            method, f"{self.base_url}{API}{path}", headers=account["headers"], timeout=30, **kwargs
        )
        assert response.status_code == status, (response.status_code, response.text)
        return response.json()


@pytest.fixture
def http(dashboard_server) -> Http:
    return Http(dashboard_server)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (tests/artifacts/, ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
