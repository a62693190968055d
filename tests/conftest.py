"""Test fixtures: the real PostGIS test database, the app, HTTP helpers and a live gunicorn."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from app import create_app
from core.config import normalise_database_url
from core.db import dispose_engines
from models import metadata

ROOT = Path(__file__).resolve().parent.parent
TEST_DATABASE_URL = normalise_database_url(
    os.environ.get("TEST_DATABASE_URL")
    or os.environ.get("DATABASE_URL")
    or "postgresql+psycopg2://postgres@127.0.0.1:55432/schwarm_test"
)
TEST_CONFIG = {"DATABASE_URL": TEST_DATABASE_URL, "PASSWORD_HASH_FAST": True}


def alembic_config(url: str) -> Config:
    """Alembic config pointing at `url`."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    return config


def reset_schema(url: str) -> None:
    """Empty the database's public schema and make it spatial again."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url() -> str:
    """The test database, migrated to head from empty once per run."""
    reset_schema(TEST_DATABASE_URL)
    command.upgrade(alembic_config(TEST_DATABASE_URL), "head")
    return TEST_DATABASE_URL


@pytest.fixture(scope="session")
def app(database_url):
    """The app under test, on the test database."""
    return create_app(dict(TEST_CONFIG, DATABASE_URL=database_url))


@pytest.fixture(scope="session")
def engine(app):
    """The app's engine (for direct SQL in tests)."""
    return app.extensions["db_engine"]


@pytest.fixture(autouse=True)
def clean_tables(request):
    """Each test starts from empty tables (emptied after it, so real parallel requests can be
    tested), with sequences restarted.

    DELETE (children first) rather than TRUNCATE: TRUNCATE makes new files for every table and
    index and fsyncs them at commit, ~0.5 s per test here; deleting a test's few rows takes ~10 ms.
    """
    if "database_url" not in request.fixturenames:
        yield
        return
    engine = request.getfixturevalue("engine")
    yield
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(text(f'DELETE FROM "{table.name}"'))
        connection.execute(
            text(
                "SELECT setval(oid::regclass, 1, false) FROM pg_class "
                "WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"
            )
        )


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


@pytest.fixture
def db(app):
    """A session on the test database, for services and assertions."""
    session = app.extensions["db_sessionmaker"]()
    yield session
    session.close()


class Api:
    """Small helper around the test client: registers accounts and sends authenticated JSON."""

    def __init__(self, client):
        self.client = client

    def register(
        self,
        role: str = "customer",
        email: str | None = None,
        password: str = "correct horse battery",
    ) -> dict:
        """Create an account and log in; returns `{account, token, headers}`."""
        email = email or f"{role}-{uuid.uuid4().hex[:10]}@example.com"
        created = self.client.post(
            "/api/v1/accounts",
            json={
                "email": email,
                "password": password,
                "display_name": role.title(),
                "role": role,
            },
        )
        assert created.status_code == 201, created.json
        login = self.client.post("/api/v1/tokens", json={"email": email, "password": password})
        assert login.status_code == 201, login.json
        token = login.json["token"]
        return {
            "account": created.json,
            "token": token,
            "headers": {"Authorization": f"Bearer {token}"},
        }

    def create_venue(self, merchant: dict, **overrides) -> dict:
        """Create a venue for `merchant` (from `register`)."""
        body = {"name": "Café Schwarm", "location": {"lat": 52.52, "lon": 13.405}, **overrides}
        response = self.client.post("/api/v1/venues", json=body, headers=merchant["headers"])
        assert response.status_code == 201, response.json
        return response.json

    def create_deal(self, merchant: dict, venue: dict, **overrides) -> dict:
        """Create a deal at `venue` for `merchant` (defaults: tests.factories.deal_body)."""
        from tests.factories import create_deal

        return create_deal(self, merchant, venue, **overrides)


@pytest.fixture
def merchant(api) -> dict:
    """A registered, logged-in merchant (see `Api.register`)."""
    return api.register("merchant")


@pytest.fixture
def customer(api) -> dict:
    """A registered, logged-in customer (see `Api.register`)."""
    return api.register("customer")


@pytest.fixture
def api(client) -> Api:
    """The `Api` helper."""
    return Api(client)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn_server(database_url: str, port: int | None = None, **environment):
    """A real gunicorn (2 workers x 8 threads) serving the app on `database_url` at `port` (a
    free one by default), with `environment` added to its environment; yields its base URL."""
    port = port or free_port()
    env = dict(os.environ, DATABASE_URL=database_url, PASSWORD_HASH_FAST="true", **environment)
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
            "2",
            "--threads",
            "8",
            "--log-level",
            "warning",
            "app:create_app()",
        ],
        cwd=ROOT,
        env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(base_url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # refused while binding, slow while workers boot
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not start")
        yield base_url
    finally:  # also when start-up failed: never leave a gunicorn behind
        process.send_signal(signal.SIGINT)  # quick shutdown; SIGTERM waits on keep-alives
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def live_server(database_url):
    """A real gunicorn (2 workers x 8 threads) serving the app on the test database."""
    with gunicorn_server(database_url) as base_url:
        yield base_url


# --- payments: a Stripe-compatible server on loopback -------------------------------------------

STRIPE_TEST_KEY = "sk_test_schwarm"
STRIPE_WEBHOOK_SECRET = "whsec_schwarm_test"


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    """A real localstripe (the venv's, beside this Python) on a free loopback port, started from
    scratch once per run and stopped after it; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("localstripe")), "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base_url}/v1/balance", auth=(STRIPE_TEST_KEY, ""), timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise RuntimeError("localstripe did not start")
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stripe_config(localstripe_url: str) -> dict:
    """Configuration of an app that takes payments through `localstripe_url`."""
    return {
        "PAYMENT_PROVIDER": "stripe",
        "STRIPE_API_KEY": STRIPE_TEST_KEY,
        "STRIPE_API_BASE": localstripe_url,
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
    }


@pytest.fixture(scope="session")
def paid_app(database_url, localstripe):
    """The app taking payments through localstripe, on the test database."""
    paid = create_app(dict(TEST_CONFIG, DATABASE_URL=database_url, **stripe_config(localstripe)))
    yield paid
    dispose_engines(paid)


@pytest.fixture
def paid_api(paid_app, localstripe) -> "Api":
    """The `Api` helper on the paying app; localstripe's objects are dropped first, so each
    test starts with an empty provider."""
    requests.delete(f"{localstripe}/_config/data", timeout=10).raise_for_status()
    return Api(paid_app.test_client())


@pytest.fixture(scope="session")
def paid_live_server(database_url, localstripe):
    """A real gunicorn taking payments through localstripe."""
    with gunicorn_server(database_url, **stripe_config(localstripe)) as base_url:
        yield base_url


def scratch_database_name() -> str:
    """`schwarm_migrations_test` beside `schwarm_test`; `<db>_migrations` beside any other test
    database, so test runs on different databases of one server never drop each other's."""
    test_database = make_url(TEST_DATABASE_URL).database
    if test_database == "schwarm_test":
        return "schwarm_migrations_test"
    return f"{test_database}_migrations"


def _server_admin_engine():
    """An AUTOCOMMIT engine on the test server's `postgres` database (CREATE/DROP DATABASE)."""
    url = make_url(TEST_DATABASE_URL).set(database="postgres")
    return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def recreate_database(name: str) -> str:
    """Drop and create database `name` on the test server (spatial: from template1, plus
    `CREATE EXTENSION IF NOT EXISTS postgis` for servers whose template1 lacks it); its URL."""
    admin = _server_admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as connection:
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def scratch_database_url():
    """URL of a throw-away database on the test server (made by `empty_database_url`, dropped
    after the run)."""
    name = scratch_database_name()
    yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    admin = _server_admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def empty_database_url(scratch_database_url) -> str:
    """The scratch database, freshly created: PostGIS but no tables and no revision."""
    return recreate_database(make_url(scratch_database_url).database)


@pytest.fixture
def receiver():
    """A real local HTTP receiver for webhooks and the push gateway (tests/receiver.py)."""
    from tests.receiver import Receiver

    with Receiver() as running:
        yield running


@pytest.fixture
def make_app():
    """Build extra apps with config overrides (on top of TEST_CONFIG); their pools are disposed."""
    built = []

    def factory(**overrides):
        extra = create_app(dict(TEST_CONFIG, **overrides))
        built.append(extra)
        return extra

    yield factory
    for extra in built:
        dispose_engines(extra)
