"""The template's part of the app: what every service has before its own routes (settings, request limits and ids,
metrics, probes, JSON errors, and the parts its answers chose). ``create_app`` in the package's app.py adds the
service's blueprints to it.
"""

from __future__ import annotations

from flask import Flask

from {{ cookiecutter.service_name }}.core.config import Settings
{%- if cookiecutter.database != "none" %}
from {{ cookiecutter.service_name }}.core.db import register_database
{%- endif %}
from {{ cookiecutter.service_name }}.core.errors import register_error_handlers
from {{ cookiecutter.service_name }}.core.health import health
from {{ cookiecutter.service_name }}.core.metrics import register_metrics
from {{ cookiecutter.service_name }}.core.request_body import Request
from {{ cookiecutter.service_name }}.core.request_tracking import RequestTracking
{%- if cookiecutter.use_opentelemetry %}
from {{ cookiecutter.service_name }}.core.tracing import instrument
{%- endif %}
{%- if cookiecutter.__upstreams %}
from {{ cookiecutter.service_name }}.core.upstream import register_upstreams
{%- endif %}


def create_core_app(settings: Settings | None = None) -> Flask:
    """The Flask app with the template's parts, before the service's own blueprints; ``settings`` default to the
    environment (see config.py). Handlers and hooks are the app's own, so blueprints registered later get them too."""
    settings = Settings() if settings is None else settings
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
    app.register_blueprint(health)
    register_error_handlers(app)
{%- if cookiecutter.database != "none" %}
    register_database(app)
{%- endif %}
{%- if cookiecutter.__upstreams %}
    register_upstreams(app)
{%- endif %}
    return app
