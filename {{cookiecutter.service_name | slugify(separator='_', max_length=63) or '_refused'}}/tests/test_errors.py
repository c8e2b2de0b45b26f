from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient


def test_an_unknown_route_is_a_json_404(client: FlaskClient) -> None:
    response = client.get("/no/such/route")

    assert response.status_code == 404
    assert response.is_json
    assert response.get_json()["error"]["name"] == "Not Found"


def test_a_wrong_method_is_a_json_405_that_names_the_allowed_ones(client: FlaskClient) -> None:
    response = client.delete("/api/{{ cookiecutter.resource_name }}")

    assert response.status_code == 405
    assert response.is_json
    assert "POST" in response.headers["Allow"]


def test_an_unexpected_exception_is_a_json_500_without_internals(app: Flask) -> None:
    def explode() -> str:
        raise RuntimeError("secret detail")

    app.add_url_rule("/explode", view_func=explode)
    response = app.test_client().get("/explode")

    assert response.status_code == 500
    assert response.is_json
    assert "secret detail" not in response.get_data(as_text=True)
