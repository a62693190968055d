"""Public reads: deals, venues, reward programs and reviews answer without a token exactly as they do for
a signed-in account; a present but invalid token is 401; anonymous traffic has its own limit per
client network, which signed-in requests do not count against."""

import pytest
from sqlalchemy import text

from tests.conftest import Api
from tests.factories import API, BERLIN, commit, without_viewer

NEAR = {"lat": BERLIN["lat"], "lon": BERLIN["lon"], "radius_m": 5000}
PUBLIC_READS = [
    ("getDeal", "/deals/{deal}", None),
    ("listNearbyDeals", "/deals/nearby", NEAR),
    ("listDealsInViewport", "/deals", {"bbox": "13.3,52.4,13.5,52.6"}),
    ("getVenue", "/venues/{venue}", None),
    ("listNearbyVenues", "/venues/nearby", NEAR),
    ("listRewardPrograms", "/venues/{venue}/reward-programs", None),
    ("listVenueReviews", "/venues/{venue}/reviews", None),
]
IDS = [name for name, _, _ in PUBLIC_READS]
BAD_TOKENS = ["Bearer not-a-token", "Bearer ", "Basic dXNlcjpwYXNz", ""]


def a_shop(api: Api) -> dict:
    """A merchant's venue with a reward program, a deal a customer committed to, and that
    customer's review (after a counted check-in)."""
    merchant, customer = api.register("merchant"), api.register("customer")
    venue = api.create_venue(merchant, location=BERLIN)
    deal = api.create_deal(merchant, venue, min_commitments=5)
    assert commit(api, customer, deal).status_code == 201
    program = api.client.post(
        f"{API}/venues/{venue['id']}/reward-programs",
        headers=merchant["headers"],
        json={"kind": "first_visit", "title": "Welcome"},
    )
    assert program.status_code == 201, program.json
    checkin = api.client.post(
        f"{API}/venues/{venue['id']}/checkins",
        headers=customer["headers"],
        json={"location": BERLIN, "accuracy_m": 10},
    )
    assert checkin.json["checkin"]["counted"], checkin.json
    written = api.client.post(
        f"{API}/venues/{venue['id']}/reviews", headers=customer["headers"], json={"rating": 4}
    )
    assert written.status_code == 201, written.json
    return {"merchant": merchant, "customer": customer, "venue": venue["id"], "deal": deal["id"]}


def url(shop: dict, path: str) -> str:
    return API + path.format(venue=shop["venue"], deal=shop["deal"])


@pytest.mark.parametrize(("name", "path", "query"), PUBLIC_READS, ids=IDS)
def test_a_public_read_answers_anonymously_with_the_body_a_signed_in_account_gets(
    api, name, path, query
):
    shop = a_shop(api)
    anonymous = api.client.get(url(shop, path), query_string=query)
    assert anonymous.status_code == 200, anonymous.json
    for who in ("customer", "merchant"):
        signed_in = api.client.get(
            url(shop, path), query_string=query, headers=shop[who]["headers"]
        )
        assert signed_in.status_code == 200, signed_in.json
        assert anonymous.json == without_viewer(signed_in.json), who
    assert anonymous.json.get("items", [anonymous.json]), "the read found nothing to compare"
    assert "viewer" not in str(anonymous.json)


@pytest.mark.parametrize("authorization", BAD_TOKENS)
@pytest.mark.parametrize(("name", "path", "query"), PUBLIC_READS, ids=IDS)
def test_a_public_read_with_an_invalid_token_is_401_never_silently_anonymous(
    api, name, path, query, authorization
):
    shop = a_shop(api)
    response = api.client.get(
        url(shop, path), query_string=query, headers={"Authorization": authorization}
    )
    assert response.status_code == 401, response.json
    assert response.json["code"] == "unauthorized"


def test_a_public_read_with_a_revoked_token_is_401(api):
    shop = a_shop(api)
    headers = shop["customer"]["headers"]
    assert api.client.delete(f"{API}/tokens/current", headers=headers).status_code == 204
    response = api.client.get(url(shop, "/deals/{deal}"), headers=headers)
    assert (response.status_code, response.json["code"]) == (401, "unauthorized")


def anonymous_get(client, path: str, address: str, headers: dict | None = None):
    return client.get(
        f"{API}{path}", query_string=NEAR, headers=headers, environ_base={"REMOTE_ADDR": address}
    )


def test_the_anonymous_limit_answers_429_with_retry_after(database_url, make_app):
    client = make_app(ANONYMOUS_RATE_LIMIT=3, ANONYMOUS_RATE_WINDOW_SECONDS=60).test_client()
    statuses = [
        anonymous_get(client, "/deals/nearby", "198.51.100.7").status_code for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]
    refused = anonymous_get(client, "/venues/nearby", "198.51.100.7")
    assert (refused.status_code, refused.json["code"]) == (429, "rate-limited")
    assert refused.mimetype == "application/problem+json"
    assert 0 < int(refused.headers["Retry-After"]) <= 60


def test_the_anonymous_limit_is_per_client_address_and_signed_in_reads_do_not_count(
    database_url, make_app
):
    client = make_app(ANONYMOUS_RATE_LIMIT=2, ANONYMOUS_RATE_WINDOW_SECONDS=60).test_client()
    reader = Api(client).register("customer")
    for _ in range(5):  # signed in, from the address about to spend its anonymous budget
        assert (
            anonymous_get(client, "/deals/nearby", "198.51.100.7", reader["headers"]).status_code
            == 200
        )
    statuses = [anonymous_get(client, "/deals/nearby", "198.51.100.7").status_code for _ in "abc"]
    assert statuses == [200, 200, 429]
    assert anonymous_get(client, "/deals/nearby", "203.0.113.9").status_code == 200
    assert (
        anonymous_get(client, "/deals/nearby", "198.51.100.7", reader["headers"]).status_code == 200
    )


def test_the_anonymous_limit_counts_an_ipv6_client_by_its_64_network(database_url, make_app):
    client = make_app(ANONYMOUS_RATE_LIMIT=1, ANONYMOUS_RATE_WINDOW_SECONDS=60).test_client()
    assert anonymous_get(client, "/venues/nearby", "2001:db8:1:2::1").status_code == 200
    assert anonymous_get(client, "/venues/nearby", "2001:db8:1:2::ffff").status_code == 429
    assert anonymous_get(client, "/venues/nearby", "2001:db8:1:3::1").status_code == 200


def test_no_raw_client_address_is_stored_for_the_anonymous_limit(api, engine):
    assert anonymous_get(api.client, "/deals/nearby", "198.51.100.7").status_code == 200
    with engine.connect() as connection:
        keys = connection.execute(text("SELECT key FROM rate_limit_counters")).scalars().all()
    assert len(keys) == 1 and keys[0].startswith("anonymous:"), keys
    assert "198.51.100" not in keys[0]


def test_the_openapi_document_gives_exactly_the_public_reads_an_optional_bearer(client):
    spec = client.get(f"{API}/openapi.json").json
    optional = {
        operation["operationId"]
        for item in spec["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and {} in operation.get("security", [])
    }
    assert optional == set(IDS)
    for name in IDS:
        operation = next(
            operation
            for item in spec["paths"].values()
            for operation in item.values()
            if isinstance(operation, dict) and operation.get("operationId") == name
        )
        assert operation["security"] == [{}, {"bearerAuth": []}]
        assert {"401", "429"} <= set(operation["responses"])
