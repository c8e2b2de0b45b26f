"""Every error is answered with JSON, never with an HTML page."""

from __future__ import annotations

import logging

from flask import Flask, json
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

logger = logging.getLogger(__name__)


def _json_error(error: HTTPException) -> Response:
    response = error.get_response()  # keeps headers such as Allow on a 405
    response.data = json.dumps({"error": {"code": error.code, "name": error.name, "message": error.description}})
    response.content_type = "application/json"
    return response


def _unexpected_error(error: Exception) -> Response:
    logger.exception("unhandled error", exc_info=error)
    return _json_error(InternalServerError())


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, _json_error)
    app.register_error_handler(Exception, _unexpected_error)
