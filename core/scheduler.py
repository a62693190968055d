"""The scheduler process: APScheduler 3 in exactly one leader process, guarded by an advisory lock.

APScheduler 3 cannot share a job store between processes, so every process running
`flask jobs run` competes for one PostgreSQL session-level advisory lock; the holder runs the
jobs, the others wait as hot standbys and take over when the leader's connection dies (a killed
leader's lock is released by PostgreSQL with its connection). Every job is an idempotent,
set-based sweep, so a late, repeated or overlapping run does the right thing once.
"""

import logging
import signal
import threading
from collections.abc import Callable

import click
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from core.db import close_session, in_unit_of_work, open_session, utcnow

logger = logging.getLogger("schwarm.scheduler")

LEADER_LOCK_ID = 7_320_411_952_001
Job = Callable[..., dict]

jobs_cli = AppGroup("jobs", help="Run the scheduler or one of its jobs.")


def registered_jobs(app: Flask) -> dict[str, tuple[Job, str]]:
    """Job name -> (function, config key of its interval)."""
    return app.extensions["jobs"]


def run_job(app: Flask, name: str) -> dict:
    """Run one job once in its own app context, session and unit of work (the job run's
    transaction edge: committed once when the job returns, rolled back if it raises); log and
    return its counts."""
    func, _interval_key = registered_jobs(app)[name]
    with app.app_context():
        try:
            result = in_unit_of_work(open_session(), func, now=utcnow())
        finally:
            close_session()
    logger.info("job %s: %s", name, " ".join(f"{k}={v}" for k, v in result.items()) or "done")
    return result


class LeaderGuard:
    """Holds the leader advisory lock on a dedicated connection."""

    def __init__(self, database_url: str, lock_id: int = LEADER_LOCK_ID):
        # TCP keepalives let PostgreSQL notice (and release the lock of) a leader whose host
        # vanished, and let the leader notice a vanished database, within about 20 s.
        self.engine = create_engine(
            database_url,
            poolclass=NullPool,
            connect_args={
                "keepalives": 1,
                "keepalives_idle": 5,
                "keepalives_interval": 3,
                "keepalives_count": 3,
            },
        )
        self.lock_id = lock_id
        self.connection = None

    def try_acquire(self) -> bool:
        """Become leader if nobody is; False (and no connection kept) otherwise."""
        connection = None
        try:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            acquired = connection.execute(
                text("SELECT pg_try_advisory_lock(:id)"), {"id": self.lock_id}
            ).scalar_one()
        except Exception as exc:  # the database may be down; standby and retry
            logger.warning("scheduler: cannot reach the database: %s", exc)
            if connection is not None:
                connection.close()
            return False
        if not acquired:
            connection.close()
            return False
        self.connection = connection
        return True

    def still_held(self) -> bool:
        """Whether the lock's connection is alive (if it died, PostgreSQL released the lock)."""
        try:
            self.connection.execute(text("SELECT 1"))
            return True
        except Exception as exc:
            logger.warning("scheduler: lost the leader connection: %s", exc)
            return False

    def release(self) -> None:
        """Give up leadership."""
        if self.connection is not None:
            try:
                self.connection.execute(
                    text("SELECT pg_advisory_unlock(:id)"), {"id": self.lock_id}
                )
                self.connection.close()
            except Exception:  # the connection is gone, and with it the lock
                pass
            self.connection = None


def build_scheduler(app: Flask) -> BackgroundScheduler:
    """An APScheduler with every registered job at its configured interval, first run now."""
    scheduler = BackgroundScheduler(
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    for name, (_func, interval_key) in registered_jobs(app).items():
        scheduler.add_job(
            run_job,
            "interval",
            seconds=app.config[interval_key],
            args=[app, name],
            id=name,
            name=name,
            replace_existing=True,
            next_run_time=utcnow(),
        )
    return scheduler


def run_scheduler(app: Flask, stop: threading.Event) -> None:
    """Lead (run the jobs) or stand by until `stop` is set."""
    poll = app.config["SCHEDULER_STANDBY_POLL_SECONDS"]
    guard = LeaderGuard(app.config["DATABASE_URL"])
    announced_standby = False
    while not stop.is_set():
        if not guard.try_acquire():
            if not announced_standby:
                logger.info("scheduler: another process leads; standing by")
                announced_standby = True
            stop.wait(poll)
            continue
        announced_standby = False
        logger.info("scheduler: leading; jobs: %s", ", ".join(registered_jobs(app)))
        scheduler = build_scheduler(app)
        scheduler.start()
        while not stop.wait(poll) and guard.still_held():
            pass
        scheduler.shutdown(wait=True)
        guard.release()
    logger.info("scheduler: stopped")


@jobs_cli.command("run")
def run_command() -> None:
    """Run the scheduler process (leader or hot standby) until SIGINT/SIGTERM."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    run_scheduler(current_app._get_current_object(), stop)


@jobs_cli.command("run-once")
@click.argument("name")
def run_once_command(name: str) -> None:
    """Run one job once, now."""
    app = current_app._get_current_object()
    if name not in registered_jobs(app):
        raise click.BadParameter(f"choose one of: {', '.join(sorted(registered_jobs(app)))}")
    result = run_job(app, name)
    click.echo(f"{name}: " + (" ".join(f"{k}={v}" for k, v in result.items()) or "done"))


@jobs_cli.command("list")
def list_command() -> None:
    """List the registered jobs and their intervals."""
    app = current_app._get_current_object()
    for name, (_func, interval_key) in sorted(registered_jobs(app).items()):
        click.echo(f"{name}\tevery {app.config[interval_key]} s")
