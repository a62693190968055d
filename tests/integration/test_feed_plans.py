"""The feed and `friends_committed` for an account with 500 friends: one statement each, planned
as short index ranges per friend (the partial indexes of shared items), never a scan of
everyone's check-ins or commitments; and the feed's page is the right one."""

import json
import uuid

import pytest
from sqlalchemy import event, text

from accounts.models import Account
from core.db import utcnow
from social import services
from tests.factories import rows

FRIENDS = 500


def index_names(plan: dict) -> set[str]:
    names = {plan["Index Name"]} if "Index Name" in plan else set()
    for child in plan.get("Plans", []):
        names |= index_names(child)
    return names


def outline(plan: dict, depth: int = 0) -> str:
    """The plan as an indented tree of nodes, relations, indexes and conditions."""
    parts = [plan["Node Type"], plan.get("Relation Name"), plan.get("Index Name")]
    parts += [plan.get("Index Cond"), plan.get("Filter"), f"rows={plan['Plan Rows']}"]
    line = "  " * depth + " ".join(str(part) for part in parts if part)
    return "\n".join([line, *(outline(child, depth + 1) for child in plan.get("Plans", []))])


def scanned_sequentially(plan: dict) -> set[str]:
    names = {plan["Relation Name"]} if plan["Node Type"] == "Seq Scan" else set()
    for child in plan.get("Plans", []):
        names |= scanned_sequentially(child)
    return names


@pytest.fixture
def crowd(engine):
    """A viewer with 500 friends, each with shared and private check-ins and commitments, among
    1,500 strangers with many more of both: 20 open deals of 6,000 commitments each; analysed."""
    viewer = uuid.uuid4()
    script = """
    INSERT INTO accounts (id, email, password_hash, display_name, role)
    VALUES (:viewer, 'viewer@example.com', '!', 'Viewer', 'customer');
    INSERT INTO accounts (email, password_hash, display_name, role)
    SELECT 'a' || n || '@example.com', '!', 'Account ' || n, 'customer'
      FROM generate_series(1, 2000) n;
    INSERT INTO accounts (id, email, password_hash, display_name, role)
    VALUES ('00000000-0000-0000-0000-00000000000a', 'm@example.com', '!', 'Merchant', 'merchant');
    INSERT INTO venues (id, merchant_id, name, location, timezone)
    VALUES ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-00000000000a',
            'Venue', ST_SetSRID(ST_MakePoint(13.405, 52.52), 4326)::geography, 'UTC');
    INSERT INTO deals (id, venue_id, merchant_id, title, price_cents, currency, location,
                       min_commitments, per_user_limit, status, starts_at, ends_at, redeem_until)
    SELECT ('00000000-0000-0000-0000-' || lpad(to_hex(n), 12, '0'))::uuid,
           '00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-00000000000a',
           'Deal ' || n, 1000, 'EUR', ST_SetSRID(ST_MakePoint(13.405, 52.52), 4326)::geography, 100000, 100, 'active',
           now() - interval '1 day', now() + interval '1 day', now() + interval '30 days'
      FROM generate_series(256, 275) n;
    CREATE TEMP TABLE friends ON COMMIT DROP AS
    SELECT id FROM accounts WHERE email LIKE 'a%' ORDER BY email LIMIT :friends;
    INSERT INTO friendships (account_id, friend_id)
    SELECT :viewer, id FROM friends UNION ALL SELECT id, :viewer FROM friends;
    INSERT INTO checkins (account_id, venue_id, location, is_mock, distance_m, counted, reasons,
                          local_day, created_at, share)
    SELECT a.id, '00000000-0000-0000-0000-00000000000b', ST_SetSRID(ST_MakePoint(13.405, 52.52), 4326)::geography, false,
           5, true, '{}', (now() - n * interval '1 day')::date,
           now() - n * interval '1 day' - random() * interval '1 hour',
           CASE WHEN a.id IN (SELECT id FROM friends) AND n % 3 = 0 THEN 'friends'
                ELSE 'private' END
      FROM accounts a, generate_series(1, 12) n WHERE a.role = 'customer' AND a.id <> :viewer;
    INSERT INTO commitments (deal_id, account_id, quantity, status, share, created_at)
    SELECT ('00000000-0000-0000-0000-' || lpad(to_hex(256 + (n % 20)), 12, '0'))::uuid, a.id,
           1, 'pending',
           CASE WHEN a.id IN (SELECT id FROM friends) AND n % 10 = 0 THEN 'friends'
                ELSE 'private' END,
           now() - n * interval '1 minute' - random() * interval '1 second'
      FROM accounts a, generate_series(1, 60) n WHERE a.role = 'customer' AND a.id <> :viewer;
    ANALYZE accounts; ANALYZE friendships; ANALYZE checkins; ANALYZE commitments;
    """
    with engine.begin() as connection:
        for statement in script.split(";"):
            if statement.strip():
                connection.execute(text(statement), {"viewer": viewer, "friends": FRIENDS})
    return viewer


def captured(engine, run) -> list[tuple[str, dict]]:
    statements = []

    def capture(_conn, _cursor, statement, parameters, _context, _executemany):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return statements


def plan_of(engine, statement: str, parameters) -> dict:
    with engine.connect() as connection:
        result = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
        document = result.scalar()
    return (document if isinstance(document, list) else json.loads(document))[0]["Plan"]


def test_the_feed_and_friends_committed_of_500_friends_are_one_statement_each_of_index_probes(
    db, engine, crowd
):
    viewer = db.get(Account, crowd)
    assert_the_feed_reads_index_ranges_per_friend(db, engine, crowd, viewer)
    assert_friends_committed_probes_each_friend_by_deal(db, engine, crowd, viewer)


def assert_the_feed_reads_index_ranges_per_friend(db, engine, crowd, viewer) -> None:
    page = []
    statements = captured(
        engine,
        lambda: page.extend(services.feed(session=db, account=viewer, limit=21)),
    )
    ((statement, parameters),) = [(s, p) for s, p in statements if "friendships" in s]
    plan = plan_of(engine, statement, parameters)
    assert {"ix_checkins_shared", "ix_commitments_shared"} <= index_names(plan), outline(plan)
    assert not scanned_sequentially(plan) & {"checkins", "commitments"}, outline(plan)

    expected = rows(
        engine,
        """
        SELECT id FROM (
          SELECT c.id, c.created_at FROM checkins c JOIN friendships f ON f.friend_id = c.account_id
           WHERE f.account_id = :viewer AND c.counted AND c.share = 'friends'
          UNION ALL
          SELECT c.id, c.created_at FROM commitments c JOIN friendships f
              ON f.friend_id = c.account_id
           WHERE f.account_id = :viewer AND c.share = 'friends' AND c.status <> 'released'
        ) items ORDER BY created_at DESC, id DESC LIMIT 21""",
        viewer=crowd,
    )
    assert [item["id"] for item in page] == [row.id for row in expected]


def assert_friends_committed_probes_each_friend_by_deal(db, engine, crowd, viewer) -> None:
    deals = [{"id": str(uuid.UUID(int=n))} for n in range(256, 276)]
    statements = captured(
        engine,
        lambda: services.with_social_proof(session=db, deals=deals, viewer=viewer, now=utcnow()),
    )
    ((statement, parameters),) = [(s, p) for s, p in statements if "friendships" in s]
    plan = plan_of(engine, statement, parameters)
    assert "ix_commitments_shared_deal" in index_names(plan), outline(plan)
    assert "commitments" not in scanned_sequentially(plan), outline(plan)
    expected = dict(
        rows(
            engine,
            """
            SELECT d.id::text, count(DISTINCT c.account_id) FROM unnest(CAST(:ids AS uuid[])) d(id)
              LEFT JOIN commitments c ON c.deal_id = d.id AND c.share = 'friends'
               AND c.account_id IN (SELECT friend_id FROM friendships WHERE account_id = :viewer)
             GROUP BY d.id""",
            ids=[deal["id"] for deal in deals],
            viewer=crowd,
        )
    )
    assert {deal["id"]: deal["viewer"]["friends_committed"]["count"] for deal in deals} == expected
    assert all(len(deal["viewer"]["friends_committed"]["names"]) <= 3 for deal in deals)
