from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from {{ cookiecutter.service_name }}.core.request_tracking import current_request_id

CREATED = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize("sane", ["4bf92f3577b34da6a3ce929d0e0e4736", "b3e1c9c6-5f1e-4a56-9a4e-5b1b7c2d3e4f", "a.b:c"])
def test_a_sane_request_id_is_returned_as_sent(client: FlaskClient, sane: str) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": sane}).headers["X-Request-ID"] == sane


def test_a_request_without_an_id_gets_a_new_one_each_time(client: FlaskClient) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]

    assert CREATED.fullmatch(first)
    assert CREATED.fullmatch(second)
    assert first != second


@pytest.mark.parametrize("insane", ["", "has space", '{"json": 1}', "x" * 129, "naïve"])
def test_an_insane_request_id_is_replaced(client: FlaskClient, insane: str) -> None:
    returned = client.get("/healthz", headers={"X-Request-ID": insane}).headers["X-Request-ID"]

    assert CREATED.fullmatch(returned)


def test_error_responses_carry_the_request_id(app: Flask, client: FlaskClient) -> None:
    def explode() -> str:
        raise RuntimeError("unexpected")

    app.add_url_rule("/explode", view_func=explode)
    for method, path in [("GET", "/no/such/route"), ("DELETE", "/api/{{ cookiecutter.resource_name }}"), ("GET", "/explode")]:
        response = client.open(path, method=method, headers={"X-Request-ID": "req-err"})
        assert response.status_code >= 400
        assert response.headers["X-Request-ID"] == "req-err"


def test_a_view_reads_the_id_it_would_pass_on(app: Flask, client: FlaskClient) -> None:
    app.add_url_rule("/whoami", view_func=current_request_id)

    sent = client.get("/whoami", headers={"X-Request-ID": "req-7"})
    created = client.get("/whoami")

    assert sent.get_data(as_text=True) == "req-7"
    assert created.get_data(as_text=True) == created.headers["X-Request-ID"]
