"""Request metrics at ``GET /metrics``, in the Prometheus text format.

``http_server_request_duration_seconds`` is OpenTelemetry's HTTP server duration histogram in Prometheus form
(same name, labels and default buckets), so dashboards written for other services work unchanged. ``http_route``
is the URL rule, never the raw path, so the number of series stays bounded; requests that match no rule (404, and
405, which Flask decides while matching) share the empty value, which Prometheus reads as "no route".

Under gunicorn every worker writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR`` (gunicorn.conf.py prepares
the directory before the app is loaded) and a scrape adds up all the files, so the counts are exact whichever worker
answers, and a worker that dies keeps its counts. Without that variable (``make run``, tests) they live in the
process.
"""

from __future__ import annotations

import os
import time

from flask import Blueprint, Flask, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from werkzeug.wrappers import Response

metrics = Blueprint("metrics", __name__)

UNMATCHED_ROUTE = ""
# Any other method is counted as "_OTHER", as OpenTelemetry does: a client must not be able to create series at will.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_EXTENSION = "{{ cookiecutter.service_name }}.metrics"


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("request_started", None)
    if started is not None:
        rule = request.url_rule
        method = request.method if request.method in _KNOWN_METHODS else "_OTHER"
        duration: Histogram = current_app.extensions[_EXTENSION]
        duration.labels(method, rule.rule if rule else UNMATCHED_ROUTE, str(response.status_code)).observe(
            time.perf_counter() - started
        )
    return response


@metrics.get("/metrics")
def scrape() -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = current_app.extensions[_EXTENSION + ".registry"]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def register_metrics(app: Flask) -> None:
    """Time every request of ``app`` and serve ``/metrics``; register it before the other request hooks."""
    registry = CollectorRegistry()
    app.extensions[_EXTENSION + ".registry"] = registry
    app.extensions[_EXTENSION] = Histogram(
        "http_server_request_duration_seconds",
        "Duration of HTTP server requests.",
        ["http_request_method", "http_route", "http_response_status_code"],
        registry=registry,
    )
    # after_request hooks run in the reverse order of registration: this one runs last, after the others' work.
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(metrics)
