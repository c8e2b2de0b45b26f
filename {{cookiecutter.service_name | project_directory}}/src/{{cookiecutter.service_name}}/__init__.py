"""{{ cookiecutter.service_name }}: a Flask microservice."""

from {{ cookiecutter.service_name }}.app import create_app

__all__ = ["create_app"]
