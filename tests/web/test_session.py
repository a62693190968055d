"""Signing in to the dashboard: merchants only, the login limits of POST /tokens, the session
cookie's attributes, sign-out, CSRF, and the session never standing in for a bearer token."""

from tests.dashboard_support import COOKIE, Dashboard, csrf_token_of, signed_in, text_of
from tests.factories import API, PASSWORD, scalar


def session_cookie_header(response) -> str:
    """The Set-Cookie header of the dashboard's session cookie."""
    found = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE + "=")]
    assert len(found) == 1, response.headers.getlist("Set-Cookie")
    return found[0]


def test_a_merchant_signs_in_and_sees_the_deals_page(client, merchant):
    dashboard = signed_in(client, merchant)
    page = dashboard.get("/merchant/")
    assert page.status_code == 200
    assert "Sign out" in text_of(page.get_data(as_text=True))


def test_pages_send_a_visitor_who_has_not_signed_in_to_the_sign_in_page(client):
    response = client.get("/merchant/venues")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/merchant/sign-in?next=/merchant/venues")


def test_a_customer_account_cannot_sign_in_to_the_dashboard(client, customer, engine):
    tokens_before = scalar(engine, "SELECT count(*) FROM tokens")
    dashboard = Dashboard(client)
    response = dashboard.sign_in(customer["account"]["email"])
    assert response.status_code == 403
    assert "for merchant accounts" in text_of(response.get_data(as_text=True))
    assert scalar(engine, "SELECT count(*) FROM tokens") == tokens_before
    assert client.get("/merchant/").status_code == 303


def test_wrong_credentials_are_refused_with_the_message_of_post_tokens(client, merchant):
    response = Dashboard(client).sign_in(merchant["account"]["email"], "not the password")
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "Wrong email or password." in text_of(page)
    assert "not the password" not in page


def test_failed_sign_ins_count_against_the_same_limit_as_post_tokens(make_app, engine):
    limited = make_app(LOGIN_MAX_FAILURES=2, LOGIN_EMAIL_MAX_FAILURES=100)
    client = limited.test_client()
    email = "limited-merchant@example.com"
    created = client.post(
        f"{API}/accounts",
        json={
            "email": email,
            "password": "correct horse battery",
            "display_name": "M",
            "role": "merchant",
        },
    )
    assert created.status_code == 201
    dashboard = Dashboard(client)
    assert dashboard.sign_in(email, "wrong once").status_code == 401
    assert dashboard.sign_in(email, "wrong twice").status_code == 401
    refused = dashboard.sign_in(email)  # the right password, but past the limit
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    # One rule, one counter: POST /tokens from the same address is refused too.
    api_login = client.post(
        f"{API}/tokens", json={"email": email, "password": "correct horse battery"}
    )
    assert api_login.status_code == 429


def test_the_session_cookie_is_http_only_same_site_lax_and_only_sent_to_the_dashboard(
    client, merchant
):
    dashboard = Dashboard(client)
    cookie = session_cookie_header(dashboard.sign_in(merchant["account"]["email"]))
    attributes = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")}
    assert "httponly" in attributes
    assert attributes["samesite"].strip() == "SameSite=Lax"
    assert attributes["path"].strip() == "Path=/merchant"
    assert "secure" not in attributes  # plain http here


def test_the_session_cookie_is_secure_when_a_trusted_proxy_reports_https(make_app, merchant):
    behind_proxy = make_app(TRUSTED_PROXY_HOPS=1).test_client()
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    page = behind_proxy.get("/merchant/sign-in", headers=https)
    assert "Secure" in session_cookie_header(page)
    untrusted = make_app().test_client()  # without trusted proxies the header means nothing
    assert "Secure" not in session_cookie_header(untrusted.get("/merchant/sign-in", headers=https))
    configured = make_app(SESSION_COOKIE_SECURE=True).test_client()
    assert "Secure" in session_cookie_header(configured.get("/merchant/sign-in"))


def test_the_session_cookie_never_authenticates_the_json_api(client, app, merchant):
    dashboard = signed_in(client, merchant)
    cookie = dashboard.client.get_cookie(COOKIE, path="/merchant").value
    other = app.test_client()
    for path in ("/api/v1/me", "/api/v1/merchant/deals", "/api/v1/webhooks"):
        response = other.get(path, headers={"Cookie": f"{COOKIE}={cookie}"})
        assert response.status_code == 401, path
        assert "Set-Cookie" not in response.headers and "Cookie" not in response.headers.get(
            "Vary", ""
        )
    created = other.post(
        f"{API}/venues",
        json={"name": "By cookie", "location": {"lat": 52.5, "lon": 13.4}},
        headers={"Cookie": f"{COOKIE}={cookie}"},
    )
    assert created.status_code == 401


def test_signing_out_revokes_the_session_so_a_copied_cookie_stops_working(client, app, merchant):
    dashboard = signed_in(client, merchant)
    cookie = dashboard.client.get_cookie(COOKIE, path="/merchant").value
    signed_out = dashboard.post("/merchant/sign-out", form_page="/merchant/")
    assert signed_out.status_code == 303
    assert client.get("/merchant/").status_code == 303
    copy = app.test_client()
    copy.set_cookie(COOKIE, cookie, path="/merchant")
    response = copy.get("/merchant/")
    assert response.status_code == 303 and "/merchant/sign-in" in response.headers["Location"]


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(
    client, merchant, engine
):
    dashboard = signed_in(client, merchant)
    venue = {"name": "No token", "lat": "52.52", "lon": "13.405", "timezone": "Europe/Berlin"}
    refused = dashboard.client.post("/merchant/venues/new", data=venue)
    assert refused.status_code == 400
    assert "CSRF" in text_of(refused.get_data(as_text=True))
    forged = dashboard.client.post("/merchant/venues/new", data={**venue, "csrf_token": "forged"})
    assert forged.status_code == 400
    assert scalar(engine, "SELECT count(*) FROM venues") == 0
    accepted = dashboard.post("/merchant/venues/new", venue)
    assert accepted.status_code == 303
    assert scalar(engine, "SELECT count(*) FROM venues") == 1


def test_a_csrf_token_of_another_session_is_refused(client, app, merchant, engine):
    dashboard = signed_in(client, merchant)
    other = Dashboard(app.test_client())
    stolen = other.get("/merchant/sign-in").get_data(as_text=True)
    response = dashboard.client.post(
        "/merchant/venues/new",
        data={"name": "x", "lat": "1", "lon": "1", "csrf_token": csrf_token_of(stolen)},
    )
    assert response.status_code == 400
    assert scalar(engine, "SELECT count(*) FROM venues") == 0


def test_after_signing_in_the_dashboard_never_sends_anyone_to_another_site(client, merchant):
    dashboard = Dashboard(client)
    for target in ("https://evil.example/", "//evil.example/merchant/", "/api/v1/me"):
        response = dashboard.post(
            f"/merchant/sign-in?next={target}",
            {"email": merchant["account"]["email"], "password": "correct horse battery"},
        )
        assert response.headers["Location"] == "/merchant/", target
        dashboard.post("/merchant/sign-out", form_page="/merchant/")


def test_a_new_merchant_opens_an_account_on_the_dashboard_and_is_signed_in(client, engine):
    dashboard = Dashboard(client)
    opened = dashboard.post(
        "/merchant/sign-up",
        {"display_name": "Bäckerei Sonntag", "email": "Anna@Example.com", "password": PASSWORD},
    )
    assert opened.status_code == 303 and opened.headers["Location"] == "/merchant/venues/new"
    assert scalar(engine, "SELECT role FROM accounts WHERE email = 'anna@example.com'") == (
        "merchant"
    )
    assert dashboard.get("/merchant/venues/new").status_code == 200
    login = client.post(f"{API}/tokens", json={"email": "anna@example.com", "password": PASSWORD})
    assert login.status_code == 201 and login.json["account"]["role"] == "merchant"


def test_opening_an_account_shows_the_messages_of_post_accounts(client, merchant, engine):
    dashboard = Dashboard(client)
    accounts_before = scalar(engine, "SELECT count(*) FROM accounts")
    refused = dashboard.post(
        "/merchant/sign-up", {"display_name": "", "email": "not an email", "password": "short"}
    )
    assert refused.status_code == 422
    expected = client.post(
        f"{API}/accounts",
        json={"email": "not an email", "password": "short", "role": "merchant"},  # "": missing
    ).json["errors"]
    shown = text_of(refused.get_data(as_text=True))
    assert all(message in shown for messages in expected.values() for message in messages)
    taken = dashboard.post(
        "/merchant/sign-up",
        {"display_name": "Again", "email": merchant["account"]["email"], "password": PASSWORD},
    )
    assert taken.status_code == 409
    assert "An account with this email already exists." in text_of(taken.get_data(as_text=True))
    assert scalar(engine, "SELECT count(*) FROM accounts") == accounts_before
