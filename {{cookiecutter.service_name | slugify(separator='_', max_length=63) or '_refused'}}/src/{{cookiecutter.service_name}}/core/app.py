"""The template's part of the app: what every service has before its own routes (settings, request limits and ids,
metrics, probes, JSON errors, the OpenAPI document, and the parts its answers chose). ``create_app`` in the
package's app.py adds the service's blueprints to it.
"""

from __future__ import annotations

from flask_openapi3.models.info import Info
from flask_openapi3.openapi import OpenAPI

{% if cookiecutter.authentication == "jwt" -%}
from {{ cookiecutter.service_name }}.core.auth import SECURITY_SCHEMES, register_authentication
{% endif -%}
from {{ cookiecutter.service_name }}.core.config import Settings
{%- if cookiecutter.database != "none" %}
from {{ cookiecutter.service_name }}.core.db import register_database
{%- endif %}
from {{ cookiecutter.service_name }}.core.errors import Error, invalid_fields, register_error_handlers
from {{ cookiecutter.service_name }}.core.health import health
from {{ cookiecutter.service_name }}.core.metrics import register_metrics
from {{ cookiecutter.service_name }}.core.openapi import register_openapi
from {{ cookiecutter.service_name }}.core.request_body import Request, require_json_object
from {{ cookiecutter.service_name }}.core.request_tracking import RequestTracking
{%- if cookiecutter.use_opentelemetry %}
from {{ cookiecutter.service_name }}.core.tracing import instrument
{%- endif %}
{%- if cookiecutter.__upstreams %}
from {{ cookiecutter.service_name }}.core.upstream import register_upstreams
{%- endif %}


def create_core_app(settings: Settings | None = None) -> OpenAPI:
    """The Flask app (flask-openapi3's, which derives the OpenAPI document from the views) with the template's parts,
    before the service's own blueprints; ``settings`` default to the environment (see config.py). Handlers and hooks
    are the app's own, so blueprints registered later get them too."""
    settings = Settings() if settings is None else settings
    app = OpenAPI(
        __name__,
        info=Info(title="{{ cookiecutter.service_name }}", version="0.1.0"),
{%- if cookiecutter.authentication == "jwt" %}
        # Bearer tokens (core/auth.py), which the operations of protected blueprints name.
        security_schemes=SECURITY_SCHEMES,
{%- else %}
        # Without it the document says "securitySchemes": null, which is not valid OpenAPI.
        security_schemes={},
{%- endif %}
        # A request a view's model refuses is answered 422 in the service's error shape, naming each field.
        validation_error_model=Error,
        validation_error_callback=invalid_fields,
        # The document only, at /openapi.json (core/openapi.py): no documentation pages to serve or to install.
        doc_ui=False,
    )
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
    app.register_api(health)
    app.before_request(require_json_object)
    register_error_handlers(app)
{%- if cookiecutter.database != "none" %}
    register_database(app)
{%- endif %}
    register_openapi(app)
{%- if cookiecutter.__upstreams %}
    register_upstreams(app)
{%- endif %}
{%- if cookiecutter.authentication == "jwt" %}
    register_authentication(app)
{%- endif %}
    return app
