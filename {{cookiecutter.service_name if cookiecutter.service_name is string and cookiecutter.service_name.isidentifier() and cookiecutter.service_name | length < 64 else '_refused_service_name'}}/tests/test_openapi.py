from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient


def test_the_openapi_document_lists_every_route_the_app_serves(app: Flask, client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()

    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    served = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS") and rule.endpoint not in ("static", "openapi.openapi_json")
    }
    assert documented == served


def test_the_create_response_matches_its_documented_properties(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    created = document["components"]["schemas"]["Created"]

    body = client.post("/api/{{ cookiecutter.resource_name }}", json={}).get_json()

    assert set(body) == set(created["properties"]) == set(created["required"])
