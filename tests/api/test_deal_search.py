"""Finding deals: nearby (geodesic, nearest first, paged, GeoJSON) and map viewport (bbox)."""

import json
import math
from datetime import timedelta

import pytest
from pyproj import Geod
from sqlalchemy import Engine, event, text

from core.db import in_unit_of_work
from deals import jobs, services
from geo.bbox import BBox
from tests.factories import API, commit, from_now, move_deal_to_past, rows, utcnow
from tests.nearby_support import PLACES, QUERIES, RADIUS_M, assert_nearest_first

WGS84 = Geod(ellps="WGS84")
CENTER = {"lat": 52.52, "lon": 13.405}


def geodesic_m(a: dict, b: dict) -> float:
    return WGS84.inv(a["lon"], a["lat"], b["lon"], b["lat"])[2]


@pytest.fixture
def viewer(api):
    return api.register("customer")


@pytest.fixture
def deal_at(api, merchant):
    """Create a venue at a point and a deal there: `deal_at(lat, lon, **deal_terms)`."""

    def make(lat: float, lon: float, **terms) -> dict:
        venue = api.create_venue(merchant, location={"lat": lat, "lon": lon})
        return api.create_deal(merchant, venue, **terms)

    return make


def nearby(client, who, **query):
    return client.get(f"{API}/deals/nearby", query_string=query, headers=who["headers"])


def in_bbox(client, who, bbox: str, **query):
    return client.get(f"{API}/deals", query_string={"bbox": bbox, **query}, headers=who["headers"])


def all_pages(fetch, **query) -> list[dict]:
    """Follow `next_cursor` to the end; returns every item in page order."""
    items, cursor, pages = [], None, 0
    while True:
        page = fetch(**query, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.json
        items += page.json["items"]
        cursor = page.json["next_cursor"]
        pages += 1
        assert pages < 100
        if cursor is None:
            return items


# --- nearby -------------------------------------------------------------------------------------

OFFSETS = [
    (0.0, 0.0),
    (0.01, 0.0),
    (0.0, 0.01),
    (-0.02, 0.015),
    (0.005, -0.03),
    (0.03, 0.03),
    (-0.001, 0.0002),
    (0.0, -0.04),
]


def test_nearby_lists_deals_within_the_radius_nearest_first_by_geodesic_distance(
    client, viewer, deal_at
):
    points = [{"lat": CENTER["lat"] + dlat, "lon": CENTER["lon"] + dlon} for dlat, dlon in OFFSETS]
    deals = {deal_at(**point)["id"]: point for point in points}
    far = deal_at(CENTER["lat"] + 0.1, CENTER["lon"])  # ~11 km north

    response = nearby(client, viewer, **CENTER, radius_m=5000)

    assert response.status_code == 200, response.json
    items = response.json["items"]
    expected = sorted(deals, key=lambda deal_id: geodesic_m(CENTER, deals[deal_id]))
    assert [item["id"] for item in items] == expected
    assert far["id"] not in {item["id"] for item in items}
    for item in items:
        assert item["distance_m"] == pytest.approx(geodesic_m(CENTER, deals[item["id"]]), abs=1.0)
        assert item["location"] == pytest.approx(deals[item["id"]])
    assert response.json["next_cursor"] is None


def test_the_radius_is_measured_in_metres_on_the_ellipsoid(client, viewer, deal_at):
    deal = deal_at(CENTER["lat"] + 0.03, CENTER["lon"])
    distance = geodesic_m(CENTER, deal["location"])
    inside = nearby(client, viewer, **CENTER, radius_m=math.ceil(distance) + 1).json["items"]
    outside = nearby(client, viewer, **CENTER, radius_m=math.floor(distance) - 1).json["items"]
    assert [item["id"] for item in inside] == [deal["id"]]
    assert outside == []


def test_the_default_radius_is_5_km(client, viewer, deal_at):
    within = deal_at(CENTER["lat"] + 0.044, CENTER["lon"])  # ~4.9 km
    beyond = deal_at(CENTER["lat"] + 0.046, CENTER["lon"])  # ~5.1 km
    assert geodesic_m(CENTER, within["location"]) < 5000 < geodesic_m(CENTER, beyond["location"])
    items = nearby(client, viewer, **CENTER).json["items"]
    assert [item["id"] for item in items] == [within["id"]]


def test_nearby_finds_deals_across_the_antimeridian(client, viewer, deal_at):
    here = {"lat": -17.0, "lon": 179.99}
    east = deal_at(-17.0, -179.99)  # ~2.1 km away, on the other side of 180°
    response = nearby(client, viewer, **here, radius_m=5000)
    assert [item["id"] for item in response.json["items"]] == [east["id"]]
    assert response.json["items"][0]["distance_m"] == pytest.approx(
        geodesic_m(here, east["location"]), abs=1.0
    )


def test_nearby_works_at_the_pole(client, viewer, deal_at):
    deal = deal_at(89.99, -120.0)
    pole = {"lat": 90.0, "lon": 60.0}
    items = nearby(client, viewer, **pole, radius_m=5000).json["items"]
    assert [item["id"] for item in items] == [deal["id"]]
    assert items[0]["distance_m"] == pytest.approx(geodesic_m(pole, deal["location"]), abs=1.0)


def test_nearby_answers_exactly_on_the_antimeridian_and_at_the_poles(
    client, viewer, deal_at, many_deals
):
    # `many_deals` makes the planner read the GiST index, as it does on a real database.
    places = {deal_at(lat, lon)["id"]: (lat, lon) for lat, lon in PLACES}
    for lat, lon in QUERIES:
        response = nearby(client, viewer, lat=lat, lon=lon, radius_m=RADIUS_M, limit=100)
        assert response.status_code == 200, (lat, lon, response.json)
        assert response.json["items"], (lat, lon)
        assert_nearest_first(response.json["items"], lat, lon, places)


@pytest.fixture
def deals_in_every_status(api, client, db, engine, merchant, deal_at):
    """Deals at the center in every status; only `active` and `tipped` are open."""
    made = {}
    made["closed"] = deal_at(**CENTER, title="closed", min_commitments=1)
    assert commit(api, api.register("customer"), made["closed"]).status_code == 201
    made["failed"] = deal_at(**CENTER, title="failed")
    for name in ("closed", "failed"):
        move_deal_to_past(engine, made[name]["id"])
    in_unit_of_work(db, jobs.close_deals, now=utcnow())
    made["ended-unswept"] = deal_at(**CENTER, title="ended")
    move_deal_to_past(engine, made["ended-unswept"]["id"])
    made["scheduled"] = deal_at(**CENTER, title="scheduled", starts_at=from_now(hours=1))
    made["cancelled"] = deal_at(**CENTER, title="cancelled")
    assert (
        client.post(
            f"{API}/deals/{made['cancelled']['id']}/cancel", headers=merchant["headers"]
        ).status_code
        == 200
    )
    made["active"] = deal_at(**CENTER, title="active")
    made["tipped"] = deal_at(**CENTER, title="tipped", min_commitments=1)
    assert commit(api, api.register("customer"), made["tipped"]).status_code == 201
    statuses = {
        name: client.get(f"{API}/deals/{deal['id']}", headers=merchant["headers"]).json["status"]
        for name, deal in made.items()
    }
    assert statuses == {
        "closed": "closed",
        "failed": "failed",
        "ended-unswept": "active",
        "scheduled": "scheduled",
        "cancelled": "cancelled",
        "active": "active",
        "tipped": "tipped",
    }
    return made


def test_nearby_lists_only_open_deals(client, viewer, deals_in_every_status):
    items = nearby(client, viewer, **CENTER).json["items"]
    expected = {deals_in_every_status[name]["id"] for name in ("active", "tipped")}
    assert {item["id"] for item in items} == expected


def test_the_viewport_lists_only_open_deals(client, viewer, deals_in_every_status):
    items = in_bbox(client, viewer, "13.3,52.4,13.5,52.6").json["items"]
    expected = {deals_in_every_status[name]["id"] for name in ("active", "tipped")}
    assert {item["id"] for item in items} == expected


OUT_OF_RANGE = [  # (query changes, the argument the 422 must name); None drops the argument
    ({"radius_m": 0}, "radius_m"),
    ({"radius_m": -5}, "radius_m"),
    ({"radius_m": 50001}, "radius_m"),
    ({"radius_m": "nan"}, "radius_m"),
    ({"radius_m": "far"}, "radius_m"),
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
    ({"lat": 90.5}, "lat"),
    ({"lat": "inf"}, "lat"),
    ({"lon": -180.5}, "lon"),
    ({"lat": None}, "lat"),
    ({"lon": None}, "lon"),
    ({"cursor": "not-our-cursor"}, "cursor"),
]


def test_nearby_refuses_out_of_range_arguments(client, viewer):
    for changes, field in OUT_OF_RANGE:
        query = {key: value for key, value in {**CENTER, **changes}.items() if value is not None}
        response = nearby(client, viewer, **query)
        assert response.status_code == 422, changes
        assert response.json["code"] == "validation-error"
        assert any(key.endswith(field) for key in response.json["errors"]), (changes, response.json)


def test_nearby_accepts_the_largest_radius_and_limit(client, viewer):
    response = nearby(client, viewer, **CENTER, radius_m=50000, limit=100)
    assert response.status_code == 200
    assert response.json == {"items": [], "next_cursor": None}


def test_nearby_pages_have_no_duplicates_or_gaps_even_at_identical_locations(
    api, client, viewer, merchant
):
    expected = []
    for dlat, dlon, count in [(0.0, 0.0, 4), (0.01, 0.01, 5), (-0.01, -0.01, 1), (0.02, 0.0, 3)]:
        venue = api.create_venue(
            merchant, location={"lat": CENTER["lat"] + dlat, "lon": CENTER["lon"] + dlon}
        )
        expected += [api.create_deal(merchant, venue)["id"] for _ in range(count)]

    paged = all_pages(lambda **q: nearby(client, viewer, **q), **CENTER, limit=4)
    whole = nearby(client, viewer, **CENTER, limit=100).json["items"]

    assert [item["id"] for item in paged] == [item["id"] for item in whole]
    assert len(paged) == len({item["id"] for item in paged}) == len(expected) == 13
    assert {item["id"] for item in paged} == set(expected)
    keys = [(item["distance_m"], item["id"]) for item in paged]
    assert keys == sorted(keys)


def test_a_crowd_of_deals_at_one_spot_pages_exactly_through_the_fallback_query(
    api, engine, client, viewer, merchant, captured_sql
):
    venue = api.create_venue(merchant, location=CENTER)
    expected = {api.create_deal(merchant, venue)["id"] for _ in range(30)}

    paged = all_pages(lambda **q: nearby(client, viewer, **q), **CENTER, limit=2)

    assert [item["id"] for item in paged] == sorted(expected)  # equal distances: by id
    # 30 equal distances exceed the KNN candidates of a 2-item page: the exact query answered.
    assert [s for s, _ in captured_sql if "ST_DWithin" in s]


# --- GeoJSON -------------------------------------------------------------------------------------


def test_nearby_as_geojson_is_a_valid_rfc7946_feature_collection_with_lon_lat_order(
    client, viewer, deal_at
):
    first = deal_at(52.52, 13.405)
    second = deal_at(52.53, 13.42)

    response = client.get(
        f"{API}/deals/nearby",
        query_string={**CENTER, "limit": 1},
        headers={**viewer["headers"], "Accept": "application/geo+json"},
    )

    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    collection = json.loads(response.get_data(as_text=True))
    assert collection["type"] == "FeatureCollection"
    assert "crs" not in collection  # RFC 7946 §4: no CRS member; WGS84 lon/lat is implied
    assert isinstance(collection["features"], list) and len(collection["features"]) == 1
    feature = collection["features"][0]
    assert feature["type"] == "Feature"
    assert feature["id"] == first["id"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [13.405, 52.52]}
    assert isinstance(feature["properties"], dict)
    assert feature["properties"]["distance_m"] == pytest.approx(0.0, abs=0.01)
    assert feature["properties"]["title"] == first["title"]
    assert collection["next_cursor"]

    rest = client.get(
        f"{API}/deals/nearby",
        query_string={**CENTER, "limit": 1, "cursor": collection["next_cursor"]},
        headers={**viewer["headers"], "Accept": "application/geo+json"},
    ).json
    assert [f["id"] for f in rest["features"]] == [second["id"]]
    lon, lat = rest["features"][0]["geometry"]["coordinates"]
    assert (lon, lat) == (13.42, 52.53)
    assert rest["features"][0]["properties"]["distance_m"] == pytest.approx(
        geodesic_m(CENTER, {"lat": 52.53, "lon": 13.42}), abs=1.0
    )


def test_nearby_answers_plain_json_unless_geojson_is_asked_for(client, viewer, deal_at):
    deal_at(**CENTER)
    response = nearby(client, viewer, **CENTER)
    assert response.mimetype == "application/json"
    assert "items" in response.json


# --- bbox ----------------------------------------------------------------------------------------


def test_the_viewport_lists_only_deals_inside_the_box(client, viewer, deal_at):
    inside = {
        deal_at(52.52, 13.405)["id"],
        deal_at(52.45, 13.31)["id"],
        deal_at(52.59, 13.49)["id"],
    }
    for lat, lon in [
        (52.52, 13.6),
        (52.7, 13.405),
        (52.39, 13.4),
        (48.137, 11.575),
        (-52.52, -13.405),
    ]:
        deal_at(lat, lon)

    response = in_bbox(client, viewer, "13.3,52.4,13.5,52.6")

    assert response.status_code == 200, response.json
    assert {item["id"] for item in response.json["items"]} == inside


def test_a_viewport_with_min_lon_above_max_lon_crosses_the_antimeridian(client, viewer, deal_at):
    west_of_180 = deal_at(0.0, 179.5)
    east_of_180 = deal_at(0.0, -179.5)
    for lat, lon in [(0.0, 0.0), (0.0, 178.5), (0.0, -178.5), (20.0, 179.5)]:
        deal_at(lat, lon)

    response = in_bbox(client, viewer, "179,-10,-179,10")

    assert response.status_code == 200, response.json
    assert {item["id"] for item in response.json["items"]} == {west_of_180["id"], east_of_180["id"]}


MALFORMED_BBOXES = [
    "",
    "1,2,3",
    "1,2,3,4,5",
    "a,b,c,d",
    "0,10,1,5",
    "181,0,182,1",
    "0,-91,1,0",
    "nan,0,1,1",
    "0,0,inf,1",
    "13.3;52.4;13.5;52.6",
]


def test_a_malformed_viewport_is_refused(client, viewer):
    for bbox in MALFORMED_BBOXES:
        response = in_bbox(client, viewer, bbox)
        assert response.status_code == 422, bbox
        assert "bbox" in " ".join(response.json["errors"]), (bbox, response.json)


def test_a_viewport_is_required(client, viewer):
    response = client.get(f"{API}/deals", headers=viewer["headers"])
    assert response.status_code == 422


def test_viewport_pages_have_no_duplicates_or_gaps(api, client, viewer, merchant):
    venue = api.create_venue(merchant, location=CENTER)
    other = api.create_venue(merchant, location={"lat": 52.45, "lon": 13.35})
    expected = {api.create_deal(merchant, venue)["id"] for _ in range(4)}
    expected |= {api.create_deal(merchant, other)["id"] for _ in range(3)}

    paged = all_pages(lambda **q: in_bbox(client, viewer, **q), bbox="13.3,52.4,13.5,52.6", limit=3)

    ids = [item["id"] for item in paged]
    assert len(ids) == len(set(ids)) == 7
    assert set(ids) == expected


# --- the spatial indexes are used -----------------------------------------------------------------

BULK_DEALS = 12_000


@pytest.fixture
def many_deals(api, engine, merchant):
    """>= 10k open deals spread over central Europe (plus some closed ones), analysed."""
    venue = api.create_venue(merchant, location=CENTER)
    with engine.begin() as connection:
        connection.execute(
            text("""
            INSERT INTO deals (venue_id, merchant_id, title, price_cents, currency, location,
                               min_commitments, status, starts_at, ends_at, redeem_until)
            SELECT :venue, :merchant, 'Bulk ' || n, 1000, 'EUR',
                   ST_SetSRID(ST_MakePoint(5 + random() * 10, 45 + random() * 10), 4326)::geography,
                   1, CASE WHEN n % 10 = 0 THEN 'failed' ELSE 'active' END,
                   now() - interval '1 hour', now() + interval '1 day', now() + interval '91 days'
              FROM generate_series(1, :count) AS n"""),
            {"venue": venue["id"], "merchant": merchant["account"]["id"], "count": BULK_DEALS},
        )
        connection.execute(text("ANALYZE deals"))
    return BULK_DEALS


@pytest.fixture
def captured_sql():
    """Every statement any engine (requests read through their own) sends that reads deals."""
    captured = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM deals" in statement:
            captured.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", capture)
    yield captured
    event.remove(Engine, "before_cursor_execute", capture)


def index_names(plan: dict) -> set[str]:
    names = set()
    if "Index Name" in plan:
        names.add(plan["Index Name"])
    for child in plan.get("Plans", []):
        names |= index_names(child)
    return names


def explain(engine, statement: str, parameters) -> dict:
    with engine.connect() as connection:
        result = connection.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) " + statement, parameters
        ).scalar()
    return (result if isinstance(result, list) else json.loads(result))[0]["Plan"]


def test_nearby_search_uses_the_partial_gist_index_on_location(
    db, engine, many_deals, captured_sql
):
    found = services.nearby_deals(
        session=db, lat=50.0, lon=10.0, radius_m=20_000, limit=21, now=utcnow()
    )
    assert found, "expected some of the random deals within 20 km"
    # One KNN query answers (no fallback to the exact ST_DWithin + sort query).
    assert not [s for s, _ in captured_sql if "ST_DWithin" in s]
    ((statement, parameters),) = [(s, p) for s, p in captured_sql if "<->" in s]

    plan = explain(engine, statement, parameters)

    assert "ix_deals_open_location" in index_names(plan), json.dumps(plan, indent=1)


def test_viewport_search_uses_the_partial_gist_index_on_geometry(
    db, engine, many_deals, captured_sql
):
    services.deals_in_bbox(session=db, bbox=BBox(9.8, 49.8, 10.2, 50.2), limit=21, now=utcnow())
    ((statement, parameters),) = [(s, p) for s, p in captured_sql if "ST_Intersects" in s]

    plan = explain(engine, statement, parameters)

    assert "ix_deals_open_geometry" in index_names(plan), json.dumps(plan, indent=1)


def test_an_antimeridian_viewport_also_uses_the_geometry_index(
    db, engine, many_deals, captured_sql
):
    services.deals_in_bbox(
        session=db, bbox=BBox(179.0, -10.0, -179.0, 10.0), limit=21, now=utcnow()
    )
    ((statement, parameters),) = [(s, p) for s, p in captured_sql if "ST_Intersects" in s]

    plan = explain(engine, statement, parameters)

    assert "ix_deals_open_geometry" in index_names(plan), json.dumps(plan, indent=1)


def test_nearby_search_through_http_finds_the_same_deals_as_a_brute_force_scan(
    client, engine, viewer, many_deals
):
    here = {"lat": 50.0, "lon": 10.0}
    brute = [
        str(row.id)
        for row in rows(
            engine,
            """
            SELECT id FROM deals, (SELECT 'SRID=4326;POINT(10 50)'::geography AS here) AS target
             WHERE status IN ('active', 'tipped')
               AND ST_Distance(location, here, true) <= 20000
             ORDER BY ST_Distance(location, here, true), id""",
        )
    ]
    assert brute

    paged = all_pages(lambda **q: nearby(client, viewer, **q), **here, radius_m=20000, limit=100)

    assert [item["id"] for item in paged] == brute


def test_a_deal_ending_now_drops_out_of_search(client, engine, viewer, deal_at):
    deal = deal_at(**CENTER)
    move_deal_to_past(engine, deal["id"], ended_ago=timedelta(microseconds=1))
    assert nearby(client, viewer, **CENTER).json["items"] == []
    assert in_bbox(client, viewer, "13.3,52.4,13.5,52.6").json["items"] == []
