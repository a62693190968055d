"""Nobody sees another account's location, email, vouchers or rewards: markers planted in one
customer's data are looked for in the answer of every route of the app, called by every other
kind of account (a friend who sees the shared check-in, a stranger, one who asked to be friends,
the venue's merchant, another merchant, anonymous). The same markers in the customer's own
export prove the search would find them."""

import re
import uuid

from tests.checkins_support import away
from tests.dashboard_support import signed_in
from tests.factories import API, BERLIN, fan_out_events
from tests.friends_support import ask, befriend, check_in, commit_shared, give_handle

MARK = "zq7" + uuid.uuid4().hex[:8]
SPOT = away(BERLIN, 31.7, bearing=123)  # counted: within the venue's 100 m
HOME = {"lat": 48.1371234, "lon": 11.5754321}
ACCURACY = 7.654321
# Static files: paths that take a file name, and show nobody's data.
SKIPPED = {
    "/api/docs/assets/<path:filename>",
    "/merchant/static/<path:filename>",
    "/merchant/vendor/leaflet/<path:filename>",
}
DASHBOARD = "/merchant/"
# Query arguments the searches need to answer 200.
QUERIES = {
    "/api/v1/deals/nearby": {"lat": 52.52, "lon": 13.405},
    "/api/v1/venues/nearby": {"lat": 52.52, "lon": 13.405},
    "/api/v1/deals": {"bbox": "13.3,52.4,13.5,52.6"},
}
# Calls whose success is the point of the call: the merchant redeems the code the customer
# shows at the counter.
HANDED_OVER = {
    ("m1", "POST", "/api/v1/vouchers/<string:code>/redeem"): "voucher",
    ("m1", "POST", "/api/v1/rewards/<string:code>/redeem"): "reward",
}
# Last, in this order: calls that end the caller's session.
ENDS_THE_SESSION = [("DELETE", "/api/v1/tokens/current"), ("DELETE", "/api/v1/me")]


def plant(api, app, db) -> tuple[dict, dict, dict, dict, dict]:
    """The victim's data full of markers, and the accounts that look for them; returns
    (markers by name, callers' headers by name, path values by parameter, the victim, the two
    merchants by name, for their dashboard sessions)."""
    client = api.client
    victim = api.register("customer", email=f"{MARK}-victim@example.com")
    victim["account"]["handle"] = give_handle(api, victim)
    m1, m2 = api.register("merchant"), api.register("merchant")
    friend, stranger, requester = (api.register("customer") for _ in range(3))
    befriend(api, friend, victim)
    assert ask(api, requester, victim["account"]["handle"]).status_code == 201

    venue = api.create_venue(m1, name="Café Privat")
    api.create_venue(m2, name="Other café")
    deal = api.create_deal(m1, venue, min_commitments=1, max_commitments=10, per_user_limit=3)
    program = client.post(
        f"{API}/venues/{venue['id']}/reward-programs",
        headers=m1["headers"],
        json={"kind": "first_visit", "title": "Welcome"},
    )
    assert program.status_code == 201
    checkin = check_in(
        api,
        victim,
        venue,
        share="friends",
        location=SPOT,
        accuracy_m=ACCURACY,
        message=f"{MARK}-message",
    )
    assert checkin["checkin"]["counted"] and checkin["rewards"], checkin
    commit_shared(api, victim, deal)
    review = client.post(
        f"{API}/venues/{venue['id']}/reviews",
        headers=victim["headers"],
        json={"rating": 4, "text": "Public, as every review"},
    ).json
    vouchers = client.get(f"{API}/me/vouchers", headers=victim["headers"]).json["items"]
    share = client.post(f"{API}/deals/{deal['id']}/shares", headers=victim["headers"]).json
    area = client.post(
        f"{API}/me/alert-areas",
        headers=victim["headers"],
        json={"label": f"{MARK}-home", "location": HOME, "radius_m": 2000},
    ).json
    device = client.post(
        f"{API}/me/devices",
        headers=victim["headers"],
        json={"platform": "ios", "token": f"{MARK}-device-token"},
    ).json
    webhook = client.post(
        f"{API}/webhooks", headers=m1["headers"], json={"url": "https://93.184.216.34/hook"}
    ).json
    fan_out_events(app, db)
    inbox = client.get(f"{API}/me/notifications", headers=victim["headers"]).json["items"]

    markers = {
        "email": MARK,  # also in the message, the area's label and the device token
        "location lat": repr(SPOT["lat"])[:9],
        "location lon": repr(SPOT["lon"])[:9],
        "accuracy": repr(ACCURACY),
        "home lat": repr(HOME["lat"]),
        "home lon": repr(HOME["lon"]),
        "voucher": vouchers[0]["code"],
        "reward": checkin["rewards"][0]["code"],
    }
    callers = {
        "friend": friend["headers"],
        "stranger": stranger["headers"],
        "requester": requester["headers"],
        "anonymous": {},
        "m2": m2["headers"],
        "m1": m1["headers"],  # last: it cancels the deal
    }
    values = {
        "venue_id": venue["id"],
        "deal_id": deal["id"],
        "account_id": victim["account"]["id"],
        "notification_id": inbox[0]["id"],
        "device_id": device["id"],
        "area_id": area["id"],
        "webhook_id": webhook["id"],
        "voucher_code": vouchers[0]["code"],
        "reward_code": checkin["rewards"][0]["code"],
        "share_code": share["code"],
        "review_id": review["id"],
        # Payments are offline in this app (PAYMENT_PROVIDER=none): nobody has one.
        "payment_id": str(uuid.uuid4()),
    }
    return markers, callers, values, victim, {"m1": m1, "m2": m2}


def path_for(rule, values: dict) -> str:
    """The rule's path with the victim's objects in it (a new parameter needs a value here)."""

    def value(match) -> str:
        name = match.group(1)
        if name == "code":
            return values[
                "voucher_code"
                if "/vouchers/" in rule.rule
                else "reward_code"
                if "/rewards/" in rule.rule
                else "share_code"
            ]
        return values[name]

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", value, rule.rule)


def calls(app) -> list[tuple[str, object]]:
    """(method, rule) of every route: reads first, then writes, then deletes, then the calls
    that end the caller's session."""
    found = [
        (method, rule)
        for rule in app.url_map.iter_rules()
        if rule.rule not in SKIPPED
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]
    order = {"GET": 0, "POST": 1, "PATCH": 1, "PUT": 1, "DELETE": 2}

    def rank(call):
        method, rule = call
        last = (method, rule.rule) in ENDS_THE_SESSION
        return (last, ENDS_THE_SESSION.index((method, rule.rule)) if last else order[method])

    return sorted(found, key=rank)


def test_no_route_shows_anyone_another_accounts_email_location_vouchers_or_rewards(api, app, db):
    markers, callers, values, victim, merchants = plant(api, app, db)
    export = api.client.get(f"{API}/me/export", headers=victim["headers"]).get_data(as_text=True)
    assert [name for name, marker in markers.items() if marker not in export] == []

    leaks, answered = [], set()
    for who, headers in callers.items():
        for method, rule in calls(app):
            path = path_for(rule, values)
            body = None if method in ("GET", "DELETE") else {}
            if rule.rule.endswith("/checkins"):
                body = {"location": BERLIN, "accuracy_m": 10}
            if rule.rule == "/api/v1/me/friends" and method == "POST":
                body = {"handle": victim["account"]["handle"]}
            response = api.client.open(
                path,
                method=method,
                headers=headers,
                json=body,
                query_string=QUERIES.get(rule.rule),
            )
            answered.add((method, rule.rule, response.status_code < 400))
            text = response.get_data(as_text=True)
            for name, marker in markers.items():
                if marker in text and HANDED_OVER.get((who, method, rule.rule)) != name:
                    leaks.append(f"{who}: {method} {path} -> {response.status_code} shows {name}")
    # The dashboard, signed in as each merchant: every page it reads.
    for who, merchant in merchants.items():
        dashboard = signed_in(app.test_client(), merchant)
        for method, rule in calls(app):
            if method != "GET" or not rule.rule.startswith(DASHBOARD):
                continue
            response = dashboard.get(path_for(rule, values))
            answered.add((method, rule.rule, response.status_code < 400))
            text = response.get_data(as_text=True)
            leaks += [
                f"{who} dashboard: {rule.rule} -> {response.status_code} shows {name}"
                for name, marker in markers.items()
                if marker in text
            ]
    assert leaks == []
    # The scan reached the routes where a leak would matter, not only their refusals.
    reached = {(method, rule) for method, rule, ok in answered if ok}
    for route in (
        ("GET", "/api/v1/me/feed"),
        ("GET", "/api/v1/me/friends"),
        ("GET", "/api/v1/deals/<uuid:deal_id>"),
        ("GET", "/api/v1/me/export"),
        ("GET", "/s/<string:code>"),
        ("POST", "/api/v1/me/friends"),
        ("GET", "/merchant/venues/<uuid:venue_id>/checkins"),
        ("GET", "/merchant/venues/<uuid:venue_id>/reviews"),
    ):
        assert route in reached, route
