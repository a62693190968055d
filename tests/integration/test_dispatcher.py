"""The notification dispatcher against a real local HTTP receiver (webhooks and push gateway).

Time is passed in as `now`; the receiver is a real `ThreadingHTTPServer` on 127.0.0.1 that can
answer 500, redirect, or be down (connection refused).
"""

import socket
import threading
import time
import tracemalloc
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from core.db import in_unit_of_work
from deals.jobs import close_deals
from notifications.dispatcher import DispatchSettings, dispatch, fan_out, lease_due, record
from notifications.jobs import dispatch_notifications
from notifications.services import enqueue
from notifications.transports import Outcome
from tests.conftest import Api
from tests.factories import API, commit, from_now, parse_time, rows, scalar
from tests.receiver import GZIP_BOMB_BYTES, Silent

SETTINGS = DispatchSettings(push_gateway_url=None, allow_loopback=True)


@pytest.fixture
def loopback(make_app, database_url) -> Api:
    """An `Api` on an app that lets webhooks target 127.0.0.1 (the local receiver)."""
    return Api(make_app(WEBHOOK_ALLOW_LOOPBACK=True).test_client())


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_webhook(api: Api, merchant: dict, url: str, events=()) -> dict:
    response = api.client.post(
        f"{API}/webhooks", json={"url": url, "events": list(events)}, headers=merchant["headers"]
    )
    assert response.status_code == 201, response.json
    return response.json


def enqueue_events(
    db, engine, account: dict, count: int, *, kind="commitment.created", at: datetime | None = None
) -> list[int]:
    """`count` events for `account` (payload `{"n": i}`), optionally back-dated to `at`; their ids."""
    tag = uuid.uuid4().hex
    for number in range(count):
        enqueue(
            db,
            kind=kind,
            recipients=[uuid.UUID(account["account"]["id"])],
            title=f"Event {number}",
            body="Something happened.",
            payload={"n": number},
            dedupe_key=f"test:{tag}:{number}",
        )
    db.commit()
    if at is not None:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE outbox_events SET created_at = :at, next_attempt_at = :at "
                    "WHERE dedupe_key LIKE :tag"
                ),
                {"at": at, "tag": f"test:{tag}:%"},
            )
    return [
        row.id
        for row in rows(
            engine,
            "SELECT id FROM outbox_events WHERE dedupe_key LIKE :tag ORDER BY id",
            tag=f"test:{tag}:%",
        )
    ]


def deliveries(engine, channel="webhook") -> list:
    return rows(
        engine, "SELECT * FROM deliveries WHERE channel = :channel ORDER BY id", channel=channel
    )


def latest_due(engine) -> datetime:
    """When every pending delivery is due again."""
    return scalar(engine, "SELECT max(next_attempt_at) FROM deliveries WHERE status = 'pending'")


def signature_matches(secret: str, request) -> bool:
    """The signature recomputed with the reference library for the request's own timestamp."""
    timestamp = datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), UTC)
    expected = StandardWebhook(secret).sign(
        request.headers["webhook-id"], timestamp, request.body.decode()
    )
    return expected in request.headers["webhook-signature"].split(" ")


# --- webhooks: down, then back ------------------------------------------------------------------


def test_events_for_a_receiver_that_is_down_are_all_delivered_once_it_is_back_with_stable_ids_and_valid_signatures(
    loopback,
    db,
    engine,
    receiver,
):
    merchant = loopback.register("merchant")
    hook = create_webhook(loopback, merchant, receiver.url())
    start = utcnow() - timedelta(hours=6)  # the retries below end before the real now
    event_ids = enqueue_events(db, engine, merchant, 3, at=start)

    receiver.mode = "error"
    first = dispatch(session=db, now=start, settings=SETTINGS)
    assert (first["events"], first["webhooks"], first["retried"]) == (3, 3, 3)
    assert [request.status for request in receiver.received()] == [500, 500, 500]

    receiver.stop()  # now the connection is refused
    now = start
    for _ in range(4):
        now = latest_due(engine)
        assert dispatch(session=db, now=now, settings=SETTINGS)["retried"] == 3
    pending = deliveries(engine)
    assert {(d.status, d.attempts) for d in pending} == {("pending", 5)}
    assert all("Cannot connect" in d.last_error for d in pending), [d.last_error for d in pending]
    assert len(receiver.received()) == 3  # nothing got through while it was down

    receiver.start()
    receiver.mode = "ok"
    assert latest_due(engine) <= utcnow()
    assert dispatch(session=db, now=utcnow(), settings=SETTINGS)["delivered"] == 3

    # every event arrived exactly once, under the id it had on its failed attempt
    expected_ids = {f"msg_{event_id}" for event_id in event_ids}
    assert receiver.accepted_ids() == {message_id: 1 for message_id in expected_ids}
    ids_by_event = defaultdict(set)
    for request in receiver.received():
        ids_by_event[request.json()["data"]["n"]].add(request.headers["webhook-id"])
    assert sorted(ids_by_event) == [0, 1, 2]
    assert all(len(ids) == 1 for ids in ids_by_event.values()), ids_by_event
    assert set().union(*ids_by_event.values()) == expected_ids

    # signatures: the reference library verifies the fresh deliveries (timestamp tolerance
    # included), and the failed attempts were signed for their own timestamps
    verifier = StandardWebhook(hook["secret"])
    for request in receiver.accepted():
        message = verifier.verify(request.body, request.headers)
        assert message["type"] == "commitment.created"
        assert message["timestamp"] == start.isoformat().replace("+00:00", "Z")
        assert request.headers["content-type"] == "application/json"
    for request in receiver.received():
        assert signature_matches(hook["secret"], request)
    with pytest.raises(WebhookVerificationError):  # and another secret does not verify
        StandardWebhook("whsec_" + "A" * 44).verify(
            receiver.accepted()[0].body, receiver.accepted()[0].headers
        )

    listed = loopback.client.get(
        f"{API}/webhooks/{hook['id']}/deliveries", headers=merchant["headers"]
    )
    assert listed.status_code == 200
    assert {(d["status"], d["attempts"], d["last_error"]) for d in listed.json["items"]} == {
        ("delivered", 6, None)
    }
    assert scalar(engine, "SELECT count(*) FROM notifications") == 3  # inbox: once per event


def test_a_failing_delivery_backs_off_exponentially_with_jitter_and_is_dead_after_24_hours(
    loopback,
    db,
    engine,
    receiver,
):
    merchant = loopback.register("merchant")
    hook = create_webhook(loopback, merchant, receiver.url())
    enqueue_events(db, engine, merchant, 1)
    receiver.mode = "error"
    start = utcnow()

    attempts_at, delays = [], []
    now = start
    for _ in range(200):
        dispatch(session=db, now=now, settings=SETTINGS)
        (delivery,) = deliveries(engine)
        attempts_at.append(now)
        if delivery.status != "pending":
            break
        delays.append(delivery.next_attempt_at - now)
        now = delivery.next_attempt_at
    else:
        pytest.fail("the delivery was retried for ever")

    assert delivery.status == "dead"
    assert delivery.last_error == "HTTP 500"
    assert delivery.attempts == len(attempts_at) == len(receiver.received())
    # retried for 24 h, dead at the first attempt after that
    assert attempts_at[-2] - start < timedelta(hours=24) <= attempts_at[-1] - start
    # base 10 s doubling per attempt, capped at 1 h, jittered into [50 %, 150 %]
    slack = timedelta(milliseconds=1)
    for number, delay in enumerate(delays):
        nominal = min(timedelta(seconds=10) * 2**number, timedelta(hours=1))
        assert nominal * 0.5 - slack <= delay <= nominal * 1.5 + slack, (number, delay)
    assert delays[8] > delays[0] * 50
    assert len({round(d.total_seconds(), 3) for d in delays[-5:]}) == 5  # jitter, not lockstep
    assert {r.headers["webhook-id"] for r in receiver.received()} == {
        receiver.received()[0].headers["webhook-id"]
    }

    # dead means dead: nothing more is sent, however late the dispatcher runs
    dispatch(session=db, now=now + timedelta(days=3), settings=SETTINGS)
    assert len(receiver.received()) == delivery.attempts

    listed = loopback.client.get(
        f"{API}/webhooks/{hook['id']}/deliveries", headers=merchant["headers"]
    )
    assert listed.status_code == 200
    (item,) = listed.json["items"]
    assert (item["status"], item["last_error"], item["attempts"], item["kind"]) == (
        "dead",
        "HTTP 500",
        delivery.attempts,
        "commitment.created",
    )
    assert item["delivered_at"] is None


@pytest.mark.parametrize("target", ["receiver", "metadata"])
def test_a_redirect_from_the_receiver_is_not_followed(loopback, db, engine, receiver, target):
    merchant = loopback.register("merchant")
    create_webhook(loopback, merchant, receiver.url("/hook"))
    enqueue_events(db, engine, merchant, 1)
    receiver.mode = "redirect"
    receiver.redirect_to = {
        "receiver": receiver.url("/landed"),
        "metadata": "http://169.254.169.254/latest/meta-data/",
    }[target]

    result = dispatch(session=db, now=utcnow(), settings=SETTINGS)

    assert [(r.path, r.status) for r in receiver.received()] == [("/hook", 302)]
    assert result["delivered"] == 0
    (delivery,) = deliveries(engine)
    assert delivery.status == "pending" and "redirect" in delivery.last_error.lower()


def test_the_signature_verifies_whatever_time_zone_the_dispatchers_now_is_in(
    loopback,
    db,
    engine,
    receiver,
):
    merchant = loopback.register("merchant")
    hook = create_webhook(loopback, merchant, receiver.url())
    enqueue_events(db, engine, merchant, 1)

    dispatch(
        session=db, now=utcnow().astimezone(ZoneInfo("America/Los_Angeles")), settings=SETTINGS
    )

    (request,) = receiver.accepted()
    assert StandardWebhook(hook["secret"]).verify(request.body, request.headers)["data"] == {"n": 0}


def test_a_loopback_webhook_is_refused_at_delivery_when_loopback_is_not_allowed(
    loopback,
    db,
    engine,
    receiver,
):
    merchant = loopback.register("merchant")
    create_webhook(loopback, merchant, receiver.url())  # registered while loopback was allowed
    enqueue_events(db, engine, merchant, 1)

    dispatch(
        session=db,
        now=utcnow(),
        settings=DispatchSettings(push_gateway_url=None, allow_loopback=False),
    )

    assert receiver.received() == []
    (delivery,) = deliveries(engine)
    assert delivery.status == "dead"
    assert "loopback" in delivery.last_error


def test_four_dispatchers_in_parallel_deliver_each_of_1000_events_exactly_once(
    app,
    loopback,
    db,
    engine,
    receiver,
):
    merchant = loopback.register("merchant")
    create_webhook(loopback, merchant, receiver.url())
    with engine.begin() as connection:  # 1,000 pending events in one statement
        connection.execute(
            text(
                "INSERT INTO outbox_events (kind, recipient_id, title, body, payload, dedupe_key) "
                "SELECT 'commitment.created', :recipient, 'New commitment', 'n = ' || n, "
                "jsonb_build_object('n', n), 'bulk:' || n FROM generate_series(1, 1000) AS n"
            ),
            {"recipient": merchant["account"]["id"]},
        )
    event_ids = [row.id for row in rows(engine, "SELECT id FROM outbox_events")]
    settings = DispatchSettings(
        push_gateway_url=None, allow_loopback=True, batch_size=50, workers=4
    )
    now = utcnow()
    start_together = threading.Barrier(4)
    sessions = [app.extensions["db_sessionmaker"]() for _ in range(4)]

    def run(session):
        start_together.wait(timeout=10)
        try:
            return dispatch(session=session, now=now, settings=settings)
        finally:
            session.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, sessions, timeout=60))

    assert receiver.accepted_ids() == {f"msg_{event_id}": 1 for event_id in event_ids}
    assert len(receiver.received()) == 1000
    assert sum(r["events"] for r in results) == 1000
    assert sum(r["delivered"] for r in results) == 1000
    assert sum(1 for r in results if r["events"] or r["delivered"]) >= 2, results  # in parallel
    assert scalar(engine, "SELECT count(*) FROM notifications") == 1000
    assert rows(engine, "SELECT status, count(*) FROM deliveries GROUP BY status") == [
        ("delivered", 1000)
    ]


def test_deliveries_leased_by_a_dispatcher_that_died_are_sent_by_another_after_the_lease(
    loopback,
    db,
    engine,
    receiver,
):
    merchant = loopback.register("merchant")
    create_webhook(loopback, merchant, receiver.url())
    enqueue_events(db, engine, merchant, 2)
    now = utcnow()
    in_unit_of_work(db, fan_out, now=now, settings=SETTINGS)
    leased = in_unit_of_work(db, lease_due, now=now, settings=SETTINGS)
    assert len(leased) == 2  # ... and then it died

    assert (
        dispatch(session=db, now=now + SETTINGS.lease - timedelta(seconds=1), settings=SETTINGS)[
            "delivered"
        ]
        == 0
    )  # still leased: nobody else sends
    assert receiver.received() == []
    assert dispatch(session=db, now=now + SETTINGS.lease, settings=SETTINGS)["delivered"] == 2
    assert len(receiver.accepted_ids()) == 2


def rebinding_dns(monkeypatch, host: str, *, first: str, then: str, first_answers: int) -> None:
    """Make `host` resolve to `first` for its first `first_answers` look-ups, then to `then`."""
    lookups = []
    resolve = socket.getaddrinfo

    def getaddrinfo(name, port, *args, **kwargs):
        if name != host:
            return resolve(name, port, *args, **kwargs)
        lookups.append(name)
        address = first if len(lookups) <= first_answers else then
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_webhook_host_that_rebinds_to_loopback_after_passing_the_check_gets_no_request(
    make_app,
    db,
    engine,
    receiver,
    monkeypatch,
):
    # public at registration and at the delivery's check, loopback for any look-up after that
    rebinding_dns(
        monkeypatch, "rebind.example", first="93.184.216.34", then="127.0.0.1", first_answers=2
    )
    strict = Api(make_app(WEBHOOK_ALLOW_LOOPBACK=False).test_client())
    merchant = strict.register("merchant")
    create_webhook(strict, merchant, f"http://rebind.example:{receiver.port}/hook")
    enqueue_events(db, engine, merchant, 1)

    result = dispatch(
        session=db,
        now=utcnow(),
        settings=DispatchSettings(push_gateway_url=None, allow_loopback=False),
    )

    assert receiver.received() == []
    assert result["delivered"] == 0
    (delivery,) = deliveries(engine)  # it went to the checked address, which does not answer
    assert delivery.last_error == "Cannot connect or no answer within 5 s"


def test_a_gzip_bomb_answer_is_neither_inflated_nor_read_whole_and_the_delivery_is_recorded(
    loopback,
    db,
    engine,
    receiver,
):
    merchant = loopback.register("merchant")
    create_webhook(loopback, merchant, receiver.url())
    enqueue_events(db, engine, merchant, 1)
    receiver.mode = "gzip-bomb"

    tracemalloc.start()
    try:
        result = dispatch(session=db, now=utcnow(), settings=SETTINGS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < GZIP_BOMB_BYTES // 16, f"{peak:,} bytes allocated during the run"
    assert result["delivered"] == 1
    (request,) = receiver.received()
    assert request.headers["accept-encoding"] == "identity"  # and honest servers do not gzip


def test_a_merchant_whose_endpoint_never_answers_does_not_hold_up_another_merchants_delivery(
    loopback,
    db,
    engine,
    receiver,
):
    slow, fast = loopback.register("merchant"), loopback.register("merchant")
    arrived = []
    receiver.on_request = lambda request: arrived.append(time.monotonic())
    with Silent() as silent:
        create_webhook(loopback, slow, silent.url())
        create_webhook(loopback, fast, receiver.url())
        enqueue_events(db, engine, slow, 2)  # enough to fill both slots
        enqueue_events(db, engine, fast, 1)
        started = time.monotonic()
        result = dispatch(
            session=db,
            now=utcnow(),
            settings=DispatchSettings(push_gateway_url=None, allow_loopback=True, workers=2),
        )

    assert (result["delivered"], result["retried"]) == (1, 2)
    (arrival,) = arrived
    assert arrival - started < 4, "the fast merchant waited for the slow one's 5 s timeout"
    slow_errors = {d.last_error for d in deliveries(engine) if d.status == "pending"}
    assert slow_errors == {"Cannot connect or no answer within 5 s"}


def test_deliveries_to_a_hanging_endpoint_that_cannot_be_sent_within_their_lease_are_left_for_the_next(
    loopback,
    db,
    engine,
    receiver,
):
    merchant = loopback.register("merchant")
    settings = DispatchSettings(
        push_gateway_url=None, allow_loopback=True, workers=2, lease=timedelta(seconds=7)
    )  # one 5 s attempt fits, two do not
    with Silent() as silent:
        create_webhook(loopback, merchant, silent.url())
        enqueue_events(db, engine, merchant, 4)
        now = utcnow()
        result = dispatch(session=db, now=now, settings=settings)

    assert result["retried"] == 1
    attempted = [d for d in deliveries(engine) if d.attempts]
    left = [d for d in deliveries(engine) if not d.attempts]
    assert len(attempted) == 1 and len(left) == 3
    for delivery in left:  # untouched, and due again when the lease ends
        assert (delivery.status, delivery.last_error) == ("pending", None)
        assert now + settings.lease <= delivery.next_attempt_at < now + timedelta(seconds=8)


class SteppingClock:
    """A clock that moves `step` on at every reading (a long run, in fast motion)."""

    def __init__(self, start: datetime, step: timedelta):
        self.now, self.step, self.readings = start, step, []

    def __call__(self) -> datetime:
        self.now += self.step
        self.readings.append(self.now)
        return self.now


def test_a_long_run_signs_leases_and_records_at_the_time_of_each_batch_not_its_start(
    loopback,
    db,
    engine,
    receiver,
):
    merchant = loopback.register("merchant")
    hook = create_webhook(loopback, merchant, receiver.url())
    enqueue_events(db, engine, merchant, 2)
    sent = []  # (signed for, the lease's end as stored while the request is in flight)

    def observe(request):
        event_id = int(request.headers["webhook-id"].removeprefix("msg_"))
        sent.append(
            (
                datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), UTC),
                scalar(
                    engine,
                    "SELECT next_attempt_at FROM deliveries WHERE event_id = :id",
                    id=event_id,
                ),
            )
        )

    receiver.on_request = observe
    clock = SteppingClock(utcnow(), SETTINGS.lease - timedelta(seconds=10))

    dispatch(
        session=db,
        now=clock.now,
        settings=DispatchSettings(push_gateway_url=None, allow_loopback=True, batch_size=1),
        clock=clock,
    )

    assert len(sent) == 2
    (first_signed, _), (second_signed, _) = sent
    assert second_signed - first_signed >= timedelta(minutes=2)  # a fresh webhook-timestamp
    for signed, lease_ends in sent:
        assert lease_ends > signed, "the lease had run out before the delivery was sent"
    for request in receiver.received():
        assert signature_matches(hook["secret"], request)
    recorded = sorted(d.delivered_at for d in deliveries(engine))
    assert all(at in clock.readings for at in recorded)  # the outcome's own time (backoff too)
    assert [signed < at for (signed, _), at in zip(sent, recorded)] == [True, True]


def test_a_late_outcome_from_a_dispatcher_whose_lease_was_taken_over_is_dropped(
    loopback,
    db,
    engine,
    receiver,
):
    merchant = loopback.register("merchant")
    create_webhook(loopback, merchant, receiver.url())
    enqueue_events(db, engine, merchant, 1)
    now = utcnow()
    in_unit_of_work(db, fan_out, now=now, settings=SETTINGS)
    (stale,) = in_unit_of_work(db, lease_due, now=now, settings=SETTINGS)  # ... and then it hangs
    later = now + SETTINGS.lease + timedelta(seconds=1)
    (taken_over,) = in_unit_of_work(db, lease_due, now=later, settings=SETTINGS)
    nothing = {"delivered": 0, "retried": 0, "dead": 0}

    assert (
        in_unit_of_work(
            db, record, results=[(stale, Outcome(False, "HTTP 500"))], now=later, settings=SETTINGS
        )
        == nothing
    )  # while the other dispatcher holds the lease
    assert (
        in_unit_of_work(
            db, record, results=[(taken_over, Outcome(True))], now=later, settings=SETTINGS
        )["delivered"]
        == 1
    )
    assert (
        in_unit_of_work(
            db,
            record,
            results=[(stale, Outcome(False, "gone", permanent=True))],
            now=later + timedelta(seconds=1),
            settings=SETTINGS,
        )
        == nothing
    )

    (delivery,) = deliveries(engine)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 1, None)
    assert delivery.delivered_at == later


# --- push -------------------------------------------------------------------------------------------


def register_device(api: Api, user: dict, token: str, platform="android") -> dict:
    response = api.client.post(
        f"{API}/me/devices", json={"platform": platform, "token": token}, headers=user["headers"]
    )
    assert response.status_code == 201, response.json
    return response.json


def device_tokens(engine) -> list[str]:
    return [row.token for row in rows(engine, "SELECT token FROM devices ORDER BY token")]


def test_push_messages_reach_the_gateway_in_fcm_shape_and_an_unregistered_token_is_removed(
    api,
    make_app,
    db,
    engine,
    receiver,
):
    push_app = make_app(PUSH_GATEWAY_URL=receiver.url("/push"), WEBHOOK_ALLOW_LOOPBACK=False)
    alice, bob = api.register(), api.register()
    register_device(api, alice, "token-alive", "android")
    register_device(api, alice, "token-gone", "ios")
    register_device(api, bob, "token-bob", "web")
    receiver.unregistered_tokens = {"token-gone"}
    enqueue(
        db,
        kind="deal.tipped",
        recipients=[uuid.UUID(alice["account"]["id"])],
        title="Deal tipped!",
        body="It's on.",
        payload={"deal_id": "d-1", "committed_count": 5},
        dedupe_key="deal.tipped:d-1",
    )
    db.commit()

    with push_app.app_context():
        result = dispatch_notifications(session=db, now=utcnow())

    assert (result["push"], result["push_skipped"], result["delivered"], result["dead"]) == (
        2,
        0,
        1,
        1,
    )
    messages = {r.json()["message"]["token"]: r for r in receiver.received("/push")}
    assert sorted(messages) == ["token-alive", "token-gone"]  # bob's device got nothing
    assert messages["token-alive"].status == 200 and messages["token-gone"].status == 404
    assert messages["token-alive"].json() == {
        "message": {
            "token": "token-alive",
            "notification": {"title": "Deal tipped!", "body": "It's on."},
            "data": {"kind": "deal.tipped", "deal_id": "d-1", "committed_count": "5"},
        }
    }
    assert device_tokens(engine) == ["token-alive", "token-bob"]

    # the next event goes to the remaining device only
    enqueue(
        db,
        kind="deal.closed",
        recipients=[uuid.UUID(alice["account"]["id"])],
        title="Deal closed",
        body="Vouchers ready.",
        payload={"deal_id": "d-1"},
        dedupe_key="deal.closed:d-1",
    )
    db.commit()
    with push_app.app_context():
        assert dispatch_notifications(session=db, now=utcnow())["delivered"] == 1
    assert [r.json()["message"]["token"] for r in receiver.received("/push")][2:] == ["token-alive"]


def test_a_push_gateway_error_is_retried_and_keeps_the_device(api, db, engine, receiver):
    alice = api.register()
    register_device(api, alice, "token-alive")
    enqueue(
        db,
        kind="deal.tipped",
        recipients=[uuid.UUID(alice["account"]["id"])],
        title="t",
        body="b",
        payload={},
        dedupe_key="deal.tipped:x",
    )
    db.commit()
    settings = DispatchSettings(push_gateway_url=receiver.url("/push"), allow_loopback=False)
    receiver.mode = "error"
    now = utcnow()

    assert dispatch(session=db, now=now, settings=settings)["retried"] == 1
    assert device_tokens(engine) == ["token-alive"]
    receiver.mode = "ok"
    assert dispatch(session=db, now=latest_due(engine), settings=settings)["delivered"] == 1
    assert [r.status for r in receiver.received("/push")] == [500, 200]
    (delivery,) = deliveries(engine, "push")
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


def test_without_a_push_gateway_push_is_skipped_and_counted_and_the_inbox_still_gets_it(
    api,
    client,
    make_app,
    db,
    engine,
    receiver,
):
    no_push_app = make_app(PUSH_GATEWAY_URL=None)
    alice = api.register()
    register_device(api, alice, "token-1")
    register_device(api, alice, "token-2", "ios")
    enqueue(
        db,
        kind="deal.tipped",
        recipients=[uuid.UUID(alice["account"]["id"])],
        title="t",
        body="b",
        payload={},
        dedupe_key="deal.tipped:y",
    )
    db.commit()

    with no_push_app.app_context():
        result = dispatch_notifications(session=db, now=utcnow())

    assert (result["events"], result["push"], result["push_skipped"]) == (1, 0, 2)
    assert receiver.received() == []
    assert deliveries(engine, "push") == []
    inbox = client.get(f"{API}/me/notifications", headers=alice["headers"]).json["items"]
    assert [item["kind"] for item in inbox] == ["deal.tipped"]


def test_a_failed_deal_is_one_outbox_event_that_reaches_each_committer_and_the_merchant_once(
    loopback,
    make_app,
    db,
    engine,
    receiver,
):
    push_app = make_app(PUSH_GATEWAY_URL=receiver.url("/push"), WEBHOOK_ALLOW_LOOPBACK=True)
    merchant = loopback.register("merchant")
    venue = loopback.create_venue(merchant)
    deal = loopback.create_deal(merchant, venue, min_commitments=10, ends_at=from_now(hours=1))
    customers = [loopback.register() for _ in range(3)]
    for customer in customers:
        assert commit(loopback, customer, deal).status_code == 201
    dispatch(
        session=db, now=utcnow(), settings=SETTINGS
    )  # the commitment events, to nobody's device
    for number, customer in enumerate(customers):
        register_device(loopback, customer, f"token-{number}")
    bystander = loopback.register()
    register_device(loopback, bystander, "token-bystander")
    create_webhook(loopback, merchant, receiver.url("/hook"), events=["deal.failed"])
    now = parse_time(deal["ends_at"]) + timedelta(seconds=1)

    assert in_unit_of_work(db, close_deals, now=now)["events"] == 1
    assert scalar(engine, "SELECT count(*) FROM outbox_events WHERE kind = 'deal.failed'") == 1
    with push_app.app_context():
        result = dispatch_notifications(session=db, now=now)
        again = dispatch_notifications(session=db, now=now + timedelta(minutes=5))

    assert (result["events"], result["push"], result["webhooks"], result["delivered"]) == (
        1,
        3,
        1,
        4,
    )
    assert (again["events"], again["delivered"]) == (0, 0)
    pushed = [request.json()["message"] for request in receiver.received("/push")]
    assert sorted(message["token"] for message in pushed) == ["token-0", "token-1", "token-2"]
    assert {message["data"]["deal_id"] for message in pushed} == {deal["id"]}
    (hook,) = receiver.received("/hook")
    assert (hook.json()["type"], hook.json()["data"]["deal_id"]) == ("deal.failed", deal["id"])
    for account in [*customers, merchant]:
        inbox = loopback.client.get(f"{API}/me/notifications", headers=account["headers"]).json
        assert [item["kind"] for item in inbox["items"]].count("deal.failed") == 1
    bystander_inbox = loopback.client.get(f"{API}/me/notifications", headers=bystander["headers"])
    assert bystander_inbox.json["items"] == []


# --- the outbox is transactional ----------------------------------------------------------------------


def test_a_commitment_refused_for_the_per_user_limit_leaves_no_event(api, engine):
    merchant = api.register("merchant")
    deal = api.create_deal(
        merchant, api.create_venue(merchant), min_commitments=5, per_user_limit=1
    )
    customer = api.register()
    assert commit(api, customer, deal).status_code == 201

    refused = commit(api, customer, deal)

    assert refused.status_code == 409 and refused.json["code"] == "per-user-limit"
    assert (
        scalar(engine, "SELECT count(*) FROM outbox_events WHERE kind = 'commitment.created'") == 1
    )
    assert scalar(engine, "SELECT committed_count FROM deals WHERE id = :id", id=deal["id"]) == 1
    assert scalar(engine, "SELECT count(*) FROM commitments") == 1


@pytest.fixture
def commit_refused_for(engine):
    """Make COMMIT fail for transactions that add a commitment of a chosen account (a deferred
    constraint trigger), as a lost connection or a serialization failure would."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE OR REPLACE FUNCTION test_refuse_commit() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"
            )
        )
    account_ids = []

    def refuse(account_id: str) -> None:
        account_ids.append(account_id)
        with engine.begin() as connection:
            connection.execute(
                text(
                    f"CREATE CONSTRAINT TRIGGER test_refuse_commit_{len(account_ids)} "
                    "AFTER INSERT ON commitments DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                    f"WHEN (NEW.account_id = '{uuid.UUID(account_id)}') "
                    "EXECUTE FUNCTION test_refuse_commit()"
                )
            )

    yield refuse
    with engine.begin() as connection:
        for number in range(1, len(account_ids) + 1):
            connection.execute(
                text(f"DROP TRIGGER IF EXISTS test_refuse_commit_{number} ON commitments")
            )
        connection.execute(text("DROP FUNCTION IF EXISTS test_refuse_commit()"))


def test_a_tipping_commitment_whose_transaction_fails_at_commit_leaves_no_event(
    api,
    engine,
    commit_refused_for,
):
    merchant = api.register("merchant")
    deal = api.create_deal(merchant, api.create_venue(merchant), min_commitments=2)
    first, second = api.register(), api.register()
    assert commit(api, first, deal).status_code == 201
    events_before = rows(engine, "SELECT kind, recipient_id FROM outbox_events ORDER BY id")
    commit_refused_for(second["account"]["id"])

    failed = commit(api, second, deal)  # would tip the deal: deal.tipped x3, commitment.created

    assert failed.status_code == 500
    assert rows(engine, "SELECT kind, recipient_id FROM outbox_events ORDER BY id") == events_before
    assert scalar(engine, "SELECT status FROM deals WHERE id = :id", id=deal["id"]) == "active"
    assert scalar(engine, "SELECT count(*) FROM vouchers") == 0
