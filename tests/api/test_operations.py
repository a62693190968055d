"""Operations: liveness, readiness (DB up and at head), the OpenAPI document, offline docs."""

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from alembic import command
from flask import Flask
from openapi_spec_validator import validate
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

import core.api
from core.api import Blueprint
from core.db import open_session
from tests.conftest import alembic_config, free_port


def test_healthz_answers_200_while_the_process_runs(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_healthz_does_not_need_the_database(make_app):
    down = make_app(DATABASE_URL=f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/nowhere")
    assert down.test_client().get("/healthz").status_code == 200


def test_readyz_is_200_when_the_database_is_at_the_migration_head(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["status"] == "ready"
    assert response.json["revision"]


def test_readyz_is_503_on_a_database_without_migrations(make_app, empty_database_url):
    response = make_app(DATABASE_URL=empty_database_url).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["reason"] == "migrations behind"
    assert response.json["current"] == []


def test_readyz_is_503_when_migrations_are_behind_and_200_once_upgraded(
    make_app, empty_database_url
):
    config = alembic_config(empty_database_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    client = make_app(DATABASE_URL=empty_database_url).test_client()
    behind = client.get("/readyz")
    assert behind.status_code == 503
    assert behind.json["reason"] == "migrations behind"
    assert behind.json["expected"]
    command.upgrade(config, "head")
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_database_is_unreachable(make_app):
    closed_port = free_port()
    down = make_app(DATABASE_URL=f"postgresql+psycopg2://postgres@127.0.0.1:{closed_port}/schwarm")
    response = down.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["reason"].startswith("database")
    assert "127.0.0.1" not in response.get_data(as_text=True)  # no connection details leak


def test_the_openapi_document_is_valid_openapi_3(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json
    validate(spec)
    assert spec["openapi"].startswith("3.")
    for path in (
        "/api/v1/accounts",
        "/api/v1/tokens",
        "/api/v1/tokens/current",
        "/api/v1/me",
        "/api/v1/venues",
        "/api/v1/venues/{venue_id}",
        "/api/v1/venues/nearby",
        "/api/v1/me/notifications",
        "/api/v1/me/notifications/{notification_id}/read",
    ):
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_openapi_document_describes_errors_as_problem_json(client):
    spec = client.get("/api/v1/openapi.json").json
    not_found = spec["components"]["responses"]["NOT_FOUND"]
    assert "application/problem+json" in not_found["content"]
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "code"} <= set(problem["required"])


class AssetCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []
        self.inline_scripts = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.urls.append(attributes["src"])
        if tag == "link" and attributes.get("href"):
            self.urls.append(attributes["href"])
        if tag == "img" and attributes.get("src"):
            self.urls.append(attributes["src"])

    def handle_data(self, data):
        if self.lasttag == "script":
            self.inline_scripts.append(data)


def test_the_docs_page_loads_only_local_assets_and_they_are_served(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    collector = AssetCollector()
    collector.feed(page)
    scripts = [url for url in collector.urls if url.endswith(".js")]
    styles = [url for url in collector.urls if url.endswith(".css")]
    assert scripts and styles
    for url in collector.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{url} is not local"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.get_data()) > 1000, url
    # nothing else on the page (inline config included) points off the machine
    assert not re.search(r"https?://(?!localhost|127\.0\.0\.1)", page)
    assert "/api/v1/openapi.json" in "".join(collector.inline_scripts)


def test_unknown_docs_assets_are_404_not_a_directory_listing_or_traversal(client):
    assert client.get("/api/docs/assets/nope.js").status_code == 404
    assert client.get("/api/docs/assets/../../../etc/passwd").status_code == 404


def test_read_only_endpoints_run_without_a_transaction_and_the_others_in_one(app):
    # Searches save BEGIN and ROLLBACK round trips; a write must stay atomic.
    for read_only, autocommit in ((True, True), (False, False)):
        with app.test_request_context("/"):
            dbapi_connection = (
                open_session(read_only=read_only).connection().connection.dbapi_connection
            )
            assert dbapi_connection.autocommit is autocommit, read_only


def test_every_get_endpoint_declares_itself_read_only(app):
    # What every GET got implicitly before each said so: the read pool and no transaction.
    gets = [
        app.view_functions[rule.endpoint].view_class.get
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and hasattr(app.view_functions[rule.endpoint], "view_class")
    ]
    assert len(gets) > 10
    assert all(view.endpoint_spec.read_only for view in gets)


def test_a_session_of_the_read_pool_refuses_to_write(app):
    with app.test_request_context("/"):
        session = open_session(read_only=True)
        with pytest.raises(DBAPIError, match="read-only transaction"):
            session.execute(text("DELETE FROM accounts WHERE false"))


def test_every_operation_has_a_unique_camel_case_operation_id(client):
    spec = client.get("/api/v1/openapi.json").json
    operation_ids = [
        operation.get("operationId")
        for item in spec["paths"].values()
        for method, operation in item.items()
        if method != "parameters"
    ]
    assert operation_ids and None not in operation_ids
    assert len(set(operation_ids)) == len(operation_ids)
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", name) for name in operation_ids), (
        operation_ids
    )


def test_a_route_without_an_operation_id_fails_app_start():
    blueprint = Blueprint("unnamed", __name__)

    @blueprint.route("/api/v1/unnamed")
    def unnamed():
        """An operation nobody named."""
        return {}

    api = core.api.init_app(Flask(__name__))
    with pytest.raises(LookupError, match="GET /api/v1/unnamed"):
        api.register_blueprint(blueprint)
