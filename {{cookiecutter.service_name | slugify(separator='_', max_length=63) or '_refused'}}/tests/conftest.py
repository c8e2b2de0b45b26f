from __future__ import annotations

import io
import json
import logging
{%- if cookiecutter.authentication == "jwt" %}
import threading
import time
{%- endif %}
from collections.abc import Callable, Iterator
{%- if cookiecutter.authentication == "jwt" %}
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
{%- endif %}
from typing import Any

{% if cookiecutter.authentication == "jwt" -%}
import jwt
{% endif -%}
import pytest
{%- if cookiecutter.authentication == "jwt" %}
from cryptography.hazmat.primitives.asymmetric import ec
{%- endif %}
from flask import Flask
from flask.testing import FlaskClient
{%- if cookiecutter.authentication == "jwt" %}
from jwt.algorithms import ECAlgorithm
{%- endif %}

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


# The identity provider of the tests: a key they sign tokens with, served as a key set on 127.0.0.1.
SIGNING_KEY = ec.generate_private_key(ec.SECP256R1())
KEY_ID = "tests"
ISSUER = "https://idp.test/"
AUDIENCE = "{{ cookiecutter.service_name }}"


class KeySet(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        public = ECAlgorithm.to_jwk(SIGNING_KEY.public_key(), as_dict=True)
        body = json.dumps({"keys": [{**public, "kid": KEY_ID, "use": "sig", "alg": "ES256"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def key_set_url() -> Iterator[str]:
    with ThreadingHTTPServer(("127.0.0.1", 0), KeySet) as server:
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks"
        server.shutdown()


def bearer_token(*scopes: str) -> str:
    """A token of the tests' provider for a caller allowed ``scopes``, valid for an hour."""
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "tests", "iat": now, "exp": now + 3600, "scope": " ".join(scopes)}
    return jwt.encode(claims, SIGNING_KEY, algorithm="ES256", headers={"kid": KEY_ID})


class AuthorizedClient(FlaskClient):
    """The tests' client: it sends a token allowed to read and write the API, as a trusted caller would, so that
    the tests of what the API does need not say so each time (tests/test_auth.py tests who may call)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scopes = ("{{ cookiecutter.resource_name }}:read", "{{ cookiecutter.resource_name }}:write")
        self.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + bearer_token(*scopes)


@pytest.fixture(autouse=True)
def token_settings(monkeypatch: pytest.MonkeyPatch, key_set_url: str) -> None:
    """The token settings, required at start, on the tests' provider; every test client sends its token."""
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}_JWT_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("{{ cookiecutter.__env_prefix }}_JWKS_URL", key_set_url)
    monkeypatch.setattr(Flask, "test_client_class", AuthorizedClient)
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
