"""The application factory."""

from __future__ import annotations

from flask import Flask

from {{ cookiecutter.service_name }}.api import api
from {{ cookiecutter.service_name }}.config import Settings
{%- if cookiecutter.database != "none" %}
from {{ cookiecutter.service_name }}.db import register_database
{%- endif %}
from {{ cookiecutter.service_name }}.errors import register_error_handlers
from {{ cookiecutter.service_name }}.health import health
from {{ cookiecutter.service_name }}.metrics import register_metrics
from {{ cookiecutter.service_name }}.openapi import openapi
from {{ cookiecutter.service_name }}.request_body import Request
from {{ cookiecutter.service_name }}.request_tracking import RequestTracking
{%- if cookiecutter.use_opentelemetry %}
from {{ cookiecutter.service_name }}.tracing import instrument
{%- endif %}


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app; ``settings`` default to the environment (see config.py)."""
    settings = Settings.from_env() if settings is None else settings
    app = Flask(__name__)
    app.request_class = Request
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.config["BODY_TIMEOUT"] = settings.body_timeout
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # One WSGI middleware sees every request and response: it gives each its id and times it for the metrics.
    observe = register_metrics(app) if settings.metrics else None
    app.wsgi_app = RequestTracking(app.wsgi_app, observe)  # type: ignore[method-assign]
{%- if cookiecutter.use_opentelemetry %}
    instrument(app)
{%- endif %}
    app.register_blueprint(api, url_prefix="/api")
    app.register_blueprint(health)
    app.register_blueprint(openapi)
    register_error_handlers(app)
{%- if cookiecutter.database != "none" %}
    register_database(app)
{%- endif %}
    return app
