"""Probes: ``/healthz`` (the process answers) and ``/readyz`` (it can take traffic)."""

from __future__ import annotations

from flask import Blueprint
{%- if cookiecutter.database != "none" %}
from flask.typing import ResponseReturnValue
{%- if cookiecutter.use_opentelemetry %}
from opentelemetry.instrumentation.utils import suppress_instrumentation
{%- endif %}

from {{ cookiecutter.service_name }} import db
{%- endif %}

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
{%- if cookiecutter.database != "none" %}


@health.get("/readyz")
def readyz() -> ResponseReturnValue:
    # Not ready while the database does not answer: traffic goes to instances that can serve it. /healthz does not
    # ask the database, so a database outage does not get every instance restarted.
{%- if cookiecutter.use_opentelemetry %}
    with suppress_instrumentation():  # probes are not traced (OTEL_PYTHON_FLASK_EXCLUDED_URLS), nor their query
        answering = db.answers()
    if not answering:
{%- else %}
    if not db.answers():
{%- endif %}
        return {"status": "database unreachable"}, 503
    return {"status": "ready"}
{%- else %}


@health.get("/readyz")
def readyz() -> dict[str, str]:
    # Add checks of the service's own dependencies (database, queues) here; answer 503 while one is down.
    return {"status": "ready"}
{%- endif %}
