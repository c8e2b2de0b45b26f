"""Every error is answered with JSON, never with an HTML page: ``{"error": {"code", "name", "message"}}``, and on a
422 ``fields`` too. ``Error`` is that answer as a model, for the views' ``responses=``."""

from __future__ import annotations

import logging

from flask import Flask, json
from pydantic import BaseModel, Field, ValidationError
from werkzeug.exceptions import HTTPException, InternalServerError, UnprocessableEntity
from werkzeug.wrappers import Response

logger = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    code: int
    name: str
    message: str
    fields: dict[str, str] | None = Field(default=None, description="What is wrong with each field (422 only)")


class Error(BaseModel):
    error: ErrorDetail


def json_error(error: HTTPException) -> Response:
    """``error`` answered as ``{"error": {"code", "name", "message"}}``; a part of the service with errors of its own
    answers them with this too."""
    response = error.get_response()  # keeps headers such as Allow on a 405
    response.data = json.dumps({"error": {"code": error.code, "name": error.name, "message": error.description}})
    response.content_type = "application/json"
    return response


def invalid_fields(error: ValidationError) -> Response:
    """422, naming each field of the body, query or path that is missing, unknown or not valid, with what is wrong
    with it; flask-openapi3 answers with this when a view's model refuses the request (core/app.py)."""
    unprocessable = UnprocessableEntity("A field is missing or not valid.")
    fields = {".".join(map(str, problem["loc"])) or "body": problem["msg"] for problem in error.errors()}
    response = json_error(unprocessable)
    response.data = json.dumps(
        {"error": {"code": 422, "name": unprocessable.name, "message": unprocessable.description, "fields": fields}}
    )
    return response


def unexpected_error(error: Exception) -> Response:
    """A bug: logged with its traceback, answered 500 without a word of it."""
    logger.exception("unhandled error", exc_info=error)
    return json_error(InternalServerError())


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, json_error)
    app.register_error_handler(Exception, unexpected_error)
