"""The application factory, and the request class it gives Flask."""

from __future__ import annotations

import io
from typing import IO, cast

import flask
from flask import Flask
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import get_content_length

from {{ cookiecutter.service_name }}.api import api
from {{ cookiecutter.service_name }}.config import Settings
from {{ cookiecutter.service_name }}.errors import register_error_handlers
from {{ cookiecutter.service_name }}.health import health
from {{ cookiecutter.service_name }}.metrics import register_metrics
from {{ cookiecutter.service_name }}.openapi import openapi
from {{ cookiecutter.service_name }}.request_id import RequestIds
{%- if cookiecutter.use_opentelemetry %}
from {{ cookiecutter.service_name }}.tracing import instrument
{%- endif %}


class Request(flask.Request):
    """Flask's request, with the body limit (``MAX_CONTENT_LENGTH``) kept more cheaply, and kept for chunked bodies.

    A server that ends each body itself (gunicorn, which sets ``wsgi.input_terminated``) gets a Werkzeug stream
    that counts up to the limit around every body, reading through two 64 KiB buffers, even when ``Content-Length``
    was declared, checked against the limit, and the server stops there: under gunicorn that cost a worker about as
    much CPU as the request metrics. A declared body is read as the server hands it over. A chunked body, which that
    stream would cut at the limit without a word (the view then saw broken JSON: a 400, not a 413), is read here up
    to one byte past the limit, and refused with a 413 if that byte comes.
    """

    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        if limit is None or "wsgi.input_terminated" not in self.environ:
            return super().stream
        body = cast(IO[bytes], self.environ["wsgi.input"])
        length = get_content_length(self.environ)  # None for a chunked body
        if length is not None:
            if length > limit:
                raise RequestEntityTooLarge()
            return body
        data = bytearray()
        while len(data) <= limit and (chunk := body.read(limit + 1 - len(data))):
            data += chunk
        if len(data) > limit:
            raise RequestEntityTooLarge()
        return io.BytesIO(bytes(data))


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app; ``settings`` default to the environment (see config.py)."""
    settings = Settings.from_env() if settings is None else settings
    app = Flask(__name__)
    app.request_class = Request
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # One WSGI middleware for request ids and metrics: the cheapest place to see every request and response.
    observe = register_metrics(app) if settings.metrics else None
    app.wsgi_app = RequestIds(app.wsgi_app, observe)  # type: ignore[method-assign]
{%- if cookiecutter.use_opentelemetry %}
    instrument(app)
{%- endif %}
    app.register_blueprint(api, url_prefix="/api")
    app.register_blueprint(health)
    app.register_blueprint(openapi)
    register_error_handlers(app)
    return app
