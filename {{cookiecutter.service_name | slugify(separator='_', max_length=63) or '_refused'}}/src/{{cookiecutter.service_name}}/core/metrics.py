"""Request metrics at ``GET /metrics``, in the Prometheus text format.

``http_server_request_duration_seconds`` is OpenTelemetry's HTTP server duration histogram in Prometheus form
(same name, labels and default buckets), so dashboards written for other services work unchanged. A request is
timed from the moment it reaches the app to the moment its response starts (``RequestTracking`` in request_tracking.py).
``http_route`` is the URL rule, never the raw path, so the number of series stays bounded; requests that match no
rule (404, and 405, which Flask decides while matching) share the empty value, which Prometheus reads as "no
route".

Under gunicorn every worker writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR`` (gunicorn.conf.py prepares
the directory before the app is loaded) and a scrape adds up all the files, so the counts are exact whichever worker
answers, and a worker that dies keeps its counts. Without that variable (``make run``, tests) they live in the
process.
"""

from __future__ import annotations

import os
from wsgiref.types import WSGIEnvironment

from flask import Flask, Request, current_app
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.openapi import OpenAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from werkzeug.wrappers import Response

from {{ cookiecutter.service_name }}.core.openapi import view_name
from {{ cookiecutter.service_name }}.core.request_tracking import Observer

blueprint = APIBlueprint("metrics", __name__, operation_id_callback=view_name)

UNMATCHED_ROUTE = ""
# Any other method is counted as "_OTHER", as OpenTelemetry does: a client must not be able to create series at will.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_REGISTRY = "{{ cookiecutter.service_name }}.core.metrics.registry"
_SCRAPE = {
    "description": "Metrics of every worker, added up",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}


@blueprint.get("/metrics", responses={200: _SCRAPE})
def metrics() -> Response:
    """Request metrics in the Prometheus text format."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = current_app.extensions[_REGISTRY]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def app_registry(app: Flask) -> CollectorRegistry:
    """The registry ``/metrics`` serves outside gunicorn, where a part of the service adds metrics of its own (a new
    one, never served, when metrics are off)."""
    registry: CollectorRegistry | None = app.extensions.get(_REGISTRY)
    return CollectorRegistry() if registry is None else registry


def register_metrics(app: OpenAPI) -> Observer:
    """Serve ``/metrics`` from ``app`` and return what times its requests (given to ``RequestTracking``, app.py)."""
    registry = CollectorRegistry()
    app.extensions[_REGISTRY] = registry
    duration = Histogram(
        "http_server_request_duration_seconds",
        "Duration of HTTP server requests.",
        ["http_request_method", "http_route", "http_response_status_code"],
        registry=registry,
    )
    app.register_api(blueprint)

    # The labelled children, kept rather than looked up again with labels() on every request; one per series.
    children: dict[tuple[str, str, str], Histogram] = {}

    def observe(environ: WSGIEnvironment, status: str, seconds: float) -> None:
        method = environ["REQUEST_METHOD"]
        # Werkzeug keeps the request being served in the environ (the response starts before Flask lets it go);
        # its url_rule is None when no rule matched.
        request: Request | None = environ.get("werkzeug.request")
        rule = request.url_rule if request is not None else None
        labels = (
            method if method in _KNOWN_METHODS else "_OTHER",
            rule.rule if rule is not None else UNMATCHED_ROUTE,
            status[:3],
        )
        child = children.get(labels)
        if child is None:
            child = children[labels] = duration.labels(*labels)
        child.observe(seconds)

    return observe
