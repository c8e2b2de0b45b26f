"""The request body: at most ``MAX_CONTENT_LENGTH`` bytes (413 beyond), arrived within ``BODY_TIMEOUT`` (408 after)."""

from __future__ import annotations

import io
from contextlib import AbstractContextManager, nullcontext
from typing import IO, cast

import flask
from flask import current_app
from gevent import Timeout, monkey
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout
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
