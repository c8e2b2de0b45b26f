{%- import "database/" ~ cookiecutter.database ~ ".jinja" as kind with context -%}
"""The database's fixtures, loaded by conftest.py: a test database for the session, migrated as `make migrate`
migrates, and the app on it."""

from __future__ import annotations
{{ kind.fixture_imports() }}
from collections.abc import Iterator

import pytest
from flask import Flask
{{- kind.fixture_plugin_imports() }}
from sqlalchemy import delete

from {{ cookiecutter.service_name }}.app import create_app
from {{ cookiecutter.service_name }}.core.config import Settings
from {{ cookiecutter.service_name }}.core.db import engine
from {{ cookiecutter.service_name }}.core.db_settings import DatabaseSettings
from {{ cookiecutter.service_name }}.core.migrate import main as migrate
from {{ cookiecutter.service_name }}.models import Base

DATABASE_URL = "{{ cookiecutter.__env_prefix }}_DATABASE_URL"
{{- kind.test_database() }}


def migrated(url: str) -> str:
    """``url`` with every migration applied, as `make migrate` applies them: the schema comes from the migrations."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DATABASE_URL, url)
        assert migrate(["upgrade"]) == 0, "the migrations failed"
        return DatabaseSettings().url


@pytest.fixture
def app(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The app on the test database, which it reads from the environment as the service does; each test starts with
    empty tables."""
    monkeypatch.setenv(DATABASE_URL, database_url)
    app = create_app(Settings(max_content_length=1024))
    app.config["TESTING"] = True
    yield app
    with app.app_context():
        with engine().begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(delete(table))
        engine().dispose()
