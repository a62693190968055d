"""SQLAlchemy engine, declarative base, the per-request session and the unit of work."""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

from flask import Flask, current_app, g
from sqlalchemy import DateTime, Engine, MetaData, Select, and_, bindparam, create_engine, func, or_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def one_of(column: str, values: Iterable[str]) -> str:
    """The SQL condition `column IN ('a','b')` for a CHECK constraint or a partial index."""
    quoted = ",".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    """Declarative base: every datetime is a `timestamptz`."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (services take `now`; this is the default)."""
    return datetime.now(UTC)


def make_engine(url: str, pool_size: int = 10, *, read_only: bool = False) -> Engine:
    """Create the engine every process shares: pooled, pre-pinged, UTC sessions.

    A `read_only` engine runs each statement in its own read-only transaction (AUTOCOMMIT and
    `default_transaction_read_only`): an endpoint that declared itself read-only and writes
    after all fails loudly instead of writing outside any unit of work.
    """
    options = "-c timezone=UTC -c jit=off" + (
        " -c default_transaction_read_only=on" if read_only else ""
    )
    return create_engine(
        url,
        isolation_level="AUTOCOMMIT" if read_only else "READ COMMITTED",
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        # Batched executemany for bulk UPDATEs (e.g. recording delivery outcomes).
        executemany_mode="values_plus_batch",
        # JIT compilation costs more than these short OLTP queries take.
        connect_args={"options": options},
    )


def init_app(app: Flask) -> None:
    """Attach the engine and session factory to the app; close the request session on teardown."""
    engine = make_engine(app.config["DATABASE_URL"], app.config["DB_POOL_SIZE"])
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    # Read-only endpoints need no transaction: leaving out BEGIN and ROLLBACK saves two of a
    # search's five round trips. They get a pool of their own because switching a pooled
    # connection's isolation level goes through psycopg2's set_isolation_level, a SET round trip
    # each way.
    read_engine = make_engine(
        app.config["DATABASE_URL"], app.config["DB_POOL_SIZE"], read_only=True
    )
    app.extensions["db_read_engine"] = read_engine
    app.extensions["db_read_sessionmaker"] = sessionmaker(read_engine, expire_on_commit=False)
    app.teardown_appcontext(close_session)


def dispose_engines(app: Flask) -> None:
    """Close every pooled connection of the app (tests and forked processes)."""
    app.extensions["db_engine"].dispose()
    app.extensions["db_read_engine"].dispose()


def get_engine() -> Engine:
    """The app's engine."""
    return current_app.extensions["db_engine"]


def open_session(*, read_only: bool = False) -> Session:
    """Open the session of this request or job run (closed at the end of the app context).

    `read_only` (an endpoint that declared so) takes it from the read pool: every statement is
    its own transaction, which under READ COMMITTED sees what a transaction's statements would.
    """
    close_session()
    factory = "db_read_sessionmaker" if read_only else "db_sessionmaker"
    g.db_session = current_app.extensions[factory]()
    return g.db_session


def get_session() -> Session:
    """The session the current endpoint or job run opened (see `open_session`)."""
    session = g.get("db_session")
    if session is None:
        raise RuntimeError(
            "No session is open: declare the view with core.endpoint.endpoint, "
            "or run the job through core.scheduler.run_job."
        )
    return session


@contextmanager
def unit_of_work(session: Session) -> Iterator[Session]:
    """One transaction on `session`: committed once when the block ends, rolled back if it raises.

    The transaction edge: the endpoint decorator opens one per request and the scheduler one per
    job run; services only flush and raise. A job or request that needs several transactions by
    nature (durable before a slow step outside any transaction) opens one per phase, each with a
    comment saying why; a phase commits everything its session did before it, too.
    """
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def close_session(_exc: BaseException | None = None) -> None:
    """Close the current session, rolling back anything uncommitted."""
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def in_unit_of_work(session: Session, verb: Callable[..., T], **kwargs) -> T:
    """`verb(session=session, **kwargs)` in one unit of work on `session`; its result."""
    with unit_of_work(session):
        return verb(session=session, **kwargs)


def newest_first(query: Select, created_at, id_column, after: tuple | None) -> Select:
    """Order by (created_at, id) descending and start after the cursor's (created_at, id)."""
    query = query.order_by(created_at.desc(), id_column.desc())
    if after is None:
        return query
    last_created_at, last_id = after
    return query.where(
        or_(created_at < last_created_at, and_(created_at == last_created_at, id_column < last_id))
    )


def any_of(column, values: list):
    """`column = ANY(:array)`: one array parameter, however many values (unlike IN)."""
    return column == func.any(bindparam(None, list(values), type_=ARRAY(column.type)))
