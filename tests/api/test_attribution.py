"""Attribution: a commitment made through another account's share of the same deal records that
account as its referrer (never oneself, never a code of another deal, first attribution wins),
and the share's counters in `GET /me/shares` equal the attributed rows, also under parallel
commits. Social proof on deal reads: `recent_commitments` and the signed-in `viewer`."""

import random
from collections import defaultdict
from datetime import timedelta

import pytest
import requests
from sqlalchemy import text

from social.jobs import prune_social_proof
from tests.api.test_commit_concurrency import create_deal as create_deal_over_http
from tests.api.test_commit_concurrency import fire_in_parallel
from tests.factories import API, register_over_http, rows, scalar, utcnow


def share(client, account: dict, deal: dict) -> str:
    response = client.post(f"{API}/deals/{deal['id']}/shares", headers=account["headers"])
    assert response.status_code in (200, 201), response.json
    return response.json["code"]


def commit_with(client, account: dict, deal: dict, code, quantity: int = 1):
    body = {"quantity": quantity} if code is None else {"quantity": quantity, "share_code": code}
    return client.post(
        f"{API}/deals/{deal['id']}/commitments", json=body, headers=account["headers"]
    )


def my_share(client, account: dict, code: str) -> dict:
    response = client.get(f"{API}/me/shares", headers=account["headers"])
    assert response.status_code == 200, response.json
    (found,) = [item for item in response.json["items"] if item["code"] == code]
    return found


def attribution(engine, commitment_id: str) -> tuple:
    return tuple(
        rows(
            engine,
            "SELECT share_id::text, referrer_id::text FROM commitments WHERE id = :id",
            id=commitment_id,
        )[0]
    )


@pytest.fixture
def shop(api, merchant):
    venue = api.create_venue(merchant)
    return {
        "venue": venue,
        "deal": api.create_deal(
            merchant, venue, min_commitments=20, max_commitments=100, per_user_limit=5
        ),
        "other_deal": api.create_deal(merchant, venue, min_commitments=20, max_commitments=100),
    }


def test_a_commitment_through_another_accounts_share_records_that_account_as_referrer(
    api, client, engine, shop
):
    sharer, friend = api.register("customer"), api.register("customer")
    code = share(client, sharer, shop["deal"])
    response = commit_with(client, friend, shop["deal"], code.lower(), quantity=2)
    assert response.status_code == 201, response.json
    share_id = scalar(engine, "SELECT id::text FROM shares WHERE code = :code", code=code)
    assert attribution(engine, response.json["commitment"]["id"]) == (
        share_id,
        sharer["account"]["id"],
    )
    counted = my_share(client, sharer, code)
    assert (counted["commitments"], counted["units"]) == (1, 2)


@pytest.mark.parametrize("whose", ["own", "other deal", "unknown"])
def test_an_own_foreign_or_unknown_code_commits_without_attribution(
    api, client, engine, shop, whose
):
    customer, sharer = api.register("customer"), api.register("customer")
    codes = {
        "own": share(client, customer, shop["deal"]),
        "other deal": share(client, sharer, shop["other_deal"]),
        "unknown": "ZZZZZZZZ",
    }
    response = commit_with(client, customer, shop["deal"], codes[whose])
    assert response.status_code == 201, response.json
    assert attribution(engine, response.json["commitment"]["id"]) == (None, None)
    assert scalar(engine, "SELECT count(*) FROM referrals") == 0
    assert scalar(engine, "SELECT coalesce(sum(commitments), 0) FROM shares") == 0


@pytest.mark.parametrize("code", ["", "no spaces", "x" * 33, "NUL\x00", "Ä" * 8])
def test_a_malformed_share_code_is_refused_and_commits_nothing(api, client, engine, shop, code):
    customer = api.register("customer")
    response = commit_with(client, customer, shop["deal"], code)
    assert response.status_code == 422, response.json
    assert "share_code" in response.json["errors"]
    assert scalar(engine, "SELECT count(*) FROM commitments") == 0


def test_the_first_attribution_wins_over_a_later_code(api, client, engine, shop):
    first, second, friend = (api.register("customer") for _ in range(3))
    first_code, second_code = (
        share(client, first, shop["deal"]),
        share(client, second, shop["deal"]),
    )
    assert commit_with(client, friend, shop["deal"], None).status_code == 201  # unattributed
    earlier = commit_with(client, friend, shop["deal"], first_code).json["commitment"]
    later = commit_with(client, friend, shop["deal"], second_code).json["commitment"]
    without_code = commit_with(client, friend, shop["deal"], None).json["commitment"]
    for commitment in (earlier, later, without_code):
        assert attribution(engine, commitment["id"])[1] == first["account"]["id"]
    assert (
        my_share(client, first, first_code)["commitments"],
        my_share(client, second, second_code)["commitments"],
    ) == (3, 0)


def test_a_refused_commitment_records_no_referral(api, client, engine, merchant, shop):
    sharer, friend = api.register("customer"), api.register("customer")
    deal = api.create_deal(merchant, shop["venue"], min_commitments=1, max_commitments=1)
    code = share(client, sharer, deal)
    response = commit_with(client, friend, deal, code, quantity=2)
    assert (response.status_code, response.json["code"]) == (409, "sold-out")
    assert scalar(engine, "SELECT count(*) FROM referrals") == 0
    assert my_share(client, sharer, code)["commitments"] == 0


def test_share_counts_equal_the_attributed_rows_under_fifty_parallel_commits(live_server, engine):
    merchant = register_over_http(live_server, 1, role="merchant")[0]
    venue = requests.post(
        f"{live_server}{API}/venues",
        headers=merchant["headers"],
        json={"name": "Word of mouth", "location": {"lat": 52.52, "lon": 13.405}},
        timeout=30,
    ).json()
    deal = create_deal_over_http(
        live_server, merchant, venue, min_commitments=30, max_commitments=200, per_user_limit=3
    )
    other = create_deal_over_http(
        live_server, merchant, venue, min_commitments=30, max_commitments=200
    )
    sharers = register_over_http(live_server, 5)
    codes = []
    for sharer in sharers:
        made = requests.post(
            f"{live_server}{API}/deals/{deal['id']}/shares", headers=sharer["headers"], timeout=30
        )
        codes.append(made.json()["code"])
    foreign = requests.post(
        f"{live_server}{API}/deals/{other['id']}/shares", headers=sharers[0]["headers"], timeout=30
    ).json()["code"]
    customers = register_over_http(live_server, 45)
    chance = random.Random(7)
    # 45 friends through the five links (some twice), and each sharer once through its own link.
    requests_ = [
        (customer["headers"], {"quantity": chance.randint(1, 2), "share_code": codes[i % 5]})
        for i, customer in enumerate(customers)
    ]
    requests_ += [(sharer["headers"], {"share_code": code}) for sharer, code in zip(sharers, codes)]
    requests_[:5] = [(headers, {**body, "share_code": foreign}) for headers, body in requests_[:5]]
    results = fire_in_parallel(live_server, deal["id"], requests_)
    assert [status for status, _ in results] == [201] * 50, results
    attributed = defaultdict(lambda: [0, 0])
    for code, quantity in rows(
        engine,
        "SELECT s.code, c.quantity FROM commitments c JOIN shares s ON s.id = c.share_id "
        "WHERE c.deal_id = :deal",
        deal=deal["id"],
    ):
        attributed[code][0] += 1
        attributed[code][1] += quantity
    for sharer, code in zip(sharers, codes):
        mine = requests.get(f"{live_server}{API}/me/shares", headers=sharer["headers"], timeout=30)
        counted = next(item for item in mine.json()["items"] if item["code"] == code)
        assert [counted["commitments"], counted["units"]] == attributed[code], code
    assert sum(count for count, _ in attributed.values()) == 40  # 5 foreign, 5 own: none
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM commitments WHERE referrer_id = account_id OR "
            "(share_id IS NOT NULL AND share_id NOT IN (SELECT id FROM shares WHERE deal_id = :deal))",
            deal=deal["id"],
        )
        == 0
    )


def test_a_signed_in_account_sees_its_units_and_share_on_the_deal(api, client, shop):
    customer = api.register("customer")
    deal_url = f"{API}/deals/{shop['deal']['id']}"
    assert client.get(deal_url, headers=customer["headers"]).json["viewer"] == {
        "committed_quantity": 0,
        "share_code": None,
        "friends_committed": {"count": 0, "names": []},
    }
    assert commit_with(client, customer, shop["deal"], None, quantity=3).status_code == 201
    code = share(client, customer, shop["deal"])
    viewer = client.get(deal_url, headers=customer["headers"]).json["viewer"]
    assert (viewer["committed_quantity"], viewer["share_code"]) == (3, code)
    stranger = api.register("customer")
    assert client.get(deal_url, headers=stranger["headers"]).json["viewer"]["share_code"] is None
    near = client.get(
        f"{API}/deals/nearby",
        query_string={"lat": 52.52, "lon": 13.405},
        headers=customer["headers"],
    ).json["items"]
    mine = next(item for item in near if item["id"] == shop["deal"]["id"])
    assert (mine["viewer"]["committed_quantity"], mine["viewer"]["share_code"]) == (3, code)
    assert "viewer" not in client.get(deal_url).json


def test_recent_commitments_count_the_last_hours_units_net_of_withdrawals(
    api, client, engine, shop
):
    first, second = api.register("customer"), api.register("customer")
    assert commit_with(client, first, shop["deal"], None, quantity=2).status_code == 201
    assert commit_with(client, second, shop["deal"], None, quantity=3).status_code == 201
    deal_url = f"{API}/deals/{shop['deal']['id']}"
    assert client.get(deal_url).json["recent_commitments"] == 5
    withdrawn = client.delete(f"{deal_url}/commitments/mine", headers=second["headers"])
    assert withdrawn.json["released_quantity"] == 3
    assert client.get(deal_url).json["recent_commitments"] == 2
    with engine.begin() as connection:  # the first commitment was made two hours ago
        connection.execute(
            text("UPDATE deal_commitment_minutes SET minute = minute - interval '2 hours'")
        )
    box = client.get(f"{API}/deals", query_string={"bbox": "13.3,52.4,13.5,52.6"}).json["items"]
    assert {item["id"]: item["recent_commitments"] for item in box} == {
        shop["deal"]["id"]: 0,
        shop["other_deal"]["id"]: 0,
    }
    assert client.get(deal_url).json["committed_count"] == 2


def test_the_prune_job_forgets_old_visits_and_minute_rows_only(api, client, db, shop):
    customer = api.register("customer")
    code = share(client, customer, shop["deal"])
    assert client.get(f"/s/{code}").status_code == 200
    assert commit_with(client, customer, shop["deal"], None).status_code == 201
    now = utcnow()
    nothing = {"share_visits": 0, "commitment_minutes": 0, "friend_notice_counts": 0}
    assert prune_social_proof(session=db, now=now) == nothing
    later = now + timedelta(days=2)
    assert prune_social_proof(session=db, now=later) == {
        **nothing,
        "share_visits": 1,
        "commitment_minutes": 1,
    }
    db.commit()
    assert my_share(client, customer, code)["visits"] == 1  # the counter stays
    assert client.get(f"/s/{code}").status_code == 200  # today's visitor counts again: row gone
    assert my_share(client, customer, code)["visits"] == 2
