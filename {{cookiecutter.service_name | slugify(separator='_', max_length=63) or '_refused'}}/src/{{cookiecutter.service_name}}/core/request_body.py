"""The request body: at most ``MAX_CONTENT_LENGTH`` bytes (413 beyond), arrived within ``BODY_TIMEOUT`` (408 after),
and for a view that takes a ``body`` model, a JSON object (415 when it is not JSON, 400 when it is no object)."""

from __future__ import annotations

import functools
import inspect
import io
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import IO, cast

import flask
from flask import current_app, request
from gevent import Timeout, monkey
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, RequestTimeout, UnsupportedMediaType
from werkzeug.utils import cached_property
from werkzeug.wsgi import get_content_length


def _deadline(seconds: int) -> AbstractContextManager[object]:
    """Under gunicorn's gevent worker, a read still waiting after ``seconds`` raises 408; elsewhere, no deadline."""
    if monkey.is_module_patched("socket"):
        return Timeout(seconds, RequestTimeout(f"The request body did not arrive within {seconds} seconds."))
    return nullcontext()


class Request(flask.Request):
    """Flask's request, reading a body the server ends itself (gunicorn sets ``wsgi.input_terminated``) in one go:
    up to one byte past the limit, a chunked body included, and within the time the body is given."""

    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        if limit is None or "wsgi.input_terminated" not in self.environ:
            return super().stream
        length = get_content_length(self.environ)  # None for a chunked body
        if length is not None and length > limit:
            raise RequestEntityTooLarge()
        body = cast(IO[bytes], self.environ["wsgi.input"])
        wanted = limit + 1 if length is None else length
        data = bytearray()
        with _deadline(current_app.config["BODY_TIMEOUT"]):
            while len(data) < wanted and (chunk := body.read(wanted - len(data))):
                data += chunk
        if len(data) > limit:
            raise RequestEntityTooLarge()
        return io.BytesIO(bytes(data))


def require_json_object() -> None:
    """Before a view that takes a ``body`` model: 415 unless the body is JSON, 400 unless it is a JSON object. The
    model then judges only the fields; flask-openapi3 would answer both with a 422 (it reads the body as None)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or not _takes_a_body(view):
        return
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON, with Content-Type: application/json.")
    if not isinstance(request.get_json(silent=True), dict):  # None when the body is not valid JSON
        raise BadRequest("The request body must be a JSON object.")


@functools.cache
def _takes_a_body(view: Callable[..., object]) -> bool:
    # flask-openapi3 wraps each view with functools.wraps, so the signature is the view's own.
    return "body" in inspect.signature(view).parameters
