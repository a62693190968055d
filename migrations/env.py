"""Alembic environment: our models' metadata, PostGIS-aware autogenerate."""

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, pool

from core.config import load_config
from models import metadata

config = context.config

# geoalchemy2's helpers keep autogenerate from dropping spatial_ref_sys or doubling spatial indexes.
CONFIGURE = {
    "target_metadata": metadata,
    "include_object": alembic_helpers.include_object,
    "process_revision_directives": alembic_helpers.writer,
    "render_item": alembic_helpers.render_item,
}


def database_url() -> str:
    """An explicit `sqlalchemy.url` (tests) wins; else the app's DATABASE_URL."""
    return config.get_main_option("sqlalchemy.url") or load_config()["DATABASE_URL"]


def run_migrations_offline() -> None:
    """Emit SQL without a database connection."""
    context.configure(url=database_url(), literal_binds=True, **CONFIGURE)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate the database at `database_url()`."""
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, compare_type=True, **CONFIGURE)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
