from __future__ import annotations

import io

import pytest
from flask.testing import FlaskClient

ENDPOINT = "/api/{{ cookiecutter.resource_name }}"
# gunicorn ends every body itself and says so; app.py then keeps the size limit itself.
SERVER_ENDS_THE_BODY = {"wsgi.input_terminated": True}
CHUNKED = {**SERVER_ENDS_THE_BODY, "HTTP_TRANSFER_ENCODING": "chunked"}


{%- if cookiecutter.use_discount_calculator %}


def test_create_answers_201_with_a_discount_from_0_to_20(client: FlaskClient) -> None:
    response = client.post(ENDPOINT, json={})

    assert response.status_code == 201
    body = response.get_json()
    assert 0 <= body["discount"] <= 20
    assert body["message"] == f"{{ cookiecutter.__created_message }}, discount is {body['discount']}."
{%- else %}


def test_create_answers_201_with_a_message(client: FlaskClient) -> None:
    response = client.post(ENDPOINT, json={"note": "any JSON object"})

    assert response.status_code == 201
    assert response.get_json() == {"message": "{{ cookiecutter.__created_message }}"}
{%- endif %}


def test_malformed_json_is_a_json_400(client: FlaskClient) -> None:
    response = client.post(ENDPOINT, data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == 400


def test_a_json_body_that_is_not_an_object_is_a_json_400(client: FlaskClient) -> None:
    response = client.post(ENDPOINT, json=[1, 2, 3])

    assert response.status_code == 400
    assert "JSON object" in response.get_json()["error"]["message"]


def test_a_body_that_is_not_json_is_a_json_415(client: FlaskClient) -> None:
    response = client.post(ENDPOINT, data="name=x", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == 415


def test_a_body_over_the_size_limit_is_a_json_413(client: FlaskClient) -> None:
    response = client.post(ENDPOINT, data='{"pad": "' + "x" * 2048 + '"}', content_type="application/json")

    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == 413


# The limit in these tests is 1024 bytes: bodies of 1011, 1024 and 1025 bytes.
@pytest.mark.parametrize(("pad", "status"), [(1000, 201), (1013, 201), (1014, 413)])
@pytest.mark.parametrize("sent", ["declared", "chunked"])
def test_the_size_limit_holds_when_the_server_ends_the_body(
    client: FlaskClient, sent: str, pad: int, status: int
) -> None:
    body = b'{"pad": "' + b"x" * pad + b'"}'
    if sent == "declared":
        response = client.post(
            ENDPOINT, data=body, content_type="application/json", environ_overrides=SERVER_ENDS_THE_BODY
        )
    else:
        response = client.post(
            ENDPOINT, input_stream=io.BytesIO(body), content_type="application/json", environ_overrides=CHUNKED
        )

    assert response.status_code == status
