"""Venues: create, read, patch (owner only), nearby search against a reference geodesic."""

import random
import uuid

import pytest
from pyproj import Geod
from sqlalchemy import text

from tests.nearby_support import PLACES, QUERIES, RADIUS_M, assert_nearest_first

VENUES = "/api/v1/venues"
NEARBY = "/api/v1/venues/nearby"
GEOD = Geod(ellps="WGS84")


def geodesic_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Reference distance on the WGS84 ellipsoid (Karney's algorithm, via PROJ)."""
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def nearby(client, headers, **params):
    return client.get(NEARBY, query_string=params, headers=headers)


def walk_nearby(client, headers, **params) -> list[dict]:
    """Every item of a nearby search, following `next_cursor` to the end."""
    items, cursor = [], None
    for _ in range(1000):
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = nearby(client, headers, **query)
        assert response.status_code == 200, response.json
        assert len(response.json["items"]) <= params.get("limit", 20)
        items.extend(response.json["items"])
        cursor = response.json["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination never ended")


# --- create / get / patch --------------------------------------------------------------------


def test_a_merchant_creates_a_venue_with_defaults_and_reads_it_back(api, client):
    merchant = api.register("merchant")
    response = client.post(
        VENUES,
        headers=merchant["headers"],
        json={
            "name": "Kiezkneipe",
            "location": {"lat": 52.4986, "lon": 13.4183},
        },
    )
    assert response.status_code == 201
    venue = response.json
    assert venue["merchant_id"] == merchant["account"]["id"]
    assert venue["name"] == "Kiezkneipe"
    assert venue["location"] == {"lat": 52.4986, "lon": 13.4183}
    assert venue["checkin_radius_m"] == 100
    assert venue["timezone"] == "UTC"
    assert venue["address"] is None and venue["category"] is None
    assert venue["created_at"].endswith("Z")
    uuid.UUID(venue["id"])

    customer = api.register("customer")
    fetched = client.get(f"{VENUES}/{venue['id']}", headers=customer["headers"])
    assert fetched.status_code == 200
    assert fetched.json == venue


def test_a_venue_keeps_every_optional_field_it_was_created_with(api):
    merchant = api.register("merchant")
    venue = api.create_venue(
        merchant,
        address="Oranienstr. 1, Berlin",
        category="bar",
        checkin_radius_m=250,
        timezone="Europe/Berlin",
        location={"lat": -33.8688, "lon": 151.2093},
    )
    assert venue["address"] == "Oranienstr. 1, Berlin"
    assert venue["category"] == "bar"
    assert venue["checkin_radius_m"] == 250
    assert venue["timezone"] == "Europe/Berlin"
    assert venue["location"] == {"lat": -33.8688, "lon": 151.2093}


def test_a_customer_cannot_create_a_venue(api, client, engine):
    customer = api.register("customer")
    response = client.post(
        VENUES,
        headers=customer["headers"],
        json={
            "name": "Sneaky",
            "location": {"lat": 1, "lon": 2},
        },
    )
    assert response.status_code == 403
    assert response.json["code"] == "forbidden"
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM venues")).scalar_one() == 0


@pytest.mark.parametrize("field", ["id", "merchant_id", "created_at", "distance_m"])
def test_server_owned_fields_cannot_be_set_on_create(api, client, field):
    merchant = api.register("merchant")
    response = client.post(
        VENUES,
        headers=merchant["headers"],
        json={
            "name": "X",
            "location": {"lat": 1, "lon": 2},
            field: str(uuid.uuid4()),
        },
    )
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_getting_an_unknown_venue_is_404(api, client):
    customer = api.register("customer")
    response = client.get(f"{VENUES}/{uuid.uuid4()}", headers=customer["headers"])
    assert response.status_code == 404
    assert response.json["code"] == "not-found"


def test_the_owner_patches_only_the_fields_sent(api, client):
    merchant = api.register("merchant")
    venue = api.create_venue(merchant, address="Old street 1", category="cafe")
    response = client.patch(
        f"{VENUES}/{venue['id']}",
        headers=merchant["headers"],
        json={
            "name": "Neuer Name",
            "category": None,
            "checkin_radius_m": 300,
            "timezone": "America/New_York",
            "location": {"lat": 40.7128, "lon": -74.006},
        },
    )
    assert response.status_code == 200
    patched = response.json
    assert patched["name"] == "Neuer Name"
    assert patched["category"] is None
    assert patched["address"] == "Old street 1"
    assert patched["checkin_radius_m"] == 300
    assert patched["timezone"] == "America/New_York"
    assert patched["location"] == {"lat": 40.7128, "lon": -74.006}
    assert patched["id"] == venue["id"] and patched["created_at"] == venue["created_at"]
    assert client.get(f"{VENUES}/{venue['id']}", headers=merchant["headers"]).json == patched


def test_a_moved_venue_is_found_at_its_new_location_only(api, client):
    merchant = api.register("merchant")
    venue = api.create_venue(merchant, location={"lat": 52.52, "lon": 13.405})
    client.patch(
        f"{VENUES}/{venue['id']}",
        headers=merchant["headers"],
        json={"location": {"lat": 48.1372, "lon": 11.5755}},
    )
    at_old = nearby(client, merchant["headers"], lat=52.52, lon=13.405, radius_m=1000)
    at_new = nearby(client, merchant["headers"], lat=48.1372, lon=11.5755, radius_m=1000)
    assert at_old.json["items"] == []
    assert [item["id"] for item in at_new.json["items"]] == [venue["id"]]


def test_another_merchant_gets_404_when_patching_a_venue_and_it_stays_unchanged(api, client):
    owner = api.register("merchant")
    other = api.register("merchant")
    venue = api.create_venue(owner)
    response = client.patch(
        f"{VENUES}/{venue['id']}", headers=other["headers"], json={"name": "Hijacked"}
    )
    assert response.status_code == 404
    assert response.json["code"] == "not-found"
    unchanged = client.get(f"{VENUES}/{venue['id']}", headers=owner["headers"]).json
    assert unchanged["name"] == venue["name"]


def test_a_customer_patching_a_venue_is_forbidden(api, client):
    venue = api.create_venue(api.register("merchant"))
    customer = api.register("customer")
    response = client.patch(
        f"{VENUES}/{venue['id']}", headers=customer["headers"], json={"name": "Mine now"}
    )
    assert response.status_code == 403
    assert response.json["code"] == "forbidden"


@pytest.mark.parametrize(
    "change",
    [
        {"name": None},
        {"name": ""},
        {"location": None},
        {"location": {"lat": 91, "lon": 0}},
        {"checkin_radius_m": None},
        {"timezone": None},
        {"merchant_id": str(uuid.uuid4())},
    ],
)
def test_patching_with_an_invalid_value_is_422_and_changes_nothing(api, client, change):
    merchant = api.register("merchant")
    venue = api.create_venue(merchant)
    response = client.patch(f"{VENUES}/{venue['id']}", headers=merchant["headers"], json=change)
    assert response.status_code == 422
    assert response.json["code"] == "validation-error"
    assert client.get(f"{VENUES}/{venue['id']}", headers=merchant["headers"]).json == venue


@pytest.mark.parametrize(
    "zone",
    ["Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC", "Asia/Kolkata", "Pacific/Chatham"],
)
def test_iana_time_zones_are_accepted(api, zone):
    assert api.create_venue(api.register("merchant"), timezone=zone)["timezone"] == zone


@pytest.mark.parametrize(
    "zone",
    [
        "Mars/Olympus_Mons",
        "CEST",
        "Europe/Berlin ",
        "europe/berlin",
        "",
        "Europe",
        "Europe/",
        "../../etc/passwd",
        "/etc/localtime",
        "localtime",
        "posixrules",
        "posix/Europe/Berlin",
        "right/UTC",
        "zone.tab",
        "+01:00",
        "x" * 65,
    ],
)
def test_anything_but_an_iana_time_zone_is_rejected(api, client, zone):
    merchant = api.register("merchant")
    response = client.post(
        VENUES,
        headers=merchant["headers"],
        json={
            "name": "X",
            "location": {"lat": 1, "lon": 2},
            "timezone": zone,
        },
    )
    assert response.status_code == 422
    assert "timezone" in response.json["errors"]


def test_patching_in_an_unknown_time_zone_is_rejected(api, client):
    merchant = api.register("merchant")
    venue = api.create_venue(merchant, timezone="Europe/Berlin")
    response = client.patch(
        f"{VENUES}/{venue['id']}", headers=merchant["headers"], json={"timezone": "Europe/Atlantis"}
    )
    assert response.status_code == 422
    assert "timezone" in response.json["errors"]


@pytest.mark.parametrize("radius", [10, 11, 999, 1000])
def test_checkin_radius_within_10_to_1000_is_accepted(api, radius):
    venue = api.create_venue(api.register("merchant"), checkin_radius_m=radius)
    assert venue["checkin_radius_m"] == radius


@pytest.mark.parametrize("radius", [9, 0, -100, 1001, 100000, 50.5, "abc", True])
def test_checkin_radius_outside_10_to_1000_or_not_a_whole_number_is_rejected(api, client, radius):
    merchant = api.register("merchant")
    response = client.post(
        VENUES,
        headers=merchant["headers"],
        json={
            "name": "X",
            "location": {"lat": 1, "lon": 2},
            "checkin_radius_m": radius,
        },
    )
    assert response.status_code == 422
    assert "checkin_radius_m" in response.json["errors"]


def test_patching_checkin_radius_out_of_bounds_is_rejected(api, client):
    merchant = api.register("merchant")
    venue = api.create_venue(merchant)
    for radius in (9, 1001):
        response = client.patch(
            f"{VENUES}/{venue['id']}",
            headers=merchant["headers"],
            json={"checkin_radius_m": radius},
        )
        assert response.status_code == 422
        assert "checkin_radius_m" in response.json["errors"]


# --- nearby ------------------------------------------------------------------------------------


def test_nearby_answers_exactly_on_the_antimeridian_and_at_the_poles(api, client):
    merchant = api.register("merchant")
    places = {}
    for lat, lon in PLACES:
        venue = api.create_venue(merchant, location={"lat": lat, "lon": lon})
        places[venue["id"]] = (lat, lon)
    for lat, lon in QUERIES:
        items = walk_nearby(
            client, merchant["headers"], lat=lat, lon=lon, radius_m=RADIUS_M, limit=3
        )
        assert items, (lat, lon)
        assert_nearest_first(items, lat, lon, places)


def test_nearby_order_and_distances_agree_with_a_reference_geodesic(api, client):
    rng = random.Random(20261123)
    merchant = api.register("merchant")
    venues = {}
    # three clusters at random latitudes/longitudes (one near the antimeridian), 10 venues each
    centers = [(rng.uniform(-70, 70), rng.uniform(-180, 180)) for _ in range(2)]
    centers.append((rng.uniform(-60, 60), 179.9))
    compared = 0
    for center_lat, center_lon in centers:
        for _ in range(10):
            lon, lat, _back = GEOD.fwd(
                center_lon, center_lat, rng.uniform(0, 360), rng.uniform(0, 30000)
            )
            venue = api.create_venue(merchant, location={"lat": lat, "lon": lon})
            venues[venue["id"]] = venue["location"]

    for center_lat, center_lon in centers:
        for _ in range(4):
            lon, lat, _back = GEOD.fwd(
                center_lon, center_lat, rng.uniform(0, 360), rng.uniform(0, 15000)
            )
            radius = rng.choice([50000, rng.uniform(2000, 40000)])
            reference = {
                venue_id: geodesic_m(lat, lon, where["lat"], where["lon"])
                for venue_id, where in venues.items()
            }
            response = nearby(
                client, merchant["headers"], lat=lat, lon=lon, radius_m=radius, limit=100
            )
            assert response.status_code == 200
            items = response.json["items"]
            assert response.json["next_cursor"] is None
            found = [item["id"] for item in items]

            # the same set as the reference (leaving out venues within 1 m of the edge)
            assert len(found) == len(set(found))
            must = {v for v, d in reference.items() if d <= radius - 1}
            may = {v for v, d in reference.items() if d <= radius + 1}
            assert must <= set(found) <= may
            # every distance within 1 m of the reference, nearest first
            for item in items:
                assert abs(item["distance_m"] - reference[item["id"]]) < 1.0, item
                compared += 1
            distances = [item["distance_m"] for item in items]
            assert distances == sorted(distances)
            reference_order = [reference[venue_id] for venue_id in found]
            assert all(b >= a - 1.0 for a, b in zip(reference_order, reference_order[1:]))
    assert len(venues) == 30
    assert compared >= 60  # the searches really found venues to compare


@pytest.mark.parametrize("venue_lon, search_lon", [(179.9995, -179.9995), (-179.9995, 179.9995)])
def test_a_search_across_the_antimeridian_finds_the_venue_on_the_other_side(
    api, client, venue_lon, search_lon
):
    merchant = api.register("merchant")
    venue = api.create_venue(merchant, location={"lat": -16.5, "lon": venue_lon})
    far = api.create_venue(merchant, location={"lat": -16.5, "lon": 0.0})
    response = nearby(client, merchant["headers"], lat=-16.5, lon=search_lon, radius_m=500)
    assert response.status_code == 200
    items = response.json["items"]
    assert [item["id"] for item in items] == [venue["id"]]
    assert far["id"] not in [item["id"] for item in items]
    expected = geodesic_m(-16.5, search_lon, -16.5, venue_lon)
    assert expected < 120
    assert abs(items[0]["distance_m"] - expected) < 1.0


def test_a_search_near_the_pole_finds_a_venue_on_the_opposite_meridian(api, client):
    merchant = api.register("merchant")
    venue = api.create_venue(merchant, location={"lat": 89.9995, "lon": 0.0})
    response = nearby(client, merchant["headers"], lat=89.9995, lon=180.0, radius_m=500)
    assert [item["id"] for item in response.json["items"]] == [venue["id"]]
    expected = geodesic_m(89.9995, 180.0, 89.9995, 0.0)
    assert abs(response.json["items"][0]["distance_m"] - expected) < 1.0


def test_a_venue_just_outside_the_radius_is_not_returned(api, client):
    merchant = api.register("merchant")
    lon, lat, _ = GEOD.fwd(13.405, 52.52, 90, 1010)
    api.create_venue(merchant, location={"lat": lat, "lon": lon})
    inside = nearby(client, merchant["headers"], lat=52.52, lon=13.405, radius_m=1020)
    outside = nearby(client, merchant["headers"], lat=52.52, lon=13.405, radius_m=1000)
    assert len(inside.json["items"]) == 1
    assert outside.json["items"] == []


def test_nearby_uses_a_5_km_radius_by_default(api, client):
    merchant = api.register("merchant")
    for distance in (4900, 5100):
        lon, lat, _ = GEOD.fwd(13.405, 52.52, 0, distance)
        api.create_venue(merchant, name=f"at {distance}", location={"lat": lat, "lon": lon})
    response = nearby(client, merchant["headers"], lat=52.52, lon=13.405)
    assert [item["name"] for item in response.json["items"]] == ["at 4900"]


@pytest.mark.parametrize("radius", [0, -1, 0.5, 50000.5, 50001, 1e9, "nan", "inf", "far"])
def test_a_radius_outside_1_to_50000_m_is_rejected(api, client, radius):
    customer = api.register("customer")
    response = nearby(client, customer["headers"], lat=52.5, lon=13.4, radius_m=radius)
    assert response.status_code == 422
    assert "radius_m" in response.json["errors"]


@pytest.mark.parametrize("radius", [1, 50000])
def test_the_radius_bounds_themselves_are_accepted(api, client, radius):
    customer = api.register("customer")
    response = nearby(client, customer["headers"], lat=52.5, lon=13.4, radius_m=radius)
    assert response.status_code == 200


@pytest.mark.parametrize("limit", [0, -1, 101, 1000, "ten"])
def test_a_limit_outside_1_to_100_is_rejected(api, client, limit):
    customer = api.register("customer")
    response = nearby(client, customer["headers"], lat=52.5, lon=13.4, limit=limit)
    assert response.status_code == 422
    assert "limit" in response.json["errors"]


@pytest.mark.parametrize("limit", [1, 100])
def test_the_limit_bounds_themselves_are_accepted(api, client, limit):
    customer = api.register("customer")
    assert nearby(client, customer["headers"], lat=52.5, lon=13.4, limit=limit).status_code == 200


def test_the_limit_caps_the_page_and_offers_a_cursor(api, client):
    merchant = api.register("merchant")
    for _ in range(3):
        api.create_venue(merchant)
    response = nearby(client, merchant["headers"], lat=52.52, lon=13.405, limit=2)
    assert len(response.json["items"]) == 2
    assert response.json["next_cursor"]


def test_cursor_pagination_walks_every_venue_once_even_at_identical_distances(api, client):
    merchant = api.register("merchant")
    rng = random.Random(5)
    created = set()
    # seven venues on the very same spot, four on another identical spot, five scattered
    for _ in range(7):
        created.add(api.create_venue(merchant, location={"lat": 52.5, "lon": 13.4})["id"])
    for _ in range(4):
        created.add(api.create_venue(merchant, location={"lat": 52.51, "lon": 13.41})["id"])
    for _ in range(5):
        lon, lat, _ = GEOD.fwd(13.4, 52.5, rng.uniform(0, 360), rng.uniform(10, 3000))
        created.add(api.create_venue(merchant, location={"lat": lat, "lon": lon})["id"])

    for limit in (1, 2, 3, 5, 16, 100):
        items = walk_nearby(
            client, merchant["headers"], lat=52.5, lon=13.4, radius_m=5000, limit=limit
        )
        ids = [item["id"] for item in items]
        assert len(ids) == len(set(ids)) == 16, limit
        assert set(ids) == created
        distances = [item["distance_m"] for item in items]
        assert distances == sorted(distances)
        assert distances[:7] == [0.0] * 7


def test_a_forged_cursor_is_rejected(api, client):
    customer = api.register("customer")
    response = nearby(client, customer["headers"], lat=52.5, lon=13.4, cursor="bm90LWEtY3Vyc29y")
    assert response.status_code == 422
    assert "cursor" in response.json["errors"]


def test_nearby_needs_lat_and_lon(api, client):
    customer = api.register("customer")
    response = nearby(client, customer["headers"], radius_m=100)
    assert response.status_code == 422
    assert {"lat", "lon"} <= set(response.json["errors"])
