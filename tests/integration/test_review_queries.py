"""The review look-ups are index-backed: the verified-visit check reads ranges of the account's
redeemed vouchers and of its counted check-ins at the venue (never a scan of either table),
each order of the list is a scan of its own index, with no sort, and deal listings take their
venue's rating by the venue's key."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from deals.models import Deal
from deals.statements import OPEN_LISTINGS
from geo.postgis import _nearest_statements
from reviews import statements

NOW = datetime(2026, 12, 1, tzinfo=UTC)


# A small town: 300 customers, 100 venues with 5 deals each, 20 counted check-ins and 5
# redeemed vouchers per customer, spread over the venues. Enough rows (once analysed) for the
# planner to prefer the narrow index ranges, as it does at scale.
TOWN = """
WITH merchants AS (
    INSERT INTO accounts (email, password_hash, display_name, role)
    SELECT 'm' || g || '@plan.test', 'x', 'M', 'merchant' FROM generate_series(1, 10) g
    RETURNING id
), customers AS (
    INSERT INTO accounts (email, password_hash, display_name, role)
    SELECT 'c' || g || '@plan.test', 'x', 'C', 'customer' FROM generate_series(1, 300) g
    RETURNING id
)
INSERT INTO venues (merchant_id, name, location)
SELECT (SELECT id FROM merchants LIMIT 1), 'V' || g, 'SRID=4326;POINT(13.4 52.5)'
FROM generate_series(1, 100) g;
CREATE TEMP TABLE town_venues ON COMMIT DROP AS
    SELECT row_number() OVER (ORDER BY id) AS n, id, merchant_id, location FROM venues;
CREATE TEMP TABLE town_customers ON COMMIT DROP AS
    SELECT row_number() OVER (ORDER BY id) AS n, id FROM accounts WHERE role = 'customer';
INSERT INTO checkins (account_id, venue_id, location, is_mock, distance_m, counted, reasons,
                      local_day, created_at)
SELECT c.id, v.id, v.location, false, 0, true, '{}', (now() - d * interval '1 day')::date,
       now() - d * interval '1 day'
FROM town_customers c CROSS JOIN generate_series(1, 20) d
JOIN town_venues v ON v.n = 1 + (c.n * 7 + d) % 100;
INSERT INTO deals (venue_id, merchant_id, title, price_cents, currency, location,
                   min_commitments, status, tipped_at, starts_at, ends_at, redeem_until)
SELECT v.id, v.merchant_id, 'D', 100, 'EUR', v.location, 1, 'closed', now() - interval '9 days',
       now() - interval '20 days', now() - interval '5 days', now() + interval '60 days'
FROM town_venues v CROSS JOIN generate_series(1, 5);
CREATE TEMP TABLE town_deals ON COMMIT DROP AS
    SELECT row_number() OVER (ORDER BY id) AS n, id, redeem_until FROM deals;
INSERT INTO commitments (deal_id, account_id, quantity, status)
SELECT d.id, c.id, 1, 'confirmed'
FROM town_customers c CROSS JOIN generate_series(1, 5) k
JOIN town_deals d ON d.n = 1 + (c.n * 13 + k * 17) % 500;
INSERT INTO vouchers (code, deal_id, commitment_id, account_id, status, redeem_until,
                      redeemed_at)
SELECT left(md5(id::text), 14), deal_id, id, account_id, 'redeemed', now() + interval '60 days',
       now() - interval '3 days'
FROM commitments;
ANALYZE accounts, venues, deals, commitments, vouchers, checkins;
"""


def plan(engine, statement, *, town: bool = False, **values) -> str:
    """The plan PostgreSQL chooses for `statement` (in `TOWN` if `town`, rolled back after),
    with sequential scans, bitmaps and sorts made as expensive as it allows: if an index can
    answer the statement in order, this plan uses it."""
    with engine.connect() as connection:
        if town:
            connection.execute(text(TOWN))
            row = connection.execute(
                text("SELECT c.account_id, c.venue_id FROM checkins c ORDER BY c.id LIMIT 1")
            ).one()
            values.update(visitor_id=row.account_id, visited_venue_id=row.venue_id)
        sql = statement.params(**values).compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            connection.execute(text(f"SET LOCAL {setting} = off"))
        found = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}").scalar_one()
        connection.rollback()
    return json.dumps(found)


def node_types(plan_json: str) -> set[str]:
    found = set()

    def walk(node):
        found.add(node["Node Type"])
        for child in node.get("Plans", []):
            walk(child)

    walk(json.loads(plan_json)[0]["Plan"])
    return found


def test_the_verified_visit_look_up_reads_the_accounts_own_index_ranges_and_scans_no_table(
    engine,
):
    found = plan(
        engine,
        statements.VERIFIED_VISITS,
        town=True,
        since=NOW - timedelta(days=365),
        since_day=date(2025, 11, 30),
    )
    assert "Seq Scan" not in node_types(found)
    # The account's redeemed vouchers in the window; the account's check-ins at the venue.
    assert "ix_vouchers_account_redeemed" in found
    assert "uq_checkins_counted_per_day" in found


@pytest.mark.parametrize(
    ("sort", "index", "key"),
    [
        ("newest", "ix_reviews_venue_newest", (NOW, uuid.uuid4())),
        ("highest", "ix_reviews_venue_highest", (4, NOW, uuid.uuid4())),
        ("lowest", "ix_reviews_venue_lowest", (-2, NOW, uuid.uuid4())),
    ],
)
@pytest.mark.parametrize("paged", [False, True])
def test_each_order_of_the_review_list_is_a_scan_of_its_own_index_without_a_sort(
    engine, sort, index, key, paged
):
    values = {"listed_venue_id": uuid.uuid4(), "limit": 21}
    if paged:
        values.update({f"after_{i}": value for i, value in enumerate(key)})
    found = plan(engine, statements.LISTINGS[sort, paged], **values)
    assert index in found
    assert "Sort" not in node_types(found)
    assert "Seq Scan" not in node_types(found)


def test_nearby_deals_take_their_venues_rating_by_the_venues_key_in_knn_order(engine):
    knn, _exact = _nearest_statements(OPEN_LISTINGS, Deal.location, Deal.id, False)
    found = plan(engine, knn, lat=52.52, lon=13.405, fetch=35, now=NOW)
    assert "ix_deals_open_location" in found
    assert "pk_venues" in found
    assert {"Sort", "Seq Scan", "Aggregate"}.isdisjoint(node_types(found))
