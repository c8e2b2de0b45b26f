from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

{% if cookiecutter.database == "none" -%}
from {{ cookiecutter.service_name }}.app import create_app
from {{ cookiecutter.service_name }}.core.config import Settings
{% endif -%}
from {{ cookiecutter.service_name }}.core.logging_config import JsonFormatter
{%- if cookiecutter.database != "none" %}

# The database's fixtures: the test database, and the app fixture on it.
pytest_plugins = ["database_fixtures"]
{%- else %}


@pytest.fixture
def app() -> Flask:
    app = create_app(Settings(max_content_length=1024))
    app.config["TESTING"] = True
    return app
{%- endif %}


{%- if cookiecutter.__upstreams %}


@pytest.fixture(autouse=True)
def upstream_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every upstream's URL, required at start, set to a port nothing listens on: a test that calls one says where
    (tests/test_upstream.py serves a fake one)."""
{%- for name in cookiecutter.__upstreams.split(",") %}
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}_{{ name | upper }}_URL", "http://127.0.0.1:9")
{%- endfor %}
{%- endif %}
{%- if cookiecutter.authentication == "jwt" %}


@pytest.fixture(autouse=True)
def token_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token settings, required at start; tests/test_auth.py serves a key set and signs tokens for them."""
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}_JWT_ISSUER", "https://idp.test/")
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}_JWT_AUDIENCE", "{{ cookiecutter.service_name }}")
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}_JWKS_URL", "http://127.0.0.1:9/jwks")
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
