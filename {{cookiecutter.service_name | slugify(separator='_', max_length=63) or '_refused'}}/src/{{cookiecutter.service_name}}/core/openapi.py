"""The OpenAPI document (3.1), served at ``GET /openapi.json``. flask-openapi3 derives it from the views: the models
their ``body``, ``query`` and ``path`` parameters are typed with, and the models of their ``responses=``. So an
endpoint is written once, as its view, and the document cannot drift from what the service does."""

from __future__ import annotations

from typing import Any

from flask_openapi3.openapi import OpenAPI
{%- if cookiecutter.authentication == "jwt" %}

from {{ cookiecutter.service_name }}.core.auth import document_security
{%- endif %}


def view_name(*, name: str, path: str, method: str) -> str:
    """An operation's operationId: its view's name (``healthz``), as ``url_for`` knows it, rather than
    flask-openapi3's ``<name>_<path>_<method>``. Every APIBlueprint takes it as ``operation_id_callback``."""
    return name


def register_openapi(app: OpenAPI) -> None:
    """Serve the document of every view ``app`` has when the first request comes (the document lists no route of
    its own)."""

    def openapi_json() -> dict[str, Any]:
        document: dict[str, Any] = app.api_doc
        # flask-openapi3 gives every operation a 422 answer, but one without parameters or a body has nothing a model
        # could refuse; those with either declare their 422 in the service's error shape (abp_responses, api.py).
        for operations in document["paths"].values():
            for operation in operations.values():
                if "parameters" not in operation and "requestBody" not in operation:
                    operation["responses"].pop("422", None)
{%- if cookiecutter.authentication == "jwt" %}
        document_security(app, document)
{%- endif %}
        return document

    app.add_url_rule("/openapi.json", view_func=openapi_json)
