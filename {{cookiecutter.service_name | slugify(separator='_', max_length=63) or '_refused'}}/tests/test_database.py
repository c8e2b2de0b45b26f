{%- set cc = cookiecutter -%}
"""While the database cannot be reached: a request that needs it gets a JSON 503 with Retry-After, quickly; the
readiness probe says so; the liveness probe does not ask the database."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask import Flask

from {{ cc.service_name }}.app import create_app
from {{ cc.service_name }}.config import Settings

ENDPOINT = "/api/{{ cc.resource_name }}"


@pytest.fixture
def unreachable(tmp_path: Path) -> Flask:
{%- if cc.database == "postgresql" %}
    # Nothing listens on port 9 (discard) here: the connection is refused at once.
    url = "postgresql+psycopg://app:secret@127.0.0.1:9/{{ cc.service_name }}"
{%- else %}
    # A data directory that is not there (a volume that was not mounted): the file cannot be opened.
    url = f"sqlite:///{tmp_path / 'not-mounted' / 'data.sqlite3'}"
{%- endif %}
    return create_app(Settings(database_url=url, database_connect_timeout=2))


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
    assert client.get("/healthz").status_code == 200


def test_readiness_holds_while_the_database_answers(app: Flask) -> None:
    assert app.test_client().get("/readyz").get_json() == {"status": "ready"}
