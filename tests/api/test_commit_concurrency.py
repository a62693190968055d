"""Real parallel HTTP commits against a live gunicorn (2 workers x 8 threads) on one hot deal."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.factories import API, deal_body, outbox, register_over_http, rows, scalar


def fire_in_parallel(
    base_url: str, deal_id: str, requests_: list[tuple[dict, dict]]
) -> list[tuple[int, dict]]:
    """Send one commit per `(headers, body)` at once (all threads released by a barrier).

    Returns `(status, json)` per request, in order.
    """
    barrier = threading.Barrier(len(requests_))
    url = f"{base_url}{API}/deals/{deal_id}/commitments"

    def send(item):
        headers, body = item
        barrier.wait()
        response = requests.post(url, json=body, headers=headers, timeout=60)
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=len(requests_)) as pool:
        return list(pool.map(send, requests_))


@pytest.fixture
def merchant(live_server):
    return register_over_http(live_server, 1, role="merchant")[0]


@pytest.fixture
def venue(live_server, merchant):
    response = requests.post(
        f"{live_server}{API}/venues",
        headers=merchant["headers"],
        json={"name": "Hot spot", "location": {"lat": 52.52, "lon": 13.405}},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()


def create_deal(live_server, merchant, venue, **terms) -> dict:
    response = requests.post(
        f"{live_server}{API}/deals",
        headers=merchant["headers"],
        json=deal_body(venue, **terms),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()


def deal_state(engine, deal_id) -> dict:
    """Counter, open units, rows and vouchers of a deal, read straight from the database."""
    row = rows(
        engine,
        """
        SELECT d.status, d.committed_count, d.tipped_at,
               (SELECT coalesce(sum(quantity), 0) FROM commitments
                 WHERE deal_id = d.id AND status <> 'released') AS open_units,
               (SELECT count(*) FROM commitments WHERE deal_id = d.id) AS commitment_rows,
               (SELECT coalesce(sum(quantity), 0) FROM commitments
                 WHERE deal_id = d.id AND status = 'confirmed') AS confirmed_units,
               (SELECT count(*) FROM commitments
                 WHERE deal_id = d.id AND status = 'pending') AS pending_rows,
               (SELECT count(*) FROM vouchers WHERE deal_id = d.id) AS vouchers,
               (SELECT coalesce(sum(open_quantity), 0) FROM deal_participants
                 WHERE deal_id = d.id) AS participant_units
          FROM deals d WHERE d.id = :id""",
        id=deal_id,
    )[0]
    return row._asdict()


def assert_every_commitment_has_exactly_its_vouchers(engine, deal_id) -> None:
    mismatched = rows(
        engine,
        """
        SELECT c.id, c.quantity, count(v.id) AS vouchers
          FROM commitments c LEFT JOIN vouchers v ON v.commitment_id = c.id
         WHERE c.deal_id = :id AND c.status = 'confirmed'
         GROUP BY c.id, c.quantity HAVING count(v.id) <> c.quantity""",
        id=deal_id,
    )
    assert mismatched == []
    assert scalar(
        engine,
        "SELECT count(DISTINCT code) = count(*) FROM vouchers WHERE deal_id = :id",
        id=deal_id,
    )


def assert_tipped_once(engine, deal_id, merchant_id, expected_tip_committers: int) -> None:
    """One `deal.tipped` per recipient: the committers pending at the tip, and the merchant."""
    events = outbox(engine, "deal.tipped", deal_id)
    tipped_recipients = [str(event.recipient_id) for event in events]
    assert len(tipped_recipients) == len(set(tipped_recipients))
    assert all(event.dedupe_key.startswith(f"deal.tipped:{deal_id}:") for event in events)
    confirmed_at_tip = {
        str(r.account_id)
        for r in rows(
            engine,
            """
        SELECT c.account_id FROM commitments c JOIN deals d ON d.id = c.deal_id
         WHERE c.deal_id = :id AND c.confirmed_at = d.tipped_at""",
            id=deal_id,
        )
    }
    assert len(confirmed_at_tip) == expected_tip_committers
    assert set(tipped_recipients) == confirmed_at_tip | {merchant_id}


def test_200_parallel_commits_on_a_deal_capped_at_50_sell_exactly_50_units(
    live_server, engine, merchant, venue
):
    deal = create_deal(live_server, merchant, venue, min_commitments=10, max_commitments=50)
    customers = register_over_http(live_server, 200)

    results = fire_in_parallel(live_server, deal["id"], [(c["headers"], {}) for c in customers])

    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 50, 409: 150}, statuses
    assert {body["code"] for status, body in results if status == 409} == {"sold-out"}
    state = deal_state(engine, deal["id"])
    assert state["status"] == "tipped"
    assert state["committed_count"] == state["open_units"] == state["commitment_rows"] == 50
    assert state["participant_units"] == 50
    assert state["confirmed_units"] == state["vouchers"] == 50
    assert state["pending_rows"] == 0
    assert_every_commitment_has_exactly_its_vouchers(engine, deal["id"])
    assert_tipped_once(engine, deal["id"], merchant["account"]["id"], expected_tip_committers=10)
    assert len(outbox(engine, "commitment.created", deal["id"])) == 50
    winners = {body["commitment"]["id"] for status, body in results if status == 201}
    assert winners == {str(r.id) for r in rows(engine, "SELECT id FROM commitments")}


def test_one_account_sending_10_parallel_commits_gets_no_more_than_its_per_user_limit(
    live_server, engine, merchant, venue
):
    deal = create_deal(
        live_server, merchant, venue, min_commitments=5, max_commitments=100, per_user_limit=2
    )
    customer = register_over_http(live_server, 1)[0]

    results = fire_in_parallel(live_server, deal["id"], [(customer["headers"], {})] * 10)

    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 2, 409: 8}, statuses
    assert {body["code"] for status, body in results if status == 409} == {"per-user-limit"}
    state = deal_state(engine, deal["id"])
    assert state["committed_count"] == state["open_units"] == state["commitment_rows"] == 2
    assert state["participant_units"] == 2


def test_one_account_racing_mixed_quantities_never_passes_its_per_user_limit(
    live_server, engine, merchant, venue
):
    deal = create_deal(
        live_server, merchant, venue, min_commitments=50, max_commitments=None, per_user_limit=3
    )
    customer = register_over_http(live_server, 1)[0]

    results = fire_in_parallel(
        live_server, deal["id"], [(customer["headers"], {"quantity": 1 + n % 3}) for n in range(12)]
    )

    taken = sum(body["commitment"]["quantity"] for status, body in results if status == 201)
    assert 1 <= taken <= 3
    assert {body["code"] for status, body in results if status == 409} == {"per-user-limit"}
    state = deal_state(engine, deal["id"])
    assert state["committed_count"] == state["open_units"] == state["participant_units"] == taken


def test_a_tipping_point_crossed_by_concurrent_commits_tips_once_and_issues_each_voucher_once(
    live_server, engine, merchant, venue
):
    deal = create_deal(
        live_server, merchant, venue, min_commitments=25, max_commitments=None, per_user_limit=3
    )
    customers = register_over_http(live_server, 40)
    quantities = [1 + n % 3 for n in range(40)]  # 79 units in all, the tip at 25

    results = fire_in_parallel(
        live_server,
        deal["id"],
        [(c["headers"], {"quantity": q}) for c, q in zip(customers, quantities)],
    )

    assert [status for status, _ in results] == [201] * 40, [b for s, b in results if s != 201][:3]
    state = deal_state(engine, deal["id"])
    assert state["status"] == "tipped" and state["tipped_at"] is not None
    assert (
        state["committed_count"] == state["confirmed_units"] == state["vouchers"] == sum(quantities)
    )
    assert state["pending_rows"] == 0
    assert_every_commitment_has_exactly_its_vouchers(engine, deal["id"])
    pending_at_tip = scalar(
        engine,
        """
        SELECT count(*) FROM commitments c JOIN deals d ON d.id = c.deal_id
         WHERE c.deal_id = :id AND c.confirmed_at = d.tipped_at""",
        id=deal["id"],
    )
    units_at_tip = scalar(
        engine,
        """
        SELECT sum(quantity) FROM commitments c JOIN deals d ON d.id = c.deal_id
         WHERE c.deal_id = :id AND c.confirmed_at = d.tipped_at""",
        id=deal["id"],
    )
    assert 25 <= units_at_tip <= 27  # the tipping commitment brings at most 3 units
    assert_tipped_once(
        engine, deal["id"], merchant["account"]["id"], expected_tip_committers=pending_at_tip
    )
    # Everyone who committed after the tip was confirmed at once, in the response.
    after_tip = [body for _, body in results if body["deal"]["tipped_at"] is not None]
    assert all(body["commitment"]["status"] == "confirmed" for body in after_tip)


def test_parallel_requests_with_one_idempotency_key_commit_once(
    live_server, engine, merchant, venue
):
    deal = create_deal(live_server, merchant, venue, min_commitments=5, per_user_limit=5)
    customer = register_over_http(live_server, 1)[0]
    headers = {**customer["headers"], "Idempotency-Key": "tap-tap-tap"}

    results = fire_in_parallel(live_server, deal["id"], [(headers, {"quantity": 1})] * 10)

    created = [body for status, body in results if status == 201]
    refused = [body for status, body in results if status != 201]
    assert created and all(body == created[0] for body in created)
    assert {(body["status"], body["code"]) for body in refused} <= {(409, "idempotency-key-in-use")}
    assert deal_state(engine, deal["id"])["committed_count"] == 1
    assert scalar(engine, "SELECT count(*) FROM commitments") == 1


def test_a_cancel_racing_parallel_commits_leaves_no_open_commitment_or_live_voucher(
    live_server, engine, merchant, venue
):
    deal = create_deal(live_server, merchant, venue, min_commitments=5, max_commitments=None)
    customers = register_over_http(live_server, 30)
    barrier = threading.Barrier(31)

    def send_commit(customer):
        barrier.wait()
        return requests.post(
            f"{live_server}{API}/deals/{deal['id']}/commitments",
            json={},
            headers=customer["headers"],
            timeout=60,
        )

    def send_cancel():
        barrier.wait()
        return requests.post(
            f"{live_server}{API}/deals/{deal['id']}/cancel", headers=merchant["headers"], timeout=60
        )

    with ThreadPoolExecutor(max_workers=31) as pool:
        commits = [pool.submit(send_commit, customer) for customer in customers]
        cancel = pool.submit(send_cancel)
        commit_results = [future.result() for future in commits]

    assert cancel.result().status_code == 200
    assert {r.status_code for r in commit_results} <= {201, 409}
    assert {r.json()["code"] for r in commit_results if r.status_code == 409} <= {"deal-not-open"}
    state = deal_state(engine, deal["id"])
    assert state["status"] == "cancelled"
    assert state["committed_count"] == state["open_units"] == state["participant_units"] == 0
    assert scalar(engine, "SELECT count(*) FROM vouchers WHERE status <> 'void'") == 0
    committed = sorted(r.json()["commitment"]["id"] for r in commit_results if r.status_code == 201)
    assert committed == sorted(str(r.id) for r in rows(engine, "SELECT id FROM commitments"))
    told = sorted(str(r.recipient_id) for r in outbox(engine, "deal.cancelled", deal["id"]))
    committers = sorted(
        str(r.account_id) for r in rows(engine, "SELECT account_id FROM commitments")
    )
    assert told == committers


def test_parallel_redemptions_of_one_voucher_redeem_it_once(live_server, engine, merchant, venue):
    deal = create_deal(live_server, merchant, venue, min_commitments=1)
    customer = register_over_http(live_server, 1)[0]
    assert fire_in_parallel(live_server, deal["id"], [(customer["headers"], {})])[0][0] == 201
    code = requests.get(
        f"{live_server}{API}/me/vouchers", headers=customer["headers"], timeout=30
    ).json()["items"][0]["code"]
    barrier = threading.Barrier(10)

    def redeem(_):
        barrier.wait()
        response = requests.post(
            f"{live_server}{API}/vouchers/{code}/redeem", headers=merchant["headers"], timeout=60
        )
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(redeem, range(10)))

    assert Counter(status for status, _ in results) == {200: 1, 409: 9}
    assert {body["code"] for status, body in results if status == 409} == {"already-redeemed"}
    assert len(outbox(engine, "voucher.redeemed")) == 2  # the merchant and the customer, once each
