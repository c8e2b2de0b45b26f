{%- set cc = cookiecutter -%}
{%- set model = cc.__model_name -%}
"""The OpenAPI document is derived from the views (core/openapi.py): these tests hold it to the app it describes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

{% if cc.database == "none" -%}
from {{ cc.service_name }}.api import {{ model }}Created, {{ model }}In
{% endif -%}
from {{ cc.service_name }}.core.errors import Error
from {{ cc.service_name }}.core.health import Status
{%- if cc.database != "none" %}
from {{ cc.service_name }}.schemas import {{ model }}Created, {{ model }}In, {{ model }}Out, {{ model }}Page
{%- endif %}

ERROR = {"$ref": "#/components/schemas/Error"}


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    served: dict[str, Any] = response.get_json()
    return served


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every operation of the document, by (path, method)."""
    return {
        (path, method.upper()): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_the_document_is_openapi_3_1_and_names_the_service(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "{{ cc.service_name }}"
{%- if cc.authentication == "jwt" %}
    bearer = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert document["components"]["securitySchemes"] == {"bearer": bearer}


def test_every_api_operation_names_the_scope_it_needs_and_its_refusals(document: dict[str, Any]) -> None:
    api = {key: operation for key, operation in operations(document).items() if key[0].startswith("/api/")}
    assert api
    for (path, method), operation in api.items():
        scope = "{{ cc.resource_name }}:read" if method in ("GET", "HEAD") else "{{ cc.resource_name }}:write"
        assert operation["security"] == [{"bearer": [scope]}], (method, path)
        assert {"401", "403"} <= set(operation["responses"]), (method, path)
    for (path, method), operation in operations(document).items():
        assert path.startswith("/api/") or "security" not in operation, (method, path)
{%- else %}
    assert document["components"]["securitySchemes"] == {}
{%- endif %}


def test_every_route_the_app_serves_is_documented_under_its_view_name(app: Flask, document: dict[str, Any]) -> None:
    served = {
        (re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule), method): rule.endpoint.rpartition(".")[2]
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS") and rule.endpoint not in ("static", "openapi_json")
    }

    documented = {key: operation["operationId"] for key, operation in operations(document).items()}
    assert documented == served


def test_the_probes_and_the_metrics_are_documented(document: dict[str, Any]) -> None:
    assert {"/healthz", "/readyz", "/metrics"} <= set(document["paths"])
    assert "text/plain" in document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def model_schema(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
    """``model``'s JSON schema as the document holds it, its nested models among the components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
    schema.pop("$defs", None)
    return schema


@pytest.mark.parametrize(
    ("model", "mode"),
    [
        ({{ model }}In, "validation"),
        ({{ model }}Created, "serialization"),
{%- if cc.database != "none" %}
        ({{ model }}Out, "serialization"),
        ({{ model }}Page, "serialization"),
{%- endif %}
        (Error, "serialization"),
        (Status, "serialization"),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else value,
)
def test_the_documented_schemas_are_the_models(
    document: dict[str, Any], model: type[BaseModel], mode: JsonSchemaMode
) -> None:
    assert document["components"]["schemas"][model.__name__] == model_schema(model, mode)


def test_the_create_view_documents_its_body_and_its_answers(document: dict[str, Any]) -> None:
    create = document["paths"]["/api/{{ cc.resource_name }}"]["post"]

    body = create["requestBody"]["content"]["application/json"]["schema"]
    answers = create["responses"]
    answered = {status: answer["content"]["application/json"]["schema"] for status, answer in answers.items()}
    assert body == {"$ref": "#/components/schemas/{{ model }}In"}
    assert answered.pop("201") == {"$ref": "#/components/schemas/{{ model }}Created"}
    assert answered == dict.fromkeys(answered, ERROR)
    assert {"400", "413", "415", "422"} <= set(answered)
{%- if cc.database != "none" %}
    assert "Location" in create["responses"]["201"]["headers"]
    # A create may be sent again with an Idempotency-Key (core/idempotency.py); 409 while the first is in flight.
    assert "409" in answered
    [key] = create["parameters"]
    assert (key["name"], key["in"], key["required"]) == ("Idempotency-Key", "header", False)
    assert key["schema"]["maxLength"] == 255
{%- endif %}


def test_every_422_is_in_the_error_shape_and_only_where_a_model_can_refuse(document: dict[str, Any]) -> None:
    for (path, method), operation in operations(document).items():
        takes_input = "parameters" in operation or "requestBody" in operation
        answer = operation["responses"].get("422")
        assert (answer is not None) is takes_input, (method, path)
        if answer is not None:
            assert answer["content"]["application/json"]["schema"] == ERROR, (method, path)


def references(node: object) -> set[str]:
    """Every ``$ref`` in a part of the document."""
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(references(value) for value in node))
    return set()


def test_every_schema_the_document_refers_to_is_in_it(document: dict[str, Any]) -> None:
    defined = {f"#/components/schemas/{name}" for name in document["components"]["schemas"]}

    assert references(document) <= defined
{%- if cc.database != "none" %}


def test_the_list_documents_its_query_and_the_read_back_its_path(document: dict[str, Any]) -> None:
    paths = document["paths"]
    listed = paths["/api/{{ cc.resource_name }}"]["get"]["parameters"]
    read_back = paths["/api/{{ cc.resource_name }}/{record_id}"]["get"]["parameters"]

    named = {(parameter["name"], parameter["in"], parameter["required"]) for parameter in listed}
    assert named == {("limit", "query", False), ("after", "query", False)}
    assert [(parameter["name"], parameter["in"], parameter["required"]) for parameter in read_back] == [
        ("record_id", "path", True)
    ]


def test_timestamps_are_documented_as_date_times_in_their_one_form(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    created_at = document["components"]["schemas"]["{{ model }}Out"]["properties"]["created_at"]

    assert created_at["type"] == "string"
    assert created_at["format"] == "date-time"
    stored = client.post("/api/{{ cc.resource_name }}", json={"name": "documented"}).get_json()
    assert re.fullmatch(created_at["pattern"], stored["created_at"])
{%- endif %}
