"""WSGI entry point for gunicorn (``gunicorn {{ cookiecutter.service_name }}.wsgi:app``) and ``flask run``."""

import logging

from {{ cookiecutter.service_name }}.app import create_app
from {{ cookiecutter.service_name }}.config import Settings
from {{ cookiecutter.service_name }}.logging_config import configure_logging

settings = Settings.from_env()
if not logging.getLogger().handlers:  # gunicorn.conf.py has configured logging already; `flask run` has not
    configure_logging(settings.log_level)
app = create_app(settings)
