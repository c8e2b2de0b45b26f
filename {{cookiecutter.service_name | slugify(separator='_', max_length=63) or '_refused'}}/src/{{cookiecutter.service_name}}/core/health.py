"""Probes: ``/healthz`` (the process answers) and ``/readyz`` (it can take traffic)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app
from flask_openapi3.blueprint import APIBlueprint
{%- if cookiecutter.use_opentelemetry %}
from opentelemetry.instrumentation.utils import suppress_instrumentation
{%- endif %}
from pydantic import BaseModel

from {{ cookiecutter.service_name }}.core.openapi import view_name

health = APIBlueprint("health", __name__, operation_id_callback=view_name)


class Status(BaseModel):
    status: str


def add_readiness_check(app: Flask, name: str, answers: Callable[[], bool]) -> None:
    """Have ``/readyz`` answer 503 ``{"status": "<name> unreachable"}`` while ``answers()`` is false: a dependency
    the service cannot serve without (a database, a queue) registers its check here."""
    app.extensions.setdefault("readiness_checks", []).append((name, answers))


@health.get("/healthz", responses={200: Status})
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@health.get("/readyz", responses={200: Status, 503: Status})
def readyz() -> tuple[dict[str, str], int]:
    """Readiness: every dependency the service needs answers."""
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
    return {"status": "ready"}, 200
