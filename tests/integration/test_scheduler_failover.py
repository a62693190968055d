"""Real `flask --app app jobs run` processes closing real deals: failover and catch-up.

Deals end a few seconds ahead on the real clock; the schedulers run every job each second.
"Exactly once" is checked two ways: the schedulers' own logs (the close-deals counts of every
process add up to one transition per deal) and the outbox (one outcome event per deal, naming
each recipient once, and one inbox row per recipient of every event).
"""

import os
import time
from datetime import timedelta

import pytest

from tests.factories import commit, iso, move_deal_to_past, parse_time, rows, scalar, utcnow
from tests.processes import Scheduler, wait_until


@pytest.fixture
def start_scheduler(database_url, tmp_path):
    """Start scheduler processes (every job every second); all are killed after the test."""
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        SCHEDULER_STANDBY_POLL_SECONDS="1",
        JOB_INTERVAL_SECONDS="1",
        DISPATCH_INTERVAL_SECONDS="1",
        PUSH_GATEWAY_URL="",
        WEBHOOK_ALLOW_LOOPBACK="false",
        PASSWORD_HASH_FAST="true",
    )
    started: list[Scheduler] = []

    def start() -> Scheduler:
        scheduler = Scheduler(tmp_path / f"scheduler-{len(started)}.log", env)
        started.append(scheduler)
        return scheduler

    yield start
    for scheduler in started:
        scheduler.cleanup()


class Scenario:
    """Deals that end soon, with commitments, and the outcome events they must produce."""

    def __init__(self, api):
        self.api = api
        self.merchant = api.register("merchant")
        self.venue = api.create_venue(self.merchant)
        self.customers = [api.register() for _ in range(3)]
        self.deals: list[dict] = []
        self.expected: set[tuple[str, str, str]] = set()  # (kind, deal_id, recipient_id)

    def deal(self, ends_in: timedelta, *, min_commitments: int, committers: int) -> dict:
        """A deal ending `ends_in` from now that will tip (or not) with `committers` units."""
        deal = self.api.create_deal(
            self.merchant,
            self.venue,
            min_commitments=min_commitments,
            ends_at=iso(utcnow() + ends_in),
        )
        for customer in self.customers[:committers]:
            assert commit(self.api, customer, deal).status_code == 201
        kind = "deal.closed" if committers >= min_commitments else "deal.failed"
        for account in [self.merchant, *self.customers[:committers]]:
            self.expected.add((kind, deal["id"], account["account"]["id"]))
        self.deals.append(deal)
        return deal

    def batch(self, ends_in: timedelta) -> list[dict]:
        """Three deals: one that tipped, one with too few committers, one with none."""
        return [
            self.deal(ends_in, min_commitments=1, committers=2),
            self.deal(ends_in, min_commitments=3, committers=2),
            self.deal(ends_in, min_commitments=2, committers=0),
        ]

    @property
    def expected_totals(self) -> tuple[int, int]:
        kinds = {deal_id: kind for kind, deal_id, _ in self.expected}
        closed = sum(1 for kind in kinds.values() if kind == "deal.closed")
        return closed, len(kinds) - closed

    def statuses(self, engine, deals=None) -> set[str]:
        ids = [deal["id"] for deal in (deals or self.deals)]
        return {
            row.status
            for row in rows(engine, "SELECT status FROM deals WHERE id::text = ANY(:ids)", ids=ids)
        }

    def all_ended(self, engine, deals=None) -> bool:
        return self.statuses(engine, deals) <= {"closed", "failed"}

    def wait_past_the_end(self) -> None:
        last_end = max(parse_time(deal["ends_at"]) for deal in self.deals)
        time.sleep(max(0.0, (last_end - utcnow()).total_seconds()) + 0.2)

    def check_outcomes(self, engine) -> None:
        """Every deal ended as it should, and every outcome event exists exactly once."""
        expected_status = {deal_id: kind.split(".")[1] for kind, deal_id, _ in self.expected}
        assert {
            row.id: row.status for row in rows(engine, "SELECT id::text AS id, status FROM deals")
        } == expected_status
        events = rows(
            engine,
            "SELECT kind, payload->>'deal_id' AS deal_id FROM outbox_events "
            "WHERE kind IN ('deal.closed', 'deal.failed')",
        )
        assert sorted(tuple(row) for row in events) == sorted(
            {(kind, deal_id) for kind, deal_id, _ in self.expected}
        )
        audience = rows(
            engine,
            "SELECT kind, payload->>'deal_id' AS deal_id, r.recipient::text "
            "FROM outbox_events CROSS JOIN LATERAL unnest(coalesce("
            "recipient_ids, ARRAY[recipient_id])) AS r(recipient) "
            "WHERE kind IN ('deal.closed', 'deal.failed')",
        )
        assert sorted(tuple(row) for row in audience) == sorted(self.expected)
        assert (
            rows(
                engine,
                "SELECT dedupe_key FROM outbox_events GROUP BY dedupe_key HAVING count(*) > 1",
            )
            == []
        )


def inbox_matches_outbox(engine) -> bool:
    """No event is pending, and every recipient of every event has exactly one inbox row for it."""
    if scalar(engine, "SELECT count(*) FROM outbox_events WHERE status = 'pending'"):
        return False
    inbox = rows(engine, "SELECT event_id, account_id FROM notifications")
    audience = rows(
        engine,
        "SELECT id, r.recipient FROM outbox_events CROSS JOIN LATERAL "
        "unnest(coalesce(recipient_ids, ARRAY[recipient_id])) AS r(recipient)",
    )
    # Sorted lists, not sets: a second inbox row for the same recipient is a mismatch too.
    return bool(audience) and sorted(map(tuple, inbox)) == sorted(map(tuple, audience))


def test_when_the_leading_scheduler_is_killed_the_standby_takes_over_and_every_deal_ends_exactly_once(
    api, engine, start_scheduler
):
    first, second = start_scheduler(), start_scheduler()
    scenario = Scenario(api)  # set up while the schedulers boot
    assert wait_until(
        lambda: (first.leads() and second.stands_by()) or (second.leads() and first.stands_by()),
        timeout=20,
    ), f"first:\n{first.log}\nsecond:\n{second.log}"
    leader, standby = (first, second) if first.leads() else (second, first)

    before_kill = scenario.batch(timedelta(seconds=3))
    assert wait_until(lambda: scenario.all_ended(engine, before_kill), timeout=10), leader.log
    # only the leader ran jobs; the standby ran none
    assert leader.job_runs("close-deals") and standby.job_runs() == [], standby.log
    assert not standby.leads()

    leader.process.kill()  # SIGKILL: PostgreSQL frees the advisory lock with the connection
    leader.process.wait(timeout=10)
    killed_at = time.monotonic()
    scenario.batch(timedelta(seconds=3))  # these end around the takeover
    assert wait_until(standby.leads, timeout=10), standby.log
    assert time.monotonic() - killed_at < 10

    scenario.wait_past_the_end()
    assert wait_until(lambda: scenario.all_ended(engine), timeout=10), standby.log
    assert wait_until(lambda: inbox_matches_outbox(engine), timeout=10)
    standby.stop()

    scenario.check_outcomes(engine)
    # one transition per deal, across both processes: the old leader did the first batch,
    # the new one the second
    assert leader.closed_and_failed() == (1, 2)
    assert standby.closed_and_failed() == (1, 2)
    assert scenario.expected_totals == (2, 4)


def test_deals_that_end_while_no_scheduler_runs_are_all_closed_once_by_the_first_sweep_after_restart(
    api, engine, start_scheduler
):
    before = start_scheduler()
    scenario = Scenario(api)  # set up while the scheduler boots
    assert wait_until(before.leads, timeout=20), before.log
    scenario.batch(timedelta(hours=1))
    scenario.deal(timedelta(hours=1), min_commitments=2, committers=3)  # tipped, 3 committers
    before.stop()
    assert before.job_runs("close-deals"), before.log  # it did run while it was up
    assert before.closed_and_failed() == (0, 0)

    for deal in scenario.deals:  # while it is down, the deals end (time travel in SQL)
        move_deal_to_past(engine, deal["id"], ended_ago=timedelta(minutes=10))
    time.sleep(1.5)  # well past a job interval: nothing is running that could close them
    assert scenario.statuses(engine) <= {"active", "tipped"}

    after = start_scheduler()
    assert wait_until(lambda: len(after.job_runs("close-deals")) >= 2, timeout=20), after.log
    first_sweep, *later = after.job_runs("close-deals")
    assert (first_sweep["closed"], first_sweep["failed"]) == (2, 2)
    assert all((run["closed"], run["failed"]) == (0, 0) for run in later)
    assert wait_until(lambda: inbox_matches_outbox(engine), timeout=10)
    after.stop()

    scenario.check_outcomes(engine)
    assert after.closed_and_failed() == (2, 2)
