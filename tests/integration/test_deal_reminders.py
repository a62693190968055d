"""deal-reminders: `deal.ending_soon` to the committers of untipped deals about to end, once."""

from datetime import timedelta

import pytest

from core.db import in_unit_of_work
from deals.jobs import deal_reminders
from notifications.jobs import dispatch_notifications
from tests.factories import API, commit, from_now, parse_time, rows, utcnow


@pytest.fixture
def venue(api, merchant):
    return api.create_venue(merchant)


def reminders(engine) -> list:
    """(recipient_id, deal_id, units_needed, body) of every `deal.ending_soon` event."""
    return sorted(
        (str(row.recipient_id), row.payload["deal_id"], row.payload["units_needed"], row.body)
        for row in rows(
            engine,
            "SELECT recipient_id, payload, body FROM outbox_events WHERE kind = 'deal.ending_soon'",
        )
    )


def remind(app, db, now) -> int:
    with app.app_context():
        return in_unit_of_work(db, deal_reminders, now=now)["reminded"]


def test_committers_of_an_untipped_deal_ending_soon_are_reminded_once_with_the_units_still_needed(
    api, app, client, db, engine, merchant, venue
):
    deal = api.create_deal(
        merchant,
        venue,
        title="Ramen night",
        min_commitments=6,
        max_commitments=10,
        per_user_limit=2,
        ends_at=from_now(minutes=90),
    )
    alice, bob, carol = api.register(), api.register(), api.register()
    for user in (alice, alice, bob, carol):  # alice twice: two commitments, one reminder
        assert commit(api, user, deal).status_code == 201
    withdrawn = client.delete(
        f"{API}/deals/{deal['id']}/commitments/mine", headers=carol["headers"]
    )
    assert withdrawn.status_code == 200, withdrawn.json  # carol is out: 3 committed, 3 to go

    cli = app.test_cli_runner()
    first = cli.invoke(args=["jobs", "run-once", "deal-reminders"])
    second = cli.invoke(args=["jobs", "run-once", "deal-reminders"])

    assert first.exit_code == 0 and "reminded=2" in first.output, first.output
    assert second.exit_code == 0 and "reminded=0" in second.output, second.output
    body = "“Ramen night” still needs 3 unit(s) to tip."
    assert reminders(engine) == sorted(
        (user["account"]["id"], deal["id"], 3, body) for user in (alice, bob)
    )

    with app.app_context():
        dispatch_notifications(session=db, now=utcnow())
    inbox = client.get(f"{API}/me/notifications", headers=alice["headers"]).json["items"]
    assert [
        (item["kind"], item["body"]) for item in inbox if item["kind"] == "deal.ending_soon"
    ] == [("deal.ending_soon", body)]


def test_a_deal_is_reminded_about_only_once_it_comes_within_the_lead_time(
    api, app, db, engine, merchant, venue
):
    deal = api.create_deal(merchant, venue, min_commitments=3, ends_at=from_now(hours=3))
    committer = api.register()
    assert commit(api, committer, deal).status_code == 201
    ends_at = parse_time(deal["ends_at"])

    assert remind(app, db, utcnow()) == 0  # 3 h ahead: too early
    assert remind(app, db, ends_at - timedelta(minutes=121)) == 0
    assert remind(app, db, ends_at - timedelta(minutes=119)) == 1
    assert remind(app, db, ends_at - timedelta(minutes=1)) == 0  # once
    assert [r[:3] for r in reminders(engine)] == [(committer["account"]["id"], deal["id"], 2)]


def test_an_ended_deal_gets_no_reminder(api, app, db, engine, merchant, venue):
    deal = api.create_deal(merchant, venue, min_commitments=3, ends_at=from_now(hours=1))
    assert commit(api, api.register(), deal).status_code == 201
    assert remind(app, db, parse_time(deal["ends_at"])) == 0
    assert reminders(engine) == []


def test_a_tipped_deal_sends_no_reminder(api, app, db, engine, merchant, venue):
    deal = api.create_deal(merchant, venue, min_commitments=1, ends_at=from_now(minutes=30))
    assert commit(api, api.register(), deal).status_code == 201
    assert remind(app, db, utcnow()) == 0
    assert reminders(engine) == []


def test_the_reminder_lead_time_is_configurable(api, make_app, engine, merchant, venue):
    deal = api.create_deal(merchant, venue, min_commitments=3, ends_at=from_now(minutes=60))
    assert commit(api, api.register(), deal).status_code == 201
    short_lead = make_app(REMINDER_LEAD_MINUTES=30)
    ends_at = parse_time(deal["ends_at"])
    session = short_lead.extensions["db_sessionmaker"]()
    try:
        assert remind(short_lead, session, ends_at - timedelta(minutes=45)) == 0
        assert remind(short_lead, session, ends_at - timedelta(minutes=29)) == 1
    finally:
        session.close()
    assert len(reminders(engine)) == 1
