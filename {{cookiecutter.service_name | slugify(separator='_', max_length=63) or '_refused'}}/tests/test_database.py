{%- import "database/" ~ cookiecutter.database ~ ".jinja" as kind with context -%}
"""The database's settings, each refused in one line that says what would be valid; and while the database cannot
be reached, a request that needs it gets a JSON 503 with Retry-After, quickly, and the readiness probe says so; the
liveness probe does not ask the database."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from flask import Flask

from {{ cookiecutter.service_name }}.app import create_app
from {{ cookiecutter.service_name }}.core.config import ConfigError, Settings
from {{ cookiecutter.service_name }}.core.db_settings import DatabaseSettings

ENDPOINT = "/api/{{ cookiecutter.resource_name }}"
PREFIX = "{{ cookiecutter.__env_prefix }}_"
Read = Callable[..., DatabaseSettings]
# The one setting without a default, set in every test that is not about it.
EXAMPLE_URL = {"DATABASE_URL": "{{ kind.example_url() }}"}
# Each pool setting: variable, attribute, lowest and highest value accepted.
POOL_RANGES = [
    ("DATABASE_POOL_SIZE", "pool_size", 1, 1000),
    ("DATABASE_POOL_TIMEOUT", "pool_timeout", 1, 600),
    ("DATABASE_CONNECT_TIMEOUT", "connect_timeout", 2, 600),
]
POOL_IDS = [name for name, *_ in POOL_RANGES]


@pytest.fixture
def read(monkeypatch: pytest.MonkeyPatch) -> Read:
    """``read(NAME=value, ...)``: the database's settings with only these variables set (named without the prefix),
    and the example URL unless one is given."""
    for name in [name for name in os.environ if name.startswith(PREFIX + "DATABASE_")]:
        monkeypatch.delenv(name)

    def read(**variables: str) -> DatabaseSettings:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {**EXAMPLE_URL, **variables}.items():
                patch.setenv(PREFIX + name, value)
            return DatabaseSettings()

    return read


def refused(name: str, reason: str) -> AbstractContextManager[pytest.ExceptionInfo[ConfigError]]:
    """A refusal in one line that names the variable (with its prefix) and says what is wrong."""
    return pytest.raises(ConfigError, match="^" + re.escape(PREFIX + name) + r"[^\n]*" + re.escape(reason))


@pytest.mark.parametrize(("name", "attribute", "lowest", "highest"), POOL_RANGES, ids=POOL_IDS)
def test_each_pool_setting_takes_its_range_and_refuses_what_is_outside(
    read: Read, name: str, attribute: str, lowest: int, highest: int
) -> None:
    assert getattr(read(**{name: str(lowest)}), attribute) == lowest
    assert getattr(read(**{name: str(highest)}), attribute) == highest
    for value in (lowest - 1, highest + 1):
        with refused(name, f"={value} is out of range; use {lowest} to {highest}"):
            read(**{name: str(value)})


def test_the_pool_defaults_apply_when_nothing_is_set(read: Read) -> None:
    settings = read()

    assert (settings.pool_size, settings.pool_timeout, settings.connect_timeout) == (10, 5, 3)
{{- kind.url_tests() }}


def test_the_app_refuses_to_start_without_a_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PREFIX + "DATABASE_URL", raising=False)
    monkeypatch.delenv(PREFIX + "DATABASE_URL_FILE", raising=False)

    with refused("DATABASE_URL", "is not set; use"):
        create_app(Settings())


@pytest.fixture
def unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
{{- kind.unreachable_url() }}
    monkeypatch.setenv(PREFIX + "DATABASE_URL", url)
    monkeypatch.setenv(PREFIX + "DATABASE_CONNECT_TIMEOUT", "2")
    return create_app(Settings())


@pytest.mark.parametrize(("method", "path"), [("POST", ENDPOINT), ("GET", ENDPOINT), ("GET", f"{ENDPOINT}/1")])
def test_a_request_that_needs_the_database_gets_503_with_retry_after(
    unreachable: Flask, method: str, path: str
) -> None:
    started = time.monotonic()
    response = unreachable.test_client().open(path, method=method, json={"name": "anything"})

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert time.monotonic() - started < 5


def test_readiness_fails_while_the_database_cannot_be_reached_and_liveness_does_not(unreachable: Flask) -> None:
    client = unreachable.test_client()

    assert client.get("/readyz").status_code == 503
    assert client.get("/readyz").get_json() == {"status": "database unreachable"}
    assert client.get("/healthz").status_code == 200


def test_readiness_holds_while_the_database_answers(app: Flask) -> None:
    assert app.test_client().get("/readyz").get_json() == {"status": "ready"}
