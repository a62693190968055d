"""Transactional outbox (enqueue, dedupe, rollback) and the in-app inbox API."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from notifications.jobs import dispatch_notifications
from notifications.models import OutboxEvent
from notifications.services import enqueue

INBOX = "/api/v1/me/notifications"


def account_id(user: dict) -> uuid.UUID:
    return uuid.UUID(user["account"]["id"])


def send(
    db,
    recipients,
    *,
    key: str,
    kind="deal.tipped",
    title="Deal tipped",
    body="It's on!",
    payload=None,
) -> int:
    """Enqueue one event in its own transaction (so it gets its own `now()`)."""
    written = enqueue(
        db,
        kind=kind,
        recipients=recipients,
        title=title,
        body=body,
        payload=payload if payload is not None else {"key": key},
        dedupe_key=key,
    )
    db.commit()
    return written


def dispatch(app, db, now=None):
    with app.app_context():
        return dispatch_notifications(session=db, now=now or datetime.now(UTC))


def outbox_count(db) -> int:
    return db.scalar(select(func.count()).select_from(OutboxEvent))


def inbox(client, user, **params):
    response = client.get(INBOX, headers=user["headers"], query_string=params)
    assert response.status_code == 200, response.json
    return response.json


def walk_inbox(client, user, limit) -> list[dict]:
    items, cursor = [], None
    while True:
        page = inbox(client, user, limit=limit, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


# --- outbox -------------------------------------------------------------------------------------


def test_enqueueing_the_same_event_twice_writes_one_row_per_recipient(api, db):
    alice, bob = api.register(), api.register()
    recipients = [account_id(alice), account_id(bob), account_id(alice)]
    assert send(db, recipients, key="deal:1:tipped") == 2
    assert send(db, recipients, key="deal:1:tipped") == 0
    rows = db.execute(select(OutboxEvent.recipient_id, OutboxEvent.kind)).all()
    expected = [(account_id(alice), "deal.tipped"), (account_id(bob), "deal.tipped")]
    assert sorted(rows) == sorted(expected)


def test_a_repeated_event_reaches_a_recipient_added_later_once(api, db):
    alice, bob = api.register(), api.register()
    assert send(db, [account_id(alice)], key="deal:2:tipped") == 1
    assert send(db, [account_id(alice), account_id(bob)], key="deal:2:tipped") == 1
    assert outbox_count(db) == 2


def test_different_events_for_the_same_recipient_are_both_kept(api, db):
    alice = api.register()
    send(db, [account_id(alice)], key="deal:3:tipped")
    send(db, [account_id(alice)], key="deal:3:closed", kind="deal.closed")
    assert outbox_count(db) == 2


def test_an_enqueue_in_a_rolled_back_transaction_leaves_no_event(api, db):
    alice = api.register()
    written = enqueue(
        db,
        kind="deal.tipped",
        recipients=[account_id(alice)],
        title="t",
        body="b",
        payload={},
        dedupe_key="deal:4:tipped",
    )
    assert written == 1
    assert outbox_count(db) == 1  # visible inside the transaction ...
    db.rollback()
    assert outbox_count(db) == 0  # ... and gone with it
    # the dedupe key was not used up by the rolled-back attempt
    assert send(db, [account_id(alice)], key="deal:4:tipped") == 1


def test_enqueue_writes_nothing_until_the_caller_commits(api, db, engine):
    alice = api.register()
    enqueue(
        db,
        kind="deal.tipped",
        recipients=[account_id(alice)],
        title="t",
        body="b",
        payload={},
        dedupe_key="deal:5:tipped",
    )
    with engine.connect() as other:
        assert other.execute(text("SELECT count(*) FROM outbox_events")).scalar_one() == 0
    db.commit()
    with engine.connect() as other:
        assert other.execute(text("SELECT count(*) FROM outbox_events")).scalar_one() == 1


def test_an_unknown_event_kind_is_refused(api, db):
    with pytest.raises(ValueError):
        enqueue(
            db,
            kind="deal.exploded",
            recipients=[account_id(api.register())],
            title="t",
            body="b",
            payload={},
            dedupe_key="x",
        )


def test_enqueueing_for_nobody_writes_nothing(db):
    assert (
        enqueue(
            db,
            kind="deal.tipped",
            recipients=[],
            title="t",
            body="b",
            payload={},
            dedupe_key="deal:6:tipped",
        )
        == 0
    )


# --- dispatch into the inbox --------------------------------------------------------------------


def test_dispatching_puts_pending_events_into_the_recipients_inboxes(app, api, client, db):
    alice, bob = api.register(), api.register()
    send(
        db,
        [account_id(alice), account_id(bob)],
        key="deal:7:tipped",
        payload={"deal_id": "d7"},
        title="Your deal tipped",
        body="Vouchers are ready.",
    )
    assert inbox(client, alice)["items"] == []

    dispatch(app, db)

    for user in (alice, bob):
        items = inbox(client, user)["items"]
        assert len(items) == 1
        item = items[0]
        assert set(item) == {"id", "kind", "title", "body", "data", "created_at", "read_at"}
        assert (item["kind"], item["title"], item["body"]) == (
            "deal.tipped",
            "Your deal tipped",
            "Vouchers are ready.",
        )
        assert item["data"] == {"deal_id": "d7"}
        assert item["read_at"] is None
        assert item["created_at"].endswith("Z")


def test_dispatching_twice_delivers_each_event_once(app, api, client, db):
    alice = api.register()
    send(db, [account_id(alice)], key="deal:8:tipped")
    dispatch(app, db)
    dispatch(app, db)
    assert len(inbox(client, alice)["items"]) == 1
    with db.bind.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM notifications")).scalar_one() == 1


def test_dispatch_honours_its_now_and_leaves_future_events_pending(app, api, client, db):
    alice = api.register()
    send(db, [account_id(alice)], key="deal:9:tipped")
    dispatch(app, db, now=datetime.now(UTC) - timedelta(hours=1))
    assert inbox(client, alice)["items"] == []
    dispatch(app, db)
    assert len(inbox(client, alice)["items"]) == 1


# --- inbox API ----------------------------------------------------------------------------------


def test_the_inbox_lists_newest_first_and_pages_through_everything(app, api, client, db):
    alice, bob = api.register(), api.register()
    for number in range(7):
        send(db, [account_id(alice)], key=f"deal:{number}:tipped", title=f"number {number}")
    send(db, [account_id(bob)], key="deal:bob:tipped", title="for bob")
    dispatch(app, db)

    items = walk_inbox(client, alice, limit=3)
    assert [item["title"] for item in items] == [f"number {n}" for n in reversed(range(7))]
    created = [item["created_at"] for item in items]
    assert created == sorted(created, reverse=True)
    assert len({item["id"] for item in items}) == 7
    assert [item["title"] for item in inbox(client, bob)["items"]] == ["for bob"]


def test_inbox_pagination_survives_identical_timestamps(app, api, client, db):
    alice = api.register()
    for number in range(5):  # one transaction: all five share now()
        enqueue(
            db,
            kind="deal.tipped",
            recipients=[account_id(alice)],
            title=f"n{number}",
            body="b",
            payload={},
            dedupe_key=f"same-time:{number}",
        )
    db.commit()
    dispatch(app, db)
    everything = inbox(client, alice, limit=100)["items"]
    assert len({item["created_at"] for item in everything}) == 1
    for limit in (1, 2, 4):
        paged = walk_inbox(client, alice, limit=limit)
        assert [item["id"] for item in paged] == [item["id"] for item in everything]


def test_the_inbox_rejects_bad_paging_arguments(api, client):
    alice = api.register()
    for params in ({"limit": 0}, {"limit": 101}, {"cursor": "garbage"}):
        response = client.get(INBOX, headers=alice["headers"], query_string=params)
        assert response.status_code == 422, params
        assert response.json["code"] == "validation-error"


def test_the_inbox_needs_a_token(client):
    response = client.get(INBOX)
    assert response.status_code == 401
    assert response.json["code"] == "unauthorized"


def test_marking_a_notification_read_sets_read_at_once(app, api, client, db):
    alice = api.register()
    send(db, [account_id(alice)], key="deal:10:tipped")
    send(db, [account_id(alice)], key="deal:11:tipped")
    dispatch(app, db)
    first, second = inbox(client, alice)["items"]

    before = datetime.now(UTC) - timedelta(seconds=5)
    response = client.post(f"{INBOX}/{first['id']}/read", headers=alice["headers"])
    assert response.status_code == 200
    assert response.json["id"] == first["id"]
    read_at = datetime.fromisoformat(response.json["read_at"].replace("Z", "+00:00"))
    assert before <= read_at <= datetime.now(UTC) + timedelta(seconds=5)

    again = client.post(f"{INBOX}/{first['id']}/read", headers=alice["headers"])
    assert again.status_code == 200
    assert again.json["read_at"] == response.json["read_at"]

    listed = {item["id"]: item["read_at"] for item in inbox(client, alice)["items"]}
    assert listed == {first["id"]: response.json["read_at"], second["id"]: None}


def test_marking_another_accounts_notification_read_is_404_and_changes_nothing(
    app, api, client, db
):
    alice, mallory = api.register(), api.register()
    send(db, [account_id(alice)], key="deal:12:tipped")
    dispatch(app, db)
    notification = inbox(client, alice)["items"][0]

    response = client.post(f"{INBOX}/{notification['id']}/read", headers=mallory["headers"])
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "not-found"
    assert inbox(client, alice)["items"][0]["read_at"] is None
    assert inbox(client, mallory)["items"] == []


def test_marking_an_unknown_notification_read_is_404(api, client):
    alice = api.register()
    response = client.post(f"{INBOX}/{uuid.uuid4()}/read", headers=alice["headers"])
    assert response.status_code == 404
    assert response.json["code"] == "not-found"
