from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from {{ cookiecutter.service_name }} import create_app
from {{ cookiecutter.service_name }}.config import Settings


@pytest.fixture
def app() -> Flask:
    app = create_app(Settings(max_content_length=1024))
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
