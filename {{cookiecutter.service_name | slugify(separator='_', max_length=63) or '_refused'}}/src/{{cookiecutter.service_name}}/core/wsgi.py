"""WSGI entry point for gunicorn (``gunicorn {{ cookiecutter.service_name }}.core.wsgi:app``) and ``flask run``."""

import logging

from {{ cookiecutter.service_name }}.app import create_app
from {{ cookiecutter.service_name }}.core.config import ConfigError, Settings
from {{ cookiecutter.service_name }}.core.logging_config import configure_logging

try:
    settings = Settings()
    if not logging.getLogger().handlers:  # gunicorn.conf.py has configured logging already; `flask run` has not
        configure_logging(settings.log_level)
    app = create_app(settings)  # which reads the settings of the service's parts, such as its database
except ConfigError as error:  # one line that names the variable, not a traceback
    raise SystemExit(f"ERROR: {error}") from None
