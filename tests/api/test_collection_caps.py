"""Per-owner caps (alert areas, devices, webhooks, live reward programs) and their paginated lists.

Each cap answers 409 `limit-reached` and holds under real parallel requests against gunicorn.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import pytest
import requests

from tests.checkins_support import create_program
from tests.conftest import Api
from tests.factories import API, BERLIN, register_over_http, scalar, utcnow


@dataclass(frozen=True)
class Collection:
    """Something an owner creates many of: how to create the n-th one and where it is counted."""

    name: str
    cap_key: str
    role: str
    path: str  # `{venue}` stands for the owner's venue
    table: str

    def body(self, number: int) -> dict:
        return {
            "alert areas": {
                "location": BERLIN,
                "radius_m": 1000 + number,
                "label": f"area {number}",
            },
            "devices": {"platform": "android", "token": f"token-{number}"},
            "webhooks": {"url": f"https://93.184.216.34/hook/{number}"},
            "reward programs": {"kind": "first_visit", "title": f"Welcome {number}"},
        }[self.name]


ALERT_AREAS = Collection(
    "alert areas", "ALERT_AREAS_PER_ACCOUNT", "customer", "/me/alert-areas", "alert_areas"
)
DEVICES = Collection("devices", "DEVICES_PER_ACCOUNT", "customer", "/me/devices", "devices")
WEBHOOKS = Collection("webhooks", "WEBHOOKS_PER_ACCOUNT", "merchant", "/webhooks", "webhooks")
PROGRAMS = Collection(
    "reward programs",
    "REWARD_PROGRAMS_PER_VENUE",
    "merchant",
    "/venues/{venue}/reward-programs",
    "reward_programs",
)
COLLECTIONS = [ALERT_AREAS, DEVICES, WEBHOOKS, PROGRAMS]
LISTED = [ALERT_AREAS, WEBHOOKS, PROGRAMS]  # devices have no list
CAP = 3


def owner_and_path(api: Api, collection: Collection) -> tuple[dict, str]:
    """A fresh owner (and for programs its venue) and the collection's URL."""
    owner = api.register(collection.role)
    venue = api.create_venue(owner)["id"] if "{venue}" in collection.path else None
    return owner, API + collection.path.format(venue=venue)


def create(api: Api, owner: dict, path: str, collection: Collection, number: int):
    return api.client.post(path, json=collection.body(number), headers=owner["headers"])


def fill(api: Api, owner: dict, path: str, collection: Collection, count: int) -> list[dict]:
    """Create `count` objects (asserting 201 each); the created JSON, oldest first."""
    made = []
    for number in range(count):
        response = create(api, owner, path, collection, number)
        assert response.status_code == 201, response.json
        made.append(response.json)
    return made


@pytest.fixture
def capped(make_app) -> Api:
    """An `Api` on an app where every cap is 3."""
    return Api(make_app(**{collection.cap_key: CAP for collection in COLLECTIONS}).test_client())


@pytest.mark.parametrize("collection", COLLECTIONS, ids=lambda c: c.name)
def test_one_more_than_the_cap_is_refused_with_409_limit_reached_and_nothing_is_created(
    capped, engine, collection
):
    owner, path = owner_and_path(capped, collection)
    fill(capped, owner, path, collection, CAP)

    refused = create(capped, owner, path, collection, CAP)

    assert refused.status_code == 409, refused.json
    assert refused.json["code"] == "limit-reached"
    assert refused.json["type"].endswith("/limit-reached")
    assert str(CAP) in refused.json["detail"]
    assert scalar(engine, f"SELECT count(*) FROM {collection.table}") == CAP


@pytest.mark.parametrize("collection", COLLECTIONS, ids=lambda c: c.name)
def test_the_cap_is_per_owner(capped, collection):
    first, first_path = owner_and_path(capped, collection)
    fill(capped, first, first_path, collection, CAP)
    second, second_path = owner_and_path(capped, collection)
    # other device tokens: a token registered by the second account would move to it
    assert create(capped, second, second_path, collection, CAP + 1).status_code == 201


@pytest.mark.parametrize("collection", [ALERT_AREAS, DEVICES, WEBHOOKS], ids=lambda c: c.name)
def test_deleting_one_frees_its_place(capped, engine, collection):
    owner, path = owner_and_path(capped, collection)
    made = fill(capped, owner, path, collection, CAP)
    assert (
        capped.client.delete(f"{path}/{made[0]['id']}", headers=owner["headers"]).status_code == 204
    )

    assert create(capped, owner, path, collection, CAP).status_code == 201
    assert create(capped, owner, path, collection, CAP + 1).status_code == 409


def test_re_registering_ones_own_device_at_the_cap_is_not_a_new_device(capped, engine):
    owner, path = owner_and_path(capped, DEVICES)
    made = fill(capped, owner, path, DEVICES, CAP)

    again = create(capped, owner, path, DEVICES, 0)

    assert again.status_code == 201, again.json
    assert again.json["id"] == made[0]["id"]
    assert scalar(engine, "SELECT count(*) FROM devices") == CAP


def test_a_token_handed_to_an_account_at_the_cap_is_refused_and_stays_with_its_holder(
    capped, engine
):
    holder, path = owner_and_path(capped, DEVICES)
    (held,) = fill(capped, holder, path, DEVICES, 1)
    full = capped.register()
    for number in range(1, CAP + 1):
        assert create(capped, full, path, DEVICES, number).status_code == 201

    refused = create(capped, full, path, DEVICES, 0)  # holder's token

    assert refused.status_code == 409
    assert (
        scalar(engine, "SELECT account_id::text FROM devices WHERE token = 'token-0'")
        == (holder["account"]["id"])
    )


def test_ended_reward_programs_do_not_count_against_the_venue_cap(app, capped, engine):
    merchant = capped.register("merchant")
    venue = capped.create_venue(merchant)
    start = utcnow() - timedelta(days=30)
    for number in range(CAP):  # each ran for a day, a month ago
        create_program(
            app,
            merchant["account"]["id"],
            venue["id"],
            start,
            kind="first_visit",
            title=f"Old {number}",
            ends_at=start + timedelta(days=1),
        )

    path = f"{API}/venues/{venue['id']}/reward-programs"
    fill(capped, merchant, path, PROGRAMS, CAP)
    assert create(capped, merchant, path, PROGRAMS, CAP).status_code == 409
    assert scalar(engine, "SELECT count(*) FROM reward_programs") == 2 * CAP


def test_a_deleted_webhook_does_not_count_against_the_cap(capped):
    owner, path = owner_and_path(capped, WEBHOOKS)
    for hook in fill(capped, owner, path, WEBHOOKS, CAP):
        deleted = capped.client.delete(f"{path}/{hook['id']}", headers=owner["headers"])
        assert deleted.status_code == 204
    assert len(fill(capped, owner, path, WEBHOOKS, CAP)) == CAP


# --- under concurrency ----------------------------------------------------------------------------


def parallel_posts(url: str, headers: dict, bodies: list[dict]) -> list[requests.Response]:
    """POST every body at once (threads released together by a barrier)."""
    barrier = threading.Barrier(len(bodies))

    def send(body):
        barrier.wait()
        return requests.post(url, json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(send, bodies))


@pytest.mark.parametrize("collection", COLLECTIONS, ids=lambda c: c.name)
def test_parallel_creations_one_below_the_default_cap_let_exactly_one_through(
    live_server, app, engine, collection
):
    cap = app.config[collection.cap_key]
    (owner,) = register_over_http(live_server, 1, role=collection.role)
    venue = None
    if "{venue}" in collection.path:
        venue = requests.post(
            f"{live_server}{API}/venues",
            headers=owner["headers"],
            timeout=30,
            json={"name": "Café", "location": BERLIN},
        ).json()["id"]
    url = live_server + API + collection.path.format(venue=venue)
    with requests.Session() as http:
        for number in range(cap - 1):
            response = http.post(
                url, json=collection.body(number), headers=owner["headers"], timeout=30
            )
            assert response.status_code == 201, response.text

    racers = parallel_posts(
        url, owner["headers"], [collection.body(cap - 1 + number) for number in range(8)]
    )

    assert sorted(response.status_code for response in racers) == [201] + [409] * 7
    assert {response.json()["code"] for response in racers if response.status_code == 409} == {
        "limit-reached"
    }
    assert scalar(engine, f"SELECT count(*) FROM {collection.table}") == cap


# --- paginated lists ------------------------------------------------------------------------------


def every_page(api: Api, owner: dict, path: str, limit: int) -> list[list[str]]:
    """The ids of each page of the list at `path`, following `next_cursor` to the end."""
    pages, cursor = [], None
    while True:
        query = {"limit": limit} if cursor is None else {"limit": limit, "cursor": cursor}
        response = api.client.get(path, headers=owner["headers"], query_string=query)
        assert response.status_code == 200, response.json
        pages.append([item["id"] for item in response.json["items"]])
        cursor = response.json["next_cursor"]
        if cursor is None:
            return pages


@pytest.mark.parametrize("collection", LISTED, ids=lambda c: c.name)
def test_lists_are_paged_newest_first_with_limit_and_cursor(api, collection):
    owner, path = owner_and_path(api, collection)
    made = [item["id"] for item in fill(api, owner, path, collection, 5)]

    assert every_page(api, owner, path, 2) == [made[4:2:-1], made[2:0:-1], made[:1]]
    assert every_page(api, owner, path, 100) == [made[::-1]]
    default = api.client.get(path, headers=owner["headers"]).json
    assert (default["items"][0]["id"], default["next_cursor"]) == (made[-1], None)


@pytest.mark.parametrize("collection", LISTED, ids=lambda c: c.name)
@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 101}, {"cursor": "not-ours"}],
    ids=["limit-0", "limit-101", "foreign-cursor"],
)
def test_a_list_with_a_limit_outside_1_to_100_or_a_foreign_cursor_is_422(api, collection, query):
    owner, path = owner_and_path(api, collection)
    response = api.client.get(path, headers=owner["headers"], query_string=query)
    assert response.status_code == 422, response.json
    assert response.json["code"] == "validation-error"
