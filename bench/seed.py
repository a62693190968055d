"""Seed a realistic data set: venues clustered around German cities, deals, accounts, tokens.

    python -m bench.seed --deals 1000000 --venues 200000 --customers 20000

Everything is generated inside PostgreSQL (INSERT ... SELECT over generate_series) in chunks,
with the deals' secondary indexes dropped during the load and rebuilt afterwards. Bench
accounts get known bearer tokens (`swm_bench_customer_<n>`, `swm_bench_merchant_<n>`).
"""

import time

import click
from sqlalchemy import create_engine, text

from core.config import load_config
from deals.models import Deal

# (name, lat, lon, spread in degrees): the venues cluster around these, weighted by repetition.
CITIES = [
    ("Berlin", 52.520, 13.405, 0.12),
    ("Berlin", 52.520, 13.405, 0.12),
    ("Berlin", 52.520, 13.405, 0.12),
    ("Hamburg", 53.551, 9.994, 0.10),
    ("Hamburg", 53.551, 9.994, 0.10),
    ("München", 48.137, 11.575, 0.09),
    ("München", 48.137, 11.575, 0.09),
    ("Köln", 50.938, 6.960, 0.08),
    ("Frankfurt", 50.110, 8.682, 0.07),
    ("Stuttgart", 48.776, 9.183, 0.07),
    ("Düsseldorf", 51.227, 6.773, 0.06),
    ("Leipzig", 51.340, 12.375, 0.06),
    ("Dortmund", 51.514, 7.468, 0.06),
    ("Essen", 51.456, 7.012, 0.05),
    ("Bremen", 53.079, 8.802, 0.05),
    ("Dresden", 51.050, 13.737, 0.06),
    ("Hannover", 52.375, 9.732, 0.05),
    ("Nürnberg", 49.452, 11.077, 0.05),
    ("Duisburg", 51.434, 6.762, 0.04),
    ("Bochum", 51.482, 7.216, 0.04),
    ("Wuppertal", 51.256, 7.150, 0.04),
    ("Bielefeld", 52.030, 8.532, 0.04),
    ("Bonn", 50.737, 7.098, 0.04),
    ("Münster", 51.961, 7.626, 0.04),
    ("Freiburg", 47.999, 7.842, 0.03),
]
PASSWORD = "bench-password-123"
CHUNK = 100_000


def bench_token(role: str, n: int) -> str:
    """The known bearer token of bench account `n` of `role`."""
    return f"swm_bench_{role}_{n}"


def _city_arrays() -> str:
    lats = ",".join(str(c[1]) for c in CITIES)
    lons = ",".join(str(c[2]) for c in CITIES)
    spreads = ",".join(str(c[3]) for c in CITIES)
    return f"ARRAY[{lats}]::float8[] AS lat, ARRAY[{lons}]::float8[] AS lon, ARRAY[{spreads}]::float8[] AS spread"


def seed_accounts(connection, role: str, count: int, password_hash: str) -> None:
    """Accounts `bench-<role>-<n>@example.com` with known tokens."""
    connection.execute(
        text("""
        INSERT INTO accounts (email, password_hash, display_name, role)
        SELECT 'bench-' || :role || '-' || g || '@example.com', :hash, initcap(:role) || ' ' || g, :role
        FROM generate_series(1, :count) g
        ON CONFLICT (email) DO NOTHING
    """),
        {"role": role, "hash": password_hash, "count": count},
    )
    connection.execute(
        text("""
        INSERT INTO tokens (account_id, token_hash, expires_at)
        SELECT a.id, encode(sha256(convert_to('swm_bench_' || :role || '_' || split_part(split_part(a.email, '@', 1), '-', 3), 'UTF8')), 'hex'),
               now() + interval '365 days'
        FROM accounts a WHERE a.email LIKE 'bench-' || :role || '-%'
        ON CONFLICT (token_hash) DO NOTHING
    """),
        {"role": role},
    )


def seed_venues(connection, count: int, merchants: int) -> None:
    """Venues scattered (roughly normally) around the cities."""
    connection.execute(
        text(f"""
        WITH cities AS (SELECT {_city_arrays()}),
        merchants AS (SELECT array_agg(id ORDER BY email) AS ids FROM accounts
                      WHERE email LIKE 'bench-merchant-%'),
        picks AS (SELECT g, 1 + floor(random() * {len(CITIES)})::int AS c,
                         (random() + random() + random() - 1.5) AS dy,
                         (random() + random() + random() - 1.5) AS dx
                  FROM generate_series(1, :count) g)
        INSERT INTO venues (merchant_id, name, location, category, timezone)
        SELECT m.ids[1 + (p.g % :merchants)], 'Venue ' || p.g,
               ST_SetSRID(ST_MakePoint(cities.lon[p.c] + p.dx * cities.spread[p.c] * 1.6,
                                       cities.lat[p.c] + p.dy * cities.spread[p.c]), 4326)::geography,
               (ARRAY['restaurant','cafe','bar','gym','spa','shop'])[1 + (p.g % 6)], 'Europe/Berlin'
        FROM picks p, cities, merchants m
    """),
        {"count": count, "merchants": merchants},
    )


def deal_indexes() -> list:
    """The secondary indexes of `deals` (rebuilt after the bulk load)."""
    return [index for index in Deal.__table__.indexes]


def seed_deals(connection, count: int, progress) -> None:
    """Open deals at the venues (location copied), in chunks."""
    connection.execute(
        text("""
        CREATE TEMP TABLE seed_venues AS
        SELECT row_number() OVER (ORDER BY id) AS n, id, merchant_id, location FROM venues
    """)
    )
    connection.execute(text("CREATE UNIQUE INDEX ON seed_venues (n)"))
    venues = connection.execute(text("SELECT count(*) FROM seed_venues")).scalar_one()
    done = 0
    while done < count:
        size = min(CHUNK, count - done)
        connection.execute(
            text("""
            INSERT INTO deals (venue_id, merchant_id, title, price_cents, original_price_cents,
                               currency, location, min_commitments, max_commitments, per_user_limit,
                               committed_count, status, starts_at, ends_at, redeem_until,
                               announced_at)
            SELECT v.id, v.merchant_id, 'Deal ' || g, 500 + (g % 50) * 100, 1500 + (g % 50) * 150,
                   'EUR', v.location, 10 + (g % 90), 1000, 4, 0, 'active',
                   now() - interval '1 day', now() + (1 + g % 30) * interval '1 day',
                   now() + (91 + g % 30) * interval '1 day', now()
            FROM generate_series(:start, :stop) g
            JOIN seed_venues v ON v.n = 1 + (g % :venues)
        """),
            {"start": done + 1, "stop": done + size, "venues": venues},
        )
        done += size
        progress.update(size)


@click.command()
@click.option("--deals", "deal_count", default=1_000_000, show_default=True)
@click.option("--venues", "venue_count", default=200_000, show_default=True)
@click.option("--merchants", default=2_000, show_default=True)
@click.option("--customers", default=20_000, show_default=True)
@click.option("--reset/--no-reset", default=True, show_default=True, help="Empty the tables first.")
def main(deal_count: int, venue_count: int, merchants: int, customers: int, reset: bool) -> None:
    """Load the bench data set into DATABASE_URL."""
    from accounts.passwords import hash_password

    engine = create_engine(load_config()["DATABASE_URL"])
    started = time.monotonic()
    password_hash = hash_password(PASSWORD, fast=True)
    with engine.begin() as connection:
        # A bulk load: no need to wait for WAL flushes, and room for the index builds.
        connection.execute(text("SET LOCAL synchronous_commit = off"))
        connection.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        connection.execute(text("SET LOCAL work_mem = '256MB'"))
        # The generated rows reference only rows generated just before: skip the per-row
        # foreign-key triggers (needs a superuser, which the local cluster's `postgres` is).
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        if reset:
            connection.execute(
                text(
                    "TRUNCATE accounts, venues, deals, commitments, deal_participants, vouchers, "
                    "checkins, reward_programs, rewards, outbox_events, notifications, deliveries, "
                    "tokens, idempotency_keys, devices, webhooks, alert_areas CASCADE"
                )
            )
        click.echo(f"accounts: {merchants} merchants, {customers} customers")
        seed_accounts(connection, "merchant", merchants, password_hash)
        seed_accounts(connection, "customer", customers, password_hash)
        click.echo(f"venues: {venue_count}  [{time.monotonic() - started:.1f} s]")
        seed_venues(connection, venue_count, merchants)
        click.echo(f"venues done  [{time.monotonic() - started:.1f} s]")
        for index in deal_indexes():
            connection.execute(text(f"DROP INDEX IF EXISTS {index.name}"))
        with click.progressbar(length=deal_count, label="deals") as progress:
            seed_deals(connection, deal_count, progress)
        click.echo(f"rebuilding deal indexes  [{time.monotonic() - started:.1f} s]")
        for index in deal_indexes():
            index.create(connection)
        click.echo(f"indexes built  [{time.monotonic() - started:.1f} s]")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE venues"))
        connection.execute(text("VACUUM ANALYZE deals"))
    click.echo(
        f"seeded {deal_count} deals at {venue_count} venues in {time.monotonic() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
