"""The application factory: the template's app (core/app.py) with this service's blueprints."""

from __future__ import annotations

from flask import Flask

from {{ cookiecutter.service_name }}.api import api
from {{ cookiecutter.service_name }}.core.app import create_core_app
from {{ cookiecutter.service_name }}.core.config import Settings
from {{ cookiecutter.service_name }}.openapi import openapi


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app; ``settings`` default to the environment (see core/config.py)."""
    app = create_core_app(settings)
    # A new blueprint is registered here, and gets the core's error handlers, request ids and metrics with it.
    app.register_blueprint(api, url_prefix="/api")
    app.register_blueprint(openapi)
    return app
