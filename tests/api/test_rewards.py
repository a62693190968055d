"""Rewards and reward programs over HTTP: listing, redemption by the venue's owner only,
program creation rules and validation."""

import re
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.checkins_support import away, events
from tests.factories import API, BERLIN, scalar

CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")
REWARD_KEYS = {"code", "program_id", "venue_id", "title", "status", "earned_at", "redeemed_at"}


@pytest.fixture
def cafe(api, merchant):
    return api.create_venue(merchant, name="Café am Markt", location=BERLIN)


def create_program(client, merchant, venue, **body):
    return client.post(
        f"{API}/venues/{venue['id']}/reward-programs", json=body, headers=merchant["headers"]
    )


def earn(client, merchant, customer, venue, title="Free espresso") -> dict:
    """A first_visit program at `venue` and a check-in that earns it; returns the reward.

    The customer stands at BERLIN: back-to-back check-ins from different spots would be too fast.
    """
    created = create_program(client, merchant, venue, kind="first_visit", title=title)
    assert created.status_code == 201, created.json
    response = client.post(
        f"{API}/venues/{venue['id']}/checkins",
        headers=customer["headers"],
        json={"location": BERLIN, "accuracy_m": 8},
    )
    assert response.status_code == 201, response.json
    (reward,) = response.json["rewards"]
    return reward


def redeem(client, who, code):
    return client.post(f"{API}/rewards/{code}/redeem", headers=who["headers"])


def my_rewards(client, customer, **params):
    response = client.get(f"{API}/me/rewards", headers=customer["headers"], query_string=params)
    assert response.status_code == 200, response.json
    return response.json


# --- GET /me/rewards -------------------------------------------------------------------------


def test_my_rewards_lists_the_rewards_i_earned_newest_first(api, client, merchant, customer, cafe):
    bakery = api.create_venue(merchant, name="Bäckerei", location=away(BERLIN, 40, 90))
    first = earn(client, merchant, customer, cafe, title="Free espresso")
    second = earn(client, merchant, customer, bakery, title="Free pretzel")
    stranger = api.register("customer")
    earn(client, merchant, stranger, api.create_venue(merchant, location=away(BERLIN, 60, 0)))

    listed = my_rewards(client, customer)

    assert listed["next_cursor"] is None
    assert [r["code"] for r in listed["items"]] == [second["code"], first["code"]]
    assert listed["items"] == [second, first]
    item = listed["items"][1]
    assert set(item) == REWARD_KEYS
    assert (item["venue_id"], item["title"], item["status"], item["redeemed_at"]) == (
        cafe["id"],
        "Free espresso",
        "issued",
        None,
    )
    assert item["earned_at"].endswith("Z")
    assert CODE.match(item["code"])


def test_my_rewards_pages_with_a_cursor(api, client, merchant, customer):
    codes = [
        earn(
            client, merchant, customer, api.create_venue(merchant, location=away(BERLIN, 5 * n, 0))
        )["code"]
        for n in range(3)
    ]
    page = my_rewards(client, customer, limit=2)
    rest = my_rewards(client, customer, limit=2, cursor=page["next_cursor"])

    assert [r["code"] for r in page["items"] + rest["items"]] == codes[::-1]
    assert rest["next_cursor"] is None


def test_my_rewards_needs_a_customer(client, merchant):
    assert client.get(f"{API}/me/rewards").status_code == 401
    assert client.get(f"{API}/me/rewards", headers=merchant["headers"]).status_code == 403


def test_reward_codes_differ_between_rewards(api, client, merchant):
    venue = api.create_venue(merchant)
    create_program(client, merchant, venue, kind="first_visit", title="Welcome")
    codes = set()
    for _ in range(5):
        customer = api.register("customer")
        response = client.post(
            f"{API}/venues/{venue['id']}/checkins",
            headers=customer["headers"],
            json={"location": BERLIN},
        )
        codes.add(response.json["rewards"][0]["code"])
    assert len(codes) == 5 and all(CODE.match(code) for code in codes)


# --- POST /rewards/{code}/redeem -------------------------------------------------------------


def test_the_venue_owner_redeems_a_reward_once(client, engine, merchant, customer, cafe):
    reward = earn(client, merchant, customer, cafe)

    redeemed = redeem(client, merchant, reward["code"])

    assert redeemed.status_code == 200, redeemed.json
    assert redeemed.json["status"] == "redeemed"
    assert redeemed.json["code"] == reward["code"]
    assert redeemed.json["redeemed_at"].endswith("Z")
    assert my_rewards(client, customer)["items"][0]["status"] == "redeemed"

    again = redeem(client, merchant, reward["code"])
    assert again.status_code == 409
    assert again.json["code"] == "already-redeemed"
    assert again.headers["Content-Type"].startswith("application/problem+json")


def test_a_code_typed_in_lower_case_without_hyphens_is_redeemed(client, merchant, customer, cafe):
    reward = earn(client, merchant, customer, cafe)
    typed = reward["code"].replace("-", "").lower()

    response = redeem(client, merchant, typed)

    assert response.status_code == 200
    assert response.json["code"] == reward["code"]


def test_a_reward_is_only_ever_issued_or_redeemed(client, engine, merchant, customer, cafe):
    reward = earn(client, merchant, customer, cafe)
    for dead_status in ("void", "expired"):
        with pytest.raises(IntegrityError, match="ck_rewards_status"), engine.begin() as connection:
            connection.execute(
                text("UPDATE rewards SET status = :s WHERE code = :c"),
                {"s": dead_status, "c": reward["code"]},
            )


def test_another_merchant_cannot_redeem_or_even_see_a_reward(
    api, client, engine, merchant, customer, cafe
):
    reward = earn(client, merchant, customer, cafe)
    rival = api.register("merchant")
    api.create_venue(rival, name="Rival café")

    response = redeem(client, rival, reward["code"])

    assert response.status_code == 404
    assert response.json["code"] == "not-found"
    status = scalar(engine, "SELECT status FROM rewards")
    assert status == "issued"
    assert redeem(client, merchant, reward["code"]).status_code == 200


def test_another_merchant_gets_the_same_404_for_a_redeemed_reward(
    api, client, merchant, customer, cafe
):
    reward = earn(client, merchant, customer, cafe)
    assert redeem(client, merchant, reward["code"]).status_code == 200

    response = redeem(client, api.register("merchant"), reward["code"])

    assert response.status_code == 404  # not 409: that would reveal the code exists


def test_a_customer_cannot_redeem_even_their_own_reward(client, merchant, customer, cafe):
    reward = earn(client, merchant, customer, cafe)

    response = redeem(client, customer, reward["code"])

    assert response.status_code == 403
    assert response.json["code"] == "forbidden"
    assert my_rewards(client, customer)["items"][0]["status"] == "issued"


@pytest.mark.parametrize("code", ["ZZZZ-ZZZZ-ZZZZ", "not-a-code", "UUUU-UUUU-UUUU"])
def test_an_unknown_or_malformed_code_is_404(client, merchant, code):
    response = redeem(client, merchant, code)
    assert response.status_code == 404
    assert response.json["code"] == "not-found"


def test_redeeming_needs_a_token(client, merchant, customer, cafe):
    reward = earn(client, merchant, customer, cafe)
    assert client.post(f"{API}/rewards/{reward['code']}/redeem").status_code == 401


# --- reward programs -------------------------------------------------------------------------


def test_the_owner_creates_a_program_and_anyone_lists_it(client, merchant, customer, cafe):
    response = create_program(
        client,
        merchant,
        cafe,
        kind="swarm",
        title="Bring two friends",
        description="Three of you within three hours",
        threshold=3,
        window_minutes=180,
        max_rewards=100,
    )

    assert response.status_code == 201, response.json
    program = response.json
    keys = (
        "venue_id",
        "kind",
        "title",
        "threshold",
        "window_minutes",
        "window_days",
        "max_rewards",
        "rewards_issued",
        "ends_at",
    )
    assert {key: program[key] for key in keys} == {
        "venue_id": cafe["id"],
        "kind": "swarm",
        "title": "Bring two friends",
        "threshold": 3,
        "window_minutes": 180,
        "window_days": None,
        "max_rewards": 100,
        "rewards_issued": 0,
        "ends_at": None,
    }
    assert program["starts_at"].endswith("Z")
    listed = client.get(f"{API}/venues/{cafe['id']}/reward-programs", headers=customer["headers"])
    assert listed.status_code == 200
    assert listed.json == {"items": [program], "next_cursor": None}


def test_a_customer_cannot_create_a_program(client, engine, customer, cafe):
    response = create_program(client, customer, cafe, kind="first_visit", title="Free for me")

    assert response.status_code == 403
    assert response.json["code"] == "forbidden"
    assert scalar(engine, "SELECT count(*) FROM reward_programs") == 0


def test_a_merchant_cannot_create_a_program_at_another_merchants_venue(api, client, engine, cafe):
    rival = api.register("merchant")

    response = create_program(client, rival, cafe, kind="first_visit", title="Poached")

    assert response.status_code == 404
    assert response.json["code"] == "not-found"
    assert scalar(engine, "SELECT count(*) FROM reward_programs") == 0


def test_a_program_at_an_unknown_venue_is_404(client, merchant):
    nowhere = {"id": str(uuid.uuid4())}
    response = create_program(client, merchant, nowhere, kind="mayor", title="Mayor")
    assert response.status_code == 404


def test_listing_the_programs_of_an_unknown_venue_is_404(client, customer):
    response = client.get(
        f"{API}/venues/{uuid.uuid4()}/reward-programs", headers=customer["headers"]
    )
    assert response.status_code == 404


INVALID_PROGRAMS = {
    "every_nth without threshold": ({"kind": "every_nth"}, "threshold"),
    "frequency without window_days": ({"kind": "frequency", "threshold": 3}, "window_days"),
    "frequency without threshold": ({"kind": "frequency", "window_days": 7}, "threshold"),
    "swarm without window_minutes": ({"kind": "swarm", "threshold": 3}, "window_minutes"),
    "swarm with a null threshold": (
        {"kind": "swarm", "threshold": None, "window_minutes": 60},
        "threshold",
    ),
    "flash without threshold": ({"kind": "flash"}, "threshold"),
    "an unknown kind": ({"kind": "happy_hour"}, "kind"),
    "no kind": ({}, "kind"),
    "a zero threshold": ({"kind": "every_nth", "threshold": 0}, "threshold"),
    "a threshold as a string": ({"kind": "every_nth", "threshold": "5"}, "threshold"),
    "a fractional threshold": ({"kind": "every_nth", "threshold": 2.5}, "threshold"),
    "a zero max_rewards": ({"kind": "first_visit", "max_rewards": 0}, "max_rewards"),
    "ends before it starts": (
        {
            "kind": "first_visit",
            "starts_at": "2026-12-01T10:00:00Z",
            "ends_at": "2026-12-01T09:00:00Z",
        },
        "ends_at",
    ),
    "a start without offset": (
        {"kind": "first_visit", "starts_at": "2026-12-01T10:00:00"},
        "starts_at",
    ),
    "a server-owned counter": ({"kind": "first_visit", "rewards_issued": 5}, "rewards_issued"),
    "a server-owned mayor": ({"kind": "mayor", "mayor_id": str(uuid.uuid4())}, "mayor_id"),
}


@pytest.mark.parametrize("case", list(INVALID_PROGRAMS))
def test_an_invalid_program_is_refused_with_422(client, engine, merchant, cafe, case):
    body, field = INVALID_PROGRAMS[case]

    response = create_program(client, merchant, cafe, **{"title": "A special", **body})

    assert response.status_code == 422, response.json
    assert response.json["code"] == "validation-error"
    assert field in response.json["errors"]
    assert scalar(engine, "SELECT count(*) FROM reward_programs") == 0


def test_redeeming_a_reward_enqueues_no_reward_earned_again(
    client, engine, merchant, customer, cafe
):
    reward = earn(client, merchant, customer, cafe)
    redeem(client, merchant, reward["code"])

    assert [payload["code"] for _, payload in events(engine, "reward.earned")] == [reward["code"]]
