from __future__ import annotations

import io
import json
import logging
{%- if cookiecutter.database == "postgresql" %}
import os
{%- endif %}
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
{%- if cookiecutter.database == "postgresql" %}
from pytest_postgresql import factories
from pytest_postgresql.exceptions import ExecutableMissingException
from pytest_postgresql.janitor import DatabaseJanitor
{%- endif %}
{%- if cookiecutter.database != "none" %}
from sqlalchemy import delete
{%- endif %}

from {{ cookiecutter.service_name }}.app import create_app
from {{ cookiecutter.service_name }}.config import Settings
{%- if cookiecutter.database != "none" %}
from {{ cookiecutter.service_name }}.db import engine
{%- endif %}
from {{ cookiecutter.service_name }}.logging_config import JsonFormatter
{%- if cookiecutter.database != "none" %}
from {{ cookiecutter.service_name }}.migrate import main as migrate
from {{ cookiecutter.service_name }}.models import Base
{%- endif %}
{%- if cookiecutter.database == "postgresql" %}

TEST_DATABASE_URL = "{{ cookiecutter.__env_prefix }}_TEST_DATABASE_URL"
# A throwaway PostgreSQL server from this machine's binaries, started only when no test database is named.
postgresql_proc = factories.postgresql_proc()


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL database for the session, migrated to the latest revision: the one named by
    {{ cookiecutter.__env_prefix }}_TEST_DATABASE_URL, else a new one on a throwaway server."""
    if named := os.environ.get(TEST_DATABASE_URL, "").strip():
        yield migrated(named)
        return
    if os.geteuid() == 0:
        pytest.exit(f"PostgreSQL's server refuses to run as root: set {TEST_DATABASE_URL} to a database to test on")
    try:
        server = request.getfixturevalue("postgresql_proc")
    except ExecutableMissingException:
        pytest.exit(
            f"the tests need PostgreSQL: set {TEST_DATABASE_URL}=postgresql://user:password@host:5432/database, "
            "or install PostgreSQL's server (Debian/Ubuntu: apt install postgresql; macOS: brew install postgresql)"
        )
    janitor = DatabaseJanitor(
        user=server.user, host=server.host, port=server.port, dbname="tests", password=server.password
    )
    with janitor:
        password = f":{server.password}" if server.password else ""
        yield migrated(f"postgresql://{server.user}{password}@{server.host}:{server.port}/tests")
{%- elif cookiecutter.database == "sqlite" %}


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file for the session, migrated to the latest revision."""
    return migrated(f"sqlite:///{tmp_path_factory.mktemp('database') / 'tests.sqlite3'}")
{%- endif %}
{%- if cookiecutter.database != "none" %}


def migrated(url: str) -> str:
    """``url`` with every migration applied, as `make migrate` applies them: the schema comes from the migrations."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("{{ cookiecutter.__env_prefix }}_DATABASE_URL", url)
        assert migrate(["upgrade"]) == 0, "the migrations failed"
        return Settings.from_env().database_url


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The app on the test database; each test starts with empty tables."""
    app = create_app(Settings(max_content_length=1024, database_url=database_url))
    app.config["TESTING"] = True
    yield app
    with app.app_context():
        with engine().begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(delete(table))
        engine().dispose()
{%- else %}


@pytest.fixture
def app() -> Flask:
    app = create_app(Settings(max_content_length=1024))
    app.config["TESTING"] = True
    return app
{%- endif %}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """``log_lines()``: every line logged so far through the service's JSON formatter, each parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
