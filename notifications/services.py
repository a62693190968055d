"""Notification verbs: enqueue events (outbox), inbox, devices, webhooks, alert areas.

The verbs come first, their private helpers after.
"""

import base64
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Select, String, bindparam, case, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from accounts.models import Account
from core.db import newest_first
from core.errors import NotFound, ValidationFailed
from core.keys import keyed_digest
from core.limits import claim_slot
from geo.points import to_ewkt
from notifications.models import (
    EVENT_KINDS,
    MAX_ALERT_RADIUS_M,
    AlertArea,
    Delivery,
    DeliveryChannel,
    Device,
    DeviceHolder,
    Notification,
    OutboxEvent,
    OutboxStatus,
    Webhook,
)
from notifications.ssrf import url_refusal

# A test delivery a merchant asks for; not an event anyone subscribes to (not in EVENT_KINDS).
TEST_EVENT_KIND = "webhook.test"

# Built once and sent as one executemany: a multi-row VALUES insert is compiled afresh on every
# call, which cost more than the insert itself on hot paths (a check-in enqueues one to three).
_ENQUEUE = (
    pg_insert(OutboxEvent.__table__)
    .values(
        {
            name: bindparam(name)
            for name in ("kind", "recipient_id", "title", "body", "payload", "dedupe_key")
        }
    )
    .on_conflict_do_nothing(index_elements=["dedupe_key"])
    .returning(OutboxEvent.id)
)


def enqueue(
    session: Session,
    *,
    kind: str,
    recipients: Iterable[uuid.UUID],
    title: str,
    body: str,
    payload: dict,
    dedupe_key: str,
) -> int:
    """Write one outbox row per recipient in the caller's transaction (no commit here).

    `dedupe_key` names the event; a recipient gets it at most once, so enqueueing the same
    event again is a no-op. Returns how many rows were new.
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    rows = [
        {
            "kind": kind,
            "recipient_id": recipient,
            "title": title,
            "body": body,
            "payload": payload,
            "dedupe_key": f"{dedupe_key}:{recipient}",
        }
        for recipient in dict.fromkeys(recipients)
    ]
    if not rows:
        return 0
    return len(session.execute(_ENQUEUE, rows).all())


def enqueue_insert(kind: str, rows: Select):
    """The INSERT of `enqueue_select`, for a caller that embeds it in its own statement (a CTE)."""
    return _events_insert(
        kind,
        "recipient_id",
        rows,
        lambda c: c.event_key + literal(":") + c.recipient_id.cast(String),
    )


def enqueue_select(session: Session, *, kind: str, rows: Select) -> int:
    """Set-based `enqueue`: `rows` selects `recipient_id, title, body, payload, event_key`.

    Each row becomes one outbox event with dedupe key `event_key:recipient_id`; rows already
    enqueued are skipped. Runs in the caller's transaction. Returns how many rows were new.
    """
    return session.execute(enqueue_insert(kind, rows)).rowcount


def enqueue_group_insert(kind: str, rows: Select):
    """One outbox event per group, as an INSERT returning the new events' ids for a caller that
    embeds it in its own statement (a CTE): `rows` selects `recipient_ids, title, body, payload,
    event_key`.

    For events whose content is the same for every recipient (a deal outcome): one row however
    large the group, fanned out by the dispatcher. `event_key` is the dedupe key, so a group
    event is enqueued once.
    """
    return _events_insert(kind, "recipient_ids", rows, lambda c: c.event_key).returning(
        OutboxEvent.id
    )


def list_notifications(
    *,
    session: Session,
    account_id: uuid.UUID,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Notification]:
    """The account's inbox, newest first."""
    query = select(Notification).where(Notification.account_id == account_id).limit(limit)
    return list(
        session.scalars(newest_first(query, Notification.created_at, Notification.id, after))
    )


def mark_read(
    *, session: Session, account_id: uuid.UUID, notification_id: uuid.UUID, now: datetime
) -> Notification:
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
    session.flush()
    return notification


def enqueue_nearby(
    session: Session, *, deals: Select, reason: str, now: datetime, daily_cap: int
) -> int:
    """`deal.nearby` for every account whose alert area contains one of `deals`, once per reason.

    `deals` selects `deal_id, location, title, units_needed`. A spatial join (ST_DWithin on
    geography) finds the accounts; each account gets at most `daily_cap` such alerts a UTC day.
    The join asks first for areas within the largest radius any area may have, a constant the
    GiST index on `alert_areas.location` answers, then for each area's own radius; the per-row
    radius alone cannot use that index and read every area, inside the hot deal's row lock.
    """
    source = deals.subquery()
    pairs = (
        select(
            AlertArea.account_id,
            source.c.deal_id,
            source.c.title,
            source.c.units_needed,
            func.min(func.ST_Distance(AlertArea.location, source.c.location)).label("distance"),
        )
        .join(
            source,
            func.ST_DWithin(AlertArea.location, source.c.location, MAX_ALERT_RADIUS_M)
            & func.ST_DWithin(AlertArea.location, source.c.location, AlertArea.radius_m),
        )
        .group_by(AlertArea.account_id, source.c.deal_id, source.c.title, source.c.units_needed)
        .subquery()
    )
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    sent_today = (
        select(func.count())
        .where(
            OutboxEvent.recipient_id == pairs.c.account_id,
            OutboxEvent.kind == "deal.nearby",
            OutboxEvent.created_at >= day_start,
        )
        .correlate(pairs)
        .scalar_subquery()
    )
    matches = select(
        pairs.c.account_id.label("recipient_id"),
        pairs.c.deal_id,
        pairs.c.title,
        pairs.c.units_needed,
        sent_today.label("sent_today"),
        func.row_number()
        .over(partition_by=pairs.c.account_id, order_by=pairs.c.distance)
        .label("rank"),
    ).subquery()
    title = "A deal near you" if reason == "opened" else "A deal near you is about to tip"
    rows = select(
        matches.c.recipient_id,
        literal(title).label("title"),
        matches.c.title.label("body"),
        func.jsonb_build_object(
            "deal_id",
            matches.c.deal_id.cast(String),
            "title",
            matches.c.title,
            "reason",
            reason,
            "units_needed",
            matches.c.units_needed,
        ).label("payload"),
        (literal("deal.nearby:") + matches.c.deal_id.cast(String) + literal(f":{reason}")).label(
            "event_key"
        ),
    ).where(matches.c.sent_today + matches.c.rank <= daily_cap)
    return enqueue_select(session, kind="deal.nearby", rows=rows)


def register_device(
    *, session: Session, account_id: uuid.UUID, platform: str, token: str, cap: int
) -> Device:
    """Register a push token for the account (a token moves to whoever registers it last).

    At most `cap` devices per account (409 `limit-reached`; re-registering one's own token is
    not a new device). A token that moves to another account becomes a new device with a new id:
    pushes already queued for the old holder name the old id, so the dispatcher finds no device
    for them and drops them unsent instead of handing them to the new holder.
    """
    claim_slot(
        session,
        owner=Account,
        owner_id=account_id,
        owned=select(Device.id).where(Device.account_id == account_id, Device.token != token),
        cap=cap,
        what="devices per account",
    )
    same_holder = Device.account_id == account_id
    device_id = session.execute(
        pg_insert(Device)
        .values(account_id=account_id, platform=platform, token=token)
        .on_conflict_do_update(
            index_elements=["token"],
            set_={
                "account_id": account_id,
                "platform": platform,
                "id": case((same_holder, Device.id), else_=func.gen_random_uuid()),
                "created_at": case((same_holder, Device.created_at), else_=func.now()),
            },
        )
        .returning(Device.id)
    ).scalar_one()
    session.execute(
        pg_insert(DeviceHolder)
        .values(token_digest=device_token_digest(token), account_id=account_id)
        .on_conflict_do_nothing()
    )
    session.flush()
    return session.get(Device, device_id, populate_existing=True)


def device_token_digest(token: str) -> str:
    """A push token as it is kept in the device history (a keyed digest, not the token)."""
    return keyed_digest("device-token", token)


def remove_device(*, session: Session, account_id: uuid.UUID, device_id: uuid.UUID) -> None:
    """Unregister one of the account's devices."""
    session.delete(_owned(session, Device, device_id, account_id, "device"))
    session.flush()


def create_webhook(
    *,
    session: Session,
    account_id: uuid.UUID,
    url: str,
    events: list[str],
    allow_loopback: bool,
    cap: int,
) -> Webhook:
    """Register a webhook endpoint (SSRF-checked) with a fresh `whsec_` signing secret.

    At most `cap` live webhooks per account (409 `limit-reached`); deleted ones do not count.
    """
    refusal = url_refusal(url, allow_loopback=allow_loopback)
    if refusal:
        raise ValidationFailed({"url": [refusal]})
    claim_slot(
        session,
        owner=Account,
        owner_id=account_id,
        owned=_live_webhooks(account_id),
        cap=cap,
        what="webhooks per account",
    )
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    webhook = Webhook(account_id=account_id, url=url, events=sorted(set(events)), secret=secret)
    session.add(webhook)
    session.flush()
    session.refresh(webhook)
    return webhook


def list_webhooks(
    *, session: Session, account_id: uuid.UUID, limit: int, after=None
) -> list[Webhook]:
    """The account's live webhooks, newest first."""
    query = _live_webhooks(account_id).limit(limit)
    return list(session.scalars(newest_first(query, Webhook.created_at, Webhook.id, after)))


def get_webhook(
    *, session: Session, account_id: uuid.UUID, webhook_id: uuid.UUID, include_deleted=False
) -> Webhook:
    """One of the account's webhooks (live ones unless `include_deleted`); 404 for anyone
    else's."""
    return _owned(session, Webhook, webhook_id, account_id, "webhook", include_deleted)


def delete_webhook(
    *, session: Session, account_id: uuid.UUID, webhook_id: uuid.UUID, now: datetime
) -> None:
    """Stop deliveries to a webhook (kept, soft-deleted, so its delivery log stays readable)."""
    _owned(session, Webhook, webhook_id, account_id, "webhook").deleted_at = now
    session.flush()


def webhook_deliveries(
    *, session: Session, account_id: uuid.UUID, webhook_id: uuid.UUID, limit: int, after=None
) -> list:
    """A webhook's deliveries, newest first, with their event kind (also of a deleted webhook)."""
    get_webhook(session=session, account_id=account_id, webhook_id=webhook_id, include_deleted=True)
    query = (
        select(Delivery, OutboxEvent.kind)
        .join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
        .where(Delivery.channel == DeliveryChannel.WEBHOOK, Delivery.target_id == webhook_id)
        .limit(limit)
    )
    deliveries = []
    for delivery, kind in session.execute(
        newest_first(query, Delivery.created_at, Delivery.id, after)
    ):
        delivery.kind = kind
        deliveries.append(delivery)
    return deliveries


def send_test_event(
    *, session: Session, account_id: uuid.UUID, webhook_id: uuid.UUID, now: datetime
) -> Delivery:
    """Queue a signed `webhook.test` event to one of the account's live webhooks, and to nothing
    else: no inbox entry, no push, no other webhook. The dispatcher sends it like any delivery
    (Standard Webhooks signature, retries), and it shows in the webhook's delivery log."""
    webhook = _owned(session, Webhook, webhook_id, account_id, "webhook")
    event = OutboxEvent(
        kind=TEST_EVENT_KIND,
        recipient_id=account_id,
        title="Test event",
        body="A test event sent from the merchant dashboard.",
        payload={"webhook_id": str(webhook.id), "test": True},
        dedupe_key=f"{TEST_EVENT_KIND}:{webhook.id}:{uuid.uuid4()}",
        # Fanned out here, to this webhook alone, rather than by the dispatcher to all of them.
        status=OutboxStatus.DISPATCHED,
        attempts=1,
        delivered_at=now,
    )
    session.add(event)
    session.flush()
    delivery = Delivery(
        event_id=event.id,
        channel=DeliveryChannel.WEBHOOK,
        target_id=webhook.id,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    return delivery


def create_alert_area(
    *,
    session: Session,
    account_id: uuid.UUID,
    label: str | None,
    lat: float,
    lon: float,
    radius_m: int,
    cap: int,
) -> AlertArea:
    """Watch a circle for new and almost-tipped deals (at most `cap` per account, else 409)."""
    claim_slot(
        session,
        owner=Account,
        owner_id=account_id,
        owned=_areas_of(account_id),
        cap=cap,
        what="alert areas per account",
    )
    area = AlertArea(
        account_id=account_id, label=label, location=to_ewkt(lat, lon), radius_m=radius_m
    )
    session.add(area)
    session.flush()
    session.refresh(area)
    return area


def list_alert_areas(
    *, session: Session, account_id: uuid.UUID, limit: int, after=None
) -> list[AlertArea]:
    """The account's alert areas, newest first."""
    query = _areas_of(account_id).limit(limit)
    return list(session.scalars(newest_first(query, AlertArea.created_at, AlertArea.id, after)))


def delete_alert_area(*, session: Session, account_id: uuid.UUID, area_id: uuid.UUID) -> None:
    """Stop watching an area."""
    session.delete(_owned(session, AlertArea, area_id, account_id, "alert area"))
    session.flush()


def _events_insert(kind: str, audience: str, rows: Select, dedupe_key):
    """INSERT ... SELECT outbox rows of `kind` from `rows`, skipping dedupe keys already taken."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    source = rows.subquery()
    return (
        pg_insert(OutboxEvent)
        .from_select(
            ["kind", audience, "title", "body", "payload", "dedupe_key"],
            select(
                literal(kind),
                source.c[audience],
                source.c.title,
                source.c.body,
                source.c.payload,
                dedupe_key(source.c),
            ),
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )


def _owned(
    session: Session,
    model,
    object_id: uuid.UUID,
    account_id: uuid.UUID,
    what: str,
    include_deleted: bool = False,
):
    """One of the account's `model` rows (live ones unless `include_deleted`); 404 otherwise."""
    found = session.scalars(
        select(model).where(model.id == object_id, model.account_id == account_id)
    ).one_or_none()
    if found is None or (getattr(found, "deleted_at", None) is not None and not include_deleted):
        raise NotFound(f"No such {what}.")
    return found


def _live_webhooks(account_id: uuid.UUID) -> Select:
    """The account's webhooks that are not deleted."""
    return select(Webhook).where(Webhook.account_id == account_id, Webhook.deleted_at.is_(None))


def _areas_of(account_id: uuid.UUID) -> Select:
    """The account's alert areas."""
    return select(AlertArea).where(AlertArea.account_id == account_id)
