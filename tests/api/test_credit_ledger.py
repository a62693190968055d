"""The ledger balances under any order of what happens to referral credit: after a random
sequence of referred commits, tips, spending commits, withdrawals, redemptions, refunds and
expiries, every transaction sums to zero, each account's reported credit is the sum of its
entries (and agrees with its credits), and each merchant's reported payable is the sum of its
entries."""

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referrals import jobs
from tests.api.test_credit_spending import assert_ledger_is_the_balance
from tests.api.test_referral_credit import credits, run, share
from tests.factories import API, iso, scalar, utcnow

FRIENDS = 3
ANYONE = st.sampled_from([0, 1, 2, FRIENDS, FRIENDS])  # a friend, or (more often) the sharer
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("commit"), st.integers(0, FRIENDS - 1), st.integers(1, 2)),
        st.tuples(st.just("spend"), st.integers(0, 1), st.integers(1, 2)),
        st.tuples(st.just("spend"), st.integers(0, 1), st.integers(1, 2)),
        st.tuples(st.just("withdraw"), ANYONE, st.just(0)),
        st.tuples(st.just("redeem"), ANYONE, st.just(0)),
        st.tuples(st.just("refund"), ANYONE, st.just(0)),
        st.tuples(st.just("settle"), st.sampled_from([0, 181]), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=20,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS, tipping_point=st.integers(1, 3))
def test_every_account_and_the_platform_balance_after_any_sequence(
    api, client, app, engine, steps, tipping_point
):
    merchant, shop = api.register("merchant"), api.register("merchant")
    venue, shop_venue = api.create_venue(merchant), api.create_venue(shop)
    deal = api.create_deal(
        merchant,
        venue,
        price_cents=1000,
        min_commitments=tipping_point,
        per_user_limit=4,
        referral={"kind": "commission", "percent": 25},
    )
    spending_deals = [  # one tips at once, one takes two units
        api.create_deal(
            shop, shop_venue, price_cents=price, min_commitments=minimum, per_user_limit=4
        )
        for price, minimum in ((150, 1), (400, 2))
    ]
    spending_ids = {spending["id"] for spending in spending_deals}
    sharer = api.register("customer")
    code = share(client, sharer, deal)
    friends = [api.register("customer") for _ in range(FRIENDS)]
    everyone = [*friends, sharer]
    start = clock = utcnow()
    # The sharer starts with 500 available (two redeemed referred units of a seed deal), so the
    # steps spend, give back and reverse credit from the first one on.
    seed = api.create_deal(
        merchant,
        venue,
        price_cents=1000,
        min_commitments=1,
        per_user_limit=4,
        referral={"kind": "commission", "percent": 25},
    )
    seed_code = share(client, sharer, seed)
    client.post(
        f"{API}/deals/{seed['id']}/commitments",
        json={"quantity": 2, "share_code": seed_code},
        headers=friends[0]["headers"],
    )
    run(app, jobs.earn_referral_credit, now=clock)
    for voucher in client.get(f"{API}/me/vouchers", headers=friends[0]["headers"]).json["items"]:
        client.post(f"{API}/vouchers/{voucher['code']}/redeem", headers=merchant["headers"])
    run(app, jobs.settle_referral_credit, now=clock)
    assert credits(client, sharer)["available_cents"] == 500

    for step, who, amount in steps:
        if step == "commit":
            body = {"quantity": amount, "share_code": code}
            client.post(
                f"{API}/deals/{deal['id']}/commitments", json=body, headers=friends[who]["headers"]
            )
        elif step == "spend":
            client.post(
                f"{API}/deals/{spending_deals[who]['id']}/commitments",
                json={"quantity": amount},
                headers=sharer["headers"],
            )
        elif step == "withdraw":
            for target in (deal, *spending_deals):
                client.delete(
                    f"{API}/deals/{target['id']}/commitments/mine",
                    headers=everyone[who]["headers"],
                )
        elif step in ("redeem", "refund"):
            items = client.get(f"{API}/me/vouchers", headers=everyone[who]["headers"]).json
            issued = [v for v in items["items"] if v["status"] == "issued"]
            if issued:
                owner = shop if issued[0]["deal_id"] in spending_ids else merchant
                verb = "redeem" if step == "redeem" else "refund"
                client.post(f"{API}/vouchers/{issued[0]['code']}/{verb}", headers=owner["headers"])
        else:
            clock += timedelta(days=who)
            run(app, jobs.earn_referral_credit, now=clock)
            run(app, jobs.settle_referral_credit, now=clock)

    run(app, jobs.earn_referral_credit, now=clock)
    run(app, jobs.settle_referral_credit, now=clock)
    for account in everyone:
        assert_ledger_is_the_balance(engine, client, account)
    assert credits(client, sharer)["pending_cents"] >= 0
    for owner in (merchant, shop):
        report = client.get(
            f"{API}/merchant/statement",
            query_string={"from": iso(start), "to": iso(clock + timedelta(days=1))},
            headers=owner["headers"],
        ).json
        payable = sum(total["payable_cents"] for total in report["totals"])
        in_ledger = scalar(
            engine,
            "SELECT coalesce(sum(amount_cents), 0) FROM ledger_entries"
            " WHERE merchant_id = :id AND account = 'merchant_payable'",
            id=owner["account"]["id"],
        )
        assert payable == -in_ledger
    assert scalar(engine, "SELECT coalesce(sum(amount_cents), 0) FROM ledger_entries") == 0
