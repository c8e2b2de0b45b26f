{%- import "database/" ~ cookiecutter.database ~ ".jinja" as kind with context -%}
"""How Alembic reaches the database: the service's own settings and engine, and its models for autogenerate."""

from __future__ import annotations
{{ kind.migration_imports() }}
from typing import Literal

import sqlalchemy
from alembic import context
from alembic.autogenerate.api import AutogenContext

from {{ cookiecutter.service_name }}.core import idempotency  # noqa: F401 - its table joins the models' metadata
from {{ cookiecutter.service_name }}.core.db import make_engine
from {{ cookiecutter.service_name }}.core.db_settings import DatabaseSettings
from {{ cookiecutter.service_name }}.models import Base
{{- kind.migration_lock() }}


def render_item(kind: str, item: object, autogen_context: AutogenContext) -> str | Literal[False]:
    """A column of one of the service's own types (core/db.py) is written as the type the database stores: a
    migration must not import the service's code, which changes after the migration is written."""
    if kind == "type" and isinstance(item, sqlalchemy.types.TypeDecorator):
        return f"sa.{item.impl!r}"
    return False


def run_migrations() -> None:
    settings: DatabaseSettings = context.config.attributes.get("settings") or DatabaseSettings()
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            {{- kind.before_migrations() }}
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                compare_type=True,
                render_item=render_item,
                {{- kind.migration_options() }}
            )
            with context.begin_transaction():
                context.run_migrations()
            {{- kind.after_migrations() }}
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("ERROR: offline (SQL script) migrations are not set up; run them against the database")
run_migrations()
