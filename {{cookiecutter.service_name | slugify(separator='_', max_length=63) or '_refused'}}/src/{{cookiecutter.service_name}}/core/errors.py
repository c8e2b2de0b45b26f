"""Every error is answered with JSON, never with an HTML page."""

from __future__ import annotations

import logging

from flask import Flask, json
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

logger = logging.getLogger(__name__)


def json_error(error: HTTPException) -> Response:
    """``error`` answered as ``{"error": {"code", "name", "message"}}``; a part of the service with errors of its own
    answers them with this too."""
    response = error.get_response()  # keeps headers such as Allow on a 405
    response.data = json.dumps({"error": {"code": error.code, "name": error.name, "message": error.description}})
    response.content_type = "application/json"
    return response


def unexpected_error(error: Exception) -> Response:
    """A bug: logged with its traceback, answered 500 without a word of it."""
    logger.exception("unhandled error", exc_info=error)
    return json_error(InternalServerError())


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, json_error)
    app.register_error_handler(Exception, unexpected_error)
