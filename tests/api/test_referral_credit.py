"""Referral credit: earned for confirmed referred units (commission) or for one's own units once
enough friends bought through one's link (bring_friends); pending until the unit is bought for
good (with payments at the venue: redeemed), then available; reversed when the unit is gone;
never for oneself, the merchant, a sock puppet on the sharer's phone or a returning customer
of a new-customers-only deal; cut at a lifetime cap, also under parallel commits."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from sqlalchemy import text

from core.db import in_unit_of_work
from referrals import jobs
from tests.api.test_commit_concurrency import create_deal as create_deal_over_http
from tests.api.test_commit_concurrency import fire_in_parallel
from tests.factories import API, outbox, register_over_http, scalar, utcnow

PRICE = 1800
COMMISSION = {"kind": "commission", "percent": 10}


def run(app, job, *, now=None) -> dict:
    """One run of a referral job in its own unit of work, as the scheduler runs it."""
    with app.app_context():
        session = app.extensions["db_sessionmaker"]()
        try:
            return in_unit_of_work(session, job, now=now or utcnow())
        finally:
            session.close()


def share(client, account: dict, deal: dict) -> str:
    response = client.post(f"{API}/deals/{deal['id']}/shares", headers=account["headers"])
    assert response.status_code in (200, 201), response.json
    return response.json["code"]


def commit(client, account: dict, deal: dict, code=None, quantity: int = 1) -> dict:
    body = {"quantity": quantity, **({"share_code": code} if code else {})}
    response = client.post(
        f"{API}/deals/{deal['id']}/commitments", json=body, headers=account["headers"]
    )
    assert response.status_code == 201, response.json
    return response.json


def credits(client, account: dict) -> dict:
    response = client.get(f"{API}/me/credits", headers=account["headers"])
    assert response.status_code == 200, response.json
    return response.json


def vouchers(client, account: dict) -> list[str]:
    return [
        v["code"]
        for v in client.get(f"{API}/me/vouchers", headers=account["headers"]).json["items"]
    ]


def redeem_all(client, merchant: dict, customer: dict) -> None:
    for code in vouchers(client, customer):
        response = client.post(f"{API}/vouchers/{code}/redeem", headers=merchant["headers"])
        assert response.status_code == 200, response.json


@pytest.fixture
def venue(api, merchant) -> dict:
    return api.create_venue(merchant)


def test_commission_credit_is_pending_until_redeemed_then_available_and_exact(
    api, client, app, engine, merchant, venue
):
    deal = api.create_deal(
        merchant,
        venue,
        price_cents=PRICE,
        min_commitments=3,
        max_commitments=100,
        per_user_limit=5,
        referral=COMMISSION,
    )
    sharer = api.register("customer")
    code = share(client, sharer, deal)
    friends = [api.register("customer") for _ in range(4)]
    for friend in friends:  # 20 referred units; the fourth friend's commit tips the deal
        commit(client, friend, deal, code, quantity=5)
    assert run(app, jobs.earn_referral_credit) == {"queued": 4, "credited": 20 * 180}
    assert run(app, jobs.earn_referral_credit) == {"queued": 0, "credited": 0}
    mine = credits(client, sharer)
    assert (mine["available_cents"], mine["pending_cents"]) == (0, 3600)
    assert {(e["kind"], e["amount_cents"], e["status"]) for e in mine["entries"]} == {
        ("commission", 180, "pending")
    }
    assert len(mine["entries"]) == 20
    for friend in friends[:3]:
        redeem_all(client, merchant, friend)
    run(app, jobs.settle_referral_credit)
    mine = credits(client, sharer)
    assert (mine["available_cents"], mine["pending_cents"]) == (15 * 180, 5 * 180)
    assert outbox(engine, "credit.available")
    # The last friend's 5 vouchers expire unredeemed: never bought, so exactly 5 reversals.
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE vouchers SET status = 'expired' WHERE account_id = :friend"),
            {"friend": friends[3]["account"]["id"]},
        )
    assert run(app, jobs.settle_referral_credit)["reversed_cents"] == 5 * 180
    mine = credits(client, sharer)
    assert (mine["available_cents"], mine["pending_cents"]) == (15 * 180, 0)
    assert [e["status"] for e in mine["entries"]].count("reversed") == 5
    assert scalar(engine, "SELECT earned_cents FROM referral_earnings") == 15 * 180
    assert outbox(engine, "credit.reversed")


def test_available_credit_expires_after_180_days(api, client, app, merchant, venue):
    deal = api.create_deal(
        merchant, venue, price_cents=PRICE, min_commitments=1, referral=COMMISSION
    )
    sharer, friend = api.register("customer"), api.register("customer")
    commit(client, friend, deal, share(client, sharer, deal))
    run(app, jobs.earn_referral_credit)
    redeem_all(client, merchant, friend)
    run(app, jobs.settle_referral_credit)
    (entry,) = credits(client, sharer)["entries"]
    assert entry["status"] == "available"
    later = utcnow() + timedelta(days=181)
    assert run(app, jobs.settle_referral_credit, now=later)["expired"] == 1
    assert credits(client, sharer)["available_cents"] == 0


def test_bring_friends_gives_the_sharers_own_units_back_once_the_third_friend_bought(
    api, client, app, engine, merchant, venue
):
    deal = api.create_deal(
        merchant,
        venue,
        price_cents=PRICE,
        min_commitments=1,
        max_commitments=50,
        per_user_limit=2,
        referral={"kind": "bring_friends", "friends": 3},
    )
    sharer = api.register("customer")
    commit(client, sharer, deal, quantity=2)  # tips the deal: every later unit is confirmed
    code = share(client, sharer, deal)
    friends = [api.register("customer") for _ in range(3)]
    commit(client, friends[0], deal, code)
    commit(client, friends[1], deal, code)
    commit(client, friends[1], deal, code)  # the same friend twice still counts once
    run(app, jobs.earn_referral_credit)
    assert credits(client, sharer)["pending_cents"] == 0
    commit(client, friends[2], deal, code)
    run(app, jobs.earn_referral_credit)
    assert credits(client, sharer)["pending_cents"] == 2 * PRICE
    commit(client, api.register("customer"), deal, code)  # a fourth friend: nothing more
    run(app, jobs.earn_referral_credit)
    mine = credits(client, sharer)
    assert (mine["pending_cents"], len(mine["entries"])) == (2 * PRICE, 2)
    assert {e["kind"] for e in mine["entries"]} == {"bring_friends"}
    for friend in friends:  # the friends themselves earn nothing
        assert credits(client, friend)["entries"] == []


def test_a_friend_who_withdraws_before_the_tip_does_not_count(api, client, app, merchant, venue):
    deal = api.create_deal(
        merchant,
        venue,
        price_cents=PRICE,
        min_commitments=4,
        max_commitments=50,
        referral={"kind": "bring_friends", "friends": 2},
    )
    sharer = api.register("customer")
    code = share(client, sharer, deal)
    commit(client, sharer, deal)
    leaving, staying = api.register("customer"), api.register("customer")
    commit(client, leaving, deal, code)
    commit(client, staying, deal, code)
    withdrawn = client.delete(
        f"{API}/deals/{deal['id']}/commitments/mine", headers=leaving["headers"]
    )
    assert withdrawn.json["released_quantity"] == 1
    commit(client, api.register("customer"), deal)  # unattributed
    commit(client, api.register("customer"), deal)  # tips: sharer, staying and these two
    run(app, jobs.earn_referral_credit)
    assert credits(client, sharer)["entries"] == []


def register_device(client, account: dict, token: str) -> None:
    response = client.post(
        f"{API}/me/devices",
        json={"platform": "android", "token": token},
        headers=account["headers"],
    )
    assert response.status_code in (200, 201), response.json


@pytest.mark.parametrize("who", ["self", "merchant", "sock puppet", "returning customer"])
def test_self_dealing_earns_nothing_but_the_commitment_still_succeeds(
    api, client, app, engine, merchant, venue, who
):
    deal = api.create_deal(
        merchant,
        venue,
        price_cents=PRICE,
        min_commitments=1,
        max_commitments=50,
        per_user_limit=3,
        referral=COMMISSION,
        new_customers_only=(who == "returning customer"),
    )
    sharer = merchant if who == "merchant" else api.register("customer")
    if who == "sock puppet":
        register_device(client, sharer, "phone-of-the-sharer")
    code = share(client, sharer, deal)
    if who == "self":
        buyer = sharer
    else:
        buyer = api.register("customer")
    if who == "sock puppet":  # registered after the share, on the sharer's phone
        register_device(client, buyer, "phone-of-the-sharer")
    if who == "returning customer":
        earlier = api.create_deal(merchant, venue, min_commitments=1)
        commit(client, buyer, earlier)
    made = commit(client, buyer, deal, code)
    assert made["commitment"]["status"] == "confirmed"
    run(app, jobs.earn_referral_credit)
    assert scalar(engine, "SELECT count(*) FROM credits") == 0
    assert credits(client, sharer)["entries"] == []


def test_an_honest_referral_with_a_device_seen_before_the_share_still_earns(
    api, client, app, engine, merchant, venue
):
    """The sock-puppet rule is about accounts made on the sharer's phone after the share: a
    family tablet two long-standing accounts both used is not a reason to refuse credit."""
    deal = api.create_deal(
        merchant, venue, price_cents=PRICE, min_commitments=1, referral=COMMISSION
    )
    sharer, friend = api.register("customer"), api.register("customer")
    register_device(client, sharer, "family-tablet")
    register_device(client, friend, "family-tablet")
    commit(client, friend, deal, share(client, sharer, deal))
    run(app, jobs.earn_referral_credit)
    assert credits(client, sharer)["pending_cents"] == 180


def test_the_lifetime_cap_holds_under_fifty_parallel_referred_commits(
    live_server, app, engine, monkeypatch
):
    merchant = register_over_http(live_server, 1, role="merchant")[0]
    venue = requests.post(
        f"{live_server}{API}/venues",
        headers=merchant["headers"],
        json={"name": "Capped", "location": {"lat": 52.52, "lon": 13.405}},
        timeout=30,
    ).json()
    # 50 % of 1,000 per unit: 50 units would earn 25,000; the cap is 10,000.
    deal = create_deal_over_http(
        live_server,
        merchant,
        venue,
        price_cents=1000,
        min_commitments=1,
        max_commitments=100,
        referral={"kind": "commission", "percent": 50},
    )
    sharer = register_over_http(live_server, 1)[0]
    code = requests.post(
        f"{live_server}{API}/deals/{deal['id']}/shares", headers=sharer["headers"], timeout=30
    ).json()["code"]
    friends = register_over_http(live_server, 50)
    results = fire_in_parallel(
        live_server, deal["id"], [(f["headers"], {"share_code": code}) for f in friends]
    )
    assert [status for status, _ in results] == [201] * 50
    # Small batches, so two concurrent runs take different commitments of the same sharer.
    monkeypatch.setitem(app.config, "REFERRAL_EARN_BATCH", 5)
    barrier = threading.Barrier(3)

    def earn_until_drained() -> int:
        barrier.wait()
        credited = 0
        while (result := run(app, jobs.earn_referral_credit))["queued"]:
            credited += result["credited"]
        return credited

    with ThreadPoolExecutor(max_workers=3) as pool:
        credited = [f.result() for f in [pool.submit(earn_until_drained) for _ in range(3)]]
    assert sum(credited) == app.config["REFERRAL_CAP_CENTS"] == 10_000
    assert scalar(engine, "SELECT sum(amount_cents) FROM credits") == 10_000
    assert scalar(engine, "SELECT earned_cents FROM referral_earnings") == 10_000
    assert scalar(engine, "SELECT count(*) FROM referral_queue") == 0


def test_cancelling_a_tipped_deal_reverses_its_credit(api, client, app, engine, merchant, venue):
    deal = api.create_deal(
        merchant, venue, price_cents=PRICE, min_commitments=1, referral=COMMISSION
    )
    sharer, friend = api.register("customer"), api.register("customer")
    commit(client, friend, deal, share(client, sharer, deal), quantity=1)
    run(app, jobs.earn_referral_credit)
    assert (
        client.post(f"{API}/deals/{deal['id']}/cancel", headers=merchant["headers"]).status_code
        == 200
    )
    run(app, jobs.settle_referral_credit)
    (entry,) = credits(client, sharer)["entries"]
    assert entry["status"] == "reversed"
    assert scalar(engine, "SELECT earned_cents FROM referral_earnings") == 0


def test_nobody_sees_another_accounts_credit(api, client, app, merchant, venue):
    deal = api.create_deal(
        merchant, venue, price_cents=PRICE, min_commitments=1, referral=COMMISSION
    )
    sharer, friend = api.register("customer"), api.register("customer")
    commit(client, friend, deal, share(client, sharer, deal))
    run(app, jobs.earn_referral_credit)
    assert credits(client, sharer)["pending_cents"] == 180
    assert credits(client, friend) == {
        "available_cents": 0,
        "pending_cents": 0,
        "entries": [],
        "next_cursor": None,
    }
    assert client.get(f"{API}/me/credits").status_code == 401
