"""Deal sweeps (activate, close, expire vouchers) on real PostGIS, with time passed in as `now`."""

import os
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import in_unit_of_work
from deals import jobs
from tests.factories import (
    API,
    commit,
    from_now,
    move_deal_to_past,
    outbox,
    parse_time,
    recipients,
    rows,
    scalar,
)
from tests.processes import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def venue(api, merchant):
    return api.create_venue(merchant)


def status_of(engine, deal) -> str:
    return scalar(engine, "SELECT status FROM deals WHERE id = :id", id=deal["id"])


def event_count(engine) -> int:
    return scalar(engine, "SELECT count(*) FROM outbox_events")


# --- activate-deals -------------------------------------------------------------------------------


def test_activate_deals_opens_a_scheduled_deal_exactly_at_its_start(
    api, app, db, engine, merchant, venue
):
    deal = api.create_deal(merchant, venue, starts_at=from_now(hours=1), ends_at=from_now(days=1))
    starts_at = parse_time(deal["starts_at"])

    def activate(now) -> int:
        with app.app_context():  # the job reads its alert settings from the app config
            return in_unit_of_work(db, jobs.activate_deals, now=now)["activated"]

    assert activate(starts_at - timedelta(microseconds=1)) == 0
    assert status_of(engine, deal) == "scheduled"
    assert activate(starts_at) == 1
    assert status_of(engine, deal) == "active"
    assert activate(starts_at + timedelta(minutes=1)) == 0


def test_activate_deals_leaves_a_scheduled_deal_that_already_ended_to_close_deals(
    api, app, db, engine, merchant, venue
):
    deal = api.create_deal(merchant, venue, starts_at=from_now(hours=1), ends_at=from_now(hours=2))
    after_end = parse_time(deal["ends_at"]) + timedelta(seconds=1)

    with app.app_context():
        assert in_unit_of_work(db, jobs.activate_deals, now=after_end)["activated"] == 0
    assert in_unit_of_work(db, jobs.close_deals, now=after_end)["failed"] == 1
    assert status_of(engine, deal) == "failed"


# --- close-deals ------------------------------------------------------------------------------


@pytest.fixture
def ended(api, client, merchant, venue):
    """A tipped deal, an active one with two pending committers and a withdrawn one, and a running
    deal; the first two end in an hour, `now` is just after that."""
    ends_at = from_now(hours=1)
    tipped = api.create_deal(merchant, venue, title="Tipped", min_commitments=2, ends_at=ends_at)
    short = api.create_deal(merchant, venue, title="Short", min_commitments=5, ends_at=ends_at)
    running = api.create_deal(
        merchant, venue, title="Running", min_commitments=5, ends_at=from_now(days=3)
    )
    people = {
        name: api.register("customer") for name in ("ann", "ben", "cy", "dee", "leaver", "eve")
    }
    for name in ("ann", "ben"):
        assert commit(api, people[name], tipped).status_code == 201
    for name in ("cy", "dee", "leaver"):
        assert commit(api, people[name], short).status_code == 201
    assert (
        client.delete(
            f"{API}/deals/{short['id']}/commitments/mine", headers=people["leaver"]["headers"]
        ).status_code
        == 200
    )
    assert commit(api, people["eve"], running).status_code == 201
    now = parse_time(tipped["ends_at"]) + timedelta(seconds=1)
    return {"tipped": tipped, "short": short, "running": running, "people": people, "now": now}


def ids(*accounts) -> list[str]:
    return sorted(account["account"]["id"] for account in accounts)


def test_close_deals_closes_tipped_deals_and_fails_the_rest_releasing_every_commitment(
    db, engine, merchant, ended
):
    people = ended["people"]

    result = in_unit_of_work(db, jobs.close_deals, now=ended["now"])

    assert (result["closed"], result["failed"], result["released_commitments"]) == (1, 1, 2)
    assert status_of(engine, ended["tipped"]) == "closed"
    assert status_of(engine, ended["short"]) == "failed"
    assert status_of(engine, ended["running"]) == "active"
    short, tipped = ended["short"]["id"], ended["tipped"]["id"]
    counts = rows(
        engine,
        """
        SELECT (SELECT committed_count FROM deals WHERE id = :short) AS short_count,
               (SELECT count(*) FROM commitments
                 WHERE deal_id = :short AND status <> 'released') AS short_open,
               (SELECT count(*) FROM deal_participants WHERE deal_id = :short) AS participants,
               (SELECT committed_count FROM deals WHERE id = :tipped) AS tipped_count,
               (SELECT count(*) FROM vouchers
                 WHERE deal_id = :tipped AND status = 'issued') AS tipped_vouchers""",
        short=short,
        tipped=tipped,
    )[0]
    assert counts._asdict() == {
        "short_count": 0,
        "short_open": 0,
        "participants": 0,
        "tipped_count": 2,
        "tipped_vouchers": 2,
    }
    merchant_id = merchant["account"]["id"]
    assert recipients(engine, "deal.closed", ended["tipped"]["id"]) == sorted(
        ids(people["ann"], people["ben"]) + [merchant_id]
    )
    # The committer who withdrew earlier is not told the deal failed.
    assert recipients(engine, "deal.failed", ended["short"]["id"]) == sorted(
        ids(people["cy"], people["dee"]) + [merchant_id]
    )
    assert outbox(engine, "deal.closed", ended["running"]["id"]) == []
    assert result["events"] == 2  # one group event per deal outcome, fanned out on dispatch


def test_a_failed_deal_tells_only_the_committers_the_sweep_released(db, engine, merchant, ended):
    # The leaver's withdrawal carries the sweep's own timestamp: still not one of its releases.
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE commitments SET released_at = :now WHERE deal_id = :deal AND status = 'released'"
            ),
            {"now": ended["now"], "deal": ended["short"]["id"]},
        )

    in_unit_of_work(db, jobs.close_deals, now=ended["now"])

    people = ended["people"]
    assert recipients(engine, "deal.failed", ended["short"]["id"]) == sorted(
        ids(people["cy"], people["dee"]) + [merchant["account"]["id"]]
    )


def test_close_deals_run_twice_transitions_and_notifies_once(db, engine, ended):
    in_unit_of_work(db, jobs.close_deals, now=ended["now"])
    events = event_count(engine)
    states = rows(engine, "SELECT id, status, closed_at FROM deals ORDER BY id")

    again = in_unit_of_work(db, jobs.close_deals, now=ended["now"] + timedelta(minutes=5))

    assert again == {"closed": 0, "failed": 0, "released_commitments": 0, "events": 0}
    assert event_count(engine) == events
    assert rows(engine, "SELECT id, status, closed_at FROM deals ORDER BY id") == states


def test_close_deals_run_concurrently_from_two_threads_transitions_each_deal_once(
    api, app, engine, merchant, venue
):
    customers = [api.register("customer") for _ in range(4)]
    deals, ends_at = [], from_now(hours=1)
    for n in range(12):
        deal = api.create_deal(
            merchant, venue, title=f"Deal {n}", min_commitments=2 if n % 2 else 3, ends_at=ends_at
        )
        for customer in customers[: 2 + n % 3]:
            assert commit(api, customer, deal).status_code == 201
        deals.append(deal)
    # Odd n: min 2 and >= 2 committers, so tipped; even n: min 3, tipped only with 3+ committers.
    expected_closed = scalar(engine, "SELECT count(*) FROM deals WHERE status = 'tipped'")
    expected_failed = len(deals) - expected_closed
    assert 0 < expected_closed < len(deals)
    now = parse_time(deals[0]["ends_at"]) + timedelta(seconds=1)
    barrier = threading.Barrier(2)

    def sweep() -> dict:
        session = app.extensions["db_sessionmaker"]()
        try:
            barrier.wait()
            return in_unit_of_work(session, jobs.close_deals, now=now)
        finally:
            session.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(sweep) for _ in range(2)]
        results = [future.result(timeout=30) for future in futures]  # re-raises a thread's error

    assert sum(r["closed"] for r in results) == expected_closed
    assert sum(r["failed"] for r in results) == expected_failed
    assert scalar(engine, "SELECT count(*) FROM deals WHERE status = 'closed'") == expected_closed
    assert scalar(engine, "SELECT count(*) FROM deals WHERE status = 'failed'") == expected_failed
    assert sum(r["events"] for r in results) == len(deals)
    assert scalar(
        engine, "SELECT count(*) FROM outbox_events WHERE kind IN ('deal.closed', 'deal.failed')"
    ) == len(deals)
    expected_recipients = rows(
        engine,
        """
        SELECT deal_id::text, account_id FROM commitments
        UNION SELECT id::text, merchant_id FROM deals ORDER BY 1, 2""",
    )
    told = rows(
        engine,
        """
        SELECT payload->>'deal_id', r.account_id FROM outbox_events
         CROSS JOIN LATERAL unnest(recipient_ids) AS r(account_id)
         WHERE kind IN ('deal.closed', 'deal.failed') ORDER BY 1, 2""",
    )
    assert told == expected_recipients  # each recipient once per deal


def commit_held_open_across_the_close(app, engine, customer, deal) -> dict:
    """Commit one unit in the deal's last second with the commitment's transaction still open
    (holding the deal's row) when close-deals starts; let it commit only once the sweep waits
    on that row. Returns the sweep's counts."""
    from accounts.models import Account
    from deals.services import commit_units

    ends_at = parse_time(deal["ends_at"])
    committing = app.extensions["db_sessionmaker"]()
    sweeping = app.extensions["db_sessionmaker"]()
    holding, sweep_waits = threading.Event(), threading.Event()
    really_commit = committing.commit

    def commit_when_the_sweep_waits():
        holding.set()
        assert sweep_waits.wait(30), "close-deals never waited on the deal's row"
        really_commit()

    committing.commit = commit_when_the_sweep_waits

    def commit_in_the_last_second():
        with app.app_context():
            account = committing.get(Account, uuid.UUID(customer["account"]["id"]))
            in_unit_of_work(
                committing,
                commit_units,
                deal_id=uuid.UUID(deal["id"]),
                account=account,
                quantity=1,
                now=ends_at - timedelta(seconds=1),
            )

    def sweep_waits_on_a_lock() -> bool:
        return (
            scalar(
                engine,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE '%UPDATE deals%'",
            )
            > 0
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        committed = pool.submit(commit_in_the_last_second)
        assert holding.wait(30)
        swept = pool.submit(in_unit_of_work, sweeping, jobs.close_deals, now=ends_at)
        assert wait_until(sweep_waits_on_a_lock, timeout=30)
        sweep_waits.set()
        committed.result(timeout=30)
        result = swept.result(timeout=30)
    committing.close()
    sweeping.close()
    return result


def test_a_commitment_committing_while_close_deals_starts_is_released_with_its_failed_deal(
    api, app, client, engine, merchant, venue, customer
):
    deal = api.create_deal(merchant, venue, min_commitments=5)

    result = commit_held_open_across_the_close(app, engine, customer, deal)

    assert (result["failed"], result["released_commitments"]) == (1, 1)
    assert rows(engine, "SELECT status FROM commitments") == [("released",)]
    assert scalar(engine, "SELECT committed_count FROM deals") == 0
    assert scalar(engine, "SELECT count(*) FROM deal_participants") == 0
    assert recipients(engine, "deal.failed", deal["id"]) == sorted(
        [customer["account"]["id"], merchant["account"]["id"]]
    )
    withdrawn = client.delete(
        f"{API}/deals/{deal['id']}/commitments/mine", headers=customer["headers"]
    )
    assert (withdrawn.status_code, withdrawn.json["released_quantity"]) == (200, 0)
    assert withdrawn.json["deal"]["committed_count"] == 0


def test_a_commitment_that_tips_the_deal_as_close_deals_starts_hears_that_it_closed(
    api, app, engine, merchant, venue, customer
):
    deal = api.create_deal(merchant, venue, min_commitments=1)

    result = commit_held_open_across_the_close(app, engine, customer, deal)

    assert result["closed"] == 1
    assert rows(engine, "SELECT status FROM commitments") == [("confirmed",)]
    assert recipients(engine, "deal.closed", deal["id"]) == sorted(
        [customer["account"]["id"], merchant["account"]["id"]]
    )


def test_close_deals_leaves_cancelled_deals_alone(api, client, db, engine, merchant, venue):
    deal = api.create_deal(merchant, venue, ends_at=from_now(hours=1))
    assert (
        client.post(f"{API}/deals/{deal['id']}/cancel", headers=merchant["headers"]).status_code
        == 200
    )
    result = in_unit_of_work(
        db, jobs.close_deals, now=parse_time(deal["ends_at"]) + timedelta(seconds=1)
    )
    assert (result["closed"], result["failed"]) == (0, 0)
    assert status_of(engine, deal) == "cancelled"


def test_close_deals_does_not_touch_a_deal_before_its_end(api, db, engine, merchant, venue):
    deal = api.create_deal(merchant, venue, ends_at=from_now(hours=1))
    result = in_unit_of_work(
        db, jobs.close_deals, now=parse_time(deal["ends_at"]) - timedelta(microseconds=1)
    )
    assert (result["closed"], result["failed"]) == (0, 0)
    assert status_of(engine, deal) == "active"


# --- expire-vouchers ---------------------------------------------------------------------------


def test_expire_vouchers_expires_issued_vouchers_after_redeem_until_only(
    api, client, db, engine, merchant, venue
):
    deal = api.create_deal(merchant, venue, min_commitments=1, per_user_limit=3)
    customer = api.register("customer")
    assert commit(api, customer, deal, 3).status_code == 201
    codes = [
        v["code"]
        for v in client.get(f"{API}/me/vouchers", headers=customer["headers"]).json["items"]
    ]
    assert (
        client.post(f"{API}/vouchers/{codes[0]}/redeem", headers=merchant["headers"]).status_code
        == 200
    )
    redeem_until = parse_time(deal["redeem_until"])

    assert in_unit_of_work(db, jobs.expire_vouchers, now=redeem_until) == {
        "expired": 0,
        "credit_restored_cents": 0,
    }
    assert in_unit_of_work(db, jobs.expire_vouchers, now=redeem_until + timedelta(seconds=1)) == {
        "expired": 2,
        "credit_restored_cents": 0,
    }
    assert in_unit_of_work(db, jobs.expire_vouchers, now=redeem_until + timedelta(days=1)) == {
        "expired": 0,
        "credit_restored_cents": 0,
    }

    statuses = {
        v["code"]: v["status"]
        for v in client.get(f"{API}/me/vouchers", headers=customer["headers"]).json["items"]
    }
    assert statuses == {codes[0]: "redeemed", codes[1]: "expired", codes[2]: "expired"}


# --- by hand -------------------------------------------------------------------------------


def test_close_deals_can_be_run_by_hand_with_the_flask_cli(
    api, engine, database_url, merchant, venue
):
    deal = api.create_deal(merchant, venue, min_commitments=1)
    assert commit(api, api.register("customer"), deal).status_code == 201
    move_deal_to_past(engine, deal["id"])
    env = {**os.environ, "DATABASE_URL": database_url}

    completed = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "jobs", "run-once", "close-deals"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert "close-deals" in completed.stdout and "closed=1" in completed.stdout, completed.stdout
    assert status_of(engine, deal) == "closed"
