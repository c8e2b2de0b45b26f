"""WSGI entry point for gunicorn: ``gunicorn {{ cookiecutter.service_name }}.wsgi:app``."""

from {{ cookiecutter.service_name }}.app import create_app

app = create_app()
