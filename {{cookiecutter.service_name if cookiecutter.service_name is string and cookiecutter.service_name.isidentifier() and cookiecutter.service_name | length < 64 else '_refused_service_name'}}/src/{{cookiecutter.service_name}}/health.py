"""Probes: ``/healthz`` (the process answers) and ``/readyz`` (it can take traffic)."""

from __future__ import annotations

from flask import Blueprint

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health.get("/readyz")
def readyz() -> dict[str, str]:
    # Add checks of the service's own dependencies (database, queues) here; answer 503 while one is down.
    return {"status": "ready"}
