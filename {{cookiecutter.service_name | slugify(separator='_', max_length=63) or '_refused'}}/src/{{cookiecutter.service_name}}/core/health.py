"""Probes: ``/healthz`` (the process answers) and ``/readyz`` (it can take traffic)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, current_app
from flask.typing import ResponseReturnValue
{%- if cookiecutter.use_opentelemetry %}
from opentelemetry.instrumentation.utils import suppress_instrumentation
{%- endif %}

health = Blueprint("health", __name__)


def add_readiness_check(app: Flask, name: str, answers: Callable[[], bool]) -> None:
    """Have ``/readyz`` answer 503 ``{"status": "<name> unreachable"}`` while ``answers()`` is false: a dependency
    the service cannot serve without (a database, a queue) registers its check here."""
    app.extensions.setdefault("readiness_checks", []).append((name, answers))


@health.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health.get("/readyz")
def readyz() -> ResponseReturnValue:
    # Not ready while a dependency does not answer: traffic goes to instances that can serve it. /healthz asks none
    # of them, so an outage of one does not get every instance restarted.
    checks: list[tuple[str, Callable[[], bool]]] = current_app.extensions.get("readiness_checks", [])
{%- if cookiecutter.use_opentelemetry %}
    with suppress_instrumentation():  # probes are not traced (OTEL_PYTHON_FLASK_EXCLUDED_URLS), nor what they ask
        down = next((name for name, answers in checks if not answers()), None)
{%- else %}
    down = next((name for name, answers in checks if not answers()), None)
{%- endif %}
    if down is not None:
        return {"status": f"{down} unreachable"}, 503
    return {"status": "ready"}
