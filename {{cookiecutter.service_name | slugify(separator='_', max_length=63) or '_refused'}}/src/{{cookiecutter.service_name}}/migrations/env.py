"""How Alembic reaches the database: the service's own settings and engine, and its models for autogenerate."""

from __future__ import annotations
{%- if cookiecutter.database == "postgresql" %}

import zlib
{%- endif %}

from alembic import context
{%- if cookiecutter.database == "postgresql" %}
from sqlalchemy import text
{%- endif %}

from {{ cookiecutter.service_name }}.config import Settings
from {{ cookiecutter.service_name }}.db import make_engine
from {{ cookiecutter.service_name }}.models import Base
{%- if cookiecutter.database == "postgresql" %}

# Two runs at once (two deploy jobs, two pods running migrations by mistake) take turns on this lock instead of
# racing: a PostgreSQL advisory lock, held until the migrations are done.
MIGRATION_LOCK = zlib.crc32(b"{{ cookiecutter.service_name }} migrations")
{%- endif %}


def run_migrations() -> None:
    settings: Settings = context.config.attributes.get("settings") or Settings.from_env()
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
{%- if cookiecutter.database == "postgresql" %}
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
{%- endif %}
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                compare_type=True,
{%- if cookiecutter.database == "sqlite" %}
                # SQLite changes a table by copying it: Alembic's batch mode writes such migrations.
                render_as_batch=True,
{%- endif %}
            )
            with context.begin_transaction():
                context.run_migrations()
{%- if cookiecutter.database == "postgresql" %}
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
{%- endif %}
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("ERROR: offline (SQL script) migrations are not set up; run them against the database")
run_migrations()
