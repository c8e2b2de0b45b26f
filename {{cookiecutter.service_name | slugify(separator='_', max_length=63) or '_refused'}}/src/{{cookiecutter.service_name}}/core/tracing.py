"""OpenTelemetry traces: a span per request, continuing an incoming W3C ``traceparent``, exported over OTLP/HTTP.

Configured by the SDK's standard variables only, for example ``OTEL_EXPORTER_OTLP_ENDPOINT`` (default
http://localhost:4318), ``OTEL_SERVICE_NAME`` (default {{ cookiecutter.service_name }}), ``OTEL_TRACES_SAMPLER`` and
``OTEL_TRACES_SAMPLER_ARG``, ``OTEL_SDK_DISABLED``, ``OTEL_PYTHON_FLASK_EXCLUDED_URLS``. Spans leave through a batch
processor on a thread of its own: a slow or unreachable collector never makes a request wait; when its queue is
full, spans are dropped.
"""

from __future__ import annotations

import os

from flask import Flask
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.flask import FlaskInstrumentor
{%- if cookiecutter.database != "none" %}
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
{%- endif %}
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from {{ cookiecutter.service_name }}.core.logging_config import add_request_fields

DEFAULT_SERVICE_NAME = "{{ cookiecutter.service_name }}"
# Probes and scrapes would drown the traces that matter; OTEL_PYTHON_FLASK_EXCLUDED_URLS replaces this list.
_EXCLUDED_URLS = "/healthz,/readyz,/metrics"


def _log_trace_ids() -> None:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        add_request_fields(trace_id=format(context.trace_id, "032x"), span_id=format(context.span_id, "016x"))


def instrument(app: Flask) -> None:
    """Trace the requests of ``app``; spans are recorded and exported once ``start_tracing`` has run."""
    excluded = None if os.environ.get("OTEL_PYTHON_FLASK_EXCLUDED_URLS") else _EXCLUDED_URLS
    FlaskInstrumentor.instrument_app(app, excluded_urls=excluded)  # type: ignore[no-untyped-call]
    app.before_request(_log_trace_ids)  # after the instrumentation's own hook, which starts the span
{%- if cookiecutter.database != "none" %}
    # Every engine made from now on (db.py makes one per process) traces each query as a child of the request's span.
    # Its package declares SQLAlchemy below 2.1 and would do nothing with a newer one, yet the engine events it uses
    # are the same: tests/test_tracing.py holds it to tracing each query.
    instrumentor = SQLAlchemyInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(skip_dep_check=True)
{%- endif %}


def start_tracing() -> None:
    """Start the SDK in this process: gunicorn calls it in each worker after the fork (gunicorn.conf.py)."""
    resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
