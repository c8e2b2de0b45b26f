"""Request tracking: each request's id and its timing, in one WSGI middleware around the Flask app.

The id is ``X-Request-ID``: taken from the request when it is sane, created when absent or not, returned on every
response (errors included), and logged as ``request_id`` on every line written while the request is served. The
timing goes to the metrics (``observe``, from metrics.py).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from flask import request

from {{ cookiecutter.service_name }}.core.logging_config import ENVIRON_KEY, bind_request_fields, unbind_request_fields

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

HEADER = "X-Request-ID"
_ENVIRON_KEY_OF_HEADER = "HTTP_X_REQUEST_ID"
# Ids that proxies and other services send (UUIDs, hex, base64) fit; anything longer, or with characters that could
# forge a log field or a header, is replaced.
_SANE_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")


class Observer(Protocol):
    """Told of every response once its status is known: the request's WSGI environ, the status line ("201 CREATED")
    and the seconds since the request reached the app."""

    def __call__(self, environ: WSGIEnvironment, status: str, seconds: float, /) -> None: ...


def take_or_create(environ: WSGIEnvironment) -> str:
    """The request's sane ``X-Request-ID``, or a new one: 32 random hex digits.

    An id must be unique, not secret: ``random`` gives it without a system call, as OpenTelemetry's trace ids are
    made. Python reseeds ``random`` in each forked gunicorn worker, so workers do not repeat each other's ids.
    """
    incoming: str = environ.get(_ENVIRON_KEY_OF_HEADER, "")
    return incoming if _SANE_ID.fullmatch(incoming) else f"{random.getrandbits(128):032x}"


def current_request_id() -> str:
    """The id of the request being served: pass it on as ``X-Request-ID`` to the services this one calls."""
    fields: dict[str, str] = request.environ[ENVIRON_KEY]
    return fields["request_id"]


class RequestTracking:
    """Wraps ``app.wsgi_app``. For each request: binds its log fields while the app serves it, leaves them in the
    environ for gunicorn's access-log line (written later), adds the header to the response and tells ``observe``."""

    def __init__(self, app: WSGIApplication, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = take_or_create(environ)
        fields = {"request_id": request_id}
        environ[ENVIRON_KEY] = fields
        observe = self.observe

        def respond(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            headers.append((HEADER, request_id))
            if observe is not None:
                observe(environ, status, time.perf_counter() - started)
            return start_response(status, headers, exc_info)

        token = bind_request_fields(fields)
        try:
            return self.app(environ, respond)
        finally:
            unbind_request_fields(token)
