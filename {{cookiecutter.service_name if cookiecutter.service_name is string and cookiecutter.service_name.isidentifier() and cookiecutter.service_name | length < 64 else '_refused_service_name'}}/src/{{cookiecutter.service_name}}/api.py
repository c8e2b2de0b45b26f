"""The service's API: ``POST /api/{{ cookiecutter.resource_name }}``."""

from __future__ import annotations

from typing import Any

{% if cookiecutter.use_discount_calculator -%}
from discount_calculator.calculator import random_discount
{% endif -%}
from flask import Blueprint, request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

api = Blueprint("api", __name__)


@api.post("/{{ cookiecutter.resource_name }}")
def create_{{ cookiecutter.resource_name }}() -> tuple[dict[str, Any], int]:
    """Create a new {{ cookiecutter.__resource_label }} from a JSON object body."""
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON, with Content-Type: application/json.")
    payload = request.get_json(silent=True)  # None when the body is not valid JSON
    if not isinstance(payload, dict):
        raise BadRequest("The request body must be a JSON object.")
{%- if cookiecutter.use_discount_calculator %}
    discount = random_discount()
    message = f"{{ cookiecutter.__created_message }}, discount is {discount}."
    return {"message": message, "discount": discount}, 201
{%- else %}
    return {"message": "{{ cookiecutter.__created_message }}"}, 201
{%- endif %}
