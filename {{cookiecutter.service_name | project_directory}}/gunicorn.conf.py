"""gunicorn settings, read from the same ``{{ cookiecutter.__env_prefix }}_*`` variables as the app.

Run: ``gunicorn --config gunicorn.conf.py {{ cookiecutter.service_name }}.wsgi:app`` (``make serve``).
"""

import os

from gunicorn.glogging import Logger

from {{ cookiecutter.service_name }}.config import Settings
from {{ cookiecutter.service_name }}.logging_config import logging_dict

_settings = Settings.from_env()


class _Logger(Logger):
    """gunicorn builds and writes every access-log line once logconfig_dict is set, even with accesslog off."""

    def access(self, resp: object, req: object, environ: dict[str, object], request_time: object) -> None:
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


logger_class = _Logger

bind = f"[{_settings.host}]:{_settings.port}" if ":" in _settings.host else f"{_settings.host}:{_settings.port}"
workers = _settings.workers
threads = _settings.threads
timeout = _settings.timeout
# On SIGTERM, workers finish the requests in flight for up to this many seconds before they are killed.
graceful_timeout = _settings.graceful_timeout
keepalive = _settings.keepalive
loglevel = _settings.log_level.lower()
logconfig_dict = logging_dict(_settings.log_level)
accesslog = "-" if _settings.access_log else None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# Container file systems may be read-only; worker heartbeat files go to memory where the system has it.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - memory, not a shared temp dir
# Load the app once in the master so a broken app fails at start, not in every worker.
preload_app = True
