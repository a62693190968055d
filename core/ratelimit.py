"""Fixed-window rate limits kept in PostgreSQL, keyed on the account or the email (never on the
client IP alone), and for anonymous public reads on the keyed hash of the client network."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import DateTime, Integer, String, bindparam, delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base, utcnow
from core.errors import RateLimited


class RateLimitCounter(Base):
    """Hits of one key in one window."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)


def window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the fixed window `now` falls in."""
    epoch = now.timestamp()
    return datetime.fromtimestamp(epoch - epoch % window.total_seconds(), tz=now.tzinfo)


# Built once: constructing the upsert per request cost more than running it.
_COUNT_HIT = (
    insert(RateLimitCounter.__table__)
    .values(
        key=bindparam("key"),
        window_start=bindparam("window_start"),
        hits=1,
    )
    .on_conflict_do_update(
        index_elements=["key", "window_start"],
        set_={"hits": RateLimitCounter.hits + 1},
    )
    .returning(RateLimitCounter.hits)
)


_FORGIVE_HIT = (
    update(RateLimitCounter.__table__)
    .where(
        RateLimitCounter.key == bindparam("forgiven_key"),
        RateLimitCounter.window_start == bindparam("forgiven_window_start"),
    )
    .values(hits=RateLimitCounter.hits - 1)
)


def add_hit(
    session: Session, *, key: str, window: timedelta, now: datetime
) -> tuple[int, datetime]:
    """Record one hit in the caller's transaction; the window's hits so far, and its start."""
    start = window_start(now, window)
    hits = (
        session.connection().execute(_COUNT_HIT, {"key": key, "window_start": start}).scalar_one()
    )
    return hits, start


def forgive_hit(session: Session, *, key: str, started: datetime) -> None:
    """Take back one hit recorded by `add_hit` in the window that began at `started`."""
    session.connection().execute(
        _FORGIVE_HIT, {"forgiven_key": key, "forgiven_window_start": started}
    )


def count_hit(session: Session, *, key: str, limit: int, window: timedelta, now: datetime) -> None:
    """Record one hit in the caller's transaction; 429 with Retry-After past `limit` a window.

    The hit commits with the request's own work, so a refused or failed request leaves the
    count where it was, and no extra transaction (and WAL flush) is spent on it.
    """
    hits, start = add_hit(session, key=key, window=window, now=now)
    if hits > limit:
        raise RateLimited(
            (start + window - now).total_seconds(),
            f"At most {limit} requests per {int(window.total_seconds())} s; slow down.",
        )


@dataclass(frozen=True)
class RateLimit:
    """A limit of an endpoint per account (or per hashed client network, for anonymous reads):
    `limit_key` and `window_key` name the config values (hits allowed per window, window
    seconds); `bucket` names the counter. A hit normally commits with the request's work, so a
    refused request costs nothing; with `counts_refused` every request counts, refused ones too
    (core.endpoint commits the hit first), for limits against guessing."""

    bucket: str
    limit_key: str
    window_key: str
    counts_refused: bool = False

    def count(self, session: Session, subject) -> None:
        """Count one hit of `subject` (an account id or a client hash) in `session`'s
        transaction; 429 past the limit."""
        config = current_app.config
        count_hit(
            session,
            key=f"{self.bucket}:{subject}",
            limit=config[self.limit_key],
            window=timedelta(seconds=config[self.window_key]),
            now=utcnow(),
        )


def prune_counters(
    *, session: Session, now: datetime, older_than: timedelta = timedelta(hours=1)
) -> int:
    """Drop counters of windows long gone."""
    deleted = session.execute(
        delete(RateLimitCounter).where(RateLimitCounter.window_start < now - older_than)
    ).rowcount
    return deleted


def prune_job(*, session: Session, now: datetime) -> dict:
    """Scheduler job: drop old rate-limit counters (kept at least as long as the login windows)."""
    config = current_app.config
    longest = max(
        timedelta(hours=1),
        timedelta(minutes=config["LOGIN_FAILURE_WINDOW_MINUTES"]),
        timedelta(seconds=config["LOGIN_EMAIL_WINDOW_SECONDS"]),
    )
    return {"deleted": prune_counters(session=session, now=now, older_than=longest)}


JOBS = {"prune-rate-limits": (prune_job, "PRUNE_INTERVAL_SECONDS")}
