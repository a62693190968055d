"""The scheduler process: one leader by advisory lock, hot standby takeover, clean signals, CLI."""

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from tests.conftest import ROOT
from tests.processes import STOPPED, Scheduler, wait_until


@pytest.fixture
def scheduler_env(database_url):
    return dict(
        os.environ,
        DATABASE_URL=database_url,
        SCHEDULER_STANDBY_POLL_SECONDS="1",
        PASSWORD_HASH_FAST="true",
    )


@pytest.fixture
def start_scheduler(scheduler_env, tmp_path):
    started = []

    def start() -> Scheduler:
        scheduler = Scheduler(tmp_path / f"scheduler-{len(started)}.log", scheduler_env)
        started.append(scheduler)
        return scheduler

    yield start
    for scheduler in started:
        scheduler.cleanup()


def start_pair(start_scheduler) -> tuple[Scheduler, Scheduler]:
    """Two schedulers; returns (leader, standby) once each has said which it is."""
    first, second = start_scheduler(), start_scheduler()
    settled = wait_until(
        lambda: (first.leads() and second.stands_by()) or (second.leads() and first.stands_by()),
        timeout=20,
    )
    assert settled, f"first:\n{first.log}\nsecond:\n{second.log}"
    return (first, second) if first.leads() else (second, first)


def test_of_two_schedulers_exactly_one_leads_and_the_standby_takes_over_when_it_is_killed(
    start_scheduler,
):
    leader, standby = start_pair(start_scheduler)
    time.sleep(1.5)  # more than one standby poll: the standby must not start leading as well
    assert not standby.leads(), standby.log
    assert leader.process.poll() is None and standby.process.poll() is None

    killed_at = time.monotonic()
    leader.process.kill()  # SIGKILL: no clean-up; PostgreSQL frees the lock with the connection
    leader.process.wait()
    assert wait_until(standby.leads, timeout=10), standby.log
    assert time.monotonic() - killed_at < 10

    sent_at = time.monotonic()  # and the new leader stops cleanly on SIGTERM
    assert standby.stop(signal.SIGTERM) == 0, standby.log
    assert time.monotonic() - sent_at < 5
    assert STOPPED in standby.shutdown_log and "Traceback" not in standby.shutdown_log


def test_sigint_stops_a_standby_and_a_leader_cleanly_and_quickly(start_scheduler):
    leader, standby = start_pair(start_scheduler)
    for scheduler in (standby, leader):
        sent_at = time.monotonic()
        assert scheduler.stop(signal.SIGINT) == 0, scheduler.log
        assert time.monotonic() - sent_at < 5
        assert STOPPED in scheduler.shutdown_log
        assert "Traceback" not in scheduler.shutdown_log


def test_run_once_prunes_old_idempotency_keys_and_prints_the_count(scheduler_env, engine):
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, response_status, "
                "response_headers, response_body, created_at) VALUES "
                "('account:x', 'old', 'f', 201, '{}', '{}', now() - interval '25 hours'),"
                "('account:x', 'new', 'f', 201, '{}', '{}', now() - interval '23 hours')"
            )
        )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "app",
            "jobs",
            "run-once",
            "prune-idempotency-keys",
        ],
        cwd=ROOT,
        env=scheduler_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "prune-idempotency-keys: deleted=1" in result.stdout
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT key FROM idempotency_keys")).scalars().all()
    assert kept == ["new"]


# The two below run the same click commands in-process (a `flask` subprocess costs ~2 s).


def test_run_once_with_an_unknown_job_name_fails_and_lists_the_jobs(app):
    result = app.test_cli_runner().invoke(args=["jobs", "run-once", "make-coffee"])
    assert result.exit_code != 0
    assert "prune-idempotency-keys" in result.output
    assert "dispatch-notifications" in result.output


def test_jobs_list_names_every_registered_job(app):
    result = app.test_cli_runner().invoke(args=["jobs", "list"])
    assert result.exit_code == 0
    names = {line.split("\t")[0] for line in result.output.splitlines()}
    assert {"prune-idempotency-keys", "dispatch-notifications"} <= names
