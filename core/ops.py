"""Health and readiness endpoints."""

from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, jsonify

from core.db import get_engine

blp = Blueprint("ops", __name__)
MIGRATIONS_DIR = "migrations"


@cache
def migration_heads() -> frozenset[str]:
    """The head revisions of the migration scripts shipped with this code."""
    config = Config()
    config.set_main_option(
        "script_location", str(Path(__file__).resolve().parent.parent / MIGRATIONS_DIR)
    )
    return frozenset(ScriptDirectory.from_config(config).get_heads())


@blp.get("/healthz")
def healthz():
    """200 while the process runs."""
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz():
    """200 when the database answers and its schema is at the code's migration head, else 503."""
    try:
        with get_engine().connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception as exc:
        return jsonify(status="unavailable", reason=f"database: {exc.__class__.__name__}"), 503
    expected = migration_heads()
    if current != expected:
        return jsonify(
            status="unavailable",
            reason="migrations behind",
            current=sorted(current),
            expected=sorted(expected),
        ), 503
    return jsonify(status="ready", revision=sorted(current))


def init_app(app: Flask) -> None:
    """Register the ops routes."""
    app.register_blueprint(blp)
