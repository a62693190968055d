"""Idempotency keys: replay the first response of a creating POST, atomically with its effect.

It joins the request's unit of work (see core.endpoint): a transaction-scoped advisory lock on
(scope, key), the view's effect and, on success, the stored response are one transaction, so
the effect and the stored response become durable together when the edge commits (or not at
all). A concurrent request with the same key finds the lock taken and gets 409; a later one
finds the stored row and replays it.

Nothing stored helps someone holding a copy of the table: the fingerprint is keyed with the
server key (a body may carry a password), fields a view names as secret are stored redacted,
and anonymous requests are scoped by a keyed hash of their client address.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Response, current_app, g, make_response, request
from sqlalchemy import Integer, String, Text, delete, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base
from core.errors import Conflict, DomainError, ValidationFailed
from core.keys import hashed_client, keyed_digest

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = ("Content-Type", "Location")
REDACTED = "redacted: shown only in the first response"


class IdempotencyKeyReused(DomainError):
    status, code, title = (
        422,
        "idempotency-key-reused",
        "Idempotency key reused with another request",
    )


class IdempotencyKeyInUse(Conflict):
    code, title = "idempotency-key-in-use", "A request with this idempotency key is still running"


class IdempotencyKey(Base):
    """A stored response, keyed by who sent it (account or anonymous) and their key."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(Integer)
    response_headers: Mapped[dict] = mapped_column(JSONB)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)


def request_fingerprint() -> str:
    """Keyed hash of method, path and the body's JSON (key order ignored) of the request.

    Keyed, because a plain SHA-256 of a body holding a password could be guessed against at
    SHA-256 speed, bypassing Argon2.
    """
    body = request.get_data(cache=True)
    try:
        canonical = (
            json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")) if body else ""
        )
    except ValueError:
        canonical = body.decode("utf-8", "replace")
    return keyed_digest("idempotency-fingerprint", f"{request.method} {request.path}\n{canonical}")


def account_scope(account_id) -> str:
    """The scope of an account's keys."""
    return f"account:{account_id}"


def request_scope() -> str:
    """Whose keys these are: the account, or (anonymous) the client address, keyed-hashed."""
    account = g.get("account")
    if account is not None:
        return account_scope(account.id)
    return f"anonymous:{hashed_client()[:48]}"


def _stored_body(response: Response, redact: tuple[str, ...]) -> str:
    body = response.get_data(as_text=True)
    if not redact:
        return body
    document = json.loads(body)
    for name in redact:
        if name in document:
            document[name] = REDACTED
    return json.dumps(document)


def _lock_id(scope: str, key: str) -> int:
    digest = hashlib.sha256(f"{scope}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _replay(row: IdempotencyKey) -> Response:
    response = Response(row.response_body, status=row.response_status)
    for name, value in row.response_headers.items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def replay_or_run(
    session: Session, run: Callable[[], object], *, redact: tuple[str, ...] = ()
) -> Response:
    """Honour `Idempotency-Key`: replay the stored response, or `run` the view and store its.

    Runs in the request's transaction on `session`, after authentication (the scope is the
    account). `redact` names top-level response fields that are shown once and never stored: a
    replay answers them with a note instead.
    """
    key = request.headers.get(HEADER)
    if key is None:
        return make_response(run())
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise ValidationFailed({HEADER: [f"Must be 1 to {MAX_KEY_LENGTH} characters."]})
    scope = request_scope()
    fingerprint = request_fingerprint()
    connection = session.connection()
    locked = connection.execute(select(func.pg_try_advisory_xact_lock(_lock_id(scope, key))))
    if not locked.scalar_one():
        raise IdempotencyKeyInUse("The first request with this key has not finished yet.")
    stored = connection.execute(
        select(IdempotencyKey.__table__).where(
            IdempotencyKey.scope == scope, IdempotencyKey.key == key
        )
    ).one_or_none()
    if stored is not None:
        if stored.fingerprint != fingerprint:
            raise IdempotencyKeyReused("This key was used with a different request; use a new key.")
        return _replay(stored)
    response = make_response(run())
    if 200 <= response.status_code < 300:
        connection.execute(
            insert(IdempotencyKey).values(
                scope=scope,
                key=key,
                fingerprint=fingerprint,
                response_status=response.status_code,
                response_headers={
                    name: response.headers[name]
                    for name in REPLAYED_HEADERS
                    if name in response.headers
                },
                response_body=_stored_body(response, redact),
            )
        )
    return response


def prune_idempotency_keys(*, session: Session, now: datetime, ttl: timedelta) -> int:
    """Delete stored responses older than `ttl`; returns how many."""
    deleted = session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < now - ttl)
    ).rowcount
    return deleted


def prune_job(*, session: Session, now: datetime) -> dict:
    """Scheduler job: drop idempotency keys past their retention."""
    ttl = timedelta(hours=current_app.config["IDEMPOTENCY_KEY_TTL_HOURS"])
    return {"deleted": prune_idempotency_keys(session=session, now=now, ttl=ttl)}


JOBS = {"prune-idempotency-keys": (prune_job, "PRUNE_INTERVAL_SECONDS")}
