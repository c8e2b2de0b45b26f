from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """The SDK, set up once (the global tracer provider can be set once per process), keeping spans in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


def test_an_incoming_traceparent_is_continued_and_its_ids_are_logged(
    app: Flask, spans: InMemorySpanExporter, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    spans.clear()

    def explode() -> str:
        raise RuntimeError("logged with the trace")

    app.add_url_rule("/explode", view_func=explode)
    app.test_client().get("/explode", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})

    [span] = spans.get_finished_spans()
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == PARENT_ID
    [line] = log_lines()
    assert line["trace_id"] == TRACE_ID
    assert line["span_id"] == format(span.context.span_id, "016x")


def test_probes_and_scrapes_are_not_traced(app: Flask, spans: InMemorySpanExporter) -> None:
    spans.clear()
    client = app.test_client()
    for path in ("/healthz", "/readyz", "/metrics"):
        client.get(path)

    assert spans.get_finished_spans() == ()
{%- if cookiecutter.database != "none" %}


def test_each_query_is_a_child_span_of_the_request(app: Flask, spans: InMemorySpanExporter) -> None:
    app.test_client().post("/api/{{ cookiecutter.resource_name }}", json={"name": "traced"})
    spans.clear()

    app.test_client().get("/api/{{ cookiecutter.resource_name }}")

    finished = spans.get_finished_spans()
    [request] = [span for span in finished if span.parent is None]
    queries = [span for span in finished if span.parent is not None]
    assert queries, [span.name for span in finished]
    assert all(span.parent is not None and span.parent.span_id == request.context.span_id for span in queries)
{%- endif %}
