from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.service_name }}.app import create_app
from {{ cookiecutter.service_name }}.core.config import Settings

PREFIX = "{{ cookiecutter.__env_prefix }}_"
HISTOGRAM = "http_server_request_duration_seconds"
# OpenTelemetry's advice for http.server.request.duration, in seconds.
OPENTELEMETRY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]


def counts(client: FlaskClient) -> dict[tuple[str, str, str], float]:
    """Request counts by (method, route, status), as a scraper reads them from /metrics."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            if sample.name == HISTOGRAM + "_count":
                labels = sample.labels
                key = (labels["http_request_method"], labels["http_route"], labels["http_response_status_code"])
                found[key] = sample.value
    return found


def test_requests_are_counted_by_method_url_rule_and_status(client: FlaskClient) -> None:
    for _ in range(3):
        client.post("/api/{{ cookiecutter.resource_name }}", json={"name": "counted"})
    client.post("/api/{{ cookiecutter.resource_name }}", data="x", content_type="text/plain")

    found = counts(client)
    assert found[("POST", "/api/{{ cookiecutter.resource_name }}", "201")] == 3
    assert found[("POST", "/api/{{ cookiecutter.resource_name }}", "415")] == 1


def test_unmatched_paths_share_one_route_value_and_odd_methods_one_method_value(client: FlaskClient) -> None:
    for path in ("/no/such/route", "/another/missing/path", "/api/{{ cookiecutter.resource_name }}/42/missing"):
        client.get(path)
    client.open("/healthz", method="BREW")

    found = counts(client)
    assert found[("GET", "", "404")] == 3
    assert found[("_OTHER", "", "405")] == 1
    assert not any(route.startswith(("/no", "/another", "/api/{{ cookiecutter.resource_name }}/")) for _, route, _ in found)


def test_the_histogram_has_the_opentelemetry_default_buckets(client: FlaskClient) -> None:
    client.get("/healthz")
    text = client.get("/metrics").get_data(as_text=True)

    [family] = [f for f in text_string_to_metric_families(text) if f.name == HISTOGRAM]
    assert family.type == "histogram"
    buckets = [sample for sample in family.samples if sample.name == HISTOGRAM + "_bucket"]
    bounds = [sample.labels["le"] for sample in buckets if sample.labels["http_route"] == "/healthz"]
    assert bounds == [*map(str, OPENTELEMETRY_BUCKETS), "+Inf"]


def test_metrics_can_be_switched_off(app: Flask) -> None:
    client = create_app(Settings(metrics=False)).test_client()

    assert client.get("/metrics").status_code == 404
    assert "/metrics" not in client.get("/openapi.json").get_json()["paths"]
