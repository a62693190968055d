"""Alembic migrations on a scratch database: up from empty, down to base and up again, no drift."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from models import metadata
from tests.conftest import alembic_config

POSTGIS_TABLES = {"spatial_ref_sys"}


@pytest.fixture
def scratch(empty_database_url):
    """(url, alembic config, engine) of the empty scratch database."""
    engine = create_engine(empty_database_url, poolclass=NullPool)
    yield empty_database_url, alembic_config(empty_database_url), engine
    engine.dispose()


def tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - POSTGIS_TABLES


def current_heads(engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def script_heads(config) -> set[str]:
    return set(ScriptDirectory.from_config(config).get_heads())


def drift(engine) -> list:
    """What autogenerate would put in a new migration (configured as migrations/env.py is)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_object": alembic_helpers.include_object,
                "compare_type": True,
            },
        )
        return compare_metadata(context, metadata)


def test_upgrade_head_on_an_empty_database_creates_every_table(scratch):
    _url, config, engine = scratch
    assert tables(engine) == set()
    command.upgrade(config, "head")
    assert tables(engine) == set(metadata.tables) | {"alembic_version"}
    assert current_heads(engine) == script_heads(config)
    with engine.connect() as connection:
        gist = (
            connection.execute(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE tablename = 'venues' AND indexdef LIKE '%gist%'"
                )
            )
            .scalars()
            .all()
        )
        column_type = connection.execute(
            text(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'venues'::regclass AND attname = 'location'"
            )
        ).scalar_one()
    assert len(gist) == 1 and "(location)" in gist[0]
    assert column_type == "geography(Point,4326)"


def test_downgrade_base_then_upgrade_head_again_round_trips(scratch):
    _url, config, engine = scratch
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    assert tables(engine) == {"alembic_version"}
    assert current_heads(engine) == set()
    with engine.connect() as connection:  # PostGIS itself survives the downgrade
        assert (
            connection.execute(
                text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
            ).all()
            != []
        )
    command.upgrade(config, "head")
    assert tables(engine) == set(metadata.tables) | {"alembic_version"}
    assert current_heads(engine) == script_heads(config)
    assert drift(engine) == []


def test_autogenerate_against_head_finds_no_difference(scratch):
    _url, config, engine = scratch
    command.upgrade(config, "head")
    assert drift(engine) == []


def test_the_drift_check_does_notice_a_schema_that_differs_from_the_models(scratch):
    _url, config, engine = scratch
    command.upgrade(config, "head")
    with engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_venues_merchant_id"))
        connection.execute(text("ALTER TABLE venues ADD COLUMN stray integer"))
    differences = drift(engine)
    kinds = {difference[0] for difference in differences if isinstance(difference, tuple)}
    assert {"add_index", "remove_column"} <= kinds


def test_a_commitment_status_change_touches_no_index_and_has_room_on_its_page(scratch):
    """Release and confirmation can be HOT updates: nothing indexed changes, the page has space."""
    _url, config, engine = scratch
    command.upgrade(config, "head")
    with engine.connect() as connection:
        options = connection.execute(
            text("SELECT reloptions FROM pg_class WHERE oid = 'commitments'::regclass")
        ).scalar_one()
        indexes = (
            connection.execute(
                text(
                    "SELECT pg_get_indexdef(indexrelid) FROM pg_index "
                    "WHERE indrelid = 'commitments'::regclass"
                )
            )
            .scalars()
            .all()
        )
    assert options == ["fillfactor=50"]
    # primary key, (deal_id), (account_id, created_at), the never-changing attribution, and
    # the shared ones for friends (`share` never changes either)
    assert len(indexes) == 7
    for column in ("status", "released_at", "confirmed_at"):
        assert [index for index in indexes if column in index] == []
