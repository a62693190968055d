"""Outbox and inbox verbs: enqueue events, deliver them to the inbox, read the inbox."""
import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Select, String, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from core.db import newest_first
from core.errors import NotFound
from notifications.models import EVENT_KINDS, Notification, OutboxEvent


def enqueue(
    session: Session, *, kind: str, recipients: Iterable[uuid.UUID], title: str, body: str,
    payload: dict, dedupe_key: str,
) -> int:
    """Write one outbox row per recipient in the caller's transaction (no commit here).

    `dedupe_key` names the event; a recipient gets it at most once, so enqueueing the same
    event again is a no-op. Returns how many rows were new.
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    rows = [
        {
            "kind": kind, "recipient_id": recipient, "title": title, "body": body,
            "payload": payload, "dedupe_key": f"{dedupe_key}:{recipient}",
        }
        for recipient in dict.fromkeys(recipients)
    ]
    if not rows:
        return 0
    result = session.execute(
        pg_insert(OutboxEvent).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    return result.rowcount


def enqueue_select(session: Session, *, kind: str, rows: Select) -> int:
    """Set-based `enqueue`: `rows` selects `recipient_id, title, body, payload, event_key`.

    Each row becomes one outbox event with dedupe key `event_key:recipient_id`; rows already
    enqueued are skipped. Runs in the caller's transaction. Returns how many rows were new.
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    source = rows.subquery()
    result = session.execute(
        pg_insert(OutboxEvent)
        .from_select(
            ["kind", "recipient_id", "title", "body", "payload", "dedupe_key"],
            select(
                literal(kind), source.c.recipient_id, source.c.title, source.c.body,
                source.c.payload,
                source.c.event_key + literal(":") + source.c.recipient_id.cast(String),
            ),
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    return result.rowcount


def deliver_to_inbox(*, session: Session, now: datetime, batch_size: int = 500) -> int:
    """Claim pending events (SKIP LOCKED, so parallel dispatchers split the work) into the inbox."""
    claimed = (
        select(OutboxEvent.id)
        .where(OutboxEvent.status == "pending", OutboxEvent.next_attempt_at <= now)
        .order_by(OutboxEvent.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
        .cte("claimed")
    )
    delivered = session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id.in_(select(claimed.c.id)))
        .values(status="delivered", delivered_at=now, attempts=OutboxEvent.attempts + 1)
        .returning(OutboxEvent.id)
    ).scalars().all()
    if delivered:
        session.execute(
            insert(Notification).from_select(
                ["account_id", "event_id", "kind", "title", "body", "data", "created_at"],
                select(
                    OutboxEvent.recipient_id, OutboxEvent.id, OutboxEvent.kind, OutboxEvent.title,
                    OutboxEvent.body, OutboxEvent.payload, OutboxEvent.created_at,
                ).where(OutboxEvent.id.in_(delivered)),
            )
        )
    session.commit()
    return len(delivered)


def list_notifications(
    *, session: Session, account_id: uuid.UUID, limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Notification]:
    """The account's inbox, newest first."""
    query = select(Notification).where(Notification.account_id == account_id).limit(limit)
    return list(session.scalars(newest_first(query, Notification.created_at, Notification.id, after)))


def mark_read(*, session: Session, account_id: uuid.UUID, notification_id: uuid.UUID, now: datetime) -> Notification:
    """Mark one of the account's notifications read (idempotent); 404 for anyone else's."""
    notification = session.scalars(
        select(Notification).where(
            Notification.id == notification_id, Notification.account_id == account_id
        )
    ).one_or_none()
    if notification is None:
        raise NotFound("No such notification.")
    if notification.read_at is None:
        notification.read_at = now
    session.commit()
    return notification
