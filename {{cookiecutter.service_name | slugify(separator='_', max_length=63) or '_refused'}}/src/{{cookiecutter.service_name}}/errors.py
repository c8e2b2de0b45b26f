"""Every error is answered with JSON, never with an HTML page."""

from __future__ import annotations

import logging

from flask import Flask, json
{%- if cookiecutter.database != "none" %}
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable, UnprocessableEntity
{%- else %}
from werkzeug.exceptions import HTTPException, InternalServerError
{%- endif %}
from werkzeug.wrappers import Response
{%- if cookiecutter.database != "none" %}

from {{ cookiecutter.service_name }} import db
{%- endif %}

logger = logging.getLogger(__name__)
{%- if cookiecutter.database != "none" %}
# A client told to come back after this many seconds: long enough for a restart, short enough for a failover.
RETRY_AFTER_SECONDS = 1
{%- endif %}


def _json_error(error: HTTPException) -> Response:
    response = error.get_response()  # keeps headers such as Allow on a 405
    response.data = json.dumps({"error": {"code": error.code, "name": error.name, "message": error.description}})
    response.content_type = "application/json"
    return response


def _unexpected_error(error: Exception) -> Response:
    logger.exception("unhandled error", exc_info=error)
    return _json_error(InternalServerError())
{%- if cookiecutter.database != "none" %}


def _invalid_fields(error: ValidationError) -> Response:
    """422, naming each field that is missing, unknown or not valid, with what is wrong with it."""
    unprocessable = UnprocessableEntity("A field is missing or not valid.")
    fields = {".".join(map(str, problem["loc"])) or "body": problem["msg"] for problem in error.errors()}
    response = _json_error(unprocessable)
    response.data = json.dumps(
        {"error": {"code": 422, "name": unprocessable.name, "message": unprocessable.description, "fields": fields}}
    )
    return response


def _database_error(error: SQLAlchemyError) -> Response:
    """503 with Retry-After while the database cannot be reached; any other database error is a bug: 500."""
    if not db.unavailable(error):
        return _unexpected_error(error)
    cause = getattr(error, "orig", None) or error  # the driver's error: its message names no password
    logger.warning("database unavailable: %s: %s", type(cause).__name__, str(cause).strip().split("\n")[0])
    unavailable = ServiceUnavailable("The database cannot be reached; try again.", retry_after=RETRY_AFTER_SECONDS)
    return _json_error(unavailable)
{%- endif %}


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, _json_error)
{%- if cookiecutter.database != "none" %}
    app.register_error_handler(ValidationError, _invalid_fields)
    app.register_error_handler(SQLAlchemyError, _database_error)
{%- endif %}
    app.register_error_handler(Exception, _unexpected_error)
