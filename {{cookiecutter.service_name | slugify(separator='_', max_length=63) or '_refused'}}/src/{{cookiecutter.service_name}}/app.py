"""The application factory: the template's app (core/app.py) with this service's blueprints."""

from __future__ import annotations

from flask_openapi3.openapi import OpenAPI

from {{ cookiecutter.service_name }}.api import api
from {{ cookiecutter.service_name }}.core.app import create_core_app
from {{ cookiecutter.service_name }}.core.config import Settings


def create_app(settings: Settings | None = None) -> OpenAPI:
    """Build the Flask app; ``settings`` default to the environment (see core/config.py)."""
    app = create_core_app(settings)
    # A new blueprint (an APIBlueprint, as in api.py) is registered here, and gets the core's error handlers, request
    # ids and metrics with it, and its views' place in the OpenAPI document.
    app.register_api(api)
    return app
