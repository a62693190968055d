"""`make bench`: every hot path against a production-like gunicorn, next to its raw PostGIS ceiling.

Needs a seeded database (`make seed`). Prints one table (figure, value, ceiling, ratio, goal) and
writes it with the machine facts to BENCHMARKS.md. Load comes from wrk (Lua scripts in
bench/lua/) and pgbench (raw SQL ceilings), both on loopback.
"""

import contextlib
import multiprocessing
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import click
import requests
from sqlalchemy import create_engine, text

from bench.seed import bench_token
from core.config import load_config

ROOT = Path(__file__).resolve().parent.parent
LUA_DIR = Path(__file__).resolve().parent / "lua"


# --------------------------------------------------------------------------- load tools


def parse_wrk(output: str) -> dict:
    """Requests/s and latency percentiles (ms) from `wrk --latency` output."""

    def ms(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for pct in ("50", "99"):
        match = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+(?:us|ms|s))", output)
        result[f"p{pct}"] = ms(match.group(1)) if match else None
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non2xx"] = int(errors.group(1)) if errors else 0
    timeouts = re.search(r"Socket errors:.*timeout (\d+)", output)
    result["timeouts"] = int(timeouts.group(1)) if timeouts else 0
    return result


def http_figures(result: dict, unit: str) -> str:
    """One HTTP benchmark's table cell: rate, latency, worker CPU per request, failures."""
    parts = [
        f"{result['rps']:.0f} {unit}/s",
        f"p50 {result['p50']:.1f} ms",
        f"p99 {result['p99']:.1f} ms",
    ]
    if "cpu_ms" in result:
        parts.append(f"{result['cpu_ms']:.2f} ms worker CPU/req")
    if result.get("pg_cpu_ms"):
        parts.append(f"{result['pg_cpu_ms']:.2f} ms PostgreSQL CPU/req")
    if result["non2xx"]:
        parts.append(f"non-2xx {result['non2xx']}")
    if result["timeouts"]:
        parts.append(f"{result['timeouts']} timeouts")
    return ", ".join(parts)


def wrk(
    url: str, script: str, env: dict, connections: int, duration: int, threads: int = 2
) -> dict:
    """Run wrk with one of our Lua scripts; returns parse_wrk's figures."""
    output = subprocess.run(
        # A 10 s timeout keeps slow requests in the percentiles (wrk drops those over its 2 s default).
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(LUA_DIR / script),
            url,
        ],
        env={**os.environ, "BENCH_LUA_DIR": str(LUA_DIR), **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_wrk(output)


def pgbench(database_url: str, sql: str, clients: int, duration: int) -> dict:
    """Transactions/s and latency of a custom pgbench script on the same database."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(sql)
    output = subprocess.run(
        [
            "pgbench",
            "-n",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(duration),
            "-r",
            "-f",
            script.name,
            url.database,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    tps = float(re.search(r"tps = ([\d.]+)", output).group(1))
    latency = float(re.search(r"latency average = ([\d.]+) ms", output).group(1))
    return {"tps": tps, "latency_ms": latency}


@contextlib.contextmanager
def gunicorn(database_url: str, port: int, workers: int, threads: int, **extra_env):
    """A production-like API server (with `extra_env` in its environment); yields
    (base_url, process)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DB_POOL_SIZE": str(threads + 2),
        **extra_env,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "warning",
            "--no-control-socket",
            "app:create_app()",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(requests.RequestException):
                if requests.get(base + "/healthz", timeout=1).ok:
                    break
            time.sleep(0.1)
        yield base, process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@contextlib.contextmanager
def localstripe(port: int):
    """localstripe (the venv's, beside this Python) on loopback: the payment provider of the paid
    hot-deal figure, Stripe's API as a single-threaded Python process."""
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("localstripe")), "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{base}/v1/balance", auth=("sk_test_bench", ""), timeout=1)
                break
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _cpu_seconds(pids) -> dict[str, float]:
    """User + system CPU seconds each of `pids` has used so far (those gone are left out)."""
    seconds = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def worker_cpu_seconds(master_pid: int) -> dict[str, float]:
    """CPU seconds per gunicorn worker so far."""
    return _cpu_seconds(Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split())


def postgres_cpu_seconds() -> dict[str, float]:
    """CPU seconds per PostgreSQL process on this machine so far (none for a remote database)."""
    named = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                named.append(entry.name)
    return _cpu_seconds(named)


def _used_since(before: dict[str, float], after: dict[str, float]) -> float:
    """CPU seconds spent between two readings by the processes alive at the second (a process
    that ended in between, such as an earlier pgbench's backend, counts nothing)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def measured(server, load, duration: int) -> dict:
    """Run `load()` (wrk figures) and add the CPU the workers and PostgreSQL spent per request:
    where a request's time goes, on the machine's two shared cores."""
    workers, postgres = worker_cpu_seconds(server.pid), postgres_cpu_seconds()
    result = load()
    requests_done = max(result["rps"] * duration, 1)
    return {
        **result,
        "cpu_ms": _used_since(workers, worker_cpu_seconds(server.pid)) * 1000 / requests_done,
        "pg_cpu_ms": _used_since(postgres, postgres_cpu_seconds()) * 1000 / requests_done,
    }


def http_load(server, base: str, script: str, env: dict, connections: int, duration: int) -> dict:
    """`wrk` figures plus the workers' and PostgreSQL's CPU per request (ms)."""
    return measured(server, lambda: wrk(base, script, env, connections, duration), duration)


def cpu_speed_ms() -> float:
    """Milliseconds of a fixed pure-Python loop (best of three): this VM's single-core speed
    drifts with its neighbours, and every figure with it."""

    def once() -> float:
        started = time.perf_counter()
        sum(i * i for i in range(1_000_000))
        return (time.perf_counter() - started) * 1000

    return min(once() for _ in range(3))


def worker_rss_mb(master_pid: int) -> list[float]:
    """Peak RSS (VmHWM) of each gunicorn worker, in MB."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    peaks = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        peaks.append(int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024)
    return peaks


# --------------------------------------------------------------------------- benchmarks

# The statements the API sends for a 20-item page (geo.postgis.nearest_first fetches 36 KNN
# candidates; deals.statements.LISTING_COLUMNS), at the same random points as the wrk scripts.
LISTING_SQL = """CAST(d.id AS VARCHAR), CAST(d.venue_id AS VARCHAR), CAST(d.merchant_id AS VARCHAR),
  d.title, d.description, d.price_cents, d.original_price_cents, d.currency, d.min_commitments,
  d.max_commitments, d.per_user_limit, d.committed_count, d.status, d.tipped_at, d.starts_at,
  d.ends_at, d.redeem_until, d.created_at,
  ST_Y(geometry(d.location)), ST_X(geometry(d.location))"""

NEARBY_SQL = (
    r"""
\set lat 52.52 + (random(0, 24000) - 12000) / 100000.0
\set lon 13.405 + (random(0, 38000) - 19000) / 100000.0
SELECT """
    + LISTING_SQL
    + r""",
  ST_Distance(d.location, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, true),
  d.location <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, CAST(d.id AS VARCHAR)
FROM deals d
WHERE d.status IN ('active', 'tipped') AND d.ends_at > now()
ORDER BY d.location <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography LIMIT 36;
"""
)

BBOX_SQL = (
    r"""
\set lat 52.52 + (random(0, 24000) - 12000) / 100000.0
\set lon 13.405 + (random(0, 38000) - 19000) / 100000.0
SELECT """
    + LISTING_SQL
    + r""" FROM deals d
WHERE d.status IN ('active', 'tipped') AND d.ends_at > now()
  AND ST_Intersects(geometry(d.location), ST_MakeEnvelope(:lon - 0.016, :lat - 0.01, :lon + 0.016, :lat + 0.01, 4326))
ORDER BY d.id LIMIT 21;
"""
)

COMMIT_SQL = r"""
UPDATE deals SET committed_count = committed_count + 1
WHERE id = '{deal}' AND status IN ('active', 'tipped') AND ends_at > now()
  AND (max_commitments IS NULL OR committed_count + 1 <= max_commitments)
RETURNING committed_count;
"""


def create_hot_deal(engine, cap: int) -> str:
    """One open deal with a large cap and per-user limit, for the commit benchmark."""
    with engine.begin() as connection:
        return str(
            connection.execute(
                text("""
            INSERT INTO deals (venue_id, merchant_id, title, price_cents, currency, location,
                               min_commitments, max_commitments, per_user_limit, committed_count,
                               status, starts_at, ends_at, redeem_until)
            SELECT id, merchant_id, 'Hot deal', 990, 'EUR', location, 100, :cap, :cap, 0, 'active',
                   now() - interval '1 hour', now() + interval '2 days', now() + interval '90 days'
            FROM venues ORDER BY id LIMIT 1 RETURNING id
        """),
                {"cap": cap},
            ).scalar_one()
        )


def hot_deal_consistency(engine, deal_id: str) -> dict:
    """committed_count vs the open commitment rows, and the cap."""
    with engine.connect() as connection:
        row = connection.execute(
            text("""
            SELECT d.committed_count, d.max_commitments,
                   (SELECT coalesce(sum(quantity), 0) FROM commitments c
                    WHERE c.deal_id = d.id AND c.status <> 'released') AS rows_sum,
                   (SELECT count(*) FROM vouchers v WHERE v.deal_id = d.id) AS vouchers,
                   (SELECT coalesce(sum(quantity), 0) FROM commitments c
                    WHERE c.deal_id = d.id AND c.status = 'confirmed') AS confirmed
            FROM deals d WHERE d.id = :id
        """),
            {"id": deal_id},
        ).one()
    return dict(row._mapping)


def venue_sample(engine, path: Path, count: int) -> None:
    """Write `id,lat,lon` of venues around the first city for the check-in script.

    The same venues every run: an account then checks in where it did last run, and neither
    the "too-fast" rule nor piled-up reward programs skew a run that follows another.
    """
    with engine.connect() as connection:
        rows = connection.execute(
            text("""
            SELECT id, ST_Y(location::geometry), ST_X(location::geometry) FROM venues
            WHERE ST_DWithin(location, ST_SetSRID(ST_MakePoint(13.405, 52.52), 4326)::geography, 20000)
            ORDER BY md5(id::text) LIMIT :n
        """),
            {"n": count},
        ).all()
    path.write_text("".join(f"{r[0]},{r[1]:.6f},{r[2]:.6f}\n" for r in rows))


def add_reward_programs(engine, venues_file: Path) -> None:
    """Every-5th, first-visit and mayor programs at the sampled venues (once: reruns add none)."""
    ids = [line.split(",")[0] for line in venues_file.read_text().splitlines()]
    with engine.begin() as connection:
        for kind, threshold in (("every_nth", 5), ("first_visit", None), ("mayor", None)):
            connection.execute(
                text("""
                INSERT INTO reward_programs (venue_id, kind, title, threshold, starts_at)
                SELECT v, :kind, :kind, :threshold, now() - interval '1 day'
                FROM unnest(CAST(:ids AS uuid[])) v
                WHERE NOT EXISTS (SELECT 1 FROM reward_programs p
                                  WHERE p.venue_id = v AND p.kind = :kind AND p.title = :kind)
            """),
                {"ids": ids, "kind": kind, "threshold": threshold},
            )


def checkin_load(
    engine, server, base: str, venues_file: Path, connections: int, duration: int
) -> dict:
    """wrk's figures for the check-in load, with how many check-ins the rules counted.

    A 201 is not yet a check-in that counts: the response of a refused one (too far, too fast,
    already counted today) is a 201 too. `counted_per_s` is what reached the reward programs.
    """
    with engine.connect() as connection:
        started = connection.execute(text("SELECT clock_timestamp()")).scalar_one()
    result = measured(
        server,
        lambda: wrk(
            base,
            "checkin.lua",
            {
                "BENCH_TOKEN_PREFIX": "swm_bench_customer_",
                "BENCH_ACCOUNTS": "20000",
                "BENCH_WRK_THREADS": "2",
                "BENCH_VENUES_FILE": str(venues_file),
            },
            connections,
            duration,
            threads=2,
        ),
        duration,
    )
    with engine.connect() as connection:
        counted = connection.execute(
            text(
                "SELECT count(*) FILTER (WHERE counted), count(*) FROM checkins WHERE created_at >= :t"
            ),
            {"t": started},
        ).one()
    return {**result, "counted_per_s": counted[0] / duration, "refused": counted[1] - counted[0]}


def settle(engine, *tables: str) -> None:
    """VACUUM ANALYZE `tables`, then write every dirty page out, so what comes next is not
    measured together with a setup's leftovers: a checkpoint forced in the middle of it (or, after
    `make seed`, a spread checkpoint writing ~1 GB for minutes)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in tables:
            connection.execute(text(f"VACUUM ANALYZE {table}"))
        connection.execute(text("CHECKPOINT"))


def timed_job(engine, job, **config) -> dict:
    """Run one scheduler job once in an app on the bench database; its result plus `seconds`."""
    from app import create_app
    from core.db import in_unit_of_work

    app = create_app({"DATABASE_URL": engine.url.render_as_string(hide_password=False), **config})
    with app.app_context():
        session = app.extensions["db_sessionmaker"]()
        started = time.monotonic()
        result = in_unit_of_work(session, job, now=datetime.now(UTC))
        elapsed = time.monotonic() - started
        session.close()
    return {"seconds": elapsed, **result}


def sweep(engine, deals: int, commitments_per_deal: int) -> dict:
    """close-deals over `deals` ended deals holding deals*commitments_per_deal commitments."""
    from deals.jobs import close_deals

    with engine.begin() as connection:
        connection.execute(
            text("""
            CREATE TEMP TABLE sweep_deals AS SELECT id FROM deals
            WHERE status = 'active' AND title <> 'Hot deal' ORDER BY id LIMIT :n
        """),
            {"n": deals},
        )
        connection.execute(
            text("""
            INSERT INTO commitments (deal_id, account_id, quantity, status, created_at)
            SELECT s.id, a.id, 1, 'pending', now() - interval '2 hours'
            FROM sweep_deals s
            CROSS JOIN LATERAL (SELECT id FROM accounts WHERE role = 'customer'
                                ORDER BY id OFFSET (abs(hashtext(s.id::text)) % 1000) LIMIT :k) a
        """),
            {"k": commitments_per_deal},
        )
        connection.execute(
            text("""
            UPDATE deals SET committed_count = :k, starts_at = now() - interval '3 days',
                   ends_at = now() - interval '1 minute'
            WHERE id IN (SELECT id FROM sweep_deals)
        """),
            {"k": commitments_per_deal},
        )
        half = connection.execute(
            text("""
            UPDATE deals SET status = 'tipped', tipped_at = now() - interval '1 hour', min_commitments = 1
            WHERE id IN (SELECT id FROM sweep_deals ORDER BY id LIMIT :h) RETURNING id
        """),
            {"h": deals // 2},
        ).rowcount
    settle(engine, "deals", "commitments")
    return {"tipped": half, **timed_job(engine, close_deals)}


def _serve_receiver(port_out, received) -> None:
    """A webhook receiver in its own process (so it does not share the dispatcher's GIL).

    asyncio (aiohttp) rather than a thread per connection, so the receiver is not what is measured.
    """
    import asyncio
    import socket

    from aiohttp import web

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        with received.get_lock():
            received.value += 1
        return web.Response(status=204)

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        port_out.value = sock.getsockname()[1]
        await asyncio.Event().wait()

    asyncio.run(serve())


def bare_client_rate(url: str, posts: int, in_flight: int) -> float:
    """POSTs/s of a bare aiohttp client to `url` with `in_flight` at a time: the dispatcher's
    ceiling here, with no database, signature or bookkeeping."""
    import asyncio

    import aiohttp

    async def run() -> float:
        remaining = posts

        async def sender(http: aiohttp.ClientSession) -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with http.post(
                    url,
                    data=b'{"type": "bench", "data": {}}',
                    headers={"Content-Type": "application/json"},
                ) as response:
                    await response.read()

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            started = time.monotonic()
            await asyncio.gather(*(sender(http) for _ in range(in_flight)))
            return posts / (time.monotonic() - started)

    return asyncio.run(run())


def dispatch(engine, events: int) -> dict:
    """Events/s delivered by the dispatcher to a local webhook receiver."""
    from notifications.jobs import dispatch_notifications

    port, received = multiprocessing.Value("i", 0), multiprocessing.Value("i", 0)
    receiver = multiprocessing.Process(target=_serve_receiver, args=(port, received), daemon=True)
    receiver.start()
    while not port.value:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port.value}/hook"
    with engine.begin() as connection:
        merchant = connection.execute(
            text("SELECT id FROM accounts WHERE email = 'bench-merchant-1@example.com'")
        ).scalar_one()
        connection.execute(
            text("UPDATE outbox_events SET status = 'dispatched' WHERE status = 'pending'")
        )
        connection.execute(text("UPDATE deliveries SET status = 'dead' WHERE status = 'pending'"))
        connection.execute(text("UPDATE webhooks SET deleted_at = now() WHERE deleted_at IS NULL"))
        connection.execute(
            text("""
            INSERT INTO webhooks (account_id, url, events, secret)
            VALUES (:m, :url, '{}', 'whsec_' || encode(sha256(gen_random_uuid()::text::bytea), 'base64'))
        """),
            {"m": merchant, "url": url},
        )
        connection.execute(
            text("""
            INSERT INTO outbox_events (kind, recipient_id, title, body, payload, dedupe_key)
            SELECT 'checkin.created', :m, 'Bench', 'Bench event', jsonb_build_object('n', g),
                   'bench:' || g || ':' || gen_random_uuid()
            FROM generate_series(1, :n) g
        """),
            {"m": merchant, "n": events},
        )
    # The rows the setup just retired are dead entries in the pending indexes; without the
    # VACUUM every claim of the timed run walks past them (~0.3 s per claim after a sweep's 100k).
    settle(engine, "outbox_events", "deliveries")
    result = timed_job(engine, dispatch_notifications, WEBHOOK_ALLOW_LOOPBACK=True)
    delivered = received.value
    ceiling = bare_client_rate(url, events, load_config()["DISPATCH_WORKERS"])
    receiver.terminate()
    return {"received": delivered, "ceiling": ceiling, **result}


# --------------------------------------------------------------------------- report


def machine_facts(engine) -> dict:
    """Cores, memory, versions and data size, for the report."""
    with engine.connect() as connection:
        pg = connection.execute(text("SHOW server_version")).scalar_one()
        postgis = connection.execute(text("SELECT postgis_lib_version()")).scalar_one()
        deals = connection.execute(text("SELECT count(*) FROM deals")).scalar_one()
        venues = connection.execute(text("SELECT count(*) FROM venues")).scalar_one()
    memory_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    cpu = re.search(r"model name\s+:\s+(.*)", Path("/proc/cpuinfo").read_text())
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "cpu": cpu.group(1) if cpu else platform.processor(),
        "python": platform.python_version(),
        "postgresql": pg,
        "postgis": postgis,
        "deals": deals,
        "venues": venues,
    }


def render(rows: list[tuple], facts: dict, settings: dict) -> str:
    """The Markdown report."""
    lines = [
        "# Benchmarks",
        "",
        f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make bench` "
        f"(bench/run.py). Machine: {facts['cores']} cores ({facts['cpu']}), "
        f"{facts['memory_gib']} GiB, Python {facts['python']}, PostgreSQL {facts['postgresql']}, "
        f"PostGIS {facts['postgis']}. Data: {facts['deals']:,} deals at {facts['venues']:,} venues "
        f"(`make seed`). Server: gunicorn {settings['workers']} workers x {settings['threads']} "
        f"threads; load: wrk {settings['connections']} connections for {settings['duration']} s; "
        "ceilings: pgbench with the same SQL on the same database in the same run. CPU per "
        "request: the gunicorn workers' and the PostgreSQL processes' CPU time over the run "
        "divided by the requests served. Single-core speed check (a fixed pure-Python loop, "
        f"lower is faster): {facts['speed_before']:.0f} ms before the run, "
        f"{facts['speed_after']:.0f} ms after; this VM's speed drifts with its neighbours, and "
        "every figure with it.",
        "",
        "| figure | value | raw ceiling | ratio | goal |",
        "|---|---|---|---|---|",
    ]
    for figure, value, ceiling, ratio, goal in rows:
        lines.append(f"| {figure} | {value} | {ceiling} | {ratio} | {goal} |")
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--workers", default=2, show_default=True)
@click.option("--threads", default=8, show_default=True)
@click.option("--connections", default=64, show_default=True)
@click.option("--duration", default=15, show_default=True, help="Seconds per HTTP benchmark.")
@click.option("--port", default=8099, show_default=True)
@click.option("--sweep-deals", default=100_000, show_default=True)
@click.option("--sweep-commitments", default=10, show_default=True, help="Per swept deal.")
@click.option("--dispatch-events", default=20_000, show_default=True)
@click.option("--output", default=str(ROOT / "BENCHMARKS.md"), show_default=True)
def main(
    workers,
    threads,
    connections,
    duration,
    port,
    sweep_deals,
    sweep_commitments,
    dispatch_events,
    output,
):
    """Run every benchmark and write the report."""
    database_url = load_config()["DATABASE_URL"]
    engine = create_engine(database_url)
    settle(engine)
    facts = {**machine_facts(engine), "speed_before": cpu_speed_ms()}
    rows = []

    def row(figure, value, ceiling="", ratio="", goal=""):
        rows.append((figure, value, ceiling, ratio, goal))
        click.echo(f"{figure:<42} {value:<28} {ceiling:<26} {ratio:<8} {goal}")

    token = bench_token("customer", 1)
    hot_deal = create_hot_deal(engine, cap=10_000_000)
    workdir = Path(tempfile.mkdtemp(prefix="schwarm-bench-"))
    venues_file = workdir / "venues.csv"
    venue_sample(engine, venues_file, 2000)
    add_reward_programs(engine, venues_file)

    with gunicorn(database_url, port, workers, threads) as (base, server):
        framework = http_load(server, base, "healthz.lua", {}, connections, duration)
        row("framework ceiling (GET /healthz, no database)", http_figures(framework, "req"))
        nearby = http_load(
            server, base, "nearby.lua", {"BENCH_TOKEN": token}, connections, duration
        )
        raw = pgbench(database_url, NEARBY_SQL, connections // 4, duration)
        row(
            "nearby search (GET /deals/nearby, 5 km)",
            http_figures(nearby, "req"),
            f"{raw['tps']:.0f} q/s (pgbench)",
            f"{nearby['rps'] / raw['tps']:.2f}",
            ">= 1500 req/s, p99 <= 25 ms",
        )
        light = http_load(server, base, "nearby.lua", {"BENCH_TOKEN": token}, 8, duration)
        row(
            "nearby search, 8 connections (latency below saturation)",
            http_figures(light, "req"),
            "",
            "",
            "p99 <= 25 ms",
        )
        rss = worker_rss_mb(server.pid)
        row(
            "API worker peak RSS (under nearby load)",
            ", ".join(f"{mb:.0f} MB" for mb in rss),
            "",
            "",
            "<= 150 MB",
        )
        bbox = http_load(server, base, "bbox.lua", {"BENCH_TOKEN": token}, connections, duration)
        raw = pgbench(database_url, BBOX_SQL, connections // 4, duration)
        row(
            "map viewport (GET /deals?bbox=)",
            http_figures(bbox, "req"),
            f"{raw['tps']:.0f} q/s (pgbench)",
            f"{bbox['rps'] / raw['tps']:.2f}",
            "",
        )
        commits = http_load(
            server,
            base,
            "commit.lua",
            {
                "BENCH_TOKEN_PREFIX": "swm_bench_customer_",
                "BENCH_ACCOUNTS": "20000",
                "BENCH_DEAL": hot_deal,
            },
            64,
            duration,
        )
        consistency = hot_deal_consistency(engine, hot_deal)
        raw = pgbench(database_url, COMMIT_SQL.format(deal=hot_deal), 64, duration)
        row(
            "hot deal: 64 clients commit to one deal",
            http_figures(commits, "commit"),
            f"{raw['tps']:.0f} UPDATE/s (pgbench)",
            f"{commits['rps'] / raw['tps']:.2f}",
            ">= 1500/s, no oversell",
        )
        row(
            "hot deal consistency",
            f"count {consistency['committed_count']}, rows {consistency['rows_sum']}, "
            f"vouchers {consistency['vouchers']} = confirmed {consistency['confirmed']}",
            "",
            "",
            "count == rows",
        )
        paid_deal = create_hot_deal(engine, cap=10_000_000)
        with (
            localstripe(port + 1) as provider,
            gunicorn(
                database_url,
                port + 2,
                workers,
                threads,
                PAYMENT_PROVIDER="stripe",
                STRIPE_API_KEY="sk_test_bench",
                STRIPE_API_BASE=provider,
            ) as (paid_base, paid_server),
        ):
            paid = http_load(
                paid_server,
                paid_base,
                "commit_paid.lua",
                {
                    "BENCH_TOKEN_PREFIX": "swm_bench_customer_",
                    "BENCH_ACCOUNTS": "20000",
                    "BENCH_DEAL": paid_deal,
                    "BENCH_PAYMENT_METHOD": "pm_card_visa",
                },
                64,
                duration,
            )
        row(
            "hot deal with payments (card holds at localstripe)",
            http_figures(paid, "commit"),
            "",
            "",
            "provider calls outside the deal's lock",
        )
        checkins = checkin_load(engine, server, base, venues_file, connections, duration)
        row(
            "check-ins (3 programs per venue)",
            f"{http_figures(checkins, 'check-in')}; {checkins['counted_per_s']:.0f}/s counted, "
            f"{checkins['refused']} refused by the rules",
            "",
            "",
            ">= 1000/s",
        )
    result = sweep(engine, sweep_deals, sweep_commitments)
    row(
        f"close-deals sweep ({sweep_deals:,} deals, {sweep_deals * sweep_commitments:,} commitments)",
        f"{result['seconds']:.1f} s, {result['events']:,} events",
        "",
        "",
        "<= 10 s",
    )
    result = dispatch(engine, dispatch_events)
    rate = dispatch_events / result["seconds"]
    row(
        f"dispatch ({dispatch_events:,} events to a local webhook)",
        f"{rate:.0f} events/s ({result['received']} received)",
        f"{result['ceiling']:.0f} POST/s (bare aiohttp client)",
        f"{rate / result['ceiling']:.2f}",
        ">= 3000/s",
    )
    facts["speed_after"] = cpu_speed_ms()
    click.echo(
        f"single-core speed check (fixed Python loop): {facts['speed_before']:.0f} ms before, "
        f"{facts['speed_after']:.0f} ms after"
    )
    Path(output).write_text(
        render(
            rows,
            facts,
            {
                "workers": workers,
                "threads": threads,
                "connections": connections,
                "duration": duration,
            },
        )
    )
    click.echo(f"wrote {output}")


if __name__ == "__main__":
    main()
