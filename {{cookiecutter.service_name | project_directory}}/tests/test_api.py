from __future__ import annotations

from flask.testing import FlaskClient

ENDPOINT = "/api/{{ cookiecutter.resource_name }}"


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
