"""Structured logging: one JSON object per line on stderr, for the app and for gunicorn, in every mode.

Every line written while a request is served carries that request's fields (``request_id``, and ``trace_id`` and
``span_id`` when tracing is on): the request hooks bind them, the formatter adds them.
"""

from __future__ import annotations

import json
import logging
import logging.config
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is logged as a field.
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

# gunicorn writes its access-log line after the request context has ended; it finds the fields in the WSGI environ.
ENVIRON_KEY = "{{ cookiecutter.service_name }}.log_fields"
# The fields of the request being served in this thread, or None between requests.
_REQUEST_FIELDS: ContextVar[dict[str, str] | None] = ContextVar("request_fields", default=None)


def bind_request_fields(fields: dict[str, str]) -> Token[dict[str, str] | None]:
    """Add ``fields`` to every line logged in this context until ``unbind_request_fields`` is given the token."""
    return _REQUEST_FIELDS.set(fields)


def unbind_request_fields(token: Token[dict[str, str] | None]) -> None:
    _REQUEST_FIELDS.reset(token)


def add_request_fields(**fields: str) -> None:
    """Add ``fields`` to the lines of the request being served (no-op between requests)."""
    current = _REQUEST_FIELDS.get()
    if current is not None:
        current.update(fields)


class JsonFormatter(logging.Formatter):
    """Formats a record as a single line of JSON (short enough to keep here rather than add a logging library)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_fields = _REQUEST_FIELDS.get()
        if request_fields:
            entry.update(request_fields)
        entry.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD_ATTRIBUTES})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def logging_dict(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary; gunicorn.conf.py passes it as ``logconfig_dict``."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        },
    }


def configure_logging(level: str) -> None:
    logging.config.dictConfig(logging_dict(level))
