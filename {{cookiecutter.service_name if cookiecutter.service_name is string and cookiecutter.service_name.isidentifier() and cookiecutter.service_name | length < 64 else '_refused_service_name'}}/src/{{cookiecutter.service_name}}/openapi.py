"""The OpenAPI document of the service, served at ``/openapi.json``; tests check the live service against it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

openapi = Blueprint("openapi", __name__)

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "{{ cookiecutter.service_name }}", "version": "0.1.0"},
    "paths": {
        "/api/{{ cookiecutter.resource_name }}": {
            "post": {
                "summary": "Create a new {{ cookiecutter.__resource_label }}",
                "operationId": "create_{{ cookiecutter.resource_name }}",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "201": _json({"$ref": "#/components/schemas/Created"}, "Created"),
                    "400": _json(_ERROR, "The body is not a JSON object"),
                    "413": _json(_ERROR, "The body is larger than the configured limit"),
                    "415": _json(_ERROR, "The body is not sent as application/json"),
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness: the process answers",
                "operationId": "healthz",
                "responses": {"200": _json({"$ref": "#/components/schemas/Status"}, "Alive")},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: the service can take traffic",
                "operationId": "readyz",
                "responses": {"200": _json({"$ref": "#/components/schemas/Status"}, "Ready")},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Request metrics in the Prometheus text format (absent when metrics are switched off)",
                "operationId": "metrics",
                "responses": {
                    "200": {
                        "description": "Metrics of every worker, added up",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Created": {
                "type": "object",
{%- if cookiecutter.use_discount_calculator %}
                "required": ["message", "discount"],
                "properties": {
                    "message": {"type": "string"},
                    "discount": {"type": "integer", "minimum": 0, "maximum": 20},
                },
{%- else %}
                "required": ["message"],
                "properties": {"message": {"type": "string"}},
{%- endif %}
                "additionalProperties": False,
            },
            "Status": {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string"}},
            },
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "name", "message"],
                        "properties": {
                            "code": {"type": "integer"},
                            "name": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    }
                },
            },
        }
    },
}


@openapi.get("/openapi.json")
def openapi_json() -> dict[str, Any]:
    if current_app.config["SETTINGS"].metrics:
        return DOCUMENT
    return {**DOCUMENT, "paths": {path: item for path, item in DOCUMENT["paths"].items() if path != "/metrics"}}
