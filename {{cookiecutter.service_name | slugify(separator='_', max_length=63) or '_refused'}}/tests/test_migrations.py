"""The migrations are the schema: they match the models, and go down and up again cleanly."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from {{ cookiecutter.service_name }}.core.migrate import main as migrate
from {{ cookiecutter.service_name }}.models import Base


@pytest.fixture
def on_test_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}_DATABASE_URL", database_url)
    return database_url


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_the_models_hold_no_change_that_a_migration_does_not_make(on_test_database: str) -> None:
    assert migrate(["check"]) == 0, "the models differ from the migrations: run make migration MESSAGE=..."


def test_the_migrations_go_down_to_nothing_and_up_again(on_test_database: str) -> None:
    assert migrate(["downgrade", "base"]) == 0
    assert tables(on_test_database) == set()

    assert migrate(["upgrade"]) == 0
    assert tables(on_test_database) == set(Base.metadata.tables)
