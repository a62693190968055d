"""Share links: one per account and deal, the landing page, its QR code and counted visits."""

import io
import threading
import uuid
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import segno

from tests.factories import API, deal_body, register_over_http, rows, scalar

XSS_TITLE = "<script>alert(1)</script>"
BROWSER = {"User-Agent": "Mozilla/5.0 (test browser)"}


@pytest.fixture
def deal(api, merchant) -> dict:
    return api.create_deal(merchant, api.create_venue(merchant, name="Café <Schwarm>"))


def share(api, caller: dict, deal_id: str):
    return api.client.post(f"{API}/deals/{deal_id}/shares", headers=caller["headers"])


def visit(api, code: str, address: str = "203.0.113.7", **headers):
    return api.client.get(
        f"/s/{code}", headers={**BROWSER, **headers}, environ_base={"REMOTE_ADDR": address}
    )


def visits(engine, code: str) -> int:
    return scalar(engine, "SELECT visits FROM shares WHERE code = :code", code=code)


def test_sharing_a_deal_answers_201_then_the_same_share_with_200(api, customer, deal, app):
    first = share(api, customer, deal["id"])
    assert first.status_code == 201, first.json
    assert set(first.json) == {"code", "url", "deal_id", "created_at"}
    assert first.json["deal_id"] == deal["id"]
    assert first.json["url"] == f"{app.config['PUBLIC_BASE_URL']}/s/{first.json['code']}"
    assert len(first.json["code"]) == 8
    again = share(api, customer, deal["id"])
    assert again.status_code == 200, again.json
    assert again.json == first.json


def test_different_accounts_get_different_codes_for_one_deal(api, customer, merchant, deal):
    other = api.register("customer")
    codes = {share(api, caller, deal["id"]).json["code"] for caller in (customer, other, merchant)}
    assert len(codes) == 3


def test_sharing_an_unknown_deal_is_404(api, customer):
    response = share(api, customer, str(uuid.uuid4()))
    assert response.status_code == 404
    assert response.json["code"] == "not-found"


def test_sharing_needs_a_token(api, deal):
    assert api.client.post(f"{API}/deals/{deal['id']}/shares").status_code == 401


def test_twenty_parallel_shares_of_one_deal_by_one_account_make_one_share(live_server, engine):
    merchant, customer = register_over_http(live_server, 1, role="merchant") + register_over_http(
        live_server, 1
    )
    venue = requests.post(
        f"{live_server}{API}/venues",
        headers=merchant["headers"],
        json={"name": "Hot spot", "location": {"lat": 52.52, "lon": 13.405}},
        timeout=30,
    ).json()

    deal = requests.post(
        f"{live_server}{API}/deals",
        headers=merchant["headers"],
        json=deal_body(venue),
        timeout=30,
    ).json()
    barrier = threading.Barrier(20)

    def send(_):
        barrier.wait()
        response = requests.post(
            f"{live_server}{API}/deals/{deal['id']}/shares", headers=customer["headers"], timeout=60
        )
        return response.status_code, response.json()["code"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(send, range(20)))
    assert sorted(status for status, _ in results) == [200] * 19 + [201]
    assert len({code for _, code in results}) == 1
    assert scalar(engine, "SELECT count(*) FROM shares WHERE deal_id = :id", id=deal["id"]) == 1


def test_the_landing_page_has_the_preview_meta_tags_progress_and_app_link(api, customer, deal):
    code = share(api, customer, deal["id"]).json["code"]
    response = visit(api, code, Accept="text/html")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for tag in (
        'property="og:title"',
        'property="og:description"',
        'property="og:url"',
        'property="og:type"',
        'name="twitter:card"',
        'name="twitter:title"',
        'name="twitter:description"',
    ):
        assert tag in page
    assert f'content="http://127.0.0.1:8000/s/{code}"' in page
    assert "0 of 2 committed, 2 to go" in page
    assert "18.00 EUR" in page and "40% off 30.00 EUR" in page
    assert "Café &lt;Schwarm&gt;" in page
    assert "left)" in page
    assert f'href="schwarm://deals/{deal["id"]}?share={code}"' in page


def test_the_landing_page_escapes_a_hostile_title(api, merchant, customer):
    venue = api.create_venue(merchant)
    hostile = api.create_deal(merchant, venue, title=XSS_TITLE, description=XSS_TITLE)
    code = share(api, customer, hostile["id"]).json["code"]
    page = visit(api, code).get_data(as_text=True)
    assert XSS_TITLE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_landing_page_answers_the_deal_json_on_accept_json(api, customer, deal):
    code = share(api, customer, deal["id"]).json["code"]
    response = visit(api, code, Accept="application/json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.json == api.client.get(f"{API}/deals/{deal['id']}").json


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_an_unknown_share_code_is_404(api, accept):
    response = visit(api, "ZZZZZZZZ", Accept=accept)
    assert response.status_code == 404
    assert response.json["code"] == "not-found"
    assert api.client.get("/s/ZZZZZZZZ/qr.svg").status_code == 404


def test_the_qr_code_is_an_svg_of_the_share_url(api, customer, deal):
    created = share(api, customer, deal["id"]).json
    response = api.client.get(f"/s/{created['code']}/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    root = ElementTree.fromstring(response.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    expected = io.BytesIO()
    segno.make(created["url"], error="m").save(expected, kind="svg", scale=8, border=4)
    assert response.data == expected.getvalue()
    other = io.BytesIO()
    segno.make(created["url"] + "X", error="m").save(other, kind="svg", scale=8, border=4)
    assert response.data != other.getvalue()


def test_a_visitor_counts_once_a_day_and_another_address_counts_again(api, customer, deal, engine):
    code = share(api, customer, deal["id"]).json["code"]
    assert visit(api, code).status_code == 200
    assert visit(api, code, Accept="application/json").status_code == 200
    assert visits(engine, code) == 1
    assert visit(api, code, address="198.51.100.23").status_code == 200
    assert visits(engine, code) == 2


def test_the_same_visitor_counts_again_the_next_day(api, customer, deal, engine):
    code = share(api, customer, deal["id"]).json["code"]
    visit(api, code)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE share_visits SET day = day - 1")
    visit(api, code)
    assert visits(engine, code) == 2
    assert scalar(engine, "SELECT count(*) FROM share_visits") == 2


def test_no_raw_client_address_is_stored_for_a_visit(api, customer, deal, engine):
    code = share(api, customer, deal["id"]).json["code"]
    visit(api, code, address="192.0.2.145")
    stored = rows(engine, "SELECT share_visits::text FROM share_visits")
    assert len(stored) == 1
    assert "192.0.2.145" not in stored[0][0]


def test_my_shares_list_newest_first_with_visits_and_zero_attribution(api, customer, merchant):
    venue = api.create_venue(merchant)
    older, newer = (api.create_deal(merchant, venue) for _ in range(2))
    older_code = share(api, customer, older["id"]).json["code"]
    newer_code = share(api, customer, newer["id"]).json["code"]
    share(api, api.register("customer"), older["id"])
    visit(api, older_code)
    first = api.client.get(
        f"{API}/me/shares", query_string={"limit": 1}, headers=customer["headers"]
    )
    assert first.status_code == 200
    assert [item["code"] for item in first.json["items"]] == [newer_code]
    second = api.client.get(
        f"{API}/me/shares",
        query_string={"limit": 1, "cursor": first.json["next_cursor"]},
        headers=customer["headers"],
    )
    assert second.json["next_cursor"] is None
    (item,) = second.json["items"]
    assert item == {
        "code": older_code,
        "url": f"http://127.0.0.1:8000/s/{older_code}",
        "deal_id": older["id"],
        "visits": 1,
        "commitments": 0,
        "units": 0,
        "credit_cents": 0,
        "referral": None,
    }
