"""Test fixtures: the real PostGIS test database, the app, HTTP helpers and a live gunicorn."""
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from app import create_app
from core.config import normalise_database_url
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
    """Each test starts from empty tables (truncation, so real parallel requests can be tested)."""
    if "database_url" not in request.fixturenames:
        yield
        return
    engine = request.getfixturevalue("engine")
    yield
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


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

    def register(self, role: str = "customer", email: str | None = None,
                 password: str = "correct horse battery") -> dict:
        """Create an account and log in; returns `{account, token, headers}`."""
        email = email or f"{role}-{uuid.uuid4().hex[:10]}@example.com"
        created = self.client.post("/api/v1/accounts", json={
            "email": email, "password": password, "display_name": role.title(), "role": role,
        })
        assert created.status_code == 201, created.json
        login = self.client.post("/api/v1/tokens", json={"email": email, "password": password})
        assert login.status_code == 201, login.json
        token = login.json["token"]
        return {"account": created.json, "token": token,
                "headers": {"Authorization": f"Bearer {token}"}}

    def create_venue(self, merchant: dict, **overrides) -> dict:
        """Create a venue for `merchant` (from `register`)."""
        body = {"name": "Café Schwarm", "location": {"lat": 52.52, "lon": 13.405}, **overrides}
        response = self.client.post("/api/v1/venues", json=body, headers=merchant["headers"])
        assert response.status_code == 201, response.json
        return response.json


@pytest.fixture
def api(client) -> Api:
    """The `Api` helper."""
    return Api(client)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(database_url):
    """A real gunicorn (2 workers x 8 threads) serving the app on the test database."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, PASSWORD_HASH_FAST="true")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--threads", "8", "--log-level", "warning", "app:create_app()"],
        cwd=ROOT, env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(base_url + "/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("gunicorn did not start")
    yield base_url
    process.terminate()
    process.wait(timeout=10)
